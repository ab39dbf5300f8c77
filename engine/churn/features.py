"""Point-in-time features for churn modelling, computed in DuckDB.

`features_as_of(wh, D)` describes every customer active at D using only rows dated on
or before D: usage up to D, tickets opened up to D (a ticket closed after D counts as
open), CSAT and resolution times of tickets closed by D, MRR rows for months starting
by D, risk signals published by D, opportunities created by D. Columns of the
customers table that describe "now" rather than D (status, gtm_stage,
contract_end_date) are not read; the renewal date and GTM stage at D are re-derived.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pandas as pd

from engine.core.renewal import billing_cycle_label_sql, renewal_date_sql
from engine.data.warehouse import Warehouse


@dataclass(frozen=True)
class Feature:
    name: str
    label: str  # how a person says it
    kind: str = "numeric"  # or "categorical"


FEATURES: tuple[Feature, ...] = (
    Feature("tenure_days", "Tenure (days)"),
    Feature("plan_tier", "Plan", "categorical"),
    Feature("billing_cycle", "Billing cycle", "categorical"),
    Feature("industry", "Industry", "categorical"),
    Feature("region", "Region", "categorical"),
    Feature("gtm_stage", "GTM stage", "categorical"),
    Feature("seats", "Seats"),
    Feature("mrr", "MRR"),
    Feature("mrr_change_90d", "MRR change over 90 days"),
    Feature("expansions_12m", "Expansions in 12 months"),
    Feature("contractions_12m", "Contractions in 12 months"),
    Feature("events_last_7d", "Events in the last 7 days"),
    Feature("events_last_30d", "Events in the last 30 days"),
    Feature("events_prev_30d", "Events in the 30 days before that"),
    Feature("events_last_90d", "Events in the last 90 days"),
    Feature("events_per_seat_30d", "Events per seat (30 days)"),
    Feature("usage_decay_score", "Usage decay"),
    Feature("usage_trend", "Usage trend (last 30 vs 60-90 days ago)"),
    Feature("active_users_30d", "Daily active users (four-week average)"),
    Feature("seat_utilization", "Seat utilisation"),
    Feature("active_users_change", "Change in daily active users"),
    Feature("days_since_last_event", "Days since last activity"),
    Feature("feature_breadth_30d", "Product areas used (30 days)"),
    Feature("feature_breadth_change", "Change in product areas used"),
    Feature("tickets_30d", "Support tickets (30 days)"),
    Feature("tickets_90d", "Support tickets (90 days)"),
    Feature("high_priority_tickets_90d", "High-priority tickets (90 days)"),
    Feature("open_tickets", "Open tickets"),
    Feature("avg_resolution_hours_90d", "Average resolution time (hours)"),
    Feature("csat_avg_90d", "CSAT (90-day average)"),
    Feature("csat_responses_90d", "CSAT responses (90 days)"),
    Feature("compliance_gap_score", "Compliance gap score"),
    Feature("compliance_gap_change", "Change in compliance gap"),
    Feature("vendor_risk_flags", "Vendor risk flags"),
    Feature("vendor_risk_flags_avg_3m", "Vendor risk flags (3-month average)"),
    Feature("days_to_renewal", "Days to renewal"),
    Feature("renewal_within_90d", "Renewal within 90 days"),
    Feature("open_renewal_opportunity", "Open renewal opportunity"),
    Feature("open_expansion_opportunity", "Open expansion opportunity"),
    Feature("open_expansion_amount_ratio", "Open expansion pipeline / ARR"),
    Feature("expansion_won_12m", "Expansions won in 12 months"),
    Feature("opportunities_lost_12m", "Opportunities lost in 12 months"),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
CATEGORICAL = tuple(f.name for f in FEATURES if f.kind == "categorical")
LABELS = {f.name: f.label for f in FEATURES}


# One statement, one parameter (the as-of date D), every source filtered to <= D.
_FEATURES_SQL = """
WITH p AS (SELECT CAST(? AS DATE) AS d, CAST(? AS VARCHAR) AS who),
active AS (
    SELECT c.customer_id, c.plan_tier, c.billing_cycle, c.industry, c.region, c.seats,
           c.signup_date, c.contract_end_date, p.d
    FROM customers c, p
    WHERE c.signup_date <= p.d AND (c.churn_date IS NULL OR c.churn_date > p.d)
      AND (p.who IS NULL OR c.customer_id = p.who)
),
recent_usage AS (
    SELECT u.* FROM usage_daily u, p WHERE u.date <= p.d AND u.date > p.d - 90 AND (p.who IS NULL OR u.customer_id = p.who)
),
daily_users AS (
    SELECT customer_id, date, max(active_users) AS users FROM recent_usage GROUP BY ALL
),
users AS (
    SELECT du.customer_id,
        -- Whole weeks (28 days): two 30-day windows hold different numbers of weekend
        -- days, which reads as a 10 % swing in active users on a perfectly steady account.
        sum(users) FILTER (WHERE date > p.d - 28) / 28.0 AS dau30,
        sum(users) FILTER (WHERE date <= p.d - 28 AND date > p.d - 56) / 28.0 AS dau_prev30
    FROM daily_users du, p GROUP BY 1
),
usage AS (
    SELECT ru.customer_id,
        sum(events) FILTER (WHERE date > p.d - 7) AS e7,
        sum(events) FILTER (WHERE date > p.d - 30) AS e30,
        sum(events) FILTER (WHERE date > p.d - 60 AND date <= p.d - 30) AS e_prev30,
        sum(events) FILTER (WHERE date <= p.d - 60) AS e_60_90,
        sum(events) AS e90,
        count(DISTINCT event_type) FILTER (WHERE date > p.d - 30) AS breadth30,
        count(DISTINCT event_type) FILTER (WHERE date > p.d - 60 AND date <= p.d - 30) AS breadth_prev30
    FROM recent_usage ru, p
    GROUP BY ru.customer_id
),
last_seen AS (
    SELECT u.customer_id, max(u.date) AS last_date
    FROM usage_daily u, p WHERE u.date <= p.d AND (p.who IS NULL OR u.customer_id = p.who) GROUP BY 1
),
mrr_now AS (
    SELECT m.customer_id, arg_max(m.mrr, m.month) AS mrr
    FROM mrr_history m, p WHERE m.month <= p.d AND (p.who IS NULL OR m.customer_id = p.who) GROUP BY 1
),
mrr_then AS (
    SELECT m.customer_id, arg_max(m.mrr, m.month) AS mrr
    FROM mrr_history m, p WHERE m.month <= p.d - 90 AND (p.who IS NULL OR m.customer_id = p.who) GROUP BY 1
),
mrr_moves AS (
    SELECT m.customer_id,
        count(*) FILTER (WHERE m.change_type = 'expansion') AS expansions,
        count(*) FILTER (WHERE m.change_type = 'contraction') AS contractions
    FROM mrr_history m, p WHERE m.month <= p.d AND m.month > p.d - 365 AND (p.who IS NULL OR m.customer_id = p.who) GROUP BY 1
),
tickets AS (
    SELECT t.customer_id,
        count(*) FILTER (WHERE t.opened_at > p.d - 30) AS t30,
        count(*) FILTER (WHERE t.opened_at > p.d - 90) AS t90,
        count(*) FILTER (WHERE t.opened_at > p.d - 90 AND t.priority IN ('high', 'urgent')) AS high90,
        count(*) FILTER (WHERE t.closed_at IS NULL OR t.closed_at >= p.d + 1) AS open_now,
        avg(epoch(t.closed_at - t.opened_at) / 3600.0)
            FILTER (WHERE t.closed_at < p.d + 1 AND t.closed_at >= p.d - 89) AS resolution_hours,
        avg(t.csat) FILTER (WHERE t.closed_at < p.d + 1 AND t.closed_at >= p.d - 89) AS csat,
        count(t.csat) FILTER (WHERE t.closed_at < p.d + 1 AND t.closed_at >= p.d - 89) AS csat_n
    FROM support_tickets t, p
    WHERE t.opened_at < p.d + 1 AND (p.who IS NULL OR t.customer_id = p.who)
    GROUP BY 1
),
signals AS (
    SELECT r.customer_id,
        arg_max(r.compliance_gap_score, r.as_of) AS gap,
        arg_max(r.vendor_risk_flags, r.as_of) AS flags,
        -- the last three monthly signals, whatever day D falls on
        list_avg(list_slice(list(r.vendor_risk_flags ORDER BY r.as_of DESC), 1, 3)) AS flags3m,
        arg_max(r.compliance_gap_score, r.as_of) FILTER (WHERE r.as_of <= p.d - 85) AS gap_before
    FROM risk_signals r, p WHERE r.as_of <= p.d AND (p.who IS NULL OR r.customer_id = p.who) GROUP BY 1
),
opps AS (
    SELECT o.customer_id,
        bool_or(o.opportunity_type = 'renewal' AND o.close_date > p.d) AS open_renewal,
        bool_or(o.opportunity_type = 'expansion' AND o.close_date > p.d) AS open_expansion,
        sum(o.amount) FILTER (WHERE o.opportunity_type = 'expansion' AND o.close_date > p.d) AS open_expansion_amount,
        count(*) FILTER (WHERE o.stage = 'closed_won' AND o.opportunity_type = 'expansion'
                         AND o.close_date <= p.d AND o.close_date > p.d - 365) AS won12,
        count(*) FILTER (WHERE o.stage = 'closed_lost' AND o.close_date <= p.d
                         AND o.close_date > p.d - 365) AS lost12
    FROM gtm_opportunities o, p
    WHERE coalesce(o.created_date, o.close_date) <= p.d AND (p.who IS NULL OR o.customer_id = p.who)
    GROUP BY 1
),
renewal AS (
    SELECT a.customer_id, {renewal} AS next_renewal
    FROM active a
)
SELECT
    a.customer_id,
    a.d AS as_of,
    date_diff('day', a.signup_date, a.d) AS tenure_days,
    a.plan_tier, <BILLING_LABEL> AS billing_cycle, a.industry, a.region,
    CASE WHEN date_diff('day', a.signup_date, a.d) < 90 THEN 'onboarding'
         WHEN coalesce(o.open_renewal, false) THEN 'renewal'
         WHEN coalesce(o.open_expansion, false) THEN 'expansion'
         ELSE 'adoption' END AS gtm_stage,
    a.seats::DOUBLE AS seats,
    mn.mrr,
    CASE WHEN mt.mrr > 0 THEN (mn.mrr - mt.mrr) / mt.mrr END AS mrr_change_90d,
    coalesce(mm.expansions, 0)::DOUBLE AS expansions_12m,
    coalesce(mm.contractions, 0)::DOUBLE AS contractions_12m,
    coalesce(u.e7, 0)::DOUBLE AS events_last_7d,
    coalesce(u.e30, 0)::DOUBLE AS events_last_30d,
    coalesce(u.e_prev30, 0)::DOUBLE AS events_prev_30d,
    coalesce(u.e90, 0)::DOUBLE AS events_last_90d,
    coalesce(u.e30, 0) / greatest(a.seats, 1) AS events_per_seat_30d,
    CASE WHEN coalesce(u.e_prev30, 0) > 0
         THEN greatest(0, 1 - coalesce(u.e30, 0) / u.e_prev30) ELSE 0 END AS usage_decay_score,
    ln((coalesce(u.e30, 0) + 1) / (coalesce(u.e_60_90, 0) + 1)) AS usage_trend,
    coalesce(us.dau30, 0) AS active_users_30d,
    coalesce(us.dau30, 0) / greatest(a.seats, 1) AS seat_utilization,
    CASE WHEN coalesce(us.dau_prev30, 0) > 0 THEN coalesce(us.dau30, 0) / us.dau_prev30 - 1 END AS active_users_change,
    CASE WHEN ls.last_date IS NOT NULL THEN date_diff('day', ls.last_date, a.d)
         ELSE date_diff('day', a.signup_date, a.d) END::DOUBLE AS days_since_last_event,
    coalesce(u.breadth30, 0)::DOUBLE AS feature_breadth_30d,
    (coalesce(u.breadth30, 0)::DOUBLE - coalesce(u.breadth_prev30, 0)::DOUBLE) AS feature_breadth_change,
    coalesce(t.t30, 0)::DOUBLE AS tickets_30d,
    coalesce(t.t90, 0)::DOUBLE AS tickets_90d,
    coalesce(t.high90, 0)::DOUBLE AS high_priority_tickets_90d,
    coalesce(t.open_now, 0)::DOUBLE AS open_tickets,
    t.resolution_hours AS avg_resolution_hours_90d,
    t.csat AS csat_avg_90d,
    coalesce(t.csat_n, 0)::DOUBLE AS csat_responses_90d,
    s.gap AS compliance_gap_score,
    s.gap - s.gap_before AS compliance_gap_change,
    s.flags::DOUBLE AS vendor_risk_flags,
    s.flags3m AS vendor_risk_flags_avg_3m,
    date_diff('day', a.d, r.next_renewal)::DOUBLE AS days_to_renewal,
    (date_diff('day', a.d, r.next_renewal) <= 90)::DOUBLE AS renewal_within_90d,
    coalesce(o.open_renewal, false)::DOUBLE AS open_renewal_opportunity,
    coalesce(o.open_expansion, false)::DOUBLE AS open_expansion_opportunity,
    CASE WHEN mn.mrr > 0 THEN coalesce(o.open_expansion_amount, 0) / (12 * mn.mrr) ELSE 0 END
        AS open_expansion_amount_ratio,
    coalesce(o.won12, 0)::DOUBLE AS expansion_won_12m,
    coalesce(o.lost12, 0)::DOUBLE AS opportunities_lost_12m
FROM active a
LEFT JOIN usage u USING (customer_id)
LEFT JOIN users us USING (customer_id)
LEFT JOIN last_seen ls USING (customer_id)
LEFT JOIN mrr_now mn USING (customer_id)
LEFT JOIN mrr_then mt USING (customer_id)
LEFT JOIN mrr_moves mm USING (customer_id)
LEFT JOIN tickets t USING (customer_id)
LEFT JOIN signals s USING (customer_id)
LEFT JOIN opps o USING (customer_id)
LEFT JOIN renewal r USING (customer_id)
ORDER BY a.customer_id
"""


_FEATURES_SQL_RENEWAL = _FEATURES_SQL.replace(
    "{renewal}", renewal_date_sql("a.d", "a.signup_date", "a.billing_cycle", "a.contract_end_date")
).replace("<BILLING_LABEL>", billing_cycle_label_sql("a.billing_cycle"))


def renewal_dates(wh: Warehouse, as_of: date, customer_id: str | None = None) -> pd.DataFrame:
    """customer_id, renewal_date, days_to_renewal for customers active at `as_of` (or just
    `customer_id`), by `renewal_date_sql`; None where the rule knows no renewal."""
    frame = wh.df(_RENEWAL_SQL, [as_of, customer_id])
    frame["renewal_date"] = [pd.Timestamp(r).date() if pd.notna(r) else None for r in frame["renewal_date"]]
    frame["days_to_renewal"] = [(r - as_of).days if r is not None else None for r in frame["renewal_date"]]
    return frame


_RENEWAL_SQL = f"""
WITH p AS (SELECT CAST(? AS DATE) AS d, CAST(? AS VARCHAR) AS who)
SELECT c.customer_id, {renewal_date_sql("p.d", "c.signup_date", "c.billing_cycle", "c.contract_end_date")} AS renewal_date
FROM customers c, p
WHERE c.signup_date <= p.d AND (c.churn_date IS NULL OR c.churn_date > p.d) AND (p.who IS NULL OR c.customer_id = p.who)
ORDER BY c.customer_id
"""  # noqa: S608 - the expression is engine-written; values are bound


# One account (Customer 360, the AI fact sheet): the same query with the account's id as a
# plain filter on every table, which DuckDB pushes into the scans (about twice as fast as
# the `who IS NULL OR ...` form, which it must evaluate row by row).
_FEATURES_SQL_ONE = (
    re.sub(r"\(p\.who IS NULL OR (\w+\.customer_id) = p\.who\)", r"\1 = $2", _FEATURES_SQL_RENEWAL)
    .replace("CAST(? AS DATE)", "CAST($1 AS DATE)")
    .replace("CAST(? AS VARCHAR)", "CAST($2 AS VARCHAR)")
)


def features_as_of(wh: Warehouse, as_of: date, customer_id: str | None = None) -> pd.DataFrame:
    """One row per customer active at `as_of` (or just `customer_id`): customer_id, as_of
    and every FEATURES column. Only rows dated on or before `as_of` are read.
    """
    sql = _FEATURES_SQL_RENEWAL if customer_id is None else _FEATURES_SQL_ONE
    frame = wh.df(sql, [as_of, customer_id])
    for name in CATEGORICAL:
        frame[name] = frame[name].astype("str")
    return frame


def month_ends(first: date, last: date) -> list[date]:
    """Every month end in [first, last]."""
    ends = pd.date_range(first, last, freq="ME")
    return [d.date() for d in ends]


def labelled_snapshots(wh: Warehouse, as_of_dates: list[date], horizon_days: int = 90) -> pd.DataFrame:
    """Features at each date plus `churned` = churned in (D, D + horizon]."""
    frames = []
    for as_of in as_of_dates:
        feats = features_as_of(wh, as_of)
        if feats.empty:
            continue
        frames.append(feats)
    if not frames:
        return pd.DataFrame(columns=["customer_id", "as_of", *FEATURE_NAMES, "churned"])
    snaps = pd.concat(frames, ignore_index=True)
    churn = wh.df("SELECT customer_id, churn_date FROM customers WHERE churn_date IS NOT NULL")
    snaps = snaps.merge(churn, on="customer_id", how="left")
    as_of = pd.to_datetime(snaps["as_of"])
    churn_date = pd.to_datetime(snaps["churn_date"])
    snaps["churned"] = ((churn_date > as_of) & (churn_date <= as_of + pd.Timedelta(days=horizon_days))).astype(int)
    return snaps.drop(columns="churn_date")
