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
  near-unique text (emails, names: at least 90% distinct), `D/M/Y`-style dates (ambiguous),
  and columns that look like they record the outcome itself (filled in only for churned
  rows, or separating churners on their own with AUC >= 0.99, e.g. a churn date): a model
  using them would not work on customers who have not churned yet. `keep` overrides that
  leak check for named columns; `drop` removes columns by name.
* Blank cells (and `NULL`, `NA`, `N/A`, `NaN`, `None`, any case) are missing values.
  Rows with a blank label are left out of training and counted in the notes.
* Labels are read case-insensitively: yes/no, y/n, true/false, t/f, 1/0,
  churned/retained, churn/active, lost/renewed, cancelled/stayed, left/current.
* Validation. There is no time dimension in such a table, so the rows are split at
  random, stratified by the label: 60% train the boosters, 20% choose the number of
  boosting rounds and calibrate the probabilities (ChurnModel's out-of-time fold), 20%
  are a test holdout the model never sees; the reported AUC, PR-AUC and Brier come from
  that holdout.
* The feature schema (columns, types, category levels, placeholder texts) is saved
  inside the model artifact, so its SHA-256 covers it, and a copy goes to the registry
  row's `data_window["schema"]` for inspection. `predict_table` refuses a file that lacks
  a feature column (naming it) or holds non-numbers in a numeric column; category values
  never seen in training are scored as unknown and counted in the notes.

Modules: `schema` (the feature schema, column typing and reading), `train` (training, the
split, the registry), `predict` (scoring a file, the atomic write), `cli` (the commands).
"""

from engine.churn.table.predict import TablePredictResult, predict_table, score_frame, write_atomically
from engine.churn.table.schema import (
    CATEGORICAL,
    DATE,
    NUMERIC,
    OTHER,
    DroppedColumn,
    FeatureColumn,
    TableInputError,
    TableSchema,
    check_values,
    detect_schema,
    feature_values,
    model_frame,
    read_table,
)
from engine.churn.table.train import KIND, FeatureShare, TableTrainResult, load_table_model, train_table

__all__ = [
    "CATEGORICAL",
    "DATE",
    "KIND",
    "NUMERIC",
    "OTHER",
    "DroppedColumn",
    "FeatureColumn",
    "FeatureShare",
    "TableInputError",
    "TablePredictResult",
    "TableSchema",
    "TableTrainResult",
    "check_values",
    "detect_schema",
    "feature_values",
    "load_table_model",
    "model_frame",
    "predict_table",
    "read_table",
    "score_frame",
    "train_table",
    "write_atomically",
]
