"""Rows that name a customer the warehouse does not know.

A child table (subscriptions, MRR, usage, tickets, events ...) loaded before its customers,
or exported with another id scheme, would otherwise give one problem per row: thousands of
identical lines. It gives ONE problem instead: how many ids are unknown and a few examples,
and what to do ("load customers first: 7,671 customer ids are unknown, e.g. A1, A2, A3").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.data.ingest.report import Problem, map_hint

EXAMPLES = 3
LOAD_CUSTOMERS = (
    "Load the customers file first (on the Data page, or: .venv/bin/python -m engine ingest customers FILE), "
    f"or fix the ids (or {map_hint('customer_id')})."
)


def unknown_customers(
    cur: Any, relation: str, params: Sequence[Any] = (), column: str = '"customer_id"'
) -> tuple[int, list[str]]:
    """(number of distinct unknown customer ids, up to EXAMPLES of them, smallest first) in `relation`.

    `relation` is a FROM-able SQL fragment built by the caller from identifiers only (a temp
    table's quoted name, or `read_parquet(?)`), `params` its bound values, `column` the quoted
    column holding the customer id.
    """
    statement = (
        f"WITH unknown AS (SELECT DISTINCT CAST(r.{column} AS VARCHAR) AS id FROM {relation} r "  # noqa: S608
        f"WHERE r.{column} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM customers c WHERE c.customer_id = CAST(r.{column} AS VARCHAR))) "
        f"SELECT (SELECT count(*) FROM unknown), (SELECT list(id ORDER BY id) FROM (SELECT id FROM unknown "
        f"ORDER BY id LIMIT {EXAMPLES}))"
    )
    count, examples = cur.execute(statement, list(params)).fetchall()[0]
    return int(count), list(examples or [])


def unknown_customers_problem(count: int, examples: Sequence[str]) -> Problem | None:
    """The one problem for `count` unknown customer ids (None when there are none)."""
    if count <= 0:
        return None
    noun = "customer id is" if count == 1 else "customer ids are"
    shown = ", ".join(str(e) for e in list(examples)[:EXAMPLES])
    return Problem(
        column="customer_id",
        message=f"load customers first: {count:,} {noun} unknown, e.g. {shown}.",
        fix=LOAD_CUSTOMERS,
    )


__all__ = ["unknown_customers", "unknown_customers_problem"]
