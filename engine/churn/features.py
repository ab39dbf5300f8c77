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
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from engine.core.renewal import billing_cycle_label_sql, billing_months_sql, renewal_date_sql, renewal_sources_sql
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
# Subscription features: used when the subscriptions table holds rows (never in the default set).
SUBSCRIPTION_FEATURES: tuple[Feature, ...] = (
    Feature("products_active", "Products subscribed"),
    Feature("subscription_quantity", "Subscribed quantity"),
)
EVENT_STATS: dict[str, str] = {  # suffix -> label pattern ({T} the event type, {t} in lower case)
    "count_7d": "{T} events (7 days)",
    "count_28d": "{T} events (28 days)",
    "count_90d": "{T} events (90 days)",
    "trend_28d": "{T} trend (last 28 vs previous 28 days)",
    "days_since_last": "Days since last {t}",
    "value_7d": "{T} value (7 days)",
    "value_28d": "{T} value (28 days)",
    "value_90d": "{T} value (90 days)",
}
VALUE_STATS = ("value_7d", "value_28d", "value_90d")


class _Labels(dict):
    """Labels of the fixed features, and of data-derived features read from their names
    (`evt_<type>_<stat>`, `attr_<name>`): callers keep using `LABELS.get(name, name)`."""

    def get(self, key, default=None):
        found = super().get(key)
        return found if found is not None else (derived_label(key) or default)


LABELS: dict[str, str] = _Labels({f.name: f.label for f in (*FEATURES, *SUBSCRIPTION_FEATURES)})


def _human(key: str) -> str:
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else key


def event_key_of(name: str) -> tuple[str, str] | None:
    """(event-type key, stat) of a per-event-type feature name, else None."""
    if not name.startswith("evt_"):
        return None
    for stat in EVENT_STATS:
        if name.endswith("_" + stat) and len(name) > len(stat) + 5:
            return name[4 : -len(stat) - 1], stat
    return None


def trend_after(trend, old_28d, new_28d):
    """An event type's `trend_28d` once its last 28 days move from `old_28d` to `new_28d` (numbers
    or arrays): the previous 28 days are read back from the trend, as `features_as_of` made it."""
    before = (old_28d + 1) / np.exp(trend) - 1
    return np.log((new_28d + 1) / (before + 1))


def derived_label(name: str) -> str | None:
    """How a person says a data-derived feature ("Login events (28 days)", "Company size")."""
    found = event_key_of(name)
    if found:
        key, stat = found
        return EVENT_STATS[stat].format(T=_human(key), t=_human(key).lower())
    if name.startswith("attr_"):
        key = name[5:]
        if key.endswith("_days_since"):
            return f"Days since {_human(key[: -len('_days_since')]).lower()}"
        return _human(key)
    return None


def slug(text: str) -> str:
    """A feature-name-safe key for a user-given name (event type, attribute)."""
    return re.sub(r"[^0-9a-z]+", "_", str(text).lower()).strip("_")[:40] or "x"


@dataclass(frozen=True)
class EventTypeFeatures:
    """The usage features of one event type: counts over 7/28/90 days, the 28-day trend,
    days since its last event and, when the log carries values, value sums."""

    event_type: str
    key: str
    has_value: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        stats = [s for s in EVENT_STATS if self.has_value or s not in VALUE_STATS]
        return tuple(f"evt_{self.key}_{s}" for s in stats)


@dataclass(frozen=True)
class AttributeFeature:
    """One custom account attribute as a feature: a number, a category (levels outside
    `levels` read as "other") or a date (days since it, at the as-of date)."""

    attribute: str
    key: str
    kind: str  # number | category | date
    levels: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"attr_{self.key}_days_since" if self.kind == "date" else f"attr_{self.key}"


@dataclass(frozen=True)
class FeatureSet:
    """The features a model uses, decided from the data loaded (`feature_set`) and stored
    with the model (`ChurnModel.feature_set_`), so scoring builds exactly those columns."""

    base: tuple[str, ...] = FEATURE_NAMES
    event_types: tuple[EventTypeFeatures, ...] = ()
    attributes: tuple[AttributeFeature, ...] = ()
    subscriptions: bool = False
    dropped: frozenset[str] = frozenset()  # removed by screening

    @property
    def names(self) -> tuple[str, ...]:
        subs = tuple(f.name for f in SUBSCRIPTION_FEATURES) if self.subscriptions else ()
        events = tuple(n for e in self.event_types for n in e.names)
        attrs = tuple(a.name for a in self.attributes)
        return tuple(n for n in (*self.base, *subs, *events, *attrs) if n not in self.dropped)

    @property
    def categorical(self) -> tuple[str, ...]:
        cats = {*CATEGORICAL, *(a.name for a in self.attributes if a.kind == "category")}
        return tuple(n for n in self.names if n in cats)

    @property
    def labels(self) -> dict[str, str]:
        return {n: LABELS.get(n, n) for n in self.names}

    @property
    def groups(self) -> dict[str, str]:
        """Screening units: every feature of one event type or attribute moves together."""
        out = {}
        for name in self.names:
            found = event_key_of(name)
            out[name] = f"evt_{found[0]}" if found else name
        return out

    def without(self, names) -> FeatureSet:
        return replace(self, dropped=self.dropped | frozenset(names))


DEFAULT_SET = FeatureSet()


def set_of(model) -> FeatureSet | None:
    """The feature set a fitted model reads (`features_as_of(..., feature_set=set_of(model))`):
    the one stored with it, with the model's own inputs never screened out (a serving baseline
    reads event types the churn model's screening dropped); None (the fixed features) for
    models trained before feature sets, table models and baselines that carry none."""
    chosen = getattr(model, "feature_set_", None)
    reads = frozenset(getattr(model, "features", ()) or ())
    if chosen is None or not chosen.dropped & reads:
        return chosen
    return replace(chosen, dropped=chosen.dropped - reads)


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
    -- Only the 56 days `users` reads: grouping by customer and day is the costliest step
    -- (2.7 s over 90 days at 100,000 accounts, 1.9 s over 56).
    SELECT customer_id, date, max(active_users) AS users FROM recent_usage, p WHERE date > p.d - 56 GROUP BY ALL
),
users AS (
    SELECT du.customer_id,
        -- Whole weeks (28 days): two 30-day windows hold different numbers of weekend
        -- days, which reads as a 10% swing in active users on a perfectly steady account.
        -- An account younger than a window is averaged over its own days in it: an 8-day-old
        -- account in full use read 29% of seats, and at 35 days "3.5x the four weeks before".
        sum(users) FILTER (WHERE date > p.d - 28) / any_value(a.days_now) AS dau30,
        sum(users) FILTER (WHERE date <= p.d - 28 AND date > p.d - 56) / any_value(a.days_before) AS dau_prev30
    FROM daily_users du, p, (
        SELECT customer_id, least(28, date_diff('day', signup_date, d) + 1)::DOUBLE AS days_now,
               nullif(least(28, greatest(0, date_diff('day', signup_date, d) + 1 - 28)), 0)::DOUBLE AS days_before
        FROM active
    ) a
    WHERE a.customer_id = du.customer_id GROUP BY 1
),
usage AS (
    -- By event type first: counting distinct types per window as a second grouping is half
    -- the cost of count(DISTINCT ...) FILTER over every row.
    SELECT ru.customer_id,
        sum(e7) AS e7, sum(e30) AS e30, sum(e_prev30) AS e_prev30, sum(e_60_90) AS e_60_90, sum(e90) AS e90,
        count(*) FILTER (WHERE in30) AS breadth30,
        count(*) FILTER (WHERE in_prev30) AS breadth_prev30
    FROM (
        SELECT ru.customer_id, ru.event_type,
            sum(events) FILTER (WHERE date > p.d - 7) AS e7,
            sum(events) FILTER (WHERE date > p.d - 30) AS e30,
            sum(events) FILTER (WHERE date > p.d - 60 AND date <= p.d - 30) AS e_prev30,
            sum(events) FILTER (WHERE date <= p.d - 60) AS e_60_90,
            sum(events) AS e90,
            bool_or(date > p.d - 30) AS in30,
            bool_or(date > p.d - 60 AND date <= p.d - 30) AS in_prev30
        FROM recent_usage ru, p
        GROUP BY ru.customer_id, ru.event_type
    ) ru
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
    "{renewal}", renewal_date_sql("a.d", "a.signup_date", "a.billing_cycle", "a.contract_end_date", "a.customer_id")
).replace("<BILLING_LABEL>", billing_cycle_label_sql("a.billing_cycle"))


def renewal_dates(wh: Warehouse, as_of: date, customer_id: str | None = None) -> pd.DataFrame:
    """customer_id, renewal_date, days_to_renewal and billing_months (the cycle that renewal
    follows, `billing_months_sql`) for customers active at `as_of` (or just `customer_id`), by
    `renewal_date_sql`; None where the rule knows no renewal or cycle."""
    frame = wh.df(_RENEWAL_SQL, [as_of, customer_id])
    frame["billing_months"] = frame["billing_months"].astype("object").where(frame["billing_months"].notna(), None)
    frame["renewal_date"] = [pd.Timestamp(r).date() if pd.notna(r) else None for r in frame["renewal_date"]]
    frame["days_to_renewal"] = [(r - as_of).days if r is not None else None for r in frame["renewal_date"]]
    return frame


_RENEWAL_SQL = f"""
WITH p AS (SELECT CAST(? AS DATE) AS d, CAST(? AS VARCHAR) AS who)
SELECT c.customer_id, {renewal_date_sql("p.d", "c.signup_date", "c.billing_cycle", "c.contract_end_date", "c.customer_id")} AS renewal_date,
       {billing_months_sql("p.d", "c.billing_cycle", "c.customer_id")} AS billing_months
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


def features_as_of(
    wh: Warehouse, as_of: date, customer_id: str | None = None, feature_set: FeatureSet | None = None
) -> pd.DataFrame:
    """One row per customer active at `as_of` (or just `customer_id`): customer_id, as_of
    and the columns of `feature_set` (default: every FEATURES column). Only rows dated on
    or before `as_of` are read; custom attributes carry no date, and a date attribute after
    `as_of` reads as missing.
    """
    sql = _FEATURES_SQL_RENEWAL if customer_id is None else _FEATURES_SQL_ONE
    frame = wh.df(sql, [as_of, customer_id])
    if feature_set is None:
        for name in CATEGORICAL:
            frame[name] = frame[name].astype("str")
        return frame
    frame = _with_derived(wh, frame, as_of, customer_id, feature_set)
    for name in feature_set.categorical:
        frame[name] = frame[name].astype("str")
    return frame[["customer_id", "as_of", *feature_set.names]]


def month_ends(first: date, last: date) -> list[date]:
    """Every month end in [first, last]."""
    ends = pd.date_range(first, last, freq="ME")
    return [d.date() for d in ends]


def labelled_snapshots(
    wh: Warehouse, as_of_dates: list[date], horizon_days: int = 90, feature_set: FeatureSet | None = None
) -> pd.DataFrame:
    """Features at each date (of `feature_set`, default every FEATURES column) plus
    `churned` = churned in (D, D + horizon]."""
    frames = []
    for as_of in as_of_dates:
        feats = features_as_of(wh, as_of, feature_set=feature_set)
        if feats.empty:
            continue
        frames.append(feats)
    if not frames:
        names = FEATURE_NAMES if feature_set is None else feature_set.names
        return pd.DataFrame(columns=["customer_id", "as_of", *names, "churned"])
    snaps = pd.concat(frames, ignore_index=True)
    churn = wh.df("SELECT customer_id, churn_date FROM customers WHERE churn_date IS NOT NULL")
    snaps = snaps.merge(churn, on="customer_id", how="left")
    as_of = pd.to_datetime(snaps["as_of"])
    churn_date = pd.to_datetime(snaps["churn_date"])
    snaps["churned"] = ((churn_date > as_of) & (churn_date <= as_of + pd.Timedelta(days=horizon_days))).astype(int)
    return snaps.drop(columns="churn_date")


# -- features decided from the data loaded --------------------------------------------------
MAX_EVENT_TYPES = 8
CANDIDATE_EVENT_TYPES = 30  # the most used types are ranked by signal; rarer ones are not read
MIN_COVERAGE = 0.02  # share of training snapshots with the event type in their last 28 days
MIN_LEVEL_ACCOUNTS = 30  # a category level with fewer accounts is pooled into "other"
MAX_LEVELS = 20
OTHER = "other"

# Fixed features and what they are made of: when that source holds nothing by the cutoff,
# the features are absent (a zero would claim "no tickets" for a company that loaded none).
_SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "SELECT count(*) FROM usage_daily WHERE date <= ?",
        (
            "events_last_7d",
            "events_last_30d",
            "events_prev_30d",
            "events_last_90d",
            "events_per_seat_30d",
            "usage_decay_score",
            "usage_trend",
            "days_since_last_event",
            "feature_breadth_30d",
            "feature_breadth_change",
            "active_users_30d",
            "seat_utilization",
            "active_users_change",
        ),
    ),
    (
        "SELECT coalesce(max(active_users), 0) FROM usage_daily WHERE date <= ?",
        ("active_users_30d", "seat_utilization", "active_users_change"),
    ),
    (
        "SELECT count(DISTINCT event_type) - 1 FROM usage_daily WHERE date <= ?",
        ("feature_breadth_30d", "feature_breadth_change"),
    ),
    (
        "SELECT count(*) FROM mrr_history WHERE month <= ?",
        ("mrr", "mrr_change_90d", "expansions_12m", "contractions_12m"),
    ),
    (
        "SELECT count(*) FROM support_tickets WHERE opened_at < ?::DATE + 1",
        ("tickets_30d", "tickets_90d", "high_priority_tickets_90d", "open_tickets", "avg_resolution_hours_90d"),
    ),
    ("SELECT count(csat) FROM support_tickets WHERE closed_at < ?::DATE + 1", ("csat_avg_90d", "csat_responses_90d")),
    (
        "SELECT count(*) FROM risk_signals WHERE as_of <= ?",
        ("compliance_gap_score", "compliance_gap_change", "vendor_risk_flags", "vendor_risk_flags_avg_3m"),
    ),
    (
        "SELECT count(*) FROM gtm_opportunities WHERE coalesce(created_date, close_date) <= ?",
        (
            "gtm_stage",
            "open_renewal_opportunity",
            "open_expansion_opportunity",
            "open_expansion_amount_ratio",
            "expansion_won_12m",
            "opportunities_lost_12m",
        ),
    ),
    ("SELECT count(plan_tier) FROM customers WHERE signup_date <= ?", ("plan_tier",)),
    ("SELECT count(industry) FROM customers WHERE signup_date <= ?", ("industry",)),
    ("SELECT count(region) FROM customers WHERE signup_date <= ?", ("region",)),
    ("SELECT count(seats) FROM customers WHERE signup_date <= ?", ("seats", "events_per_seat_30d", "seat_utilization")),
    ("SELECT count(billing_cycle) FROM customers WHERE signup_date <= ?", ("billing_cycle",)),
    (renewal_sources_sql("CAST($1 AS DATE)"), ("days_to_renewal", "renewal_within_90d")),
)


def absent_features(wh: Warehouse, cutoff: date) -> set[str]:
    """Fixed features whose source holds nothing dated on or before `cutoff`."""
    absent: set[str] = set()
    for sql, names in _SOURCES:
        if not (wh.scalar(sql, [cutoff]) or 0) > 0:
            absent.update(names)
    return absent


def feature_set(wh: Warehouse, cutoff: date, dates: list[date] | None = None, horizon_days: int = 90) -> FeatureSet:
    """The features the data supports at `cutoff`: the fixed features whose sources hold
    rows, subscription features when subscriptions are loaded, usage features for the most
    informative event types (ranked on the labelled snapshots at `dates`, whose label
    windows must close by `cutoff`; default every month end that qualifies) and the custom
    account attributes. Reads only rows dated on or before `cutoff`."""
    absent = absent_features(wh, cutoff)
    if dates is None:
        first = wh.scalar("SELECT min(signup_date) FROM customers WHERE signup_date <= ?", [cutoff])
        dates = month_ends(first, cutoff - pd.Timedelta(days=horizon_days)) if first else []
    has_subscriptions = bool(wh.scalar("SELECT count(*) FROM subscriptions WHERE start_date <= ?", [cutoff]))
    return FeatureSet(
        base=tuple(n for n in FEATURE_NAMES if n not in absent),
        event_types=choose_event_types(wh, cutoff, dates, horizon_days),
        attributes=choose_attributes(wh, cutoff),
        subscriptions=has_subscriptions,
    )


_TYPE_ACTIVITY_SQL = """
WITH d AS (SELECT unnest(?::DATE[]) AS d),
snap AS (
    SELECT c.customer_id, d.d,
        coalesce(c.churn_date <= d.d + ?::INTEGER, false) AS churned
    FROM customers c, d
    WHERE c.signup_date <= d.d AND (c.churn_date IS NULL OR c.churn_date > d.d)
),
top AS (
    SELECT event_type FROM usage_daily WHERE date <= ? GROUP BY 1
    ORDER BY count(DISTINCT customer_id) DESC, event_type LIMIT ?
),
act AS (
    SELECT s.customer_id, s.d, u.event_type, sum(u.events) AS n
    FROM snap s JOIN usage_daily u ON u.customer_id = s.customer_id AND u.date <= s.d AND u.date > s.d - 28
    WHERE u.event_type IN (SELECT event_type FROM top)
    GROUP BY ALL
)
SELECT s.customer_id, s.d, s.churned, a.event_type, a.n
FROM snap s LEFT JOIN act a USING (customer_id, d)
"""


def _signal(x: np.ndarray, y: np.ndarray, early: np.ndarray) -> float:
    """Univariate out-of-time signal: the direction is read on the early snapshots, the
    AUC beyond 0.5 in that direction measured on the late ones (negative: it flipped)."""
    from sklearn.metrics import roc_auc_score

    late = ~early
    if len(np.unique(y[early])) < 2 or len(np.unique(y[late])) < 2:
        return 0.0
    direction = 1.0 if roc_auc_score(y[early], x[early]) >= 0.5 else -1.0
    return float(roc_auc_score(y[late], direction * x[late]) - 0.5)


def choose_event_types(
    wh: Warehouse, cutoff: date, dates: list[date], horizon_days: int = 90
) -> tuple[EventTypeFeatures, ...]:
    """Up to MAX_EVENT_TYPES event types used by at least MIN_COVERAGE of the training
    snapshots, ranked by univariate out-of-time signal of their 28-day count on those
    snapshots (types with none are left out). One event type only: the totals say it all."""
    dates = sorted(d for d in dates if d + pd.Timedelta(days=horizon_days) <= cutoff)
    n_types = wh.scalar("SELECT count(DISTINCT event_type) FROM usage_daily WHERE date <= ?", [cutoff]) or 0
    if n_types < 2 or not dates:
        return ()
    rows = wh.df(_TYPE_ACTIVITY_SQL, [dates, horizon_days, cutoff, CANDIDATE_EVENT_TYPES])
    snaps = rows[["customer_id", "d", "churned"]].drop_duplicates().reset_index(drop=True)
    if snaps.empty:
        return ()
    counts = rows.dropna(subset=["event_type"]).pivot_table(
        index=["customer_id", "d"], columns="event_type", values="n", aggfunc="sum"
    )
    matrix = snaps.set_index(["customer_id", "d"]).join(counts).fillna(0)
    y = snaps["churned"].to_numpy(dtype=int)
    order = sorted(set(snaps["d"]))
    early = snaps["d"].isin(order[: max(1, len(order) // 2)]).to_numpy()
    if early.all():  # a single month end: its half by customer stands in for "later"
        early = (np.arange(len(snaps)) % 2) == 0
    ranked = []
    for event_type in counts.columns:
        x = np.log1p(matrix[event_type].to_numpy(dtype=float))
        if (x > 0).mean() < MIN_COVERAGE:
            continue
        signal = _signal(x, y, early)
        if signal > 0:
            ranked.append((signal, str(event_type)))
    chosen = sorted(t for _s, t in sorted(ranked, reverse=True)[:MAX_EVENT_TYPES])
    with_value = {
        r[0]
        for r in wh.rows(
            "SELECT event_type FROM usage_daily WHERE date <= ? AND value IS NOT NULL AND list_contains(?, event_type) "
            "GROUP BY 1",
            [cutoff, chosen],
        )
    }
    keys = _unique_keys(chosen)
    return tuple(EventTypeFeatures(t, keys[t], t in with_value) for t in chosen)


def _unique_keys(names: list[str]) -> dict[str, str]:
    """Name-safe keys, made unique in sorted order ("Log in" and "log-in" -> log_in, log_in_2)."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for name in sorted(names):
        base = key = slug(name)
        i = 2
        while key in used:
            key, i = f"{base}_{i}", i + 1
        used.add(key)
        keys[name] = key
    return keys


def choose_attributes(wh: Warehouse, cutoff: date) -> tuple[AttributeFeature, ...]:
    """Custom attributes of accounts signed up by `cutoff`: numbers with two or more values,
    dates, and categories with at least two groups of MIN_LEVEL_ACCOUNTS accounts (rarer
    levels pooled into "other"; at most MAX_LEVELS levels)."""
    stats = wh.df(
        "SELECT a.attribute, a.kind, count(DISTINCT a.customer_id) AS accounts, "
        "count(DISTINCT a.number_value) AS numbers, count(a.date_value) AS dates "
        "FROM customer_attributes a JOIN customers c USING (customer_id) WHERE c.signup_date <= ? "
        "GROUP BY 1, 2 ORDER BY 1, accounts DESC, 2",
        [cutoff],
    ).drop_duplicates("attribute")  # an attribute read with two kinds: the kind most accounts have
    keys = _unique_keys(stats["attribute"].tolist())
    out = []
    for row in stats.itertuples():
        attribute, kind = str(row.attribute), str(row.kind)
        if kind == "number" and row.numbers >= 2:
            out.append(AttributeFeature(attribute, keys[attribute], "number"))
        elif kind == "date" and row.dates >= MIN_LEVEL_ACCOUNTS:
            out.append(AttributeFeature(attribute, keys[attribute], "date"))
        elif kind == "category":
            levels = _levels(wh, cutoff, attribute)
            if levels:
                out.append(AttributeFeature(attribute, keys[attribute], "category", levels))
    return tuple(out)


def _levels(wh: Warehouse, cutoff: date, attribute: str) -> tuple[str, ...]:
    """The levels a category attribute keeps; () when fewer than two groups would remain."""
    counts = wh.rows(
        "SELECT a.text_value, count(DISTINCT a.customer_id) AS n FROM customer_attributes a "
        "JOIN customers c USING (customer_id) WHERE c.signup_date <= ? AND a.attribute = ? "
        "AND a.kind = 'category' AND a.text_value IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1",
        [cutoff, attribute],
    )
    kept = [str(v) for v, n in counts if n >= MIN_LEVEL_ACCOUNTS and str(v) != OTHER][:MAX_LEVELS]
    pooled = sum(n for v, n in counts if str(v) not in kept)
    groups = len(kept) + (1 if pooled >= MIN_LEVEL_ACCOUNTS else 0)
    return tuple(sorted(kept)) if groups >= 2 else ()


_EVENT_FEATURES_SQL = """
WITH p AS (SELECT CAST(? AS DATE) AS d, CAST(? AS VARCHAR) AS who)
SELECT u.customer_id, u.event_type,
    coalesce(sum(u.events) FILTER (WHERE u.date > p.d - 7), 0)::DOUBLE AS count_7d,
    coalesce(sum(u.events) FILTER (WHERE u.date > p.d - 28), 0)::DOUBLE AS count_28d,
    coalesce(sum(u.events) FILTER (WHERE u.date > p.d - 90), 0)::DOUBLE AS count_90d,
    coalesce(sum(u.events) FILTER (WHERE u.date <= p.d - 28 AND u.date > p.d - 56), 0)::DOUBLE AS prev_28d,
    coalesce(sum(u.value) FILTER (WHERE u.date > p.d - 7), 0)::DOUBLE AS value_7d,
    coalesce(sum(u.value) FILTER (WHERE u.date > p.d - 28), 0)::DOUBLE AS value_28d,
    coalesce(sum(u.value) FILTER (WHERE u.date > p.d - 90), 0)::DOUBLE AS value_90d,
    date_diff('day', max(u.date), any_value(p.d))::DOUBLE AS days_since_last
FROM usage_daily u, p
WHERE u.date <= p.d AND list_contains(?::VARCHAR[], u.event_type) AND (p.who IS NULL OR u.customer_id = p.who)
GROUP BY u.customer_id, u.event_type
"""

_ATTRIBUTES_SQL = """
SELECT customer_id, attribute, number_value, text_value, date_value
FROM customer_attributes
WHERE list_contains(?::VARCHAR[], attribute) AND (CAST(? AS VARCHAR) IS NULL OR customer_id = ?)
ORDER BY customer_id, attribute
"""

_SUBSCRIPTIONS_SQL = """
WITH p AS (SELECT CAST(? AS DATE) AS d, CAST(? AS VARCHAR) AS who)
SELECT s.customer_id, count(DISTINCT s.product)::DOUBLE AS products_active,
    coalesce(sum(s.quantity), 0)::DOUBLE AS subscription_quantity, sum(s.mrr)::DOUBLE AS running_mrr
FROM subscriptions s, p
WHERE s.start_date <= p.d AND (s.end_date IS NULL OR s.end_date > p.d) AND (p.who IS NULL OR s.customer_id = p.who)
GROUP BY 1
"""


def _with_derived(
    wh: Warehouse, frame: pd.DataFrame, as_of: date, customer_id: str | None, fs: FeatureSet
) -> pd.DataFrame:
    """`frame` (the fixed features) plus the set's subscription, event-type and attribute
    columns, all read as of `as_of`."""
    ids = frame["customer_id"]
    columns: dict[str, object] = {}
    # An event type or attribute whose every column screening dropped is not read at all: the
    # drift reference builds a model's own columns for the whole book, and the event-type
    # query is a full pass over the usage log.
    event_types = tuple(spec for spec in fs.event_types if set(spec.names) - fs.dropped)
    attributes = tuple(spec for spec in fs.attributes if spec.name not in fs.dropped)
    if fs.subscriptions:
        subs = wh.df(_SUBSCRIPTIONS_SQL, [as_of, customer_id]).set_index("customer_id")
        for f in SUBSCRIPTION_FEATURES:
            columns[f.name] = ids.map(subs[f.name]).fillna(0.0).astype("float64")
        if "mrr" in frame.columns:
            # MRR history has a month's row from its first day, so an account that started paying
            # on the 4th has none until next month: its running subscriptions say what it pays now.
            frame = frame.assign(mrr=frame["mrr"].fillna(ids.map(subs["running_mrr"]).astype("float64")))
    if event_types:
        usage = wh.df(_EVENT_FEATURES_SQL, [as_of, customer_id, [e.event_type for e in event_types]])
        for spec in event_types:
            one = usage[usage["event_type"] == spec.event_type]
            # Each customer's row found once per event type, not once per column (a string
            # lookup over 100,000 ids per column was most of the cost).
            at = pd.Index(one["customer_id"]).get_indexer(ids)
            got = {c: _taken(one[c], at, ids.index) for c in one.columns if c not in ("customer_id", "event_type")}
            for stat in ("count_7d", "count_28d", "count_90d", "prev_28d", *VALUE_STATS):
                got[stat] = got[stat].fillna(0.0)
            got["trend_28d"] = np.log((got["count_28d"] + 1) / (got["prev_28d"] + 1))
            for name in spec.names:
                columns[name] = got[name[len(f"evt_{spec.key}_") :]]
    if attributes:
        columns.update(_attribute_columns(wh, ids, as_of, customer_id, attributes))
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1) if columns else frame


def _taken(column: pd.Series, at: np.ndarray, index: pd.Index) -> pd.Series:
    """`column`'s values at positions `at` as float64 (NaN where `at` is -1: no row)."""
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    out = values[np.where(at >= 0, at, 0)] if len(values) else np.full(len(at), np.nan)
    out[at < 0] = np.nan
    return pd.Series(out, index=index)


def _attribute_columns(
    wh: Warehouse, ids: pd.Series, as_of: date, customer_id: str | None, specs: tuple[AttributeFeature, ...]
) -> dict[str, pd.Series]:
    values = wh.df(_ATTRIBUTES_SQL, [[a.attribute for a in specs], customer_id, customer_id])
    out = {}
    for spec in specs:
        one = values[values["attribute"] == spec.attribute].drop_duplicates("customer_id", keep="last")
        one = one.set_index("customer_id")
        if spec.kind == "number":
            out[spec.name] = ids.map(one["number_value"]).astype("float64")
        elif spec.kind == "date":
            # A date after as_of is not known yet: the latest date on or before it counts.
            dated = values[values["attribute"] == spec.attribute].assign(when=lambda f: pd.to_datetime(f["date_value"]))
            known = dated[dated["when"] <= pd.Timestamp(as_of)].groupby("customer_id")["when"].max()
            days = (pd.Timestamp(as_of) - known).dt.days.astype("float64")
            out[spec.name] = ids.map(days).astype("float64") if len(days) else pd.Series(np.nan, index=ids.index)
        else:
            text = ids.map(one["text_value"])
            pooled = text.where(text.isin(spec.levels) | text.isna(), OTHER)
            out[spec.name] = pooled.astype("str").where(pooled.notna(), None)
    return out
