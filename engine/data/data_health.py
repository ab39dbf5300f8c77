"""Data health for the admin's data page: per table row counts, date ranges, freshness and null rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from engine.data import health
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse

# Tables and the column dating their rows: engine.data.health's allow-list.
DATE_COLUMNS = health.DATE_COLUMNS
STALE_AFTER_DAYS = 7  # a table whose newest row is older than this (vs the data's latest day) is flagged
# Tables that get rows every day; the others are monthly (MRR, signals) or event-driven.
DAILY_TABLES = ("usage_daily", "support_tickets")


@dataclass(frozen=True)
class DataHealth:
    """`tables`: table, rows, first, last, days_behind (latest day of the data minus the
    table's newest date), stale. `nulls`: table, column, rows, nulls, null_rate."""

    data_as_of: date | None
    tables: pd.DataFrame
    nulls: pd.DataFrame
    date_warning: str | None = None  # rows dated outside reality, and what to do (engine.data.health)

    def as_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> list[dict]:
            return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")

        return {
            "data_as_of": str(self.data_as_of) if self.data_as_of else None,
            "tables": records(self.tables),
            "nulls": records(self.nulls),
            "date_warning": self.date_warning,
        }


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
    status = health.warehouse_status(wh)
    as_of = status["data_as_of"]
    tables = pd.DataFrame(status["tables"], columns=["table", "rows", "first", "last"])
    tables["days_behind"] = [
        (as_of - last).days if as_of is not None and last is not None else None for last in tables["last"]
    ]
    daily = tables["table"].isin(DAILY_TABLES)
    tables["stale"] = daily & tables["days_behind"].fillna(0).gt(STALE_AFTER_DAYS) & tables["rows"].gt(0)
    nulls = pd.concat([null_rates(wh, t) for t in DATE_COLUMNS], ignore_index=True)
    return DataHealth(as_of, tables, nulls, status["date_warning"])
