"""Bring-your-own-table churn models: train on any labelled customer table, score new rows.

An analyst hands in one flat CSV/Parquet file, one row per customer, with an id column
and a yes/no churn label. `train_table` detects what each column is, fits the same
bagged, calibrated LightGBM ensemble as the warehouse model (`engine.churn.model.ChurnModel`)
and registers it as kind "table" (versions `table-v1`, `table-v2`, ...). `predict_table`
scores a new file with a registered table model and writes
`<id column>, churn_probability, ci_low, ci_high, top_driver` atomically.

Decisions an analyst relies on:

* Columns. The id and label columns are never features. Number columns (and text
  columns whose values read as numbers: `1234.5`, `1,234`, `$1,200`, `12%`; a few
  placeholder texts such as `-` or `unknown` in an otherwise numeric column count as
  blank) are numeric. ISO dates (`YYYY-MM-DD`, optionally with a time) are used as day
  numbers (days since 1970-01-01) or dropped with `dates="drop"`. Any other text is
  categorical: its 30 most frequent values seen at least 10 times are kept as levels and
  the rest pooled as "(other)". Dropped with a note: constant or empty columns,
  near-unique text (emails, names: at least 90 % distinct), `D/M/Y`-style dates (ambiguous),
  and columns that look like they record the outcome itself (filled in only for churned
  rows, or separating churners on their own with AUC >= 0.99, e.g. a churn date): a model
  using them would not work on customers who have not churned yet. `keep` overrides that
  leak check for named columns; `drop` removes columns by name.
* Blank cells (and `NULL`, `NA`, `N/A`, `NaN`, `None`, any case) are missing values.
  Rows with a blank label are left out of training and counted in the notes.
* Labels are read case-insensitively: yes/no, y/n, true/false, t/f, 1/0,
  churned/retained, churn/active, lost/renewed, cancelled/stayed, left/current.
* Validation. There is no time dimension in such a table, so the rows are split at
  random, stratified by the label: 60 % train the boosters, 20 % choose the number of
  boosting rounds and calibrate the probabilities (ChurnModel's out-of-time fold), 20 %
  are a test holdout the model never sees; the reported AUC, PR-AUC and Brier come from
  that holdout.
* The feature schema (columns, types, category levels, placeholder texts) is saved
  inside the model artifact, so its SHA-256 covers it, and a copy goes to the registry
  row's `data_window["schema"]` for inspection. `predict_table` refuses a file that lacks
  a feature column (naming it) or holds non-numbers in a numeric column; category values
  never seen in training are scored as unknown and counted in the notes.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from engine.churn import registry
from engine.churn.model import ChurnModel
from engine.churn.training import evaluate
from engine.core.errors import BadInputError, ModelUnavailableError, NotFoundError
from engine.core.values import null_tokens_to_na
from engine.data import ingest

KIND = "table"
NUMERIC, CATEGORICAL, DATE = "numeric", "categorical", "date"
OTHER = "(other)"

MIN_ROWS = 200  # labelled rows needed: 20 % of them must still make a meaningful test holdout
MIN_PER_CLASS = 50  # each of the three splits then holds at least ~10 of the rarer class
TEST_FRACTION = 0.2
VALID_FRACTION = 0.2
MAX_LEVELS = 30
MIN_LEVEL_ROWS = 10
NEAR_UNIQUE_SHARE = 0.9
NUMERIC_SHARE = 0.95  # a text column is numeric when this share of its values are numbers ...
MAX_PLACEHOLDERS = 3  # ... and the rest are at most this many distinct texts ("-", "unknown")
LEAK_AUC = 0.99
MIN_BAGS, MAX_BAGS = 2, 50
DRIVER_BLOCK_ROWS = 20_000

POSITIVE_LABELS = ("yes", "y", "true", "t", "1", "churned", "churn", "lost", "cancelled", "canceled", "left")
NEGATIVE_LABELS = ("no", "n", "false", "f", "0", "retained", "active", "renewed", "stayed", "current", "not churned")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_SLASH_DATE = re.compile(r"\d{1,4}[/.]\d{1,2}[/.]\d{1,4}(?:\s.*)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")

Progress = Callable[[float, str], None]


class TableInputError(BadInputError):
    """A table, or the columns named for it, cannot be used as given."""


# -- schema ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureColumn:
    """One file column the model uses: `feature` is its name inside the model."""

    name: str
    feature: str
    type: str  # numeric / categorical / date
    levels: tuple[str, ...] = ()
    placeholders: tuple[str, ...] = ()  # texts read as blank in a numeric column
    note: str = ""

    def as_dict(self) -> dict:
        out: dict = {"name": self.name, "type": self.type}
        if self.type == CATEGORICAL:
            out["levels"] = list(self.levels)
        if self.placeholders:
            out["placeholders"] = list(self.placeholders)
        if self.note:
            out["note"] = self.note
        out["feature"] = self.feature
        return out

    @classmethod
    def from_dict(cls, d: dict) -> FeatureColumn:
        return cls(
            d["name"],
            d["feature"],
            d["type"],
            tuple(d.get("levels", ())),
            tuple(d.get("placeholders", ())),
            d.get("note", ""),
        )


@dataclass(frozen=True)
class DroppedColumn:
    column: str
    reason: str

    def as_dict(self) -> dict:
        return {"column": self.column, "reason": self.reason}


@dataclass(frozen=True)
class TableSchema:
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

    def as_dict(self) -> dict:
        return {
            "id_column": self.id_column,
            "label_column": self.label_column,
            "columns": [c.as_dict() for c in self.columns],
            "dropped": [d.as_dict() for d in self.dropped],
        }

    @classmethod
    def from_dict(cls, d: dict) -> TableSchema:
        return cls(
            d["id_column"],
            d["label_column"],
            tuple(FeatureColumn.from_dict(c) for c in d["columns"]),
            tuple(DroppedColumn(x["column"], x["reason"]) for x in d.get("dropped", ())),
        )


# -- results -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableTrainResult:
    """A registered table model: holdout metrics, the detected features and what was dropped."""

    version: str
    kind: str
    source: str
    rows: int
    churn_rate: float
    features: list[dict]
    dropped: list[dict]
    metrics: dict
    importance: list[dict]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        m = self.metrics
        lines = [
            f"{self.version}: trained on {self.rows:,} labelled rows of {self.source} "
            f"({self.churn_rate * 100:.1f} % churned) in {self.seconds:.1f} s.",
            f"Test holdout ({m['rows']:,} rows the model never saw): AUC {m.get('auc', float('nan')):.3f}, "
            f"PR-AUC {m.get('pr_auc', float('nan')):.3f}, Brier {m['brier']:.4f}.",
            "Features: " + ", ".join(f"{f['name']} ({f['type']})" for f in self.features) + ".",
        ]
        lines += [f"Dropped {d['column']}: {d['reason']}." for d in self.dropped]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class TablePredictResult:
    version: str
    source: str
    out: str
    rows: int
    mean_probability: float
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        text = (
            f"Scored {self.rows:,} rows of {self.source} with {self.version} into {self.out} "
            f"(mean churn probability {self.mean_probability * 100:.1f} %) in {self.seconds:.1f} s."
        )
        return "\n".join([text, *(f"Note: {n}" for n in self.notes)])


# -- reading -----------------------------------------------------------------------------------
def read_table(path: str | Path) -> tuple[pd.DataFrame, bool]:
    """(frame, decimal_comma) of a CSV/Parquet file, read as `engine.data.ingest` reads files
    (UTF-8 check, delimiter sniffing, clear refusals). CSV cells come back as text;
    `decimal_comma` is True for `;`/tab/`|`-separated files, where `1,5` means 1.5."""
    read = ingest._read_file(Path(path))
    return read.frame, not read.thousands_ok


def _listing(columns: Iterable[str], limit: int = 40) -> str:
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
        f"{source} has no {role} column '{name}'. Columns found: {_listing(frame.columns)}. "
        f"Pass the column that {'identifies each customer' if flag == '--id' else 'says whether each customer churned'} "
        f"with {flag} COLUMN."
    )


def _row_numbers(positions: Iterable[int], limit: int = 5) -> str:
    rows = [str(int(p) + 2) for p in positions]  # header is row 1, as a spreadsheet shows it
    return ", ".join(rows[:limit]) + (" ..." if len(rows) > limit else "")


def check_ids(frame: pd.DataFrame, id_column: str, source: str) -> pd.Series:
    """The id column as text; refuses blank or repeated ids (naming rows)."""
    ids = _text(frame[id_column])
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
def _text(series: pd.Series) -> pd.Series:
    """Any column as stripped text with NA for blank cells and null tokens."""
    if pd.api.types.is_bool_dtype(series):
        series = series.map({True: "true", False: "false"})
    elif pd.api.types.is_float_dtype(series):
        finite = series.dropna()
        if len(finite) and bool(np.isfinite(finite).all()) and bool((finite % 1 == 0).all()):
            series = series.astype("Int64")  # 3.0 reads as "3", as it does in a CSV
    text = series.astype("str").str.strip()
    return null_tokens_to_na(text)


def _numbers(text: pd.Series, decimal_comma: bool) -> pd.Series:
    """Text to float: NaN where blank or not a number (`1,234`, `$1,200`, `12%` are numbers)."""
    s = text.str.replace(r"^([+-]?)\s*[$€£]\s*", r"\1", regex=True).str.replace(r"\s*%$", "", regex=True)
    if decimal_comma:
        s = s.where(~s.str.fullmatch(_DECIMAL_COMMA.pattern).fillna(False), s.str.replace(",", ".", regex=False))
    else:
        s = s.where(~s.str.fullmatch(_THOUSANDS.pattern).fillna(False), s.str.replace(",", "", regex=False))
    values = pd.to_numeric(s, errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


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


def _is_numeric_column(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _show(value) -> str:
    text = str(value)
    return "'" + (text if len(text) <= 40 else text[:37] + "...") + "'"


# -- labels --------------------------------------------------------------------------------------
def parse_labels(series: pd.Series, column: str, source: str) -> np.ndarray:
    """1 (churned), 0 (stayed) or NaN (blank) per row; refuses values that are not a yes/no answer."""
    if pd.api.types.is_bool_dtype(series):
        return _floats(series).to_numpy()
    text = _text(series).str.lower()
    mapping = {**dict.fromkeys(POSITIVE_LABELS, 1.0), **dict.fromkeys(NEGATIVE_LABELS, 0.0)}
    numeric = _numbers(text, decimal_comma=False)
    labels = text.map(mapping).astype("float64")
    labels = labels.where(labels.notna() | ~numeric.isin([0.0, 1.0]), numeric)  # "1.0", "0.00"
    bad = text.notna() & labels.isna()
    if bad.any():
        counts = _text(series)[bad].value_counts()
        examples = ", ".join(f"{_show(v)} ({n:,} row{'s' if n != 1 else ''})" for v, n in counts.head(6).items())
        first = np.flatnonzero(bad.to_numpy())
        raise TableInputError(
            f"The label column '{column}' of {source} must say whether each customer churned, but {int(bad.sum()):,} "
            f"row(s) hold something else: {examples} (first at rows {_row_numbers(first)}). Accepted values, any "
            f"case: yes/no, y/n, true/false, t/f, 1/0, churned/retained, churn/active, lost/renewed, "
            f"cancelled/stayed, left/current. Fix those cells, or leave them blank to leave the rows out."
        )
    return labels.to_numpy()


def check_classes(y: np.ndarray, column: str, source: str) -> None:
    """Refuses a label with one class, too few rows, or too few of the rarer class."""
    churned, stayed = int((y == 1).sum()), int((y == 0).sum())
    if churned + stayed == 0:
        raise TableInputError(
            f"{source} has no labelled rows: every '{column}' cell is blank (or the file has no data rows). "
            "Fill in whether each customer churned."
        )
    if churned == 0 or stayed == 0:
        answer = "churned" if stayed == 0 else "did not churn"
        raise TableInputError(
            f"All {churned + stayed:,} labelled rows of {source} give the same answer in '{column}' (every customer "
            f"{answer}), so there is nothing to tell apart. A churn model needs both churned and retained "
            "customers: add the other kind, or check that --label names the right column."
        )
    if churned + stayed < MIN_ROWS:
        raise TableInputError(
            f"{source} has {churned + stayed:,} labelled rows; at least {MIN_ROWS:,} are needed (with at least "
            f"{MIN_PER_CLASS} churned and {MIN_PER_CLASS} retained) to train and still hold out a fair test set. "
            "Add more customers, e.g. a longer period."
        )
    if min(churned, stayed) < MIN_PER_CLASS:
        rarer, count = ("churned", churned) if churned < stayed else ("retained", stayed)
        raise TableInputError(
            f"{source} has only {count:,} {rarer} customers among {churned + stayed:,} labelled rows; at least "
            f"{MIN_PER_CLASS} of each kind are needed ({MIN_PER_CLASS - count:,} more {rarer}) so that training, "
            "calibration and the test holdout each see enough of them. Add rows, e.g. a longer period."
        )


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
    elif _is_numeric_column(series):
        kind_hint = NUMERIC
    else:
        kind_hint = None
    if kind_hint is None:
        text = _text(series)
        filled = text.dropna()
        if filled.empty:
            return DroppedColumn(name, "every cell is blank")
        numbers = _numbers(filled, decimal_comma)
        not_numbers = filled[numbers.isna()]
        if numbers.notna().mean() >= NUMERIC_SHARE and not_numbers.nunique() <= MAX_PLACEHOLDERS:
            placeholders = tuple(sorted(not_numbers.unique().tolist()))
            note = (
                f"{', '.join(_show(p) for p in placeholders)} read as blank ({len(not_numbers):,} rows)"
                if placeholders
                else ""
            )
            return FeatureColumn(name, feature, NUMERIC, placeholders=placeholders, note=note)
        if filled.str.fullmatch(_ISO_DATE.pattern).all():
            kind_hint = DATE
        elif filled.str.fullmatch(_SLASH_DATE.pattern).mean() >= NUMERIC_SHARE:
            return DroppedColumn(
                name,
                "it looks like dates written D/M/Y or M/D/Y, which cannot be told apart; write them as YYYY-MM-DD "
                "to use them",
            )
        else:
            distinct = filled.nunique()
            if distinct > 20 and distinct >= NEAR_UNIQUE_SHARE * len(filled):
                return DroppedColumn(
                    name,
                    f"near-unique text ({distinct:,} different values in {len(filled):,} rows, like an email or a "
                    "name): there is no pattern to learn from it",
                )
            levels, pooled = _categorical_levels(filled)
            note = (
                f"{len(levels)} most frequent values kept; the other {distinct - len(levels):,} pooled as '{OTHER}'"
                if pooled
                else ""
            )
            return FeatureColumn(name, feature, CATEGORICAL, levels=levels + ((OTHER,) if pooled else ()), note=note)
    if kind_hint == DATE:
        if dates == "drop":
            return DroppedColumn(name, "a date column, dropped as asked (dates='drop')")
        return FeatureColumn(name, feature, DATE, note="dates used as day numbers (days since 1970-01-01)")
    return FeatureColumn(name, feature, NUMERIC)


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
            dropped.append(DroppedColumn(name, "dropped as asked (--drop)"))
            continue
        found = _detect_column(frame[name], name, position, dates, decimal_comma)
        if isinstance(found, DroppedColumn):
            dropped.append(found)
            continue
        values = feature_values(frame[name], found, decimal_comma)
        known = values.dropna()
        if known.nunique() <= 1 and (len(known) == len(values) or known.empty):
            shown = f"always {_show(_shown_value(known.iloc[0]))}" if len(known) else "every cell is blank"
            dropped.append(DroppedColumn(name, f"constant ({shown}): it cannot tell customers apart"))
            continue
        if str(name).strip().lower() not in keep_lower:
            leak = _leak_reason(found.type, values[labelled], y[labelled].astype(int))
            if leak:
                dropped.append(
                    DroppedColumn(
                        name,
                        f"{leak}; a model using it would not work on customers who have not churned yet "
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
    return TableSchema(id_column, label_column, tuple(columns), tuple(dropped))


def feature_values(series: pd.Series, column: FeatureColumn, decimal_comma: bool) -> pd.Series:
    """One file column as the model sees it (float for numeric/date, text or None for categorical).
    Values that do not fit the type become missing; `check_values` reports them first."""
    if column.type == CATEGORICAL:
        text = _text(series)
        if OTHER in column.levels:
            text = text.where(text.isna() | text.isin(column.levels), OTHER)
        return text.astype(object).where(text.notna(), None)
    if column.type == DATE:
        if pd.api.types.is_datetime64_any_dtype(series):
            return _dates(series)
        return _dates(_text(series))
    if _is_numeric_column(series):
        return _floats(series)
    return _numbers(_text(series), decimal_comma)


def check_values(frame: pd.DataFrame, schema: TableSchema, decimal_comma: bool, source: str) -> list[str]:
    """Refuses non-numbers in numeric columns and non-dates in date columns (naming rows);
    returns notes about category values never seen in training."""
    problems: list[str] = []
    notes: list[str] = []
    for column in schema.columns:
        series = frame[column.name]
        if column.type == CATEGORICAL:
            text = _text(series)
            unseen = text.notna() & ~text.isin(column.levels)
            if unseen.any() and OTHER not in column.levels:
                examples = ", ".join(_show(v) for v in text[unseen].unique()[:3])
                notes.append(
                    f"{column.name}: {int(unseen.sum()):,} row(s) have values never seen in training ({examples}); "
                    "they are scored as unknown"
                )
            continue
        if _is_numeric_column(series) or pd.api.types.is_datetime64_any_dtype(series):
            continue
        text = _text(series)
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


# -- training --------------------------------------------------------------------------------------
def _split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random stratified (train, validation, test) row positions: 60 / 20 / 20."""
    positions = np.arange(len(y))
    rest, test = train_test_split(positions, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    train, valid = train_test_split(
        rest, test_size=VALID_FRACTION / (1 - TEST_FRACTION), stratify=y[rest], random_state=seed + 1
    )
    return np.sort(train), np.sort(valid), np.sort(test)


def _check_bags(n_bags: int) -> None:
    if not MIN_BAGS <= n_bags <= MAX_BAGS:
        raise TableInputError(
            f"--bags {n_bags}: use {MIN_BAGS} to {MAX_BAGS} ensemble members (the interval needs at least two; "
            "6 is the default)."
        )


def train_table(
    path: str | Path,
    id_column: str,
    label_column: str,
    *,
    data_dir: str | Path | None = None,
    n_bags: int = 6,
    seed: int = 0,
    dates: str = "number",
    drop: Iterable[str] = (),
    keep: Iterable[str] = (),
    progress: Progress | None = None,
) -> TableTrainResult:
    """Train a churn model on a labelled table and register it as kind "table".

    Returns the new version with its test-holdout metrics, detected features and
    dropped columns. Nothing is registered when the table is refused."""
    say = progress or (lambda _f, _m: None)
    t0 = time.perf_counter()
    _check_bags(n_bags)
    if dates not in ("number", "drop"):
        raise TableInputError(f"dates='{dates}': use 'number' (days since 1970-01-01) or 'drop'.")
    path = Path(path)
    say(0.02, f"reading {path.name}")
    frame, decimal_comma = read_table(path)
    source = path.name
    id_column = find_column(frame, id_column, "id", "--id", source)
    label_column = find_column(frame, label_column, "label", "--label", source)
    if id_column == label_column:
        raise TableInputError(f"--id and --label both name '{id_column}'; the label must be a separate column.")
    check_ids(frame, id_column, source)
    y_all = parse_labels(frame[label_column], label_column, source)
    check_classes(y_all[~np.isnan(y_all)], label_column, source)
    say(0.08, "detecting column types")
    schema = detect_schema(frame, id_column, label_column, y_all, dates, drop, keep, decimal_comma)
    notes = [f"{c.name}: {c.note}" for c in schema.columns if c.note]
    unlabelled = int(np.isnan(y_all).sum())
    if unlabelled:
        notes.append(f"{unlabelled:,} row(s) with a blank '{label_column}' were left out of training")
    if decimal_comma:
        notes.append("the file is not comma-separated, so '1,5' was read as 1.5")
    labelled = frame[~np.isnan(y_all)].reset_index(drop=True)
    y = y_all[~np.isnan(y_all)].astype(int)
    X = model_frame(labelled, schema, decimal_comma)
    train_rows, valid_rows, test_rows = _split(y, seed)
    model = ChurnModel(schema.features, schema.categorical_features, n_bags=n_bags, seed=seed)
    model.fit(
        X.iloc[train_rows],
        y[train_rows],
        X.iloc[valid_rows],
        y[valid_rows],
        progress=lambda step, total, msg: say(0.1 + 0.8 * step / total, msg),
    )
    model.table_schema_ = schema.as_dict()  # saved inside the artifact, so its hash covers it
    say(0.92, "measuring on the test holdout")
    pred = model.predict(X.iloc[test_rows])
    metrics = evaluate(y[test_rows], pred.churn_probability, pred.ci_low, pred.ci_high)
    metrics.update(
        best_iteration=model.best_iteration_,
        train_rows=len(train_rows),
        validation_rows=len(valid_rows),
        test_rows=len(test_rows),
        table_rows=len(y),
        table_churn_rate=float(y.mean()),
    )
    importance = _importance(model, schema)
    params = {
        "n_bags": model.n_bags,
        "learning_rate": model.learning_rate,
        "num_leaves": model.num_leaves,
        "min_child_samples": model.min_child_samples,
        "interval_level": model.interval_level,
        "seed": seed,
        "pos_weight": model.pos_weight_,
        "dates": dates,
    }
    window = {
        "source": source,
        "rows": len(y),
        "id_column": id_column,
        "label_column": label_column,
        "split": "random stratified: 60 % train, 20 % stopping and calibration, 20 % test holdout",
        "schema": schema.as_dict(),
    }
    version = registry.register(model, KIND, params, schema.names, window, metrics, data_dir, notes="; ".join(notes))
    say(1.0, f"registered {version.version}")
    return TableTrainResult(
        version=version.version,
        kind=KIND,
        source=source,
        rows=len(y),
        churn_rate=float(y.mean()),
        features=[{k: v for k, v in c.as_dict().items() if k != "feature"} for c in schema.columns],
        dropped=[d.as_dict() for d in schema.dropped],
        metrics=metrics,
        importance=importance,
        notes=notes,
        seconds=round(time.perf_counter() - t0, 2),
    )


def _importance(model: ChurnModel, schema: TableSchema) -> list[dict]:
    names = {c.feature: c.name for c in schema.columns}
    shares = model.feature_importance()
    return [{"feature": names[f], "share": round(float(s), 4)} for f, s in shares.items()]


# -- prediction ------------------------------------------------------------------------------------
def load_table_model(
    version: str | None = None, data_dir: str | Path | None = None
) -> tuple[registry.ModelVersion, ChurnModel, TableSchema]:
    """(version row, verified model, schema) of `version`, default the newest table model."""
    if version is None:
        table_versions = registry.versions(KIND, data_dir)
        if not table_versions:
            raise NotFoundError(
                "No table model yet. Train one with `.venv/bin/python -m engine train-table FILE --id COLUMN --label COLUMN`."
            )
        chosen = max(table_versions, key=_version_number)
    else:
        chosen = registry.get(version, data_dir)
        if chosen.kind != KIND:
            known = ", ".join(v.version for v in registry.versions(KIND, data_dir)[:10]) or "none yet"
            raise TableInputError(
                f"{chosen.version} is a {chosen.kind} model (trained on warehouse snapshots), not a table model, so "
                f"it cannot score a table. Table models: {known}. Leave out --version to use the newest."
            )
    try:
        model = registry.load(chosen, data_dir)  # re-hashes the artifact; refuses a changed one
    except ModelUnavailableError:
        problem = (
            "does not match its registered SHA-256 (it was changed or truncated)"
            if registry.artifact(chosen, data_dir).exists()
            else "is missing"
        )
        others = ", ".join(v.version for v in registry.versions(KIND, data_dir) if v.version != chosen.version)
        raise ModelUnavailableError(
            f"Table model {chosen.version}: its artifact {registry.artifact(chosen, data_dir)} {problem}, so it will "
            "not be loaded. Retrain with `.venv/bin/python -m engine train-table FILE --id COLUMN --label COLUMN`"
            + (f", or pick another version with --version ({others})." if others else ".")
        ) from None
    state = getattr(model, "table_schema_", None)
    if state is None:
        raise ModelUnavailableError(
            f"{chosen.version}'s artifact has no table schema, so new files cannot be checked against it. "
            "Retrain it with `.venv/bin/python -m engine train-table`."
        )
    return chosen, model, TableSchema.from_dict(state)


def _version_number(version: registry.ModelVersion) -> int:
    number = version.version.rsplit("-v", 1)[-1]
    return int(number) if number.isdigit() else 0


def _shown_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.4g}"
    return str(value)


def top_drivers(frame: pd.DataFrame, schema: TableSchema, contributions: np.ndarray) -> list[str]:
    """Per row, the feature pushing churn risk up the most, as "column = value" (its
    value as the file has it); blank when no feature raises the risk."""
    impacts = contributions[:, : len(schema.columns)]
    best = impacts.argmax(axis=1)
    shown = {}
    for column in schema.columns:
        series = frame[column.name]
        numbers = _is_numeric_column(series) and not pd.api.types.is_bool_dtype(series)
        shown[column.name] = (series if numbers else _text(series)).to_numpy()
    out = []
    for i, j in enumerate(best):
        if impacts[i, j] <= 0:
            out.append("")
            continue
        name = schema.columns[j].name
        value = shown[name][i]
        out.append(f"{name} is blank" if pd.isna(value) else f"{name} = {_shown_value(value)}")
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
            f"{source} lacks {len(missing)} column(s) the model was trained on: {_listing(missing)}. Add them "
            f"(blank cells are fine where a value is unknown). Columns found: {_listing(frame.columns)}."
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
        notes.append(f"columns not used by the model: {_listing(ignored, 10)}")
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
