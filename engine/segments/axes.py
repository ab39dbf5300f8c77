"""Eight behavioural axes per account at a date D, and their low/mid/high levels.

Every value is read point-in-time: only rows dated on or before D count (usage up to D,
tickets opened by D, CSAT of tickets closed by D, MRR of months starting by D, customers
signed up by D and not churned by D). Columns of the customers table that describe "now"
(status, gtm_stage, contract dates) are not read.

| axis | value at D |
|---|---|
| adoption_depth | events per active user-day over the 84 days to D |
| feature_breadth | event types used in the 28 days to D |
| engagement_trend | ln((events in the 56 days to D + 1) / (events in the 56 days before + 1)) |
| seat_utilisation | average daily active users over the 84 days to D / seats |
| support_intensity | tickets opened per month over the 180 days to D (per month of tenure when younger) |
| sentiment | average CSAT of tickets closed in the 180 days to D |
| commercial_momentum | MRR change over 6 months: MRR at D / MRR 6 months earlier (or the first MRR) - 1 |
| lifecycle | tenure in months |

Windows are long enough that an account whose behaviour holds keeps its level: four weeks
of usage or a quarter of tickets swing on noise alone (a 28-day trend is anti-correlated
from one month to the next, since this month's count is next month's baseline).
Active users per day are those of the account's most used event type (the busiest type's
user-days over the window): the warehouse keeps distinct users per event type and day, not
across types, and summing per type keeps the computation to one pass over the usage rows.

Levels are learned from the book at D: for each axis, the quartiles of the values of the
accounts with enough data (see `enough_data`), by mid-rank so that tied values (a count of
event types, zero tickets) share one level. A value at or below the low cut is "low" (about
the bottom quarter), above the high cut "high", otherwise "mid". Change axes
(trend, momentum) use the 20% and 80% quantiles and never call a change smaller than
their floor falling or rising, so a book where most accounts are steady keeps them "mid". An axis whose source holds no row
dated by D is absent: no value and no level, rather than a zero that would claim "no
tickets" for a company that loaded none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from engine.churn.risk import ONBOARDING_DAYS
from engine.data.warehouse import Warehouse

LEVELS = ("low", "mid", "high")
# Younger accounts get "Not enough data", as the risk board's next step calls them onboarding.
MIN_TENURE_DAYS = ONBOARDING_DAYS
DORMANT_WEEKS = 8  # no events in this many weeks (events_8w) after earlier use: "Dormant"
TREND_DAYS = 112  # engagement_trend reads the 56 days to D and the 56 before (the SQL's d - 111 .. d)
DAYS_PER_MONTH = 30.4375  # lifecycle is in months of this many days (as the SQL divides)


@dataclass(frozen=True)
class Axis:
    key: str
    label: str
    unit: str
    meaning: str  # what the value measures, in a person's words
    words: tuple[str, str, str]  # how a person says low / mid / high on this axis
    source: str  # the data it needs, named for the "absent" message
    quantiles: tuple[float, float] = (0.25, 0.75)
    floor: float | None = None  # change axes: the smallest change called falling / rising

    def word(self, level: str | None) -> str:
        return self.words[LEVELS.index(level)] if level in LEVELS else "unknown"


AXES: tuple[Axis, ...] = (
    Axis(
        "adoption_depth",
        "Adoption depth",
        "events per active user-day",
        "how much each active user does on a day they use the product (12 weeks)",
        ("shallow", "moderate", "deep"),
        "usage with active users",
    ),
    Axis(
        "feature_breadth",
        "Feature breadth",
        "event types",
        "how many kinds of activity the account used in the last 28 days",
        ("narrow", "some", "broad"),
        "usage of two or more event types",
    ),
    Axis(
        "engagement_trend",
        "Engagement trend",
        "log ratio",
        "activity in the last 8 weeks against the 8 weeks before",
        ("falling", "steady", "rising"),
        "usage",
        quantiles=(0.2, 0.8),
        floor=float(np.log(1.25)),  # under a 25% move either way is steady
    ),
    Axis(
        "seat_utilisation",
        "Seat utilisation",
        "share of seats active daily",
        "average daily active users over 12 weeks, as a share of the seats bought",
        ("low", "typical", "high"),
        "seat counts and usage with active users",
    ),
    Axis(
        "support_intensity",
        "Support intensity",
        "tickets per month",
        "support tickets opened per month over the last 6 months",
        ("light", "typical", "heavy"),
        "support tickets",
    ),
    Axis(
        "sentiment",
        "Sentiment (CSAT)",
        "CSAT 1-5",
        "average CSAT of tickets closed in the last 180 days",
        ("unhappy", "neutral", "happy"),
        "CSAT on support tickets",
    ),
    Axis(
        "commercial_momentum",
        "Commercial momentum",
        "MRR change over 6 months",
        "recurring revenue now against 6 months ago (expansion or contraction)",
        ("contracting", "flat", "expanding"),
        "MRR history",
        quantiles=(0.2, 0.8),
        floor=0.02,  # a 2% price or seat move either way is flat
    ),
    Axis(
        "lifecycle",
        "Lifecycle stage",
        "months of tenure",
        "time since signup",
        ("early", "established", "long-standing"),
        "customers",
    ),
)
AXIS_KEYS = tuple(a.key for a in AXES)
BY_KEY = {a.key: a for a in AXES}
USAGE_AXES = ("adoption_depth", "feature_breadth", "engagement_trend", "seat_utilisation")


# One statement for every date in the list ($1). Each source is filtered to rows dated on or
# before the date it is read for. `{who:x}` becomes TRUE, or for one account a plain filter
# on its id ($2) that DuckDB pushes into the scan.
_VALUES_SQL = """
WITH p AS (SELECT DISTINCT unnest(CAST($1 AS DATE[])) AS d),
days AS (SELECT d, unnest(generate_series(d - 111, d, INTERVAL 1 DAY))::DATE AS day FROM p),
active AS (
    SELECT c.customer_id, c.csm_owner, p.d, c.signup_date, c.seats
    FROM customers c, p
    WHERE c.signup_date <= p.d AND (c.churn_date IS NULL OR c.churn_date > p.d) AND {who:c}
),
per_type AS (
    SELECT u.customer_id, k.d, u.event_type,
        sum(u.events) FILTER (WHERE u.date > k.d - 28) AS e28,
        sum(u.events) FILTER (WHERE u.date > k.d - 56) AS e56,
        sum(u.events) FILTER (WHERE u.date <= k.d - 56) AS e_prev56,
        sum(u.active_users) FILTER (WHERE u.date > k.d - 84) AS user_days84,
        sum(u.events) FILTER (WHERE u.date > k.d - 84) AS e84
    FROM usage_daily u JOIN days k ON u.date = k.day
    WHERE {who:u}
    GROUP BY ALL
),
usage AS (
    SELECT customer_id, d, sum(e56) AS e56, sum(e_prev56) AS e_prev56, max(user_days84) AS user_days84, sum(e84) AS e84,
        count(*) FILTER (WHERE e28 > 0) AS breadth
    FROM per_type GROUP BY ALL
),
tickets AS (
    SELECT a.customer_id, a.d,
        count(*) FILTER (WHERE t.opened_at >= a.d - 179) AS t180,
        avg(t.csat) FILTER (WHERE t.closed_at >= a.d - 179 AND t.closed_at < a.d + 1) AS csat
    FROM active a JOIN support_tickets t
      ON t.customer_id = a.customer_id AND t.opened_at < a.d + 1
     AND (t.opened_at >= a.d - 179 OR t.closed_at >= a.d - 179)
    GROUP BY ALL
),
mrr AS (
    SELECT a.customer_id, a.d,
        arg_max(m.mrr, m.month) AS mrr_now,
        arg_max(m.mrr, m.month) FILTER (WHERE m.month <= a.d - 182) AS mrr_then,
        arg_min(m.mrr, m.month) AS mrr_first
    FROM active a JOIN mrr_history m ON m.customer_id = a.customer_id AND m.month <= a.d
    GROUP BY ALL
),
billing AS (  -- before its first month row (signed up this month): what its subscriptions bill, as the KPIs
    SELECT a.customer_id, a.d, sum(s.mrr) AS mrr
    FROM active a JOIN subscriptions s
      ON s.customer_id = a.customer_id AND s.start_date <= a.d AND (s.end_date IS NULL OR s.end_date > a.d)
    GROUP BY ALL
)
SELECT
    a.customer_id, a.csm_owner, a.d AS as_of,
    date_diff('day', a.signup_date, a.d) AS tenure_days,
    u.customer_id IS NOT NULL AS has_usage,  -- in the window; earlier use is looked up after
    coalesce(u.e56, 0)::DOUBLE AS events_8w,
    coalesce(m.mrr_now, b.mrr) AS mrr,
    CASE WHEN coalesce(u.e84, 0) = 0 THEN 0.0 ELSE u.e84 / nullif(u.user_days84, 0) END AS adoption_depth,
    coalesce(u.breadth, 0)::DOUBLE AS feature_breadth,
    ln((coalesce(u.e56, 0) + 1) / (coalesce(u.e_prev56, 0) + 1)) AS engagement_trend,
    coalesce(u.user_days84, 0) / 84.0 / nullif(a.seats, 0) AS seat_utilisation,
    coalesce(t.t180, 0) * 30.0 / least(180, greatest(date_diff('day', a.signup_date, a.d), 30)) AS support_intensity,
    t.csat AS sentiment,
    coalesce(m.mrr_now, 0) / nullif(coalesce(m.mrr_then, m.mrr_first), 0) - 1 AS commercial_momentum,
    date_diff('day', a.signup_date, a.d) / 30.4375 AS lifecycle
FROM active a
LEFT JOIN usage u USING (customer_id, d)
LEFT JOIN tickets t USING (customer_id, d)
LEFT JOIN mrr m USING (customer_id, d)
LEFT JOIN billing b USING (customer_id, d)
ORDER BY a.d, a.customer_id
"""


def _values_sql(one_account: bool) -> str:
    def who(alias: str) -> str:
        return f"{alias}.customer_id = CAST($2 AS VARCHAR)" if one_account else "TRUE"

    return _VALUES_SQL.replace("{who:c}", who("c")).replace("{who:u}", who("u"))


_VALUES_ALL, _VALUES_ONE = _values_sql(False), _values_sql(True)


# The first date each source holds a row for (an axis is absent at D when its source starts
# after D). One scan per table, for every date at once.
_SOURCES_SQL = """
SELECT
    (SELECT min(date) FROM usage_daily) AS usage,
    (SELECT min(date) FROM usage_daily WHERE active_users > 0) AS active_users,
    (SELECT min(first) FROM (SELECT min(date) AS first FROM usage_daily GROUP BY event_type
        ORDER BY first LIMIT 2 OFFSET 1)) AS second_event_type,
    (SELECT min(signup_date) FROM customers WHERE seats > 0) AS seats,
    (SELECT min(opened_at)::DATE FROM support_tickets) AS tickets,
    (SELECT min(closed_at)::DATE FROM support_tickets WHERE csat IS NOT NULL) AS csat,
    (SELECT min(month) FROM mrr_history) AS mrr
"""

# axis -> the sources it needs (names of _SOURCES_SQL's columns)
_NEEDS: dict[str, tuple[str, ...]] = {
    "adoption_depth": ("usage", "active_users"),
    "feature_breadth": ("usage", "second_event_type"),
    "engagement_trend": ("usage",),
    "seat_utilisation": ("usage", "active_users", "seats"),
    "support_intensity": ("tickets",),
    "sentiment": ("csat",),
    "commercial_momentum": ("mrr",),
    "lifecycle": (),
}


def axis_values(wh: Warehouse, dates: Sequence[date], customer_id: str | None = None) -> pd.DataFrame:
    """One row per account active at each date (or just `customer_id`): customer_id,
    csm_owner, as_of, tenure_days, has_usage (any usage by the date), events_8w (events in
    the 8 weeks to it), mrr and one column per axis value."""
    one = customer_id is not None
    frame = wh.df(_VALUES_ONE if one else _VALUES_ALL, [list(dates), customer_id] if one else [list(dates)])
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return _used_before(wh, frame)


def _used_before(wh: Warehouse, frame: pd.DataFrame) -> pd.DataFrame:
    """has_usage also for accounts silent over the whole usage window but active before it.
    They are few, so they are looked up by id (a filter DuckDB pushes into the scan) rather
    than joined against every usage row."""
    silent = ~frame["has_usage"].astype(bool)
    if not silent.any():
        return frame
    ids = frame.loc[silent, "customer_id"].unique().tolist()
    first = dict(
        wh.rows(
            "SELECT customer_id, min(date) FROM usage_daily WHERE customer_id = ANY(?) AND date <= ? GROUP BY 1",
            [ids, max(frame["as_of"])],
        )
    )
    first_day = pd.to_datetime(frame["customer_id"].map(first).astype("object"))
    frame["has_usage"] = frame["has_usage"].astype(bool) | (first_day <= pd.to_datetime(frame["as_of"])).fillna(False)
    return frame


def source_starts(wh: Warehouse) -> dict[str, date | None]:
    """The first date each source holds data for (None: never loaded)."""
    row = wh.df(_SOURCES_SQL).iloc[0]
    return {k: (pd.Timestamp(v).date() if pd.notna(v) else None) for k, v in row.items()}


def present_axes(starts: dict[str, date | None], as_of: date) -> tuple[str, ...]:
    """Axes whose sources all hold rows dated on or before `as_of`."""

    def loaded(source: str) -> bool:
        first = starts.get(source)
        return first is not None and first <= as_of

    return tuple(k for k in AXIS_KEYS if all(loaded(s) for s in _NEEDS[k]))


def _usage_known(values: pd.DataFrame, present: Mapping[date, Sequence[str]]) -> pd.Series:
    """Rows whose date has usage data in the book (`present` axes per date)."""
    has_usage_data = {d: any(k in axes for k in USAGE_AXES) for d, axes in present.items()}
    return values["as_of"].map(has_usage_data).fillna(False).astype(bool)


def enough_data(values: pd.DataFrame, present: Mapping[date, Sequence[str]]) -> pd.Series:
    """Accounts a segment can be said of: at least MIN_TENURE_DAYS old and, when the book has
    usage at the row's date, with some usage by then (an account that never used the product
    has no behaviour yet)."""
    usage_known = _usage_known(values, present)
    return (values["tenure_days"] >= MIN_TENURE_DAYS) & (~usage_known | values["has_usage"].astype(bool))


def dormant(values: pd.DataFrame, present: Mapping[date, Sequence[str]]) -> pd.Series:
    """Accounts that used the product before but did nothing in the last 8 weeks (their trend
    reads "steady" at zero, so no axis level alone would say it)."""
    return _usage_known(values, present) & values["has_usage"].astype(bool) & (values["events_8w"] == 0)


@dataclass(frozen=True)
class Cuts:
    """Where an axis's levels change: low when value <= low_at_most, high when value >
    high_above. low_at_most is None when no value is low (most accounts share the lowest)."""

    low_at_most: float | None
    high_above: float
    accounts: int  # accounts the cuts were learned from


def _cut_values(column: np.ndarray, q_low: float, q_high: float) -> tuple[float | None, float]:
    """Cuts at the quantiles by mid-rank, so tied values share one level: each distinct value
    sits at the middle of the share of accounts holding it (all accounts on one value sit at
    0.5, the middle level). Continuous values give the plain quantiles."""
    values, counts = np.unique(column, return_counts=True)
    middle = (np.cumsum(counts) - counts / 2) / len(column)
    low = values[middle <= q_low]
    return (float(low.max()) if len(low) else None), float(values[middle <= q_high].max())


def learn_cuts(values: pd.DataFrame, present: Sequence[str], eligible: pd.Series) -> dict[str, Cuts]:
    """Cuts per present axis from the eligible accounts' values (the book at one date)."""
    cuts = {}
    for key in present:
        axis = BY_KEY[key]
        column = values.loc[eligible, key].astype("float64").dropna()
        if column.empty:
            continue
        lo, hi = _cut_values(column.to_numpy(), *axis.quantiles)
        if axis.floor is not None:
            lo, hi = min(lo if lo is not None else 0.0, -axis.floor), max(hi, axis.floor)
        cuts[key] = Cuts(lo, hi, int(len(column)))
    return cuts


def levels(values: pd.DataFrame, cuts: Mapping[date, Mapping[str, Cuts]]) -> pd.DataFrame:
    """One level column per axis (low / mid / high; None where the axis is absent or the
    account has no value), each row read with the cuts of its date, aligned with `values`."""
    when = values["as_of"].to_numpy()
    out = {}
    for key in AXIS_KEYS:
        lo = np.full(len(values), np.nan)
        hi = np.full(len(values), np.nan)
        for d, by_axis in cuts.items():
            if key in by_axis:
                rows = when == d
                cut = by_axis[key]
                lo[rows] = cut.low_at_most if cut.low_at_most is not None else -np.inf
                hi[rows] = cut.high_above
        level = np.full(len(values), None, dtype=object)
        out[key] = level
        if np.isnan(hi).all():
            continue  # absent at every date
        v = pd.to_numeric(values[key], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        known = ~np.isnan(v) & ~np.isnan(hi)
        level[known] = "mid"
        level[known & (v <= lo)] = "low"
        level[known & (v > hi)] = "high"
    return pd.DataFrame(out, index=values.index)
