"""Portfolio figures for executives: customers, MRR/ARR, logo and revenue churn, NRR.

Definitions (shared by every function here, whatever loaded the warehouse):

* A customer is *active on day D* when `signup_date <= D` and (`churn_date` is null or
  `churn_date > D`). Churn is dated by `churn_date`; the `status` column describes the
  present, not D, so it is not used.
* A customer's *MRR on day D* is the `mrr` of their latest `mrr_history` row with
  `month <= D` (MRR carries forward when a month has no row); before their first row (they
  signed up this month), what their subscriptions running on D bill; 0 when they are not
  active on D or have neither.
* Time safety: a figure as of D reads only customers signed up by D, churn dates up to
  D, MRR rows with `month <= D` and subscriptions started by D; anything later cannot change it.
* Ratios whose denominator is zero (an empty warehouse, no customers a year ago) are
  `None`, not 0: "no data" must not read as "lost everything".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple

import pandas as pd

from engine.core.access import SYSTEM, Viewer
from engine.core.config import SMALL_COHORT
from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError
from engine.data.health import data_as_of
from engine.data.warehouse import Warehouse, billing_sql

TRAILING_DAYS = 90
NRR_MONTHS = 12

# One pass over customers and their MRR: who was active at the three dates, and the MRR
# each had then. Named parameters: $as_of, $start_90d, $start_12m.
_SNAPSHOT_SQL = """
WITH mrr_at AS (
    SELECT customer_id,
           arg_max(mrr, month) AS mrr_now,
           arg_max(mrr, month) FILTER (WHERE month <= $start_90d) AS mrr_90d,
           arg_max(mrr, month) FILTER (WHERE month <= $start_12m) AS mrr_12m
    FROM mrr_history
    WHERE month <= $as_of
    GROUP BY customer_id
),
-- An account with no month row yet (it signed up this month; derived rows start on the 1st) is
-- valued at what its running subscriptions bill, as scoring and the risk board value it.
billing_at AS (<BILLING>),
state AS (
    SELECT c.signup_date <= $as_of AND (c.churn_date IS NULL OR c.churn_date > $as_of) AS active_now,
           c.signup_date <= $start_90d AND (c.churn_date IS NULL OR c.churn_date > $start_90d) AS active_90d,
           c.signup_date <= $start_12m AND (c.churn_date IS NULL OR c.churn_date > $start_12m) AS active_12m,
           coalesce(m.mrr_now, b.mrr_now, 0) AS mrr_now,
           coalesce(m.mrr_90d, b.mrr_90d, 0) AS mrr_90d,
           coalesce(m.mrr_12m, b.mrr_12m, 0) AS mrr_12m
    FROM customers c
    LEFT JOIN mrr_at m ON m.customer_id = c.customer_id
    LEFT JOIN billing_at b ON b.customer_id = c.customer_id
    WHERE c.signup_date <= $as_of AND <BOOK>
),
valued AS (
    SELECT *, CASE WHEN active_now THEN mrr_now ELSE 0 END AS mrr_kept FROM state
)
SELECT
    count(*) FILTER (WHERE active_now) AS active_customers,
    coalesce(sum(mrr_now) FILTER (WHERE active_now), 0) AS total_mrr,
    count(*) FILTER (WHERE active_90d) AS customers_90d_ago,
    count(*) FILTER (WHERE active_90d AND NOT active_now) AS churned_customers_90d,
    coalesce(sum(mrr_90d) FILTER (WHERE active_90d), 0) AS mrr_90d_ago,
    coalesce(sum(greatest(mrr_90d - mrr_kept, 0)) FILTER (WHERE active_90d), 0) AS mrr_lost_90d,
    count(*) FILTER (WHERE active_12m) AS customers_12m_ago,
    count(*) FILTER (WHERE active_12m AND NOT active_now) AS churned_customers_12m,
    coalesce(sum(mrr_12m) FILTER (WHERE active_12m), 0) AS mrr_12m_ago,
    coalesce(sum(mrr_kept) FILTER (WHERE active_12m), 0) AS mrr_retained_12m
FROM valued
""".replace("<BILLING>", billing_sql(mrr_now="$as_of", mrr_90d="$start_90d", mrr_12m="$start_12m"))


class PortfolioKpis(Contract):
    """Headline figures as of one day, and the same figures 90 days earlier.

    Money is in the warehouse's currency per month (ARR per year); ratios are fractions
    (0.05 = 5%) or None when undefined.

    * active_customers: customers active on `as_of`.
    * total_mrr / arr: MRR of those customers on `as_of`; ARR = 12 x MRR.
    * logo_churn_90d: share of the customers active 90 days before `as_of` who churned
      by `as_of` (churned_customers_90d / customers_90d_ago). Customers who signed up
      inside the window are not in the cohort.
    * gross_revenue_churn_90d: MRR lost to churn and contraction by that same cohort
      (mrr_lost_90d: per customer, their MRR 90 days ago minus their MRR now, floored
      at 0, all of it when they churned) over the cohort's MRR 90 days ago. Expansion
      does not offset it.
    * net_revenue_retention_12m: MRR now of the customers active 12 months before
      `as_of` (0 for those who churned) over their MRR then; above 1 means expansion
      outgrew churn and contraction.
    * customers_12m_ago: the size of that NRR cohort; churned_customers_12m: how many of it
      churned by `as_of` (`logo_churn_12m` is their share: a year's logo churn).
    * previous: the same figures as of `as_of - 90 days` (None on that inner object and
      when there is no data at all).

    A rate on fewer than SMALL_COHORT customers moves by points with one of them
    (`comparable` says whether two of them can be set side by side).
    """

    as_of: date | None
    active_customers: int
    total_mrr: float
    arr: float
    logo_churn_90d: float | None
    gross_revenue_churn_90d: float | None
    net_revenue_retention_12m: float | None
    churned_customers_90d: int
    customers_90d_ago: int
    mrr_lost_90d: float
    customers_12m_ago: int = 0
    churned_customers_12m: int = 0
    previous: PortfolioKpis | None = None

    @property
    def logo_churn_12m(self) -> float | None:
        """The share of the customers active 12 months before `as_of` who churned by `as_of`."""
        return _ratio(self.churned_customers_12m, self.customers_12m_ago)

    def cohort(self, rate: str) -> int:
        """How many customers the ratio `rate` (a field or property name) rests on."""
        return self.customers_12m_ago if rate.endswith("_12m") else self.customers_90d_ago

    def comparable(self, rate: str) -> bool:
        """Whether `rate` and the previous period's rest on at least SMALL_COHORT customers each."""
        prev = self.previous
        return prev is not None and min(self.cohort(rate), prev.cohort(rate)) >= SMALL_COHORT

    @property
    def window_start_90d(self) -> date | None:
        """The day the 90-day churn cohort is taken (as_of - 90 days)."""
        return self.as_of - timedelta(days=TRAILING_DAYS) if self.as_of else None

    def as_frame(self) -> pd.DataFrame:
        """One row per figure: metric, current, previous (for CSV export)."""
        names = (
            "active_customers",
            "total_mrr",
            "arr",
            "logo_churn_90d",
            "gross_revenue_churn_90d",
            "net_revenue_retention_12m",
            "churned_customers_90d",
            "customers_90d_ago",
            "mrr_lost_90d",
            "customers_12m_ago",
            "churned_customers_12m",
        )
        prev = self.previous
        return pd.DataFrame(
            {
                "metric": ["as_of", *names],
                "current": [self.as_of, *(getattr(self, n) for n in names)],
                "previous": [prev.as_of if prev else None, *(getattr(prev, n) if prev else None for n in names)],
            }
        )


def _resolve_as_of(wh: Warehouse, as_of: date | datetime | None) -> date | None:
    if as_of is None:
        as_of = data_as_of(wh)
    if isinstance(as_of, datetime):  # also pandas Timestamp
        return as_of.date()
    return as_of


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (clamped to the month's end)."""
    return (pd.Timestamp(day) - pd.DateOffset(months=months)).date()


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def _empty_kpis(as_of: date | None) -> PortfolioKpis:
    return PortfolioKpis(
        as_of=as_of,
        active_customers=0,
        total_mrr=0.0,
        arr=0.0,
        logo_churn_90d=None,
        gross_revenue_churn_90d=None,
        net_revenue_retention_12m=None,
        churned_customers_90d=0,
        customers_90d_ago=0,
        mrr_lost_90d=0.0,
    )


def _snapshot(wh: Warehouse, as_of: date, viewer: Viewer) -> PortfolioKpis:
    book, bound = viewer.owner_filter_named("c.csm_owner")
    params = {
        "as_of": as_of,
        "start_90d": as_of - timedelta(days=TRAILING_DAYS),
        "start_12m": months_before(as_of, NRR_MONTHS),
        **bound,
    }
    row = wh.df(_SNAPSHOT_SQL.replace("<BOOK>", book), params).iloc[0]
    total_mrr = float(row["total_mrr"])
    return PortfolioKpis(
        as_of=as_of,
        active_customers=int(row["active_customers"]),
        total_mrr=total_mrr,
        arr=total_mrr * 12,
        logo_churn_90d=_ratio(row["churned_customers_90d"], row["customers_90d_ago"]),
        gross_revenue_churn_90d=_ratio(row["mrr_lost_90d"], row["mrr_90d_ago"]),
        net_revenue_retention_12m=_ratio(row["mrr_retained_12m"], row["mrr_12m_ago"]),
        churned_customers_90d=int(row["churned_customers_90d"]),
        customers_90d_ago=int(row["customers_90d_ago"]),
        mrr_lost_90d=float(row["mrr_lost_90d"]),
        customers_12m_ago=int(row["customers_12m_ago"]),
        churned_customers_12m=int(row["churned_customers_12m"]),
    )


def portfolio_kpis(wh: Warehouse, as_of: date | None = None, viewer: Viewer = SYSTEM) -> PortfolioKpis:
    """Headline KPIs as of `as_of` (default: the data's latest day) with the previous
    period (90 days earlier) in `.previous`. See `PortfolioKpis` for each figure. A CSM
    `viewer` gets the figures of their own book: the accounts they own today, then and now.

    An empty warehouse gives zeros and None ratios, never an exception.
    """
    as_of = _resolve_as_of(wh, as_of)
    if as_of is None:
        return _empty_kpis(None)
    current = _snapshot(wh, as_of, viewer)
    previous = _snapshot(wh, as_of - timedelta(days=TRAILING_DAYS), viewer)
    return current.model_copy(update={"previous": previous})


# A company without plan tiers (plan_tier is optional) has one group, named, not NULL: a NULL
# tier matched no tier in the joins ("No data") and broke the heatmap's labels.
NO_PLAN = "no plan"
NO_PLAN_SQL = f"coalesce(nullif(trim(c.plan_tier), ''), '{NO_PLAN}')"
UNKNOWN = "unknown"


class Grouping(NamedTuple):
    """A way to split the book on the overview: a profile column, or one of the company's own
    category attributes (a custom column of its customers file)."""

    key: str  # plan_tier, industry, region, or the attribute's name
    label: str  # as a title says it: "plan tier", "acquisition channel"
    attribute: bool = False
    top: int | None = None  # an attribute of many values: its `top` most common, the rest as OTHER

    def sql(self, param: str) -> str:
        """The group of customer `c` as text (missing ones named); `param` binds the attribute's name."""
        if not self.attribute:
            if self.key == EVERYONE_KEY:
                return f"'{ALL_ACCOUNTS}'"
            if self.key == "plan_tier":
                return NO_PLAN_SQL
            return f"coalesce(nullif(trim(c.{self.key}), ''), '{UNKNOWN}')"
        value = "x.text_value"
        if self.top is not None:
            common = (
                "SELECT t.text_value FROM customer_attributes t "  # noqa: S608 - the name is bound
                f"WHERE t.attribute = ${param} AND t.text_value IS NOT NULL "
                f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {int(self.top)}"
            )
            value = f"CASE WHEN x.text_value IN ({common}) THEN x.text_value ELSE '{OTHER}' END"
        return (
            f"coalesce((SELECT {value} FROM customer_attributes x "  # noqa: S608 - the name is bound
            f"WHERE x.customer_id = c.customer_id AND x.attribute = ${param}), '{UNKNOWN}')"
        )


EVERYONE_KEY, ALL_ACCOUNTS = "all_accounts", "All accounts"
# A company that loaded nothing to split by (the minimal customers file): one group, said as the book.
EVERYONE = Grouping(EVERYONE_KEY, "all accounts")
PLAN = Grouping("plan_tier", "plan tier")
INDUSTRY = Grouping("industry", "industry")
REGION = Grouping("region", "region")
MAX_GROUPS = 12  # more rows would not read on a chart: an attribute with more levels (country, say)
OTHER = "Other"  # keeps its MAX_GROUPS - 1 most common and puts the rest here


def overview_groupings(wh: Warehouse) -> tuple[Grouping, Grouping | None]:
    """How the overview splits the book: plan tier by industry when they are loaded; otherwise
    the loaded ones and the company's own category attributes (those of 2..MAX_GROUPS levels
    first, the most filled first; one of more levels, country say, keeps its most common and
    groups the rest as OTHER), so a company that loaded no plan tiers does not get one "no
    plan" cell; with none of these, EVERYONE (the book as one group)."""
    filled = wh.rows("SELECT count(plan_tier), count(industry), count(region) FROM customers")[0]
    columns = [g for g, n in zip((PLAN, INDUSTRY, REGION), filled, strict=True) if n]
    attributes = [
        Grouping(name, name.replace("_", " "), attribute=True, top=None if levels <= MAX_GROUPS else MAX_GROUPS - 1)
        for name, levels in wh.rows(
            "SELECT attribute, count(DISTINCT text_value) FROM customer_attributes "
            "WHERE kind = 'category' AND text_value IS NOT NULL "
            "GROUP BY attribute HAVING count(DISTINCT text_value) >= 2 "
            "ORDER BY count(DISTINCT text_value) > ?, count(*) DESC, attribute",
            [MAX_GROUPS],
        )
    ]
    found = [*columns, *attributes]
    if not found:
        return EVERYONE, None
    return found[0], found[1] if len(found) > 1 else None


def _grouped(sql: str, rows: Grouping, columns: Grouping | None = None) -> tuple[str, dict[str, str]]:
    """`sql` with {rows} / {columns} as the groups' expressions, and the attribute names to bind."""
    params = {"row_attribute": rows.key} if rows.attribute else {}
    if columns is not None and columns.attribute:
        params["column_attribute"] = columns.key
    column_sql = columns.sql("column_attribute") if columns is not None else "'all accounts'"
    return sql.replace("{rows}", rows.sql("row_attribute")).replace("{columns}", column_sql), params


_MRR_BY_PLAN_SQL = """
WITH bounds AS (
    SELECT date_trunc('month', min(month))::DATE AS first_month FROM mrr_history WHERE month <= $as_of
),
months AS (
    -- Each month is valued on its last day, or on as_of for the month containing it.
    SELECT r.range::DATE AS month,
           least(r.range + INTERVAL 1 MONTH - INTERVAL 1 DAY, $as_of)::DATE AS valued_on
    FROM bounds, range(bounds.first_month, $as_of::DATE + INTERVAL 1 DAY, INTERVAL 1 MONTH) AS r
    WHERE bounds.first_month IS NOT NULL
),
active AS (
    SELECT m.month, m.valued_on, c.customer_id, {rows} AS plan_tier
    FROM months m
    JOIN customers c
      ON c.signup_date <= m.valued_on AND (c.churn_date IS NULL OR c.churn_date > m.valued_on)
),
spans AS (
    -- Each MRR row holds until the customer's next row (a range join; ASOF was slower).
    SELECT customer_id, mrr, month AS valid_from,
           lead(month, 1, DATE '9999-12-31') OVER (PARTITION BY customer_id ORDER BY month) AS valid_to
    FROM mrr_history
    WHERE month <= $as_of
),
billing AS (
    -- before an account's first month row: what its running subscriptions bill (as the KPI)
    SELECT m.month, b.customer_id, sum(b.mrr) AS mrr
    FROM months m
    JOIN subscriptions b ON b.start_date <= m.valued_on AND (b.end_date IS NULL OR b.end_date > m.valued_on)
    GROUP BY ALL
),
valued AS (
    SELECT a.month, a.plan_tier, s.mrr
    FROM active a
    JOIN spans s
      ON s.customer_id = a.customer_id AND a.valued_on >= s.valid_from AND a.valued_on < s.valid_to
    UNION ALL
    SELECT a.month, a.plan_tier, b.mrr
    FROM active a
    JOIN billing b ON b.month = a.month AND b.customer_id = a.customer_id
    WHERE NOT EXISTS (SELECT 1 FROM mrr_history h WHERE h.customer_id = a.customer_id AND h.month <= a.valued_on)
),
totals AS (
    SELECT month, plan_tier, sum(mrr) AS mrr FROM valued GROUP BY month, plan_tier
),
tiers AS (
    SELECT DISTINCT {rows} AS plan_tier FROM customers c WHERE signup_date <= $as_of
)
SELECT m.month, t.plan_tier, coalesce(s.mrr, 0) AS mrr
FROM months m
CROSS JOIN tiers t
LEFT JOIN totals s ON s.month = m.month AND s.plan_tier = t.plan_tier
ORDER BY m.month, t.plan_tier
"""


def mrr_by_plan(wh: Warehouse, as_of: date | None = None, by: Grouping = PLAN) -> pd.DataFrame:
    """MRR per plan tier (or the groups of `by`, in the same column) per month, up to the month
    containing `as_of`.

    Long frame `month` (first day, datetime64), `plan_tier`, `mrr`; every tier has a
    row in every month (0 when it had no revenue). Each month is valued like
    `PortfolioKpis.total_mrr` on the month's last day (on `as_of` for the last month),
    so the last month's total equals the KPI. Empty when there is no MRR data.
    """
    as_of = _resolve_as_of(wh, as_of)
    if as_of is None:
        return pd.DataFrame(
            {
                "month": pd.Series(dtype="datetime64[us]"),
                "plan_tier": pd.Series(dtype=str),
                "mrr": pd.Series(dtype=float),
            }
        )
    sql, params = _grouped(_MRR_BY_PLAN_SQL, by)
    return wh.df(sql, {"as_of": as_of, **params})


_CHURN_BY_SEGMENT_SQL = """
SELECT {rows} AS plan_tier,
       {columns} AS industry,
       count(*) AS customers,
       count(*) FILTER (WHERE churn_date > $window_start AND churn_date <= $as_of) AS churned
FROM customers c
WHERE signup_date <= $as_of AND (churn_date IS NULL OR churn_date > $window_start)
GROUP BY ALL
ORDER BY plan_tier, industry
"""


def churn_by_plan_industry(
    wh: Warehouse,
    as_of: date | None = None,
    months: int = 12,
    by: tuple[Grouping, Grouping | None] = (PLAN, INDUSTRY),
) -> pd.DataFrame:
    """Logo churn per plan tier x industry (or the groups of `by`, in the same two columns;
    one column "all accounts" when the second is None) over the `months` calendar months up to `as_of`.

    Columns `plan_tier`, `industry` (missing ones as 'unknown'), `customers` (active at
    the window start or signed up inside it), `churned` (of those, churned in
    (window start, as_of]) and `churn_rate` = churned / customers. Only segments with
    customers appear; empty frame for an empty warehouse.
    """
    if months < 1:
        raise BadInputError(f"The churn window must be at least one month (got {months}).")
    as_of = _resolve_as_of(wh, as_of)
    columns = {"plan_tier": str, "industry": str, "customers": "int64", "churned": "int64", "churn_rate": float}
    if as_of is None:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
    sql, params = _grouped(_CHURN_BY_SEGMENT_SQL, *by)
    frame = wh.df(sql, {"as_of": as_of, "window_start": months_before(as_of, months), **params})
    frame = frame.astype({"customers": "int64", "churned": "int64"})
    frame["churn_rate"] = frame["churned"] / frame["customers"]
    return frame


# -- churn risk across the portfolio (from the scored board, already scoped to a viewer) --
class RiskSummary(Contract):
    """Revenue at risk = sum over scored accounts of churn probability x MRR x 12 (ARR)."""

    accounts: int
    arr: float
    revenue_at_risk: float
    revenue_at_risk_low: float  # the same sum over the interval bounds
    revenue_at_risk_high: float
    expected_churned_accounts: float
    mean_probability: float | None
    by_tier: Table  # risk_tier, accounts, arr, revenue_at_risk


def risk_summary(board: pd.DataFrame) -> RiskSummary:
    arr = board["mrr"] * 12
    tiers = (
        board.assign(arr=arr)
        .groupby("risk_tier", observed=True)
        .agg(accounts=("customer_id", "size"), arr=("arr", "sum"), revenue_at_risk=("revenue_at_risk", "sum"))
        .reset_index()
    )
    return RiskSummary(
        accounts=len(board),
        arr=float(arr.sum()),
        revenue_at_risk=float(board["revenue_at_risk"].sum()),
        revenue_at_risk_low=float((board["ci_low"] * arr).sum()),
        revenue_at_risk_high=float((board["ci_high"] * arr).sum()),
        expected_churned_accounts=float(board["churn_probability"].sum()),
        mean_probability=float(board["churn_probability"].mean()) if len(board) else None,
        by_tier=tiers,
    )


def customer_groups(wh: Warehouse, by: tuple[Grouping, Grouping | None] = (PLAN, INDUSTRY)) -> pd.DataFrame:
    """Each customer's groups under `by`: customer_id, plan_tier (the first), industry (the second),
    named as churn_by_plan_industry names them (missing ones are groups of their own)."""
    sql, params = _grouped("SELECT c.customer_id, {rows} AS plan_tier, {columns} AS industry FROM customers c", *by)
    return wh.df(sql, params)


def churn_risk_by_plan_industry(board: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Mean predicted 90-day churn probability per plan tier x industry (with account counts);
    `groups` (customer_groups) says each account's two groups."""
    return (
        board[["customer_id", "churn_probability"]]
        .merge(groups, on="customer_id", how="left", validate="one_to_one")
        .groupby(["plan_tier", "industry"], observed=True)
        .agg(mean_probability=("churn_probability", "mean"), customers=("customer_id", "size"))
        .reset_index()
    )


def top_at_risk(board: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    return board.nlargest(n, "revenue_at_risk")


def export_frame(board: pd.DataFrame) -> pd.DataFrame:
    """Board rows for a CSV download: the risk board's export columns (warehouse names)."""
    from engine.accounts.board import export_frame as board_export

    return board_export(board)
