"""Validated, atomic, idempotent loads from CSV / Parquet files and DataFrames.

`load_file(wh, table, path, mapping)` and `load_frame(wh, table, frame, mapping)` check
every row against `TABLE_SPECS`, then write inside ONE transaction: new rows are
inserted, changed rows updated (by natural key), identical rows left alone. Either every
row is written or none is: any problem raises `IngestError`, whose `.problems` are
`Problem(row, column, value, message, fix)` objects, and the warehouse is left exactly as
it was. Loading the same file twice is a no-op (the second report says every row is
unchanged). `validate_file` makes every check and reports what a load would do, writing
nothing; `preview_file` shows a file's first rows as read.

Row numbers in problems count the header as row 1, so the first data row is row 2, as a
spreadsheet shows it (blank lines in a CSV are skipped and not counted). The same
numbering is used for Parquet files and DataFrames (data row k is "row k + 1").

Where each job lives (each module's docstring holds the rules a person loading data relies on):

* `specs`  - what each table accepts: columns, types, required, natural keys, allowed
  values and ranges, cross-column rules (TABLE_SPECS, EVENT_LOG_SPEC); which tables are
  not loadable and why (NOT_LOADABLE).
* `read`   - reading CSV (UTF-8, delimiter sniffing) and Parquet files and raw event
  logs; matching file columns to the table's (`mapping`, ignored columns).
* `coerce` - typing and checking every cell (numbers, enumerations, dates and the
  dates-outside-reality window), duplicate keys, the row-level problems.
* `load`   - the all-or-nothing load: staging, checks against the warehouse (customers
  exist, cross-column rules), upserts by natural key, the event-log roll-up.
* `customers` - a customers file's derived columns (name, status) and its extra columns
  kept as custom account attributes (customer_attributes).
* `subscriptions` - mrr_history and churn dates derived from subscriptions.
* `references` - the one "load customers first" problem for unknown customer ids.
* `report` - the results: `Problem`, `IngestReport`, `IngestError`.
"""

from __future__ import annotations

from engine.data.ingest.load import load_file, load_frame, validate_file
from engine.data.ingest.names import guess_mapping
from engine.data.ingest.read import CSV_SUFFIXES, PARQUET_SUFFIXES, preview_file, private_upload, read_file
from engine.data.ingest.report import MAX_LISTED, IngestError, IngestReport, Problem, problems_table
from engine.data.ingest.specs import (
    DATE,
    EVENT_LOG,
    EVENT_LOG_SPEC,
    FLOAT,
    INT,
    LOADABLE,
    NOT_LOADABLE,
    TABLE_SPECS,
    TEXT,
    TIMESTAMP,
    ColumnSpec,
    RowCheck,
    TableSpec,
    expected_columns,
)

__all__ = [
    "CSV_SUFFIXES",
    "DATE",
    "EVENT_LOG",
    "EVENT_LOG_SPEC",
    "FLOAT",
    "INT",
    "LOADABLE",
    "MAX_LISTED",
    "NOT_LOADABLE",
    "PARQUET_SUFFIXES",
    "TABLE_SPECS",
    "TEXT",
    "TIMESTAMP",
    "ColumnSpec",
    "IngestError",
    "IngestReport",
    "Problem",
    "RowCheck",
    "TableSpec",
    "expected_columns",
    "guess_mapping",
    "load_file",
    "load_frame",
    "preview_file",
    "private_upload",
    "problems_table",
    "read_file",
    "validate_file",
]
