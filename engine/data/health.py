"""Data health: row counts, date spans, freshness and null rates of every table, the
data's "today", and dates outside reality (`info`, the Data and Model & data pages).

Dates outside reality (before RADAR_EARLIEST_DATE, or after today plus a day for what
records the past; planned dates up to 10 years ahead) are refused by ingestion, but a
warehouse may still hold some (written directly, or loaded before the check existed).
Readers never let such a row move the data's "today": `data_as_of` takes the newest
*plausible* date, and `date_problems` / `date_warning` say which rows are out of range
and how to remove them, for pages and commands to show.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from engine.core import config
from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse

# The column that dates each table's rows (an allow-list for the queries below).
DATE_COLUMNS: dict[str, str | None] = {
    "customers": "signup_date",
    "customer_attributes": None,  # attributes describe the account, they are not dated rows
    "subscriptions": "start_date",
    "mrr_history": "month",
    "usage_daily": "date",
    "support_tickets": "opened_at",
    "gtm_opportunities": "created_date",
    "risk_signals": "as_of",
    "predictions": "as_of",
    "ground_truth": "as_of",
}


# Every date/timestamp column of every table, and whether it holds a plan that may lie ahead
# (an allow-list for the range queries below; ingestion refuses the same ranges).
CHECKED_DATES: dict[str, dict[str, bool]] = {
    "customers": {"signup_date": False, "contract_end_date": True, "churn_date": False},
    "mrr_history": {"month": False},
    "usage_daily": {"date": False},
    "support_tickets": {"opened_at": False, "closed_at": False},
    "gtm_opportunities": {"created_date": False, "close_date": True},
    "risk_signals": {"as_of": False},
    "predictions": {"as_of": False, "scored_at": False},
    "ground_truth": {"as_of": False},
}


STALE_AFTER_DAYS = 7  # a table whose newest row is older than this (vs the data's latest day) is flagged
# Tables that get rows every day; the others are monthly (MRR, signals) or event-driven.
DAILY_TABLES = ("usage_daily", "support_tickets")


class DateProblem(Contract):
    """Rows of one column dated outside reality: `rows` of them, from `lowest` to `highest`,
    where `accepted_from` .. `accepted_to` is the range a date may lie in."""

    table: str
    column: str
    rows: int
    lowest: date
    highest: date
    accepted_from: date
    accepted_to: date

    def describe(self) -> str:
        side = []
        if self.lowest < self.accepted_from:
            side.append(f"before {self.accepted_from}")
        if self.highest > self.accepted_to:
            side.append(f"after {self.accepted_to}")
        span = str(self.lowest) if self.lowest == self.highest else f"{self.lowest} .. {self.highest}"
        return (
            f"{self.table}.{self.column} has {self.rows:,} row{'s' if self.rows != 1 else ''} dated "
            f"{' or '.join(side)} ({span})"
        )


class TableSpan(Contract):
    """One table's row count and the dates its rows span (by the column dating them)."""

    table: str
    rows: int
    first: date | None = None
    last: date | None = None


class WarehouseStatus(Contract):
    """Schema version, the data's latest day, every table's rows and date span, and the rows
    dated outside reality with a paragraph on what to do (None when all is well)."""

    schema_version: int
    data_as_of: date | None = None
    tables: list[TableSpan]
    date_problems: list[DateProblem]
    date_warning: str | None = None
    out_of_step: dict[str, str] = {}  # table -> what is out of step with the data's day, in words


class DataHealth(Contract):
    """The data-health report.

    `tables`: table, rows, first, last, days_behind (the data's latest day minus the
    table's newest date, 0 for a table dated past it), stale, note (what is out of step, or
    None). `nulls`: table, column, rows, nulls, null_rate. `as_of_from`: what sets the data's
    latest day, in words.
    """

    data_as_of: date | None = None
    as_of_from: str = ""
    tables: Table
    nulls: Table
    date_warning: str | None = None  # rows dated outside reality, and what to do


def date_window(planned: bool = False) -> tuple[date, date]:
    """The dates data may hold: (earliest, latest) inclusive."""
    return config.earliest_date(), config.latest_planned_date() if planned else config.latest_date()


def _bounds(planned: bool = False) -> tuple[datetime, datetime]:
    """[start, end) as timestamps: a timestamp on the latest accepted day still counts."""
    first, last = date_window(planned)
    return datetime.combine(first, datetime.min.time()), datetime.combine(last + timedelta(days=1), datetime.min.time())


def data_as_of(wh: Warehouse) -> date | None:
    """The latest day the warehouse has activity for: the 'today' of the data.

    The daily feeds set it when there are any: usage and tickets opened. Features for a day
    after the last usage row would read that day as one nobody used the product, and an
    export's dates run past its event log (a renewal term starting on the first of next
    month, a cancellation effective at term end, a new account whose events come tomorrow).
    Without daily feeds, signups, churn dates and subscription starts set it. Only plausible
    dates count (see `date_window`): one row dated 9999-12-31 must not make every account
    look silent for eight thousand years. `date_warning` reports such rows.
    """
    start, end = _bounds()
    found = wh.scalar(
        "SELECT coalesce("
        "(SELECT max(d) FROM (SELECT max(date) AS d FROM usage_daily WHERE date >= ? AND date < ? "
        "UNION ALL SELECT max(opened_at)::DATE FROM support_tickets WHERE opened_at >= ? AND opened_at < ?)), "
        "(SELECT max(d) FROM (SELECT max(signup_date) AS d FROM customers WHERE signup_date >= ? AND signup_date < ? "
        "UNION ALL SELECT max(churn_date) FROM customers WHERE churn_date >= ? AND churn_date < ? "
        "UNION ALL SELECT max(start_date) FROM subscriptions WHERE start_date >= ? AND start_date < ?)))",
        [start, end] * 5,
    )
    return found


def date_problems(wh: Warehouse) -> list[DateProblem]:
    """Every column holding rows dated outside reality (empty when all is well)."""
    found = []
    for table, columns in CHECKED_DATES.items():
        for column, planned in columns.items():
            start, end = _bounds(planned)
            # Table and column names come from the CHECKED_DATES allow-list; the limits are bound.
            rows, lowest, highest = wh.rows(
                f"SELECT count(*), min({column})::DATE, max({column})::DATE FROM {table} "  # noqa: S608
                f"WHERE {column} < ? OR {column} >= ?",
                [start, end],
            )[0]
            if rows:
                first, last = date_window(planned)
                found.append(
                    DateProblem(
                        table=table,
                        column=column,
                        rows=int(rows),
                        lowest=lowest,
                        highest=highest,
                        accepted_from=first,
                        accepted_to=last,
                    )
                )
    return found


def date_warning(problems: list[DateProblem], as_of: date | None = None) -> str | None:
    """One paragraph saying which rows are out of range, that they are ignored, and what to do."""
    if not problems:
        return None
    listed = "; ".join(p.describe() for p in problems)
    using = f" (taken as {as_of}, the newest plausible date)" if as_of else ""
    text = (
        f"The warehouse holds dates outside reality: {listed}. They do not count towards the data's latest "
        f"day{using} or the forecasts. Delete those rows from the warehouse (for example with the DuckDB CLI "
        "while the app is stopped)"
    )
    if any(p.table != "predictions" for p in problems):
        text += ", correct the dates in the source system and load that data again (new loads refuse such dates)"
    if any(p.table == "predictions" for p in problems):
        text += (
            "; scores dated outside reality were made as of such a date: run `.venv/bin/python -m engine score` after"
        )
    text += ". If your history really starts before the earliest accepted date, set RADAR_EARLIEST_DATE."
    return text


def out_of_range_warning(wh: Warehouse) -> str | None:
    """`date_warning` for the warehouse as it is now (None when every date is plausible)."""
    problems = date_problems(wh)
    return date_warning(problems, data_as_of(wh)) if problems else None


def status(wh: Warehouse) -> WarehouseStatus:
    """Schema version, data date, per-table rows and date span, and dates outside reality."""
    tables = []
    for table, column in DATE_COLUMNS.items():
        # Table and column names come from the DATE_COLUMNS allow-list.
        span = f"min({column})::DATE, max({column})::DATE" if column else "NULL::DATE, NULL::DATE"
        rows, first, last = wh.rows(f"SELECT count(*), {span} FROM {table}")[0]  # noqa: S608
        tables.append(TableSpan(table=table, rows=int(rows), first=first, last=last))
    as_of = data_as_of(wh)
    problems = date_problems(wh)
    return WarehouseStatus(
        schema_version=wh.schema_version(),
        data_as_of=as_of,
        tables=tables,
        date_problems=problems,
        date_warning=date_warning(problems, as_of),
        out_of_step=_out_of_step(wh, as_of),
    )


def has_scores(wh: Warehouse) -> bool:
    """Whether any account has a churn score (a book too young to train on has none)."""
    return bool(wh.scalar("SELECT EXISTS (SELECT 1 FROM predictions)"))


def latest_scoring_date(wh: Warehouse) -> date | None:
    """The newest plausible as-of date in predictions (None when nothing is scored)."""
    start, end = _bounds()
    return wh.scalar("SELECT max(as_of) FROM predictions WHERE as_of >= ? AND as_of < ?", [start, end])


# -- the data-health report ---------------------------------------------------------------------
def _columns(wh: Warehouse, table: str) -> list[str]:
    found = wh.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main' "
        "ORDER BY ordinal_position",
        [table],
    )
    return [row[0] for row in found]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def null_rates(wh: Warehouse, table: str) -> pd.DataFrame:
    """Rows, nulls and null rate per column of one allow-listed table."""
    if table not in DATE_COLUMNS:
        raise BadInputError(f"Unknown table '{table}'. Tables: {', '.join(DATE_COLUMNS)}.")
    columns = _columns(wh, table)
    counts = ", ".join(f"count({_quote(c)})" for c in columns)
    # Column names come from the catalogue of an allow-listed table and are quoted.
    found = wh.rows(f"SELECT count(*), {counts} FROM {_quote(table)}")[0]  # noqa: S608
    rows = int(found[0])
    return pd.DataFrame(
        {
            "table": table,
            "column": columns,
            "rows": rows,
            "nulls": [rows - int(n) for n in found[1:]],
            "null_rate": [(rows - int(n)) / rows if rows else None for n in found[1:]],
        }
    )


def data_health(wh: Warehouse) -> DataHealth:
    """Row counts, date ranges, freshness and null rates of every table in the data model."""
    current = status(wh)
    as_of = current.data_as_of
    tables = pd.DataFrame([span.model_dump() for span in current.tables], columns=["table", "rows", "first", "last"])
    # A table dated past the data's day (billing rows for a period that starts tomorrow) is not
    # behind: 0, not "-1" (its last date is shown next to it).
    tables["days_behind"] = [
        max(0, (as_of - last).days) if as_of is not None and last is not None else None for last in tables["last"]
    ]
    daily = tables["table"].isin(DAILY_TABLES)
    tables["stale"] = daily & tables["days_behind"].fillna(0).gt(STALE_AFTER_DAYS) & tables["rows"].gt(0)
    tables["note"] = [current.out_of_step.get(t) for t in tables["table"]]
    nulls = pd.concat([null_rates(wh, t) for t in DATE_COLUMNS], ignore_index=True)
    return DataHealth(
        data_as_of=as_of,
        as_of_from=(
            "the newest day of product usage or support tickets loaded"
            if _daily_feeds_loaded(wh)
            else "the newest signup, churn or subscription start loaded"
        ),
        tables=tables,
        nulls=nulls,
        date_warning=current.date_warning,
    )


def _daily_feeds_loaded(wh: Warehouse) -> bool:
    """Whether usage or tickets set the data's day (see `data_as_of`)."""
    return bool(wh.scalar("SELECT (SELECT count(*) FROM usage_daily) + (SELECT count(*) FROM support_tickets) > 0"))


def _out_of_step(wh: Warehouse, as_of: date | None) -> dict[str, str]:
    """Tables out of step with the data's day, in words. A CRM export newer than the event log
    (accounts signed up after the last usage day) looked "current", though those accounts go
    unscored until their usage is loaded; scores older than the data looked "current" too.
    Only usage or tickets can put the data's day before a signup (see `data_as_of`)."""
    if as_of is None:
        return {}
    notes = {}
    start, end = _bounds()
    newer = int(
        wh.scalar(
            "SELECT count(*) FROM customers WHERE signup_date > ? AND signup_date >= ? AND signup_date < ?",
            [as_of, start, end],
        )
    )
    if newer:
        notes["customers"] = (
            f"ahead of the usage: {newer:,} account{'s' if newer != 1 else ''} signed up after {as_of}, "
            "not scored until usage for their days is loaded"
        )
    scored = latest_scoring_date(wh)
    if scored is not None and scored < as_of:
        notes["predictions"] = f"behind the data: scores as of {scored}; refresh the scores"
    return notes


def freshness(tables: pd.DataFrame) -> pd.DataFrame:
    """`data_health`'s tables as people read them: dates and days as text with a dash where a
    table has none (the grid writes "None" for a missing value), one State in words instead of a flag."""
    # ground_truth is the demo generator's own table, never loaded: a company's book leaves it out
    generated_only = (tables["table"] == "ground_truth") & (tables["rows"] == 0)
    tables = tables[~generated_only]
    notes = tables.get("note", pd.Series(None, index=tables.index))
    out = tables.drop(columns=["stale", "note"], errors="ignore").copy()
    for column in ("first", "last"):
        out[column] = ["—" if pd.isna(value) else value.isoformat() for value in out[column]]
    out["days_behind"] = ["—" if pd.isna(days) else f"{int(days):,}" for days in out["days_behind"]]
    out["state"] = [_state(*row) for row in zip(tables["rows"], tables["stale"], notes, strict=True)]
    return out


def _state(rows: int, stale: bool, note: str | None) -> str:
    if rows == 0:
        return "no rows"
    if stale:
        return f"stale: over {STALE_AFTER_DAYS} days behind"
    return note if isinstance(note, str) else "current"
