"""Data health: row counts, date ranges and freshness of every table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from engine import registry
from engine.errors import ModelUnavailableError
from engine.warehouse import Warehouse

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


def data_as_of(wh: Warehouse) -> date | None:
    """The latest day the warehouse has activity for: the 'today' of the data."""
    found = wh.scalar(
        "SELECT max(d) FROM (SELECT max(date) AS d FROM usage_daily "
        "UNION ALL SELECT max(opened_at)::DATE FROM support_tickets "
        "UNION ALL SELECT max(churn_date) FROM customers "
        "UNION ALL SELECT max(signup_date) FROM customers)"
    )
    return found


def warehouse_status(wh: Warehouse) -> dict[str, Any]:
    """Schema version, data date and per-table rows and date span (for `info` and the data page)."""
    tables = []
    for table, column in DATE_COLUMNS.items():
        rows, first, last = wh.rows(f"SELECT count(*), min({column})::DATE, max({column})::DATE FROM {table}")[0]  # noqa: S608 - allow-listed
        tables.append({"table": table, "rows": rows, "first": first, "last": last})
    return {
        "schema_version": wh.schema_version(),
        "data_as_of": data_as_of(wh),
        "tables": tables,
        "model": _model_status(wh),
    }


def _model_status(wh: Warehouse) -> str:
    scored = wh.rows("SELECT max(as_of), count(DISTINCT customer_id), any_value(model_version) FROM predictions")[0]
    if not scored[1]:
        return "no scores yet (run `python -m engine demo`, or `train` then `score`)"
    return f"{scored[1]:,} customers scored as of {scored[0]} by model {scored[2]}"


@dataclass(frozen=True)
class Readiness:
    """Whether the churn pages can serve (like a readiness probe): `ready` False means
    show `message` (what is wrong and how to fix it) instead of scores."""

    ready: bool
    status: str  # ready / no_model / model_unavailable / not_scored
    message: str
    model_version: str | None = None


def model_readiness(wh: Warehouse, data_dir: str | Path | None = None) -> Readiness:
    """Production model present, its artifact verified, and scores written."""
    current = registry.production("churn", data_dir)
    if current is None:
        return Readiness(
            False,
            "no_model",
            "No production churn model yet, so there are no churn scores. An admin can create one with "
            "`python -m engine train` then `python -m engine score` (or `make run` for the demo).",
        )
    try:
        registry.verify(current, data_dir)
    except ModelUnavailableError as exc:
        return Readiness(False, "model_unavailable", f"The churn model cannot be used: {exc}", current.version)
    if not wh.scalar("SELECT count(*) FROM predictions"):
        return Readiness(
            False,
            "not_scored",
            f"Model {current.version} is ready but no customer has been scored yet. "
            "An admin can run `python -m engine score`.",
            current.version,
        )
    return Readiness(True, "ready", f"Scores by {current.version}.", current.version)
