"""What each loadable table accepts: its columns, their types, which are required, the
natural key, the allowed values and ranges, and the rules that span columns of a row.

TABLE_SPECS lists the warehouse tables a file may load (every table but predictions, which
the scorer writes); EVENT_LOG_SPEC is a raw event log, rolled up into usage_daily.
These names are also the allow-list of identifiers the load's SQL may use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.data.ingest.report import file_problem, refuse

TEXT, INT, FLOAT, DATE, TIMESTAMP = "text", "int", "float", "date", "timestamp"
SQL_TYPES = {TEXT: "VARCHAR", INT: "INTEGER", FLOAT: "DOUBLE", DATE: "DATE", TIMESTAMP: "TIMESTAMP"}
INT32 = (-(2**31), 2**31 - 1)
EVENT_LOG = "events"


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
    """A rule over several columns of one row; `bad` marks the rows that break it.

    `explain(row)` says what is wrong with a breaking row, `fix` what to do about it.
    """

    column: str  # the column named in the problem
    uses: tuple[str, ...]
    rule: str
    bad: Callable[[pd.DataFrame], pd.Series]
    explain: Callable[[pd.Series], str]
    fix: str


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
                    f"churn_date {_date(r['churn_date'])} is before signup_date {_date(r['signup_date'])}, "
                    "and a customer cannot churn before signing up"
                ),
                "fix one of the two dates",
            ),
            RowCheck(
                "churn_date",
                ("status", "churn_date"),
                "status = 'churned' requires churn_date",
                lambda f: f["status"].eq("churned") & f["churn_date"].isna(),
                lambda r: "status is 'churned' but churn_date is empty",
                "add the date the customer churned (YYYY-MM-DD), or set status to 'active'",
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
                    f"closed_at {_stamp(r['closed_at'])} is before opened_at {_stamp(r['opened_at'])}, "
                    "and a ticket cannot close before it opens"
                ),
                "fix one of the two",
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
        _C("value", FLOAT, min_value=0),  # summed per customer, day and event type into usage_daily.value
    ),
    key=(),  # a log may repeat identical events; each one counts; rolled up by engine.data.ingest.events
)


def spec_for(table: str, source: str) -> TableSpec:
    """The spec of `table` (a TABLE_SPECS name or "events"); refuses any other name."""
    name = (table or "").strip().lower()
    if name == EVENT_LOG:
        return EVENT_LOG_SPEC
    if name in TABLE_SPECS:
        return TABLE_SPECS[name]
    valid = ", ".join([*TABLE_SPECS, EVENT_LOG])
    if name == "predictions":
        problem = file_problem(
            "predictions are written by the scorer (`.venv/bin/python -m engine score`), not loaded from files.",
            f"Tables you can load: {valid}.",
        )
    else:
        problem = file_problem(
            f"unknown table '{table}'.", f"Tables you can load: {valid} ('{EVENT_LOG}' is a raw event log)."
        )
    raise refuse(table, source, problem)


def expected_columns(table: str) -> tuple[ColumnSpec, ...]:
    """The columns a file for `table` (or "events") may supply; `required` marks the must-haves."""
    return spec_for(table, table).columns


__all__ = [
    "DATE",
    "EVENT_LOG",
    "EVENT_LOG_SPEC",
    "FLOAT",
    "INT",
    "SQL_TYPES",
    "TABLE_SPECS",
    "TEXT",
    "TIMESTAMP",
    "ColumnSpec",
    "RowCheck",
    "TableSpec",
    "expected_columns",
    "spec_for",
]
