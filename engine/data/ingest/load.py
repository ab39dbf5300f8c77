"""The all-or-nothing load: stage the typed rows, check what needs the warehouse (customers
exist, cross-column rules on each row as it will be), then upsert by natural key, all in
ONE transaction. Raw event logs (table name "events") are read and rolled up into
usage_daily by DuckDB in engine.data.ingest.events; `load_file`/`validate_file` hand them there.

Every staged row is classified against the warehouse by its natural key (new, changed or
identical); changed rows are UPDATEd, new rows INSERTed, identical rows left alone, so
loading the same file twice is a no-op (the second report says every row is unchanged).
Any problem raises `IngestError` and the transaction leaves the warehouse exactly as it
was.

* Optional columns missing from the file: new rows get NULL; rows that already exist
  KEEP their current values (only the columns in the file are compared and updated).
  To clear a value, include the column and leave the cell empty. Rules that span
  columns (a churned customer needs a churn_date) are checked on the row as it will be
  after the load, so an existing value counts.
* Child tables (everything but customers) need each customer_id to exist in the
  warehouse customers table already: load customers first. Unknown ids give ONE
  problem (how many, e.g. which), not one per row (engine.data.ingest.references).
* A customers file: name and status are derived where missing, extra columns are kept
  as custom attributes (engine.data.ingest.customers). A subscriptions file also
  re-derives its customers' mrr_history and churn dates (engine.data.ingest.subscriptions),
  in the same transaction.
* Raw event logs ("events"): see engine.data.ingest.events (modes new-days, append,
  replace-days; timestamps as ISO text, dates or Unix times with `epoch`).

SQL values are always bound or staged from a registered frame; identifiers (table and
column names) come only from the specs through `ident`.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.core.errors import BadInputError
from engine.data.ingest import customers as customer_file
from engine.data.ingest import events
from engine.data.ingest import subscriptions as derived
from engine.data.ingest.coerce import ROW, Coercer, RowProblems, check_duplicates, empty_typed
from engine.data.ingest.read import Read, read_file, resolve_columns
from engine.data.ingest.references import unknown_customers, unknown_customers_problem
from engine.data.ingest.report import IngestError, IngestReport, Problem, file_problem, refuse
from engine.data.ingest.specs import EVENT_LOG_SPEC, SQL_TYPES, TABLE_SPECS, RowCheck, TableSpec, spec_for
from engine.data.warehouse import Warehouse

ACTION = "__action"
_ALLOWED_IDENTIFIERS = frozenset(
    {ROW, ACTION}
    | set(TABLE_SPECS)
    | {c.name for spec in (*TABLE_SPECS.values(), EVENT_LOG_SPEC) for c in spec.columns}
)
_INTERNAL = re.compile(r"_ingest_[a-z]+_[0-9a-f]{12}")


def ident(name: str) -> str:
    """A quoted identifier: only names from the specs or this module's own temp names."""
    if name not in _ALLOWED_IDENTIFIERS and not _INTERNAL.fullmatch(name):
        raise ValueError(f"identifier {name!r} is not in the ingest allow-list")
    return '"' + name + '"'


def _render(template: str, **identifiers: str) -> str:
    """Fill a SQL template with identifier fragments already built by `ident`.

    Values never pass through here: they are bound with `?` or staged from a frame.
    """
    return template.format(**identifiers)


def _temp_name(kind: str) -> str:
    return f"_ingest_{kind}_{uuid.uuid4().hex[:12]}"


class _RolledBack(Exception):
    """Raised at the end of a dry run's transaction so it rolls back."""


# -- entry points ------------------------------------------------------------------------------
def load_file(
    wh: Warehouse,
    table: str,
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    *,
    mode: str | None = None,
    epoch: str | None = None,
) -> IngestReport:
    """Validate a CSV (.csv/.txt/.tsv, UTF-8) or Parquet (.parquet/.pq) file and load it, all or nothing.

    `table` is one of TABLE_SPECS or "events" (a raw event log, or a glob of them, rolled up
    into usage_daily by `events.load_events`; `mode` and `epoch` apply to it alone). `mapping`
    is {warehouse column: file column}.
    Raises `IngestError` (nothing written) when anything is wrong.
    """
    return _load_path(wh, table, path, mapping, dry_run=False, mode=mode, epoch=epoch)


def validate_file(
    wh: Warehouse,
    table: str,
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    *,
    mode: str | None = None,
    epoch: str | None = None,
) -> IngestReport:
    """Every check `load_file` makes, and the counts it would report, without writing.

    The load runs inside its transaction and is rolled back, so the report (inserted,
    updated, unchanged) is what committing the same file now would do. Raises
    `IngestError` with the same problems `load_file` would.
    """
    return _load_path(wh, table, path, mapping, dry_run=True, mode=mode, epoch=epoch)


def load_frame(
    wh: Warehouse,
    table: str,
    frame: pd.DataFrame,
    mapping: Mapping[str, str] | None = None,
    *,
    source: str = "the uploaded data",
) -> IngestReport:
    """`load_file` for a DataFrame (typed columns or text); `source` names it in messages."""
    spec = spec_for(table, source)
    if spec is EVENT_LOG_SPEC:
        return events.load_events_frame(wh, frame, mapping, source=source)
    if not isinstance(frame, pd.DataFrame):
        raise refuse(
            table, source, file_problem(f"expected a table of rows (a DataFrame), got {type(frame).__name__}.")
        )
    t0 = time.perf_counter()
    frame = frame.copy(deep=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    seen: set[str] = set()
    for col in frame.columns:
        if col.lower() in seen and col:
            raise refuse(
                table, source, file_problem(f"the data names column '{col}' twice.", "Rename or remove one of them.")
            )
        seen.add(col.lower())
    return _load(wh, table, Read(frame), mapping, source, t0)


def _load_path(
    wh: Warehouse,
    table: str,
    path: str | Path,
    mapping: Mapping[str, str] | None,
    dry_run: bool,
    mode: str | None = None,
    epoch: str | None = None,
) -> IngestReport:
    spec = spec_for(table, Path(path).name)
    if spec is EVENT_LOG_SPEC:  # a file or a glob, read by DuckDB
        return events.load_events(wh, str(path), mapping, mode=mode or events.NEW_DAYS, epoch=epoch, dry_run=dry_run)
    if mode or epoch:
        raise BadInputError(
            "--mode and --epoch apply to raw event logs only: ingest events FILE --mode ... --epoch ..."
        )
    path = Path(path)
    t0 = time.perf_counter()
    try:
        read = read_file(path)
    except IngestError as exc:
        raise refuse(spec.name, path.name, exc.problems[0]) from None
    return _load(wh, table, read, mapping, path.name, t0, dry_run=dry_run)


# -- the load ----------------------------------------------------------------------------------
def _load(
    wh: Warehouse,
    table: str,
    read: Read,
    mapping: Mapping[str, str] | None,
    source: str,
    t0: float,
    dry_run: bool = False,
) -> IngestReport:
    spec = spec_for(table, source)
    target = spec
    raw = read.frame.reset_index(drop=True)
    n = len(raw)
    sources, ignored, structural = resolve_columns(spec, [str(c) for c in raw.columns], dict(mapping or {}))
    # A customers file's extra columns are custom attributes (engine.data.ingest.customers).
    attributes = (
        customer_file.plan_attributes(raw, ignored, spec, read.thousands_ok) if spec.name == "customers" else None
    )
    if attributes is not None:
        ignored, structural = attributes.left_out, structural + attributes.problems

    def failed(problems: list[Problem], total: int, rejected: int, notes: list[str]) -> IngestError:
        report = IngestReport(
            table=target.name,
            rows_in_file=n,
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
        empty = file_problem(f"{source} has column names but no data rows: there is nothing to load.")
        raise failed([empty], 1, 0, read.notes)
    if structural:
        raise failed(structural, len(structural), n, read.notes)

    problems = RowProblems(n)
    coerce = Coercer(problems, read.thousands_ok)
    typed: dict[str, pd.Series] = {}
    cell_bad: dict[str, np.ndarray] = {}
    order = {name: i for i, name in enumerate(spec.names)}
    for col in spec.columns:
        if col.name in sources:
            typed[col.name], cell_bad[col.name] = coerce(col, raw[sources[col.name]], order[col.name])
    notes = read.notes + coerce.notes + (attributes.notes if attributes else [])
    frame = pd.DataFrame(typed)
    if spec.name == "customers":
        frame = customer_file.derive_columns(frame)
        cell_bad.setdefault("status", np.zeros(n, dtype=bool))
    frame.insert(0, ROW, np.arange(2, n + 2, dtype=np.int64))

    if spec.key:
        check_duplicates(spec, frame, cell_bad, problems, order)

    present = [c for c in spec.names if c in frame]
    absent = [c for c in spec.names if c not in frame]
    view, stage, plan = _temp_name("view"), _temp_name("stage"), _temp_name("plan")
    counts: dict[str, int] = {}
    # A dry run raises _RolledBack after the merge: the transaction undoes it, the counts stand.
    with contextlib.suppress(_RolledBack), wh.transaction() as cur:
        _stage(cur, spec, frame, present, view, stage)
        if spec.child:
            _check_customers(cur, stage, problems)
        if spec.checks:
            _check_rows(cur, spec, stage, frame, absent, cell_bad, problems, order)
        if attributes is not None:
            for problem in customer_file.reconcile_kinds(cur, attributes, frame["customer_id"]):
                problems.whole(problem, np.arange(n))
        if problems.total:
            raise failed(problems.listed(), problems.total, problems.rejected, notes)
        temp_tables = [stage, plan]
        if spec.name == "customers":
            present = customer_file.fill_absent(cur, stage, present, ident)
        if spec.name == "subscriptions":
            keys, before, after, history = (_temp_name(kind) for kind in ("keys", "before", "after", "history"))
            temp_tables += [keys, before, after]
            derived.prepare(cur, ident(stage), ident(keys), ident(before))
        counts = _merge(cur, target, stage, plan, present)
        if attributes is not None:
            stored = customer_file.store_attributes(cur, attributes, frame["customer_id"])
            summary = attributes.summary()
            if summary:
                notes.append(f"{summary} ({stored:,} values stored in customer_attributes)")
        if spec.name == "subscriptions":
            notes += derived.derive(cur, ident(keys), ident(before), ident(after), ident(history))
        for name in temp_tables:
            cur.execute(_render("DROP TABLE IF EXISTS {t}", t=ident(name)))
        if dry_run:
            raise _RolledBack
    return IngestReport(
        table=target.name,
        rows_in_file=n,
        inserted=counts.get("insert", 0),
        updated=counts.get("update", 0),
        unchanged=counts.get("same", 0),
        source=source,
        ignored_columns=ignored,
        notes=notes,
        seconds=round(time.perf_counter() - t0, 3),
        checked_only=dry_run,
    )


def _stage(cur: Any, spec: TableSpec, frame: pd.DataFrame, present: list[str], view: str, stage: str) -> None:
    """The typed rows as a temp table in the warehouse's own column types."""
    cur.register(view, frame)
    try:
        casts = ", ".join(
            [ident(ROW)] + [f"CAST({ident(c)} AS {SQL_TYPES[spec.column(c).type]}) AS {ident(c)}" for c in present]
        )
        statement = _render(
            "CREATE TEMP TABLE {stage} AS SELECT {casts} FROM {view}", stage=ident(stage), casts=casts, view=ident(view)
        )
        cur.execute(statement)
    finally:
        cur.unregister(view)


# -- checks that need the warehouse -------------------------------------------------------------
def _check_customers(cur: Any, stage: str, problems: RowProblems) -> None:
    """ONE problem for all rows whose customer_id is not in customers (engine.data.ingest.references)."""
    count, examples = unknown_customers(cur, ident(stage))
    problem = unknown_customers_problem(count, examples)
    if problem is None:
        return
    statement = _render(
        "SELECT s.{row} FROM {stage} s WHERE s.{cid} IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM {customers} c WHERE c.{cid} = s.{cid})",
        row=ident(ROW),
        cid=ident("customer_id"),
        stage=ident(stage),
        customers=ident("customers"),
    )
    rows = np.array([r for (r,) in cur.execute(statement).fetchall()], dtype=np.int64)
    problems.whole(problem, rows - 2)


def _check_rows(
    cur: Any,
    spec: TableSpec,
    stage: str,
    frame: pd.DataFrame,
    absent: list[str],
    cell_bad: dict[str, np.ndarray],
    problems: RowProblems,
    order: dict[str, int],
) -> None:
    """Cross-column rules on each row as it will be after the load (existing values for absent columns)."""
    n = len(frame)
    effective = _as_after_load(cur, spec, stage, frame, absent)
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

        def describe(pos: int, check: RowCheck = check, suffix: str = suffix) -> Problem:
            return Problem(column=check.column, message=check.explain(effective.iloc[pos]) + suffix, fix=check.fix)

        problems.mask(bad, order[check.column], describe)


def _as_after_load(cur: Any, spec: TableSpec, stage: str, frame: pd.DataFrame, absent: list[str]) -> pd.DataFrame:
    """The file's rows with the warehouse's values for the columns the checks use but the file lacks."""
    effective = frame.copy()
    needed = sorted({c for check in spec.checks for c in check.uses if c in absent})
    for name in needed:
        effective[name] = empty_typed(spec.column(name), len(frame))
    if not needed:
        return effective
    matches = " AND ".join(f"t.{ident(k)} = s.{ident(k)}" for k in spec.key)
    statement = _render(
        "SELECT s.{row}, {cols} FROM {stage} s JOIN {target} t ON {matches}",
        row=ident(ROW),
        cols=", ".join(f"t.{ident(c)}" for c in needed),
        stage=ident(stage),
        target=ident(spec.name),
        matches=matches,
    )
    existing = cur.execute(statement).df()
    if not existing.empty:
        positions = existing[ROW].to_numpy() - 2
        for name in needed:
            column = effective[name].copy()
            column.iloc[positions] = existing[name].to_numpy()
            effective[name] = column
    return effective


# -- writing -----------------------------------------------------------------------------------
def _merge(cur: Any, spec: TableSpec, stage: str, plan: str, present: list[str]) -> dict[str, int]:
    """Classify staged rows by natural key (insert / update / same), then write them."""
    matches = " AND ".join(f"t.{ident(k)} = s.{ident(k)}" for k in spec.key)
    values = [c for c in present if c not in spec.key]
    same = " AND ".join([matches] + [f"t.{ident(c)} IS NOT DISTINCT FROM s.{ident(c)}" for c in values])
    statement = _render(
        "CREATE TEMP TABLE {plan} AS SELECT s.*, CASE "
        "WHEN NOT EXISTS (SELECT 1 FROM {target} t WHERE {matches}) THEN 'insert' "
        "WHEN EXISTS (SELECT 1 FROM {target} t WHERE {same}) THEN 'same' "
        "ELSE 'update' END AS {action} FROM {stage} s",
        plan=ident(plan),
        target=ident(spec.name),
        matches=matches,
        same=same,
        action=ident(ACTION),
        stage=ident(stage),
    )
    cur.execute(statement)
    statement = _render(
        "SELECT {action}, count(*) FROM {plan} GROUP BY {action}", action=ident(ACTION), plan=ident(plan)
    )
    counts = {action: int(count) for action, count in cur.execute(statement).fetchall()}
    if counts.get("update") and values:
        statement = _render(
            "UPDATE {target} AS t SET {assignments} FROM {plan} AS s WHERE s.{action} = 'update' AND {matches}",
            target=ident(spec.name),
            assignments=", ".join(f"{ident(c)} = s.{ident(c)}" for c in values),
            plan=ident(plan),
            action=ident(ACTION),
            matches=matches,
        )
        cur.execute(statement)
    if counts.get("insert"):
        columns = ", ".join(ident(c) for c in present)
        statement = _render(
            "INSERT INTO {target} ({columns}) SELECT {columns} FROM {plan} WHERE {action} = 'insert'",
            target=ident(spec.name),
            columns=columns,
            plan=ident(plan),
            action=ident(ACTION),
        )
        cur.execute(statement)
    return counts
