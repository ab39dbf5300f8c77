"""Scoring a table with a table model: the file checked against the model's schema, one
score per row with its interval and strongest driver, written atomically."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from engine.churn.model import ChurnModel
from engine.churn.table.schema import (
    TableInputError,
    TableSchema,
    as_text,
    check_ids,
    check_values,
    find_column,
    is_numeric_column,
    listing,
    model_frame,
    read_table,
    shown_value,
)
from engine.churn.table.train import Progress, load_table_model
from engine.core.contracts import Versioned
from engine.data import ingest

DRIVER_BLOCK_ROWS = 20_000


class TablePredictResult(Versioned):
    """What `predict_table` wrote: the model version, the file scored and where the scores went."""

    source: str
    out: str
    rows: int
    mean_probability: float
    notes: list[str] = []
    seconds: float = 0.0

    def summary(self) -> str:
        text = (
            f"Scored {self.rows:,} rows of {self.source} with {self.version} into {self.out} "
            f"(mean churn probability {self.mean_probability * 100:.1f}%) in {self.seconds:.1f} s."
        )
        return "\n".join([text, *(f"Note: {n}" for n in self.notes)])


def top_drivers(frame: pd.DataFrame, schema: TableSchema, contributions: np.ndarray) -> list[str]:
    """Per row, the feature pushing churn risk up the most, as "column = value" (its
    value as the file has it); blank when no feature raises the risk."""
    impacts = contributions[:, : len(schema.columns)]
    best = impacts.argmax(axis=1)
    shown = {}
    for column in schema.columns:
        series = frame[column.name]
        numbers = is_numeric_column(series) and not pd.api.types.is_bool_dtype(series)
        shown[column.name] = (series if numbers else as_text(series)).to_numpy()
    out = []
    for i, j in enumerate(best):
        if impacts[i, j] <= 0:
            out.append("")
            continue
        name = schema.columns[j].name
        value = shown[name][i]
        out.append(f"{name} is blank" if pd.isna(value) else f"{name} = {shown_value(value)}")
    return out


def _contributions(model: ChurnModel, X: pd.DataFrame, progress: Progress | None) -> np.ndarray:
    """SHAP values in blocks: TreeSHAP over the whole ensemble costs ~0.3 ms a row, so a
    large file reports progress rather than going quiet for a minute."""
    say = progress or (lambda _f, _m: None)
    parts = []
    for start in range(0, len(X), DRIVER_BLOCK_ROWS):
        end = min(start + DRIVER_BLOCK_ROWS, len(X))
        say(0.3 + 0.6 * start / len(X), f"finding top drivers for rows {start + 1:,}-{end:,} of {len(X):,}")
        parts.append(model.contributions(X.iloc[start:end]))
    return np.vstack(parts)


def score_frame(
    frame: pd.DataFrame,
    id_column: str,
    model: ChurnModel,
    schema: TableSchema,
    decimal_comma: bool,
    source: str,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """(scores, notes): `<id column>, churn_probability, ci_low, ci_high, top_driver` per row, in file order."""
    id_column = find_column(frame, id_column, "id", "--id", source)
    ids = check_ids(frame, id_column, source)
    missing = [c for c in schema.names if c not in frame.columns]
    if missing:
        raise TableInputError(
            f"{source} lacks {len(missing)} column(s) the model was trained on: {listing(missing)}. Add them "
            f"(blank cells are fine where a value is unknown). Columns found: {listing(frame.columns)}."
        )
    if frame.empty:
        raise TableInputError(f"{source} has a header but no data rows: there is nothing to score.")
    notes = check_values(frame, schema, decimal_comma, source)
    X = model_frame(frame, schema, decimal_comma)
    pred = model.predict(X)
    drivers = top_drivers(frame, schema, _contributions(model, X, progress))
    used = {id_column, *schema.names}
    ignored = [c for c in frame.columns if c not in used]
    if ignored:
        notes.append(f"columns not used by the model: {listing(ignored, 10)}")
    scores = pd.DataFrame(
        {
            id_column: ids.to_numpy(),
            "churn_probability": np.round(pred.churn_probability, 6),
            "ci_low": np.round(pred.ci_low, 6),
            "ci_high": np.round(pred.ci_high, 6),
            "top_driver": drivers,
        }
    )
    return scores, notes


def write_atomically(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write CSV (Parquet for a .parquet/.pq name) to a temp file beside `out`, then rename:
    readers see the old file or the whole new one, never half of it."""
    out = Path(out)
    if not out.parent.is_dir():
        raise TableInputError(f"--out {out}: the folder {out.parent} does not exist; create it or choose another.")
    if out.is_dir():
        raise TableInputError(f"--out {out} is a folder; give a file name such as {out / 'scores.csv'}.")
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if out.suffix.lower() in ingest.PARQUET_SUFFIXES:
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False)
        os.replace(temporary, out)
    except OSError as exc:
        raise TableInputError(
            f"Could not write {out}: {exc.strerror or exc}. Check the path and permissions."
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    return out


def predict_table(
    path: str | Path,
    id_column: str,
    out: str | Path,
    version: str | None = None,
    data_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> TablePredictResult:
    """Score every row of a table with a table model (default the newest) and write the
    scores to `out` atomically; nothing is written when the file is refused."""
    say = progress or (lambda _f, _m: None)
    t0 = time.perf_counter()
    path = Path(path)
    chosen, model, schema = load_table_model(version, data_dir)
    say(0.1, f"reading {path.name}")
    frame, decimal_comma = read_table(path)
    say(0.2, f"scoring {len(frame):,} rows with {chosen.version}")
    scores, notes = score_frame(frame, id_column, model, schema, decimal_comma, path.name, say)
    written = write_atomically(scores, out)
    say(1.0, f"wrote {written}")
    return TablePredictResult(
        version=chosen.version,
        source=path.name,
        out=str(written),
        rows=len(scores),
        mean_probability=float(scores["churn_probability"].mean()) if len(scores) else 0.0,
        notes=notes,
        seconds=round(time.perf_counter() - t0, 2),
    )
