"""Data health: row counts, date ranges and freshness of every table.

Dates outside reality (before RADAR_EARLIEST_DATE, or after today plus a day for what
records the past; planned dates up to 10 years ahead) are refused by ingestion, but a
warehouse may still hold some (written directly, or loaded before the check existed).
Readers never let such a row move the data's "today": `data_as_of` takes the newest
*plausible* date, and `date_problems` / `date_warning` say which rows are out of range
and how to remove them, for pages and commands to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.core import config
from engine.data.warehouse import Warehouse

# The column that dates each table's rows (an allow-list for the queries below).
DATE_COLUMNS = {
    "customers": "signup_date",
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


@dataclass(frozen=True)
class DateProblem:
    """Rows of one column dated outside reality: `rows` of them, from `lowest` to `highest`."""

    table: str
    column: str
    rows: int
    lowest: date
    highest: date
    earliest: date  # the accepted range
    latest: date

    def describe(self) -> str:
        side = []
        if self.lowest < self.earliest:
            side.append(f"before {self.earliest}")
        if self.highest > self.latest:
            side.append(f"after {self.latest}")
        span = str(self.lowest) if self.lowest == self.highest else f"{self.lowest} .. {self.highest}"
        return (
            f"{self.table}.{self.column} has {self.rows:,} row{'s' if self.rows != 1 else ''} dated "
            f"{' or '.join(side)} ({span})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "rows": self.rows,
            "lowest": str(self.lowest),
            "highest": str(self.highest),
            "accepted_from": str(self.earliest),
            "accepted_to": str(self.latest),
        }


def date_window(planned: bool = False) -> tuple[date, date]:
    """The dates data may hold: (earliest, latest) inclusive."""
    return config.earliest_date(), config.latest_planned_date() if planned else config.latest_date()


def _bounds(planned: bool = False) -> tuple[datetime, datetime]:
    """[start, end) as timestamps: a timestamp on the latest accepted day still counts."""
    first, last = date_window(planned)
    return datetime.combine(first, datetime.min.time()), datetime.combine(last + timedelta(days=1), datetime.min.time())


def data_as_of(wh: Warehouse) -> date | None:
    """The latest day the warehouse has activity for: the 'today' of the data.

    Only plausible dates count (see `date_window`): one row dated 9999-12-31 must not make
    every account look silent for eight thousand years. `date_warning` reports such rows.
    """
    start, end = _bounds()
    found = wh.scalar(
        "SELECT max(d) FROM (SELECT max(date) AS d FROM usage_daily WHERE date >= ? AND date < ? "
        "UNION ALL SELECT max(opened_at)::DATE FROM support_tickets WHERE opened_at >= ? AND opened_at < ? "
        "UNION ALL SELECT max(churn_date) FROM customers WHERE churn_date >= ? AND churn_date < ? "
        "UNION ALL SELECT max(signup_date) FROM customers WHERE signup_date >= ? AND signup_date < ?)",
        [start, end] * 4,
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
                found.append(DateProblem(table, column, int(rows), lowest, highest, first, last))
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


def warehouse_status(wh: Warehouse) -> dict[str, Any]:
    """Schema version, data date, per-table rows and date span, and dates outside reality
    (for `info` and the data page; `info` adds the model's status from engine.churn.status)."""
    tables = []
    for table, column in DATE_COLUMNS.items():
        rows, first, last = wh.rows(f"SELECT count(*), min({column})::DATE, max({column})::DATE FROM {table}")[0]  # noqa: S608 - allow-listed
        tables.append({"table": table, "rows": rows, "first": first, "last": last})
    as_of = data_as_of(wh)
    problems = date_problems(wh)
    status = {
        "schema_version": wh.schema_version(),
        "data_as_of": as_of,
        "tables": tables,
        "date_problems": [p.as_dict() for p in problems],
        "date_warning": date_warning(problems, as_of),
    }
    return status


def latest_scoring_date(wh: Warehouse) -> date | None:
    """The newest plausible as-of date in predictions (None when nothing is scored)."""
    start, end = _bounds()
    return wh.scalar("SELECT max(as_of) FROM predictions WHERE as_of >= ? AND as_of < ?", [start, end])
