"""Raw event logs rolled up into usage_daily by DuckDB, straight from the file(s).

A log is one row per event: `customer_id`, `timestamp`, `event_type` (any set of types),
optionally `user_id` and a numeric `value`. It is rolled up per (customer_id, UTC day,
event_type) into usage_daily: events = number of log rows, value = sum of the events'
values (NULL when the log has none that day), active_users = distinct non-empty user ids
(NULL without any). Identical events all count.

* Files: one CSV (UTF-8, `,` `;` tab or `|` separated, sniffed from the header like every
  other file) or Parquet file, or a glob of them (`logs/2024-*.parquet`), all CSV or all
  Parquet. DuckDB reads and aggregates them with explicit column types, not through
  pandas, with a memory limit (RADAR_INGEST_MEMORY, default 2GB) and a spill folder in
  the data dir (`ingest_spill/`), so a 100M-event log loads with bounded memory.
* Timestamps: ISO 8601 text or dates, or typed Parquet timestamps/dates; with
  `--epoch s|ms` numbers of seconds / milliseconds since 1970-01-01 UTC. A UTC offset
  (`2024-03-02T01:30:00+02:00`, `...Z`) is converted to UTC before the day is taken;
  times without an offset are taken as UTC. The day of an event is its UTC day.
* Every row is checked; problems are counted and the first ones listed with the file
  row (header = row 1; with a glob, the file is named too): empty customer ids, event
  types or timestamps, timestamps that are not times, dates outside reality (before
  RADAR_EARLIEST_DATE, after today + 1 day), values that are not numbers or negative.
  Customer ids that are not in customers give one problem ("load customers first").
* Nothing is written unless every row is valid: one transaction.
* `mode` says what the file holds, because a log need not hold whole days:
  - `new-days` (default): only days the warehouse has no totals for. A (customer, day,
    event type) that already has a usage_daily row refuses the load, naming how many,
    so a partial-day log never silently replaces or duplicates a total.
  - `append`: additional events; their counts and values are ADDED to existing totals
    (active_users becomes the larger of the two: distinct users cannot be added).
  - `replace-days`: whole days; the file's totals REPLACE those rows (other event types
    on those days are kept, since an export may carry only some types). Loading the
    same log again in this mode changes nothing.
"""

from __future__ import annotations

import contextlib
import csv
import glob as globbing
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from engine.core import config
from engine.core.values import NULL_TOKENS
from engine.data.ingest.coerce import date_limits_text
from engine.data.ingest.read import (
    DELIMITERS,
    PARQUET_SUFFIXES,
    check_path,
    private_upload,
    read_file,
    resolve_columns,
)
from engine.data.ingest.references import unknown_customers, unknown_customers_problem
from engine.data.ingest.report import MAX_LISTED, IngestError, IngestReport, Problem, cell, file_problem, refuse
from engine.data.ingest.specs import EVENT_LOG_SPEC
from engine.data.warehouse import Warehouse

# SQL safety (the `noqa: S608` below): every fragment formatted into a statement is built in this
# module from fixed text, temp-table names of uuid hex and file columns' POSITIONS (c0, c1 ...);
# file names, column names, dates and every value are bound parameters or data read by DuckDB.
NEW_DAYS, APPEND, REPLACE_DAYS = "new-days", "append", "replace-days"
MODES = {
    NEW_DAYS: "only days not loaded yet; refuses when any of the file's days already have totals (safe default)",
    APPEND: "the file holds additional events: add its counts and values to the days' existing totals",
    REPLACE_DAYS: "the file holds whole days: its totals replace those days' totals",
}
EPOCH_UNITS = {"s": 1, "ms": 1000}
TARGET = "usage_daily"
DEFAULT_MEMORY = "2GB"
SPILL_FOLDER = "ingest_spill"
EXAMPLES = 100  # example rows fetched per kind of problem (all are counted)
_NULLS = sorted(NULL_TOKENS)
_STAMP_TYPES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE")
_NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|U\w*INT|FLOAT|DOUBLE|DECIMAL.*)$")
_UNIX_LIKE = re.compile(r"\d{9,13}(\.\d+)?")


@dataclass
class Part:
    """One read of the log: a DuckDB FROM clause whose columns are renamed c0, c1, ... in file order."""

    sql: str
    params: list[Any]
    columns: list[str]
    types: list[str]
    files: list[str]
    row_sql: str  # the expression giving a row its spreadsheet number, when it is cheap ("" otherwise)


@dataclass
class Log:
    source: str
    kind: str  # "csv" | "parquet"
    parts: list[Part]
    notes: list[str] = field(default_factory=list)
    many: bool = False
    epoch: str | None = None  # the unit numbers are read in (--epoch), None for date-times


# -- entry points --------------------------------------------------------------------------------------
def load_events(
    wh: Warehouse,
    files: str | Path | Sequence[str | Path],
    mapping: Mapping[str, str] | None = None,
    *,
    mode: str = NEW_DAYS,
    epoch: str | None = None,
    dry_run: bool = False,
    source: str | None = None,
) -> IngestReport:
    """Roll a raw event log (a CSV/Parquet file, a glob, or a list of files) up into usage_daily.

    `mapping` is {log column: file column}; `mode` one of MODES; `epoch` "s" / "ms" when
    timestamps are numbers. Raises `IngestError` (nothing written) when anything is wrong;
    with `dry_run` every check runs and the report says what a load would do.
    """
    t0 = time.perf_counter()
    paths = _expand(files)
    source = source or _source_name(files, paths)
    if mode not in MODES:
        raise refuse(TARGET, source, file_problem(f"unknown mode '{mode}'.", f"Use one of: {', '.join(MODES)}."))
    if epoch is not None and epoch not in EPOCH_UNITS:
        raise refuse(TARGET, source, file_problem(f"unknown --epoch '{epoch}'.", "Use --epoch s or --epoch ms."))
    log = _open_log(paths, source)
    with _bounded_memory(wh):
        return _load(wh, log, dict(mapping or {}), mode, epoch, dry_run, t0)


def load_events_frame(
    wh: Warehouse,
    frame: pd.DataFrame,
    mapping: Mapping[str, str] | None = None,
    *,
    mode: str = NEW_DAYS,
    epoch: str | None = None,
    source: str = "the uploaded data",
) -> IngestReport:
    """`load_events` for a DataFrame: written to a private Parquet file first, so one reader serves both."""
    if not isinstance(frame, pd.DataFrame):
        raise refuse(
            TARGET, source, file_problem(f"expected a table of rows (a DataFrame), got {type(frame).__name__}.")
        )
    with private_upload("events.parquet", b"") as path:
        frame.rename(columns=lambda c: str(c).strip()).to_parquet(path, index=False)
        return load_events(wh, path, mapping, mode=mode, epoch=epoch, source=source)


def validate_events(
    wh: Warehouse,
    files: str | Path | Sequence[str | Path],
    mapping: Mapping[str, str] | None = None,
    *,
    mode: str = NEW_DAYS,
    epoch: str | None = None,
) -> IngestReport:
    """Every check `load_events` makes and the counts it would report, writing nothing."""
    return load_events(wh, files, mapping, mode=mode, epoch=epoch, dry_run=True)


# -- finding and opening the files ----------------------------------------------------------------------
def _expand(files: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(files, (str, Path)):
        text = str(files)
        if globbing.has_magic(text):
            found = sorted(Path(p) for p in globbing.glob(os.path.expanduser(text)))
            if not found:
                raise refuse(
                    TARGET,
                    Path(text).name,
                    file_problem(
                        f"no file matches {text}.", f"Check the pattern (relative paths start at {Path.cwd()})."
                    ),
                )
            return found
        return [Path(text)]
    return [Path(p) for p in files]


def _source_name(files: str | Path | Sequence[str | Path], paths: list[Path]) -> str:
    if isinstance(files, (str, Path)) and not globbing.has_magic(str(files)):
        return Path(files).name
    if len(paths) == 1:
        return paths[0].name
    return f"{len(paths)} files ({paths[0].name} … {paths[-1].name})"


def _open_log(paths: list[Path], source: str) -> Log:
    suffixes = {check_path(p) for p in paths}
    kinds = {"parquet" if s in PARQUET_SUFFIXES else "csv" for s in suffixes}
    if len(kinds) > 1:
        raise refuse(
            TARGET,
            source,
            file_problem("the files mix CSV and Parquet.", "Load the CSV and the Parquet files separately."),
        )
    many = len(paths) > 1
    if kinds == {"parquet"}:
        return Log(source, "parquet", [_parquet_part(paths, source)], many=many)
    groups: dict[tuple[str, tuple[str, ...]], list[Path]] = {}
    notes: list[str] = []
    for path in paths:
        delimiter, header = _csv_header(path)
        groups.setdefault((delimiter, tuple(header)), []).append(path)
        if delimiter != ",":
            note = f"read as {'tab' if delimiter == chr(9) else repr(delimiter)}-separated"
            if note not in notes:
                notes.append(note)
    parts = [_csv_part(files, delimiter, list(header)) for (delimiter, header), files in groups.items()]
    return Log(source, "csv", parts, notes, many=many)


def _csv_header(path: Path) -> tuple[str, list[str]]:
    """(delimiter, header) of a CSV file, after read.py's checks of its first bytes (encoding, shape)."""
    try:
        read_file(path, nrows=5)  # refuses non-UTF-8 starts, Excel/UTF-16/Parquet bytes, duplicate headers
    except IngestError as exc:
        raise refuse(TARGET, path.name, exc.problems[0]) from None
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        first = ""
        for line in handle:
            if line.strip():
                first = line.rstrip("\r\n")
                break
    delimiter, header = ",", [first]
    for candidate in DELIMITERS:
        fields = next(csv.reader([first], delimiter=candidate))
        if len(fields) > len(header):
            delimiter, header = candidate, fields
    return delimiter, [h.strip() for h in header]


def _aliases(n: int) -> str:
    return ", ".join(_col(i) for i in range(n))


def _col(i: int) -> str:
    """The internal name of the file's i-th column (file names never reach the SQL text)."""
    return f'"c{int(i)}"'


def _csv_part(files: list[Path], delimiter: str, header: list[str]) -> Part:
    columns = {f"c{i}": "VARCHAR" for i in range(len(header))}
    sql = (
        "read_csv(?, header = true, auto_detect = false, columns = ?, delim = ?, quote = '\"', escape = '\"', "
        f"filename = true) AS src({_aliases(len(header))}, filename)"
    )
    return Part(
        sql,
        [[str(f) for f in files], columns, delimiter],
        header,
        ["VARCHAR"] * len(header),
        [str(f) for f in files],
        "",
    )


def _parquet_part(paths: list[Path], source: str) -> Part:
    files = [str(p) for p in paths]
    probe = "read_parquet(?, union_by_name = true)"
    try:
        with duckdb.connect() as con:
            described = con.execute("DESCRIBE SELECT * FROM " + probe, [files]).fetchall()  # noqa: S608 - a constant FROM
    except Exception as exc:  # duckdb raises several types for an unreadable file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise refuse(
            TARGET,
            source,
            file_problem(
                f"{source} could not be read as Parquet ({first}).",
                "Check that it is a Parquet file, or save it as CSV UTF-8.",
            ),
        ) from None
    names = [str(r[0]).strip() for r in described]
    types = [str(r[1]).upper() for r in described]
    sql = (
        "read_parquet(?, union_by_name = true, file_row_number = true, filename = true) "
        f"AS src({_aliases(len(names))}, file_row_number, filename)"
    )
    return Part(sql, [files], names, types, files, "file_row_number + 2")


# -- memory ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _bounded_memory(wh: Warehouse) -> Iterator[None]:
    """DuckDB keeps under RADAR_INGEST_MEMORY (default 2GB) during the load and spills to the data dir.

    The settings are the database's own (not a cursor's), so they are restored afterwards.
    """
    limit = _memory_limit()
    spill = wh.data_dir / SPILL_FOLDER
    spill.mkdir(mode=0o700, exist_ok=True)
    with wh.cursor() as cur:
        try:
            cur.execute("SET memory_limit = ?", [limit])
            # Row order of the roll-up does not matter; not keeping it lets DuckDB stream and spill.
            cur.execute("SET preserve_insertion_order = false")
        except Exception as exc:  # duckdb: a limit it cannot parse
            raise refuse(
                TARGET,
                "RADAR_INGEST_MEMORY",
                file_problem(
                    f"RADAR_INGEST_MEMORY is '{limit}', which is not a memory size.",
                    "Set it like 2GB or 512MB, or unset it.",
                ),
            ) from exc
        with contextlib.suppress(Exception):  # DuckDB refuses a new folder once it has spilled: keep its own
            cur.execute("SET temp_directory = ?", [str(spill)])
    try:
        yield
    finally:
        with wh.cursor() as cur:
            cur.execute("RESET memory_limit")
            cur.execute("RESET preserve_insertion_order")


# -- the load --------------------------------------------------------------------------------------------
class _RolledBack(Exception):
    """Raised at the end of a dry run's transaction so it rolls back."""


def _temp(kind: str) -> str:
    return f'"_events_{kind}_{uuid.uuid4().hex[:12]}"'


def _load(
    wh: Warehouse, log: Log, mapping: dict[str, str], mode: str, epoch: str | None, dry_run: bool, t0: float
) -> IngestReport:
    log.epoch = epoch
    sources = [_resolve(log, part, mapping) for part in log.parts]
    ignored = sorted({c for _, extra in sources for c in extra})
    selects = [_parsed_sql(part, src, epoch, log) for part, (src, _) in zip(log.parts, sources, strict=True)]
    rolled, plan = _temp("rolled"), _temp("plan")
    notes = list(log.notes)
    base = {"table": TARGET, "source": log.source, "ignored_columns": ignored}
    counts: dict[str, int] = {}
    rows = 0
    with contextlib.suppress(_RolledBack), wh.transaction() as cur:
        cur.execute("SET SESSION TimeZone = 'UTC'")  # times without an offset are UTC
        try:
            _roll_up(cur, log, selects, rolled)
        except duckdb.Error as exc:
            raise refuse(TARGET, log.source, _read_problem(exc, log)) from None
        totals = _totals(cur, rolled)
        rows = totals["rows"]
        problems = _row_problems(cur, log, selects, totals) if totals["bad_rows"] else []
        problem_count = sum(totals[k] for k in _CHECKS)
        unknown = _unknown_customers(cur, rolled)
        if unknown is not None:
            problems.insert(0, unknown)
            problem_count += 1
        if rows == 0:
            problems = [file_problem(f"{log.source} has column names but no data rows: there is nothing to load.")]
            problem_count = 1
        if problems:
            refused = IngestReport(rows_in_file=rows, notes=notes, **base)
            raise _refused(refused, problems, problem_count, totals["bad_rows"], t0)
        overlap = IngestReport(rows_in_file=rows, notes=notes, **base)
        counts = _merge(cur, rolled, plan, mode, overlap, t0)
        notes.append(
            f"rolled up {rows:,} events into {totals['groups']:,} usage_daily rows "
            "(one per customer, day and event type)"
        )
        notes.append(_mode_note(mode, counts))
        for name in (rolled, plan):
            cur.execute("DROP TABLE IF EXISTS " + name)  # a quoted name made by _temp
        if dry_run:
            raise _RolledBack
    return IngestReport(
        rows_in_file=rows,
        inserted=counts["insert"],
        updated=counts["update"],
        unchanged=counts["same"],
        notes=notes,
        seconds=round(time.perf_counter() - t0, 3),
        checked_only=dry_run,
        **base,
    )


def _read_problem(exc: Exception, log: Log) -> Problem:
    """DuckDB's complaint about a file as a problem a person can act on (the line and what is wrong)."""
    text = str(exc)
    if isinstance(exc, duckdb.OutOfMemoryException) or "out of memory" in text.lower():
        limit = _memory_limit()
        return file_problem(
            f"rolling up {log.source} needed more memory than the ingest limit ({limit}).",
            "Set RADAR_INGEST_MEMORY higher (e.g. RADAR_INGEST_MEMORY=4GB), or load the log in parts "
            "(a glob of smaller files or one file per period, with --mode new-days).",
        )
    line = re.search(r"CSV Error on Line: (\d+)", text)
    file = re.search(r"file = (.+)", text)
    name = f" of {Path(file.group(1).strip()).name}" if file and log.many else ""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    reason = next((x for x in lines[1:] if not x.startswith(("Original Line", "Possible"))), lines[0] if lines else "")
    if "unicode" in reason.lower() or "utf-8" in reason.lower():
        return file_problem(
            f"line {line.group(1) if line else '?'}{name} is not UTF-8 text.",
            "Save the file as UTF-8 (Excel: Save As → 'CSV UTF-8 (Comma delimited)') and load it again.",
        )
    if line:
        return file_problem(
            f"line {line.group(1)}{name} could not be read: {reason}",
            "A value probably contains an unquoted separator: put such values in double quotes, or fix the line.",
        )
    return file_problem(f"{log.source} could not be read: {reason}", "Check that the file is a CSV or Parquet file.")


def _refused(report: IngestReport, problems: list[Problem], count: int, rejected: int, t0: float) -> IngestError:
    failed = report.model_copy(
        update={
            "problems": problems[:MAX_LISTED],
            "problem_count": count,
            "rejected": rejected,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
    return IngestError(problems[:MAX_LISTED], failed, total=count)


def _resolve(log: Log, part: Part, mapping: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """{log column: position in the part's columns}, and the ignored file columns."""
    sources, ignored, problems = resolve_columns(EVENT_LOG_SPEC, part.columns, mapping)
    if problems:
        first = problems[0]
        where = f"{Path(part.files[0]).name}: " if log.many else ""
        raise refuse(TARGET, log.source, first.model_copy(update={"message": where + first.message}))
    return {name: part.columns.index(src) for name, src in sources.items()}, ignored


# -- reading and checking every row, in SQL ------------------------------------------------------------------
# Each check: (column, flag expression over the parsed row, what is wrong, what to do).
_CHECKS: dict[str, tuple[str, str, str, str]] = {
    "cid_empty": (
        "customer_id",
        "cid IS NULL",
        "is empty, but every row needs a customer_id",
        "fill it in, or remove the row",
    ),
    "type_empty": (
        "event_type",
        "etype IS NULL",
        "is empty, but every row needs an event_type",
        "fill it in, or remove the row",
    ),
    "ts_empty": (
        "timestamp",
        "NOT ts_given",
        "is empty, but every row needs a timestamp",
        "fill it in, or remove the row",
    ),
    "ts_bad": ("timestamp", "ts_given AND ts_raw IS NULL", "", ""),
    "ts_early": ("timestamp", "ts_raw < ?::TIMESTAMP", "", ""),
    "ts_late": ("timestamp", "ts_raw >= ?::TIMESTAMP", "", ""),
    "value_bad": (
        "value",
        "v_given AND v IS NULL",
        "is not a number",
        "write plain numbers such as 42 or 1234.5, or leave the cell empty",
    ),
    "value_negative": ("value", "v < 0", "is below 0", "value cannot be less than 0"),
}


def _text(expr: str, nulls: bool) -> str:
    """A cell as trimmed text, NULL when empty (or a NULL token such as 'NA', for number/time columns)."""
    trimmed = f"NULLIF(trim(CAST({expr} AS VARCHAR)), '')"
    if not nulls:
        return trimmed
    tokens = ", ".join("'" + t.replace("'", "''") + "'" for t in _NULLS)
    return f"CASE WHEN lower({trimmed}) IN ({tokens}) THEN NULL ELSE {trimmed} END"


def _parsed_sql(part: Part, src: dict[str, int], epoch: str | None, log: Log) -> str:
    """SELECT of the part's rows as cid, etype, uid, ts_text, ts_given, ts_raw, v_text, v_given, v and the
    row number. A typed column's cell is given when it is not NULL: its text (for a problem's
    example) is not made for every row of the log."""

    def column(name: str) -> tuple[str, str]:
        i = src[name]
        return _col(i), part.types[i]

    cid, _ = column("customer_id")
    etype, _ = column("event_type")
    uid = _text(column("user_id")[0], nulls=False) if "user_id" in src else "NULL::VARCHAR"
    ts_col, ts_type = column("timestamp")
    ts_text, ts_given = _given(ts_col, ts_type)
    ts_raw = _timestamp_sql(ts_col, ts_type, ts_text, epoch, log)
    if "value" in src:
        v_col, v_type = column("value")
        v_text, v_given = _given(v_col, v_type)
        if _NUMERIC.match(v_type):
            v = f"CASE WHEN isfinite(CAST({v_col} AS DOUBLE)) THEN CAST({v_col} AS DOUBLE) END"
        else:
            v = f"CASE WHEN isfinite(TRY_CAST({v_text} AS DOUBLE)) THEN TRY_CAST({v_text} AS DOUBLE) END"
    else:
        v_text, v_given, v = "NULL::VARCHAR", "false", "NULL::DOUBLE"
    return (
        f"SELECT {_text(cid, nulls=False)} AS cid, {_text(etype, nulls=False)} AS etype, {uid} AS uid, "  # noqa: S608
        f"{ts_text} AS ts_text, {ts_given} AS ts_given, {ts_raw} AS ts_raw, "
        f"{v_text} AS v_text, {v_given} AS v_given, {v} AS v, "
        f"{part.row_sql or 'NULL::BIGINT'} AS file_row, filename FROM {part.sql}"
    )


def _given(col: str, kind: str) -> tuple[str, str]:
    """(the cell as text, whether it holds anything) for a number or time column: text is read
    as empty for blanks and null tokens such as 'NA'; a typed cell is given unless NULL."""
    if kind == "VARCHAR":
        text = _text(col, nulls=True)
        return text, f"{text} IS NOT NULL"
    return f"CAST({col} AS VARCHAR)", f"{col} IS NOT NULL"


def _timestamp_sql(col: str, kind: str, text: str, epoch: str | None, log: Log) -> str:
    """The event's UTC time (TIMESTAMP) from whatever the column holds; NULL when it is not a time."""
    if epoch is not None:
        if not (kind == "VARCHAR" or _NUMERIC.match(kind)):
            raise refuse(
                TARGET,
                log.source,
                file_problem(
                    f"--epoch {epoch} reads numbers, but the timestamp column holds {kind.lower()} values.",
                    "Load it without --epoch.",
                ),
            )
        number = f"TRY_CAST({text} AS DOUBLE)" if kind == "VARCHAR" else f"CAST({col} AS DOUBLE)"
        micros = f"{number} * {1_000_000 // EPOCH_UNITS[epoch]}"
        # Out of TIMESTAMP's range is left to the range checks: clamp before converting.
        return f"make_timestamp(CAST(least(greatest({micros}, -1e17), 1e17) AS BIGINT))"
    if kind == "VARCHAR":
        return f"timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ))"
    if kind in _STAMP_TYPES:
        return f"CAST({col} AS TIMESTAMP)"
    if kind.startswith("TIMESTAMP WITH TIME ZONE") or kind == "TIMESTAMPTZ":
        return f"timezone('UTC', {col})"
    if _NUMERIC.match(kind):
        raise refuse(
            TARGET,
            log.source,
            file_problem(
                "the timestamp column holds numbers: Unix times.",
                "Say their unit: --epoch s (seconds since 1970-01-01) or --epoch ms (milliseconds).",
            ),
        )
    raise refuse(
        TARGET,
        log.source,
        file_problem(f"the timestamp column holds {kind.lower()} values.", "Give ISO 8601 date-times or dates."),
    )


def _limits() -> tuple[datetime, datetime]:
    """The earliest time accepted and the first time refused as the future (today + 1 day of tolerance)."""
    floor = datetime.combine(config.earliest_date(), datetime.min.time())
    ceiling = datetime.combine(config.latest_date(), datetime.min.time()) + timedelta(days=1)
    return floor, ceiling


def _flags_sql() -> tuple[str, list[Any]]:
    floor, ceiling = _limits()
    exprs, params = [], []
    for key, (_, flag, _, _) in _CHECKS.items():
        exprs.append(f"coalesce({flag}, false) AS {key}")
        params += [floor] if key == "ts_early" else [ceiling] if key == "ts_late" else []
    return ", ".join(exprs), params


# Rows one roll-up pass may group per GB of memory limit: a 100M-event log with a distinct user on
# nearly every row rolled up 50M rows per pass within 2 GB, and ran out of it with 100M.
ROWS_PER_GB = 20_000_000
CSV_BYTES_PER_ROW = 40  # a CSV event row is about this long (for the number of passes)
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)


def _memory_limit() -> str:
    return (os.environ.get("RADAR_INGEST_MEMORY") or DEFAULT_MEMORY).strip()


def _rows_per_pass() -> int:
    size = _SIZE.fullmatch(_memory_limit())
    gigabytes = (
        2.0
        if size is None
        else float(size.group(1)) * {"": 1e-9, "k": 1e-6, "m": 1e-3, "g": 1.0, "t": 1e3}[size.group(2).lower()]
    )
    return max(1_000_000, int(gigabytes * ROWS_PER_GB))


def _passes(cur: Any, log: Log) -> int:
    """How many customer-disjoint passes keep each roll-up within the memory limit: Parquet
    row counts come from the files' metadata, CSV rows are estimated from the file sizes."""
    if log.kind == "parquet":
        files = [f for part in log.parts for f in part.files]
        rows = int(
            cur.execute("SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(?)", [files]).fetchall()[0][0]
        )
    else:
        rows = sum(Path(f).stat().st_size for part in log.parts for f in part.files) // CSV_BYTES_PER_ROW
    return max(1, -(-rows // _rows_per_pass()))


def _roll_up(cur: Any, log: Log, selects: list[str], rolled: str) -> None:
    """Per (customer, UTC day, event type): events, value, active users, and per-check problem counts.

    Two plain GROUP BYs, not one with count(DISTINCT users): first per (customer, day, type,
    user, checks failed), then per (customer, day, type), counting the users. Plain aggregates
    spill to disk under the memory limit, so a 100M-event log takes 3 passes in 2 GB, each over
    the customers whose hash falls in its share; distinct users had to fit in memory, which took
    9 passes, each a read of the whole log.
    """
    flags, flag_params = _flags_sql()
    union = " UNION ALL ".join(f"SELECT *, {flags} FROM ({s})" for s in selects)  # noqa: S608
    params: list[Any] = []
    for part in log.parts:
        params += flag_params + part.params  # the flags come before the FROM in the text
    # the checks a row fails, one bit each: a valid row is 0 (a bad one has no date)
    failed = " + ".join(f"CAST({k} AS SMALLINT) * {1 << i}" for i, k in enumerate(_CHECKS))
    select = (
        f"WITH rows AS ({union}), "  # noqa: S608
        "per_user AS (SELECT cid, etype, uid, failed, CASE WHEN failed = 0 THEN CAST(ts_raw AS DATE) END AS date, "
        f"  count(*) AS n, sum(v) AS v FROM (SELECT cid, etype, uid, ts_raw, v, {failed} AS failed FROM rows "
        "  WHERE hash(cid) % ? = ?) GROUP BY ALL) "
        "SELECT cid AS customer_id, date, etype AS event_type, failed, CAST(sum(n) AS BIGINT) AS events, "
        "  sum(v) AS value, CAST(nullif(count(uid), 0) AS INTEGER) AS active_users "
        "FROM per_user GROUP BY cid, date, etype, failed"
    )
    passes = _passes(cur, log)
    for share in range(passes):
        verb = f"CREATE TEMP TABLE {rolled} AS " if share == 0 else f"INSERT INTO {rolled} "
        cur.execute(verb + select, [*params, passes, share])


def _totals(cur: Any, rolled: str) -> dict[str, int]:
    """Events, usage rows and rows failing any check, and the rows failing each check (a row may fail several)."""
    keys = ["rows", "groups", "bad_rows", *_CHECKS]
    sums = ", ".join(f"coalesce(sum(events) FILTER (failed & {1 << i} <> 0), 0)" for i in range(len(_CHECKS)))
    row = cur.execute(
        "SELECT coalesce(sum(events), 0), count(*) FILTER (failed = 0), "  # noqa: S608
        f"coalesce(sum(events) FILTER (failed <> 0), 0), {sums} FROM {rolled}"
    ).fetchall()[0]
    return {k: int(v) for k, v in zip(keys, row, strict=True)}


def _row_problems(cur: Any, log: Log, selects: list[str], totals: dict[str, int]) -> list[Problem]:
    """The first problems of each kind with their file row (a second pass, only for a refused file)."""
    flags, flag_params = _flags_sql()
    problems: list[Problem] = []
    for key, (column, _, message, fix) in _CHECKS.items():
        if not totals[key]:
            continue
        found: list[Problem] = []
        for part, select in zip(log.parts, selects, strict=True):
            for file in part.files:
                if len(found) >= EXAMPLES:
                    break
                found += _examples(cur, part, select, file, flags, flag_params, key, column, message, fix, log)
        problems += found[:EXAMPLES]
    return sorted(problems, key=lambda p: (p.row or 0, p.column or "", p.message))


def _examples(
    cur: Any,
    part: Part,
    select: str,
    file: str,
    flags: str,
    flag_params: list[Any],
    key: str,
    column: str,
    message: str,
    fix: str,
    log: Log,
) -> list[Problem]:
    # A CSV has no row number column: number its rows in file order, one file at a time (the reader keeps the order).
    params = list(part.params)
    params[0] = [file]
    row = "file_row" if part.row_sql else "row_number() OVER () + 1"
    shown = {"customer_id": "cid", "event_type": "etype", "timestamp": "ts_text", "value": "v_text"}[column]
    statement = (
        f"SELECT row, shown FROM (SELECT {row} AS row, {shown} AS shown, {key} FROM "  # noqa: S608
        f"(SELECT *, {flags} FROM ({select}))) WHERE {key} ORDER BY row LIMIT {EXAMPLES}"
    )
    found = cur.execute(statement, flag_params + params).fetchall()
    where = f" (in {Path(file).name})" if log.many else ""
    out = []
    for number, value in found:
        what, todo = (message, fix) if message else _time_problem(key, str(value), log)
        out.append(
            Problem(
                row=int(number),
                column=column,
                value=None if value is None else cell(value),
                message=what + where,
                fix=todo,
            )
        )
    return out


def _time_problem(key: str, value: str, log: Log) -> tuple[str, str]:
    col = EVENT_LOG_SPEC.column("timestamp")
    early, late = date_limits_text(col, config.earliest_date(), config.latest_date())
    unit = unix_unit(value)
    if key in ("ts_early", "ts_late"):
        what, fix = early if key == "ts_early" else late
        if log.epoch and unit and unit != log.epoch:
            # 1761955204000 read as seconds is the year 57,800: say the unit it looks like.
            return (
                f"{what}; read as {UNIX_WORDS[log.epoch]}, but it looks like {UNIX_WORDS[unit]}",
                f"load with --epoch {unit}",
            )
        return what, fix
    if unit:
        return f"is not a date-time; it looks like {UNIX_WORDS[unit]}", f"load with --epoch {unit}"
    if _UNIX_LIKE.fullmatch(value):
        return (
            "is not a date-time; it looks like a Unix time",
            "load with --epoch s (seconds since 1970-01-01) or --epoch ms (milliseconds)",
        )
    return (
        "is not a date-time",
        "write ISO 8601 such as 2024-03-15 14:30:00 (or 2024-03-15), or use --epoch s|ms for Unix times",
    )


UNIX_WORDS = {"s": "Unix seconds", "ms": "Unix milliseconds"}


def unix_unit(value: str) -> str | None:
    """'s' or 'ms' when `value` is a Unix time of the years 2001-2286 in that unit (10 or 13
    digits before any decimals), else None."""
    if not _UNIX_LIKE.fullmatch(value):
        return None
    return {10: "s", 13: "ms"}.get(len(value.split(".")[0]))


def guess_epoch(values: Iterable[object]) -> str | None:
    """'s' or 'ms' when every non-blank timestamp in `values` (a preview's cells) is a Unix time
    in that one unit, else None: the default a person would pick after looking at the file."""
    cells = (str(v).strip() for v in values if not pd.isna(v))
    units = {unix_unit(cell) for cell in cells if cell.lower() not in NULL_TOKENS}
    return units.pop() if len(units) == 1 and None not in units else None


def _unknown_customers(cur: Any, rolled: str) -> Problem | None:
    return unknown_customers_problem(*unknown_customers(cur, rolled))


# -- writing ----------------------------------------------------------------------------------------------
def _merge(cur: Any, rolled: str, plan: str, mode: str, report: IngestReport, t0: float) -> dict[str, int]:
    """Classify each rolled-up row against usage_daily (new / existing / identical), then write by mode."""
    cur.execute(
        f"CREATE TEMP TABLE {plan} AS SELECT r.customer_id, r.date, r.event_type, "  # noqa: S608
        "CAST(r.events AS INTEGER) AS events, r.value, r.active_users, "
        "u.events IS NOT NULL AS existing, "
        "u.events IS NOT DISTINCT FROM r.events AND u.value IS NOT DISTINCT FROM r.value "
        "AND u.active_users IS NOT DISTINCT FROM r.active_users AS same "
        f"FROM {rolled} r LEFT JOIN usage_daily u "
        "ON u.customer_id = r.customer_id AND u.date = r.date AND u.event_type = r.event_type WHERE r.failed = 0"
    )
    new, existing, same, days, example = cur.execute(
        "SELECT count(*) FILTER (NOT existing), count(*) FILTER (existing), count(*) FILTER (same), "  # noqa: S608
        "count(DISTINCT (customer_id, date)) FILTER (existing), "
        f"min(customer_id || ' on ' || CAST(date AS VARCHAR)) FILTER (existing) FROM {plan}"
    ).fetchall()[0]
    if existing and mode == NEW_DAYS:
        raise _refused(report, [_overlap_problem(int(existing), int(days), str(example), int(same))], 1, 0, t0)
    join = "u.customer_id = p.customer_id AND u.date = p.date AND u.event_type = p.event_type"
    if existing and mode == APPEND:
        cur.execute(
            "UPDATE usage_daily AS u SET events = u.events + p.events, "  # noqa: S608
            "value = CASE WHEN u.value IS NULL AND p.value IS NULL THEN NULL "
            "ELSE coalesce(u.value, 0) + coalesce(p.value, 0) END, "
            f"active_users = greatest(u.active_users, p.active_users) FROM {plan} AS p WHERE p.existing AND {join}"
        )
    elif existing and mode == REPLACE_DAYS:
        cur.execute(
            "UPDATE usage_daily AS u SET events = p.events, value = p.value, active_users = p.active_users "  # noqa: S608
            f"FROM {plan} AS p WHERE p.existing AND NOT p.same AND {join}"
        )
    if new:
        cur.execute(
            "INSERT INTO usage_daily (customer_id, date, event_type, events, active_users, value) "  # noqa: S608
            f"SELECT customer_id, date, event_type, events, active_users, value FROM {plan} WHERE NOT existing"
        )
    if mode == APPEND:
        return {"insert": int(new), "update": int(existing), "same": 0}
    return {"insert": int(new), "update": int(existing) - int(same), "same": int(same)}


def _overlap_problem(rows: int, days: int, example: str, same: int) -> Problem:
    again = (
        " Every one of them already holds exactly the file's totals: the file looks loaded already."
        if same == rows
        else ""
    )
    return file_problem(
        f"{rows:,} of the file's usage rows ({days:,} customer-day{'s' if days != 1 else ''}, e.g. {example}) "
        f"already have totals in usage_daily, and the mode new-days loads only days not loaded yet.{again}",
        "Say what the file holds: --mode append if it holds additional events for those days (its counts are "
        "added to the totals), or --mode replace-days if it holds those whole days (their totals are replaced).",
    )


def _mode_note(mode: str, counts: dict[str, int]) -> str:
    if mode == APPEND:
        return (
            f"mode append: {counts['insert']:,} usage rows added, {counts['update']:,} added to (the file's counts "
            "and values added to the existing totals; active_users there is the larger of the two)"
        )
    if mode == REPLACE_DAYS:
        return (
            f"mode replace-days: {counts['insert']:,} usage rows added, {counts['update']:,} replaced, "
            f"{counts['same']:,} already identical"
        )
    return f"mode new-days: {counts['insert']:,} usage rows added, none of them loaded before"


__all__ = [
    "APPEND",
    "EPOCH_UNITS",
    "MODES",
    "NEW_DAYS",
    "REPLACE_DAYS",
    "load_events",
    "load_events_frame",
    "validate_events",
]
