"""The names exports give the columns Customer Radar loads ("account_id" for customer_id,
"created_at" for a customer's signup_date, "ts_ms" for an event's timestamp).

`guess_mapping` offers them as the Data page's starting column mapping and as the fix a
refusal names; a file is never loaded through a guess nobody saw (the command line needs
`--map`, the page shows its pickers before Check and Load).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.data.ingest.specs import TableSpec, spec_for

_ACCOUNT = ("account_id", "account", "accountid", "customer", "client_id", "company_id", "org_id", "organization_id")

# Per column, the names a file may give it, most telling first; "*" applies to every table,
# a table name only to that table (created_at is a customer's signup but an event's time).
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "*": {
        "customer_id": _ACCOUNT,
        "user_id": ("user", "userid", "actor_id", "member_id", "actor"),
    },
    "customers": {
        "customer_id": (*_ACCOUNT, "id"),
        "name": ("account_name", "customer_name", "company_name", "company", "organization"),
        "signup_date": (
            "signup",
            "signed_up",
            "signed_up_at",
            "signup_at",
            "created_at",
            "created",
            "created_date",
            "join_date",
            "joined_at",
            "customer_since",
        ),
        "churn_date": ("churned_at", "churned_on", "cancel_date", "cancelled_at", "canceled_at", "cancellation_date"),
        "plan_tier": ("plan", "plan_name", "tier", "subscription_plan"),
        "csm_owner": ("owner", "account_owner", "csm", "success_manager", "customer_success_manager"),
        "industry": ("vertical", "sector"),
        "region": ("territory", "geo", "sales_region"),
        "seats": ("licenses", "licences", "seat_count", "licensed_seats"),
        "billing_cycle": ("billing_period", "billing_frequency", "billing_months", "bill_period_months"),
        "contract_end_date": ("contract_end", "contract_end_at", "contract_ends"),
    },
    "subscriptions": {
        "product": ("plan", "product_name", "plan_name", "sku", "item"),
        "start_date": ("started_at", "start", "period_start", "starts_at"),
        "end_date": ("ended_at", "end", "period_end", "ends_at", "cancelled_at", "canceled_at"),
        "mrr": ("monthly_amount", "monthly_revenue", "monthly_price", "amount"),
        "bill_period_months": (
            "bill_period",
            "billing_period_months",
            "period_months",
            "term_months",
            "billing_months",
        ),
    },
    "mrr_history": {"month": ("period", "month_start", "date"), "mrr": ("monthly_revenue", "revenue", "amount")},
    "events": {
        "timestamp": (
            "ts",
            "ts_ms",
            "time",
            "event_time",
            "event_timestamp",
            "occurred_at",
            "created_at",
            "datetime",
            "event_date",
        ),
        "event_type": ("event", "event_name", "action", "activity", "type"),
        "value": ("amount", "event_value", "metric_value"),
    },
}


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def guess_mapping(table: TableSpec | str, file_columns: Sequence[str]) -> dict[str, str]:
    """{table column: file column} for the table's columns the file does not name exactly,
    where one of the file's columns carries a known other name (and is not itself a table
    column's own name). Each file column is guessed for one table column at most."""
    spec = spec_for(table, table) if isinstance(table, str) else table
    by_key: dict[str, str] = {}
    for file_column in file_columns:
        by_key.setdefault(_key(str(file_column)), str(file_column))
    taken = {by_key[c.name] for c in spec.columns if c.name in by_key}
    guesses: dict[str, str] = {}
    for column in spec.columns:
        if column.name in by_key:
            continue
        names = (*ALIASES.get(spec.name, {}).get(column.name, ()), *ALIASES["*"].get(column.name, ()))
        found = next((by_key[n] for n in names if n in by_key and by_key[n] not in taken), None)
        if found is not None:
            guesses[column.name] = found
            taken.add(found)
    return guesses
