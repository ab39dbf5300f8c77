"""The feature schema of a table model: which file columns it uses, as what, and reading them.

`detect_schema` decides what each column of an analyst's table is (see `engine.churn.table`
for the rules); `feature_values` and `model_frame` turn file columns into what the model
sees; `check_values` refuses a file whose cells do not fit the schema. The schema is a
contract: it is saved inside the model artifact and in the registry row, and a schema
written by an earlier version of Customer Radar still loads (`TableSchema.model_validate`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import SerializerFunctionWrapHandler, model_serializer
from sklearn.metrics import roc_auc_score

from engine.core.contracts import Contract
from engine.core.errors import BadInputError
from engine.core.values import ISO_TIMESTAMP, SLASH_DATE, cell_text, null_tokens_to_na, text_to_numbers
from engine.data import ingest

NUMERIC, CATEGORICAL, DATE = "numeric", "categorical", "date"
ColumnType = Literal["numeric", "categorical", "date"]
OTHER = "(other)"

MAX_LEVELS = 30
MIN_LEVEL_ROWS = 10
NEAR_UNIQUE_SHARE = 0.9
NUMERIC_SHARE = 0.95  # a text column is numeric when this share of its values are numbers ...
MAX_PLACEHOLDERS = 3  # ... and the rest are at most this many distinct texts ("-", "unknown")
LEAK_AUC = 0.99

POSITIVE_LABELS = ("yes", "y", "true", "t", "1", "churned", "churn", "lost", "cancelled", "canceled", "left")
NEGATIVE_LABELS = ("no", "n", "false", "f", "0", "retained", "active", "renewed", "stayed", "current", "not churned")
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


class TableInputError(BadInputError):
    """A table, or the columns named for it, cannot be used as given."""


# -- schema ------------------------------------------------------------------------------------
class FeatureColumn(Contract):
    """One file column the model uses: `feature` is its name inside the model.

    Its JSON leaves out what does not apply (levels of a non-categorical column, no
    placeholders, no note), as the schemas saved with earlier models did."""

    name: str
    feature: str
    type: ColumnType
    levels: tuple[str, ...] = ()
    placeholders: tuple[str, ...] = ()  # texts read as blank in a numeric column
    note: str = ""

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if self.type != CATEGORICAL:
            out.pop("levels", None)
        if not self.placeholders:
            out.pop("placeholders", None)
        if not self.note:
            out.pop("note", None)
        return out


class DroppedColumn(Contract):
    """A file column the model does not use, and why."""

    column: str
    reason: str


class TableSchema(Contract):
    """What a table model expects: its feature columns, in model order, and what was left out."""

    id_column: str
    label_column: str
    columns: tuple[FeatureColumn, ...]
    dropped: tuple[DroppedColumn, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def features(self) -> list[str]:
        return [c.feature for c in self.columns]

    @property
    def categorical_features(self) -> list[str]:
        return [c.feature for c in self.columns if c.type == CATEGORICAL]


# -- reading -----------------------------------------------------------------------------------
def read_table(path: str | Path) -> tuple[pd.DataFrame, bool]:
    """(frame, decimal_comma) of a CSV/Parquet file, read as `engine.data.ingest` reads files
    (UTF-8 check, delimiter sniffing, clear refusals). CSV cells come back as text;
    `decimal_comma` is True for `;`/tab/`|`-separated files, where `1,5` means 1.5."""
    read = ingest.read_file(Path(path))
    return read.frame, not read.thousands_ok


def listing(columns: Iterable[str], limit: int = 40) -> str:
    names = [f"'{c}'" for c in columns]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more if names else "(none)"


def find_column(frame: pd.DataFrame, name: str, role: str, flag: str, source: str) -> str:
    """The file column called `name` (exact, else case-insensitive); refuses with the columns found."""
    if name in frame.columns:
        return name
    matches = [c for c in frame.columns if str(c).strip().lower() == name.strip().lower()]
    if len(matches) == 1:
        return matches[0]
    raise TableInputError(
        f"{source} has no {role} column '{name}'. Columns found: {listing(frame.columns)}. "
        f"Pass the column that {'identifies each customer' if flag == '--id' else 'says whether each customer churned'} "
        f"with {flag} COLUMN."
    )


def _row_numbers(positions: Iterable[int], limit: int = 5) -> str:
    rows = [str(int(p) + 2) for p in positions]  # header is row 1, as a spreadsheet shows it
    return ", ".join(rows[:limit]) + (" ..." if len(rows) > limit else "")


def check_ids(frame: pd.DataFrame, id_column: str, source: str) -> pd.Series:
    """The id column as text; refuses blank or repeated ids (naming rows)."""
    ids = as_text(frame[id_column])
    blank = np.flatnonzero(ids.isna().to_numpy())
    if len(blank):
        raise TableInputError(
            f"{len(blank):,} row(s) of {source} have no id in '{id_column}' (rows {_row_numbers(blank)}; the header "
            "is row 1). Every row needs an id so its score can be matched back: fill them in or remove those rows."
        )
    repeated = ids[ids.duplicated(keep=False)]
    if len(repeated):
        groups = repeated.groupby(repeated, sort=False).groups
        examples = [f"'{value}' (rows {_row_numbers(index)})" for value, index in list(groups.items())[:5]]
        raise TableInputError(
            f"'{id_column}' must name each customer once, but {len(groups):,} id(s) in {source} appear more than once: "
            f"{'; '.join(examples)}. Keep one row per customer (merge or remove the duplicates), or pick another "
            "--id column."
        )
    return ids


# -- value handling ------------------------------------------------------------------------------
def as_text(series: pd.Series) -> pd.Series:
    """Any column as stripped text with NA for blank cells and null tokens."""
    return null_tokens_to_na(cell_text(series))


def _numbers(text: pd.Series, decimal_comma: bool) -> pd.Series:
    """Text to float: NaN where blank or not a number (`1,234`, `$1,200`, `12%` are numbers)."""
    return text_to_numbers(text, decimal_comma=decimal_comma, symbols=True)


def _dates(values: pd.Series) -> pd.Series:
    """Dates or date text to day numbers (days since 1970-01-01, fractional with a time)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, utc=True)
    else:
        stamps = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
    return ((stamps - _EPOCH) / pd.Timedelta(days=1)).astype("float64")


def _floats(series: pd.Series) -> pd.Series:
    """A number or yes/no column as float64 with NaN for missing (nullable dtypes included)."""
    values = series.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(values, index=series.index)


def is_numeric_column(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _show(value) -> str:
    text = str(value)
    return "'" + (text if len(text) <= 40 else text[:37] + "...") + "'"


def shown_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.4g}"
    return str(value)


# -- labels --------------------------------------------------------------------------------------
def parse_labels(series: pd.Series, column: str, source: str) -> np.ndarray:
    """1 (churned), 0 (stayed) or NaN (blank) per row; refuses values that are not a yes/no answer."""
    if pd.api.types.is_bool_dtype(series):
        return _floats(series).to_numpy()
    text = as_text(series).str.lower()
    mapping = {**dict.fromkeys(POSITIVE_LABELS, 1.0), **dict.fromkeys(NEGATIVE_LABELS, 0.0)}
    numeric = _numbers(text, decimal_comma=False)
    labels = text.map(mapping).astype("float64")
    labels = labels.where(labels.notna() | ~numeric.isin([0.0, 1.0]), numeric)  # "1.0", "0.00"
    bad = text.notna() & labels.isna()
    if bad.any():
        counts = as_text(series)[bad].value_counts()
        examples = ", ".join(f"{_show(v)} ({n:,} row{'s' if n != 1 else ''})" for v, n in counts.head(6).items())
        first = np.flatnonzero(bad.to_numpy())
        raise TableInputError(
            f"The label column '{column}' of {source} must say whether each customer churned, but {int(bad.sum()):,} "
            f"row(s) hold something else: {examples} (first at rows {_row_numbers(first)}). Accepted values, any "
            f"case: yes/no, y/n, true/false, t/f, 1/0, churned/retained, churn/active, lost/renewed, "
            f"cancelled/stayed, left/current. Fix those cells, or leave them blank to leave the rows out."
        )
    return labels.to_numpy()


# -- column detection ------------------------------------------------------------------------------
def _internal_name(position: int, name: str) -> str:
    """A model-safe feature name (LightGBM refuses JSON characters in names)."""
    slug = re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_")[:40]
    return f"c{position}_{slug}" if slug else f"c{position}"


def _single_feature_auc(values: np.ndarray, y: np.ndarray) -> float:
    known = ~np.isnan(values)
    if known.sum() < 20 or len(np.unique(y[known])) < 2:
        return 0.5
    return float(roc_auc_score(y[known], values[known]))


def _leak_reason(kind: str, values: pd.Series, y: np.ndarray) -> str | None:
    """Why a column looks like it records the outcome, or None."""
    missing = values.isna().to_numpy()
    if 0 < missing.sum() < len(missing):
        filled_when_churned = float(np.mean(missing == (y == 0)))
        if filled_when_churned >= LEAK_AUC:
            return "it is filled in only for churned customers, so it records the outcome (like a churn date)"
        if 1 - filled_when_churned >= LEAK_AUC:
            return "it is blank for every churned customer, so it records the outcome"
    if kind == CATEGORICAL:
        frame = pd.DataFrame({"v": values.fillna("(blank)"), "y": y})
        rate = frame.groupby("v")["y"].transform("mean").to_numpy()
        auc = _single_feature_auc(rate, y)
    else:
        auc = _single_feature_auc(values.to_numpy(dtype="float64", na_value=np.nan), y)
    if max(auc, 1 - auc) >= LEAK_AUC:
        return (
            f"on its own it separates churned from retained customers almost perfectly (AUC {max(auc, 1 - auc):.3f}), "
            "so it most likely records the outcome"
        )
    return None


def _categorical_levels(text: pd.Series) -> tuple[tuple[str, ...], bool]:
    counts = text.value_counts()
    kept = counts[counts >= MIN_LEVEL_ROWS].head(MAX_LEVELS)
    if kept.empty:  # every value is rare: keep the most frequent ones rather than nothing
        kept = counts.head(MAX_LEVELS)
    levels = tuple(sorted(str(v) for v in kept.index))
    return levels, len(kept) < len(counts)


def _detect_column(
    series: pd.Series, name: str, position: int, dates: str, decimal_comma: bool
) -> FeatureColumn | DroppedColumn:
    feature = _internal_name(position, name)
    if pd.api.types.is_datetime64_any_dtype(series):
        kind_hint = DATE
    elif is_numeric_column(series):
        kind_hint = NUMERIC
    else:
        kind_hint = None
    if kind_hint is None:
        text = as_text(series)
        filled = text.dropna()
        if filled.empty:
            return DroppedColumn(column=name, reason="every cell is blank")
        numbers = _numbers(filled, decimal_comma)
        not_numbers = filled[numbers.isna()]
        if numbers.notna().mean() >= NUMERIC_SHARE and not_numbers.nunique() <= MAX_PLACEHOLDERS:
            placeholders = tuple(sorted(not_numbers.unique().tolist()))
            note = (
                f"{', '.join(_show(p) for p in placeholders)} read as blank ({len(not_numbers):,} rows)"
                if placeholders
                else ""
            )
            return FeatureColumn(name=name, feature=feature, type=NUMERIC, placeholders=placeholders, note=note)
        if filled.str.fullmatch(ISO_TIMESTAMP).all():
            kind_hint = DATE
        elif filled.str.fullmatch(SLASH_DATE).mean() >= NUMERIC_SHARE:
            return DroppedColumn(
                column=name,
                reason="it looks like dates written D/M/Y or M/D/Y, which cannot be told apart; write them as YYYY-MM-DD "
                "to use them",
            )
        else:
            distinct = filled.nunique()
            if distinct > 20 and distinct >= NEAR_UNIQUE_SHARE * len(filled):
                return DroppedColumn(
                    column=name,
                    reason=f"near-unique text ({distinct:,} different values in {len(filled):,} rows, like an email or a "
                    "name): there is no pattern to learn from it",
                )
            levels, pooled = _categorical_levels(filled)
            note = (
                f"{len(levels)} most frequent values kept; the other {distinct - len(levels):,} pooled as '{OTHER}'"
                if pooled
                else ""
            )
            return FeatureColumn(
                name=name, feature=feature, type=CATEGORICAL, levels=levels + ((OTHER,) if pooled else ()), note=note
            )
    if kind_hint == DATE:
        if dates == "drop":
            return DroppedColumn(column=name, reason="a date column, dropped as asked (dates='drop')")
        return FeatureColumn(
            name=name, feature=feature, type=DATE, note="dates used as day numbers (days since 1970-01-01)"
        )
    return FeatureColumn(name=name, feature=feature, type=NUMERIC)


def detect_schema(
    frame: pd.DataFrame,
    id_column: str,
    label_column: str,
    y: np.ndarray,
    dates: str = "number",
    drop: Iterable[str] = (),
    keep: Iterable[str] = (),
    decimal_comma: bool = False,
) -> TableSchema:
    """Feature columns with their types and levels, and dropped columns with reasons.

    `y` is the label of every row (NaN for blank); the leak check uses the labelled rows."""
    drop_lower = {d.strip().lower() for d in drop}
    keep_lower = {k.strip().lower() for k in keep}
    labelled = ~np.isnan(y)
    columns: list[FeatureColumn] = []
    dropped: list[DroppedColumn] = []
    for position, name in enumerate(frame.columns):
        if name in (id_column, label_column):
            continue
        if str(name).strip().lower() in drop_lower:
            dropped.append(DroppedColumn(column=name, reason="dropped as asked (--drop)"))
            continue
        found = _detect_column(frame[name], name, position, dates, decimal_comma)
        if isinstance(found, DroppedColumn):
            dropped.append(found)
            continue
        values = feature_values(frame[name], found, decimal_comma)
        known = values.dropna()
        if known.nunique() <= 1 and (len(known) == len(values) or known.empty):
            shown = f"always {_show(shown_value(known.iloc[0]))}" if len(known) else "every cell is blank"
            dropped.append(DroppedColumn(column=name, reason=f"constant ({shown}): it cannot tell customers apart"))
            continue
        if str(name).strip().lower() not in keep_lower:
            leak = _leak_reason(found.type, values[labelled], y[labelled].astype(int))
            if leak:
                dropped.append(
                    DroppedColumn(
                        column=name,
                        reason=f"{leak}; a model using it would not work on customers who have not churned yet "
                        f"(if it is truly known in advance, keep it with --keep {name})",
                    )
                )
                continue
        columns.append(found)
    if not columns:
        reasons = "; ".join(f"{d.column}: {d.reason}" for d in dropped) or "the file has only the id and label columns"
        raise TableInputError(
            f"No usable feature columns are left besides '{id_column}' and '{label_column}' ({reasons}). "
            "Add columns that describe each customer (usage, plan, tickets, spend, ...)."
        )
    return TableSchema(id_column=id_column, label_column=label_column, columns=tuple(columns), dropped=tuple(dropped))


def feature_values(series: pd.Series, column: FeatureColumn, decimal_comma: bool) -> pd.Series:
    """One file column as the model sees it (float for numeric/date, text or None for categorical).
    Values that do not fit the type become missing; `check_values` reports them first."""
    if column.type == CATEGORICAL:
        text = as_text(series)
        if OTHER in column.levels:
            text = text.where(text.isna() | text.isin(column.levels), OTHER)
        return text.astype(object).where(text.notna(), None)
    if column.type == DATE:
        if pd.api.types.is_datetime64_any_dtype(series):
            return _dates(series)
        return _dates(as_text(series))
    if is_numeric_column(series):
        return _floats(series)
    return _numbers(as_text(series), decimal_comma)


def check_values(frame: pd.DataFrame, schema: TableSchema, decimal_comma: bool, source: str) -> list[str]:
    """Refuses non-numbers in numeric columns and non-dates in date columns (naming rows);
    returns notes about category values never seen in training."""
    problems: list[str] = []
    notes: list[str] = []
    for column in schema.columns:
        series = frame[column.name]
        if column.type == CATEGORICAL:
            text = as_text(series)
            unseen = text.notna() & ~text.isin(column.levels)
            if unseen.any() and OTHER not in column.levels:
                examples = ", ".join(_show(v) for v in text[unseen].unique()[:3])
                notes.append(
                    f"{column.name}: {int(unseen.sum()):,} row(s) have values never seen in training ({examples}); "
                    "they are scored as unknown"
                )
            continue
        if is_numeric_column(series) or pd.api.types.is_datetime64_any_dtype(series):
            continue
        text = as_text(series)
        parsed = feature_values(series, column, decimal_comma)
        bad = text.notna() & parsed.isna() & ~text.isin(column.placeholders)
        if bad.any():
            expected = "numbers" if column.type == NUMERIC else "dates (YYYY-MM-DD)"
            examples = ", ".join(_show(v) for v in text[bad].unique()[:3])
            problems.append(
                f"'{column.name}' should hold {expected}, as in training, but {int(bad.sum()):,} row(s) do not: "
                f"{examples} (rows {_row_numbers(np.flatnonzero(bad.to_numpy()))})"
            )
    if problems:
        raise TableInputError(
            f"{source} cannot be scored: {'; '.join(problems)}. Fix or blank those cells (blank cells are missing "
            "values)."
        )
    return notes


def model_frame(frame: pd.DataFrame, schema: TableSchema, decimal_comma: bool) -> pd.DataFrame:
    """The model's feature matrix (internal names) for the rows of `frame`."""
    return pd.DataFrame(
        {c.feature: feature_values(frame[c.name], c, decimal_comma).to_numpy() for c in schema.columns},
        index=frame.index,
    )
