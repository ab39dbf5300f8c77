"""From subscriptions to monthly MRR and churn dates, inside the subscriptions load's transaction.

After a subscriptions file is merged, for every customer it names (and only those):

* mrr_history is re-derived from ALL that customer's subscriptions in the warehouse and
  REPLACES the customer's mrr_history rows. The rule: month M is the first day of a month;
  the customer's MRR in M is the sum of `mrr` of its subscriptions active on M's first day
  (start_date <= first day < end_date, or end_date empty). So a subscription counts from
  the first month that begins after (or on) its start, and `end_date` is the first day it
  no longer runs. Months run from the month of the customer's first start_date to the
  month of the data date. change_type compares M with the month before:
  new (first time above 0), reactivation (above 0 again after a 0), expansion (up),
  contraction (down, still above 0), churn (down to 0: a row with mrr 0), flat (equal).
  Months at 0 after a churn have no row, as in mrr_history loaded directly.
* customers.churn_date and status follow the subscriptions: a customer with no
  subscription active on the data date churned on its latest end_date; one with an active
  subscription has no churn date (it is 'active'). A churn date the customers file gave is
  kept: the derived value replaces only an empty churn_date or one equal to what the
  subscriptions implied before this load (i.e. derived earlier), and never a churn before
  signup.

The data date is the newest plausible date in the warehouse's activity (usage, tickets,
signups, churn dates) and subscription starts. End dates do not count: an export often
holds the end of a paid term that lies after the last day it recorded.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from engine.core import config

CHANGE_TYPES = ("new", "expansion", "contraction", "churn", "reactivation", "flat")


_TEMP_TABLE = re.compile(r"_ingest_[a-z]+_[0-9a-f]{12}")  # the names load.py gives its temp tables


def _sql(template: str, **temp_tables: str) -> str:
    """`template` with the load's own temp-table names, each checked and quoted (no values)."""
    bare = {k: v.strip('"') for k, v in temp_tables.items()}
    for name in bare.values():
        if not _TEMP_TABLE.fullmatch(name):
            raise ValueError(f"{name!r} is not an ingest temp table")
    return template.format(**{k: f'"{v}"' for k, v in bare.items()})


def data_date(cur: Any) -> date | None:
    """The data's "today" as this transaction sees it (see the module doc). A subscription's
    end date is not activity: it is often the end of a paid term that lies after the last
    thing the export recorded, so only starts count."""
    start, end = config.earliest_date(), config.latest_date()
    found = cur.execute(
        "SELECT max(d) FROM (SELECT max(date) AS d FROM usage_daily WHERE date BETWEEN ? AND ? "
        "UNION ALL SELECT max(opened_at)::DATE FROM support_tickets WHERE opened_at::DATE BETWEEN ? AND ? "
        "UNION ALL SELECT max(signup_date) FROM customers WHERE signup_date BETWEEN ? AND ? "
        "UNION ALL SELECT max(churn_date) FROM customers WHERE churn_date BETWEEN ? AND ? "
        "UNION ALL SELECT max(start_date) FROM subscriptions WHERE start_date BETWEEN ? AND ?)",
        [start, end] * 5,
    ).fetchall()[0][0]
    return found


def churn_dates(cur: Any, customers: str, into: str, as_of: date | None) -> None:
    """Temp table `into` (customer_id, churn): each listed customer's churn date by its subscriptions."""
    cur.execute(
        f"CREATE TEMP TABLE {into} AS SELECT k.customer_id, "  # noqa: S608 - engine-made temp names
        "CASE WHEN bool_or(s.start_date <= ? AND (s.end_date IS NULL OR s.end_date > ?)) THEN NULL "
        "ELSE max(s.end_date) END AS churn "
        f"FROM {customers} k JOIN subscriptions s ON s.customer_id = k.customer_id GROUP BY k.customer_id",
        [as_of, as_of],
    )


def derive_mrr_history(cur: Any, customers: str, history: str, as_of: date) -> dict[str, int]:
    """Replace the listed customers' mrr_history by the rule in the module doc (via temp table
    `history`); rows per change type."""
    cur.execute(
        f"""CREATE TEMP TABLE {history} AS
        WITH subs AS (
            SELECT s.* FROM subscriptions s JOIN {customers} k ON k.customer_id = s.customer_id
        ), span AS (
            SELECT customer_id, date_trunc('month', min(start_date))::DATE AS first_month FROM subs GROUP BY 1
        ), months AS (
            SELECT customer_id, CAST(unnest(generate_series(first_month, date_trunc('month', ?::DATE)::DATE,
                INTERVAL 1 MONTH)) AS DATE) AS month FROM span
        ), monthly AS (
            SELECT m.customer_id, m.month, coalesce(sum(s.mrr) FILTER (
                WHERE s.start_date <= m.month AND (s.end_date IS NULL OR s.end_date > m.month)), 0) AS mrr
            FROM months m JOIN subs s ON s.customer_id = m.customer_id GROUP BY m.customer_id, m.month
        ), compared AS (
            SELECT *, coalesce(lag(mrr) OVER w, 0) AS before,
                coalesce(max(mrr) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS ever
            FROM monthly WINDOW w AS (PARTITION BY customer_id ORDER BY month)
        )
        SELECT customer_id, month, mrr, CASE
            WHEN mrr > 0 AND before = 0 AND ever = 0 THEN 'new'
            WHEN mrr > 0 AND before = 0 THEN 'reactivation'
            WHEN mrr = 0 THEN 'churn'
            WHEN abs(mrr - before) < 1e-9 THEN 'flat'
            WHEN mrr > before THEN 'expansion'
            ELSE 'contraction' END AS change_type
        FROM compared WHERE mrr > 0 OR before > 0""",  # noqa: S608 - engine-made temp names
        [as_of],
    )
    cur.execute(
        _sql("DELETE FROM mrr_history WHERE customer_id IN (SELECT customer_id FROM {customers})", customers=customers)
    )
    cur.execute(
        f"INSERT INTO mrr_history (customer_id, month, mrr, change_type) "  # noqa: S608
        f"SELECT customer_id, month, mrr, change_type FROM {history}"
    )
    counts = dict(
        cur.execute(_sql("SELECT change_type, count(*) FROM {history} GROUP BY 1", history=history)).fetchall()
    )
    cur.execute(_sql("DROP TABLE {history}", history=history))
    return {kind: int(counts.get(kind, 0)) for kind in CHANGE_TYPES}


def apply_churn_dates(cur: Any, before: str, after: str) -> tuple[int, int]:
    """Set churn_date/status from `after` where the file gave none (see the module doc); (churned, active again)."""
    rows = cur.execute(
        f"""UPDATE customers AS c SET churn_date = a.churn,
            status = CASE WHEN a.churn IS NULL THEN 'active' ELSE 'churned' END
        FROM {after} a LEFT JOIN {before} b ON b.customer_id = a.customer_id
        WHERE c.customer_id = a.customer_id
          AND (c.churn_date IS NULL OR c.churn_date = b.churn)
          AND c.churn_date IS DISTINCT FROM a.churn
          AND (a.churn IS NULL OR a.churn >= c.signup_date)
        RETURNING c.churn_date IS NULL""",  # noqa: S608 - engine-made temp names
    ).fetchall()
    reactivated = sum(1 for (active,) in rows if active)
    return len(rows) - reactivated, reactivated


def describe(customers: int, counts: dict[str, int], churned: int, reactivated: int) -> list[str]:
    """The report's notes about what was derived."""
    rows = sum(counts.values())
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in counts.items() if n)
    notes = [
        f"derived mrr_history for {customers:,} customer{'s' if customers != 1 else ''} from their subscriptions: "
        f"{rows:,} monthly rows ({kinds or 'none'}), replacing their previous mrr_history rows"
    ]
    if churned or reactivated:
        notes.append(
            f"set churn dates from subscriptions: {churned:,} customer{'s' if churned != 1 else ''} churned, "
            f"{reactivated:,} active again"
        )
    return notes


def prepare(cur: Any, stage: str, keys: str, before: str) -> None:
    """Before the merge: the file's customers (`keys`) and their churn dates as the stored subscriptions imply."""
    cur.execute(_sql("CREATE TEMP TABLE {keys} AS SELECT DISTINCT customer_id FROM {stage}", keys=keys, stage=stage))
    churn_dates(cur, keys, before, data_date(cur))


def derive(cur: Any, keys: str, before: str, after: str, history: str) -> list[str]:
    """After the merge: the file's customers' mrr_history and churn dates re-derived; the report's notes."""
    as_of = data_date(cur)
    if as_of is None:
        return []
    counts = derive_mrr_history(cur, keys, history, as_of)
    churn_dates(cur, keys, after, as_of)
    churned, reactivated = apply_churn_dates(cur, before, after)
    customers = cur.execute(_sql("SELECT count(*) FROM {keys}", keys=keys)).fetchall()[0][0]
    return describe(int(customers), counts, churned, reactivated)


__all__ = [
    "CHANGE_TYPES",
    "apply_churn_dates",
    "churn_dates",
    "data_date",
    "derive",
    "derive_mrr_history",
    "describe",
    "prepare",
]
