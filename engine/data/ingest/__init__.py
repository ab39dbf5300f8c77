"""Validated, atomic, idempotent loads from CSV / Parquet files and DataFrames.

`load_file(wh, table, path, mapping)` and `load_frame(wh, table, frame, mapping)` check
every row against `TABLE_SPECS`, then write inside ONE transaction: the rows are staged
in a temp table, each is classified against the warehouse by its natural key (new,
changed or identical), changed rows are UPDATEd and new rows INSERTed. Either every row
is written or none is: any problem raises `IngestError` listing what to fix, and the
warehouse is left exactly as it was. Loading the same file twice is a no-op (the second
report says every row is unchanged).

Decisions a person loading data relies on:

* Row numbers in problems count the header as row 1, so the first data row is row 2,
  as a spreadsheet shows it (blank lines in a CSV are skipped and not counted). The same
  numbering is used for Parquet files and DataFrames (data row k is "row k + 1").
* Encoding: CSV files must be UTF-8 (a BOM is fine). Anything else is refused with the
  line of the first bad byte and how to re-save as UTF-8: guessing Windows-1252 or
  Latin-1 would load wrong customer names without a word.
* Delimiter: sniffed from the header among `,` `;` tab and `|` (whichever splits it
  into the most columns); a data row with more values than the header is refused with
  its row number.
* Values: whitespace is stripped and empty cells are NULL. In number/date columns
  `NULL`, `None`, `NaN`, `NA`, `N/A` (any case) are NULL too; in text columns they are
  kept as text ("NA" may be a region). Enumerated columns (plan_tier, status, ...) are
  matched case-insensitively and stored lower-case. Numbers are plain (`1234.5`,
  `1e3`); `1,234.50` (comma thousands groups) is accepted in comma-separated files only,
  because `1,234` means 1.234 in a `;`-separated European file; decimal commas are
  refused. Integer columns refuse fractions (`1.5`; `3.0` is 3). Dates are ISO
  `YYYY-MM-DD` (a midnight time such as `2024-03-01 00:00:00` is tolerated); timestamps
  are ISO 8601 (`2024-03-01 14:30`, `2024-03-01T14:30:00Z`); a UTC offset is converted
  to UTC and dropped. `mrr_history.month` also takes `YYYY-MM`, and any day of the month
  is normalised to the first (the report says how many were moved).
* Dates must be real: every date and timestamp column refuses values before
  RADAR_EARLIEST_DATE (default 1990-01-01) and, for what records the past (signups,
  churn, usage, events, tickets, MRR months, signals), values after today (UTC) plus one
  day of time-zone tolerance. A single row dated 9999-12-31 would otherwise become the
  data's "today" for every account. Two columns hold plans, not history, and may lie
  ahead, up to 10 years: customers.contract_end_date (a contract runs into the future)
  and gtm_opportunities.close_date (an open deal's expected close). Leave a planned date
  empty when there is none rather than writing a placeholder such as 9999-12-31.
* Optional columns missing from the file: new rows get NULL; rows that already exist
  KEEP their current values (only the columns in the file are compared and updated).
  To clear a value, include the column and leave the cell empty. Rules that span
  columns (a churned customer needs a churn_date) are checked on the row as it will be
  after the load, so an existing value counts.
* Extra file columns that are not part of the table are ignored and named in the
  report. `mapping` is {warehouse column: file column}; file column names match
  case-insensitively.
* Child tables (everything but customers) need each customer_id to exist in the
  warehouse customers table already: load customers first.
* Raw event logs (table name "events": customer_id, timestamp, event_type[, user_id])
  are rolled up per (customer_id, UTC day, event_type) into usage_daily: events =
  number of log rows, active_users = distinct non-empty user_id (NULL when the log has
  no user_id column, or no user ids that day). Each rolled-up row REPLACES the
  usage_daily row with the same (customer_id, date, event_type): a log must therefore
  hold whole days; loading the same log again changes nothing, and a second log
  covering other hours of the same day would replace, not add to, the first's totals
  (combine such logs into one file first). Days and event types absent from the log
  are left alone.

SQL values are always bound or staged from a registered frame; identifiers (table and
column names) come only from TABLE_SPECS through `_ident`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.core import config
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse
from engine.core.values import null_tokens_to_na

TEXT, INT, FLOAT, DATE, TIMESTAMP = "text", "int", "float", "date", "timestamp"
_SQL_TYPES = {TEXT: "VARCHAR", INT: "INTEGER", FLOAT: "DOUBLE", DATE: "DATE", TIMESTAMP: "TIMESTAMP"}
_INT32 = (-(2**31), 2**31 - 1)

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
EVENT_LOG = "events"
MAX_LISTED = 1000  # problems kept on the error/report; the total is always counted
MAX_IN_MESSAGE = 20
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "';'", "\t": "tab", "|": "'|'"}


# -- specs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnSpec:
    """One warehouse column as a file may supply it."""

    name: str
    type: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    month: bool = False  # a month: YYYY-MM accepted, any day normalised to the 1st
    hint: str = ""  # extra advice appended to range problems
    planned: bool = False  # a date/timestamp that may lie in the future (a plan), up to FORWARD_YEARS ahead


@dataclass(frozen=True)
class RowCheck:
    """A rule over several columns of one row; `bad` marks the rows that break it."""

    column: str  # the column named in the problem
    uses: tuple[str, ...]
    rule: str
    bad: Callable[[pd.DataFrame], pd.Series]
    explain: Callable[[pd.Series], str]


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    child: bool = True  # customer_id must exist in customers
    checks: tuple[RowCheck, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


def _date(value: Any) -> str:
    return "(empty)" if pd.isna(value) else str(pd.Timestamp(value).date())


def _stamp(value: Any) -> str:
    return "(empty)" if pd.isna(value) else str(pd.Timestamp(value))


_C = ColumnSpec
TABLE_SPECS: dict[str, TableSpec] = {
    "customers": TableSpec(
        "customers",
        (
            _C("customer_id", TEXT, True),
            _C("name", TEXT, True),
            _C("plan_tier", TEXT, True, ("starter", "growth", "enterprise")),
            _C("industry", TEXT),
            _C("region", TEXT),
            _C("seats", INT, min_value=0),
            _C("signup_date", DATE, True),
            _C("contract_end_date", DATE, planned=True),
            _C("billing_cycle", TEXT, allowed=("monthly", "annual")),
            _C("csm_owner", TEXT),
            _C("gtm_stage", TEXT),
            _C("status", TEXT, True, ("active", "churned")),
            _C("churn_date", DATE),
        ),
        key=("customer_id",),
        child=False,
        checks=(
            RowCheck(
                "churn_date",
                ("signup_date", "churn_date"),
                "churn_date >= signup_date",
                lambda f: f["churn_date"] < f["signup_date"],
                lambda r: (
                    f"churn_date {_date(r['churn_date'])} is before signup_date {_date(r['signup_date'])}; "
                    "a customer cannot churn before signing up: fix one of the two dates"
                ),
            ),
            RowCheck(
                "churn_date",
                ("status", "churn_date"),
                "status = 'churned' requires churn_date",
                lambda f: f["status"].eq("churned") & f["churn_date"].isna(),
                lambda r: (
                    "status is 'churned' but churn_date is empty: add the date the customer churned "
                    "(YYYY-MM-DD), or set status to 'active'"
                ),
            ),
        ),
    ),
    "mrr_history": TableSpec(
        "mrr_history",
        (
            _C("customer_id", TEXT, True),
            _C("month", DATE, True, month=True),
            _C("mrr", FLOAT, True, min_value=0, hint="record decreases with change_type 'contraction' or 'churn'"),
            _C("change_type", TEXT, True, ("new", "expansion", "contraction", "churn", "flat")),
        ),
        key=("customer_id", "month"),
    ),
    "usage_daily": TableSpec(
        "usage_daily",
        (
            _C("customer_id", TEXT, True),
            _C("date", DATE, True),
            _C("event_type", TEXT, True),
            _C("events", INT, True, min_value=0),
            _C("active_users", INT, min_value=0),
        ),
        key=("customer_id", "date", "event_type"),
    ),
    "support_tickets": TableSpec(
        "support_tickets",
        (
            _C("ticket_id", TEXT, True),
            _C("customer_id", TEXT, True),
            _C("opened_at", TIMESTAMP, True),
            _C("closed_at", TIMESTAMP),
            _C("priority", TEXT, True, ("low", "medium", "high", "urgent")),
            _C("topic", TEXT),
            _C("status", TEXT, True, ("open", "closed", "pending")),
            _C("csat", FLOAT, min_value=1, max_value=5, hint="CSAT is a 1-5 rating"),
            _C("subject", TEXT),
        ),
        key=("ticket_id",),
        checks=(
            RowCheck(
                "closed_at",
                ("opened_at", "closed_at"),
                "closed_at >= opened_at",
                lambda f: f["closed_at"] < f["opened_at"],
                lambda r: (
                    f"closed_at {_stamp(r['closed_at'])} is before opened_at {_stamp(r['opened_at'])}; "
                    "a ticket cannot close before it opens: fix one of the two"
                ),
            ),
        ),
    ),
    "gtm_opportunities": TableSpec(
        "gtm_opportunities",
        (
            _C("opportunity_id", TEXT, True),
            _C("customer_id", TEXT, True),
            _C("stage", TEXT, True),
            _C("opportunity_type", TEXT, True, ("renewal", "expansion", "new")),
            _C("amount", FLOAT, min_value=0),
            _C("created_date", DATE),
            _C("close_date", DATE, planned=True),
            _C("owner", TEXT),
        ),
        key=("opportunity_id",),
    ),
    "risk_signals": TableSpec(
        "risk_signals",
        (
            _C("customer_id", TEXT, True),
            _C("as_of", DATE, True),
            _C("compliance_gap_score", FLOAT, min_value=0, max_value=1, hint="the score is a fraction from 0 to 1"),
            _C("vendor_risk_flags", INT, min_value=0),
        ),
        key=("customer_id", "as_of"),
    ),
    "ground_truth": TableSpec(
        "ground_truth",
        (
            _C("customer_id", TEXT, True),
            _C("as_of", DATE, True),
            _C("true_churn_prob_90d", FLOAT, True, min_value=0, max_value=1, hint="it is a probability"),
        ),
        key=("customer_id", "as_of"),
    ),
}

EVENT_LOG_SPEC = TableSpec(
    EVENT_LOG,
    (
        _C("customer_id", TEXT, True),
        _C("timestamp", TIMESTAMP, True),
        _C("event_type", TEXT, True),
        _C("user_id", TEXT),
    ),
    key=(),  # a log may repeat identical events; each one counts
)

_ROW = "__row"
_ACTION = "__action"
_ALLOWED_IDENTIFIERS = frozenset(
    {_ROW, _ACTION}
    | set(TABLE_SPECS)
    | {c.name for spec in (*TABLE_SPECS.values(), EVENT_LOG_SPEC) for c in spec.columns}
)
_INTERNAL = re.compile(r"_ingest_[a-z]+_[0-9a-f]{12}")


def _ident(name: str) -> str:
    """A quoted identifier: only names from TABLE_SPECS or this module's own temp names."""
    if name not in _ALLOWED_IDENTIFIERS and not _INTERNAL.fullmatch(name):
        raise ValueError(f"identifier {name!r} is not in the ingest allow-list")
    return '"' + name + '"'


def _render(template: str, **identifiers: str) -> str:
    """Fill a SQL template with identifier fragments already built by `_ident`.

    Values never pass through here: they are bound with `?` or staged from a frame.
    """
    return template.format(**identifiers)


def _temp_name(kind: str) -> str:
    return f"_ingest_{kind}_{uuid.uuid4().hex[:12]}"


# -- report and error ------------------------------------------------------------------------
@dataclass(frozen=True)
class IngestReport:
    """What a load did (or, on an `IngestError`, would have done)."""

    table: str
    rows_in_file: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)
    source: str = ""
    ignored_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0
    checked_only: bool = False  # validate_file: the counts are what a load would do; nothing was written

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        source = self.source or "the data"
        if self.problem_count or self.problems:
            count = self.problem_count or len(self.problems)
            text = (
                f"Refused {source} for {self.table}: {count:,} problem{'s' if count != 1 else ''} "
                f"in {self.rejected:,} of {self.rows_in_file:,} rows; nothing was written."
            )
            if self.problems:
                text += f" First: {self.problems[0]}"
            return text
        text = (
            f"Loaded {source} into {self.table}: {self.rows_in_file:,} row{'s' if self.rows_in_file != 1 else ''} "
            f"read; {self.inserted:,} inserted, "
            f"{self.updated:,} updated, {self.unchanged:,} unchanged, {self.rejected:,} rejected."
        )
        if self.checked_only:
            text = (
                f"Checked {source} for {self.table}: all {self.rows_in_file:,} rows pass; loading it would insert "
                f"{self.inserted:,}, update {self.updated:,} and leave {self.unchanged:,} unchanged. "
                "Nothing was written yet."
            )
        if self.ignored_columns:
            text += f" Ignored columns (not part of {self.table}): {', '.join(self.ignored_columns)}."
        for note in self.notes:
            text += f" {note[0].upper()}{note[1:]}."
        return text


class IngestError(BadInputError):
    """A load refused as a whole; nothing was written.

    `.problems` lists what to fix (up to MAX_LISTED), `.problem_count` is the total and
    `.report` the report of the refused load.
    """

    def __init__(
        self,
        problems: list[str],
        report: IngestReport | None = None,
        *,
        total: int | None = None,
        heading: str | None = None,
    ):
        self.problems = list(problems)
        self.problem_count = total if total is not None else len(self.problems)
        self.report = report
        super().__init__(self._message(heading))

    def _message(self, heading: str | None) -> str:
        count = self.problem_count
        if heading is None:
            report = self.report
            heading = f"Could not load {report.source or 'the data'}" if report else "Could not load the data"
            if report is not None and report.table:
                heading += f" into {report.table}"
        if count == 1 and not self.problems[0].startswith("row "):
            return f"{heading}: {self.problems[0]} Nothing was written."
        lines = [f"{heading}: {count:,} problem{'s' if count != 1 else ''}; nothing was written."]
        if any(p.startswith("row ") for p in self.problems[:MAX_IN_MESSAGE]):
            lines[0] += (
                " Row numbers count the header as row 1, so the first data row is row 2 (as a spreadsheet shows it)."
            )
        lines += [f"  - {p}" for p in self.problems[:MAX_IN_MESSAGE]]
        if count > MAX_IN_MESSAGE:
            lines.append(f"  ... and {count - MAX_IN_MESSAGE:,} more problems")
        return "\n".join(lines)


def _refuse(table: str, source: str, problem: str, rows: int = 0) -> IngestError:
    report = IngestReport(table, rows, rejected=rows, problems=[problem], source=source, problem_count=1)
    return IngestError([problem], report)


class _Problems:
    """Collects problems, counting all but keeping text for the first MAX_LISTED per kind."""

    def __init__(self, n_rows: int):
        self.items: list[tuple[int, int, str]] = []
        self.total = 0
        self.bad_rows = np.zeros(n_rows, dtype=bool)
        self.whole_file = False

    def file(self, text: str) -> None:
        self.items.append((0, len(self.items), text))
        self.total += 1
        self.whole_file = True

    def rows(self, positions: np.ndarray, order: int, describe: Callable[[int], str]) -> None:
        """Problems on rows at 0-based `positions` (sorted); `describe(pos)` says what is wrong."""
        if len(positions) == 0:
            return
        self.total += len(positions)
        self.bad_rows[positions] = True
        for pos in positions[:MAX_LISTED]:
            self.items.append((int(pos) + 2, order, f"row {int(pos) + 2}, {describe(int(pos))}"))

    def mask(self, mask: Any, order: int, describe: Callable[[int], str]) -> None:
        self.rows(np.flatnonzero(np.asarray(mask, dtype=bool)), order, describe)

    def listed(self) -> list[str]:
        return [text for _, _, text in sorted(self.items)[:MAX_LISTED]]

    @property
    def rejected(self) -> int:
        return len(self.bad_rows) if self.whole_file else int(self.bad_rows.sum())


# -- reading -----------------------------------------------------------------------------------
@dataclass
class _Read:
    frame: pd.DataFrame
    notes: list[str]
    thousands_ok: bool = True


def _spec_for(table: str, source: str) -> TableSpec:
    name = (table or "").strip().lower()
    if name == EVENT_LOG:
        return EVENT_LOG_SPEC
    if name in TABLE_SPECS:
        return TABLE_SPECS[name]
    valid = ", ".join([*TABLE_SPECS, EVENT_LOG])
    if name == "predictions":
        problem = (
            "predictions are written by the scorer (`.venv/bin/python -m engine score`), not loaded from files. "
            f"Tables you can load: {valid}."
        )
    else:
        problem = f"unknown table '{table}'. Tables you can load: {valid} ('{EVENT_LOG}' is a raw event log)."
    raise _refuse(table, source, problem)


def _check_path(path: Path) -> str:
    if not path.exists():
        raise _refuse("", path.name, f"file not found: {path}. Check the path (relative paths start at {Path.cwd()}).")
    if path.is_dir():
        raise _refuse("", path.name, f"{path} is a folder; give the path of a .csv or .parquet file.")
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        hint = " Excel workbooks: use Save As → 'CSV UTF-8 (Comma delimited)'." if suffix in (".xlsx", ".xls") else ""
        raise _refuse(
            "",
            path.name,
            f"'{path.name}' has the extension '{suffix or '(none)'}'; only CSV ({', '.join(CSV_SUFFIXES)}) "
            f"and Parquet ({', '.join(PARQUET_SUFFIXES)}) files can be loaded.{hint}",
        )
    if path.stat().st_size == 0:
        raise _refuse("", path.name, f"{path.name} is empty (0 bytes): there is nothing to load.")
    return suffix


def _read_file(path: Path, nrows: int | None = None) -> _Read:
    path = Path(path)
    suffix = _check_path(path)
    if suffix in PARQUET_SUFFIXES:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a bad file
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _refuse(
                "",
                path.name,
                f"{path.name} could not be read as Parquet ({first}). "
                "Check that it is a Parquet file, or save the data as CSV UTF-8.",
            ) from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return _Read(frame.head(nrows) if nrows is not None else frame, [])
    if nrows is not None:
        with path.open("rb") as handle:
            data = handle.read(4 << 20)
        if len(data) == 4 << 20 and b"\n" in data:
            data = data[: data.rindex(b"\n") + 1]
    else:
        data = path.read_bytes()
    return _read_csv_bytes(data, path.name, nrows)


def _read_csv_bytes(data: bytes, name: str, nrows: int | None = None) -> _Read:
    def refuse(problem: str) -> IngestError:
        return _refuse("", name, problem)

    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise refuse(f"{name} is UTF-16 text (Excel's 'Unicode Text'); save it as 'CSV UTF-8 (Comma delimited)'.")
    if data[:4] == b"PK\x03\x04":
        raise refuse(
            f"{name} is an Excel workbook or zip archive, not CSV text; in Excel use Save As → "
            "'CSV UTF-8 (Comma delimited)'."
        )
    if data[:4] == b"PAR1":
        raise refuse(f"{name} is a Parquet file; give it the extension .parquet.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        snippet = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace").strip()[:80]
        raise refuse(
            f"{name} is not UTF-8 text: line {line} has the byte 0x{data[exc.start]:02X}, which UTF-8 does not "
            f'allow (near "{snippet}"; the file was probably saved as Windows-1252/Latin-1). Save it as UTF-8 '
            "(Excel: Save As → 'CSV UTF-8 (Comma delimited)'; LibreOffice: character set 'Unicode (UTF-8)') "
            "and load it again."
        ) from None
    if "\x00" in text:
        raise refuse(f"{name} contains NUL bytes: it is a binary file, not CSV text.")
    if not text or text.isspace():
        raise refuse(f"{name} is empty (only blank lines): there is nothing to load.")
    first_line = text.lstrip("\r\n").split("\n", 1)[0].rstrip("\r")
    delimiter, header = ",", [first_line]
    for candidate in _DELIMITERS:
        fields = next(csv.reader([first_line], delimiter=candidate))
        if len(fields) > len(header):
            delimiter, header = candidate, fields
    header = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for i, col in enumerate(header, start=1):
        if col.lower() in seen and col:
            raise refuse(
                f"the header names column '{col}' twice (columns {seen[col.lower()]} and {i}); "
                "rename or remove one of them."
            )
        seen[col.lower()] = i
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            encoding="utf-8-sig",
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            nrows=nrows,
            engine="c",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise refuse(f"{name} has no header row: there is nothing to load.") from None
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = found.groups()
            sep = _DELIMITER_NAMES[delimiter]
            raise refuse(
                f"row {line} has {saw} values but the header has {expected} columns ({sep}-separated). A value "
                f"probably contains an unquoted {sep}: put such values in double quotes, or fix the row."
            ) from None
        raise refuse(f"{name} could not be read as CSV: {str(exc).strip().splitlines()[0]}") from None
    frame.columns = header if len(header) == frame.shape[1] else [str(c).strip() for c in frame.columns]
    notes = [] if delimiter == "," else [f"read as {_DELIMITER_NAMES[delimiter]}-separated"]
    return _Read(frame, notes, thousands_ok=delimiter == ",")


@contextlib.contextmanager
def private_upload(name: str, data: bytes) -> Iterator[Path]:
    """A private copy of uploaded bytes for the path-based readers, deleted on exit.

    Uploads hold customer data, so the copy lives in a fresh folder only this user can
    open (mode 0700, from `tempfile.mkdtemp`) as a file only this user can read (0600),
    under the upload's own name (messages name the file the person knows). The folder is
    removed when the block ends, however it ends (an error, `st.stop`, `st.rerun`).
    """
    base = Path(str(name).replace("\\", "/")).name.strip()
    if base in ("", ".", ".."):
        base = "upload"
    folder = Path(tempfile.mkdtemp(prefix="radar_upload_"))
    try:
        path = folder / base
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def preview_file(path: str | Path, n: int = 20) -> pd.DataFrame:
    """The first `n` rows of a CSV/Parquet file, read exactly as `load_file` reads it.

    No validation: CSV cells come back as text. Unreadable files raise `IngestError`.
    """
    return _read_file(Path(path), nrows=max(int(n), 0)).frame.head(n)


# -- column resolution ---------------------------------------------------------------------
def _resolve_columns(
    spec: TableSpec, file_columns: list[str], mapping: Mapping[str, str]
) -> tuple[dict[str, str], list[str], list[str]]:
    """Which file column feeds each warehouse column; returns (sources, ignored, problems)."""
    problems: list[str] = []
    exact = set(file_columns)
    lower = {}
    for col in file_columns:
        lower.setdefault(col.lower(), col)

    def find(name: str) -> str | None:
        return name if name in exact else lower.get(name.strip().lower())

    found_list = ", ".join(f"'{c}'" for c in file_columns) or "(none)"
    sources: dict[str, str] = {}
    for dst, src in mapping.items():
        if dst not in spec.names:
            problems.append(
                f"--map {dst}={src}: {spec.name} has no column '{dst}'; its columns are: {', '.join(spec.names)}."
            )
        elif find(src) is None:
            problems.append(f"--map {dst}={src}: the file has no column '{src}'. Columns found: {found_list}.")
        else:
            sources[dst] = find(src)  # type: ignore[assignment]
    missing = []
    for col in spec.columns:
        if col.name in mapping:
            continue
        source = find(col.name)
        if source is not None:
            sources[col.name] = source
        elif col.required:
            missing.append(col.name)
    if missing:
        plural = "s" if len(missing) > 1 else ""
        text = (
            f"missing required column{plural} {', '.join(missing)}. Columns found in the file: {found_list}. "
            f"If the file names a column differently, map it: --map {missing[0]}=FILE_COLUMN."
        )
        if len(file_columns) == 1:
            text += " Only one column was found: check that the values are separated by commas."
        problems.append(text)
    used = set(sources.values())
    ignored = [c for c in file_columns if c not in used and c]  # an empty trailing header cell is noise
    return sources, ignored, problems


# -- coercion -------------------------------------------------------------------------------
def _show(value: Any) -> str:
    text = str(value)
    return "'" + (text if len(text) <= 60 else text[:57] + "...") + "'"


def _as_text(series: pd.Series) -> pd.Series:
    """Any column as stripped text with NA for missing/empty cells."""
    if pd.api.types.is_float_dtype(series) and not pd.api.types.is_bool_dtype(series):
        finite = series.dropna()
        if len(finite) and bool((finite % 1 == 0).all()):
            series = series.astype("Int64")
    text = series.astype("str").str.strip()
    return text.mask(text == "")


def _nullify(text: pd.Series) -> pd.Series:
    return null_tokens_to_na(text)


_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
_DECIMAL_COMMA = r"[+-]?\d+,\d+"
_DATE_TEXT = r"\d{4}-\d{2}-\d{2}(?:[ T]00:00(?::00(?:\.0+)?)?)?"
_MONTH_TEXT = r"\d{4}-\d{2}"
_STAMP_TEXT = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
_SLASH_DATE = r"\d{1,4}[/.]\d{1,2}[/.]\d{1,4}(?:\s.*)?"


class _Coercer:
    """Turns one file column into typed values, reporting bad cells."""

    def __init__(self, problems: _Problems, thousands_ok: bool):
        self.problems = problems
        self.thousands_ok = thousands_ok
        self.notes: list[str] = []
        self.earliest = config.earliest_date()
        self.latest = config.latest_date()
        self.latest_planned = config.latest_planned_date()

    def __call__(self, col: ColumnSpec, series: pd.Series, order: int) -> tuple[pd.Series, np.ndarray]:
        series = series.reset_index(drop=True)
        method = {
            TEXT: self._text,
            INT: self._number,
            FLOAT: self._number,
            DATE: self._date,
            TIMESTAMP: self._timestamp,
        }[col.type]
        values, bad = method(col, series, order)
        bad = np.asarray(bad, dtype=bool)
        if col.required:
            empty = values.isna().to_numpy() & ~bad
            self.problems.mask(
                empty, order, lambda _p: f"column {col.name}: is empty, but every row needs a {col.name}."
            )
        return values, bad

    def _report(self, mask: Any, col: ColumnSpec, order: int, shown: pd.Series, why: Callable[[str], str]) -> None:
        self.problems.mask(mask, order, lambda p: f"column {col.name}: {_show(shown.iat[p])} {why(str(shown.iat[p]))}")

    def _text(self, col: ColumnSpec, series: pd.Series, order: int):
        values = _as_text(series)
        bad = np.zeros(len(values), dtype=bool)
        if col.allowed:
            lowered = values.str.lower()
            bad = (values.notna() & ~lowered.isin(col.allowed)).to_numpy(dtype=bool)
            self._report(
                bad,
                col,
                order,
                values,
                lambda _v: f"is not an allowed {col.name}; use one of: {', '.join(col.allowed)}.",
            )
            values = lowered.mask(bad)
        return values, bad

    def _number(self, col: ColumnSpec, series: pd.Series, order: int):
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = pd.Series(series.to_numpy(dtype="float64", na_value=np.nan))
            shown = values
            bad = ~np.isfinite(values.to_numpy()) & values.notna().to_numpy()
            self._report(bad, col, order, shown, lambda _v: "is not a finite number.")
        else:
            shown = _nullify(_as_text(series))
            cleaned = shown
            if self.thousands_ok:
                grouped = shown.str.fullmatch(_THOUSANDS).fillna(False).astype(bool)
                if grouped.any():
                    cleaned = shown.where(~grouped, shown.str.replace(",", "", regex=False))
            values = pd.to_numeric(cleaned, errors="coerce").astype("float64")
            finite = np.isfinite(values.to_numpy())
            bad = shown.notna().to_numpy() & ~finite

            def why(text: str) -> str:
                if re.fullmatch(_DECIMAL_COMMA, text) or re.fullmatch(_THOUSANDS, text):
                    return "is not a number here: use a dot for decimals and no thousands separators, e.g. 1234.5."
                return "is not a number; write plain numbers such as 42 or 1234.5."

            self._report(bad, col, order, shown, why)
        values = values.mask(bad)
        if col.type == INT:
            fraction = (values.notna() & (values % 1 != 0)).to_numpy()
            self._report(fraction, col, order, shown, lambda _v: f"is not a whole number; {col.name} counts things.")
            lo, hi = _INT32
            huge = (values.notna() & ((values < lo) | (values > hi))).to_numpy() & ~fraction
            self._report(huge, col, order, shown, lambda _v: "is too large for this column.")
            bad = bad | fraction | huge
            values = values.mask(fraction | huge)
        hint = f" ({col.hint})" if col.hint else ""
        if col.min_value is not None:
            low = (values < col.min_value).to_numpy(dtype=bool)
            self._report(
                low,
                col,
                order,
                shown,
                lambda _v: f"is below {col.min_value:g}; {col.name} cannot be less than {col.min_value:g}{hint}.",
            )
            bad = bad | low
        if col.max_value is not None:
            high = (values > col.max_value).to_numpy(dtype=bool)
            self._report(
                high,
                col,
                order,
                shown,
                lambda _v: (
                    f"is above {col.max_value:g}; {col.name} must be between "
                    f"{col.min_value:g} and {col.max_value:g}{hint}."
                ),
            )
            bad = bad | high
        values = values.mask(bad)
        if col.type == INT:
            values = values.astype("Int64")
        return values, bad

    def _datetimes(self, series: pd.Series) -> tuple[pd.Series | None, pd.Series]:
        """(values, text) for an already-typed datetime column, else (None, text)."""
        if pd.api.types.is_datetime64_any_dtype(series):
            values = series
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            values = values.astype("datetime64[us]")
            return values, values.astype("str")
        return None, _nullify(_as_text(series))

    def _date(self, col: ColumnSpec, series: pd.Series, order: int):
        values, text = self._datetimes(series)
        if values is not None:
            timed = (values.notna() & (values != values.dt.normalize())).to_numpy()
            bad = timed
            self._report(
                timed,
                col,
                order,
                text,
                lambda _v: f"has a time of day, but {col.name} holds dates: give the date only (YYYY-MM-DD).",
            )
            values = values.mask(timed)
        else:
            if col.month:
                short = text.str.fullmatch(_MONTH_TEXT).fillna(False).astype(bool)
                if short.any():
                    text = text.where(~short, text + "-01")
            shape = text.str.fullmatch(_DATE_TEXT).fillna(False).astype(bool)
            values = pd.to_datetime(text.str.slice(0, 10).where(shape), format="%Y-%m-%d", errors="coerce")
            values = values.astype("datetime64[us]")
            bad = (text.notna() & values.isna()).to_numpy()

            def why(value: str) -> str:
                if re.fullmatch(_DATE_TEXT, value):
                    return "is not a real calendar date; check the month and day."
                if re.fullmatch(_STAMP_TEXT, value):
                    return f"has a time of day, but {col.name} holds dates: give the date only (YYYY-MM-DD)."
                example = "2024-03-01 or 2024-03" if col.month else "2024-03-15"
                if re.fullmatch(_SLASH_DATE, value):
                    return (
                        f"is not in the YYYY-MM-DD format (day/month order is ambiguous); write it as e.g. {example}."
                    )
                return f"is not a date; write dates as YYYY-MM-DD, e.g. {example}."

            self._report(bad, col, order, text, why)
        values, bad = self._in_range(col, values, np.asarray(bad, dtype=bool), order, text)
        if col.month:
            off = values.notna() & (values.dt.day != 1)
            moved = int(off.sum())
            if moved:
                values = values.where(~off, values - pd.to_timedelta(values.dt.day - 1, unit="D"))
                self.notes.append(
                    f"moved {moved:,} {col.name} value{'s' if moved != 1 else ''} to the first day of their month"
                )
        return values, bad

    def _in_range(self, col: ColumnSpec, values: pd.Series, bad: np.ndarray, order: int, text: pd.Series):
        """Refuse dates before the floor and after today (+ tolerance), or after the planning horizon."""
        latest = self.latest_planned if col.planned else self.latest
        floor = pd.Timestamp(self.earliest)
        ceiling = pd.Timestamp(latest) + pd.Timedelta(days=1)  # a timestamp on the latest day is still fine
        present = values.notna().to_numpy() & ~bad
        stamps = values.to_numpy()
        early = present & (stamps < floor.to_datetime64())
        late = present & (stamps >= ceiling.to_datetime64())
        if not (early.any() or late.any()):
            return values, bad
        early_text, late_text = _date_limits_text(col, self.earliest, latest)
        for mask, why in ((early, early_text), (late, late_text)):
            self._report(mask, col, order, text, lambda _v, why=why: why)
        out_of_range = early | late
        return values.mask(out_of_range), bad | out_of_range

    def _timestamp(self, col: ColumnSpec, series: pd.Series, order: int):
        values, text = self._datetimes(series)
        if values is not None:
            return self._in_range(col, values, np.zeros(len(values), dtype=bool), order, text)
        shape = text.str.fullmatch(_STAMP_TEXT).fillna(False).astype(bool)
        parsed = pd.to_datetime(text.where(shape), format="ISO8601", utc=True, errors="coerce")
        values = parsed.dt.tz_localize(None).astype("datetime64[us]")
        bad = (text.notna() & values.isna()).to_numpy()

        def why(value: str) -> str:
            if re.fullmatch(_STAMP_TEXT, value):
                return "is not a real date and time; check the month, day and hour."
            return "is not a date-time; write ISO 8601 such as 2024-03-15 14:30:00 (or 2024-03-15)."

        self._report(bad, col, order, text, why)
        return self._in_range(col, values, bad, order, text)


def _date_limits_text(col: ColumnSpec, earliest: Any, latest: Any) -> tuple[str, str]:
    """What to do about a date before the floor / after the ceiling of `col`."""
    early = (
        f"is before {earliest}, the earliest date accepted; fix the date (YYYY-MM-DD). If your history really "
        "starts earlier, set RADAR_EARLIEST_DATE (e.g. RADAR_EARLIEST_DATE=1980-01-01) and load again."
    )
    if col.planned:
        late = (
            f"is after {latest}, more than {config.FORWARD_YEARS} years ahead, which looks like a placeholder; "
            f"fix the date, or leave {col.name} empty when there is none."
        )
    else:
        late = (
            f"is in the future (after {latest}: today plus {config.FUTURE_TOLERANCE_DAYS} day for time zones), "
            "but this column records what already happened; fix the date (YYYY-MM-DD) or remove the row, and "
            "check the source system's clock and date format."
        )
    return early, late


def _empty_typed(col: ColumnSpec, n: int) -> pd.Series:
    dtype = {TEXT: "str", INT: "Int64", FLOAT: "float64", DATE: "datetime64[us]", TIMESTAMP: "datetime64[us]"}
    return pd.Series([None] * n, dtype=dtype[col.type])


# -- loading --------------------------------------------------------------------------------
def load_file(wh: Warehouse, table: str, path: str | Path, mapping: Mapping[str, str] | None = None) -> IngestReport:
    """Validate a CSV (.csv/.txt/.tsv, UTF-8) or Parquet (.parquet/.pq) file and load it, all or nothing.

    `table` is one of TABLE_SPECS or "events" (a raw event log rolled up into
    usage_daily; see the module docstring: a log's (customer, day, event type) totals
    replace those in usage_daily). `mapping` is {warehouse column: file column}.
    Raises `IngestError` (nothing written) when anything is wrong.
    """
    return _load_path(wh, table, path, mapping, dry_run=False)


def validate_file(
    wh: Warehouse, table: str, path: str | Path, mapping: Mapping[str, str] | None = None
) -> IngestReport:
    """Every check `load_file` makes, and the counts it would report, without writing.

    The load runs inside its transaction and is rolled back, so the report (inserted,
    updated, unchanged) is what committing the same file now would do. Raises
    `IngestError` with the same problems `load_file` would.
    """
    return _load_path(wh, table, path, mapping, dry_run=True)


def _load_path(
    wh: Warehouse, table: str, path: str | Path, mapping: Mapping[str, str] | None, dry_run: bool
) -> IngestReport:
    path = Path(path)
    spec = _spec_for(table, path.name)
    t0 = time.perf_counter()
    try:
        read = _read_file(path)
    except IngestError as exc:
        raise _refuse(spec.name, path.name, exc.problems[0]) from None
    return _load(wh, table, read, mapping, path.name, t0, dry_run=dry_run)


def expected_columns(table: str) -> tuple[ColumnSpec, ...]:
    """The columns a file for `table` (or "events") may supply; `required` marks the must-haves."""
    return _spec_for(table, table).columns


class _RolledBack(Exception):
    """Raised at the end of a dry run's transaction so it rolls back."""


def load_frame(
    wh: Warehouse,
    table: str,
    frame: pd.DataFrame,
    mapping: Mapping[str, str] | None = None,
    *,
    source: str = "the uploaded data",
) -> IngestReport:
    """`load_file` for a DataFrame (typed columns or text); `source` names it in messages."""
    _spec_for(table, source)
    if not isinstance(frame, pd.DataFrame):
        raise _refuse(table, source, f"expected a table of rows (a DataFrame), got {type(frame).__name__}.")
    t0 = time.perf_counter()
    frame = frame.copy(deep=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    seen: set[str] = set()
    for col in frame.columns:
        if col.lower() in seen and col:
            raise _refuse(table, source, f"the data names column '{col}' twice; rename or remove one of them.")
        seen.add(col.lower())
    return _load(wh, table, _Read(frame, []), mapping, source, t0)


def _load(
    wh: Warehouse,
    table: str,
    read: _Read,
    mapping: Mapping[str, str] | None,
    source: str,
    t0: float,
    dry_run: bool = False,
) -> IngestReport:
    spec = _spec_for(table, source)
    target = TABLE_SPECS["usage_daily"] if spec is EVENT_LOG_SPEC else spec
    raw = read.frame.reset_index(drop=True)
    n = len(raw)
    file_columns = [str(c) for c in raw.columns]
    sources, ignored, structural = _resolve_columns(spec, file_columns, dict(mapping or {}))

    def failed(problems: list[str], total: int, rejected: int, notes: list[str]) -> IngestError:
        report = IngestReport(
            target.name,
            n,
            rejected=rejected,
            problems=problems,
            source=source,
            ignored_columns=ignored,
            notes=notes,
            problem_count=total,
            seconds=round(time.perf_counter() - t0, 3),
        )
        return IngestError(problems, report, total=total)

    if n == 0:
        raise failed([f"{source} has column names but no data rows: there is nothing to load."], 1, 0, read.notes)
    if structural:
        raise failed(structural, len(structural), n, read.notes)

    problems = _Problems(n)
    coerce = _Coercer(problems, read.thousands_ok)
    typed: dict[str, pd.Series] = {}
    cell_bad: dict[str, np.ndarray] = {}
    order = {name: i for i, name in enumerate(spec.names)}
    for col in spec.columns:
        if col.name in sources:
            typed[col.name], cell_bad[col.name] = coerce(col, raw[sources[col.name]], order[col.name])
    notes = read.notes + coerce.notes
    frame = pd.DataFrame(typed)
    frame.insert(0, _ROW, np.arange(2, n + 2, dtype=np.int64))

    if spec.key:
        _check_duplicates(spec, frame, cell_bad, problems, order)

    present = [c for c in spec.names if c in sources]
    absent = [c for c in spec.names if c not in sources]
    view, stage, plan = _temp_name("view"), _temp_name("stage"), _temp_name("plan")
    # A dry run raises _RolledBack after the merge: the transaction undoes it, the counts stand.
    with contextlib.suppress(_RolledBack), wh.transaction() as cur:
        cur.register(view, frame)
        try:
            casts = ", ".join(
                [_ident(_ROW)]
                + [f"CAST({_ident(c)} AS {_SQL_TYPES[spec.column(c).type]}) AS {_ident(c)}" for c in present]
            )
            statement = _render(
                "CREATE TEMP TABLE {stage} AS SELECT {casts} FROM {view}",
                stage=_ident(stage),
                casts=casts,
                view=_ident(view),
            )
            cur.execute(statement)
        finally:
            cur.unregister(view)
        if spec.child:
            _check_customers(cur, stage, problems)
        if spec.checks:
            _check_rows(cur, spec, stage, frame, absent, cell_bad, problems, order)
        if problems.total:
            raise failed(problems.listed(), problems.total, problems.rejected, notes)
        temp_tables = [stage, plan]
        if spec is EVENT_LOG_SPEC:
            rolled = _temp_name("rollup")
            temp_tables.append(rolled)
            _roll_up(cur, stage, rolled, has_users="user_id" in present)
            days = cur.execute(_render("SELECT count(*) FROM {t}", t=_ident(rolled))).fetchall()[0][0]
            notes.append(
                f"rolled up {n:,} events into {days:,} usage_daily rows (one per customer, day and event type)"
            )
            stage, present = rolled, list(target.names)
        counts = _merge(cur, target, stage, plan, present)
        for name in temp_tables:
            cur.execute(_render("DROP TABLE IF EXISTS {t}", t=_ident(name)))
        if dry_run:
            raise _RolledBack
    return IngestReport(
        target.name,
        n,
        inserted=counts.get("insert", 0),
        updated=counts.get("update", 0),
        unchanged=counts.get("same", 0),
        rejected=0,
        problems=[],
        source=source,
        ignored_columns=ignored,
        notes=notes,
        problem_count=0,
        seconds=round(time.perf_counter() - t0, 3),
        checked_only=dry_run,
    )


def _check_duplicates(
    spec: TableSpec, frame: pd.DataFrame, cell_bad: dict[str, np.ndarray], problems: _Problems, order: dict[str, int]
) -> None:
    usable = np.ones(len(frame), dtype=bool)
    for key in spec.key:
        usable &= ~cell_bad[key] & frame[key].notna().to_numpy()
    keyed = frame.loc[usable, [*spec.key, _ROW]]
    dup = keyed.duplicated(list(spec.key), keep="first")
    if not dup.any():
        return
    first_row = keyed.groupby(list(spec.key), sort=False)[_ROW].transform("min")
    later = keyed[dup.to_numpy()]
    firsts = first_row[dup.to_numpy()].to_numpy()
    positions = later[_ROW].to_numpy() - 2
    lookup = dict(zip(positions.tolist(), firsts.tolist(), strict=True))
    column = spec.key[-1]

    def describe(pos: int) -> str:
        values = ", ".join(f"{k}={_show(_plain(frame[k].iat[pos]))}" for k in spec.key)
        return (
            f"column {column}: duplicate key ({values}) also on row {lookup[pos]}; keep one row per "
            f"{' + '.join(spec.key)}."
        )

    problems.rows(np.sort(positions), order[column], describe)


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.date() if value == value.normalize() else value
    return value


def _check_customers(cur: Any, stage: str, problems: _Problems) -> None:
    statement = _render(
        "SELECT s.{row}, s.{cid} FROM {stage} s WHERE s.{cid} IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM {customers} c WHERE c.{cid} = s.{cid}) ORDER BY s.{row}",
        row=_ident(_ROW),
        cid=_ident("customer_id"),
        stage=_ident(stage),
        customers=_ident("customers"),
    )
    missing = cur.execute(statement).df()
    if missing.empty:
        return
    ids = dict(zip((missing[_ROW] - 2).tolist(), missing["customer_id"].tolist(), strict=True))
    problems.rows(
        (missing[_ROW].to_numpy() - 2),
        0,
        lambda pos: (
            f"column customer_id: {_show(ids[pos])} is not a customer in the warehouse; load it into "
            "customers first (.venv/bin/python -m engine ingest customers FILE) or fix the id."
        ),
    )


def _check_rows(
    cur: Any,
    spec: TableSpec,
    stage: str,
    frame: pd.DataFrame,
    absent: list[str],
    cell_bad: dict[str, np.ndarray],
    problems: _Problems,
    order: dict[str, int],
) -> None:
    """Cross-column rules on each row as it will be after the load (existing values for absent columns)."""
    n = len(frame)
    effective = frame.copy()
    needed = sorted({c for check in spec.checks for c in check.uses if c in absent})
    for name in needed:
        effective[name] = _empty_typed(spec.column(name), n)
    if needed:
        matches = " AND ".join(f"t.{_ident(k)} = s.{_ident(k)}" for k in spec.key)
        statement = _render(
            "SELECT s.{row}, {cols} FROM {stage} s JOIN {target} t ON {matches}",
            row=_ident(_ROW),
            cols=", ".join(f"t.{_ident(c)}" for c in needed),
            stage=_ident(stage),
            target=_ident(spec.name),
            matches=matches,
        )
        existing = cur.execute(statement).df()
        if not existing.empty:
            positions = existing[_ROW].to_numpy() - 2
            for name in needed:
                column = effective[name].copy()
                column.iloc[positions] = existing[name].to_numpy()
                effective[name] = column
    for check in spec.checks:
        usable = np.ones(n, dtype=bool)
        for name in check.uses:
            if name in cell_bad:
                usable &= ~cell_bad[name]
        bad = np.asarray(check.bad(effective).fillna(False), dtype=bool) & usable
        from_db = [c for c in check.uses if c in absent]
        suffix = (
            f" (the file has no {', '.join(from_db)} column, so the warehouse value, if any, was used)"
            if from_db
            else ""
        )
        problems.mask(
            bad,
            order[check.column],
            lambda pos, check=check, suffix=suffix: (
                f"column {check.column}: {check.explain(effective.iloc[pos])}{suffix}."
            ),
        )


def _roll_up(cur: Any, stage: str, rolled: str, has_users: bool) -> None:
    """Events per (customer, UTC day, event type); distinct non-empty user ids, NULL without any."""
    users = _render("nullif(count(DISTINCT {user}), 0)", user=_ident("user_id")) if has_users else "NULL"
    statement = _render(
        "CREATE TEMP TABLE {rolled} AS SELECT {cid}, CAST({ts} AS DATE) AS {date}, {etype}, "
        "CAST(count(*) AS INTEGER) AS {events}, CAST({users} AS INTEGER) AS {active}, min({row}) AS {row} "
        "FROM {stage} GROUP BY {cid}, CAST({ts} AS DATE), {etype}",
        rolled=_ident(rolled),
        cid=_ident("customer_id"),
        ts=_ident("timestamp"),
        date=_ident("date"),
        etype=_ident("event_type"),
        events=_ident("events"),
        users=users,
        active=_ident("active_users"),
        row=_ident(_ROW),
        stage=_ident(stage),
    )
    cur.execute(statement)


def _merge(cur: Any, spec: TableSpec, stage: str, plan: str, present: list[str]) -> dict[str, int]:
    """Classify staged rows by natural key (insert / update / same), then write them."""
    matches = " AND ".join(f"t.{_ident(k)} = s.{_ident(k)}" for k in spec.key)
    values = [c for c in present if c not in spec.key]
    same = " AND ".join([matches] + [f"t.{_ident(c)} IS NOT DISTINCT FROM s.{_ident(c)}" for c in values])
    statement = _render(
        "CREATE TEMP TABLE {plan} AS SELECT s.*, CASE "
        "WHEN NOT EXISTS (SELECT 1 FROM {target} t WHERE {matches}) THEN 'insert' "
        "WHEN EXISTS (SELECT 1 FROM {target} t WHERE {same}) THEN 'same' "
        "ELSE 'update' END AS {action} FROM {stage} s",
        plan=_ident(plan),
        target=_ident(spec.name),
        matches=matches,
        same=same,
        action=_ident(_ACTION),
        stage=_ident(stage),
    )
    cur.execute(statement)
    statement = _render(
        "SELECT {action}, count(*) FROM {plan} GROUP BY {action}", action=_ident(_ACTION), plan=_ident(plan)
    )
    counts = {action: int(count) for action, count in cur.execute(statement).fetchall()}
    if counts.get("update") and values:
        statement = _render(
            "UPDATE {target} AS t SET {assignments} FROM {plan} AS s WHERE s.{action} = 'update' AND {matches}",
            target=_ident(spec.name),
            assignments=", ".join(f"{_ident(c)} = s.{_ident(c)}" for c in values),
            plan=_ident(plan),
            action=_ident(_ACTION),
            matches=matches,
        )
        cur.execute(statement)
    if counts.get("insert"):
        columns = ", ".join(_ident(c) for c in present)
        statement = _render(
            "INSERT INTO {target} ({columns}) SELECT {columns} FROM {plan} WHERE {action} = 'insert'",
            target=_ident(spec.name),
            columns=columns,
            plan=_ident(plan),
            action=_ident(_ACTION),
        )
        cur.execute(statement)
    return counts
