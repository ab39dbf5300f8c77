"""What each loadable table accepts: its columns, their types, which are required, the
natural key, the allowed values and ranges, and the rules that span columns of a row.

TABLE_SPECS lists the warehouse tables a file may load; NOT_LOADABLE says why the others
are not (predictions, written by the scorer; ground_truth, the demo generator's oracle;
customer_attributes, the extra columns of the customers file). EVENT_LOG_SPEC is a raw
event log, rolled up into usage_daily. These names are also the allow-list of identifiers
the load's SQL may use.

A customers file needs only `customer_id` and `signup_date`: `name` defaults to the id and
`status` follows `churn_date` (see engine.data.ingest.customers); `plan_tier` is free text
(the order tiers are shown in is RADAR_PLAN_TIERS); `billing_cycle` is a number of months
(1, 3, 6, 12, 24 ...) or a word for one ("monthly", "quarterly", "annual" ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.core.renewal import CYCLE_WORDS
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
    words: Mapping[str, int] | None = None  # a number column that also reads these words (any case)
    derived: str = ""  # how the load fills the column when the file leaves it out (it may then be omitted)


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
            _C("name", TEXT, derived="the customer_id"),
            _C("plan_tier", TEXT),
            _C("industry", TEXT),
            _C("region", TEXT),
            _C("seats", INT, min_value=0),
            _C("signup_date", DATE, True),
            _C("contract_end_date", DATE, planned=True),
            _C("csm_owner", TEXT),
            _C("gtm_stage", TEXT),
            _C("status", TEXT, allowed=("active", "churned"), derived="churned when churn_date is given, else active"),
            _C("churn_date", DATE),
            _C(
                "billing_cycle",
                INT,
                min_value=1,
                max_value=120,
                words=CYCLE_WORDS,
                hint="a number of months: 1 monthly, 3 quarterly, 12 annual",
            ),
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
            RowCheck(
                "status",
                ("status", "churn_date"),
                "status = 'active' requires no churn_date",
                lambda f: f["status"].eq("active") & f["churn_date"].notna(),
                lambda r: f"status is 'active' but churn_date is {_date(r['churn_date'])}",
                "leave status empty (it follows churn_date), or empty churn_date if the customer is active",
            ),
        ),
    ),
    "subscriptions": TableSpec(
        "subscriptions",
        (
            _C("customer_id", TEXT, True),
            _C("product", TEXT, True),
            _C("start_date", DATE, True),
            _C("end_date", DATE, planned=True),
            _C("mrr", FLOAT, True, min_value=0, hint="the monthly recurring revenue the subscription pays"),
            _C("quantity", FLOAT, min_value=0),
            _C("bill_period_months", INT, min_value=1, max_value=120, words=CYCLE_WORDS),
            _C("discount", FLOAT, min_value=0, max_value=1, hint="a fraction: 0.2 is 20% off"),
        ),
        key=("customer_id", "product", "start_date"),
        checks=(
            RowCheck(
                "end_date",
                ("start_date", "end_date"),
                "end_date > start_date",
                lambda f: f["end_date"] <= f["start_date"],
                lambda r: (
                    f"end_date {_date(r['end_date'])} is not after start_date {_date(r['start_date'])}, "
                    "so the subscription never runs"
                ),
                "fix one of the two dates (end_date is the first day it no longer runs), or leave end_date empty",
            ),
        ),
    ),
    "mrr_history": TableSpec(
        "mrr_history",
        (
            _C("customer_id", TEXT, True),
            _C("month", DATE, True, month=True),
            _C("mrr", FLOAT, True, min_value=0, hint="record decreases with change_type 'contraction' or 'churn'"),
            _C("change_type", TEXT, True, ("new", "expansion", "contraction", "churn", "reactivation", "flat")),
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
            _C("value", FLOAT),  # the day's sum of the events' numeric values (NULL when they have none)
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

# Warehouse tables no file loads, and what to do instead.
NOT_LOADABLE = {
    "predictions": "predictions are written by the scorer (`.venv/bin/python -m engine score`), not loaded from files.",
    "ground_truth": "ground_truth holds the demo generator's true churn probabilities; it is not loaded from files.",
    "customer_attributes": (
        "custom account attributes are the extra columns of the customers file: add them there and load customers."
    ),
}
LOADABLE = (*TABLE_SPECS, EVENT_LOG)  # in load order: customers first


def spec_for(table: str, source: str) -> TableSpec:
    """The spec of `table` (a TABLE_SPECS name or "events"); refuses any other name."""
    name = (table or "").strip().lower()
    if name == EVENT_LOG:
        return EVENT_LOG_SPEC
    if name in TABLE_SPECS:
        return TABLE_SPECS[name]
    valid = ", ".join(LOADABLE)
    if name in NOT_LOADABLE:
        problem = file_problem(NOT_LOADABLE[name], f"Tables you can load: {valid}.")
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
    "LOADABLE",
    "NOT_LOADABLE",
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
