"""Benchmarks: where one account stands among its peers, and how plans and behavioural
segments compare with the whole book and with last quarter.

Peer position (`account_position`), point-in-time at `as_of` (default: the data's latest
day): only rows dated on or before it are read. Per account:

* usage: product events in the last 28 days per seat (per day when the book has no seats);
* seat utilisation: daily active users (four-week average) over seats;
  an account younger than 28 days is measured over its own days (at its pace over four weeks);
* support tickets opened in the last 90 days; CSAT of tickets closed in the last 90 days;
* MRR growth over the last 3 months; churn probability of the latest scoring run by `as_of`.

A metric whose source table holds nothing by `as_of` (a company that loaded no tickets) is
absent, not zero. Peers are the accounts active at `as_of` with the same plan tier, industry
and size band (seats in book-wide tertiles, MRR when no seats were loaded); when that group
has fewer than MIN_PEERS accounts, the account falls back to plan x size band, then plan,
then the whole book, and the group used is reported with its n. Key columns the book never
filled (no industry loaded) are left out of every level.

Percentile: the share of the OTHER accounts of the group with a value that is lower than the
account's, ties counting half ((average rank - 1) / (accounts with a value - 1)); 0.5 is the
middle. `better_than` turns it the right way round for metrics where lower is better.

Scoping: a CSM reads only their own accounts' positions (another account is "not found"), but
the peer statistics (medians, percentiles) are computed over the whole book, so a CSM's
account is compared with every peer; no other account's identity or figures are revealed.

Speed: the book-wide table is computed once per warehouse snapshot and date and kept in
process (keyed by the snapshot's file path, its generation and `as_of`: a new snapshot gets
new figures); it holds no viewer-specific data, the scope is applied when an account is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from engine.accounts import customer, ltv
from engine.core import formatting
from engine.core.access import Viewer
from engine.core.config import SMALL_COHORT
from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError, NotFoundError, RadarError
from engine.core.formatting import money
from engine.core.kept import Kept
from engine.data import health
from engine.data.warehouse import Warehouse, billing_sql, latest_predictions_sql
from engine.segments import book as segments
from engine.segments.archetypes import NOT_ENOUGH_DATA

MIN_PEERS = 20  # a peer group smaller than this falls back to a coarser one
USAGE_DAYS = 28
SUPPORT_DAYS = 90
MRR_GROWTH_MONTHS = 3
CHURN_DAYS = 90
NRR_MONTHS = 12
LTV_MONTHS = 12
# "vs last quarter": one churn window before, the date the overview's KPI cards compare with
# (engine.portfolio.kpis.TRAILING_DAYS), so the whole-book row and the cards give one answer.
PREVIOUS_DAYS = CHURN_DAYS
TABLES_KEPT = 4
UNKNOWN = "(unknown)"
BOOK = "All accounts"
PERCENTILE_DEFINITION = (
    "share of the other accounts in the peer group with a lower value, ties counting half "
    "((average rank - 1) / (accounts with a value - 1))"
)

Direction = Literal["good", "bad"]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    direction: Direction  # is a higher value good or bad for the account
    unit: str


METRICS: tuple[Metric, ...] = (
    Metric("usage", "Usage: product events per seat, last 28 days", "good", "events per seat"),
    Metric("seat_utilisation", "Seat utilisation: seats active on an average day of 4 weeks", "good", "share of seats"),
    Metric("tickets_90d", "Support tickets opened, last 90 days", "bad", "tickets"),
    Metric("csat_90d", "CSAT, 90-day average", "good", "score"),
    Metric("mrr_growth", "MRR growth, last 3 months", "good", "fraction"),
    Metric("churn_probability", "Churn probability, latest score", "bad", "probability"),
)
USAGE_PER_DAY = Metric("usage", "Usage: product events per day, last 28 days", "good", "events per day")

# (keys, name) from the finest group to the whole book.
LEVELS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("plan_tier", "industry", "size_band"), "plan x industry x size"),
    (("plan_tier", "size_band"), "plan x size"),
    (("plan_tier",), "plan"),
    ((), "whole book"),
)


# -- contracts ------------------------------------------------------------------------------------
class PeerMetric(Contract):
    metric: str
    label: str
    unit: str
    direction: Direction  # "good": higher is better for the account; "bad": lower is better
    value: float | None
    peer_median: float | None  # median of the group's accounts with a value
    percentile: float | None  # share of peers lower, ties half (0..1); None without a value or peers
    better_than: float | None  # share of peers this account does better than (ties half)
    peers_with_value: int  # the other accounts of the group with a value


class PeerGroup(Contract):
    level: str  # "plan x industry x size", "plan x size", "plan" or "whole book"
    fallback_level: int  # 0 = the finest group the book supports; each step is one coarser
    keys: dict[str, str]  # the group's values, e.g. {"plan_tier": "pro", "size_band": "11-40 seats"}
    n: int  # accounts in the group, the account included
    description: str


class PeerPosition(Contract):
    """One account's percentile among its peers on each metric the data supports."""

    customer_id: str
    as_of: date
    group: PeerGroup
    min_group_size: int
    size_basis: Literal["seats", "mrr", "none"]
    metrics: tuple[PeerMetric, ...]
    percentile_definition: str = PERCENTILE_DEFINITION
    notes: tuple[str, ...] = ()


# -- the per-account figures at one date -------------------------------------------------------------
_SOURCES_SQL = """
SELECT
    (SELECT count(*) FROM usage_daily WHERE date <= $as_of) AS usage_rows,
    (SELECT coalesce(max(active_users), 0) FROM usage_daily WHERE date <= $as_of) AS max_users,
    (SELECT count(seats) FROM customers WHERE signup_date <= $as_of) AS seats_rows,
    (SELECT count(*) FROM support_tickets WHERE opened_at < $as_of::DATE + 1) AS ticket_rows,
    (SELECT count(csat) FROM support_tickets WHERE closed_at < $as_of::DATE + 1) AS csat_rows,
    (SELECT count(*) FROM mrr_history WHERE month <= $as_of) AS mrr_rows,
    (SELECT max(as_of) FROM predictions WHERE as_of <= $as_of AND as_of >= $earliest) AS scored_on
"""

_ACCOUNTS_SQL = """
WITH active AS (
    -- An account younger than the usage window is measured over its own days in it.
    SELECT customer_id, plan_tier, industry, seats::DOUBLE AS seats,
        least($usage_days, date_diff('day', signup_date, $as_of) + 1)::DOUBLE AS usage_days
    FROM customers
    WHERE signup_date <= $as_of AND (churn_date IS NULL OR churn_date > $as_of)
),
days AS (
    SELECT customer_id, date, sum(events) AS events, max(active_users) AS users
    FROM usage_daily
    WHERE date > $as_of::DATE - $usage_days AND date <= $as_of
    GROUP BY ALL
),
usage AS (
    SELECT customer_id, sum(events)::DOUBLE AS events, sum(users)::DOUBLE AS users FROM days GROUP BY 1
),
tickets AS (
    SELECT customer_id,
        count(*) FILTER (WHERE opened_at > $as_of::DATE - $support_days)::DOUBLE AS tickets_90d,
        avg(csat) FILTER (WHERE closed_at < $as_of::DATE + 1 AND closed_at >= $as_of::DATE - ($support_days - 1))
            AS csat_90d
    FROM support_tickets
    WHERE opened_at < $as_of::DATE + 1
    GROUP BY 1
),
mrr AS (
    SELECT customer_id, arg_max(mrr, month) AS mrr_now,
        arg_max(mrr, month) FILTER (WHERE month <= $growth_from) AS mrr_then
    FROM mrr_history WHERE month <= $as_of GROUP BY 1
),
billing AS (<BILLING>),
scored AS (<LATEST>)
SELECT a.customer_id, a.plan_tier, a.industry, a.seats,
    -- Per day of the window the account has been a customer (a 5-day-old account's 12 events
    -- read 0.4 a day over 28 days): events scaled to 28 days, users a daily average.
    coalesce(u.events, 0) * $usage_days / a.usage_days AS events_28d, coalesce(u.users, 0) / a.usage_days AS users_28d,
    coalesce(t.tickets_90d, 0) AS tickets_90d, t.csat_90d,
    -- An account billing since this month has no MRR month yet: its size band reads what it bills.
    coalesce(m.mrr_now, b.mrr_now) AS mrr_now,
    CASE WHEN m.mrr_then > 0 THEN (m.mrr_now - m.mrr_then) / m.mrr_then END AS mrr_growth,
    s.churn_probability
FROM active a
LEFT JOIN usage u USING (customer_id)
LEFT JOIN tickets t USING (customer_id)
LEFT JOIN mrr m USING (customer_id)
LEFT JOIN billing b USING (customer_id)
LEFT JOIN scored s USING (customer_id)
ORDER BY a.customer_id
""".replace("<LATEST>", latest_predictions_sql("as_of = $scored_on")).replace(
    "<BILLING>", billing_sql(mrr_now="$as_of")
)


@dataclass(frozen=True)
class _Book:
    """The book-wide position table at one date: one row per active account (index customer_id)."""

    as_of: date
    table: pd.DataFrame  # level, fallback_level, n, <key columns>, <metric>_{value,median,pct,peers}
    metrics: tuple[Metric, ...]
    keys: tuple[str, ...]  # the key columns the book fills
    size_basis: Literal["seats", "mrr", "none"]
    levels: tuple[tuple[tuple[str, ...], str], ...]
    notes: tuple[str, ...]


def _present_metrics(sources: pd.Series, seats_known: bool) -> tuple[Metric, ...]:
    """The metrics whose source tables hold rows by the date."""
    present = {
        "usage": sources["usage_rows"] > 0,
        "seat_utilisation": sources["usage_rows"] > 0 and sources["max_users"] > 0 and seats_known,
        "tickets_90d": sources["ticket_rows"] > 0,
        "csat_90d": sources["csat_rows"] > 0,
        "mrr_growth": sources["mrr_rows"] > 0,
        "churn_probability": pd.notna(sources["scored_on"]),
    }
    chosen = [m for m in METRICS if present[m.key]]
    return tuple(USAGE_PER_DAY if m.key == "usage" and not seats_known else m for m in chosen)


def _values(frame: pd.DataFrame, metrics: tuple[Metric, ...], seats_known: bool) -> pd.DataFrame:
    seats = frame["seats"].clip(lower=1)  # as the churn features read seats (at least one)
    values = {
        "usage": frame["events_28d"] / seats if seats_known else frame["events_28d"] / USAGE_DAYS,
        "seat_utilisation": frame["users_28d"] / seats,
        "tickets_90d": frame["tickets_90d"],
        "csat_90d": frame["csat_90d"],
        "mrr_growth": frame["mrr_growth"],
        "churn_probability": frame["churn_probability"],
    }
    return pd.DataFrame({m.key: values[m.key].astype("float64") for m in metrics}, index=frame.index)


def _size_bands(basis: pd.Series, unit: str) -> pd.Series:
    """Tertile bands of `basis` over the book, labelled by the values each holds."""
    known = basis.dropna()
    if known.empty:
        return pd.Series(UNKNOWN, index=basis.index, dtype="str")
    cuts = np.unique(np.quantile(known.to_numpy(dtype=float), [1 / 3, 2 / 3]))
    band = pd.Series(np.searchsorted(cuts, basis.to_numpy(dtype=float), side="left"), index=basis.index)
    labels = {}
    for b, values in known.groupby(band[known.index]):
        lo, hi = float(values.min()), float(values.max())
        labels[b] = _band_label(lo, hi, unit)
    out = band.map(labels).astype("str")
    return out.where(basis.notna(), UNKNOWN)


def _band_label(lo: float, hi: float, unit: str) -> str:
    if unit == "seats":
        return f"{lo:,.0f} seats" if lo == hi else f"{lo:,.0f}-{hi:,.0f} seats"
    return f"MRR {money(lo)}" if lo == hi else f"MRR {money(lo)}-{money(hi)}"


def _key_text(values: pd.Series) -> pd.Series:
    text = values.astype("str").str.strip()
    return text.where(values.notna() & (text != ""), UNKNOWN)


def _levels(keys: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], str], ...]:
    """LEVELS with the key columns the book does not fill left out, duplicates dropped."""
    out: list[tuple[tuple[str, ...], str]] = []
    for level_keys, name in LEVELS:
        kept = tuple(k for k in level_keys if k in keys)
        if all(kept != k for k, _ in out):
            out.append((kept, name if kept == level_keys else _level_name(kept)))
    return tuple(out)


def _level_name(keys: tuple[str, ...]) -> str:
    names = {"plan_tier": "plan", "industry": "industry", "size_band": "size"}
    return " x ".join(names[k] for k in keys) if keys else "whole book"


def _group_of(table: pd.DataFrame, keys: tuple[str, ...]) -> pd.Series:
    """One text per account naming its group at a level (the key values joined)."""
    group = pd.Series("", index=table.index, dtype="str")
    for i, key in enumerate(keys):
        group = (group + "|" + table[key]) if i else table[key].astype("str")
    return group


def _rank_within(groups: pd.Series, values: pd.DataFrame) -> dict[str, tuple[pd.Series, ...]]:
    """Per metric: (percentile, median, peers with a value) of every account within `groups`."""
    out = {}
    grouped = values.groupby(groups, sort=False)
    for metric in values.columns:
        g = grouped[metric]
        rank = g.rank(method="average")
        count = g.transform("count")
        peers = (count - 1).where(values[metric].notna(), count)
        pct = ((rank - 1) / (count - 1)).where(count > 1)
        out[metric] = (pct, g.transform("median"), peers)
    return out


def _book_table(wh: Warehouse, as_of: date) -> _Book:
    earliest, _latest = health.date_window()
    sources = wh.df(_SOURCES_SQL, {"as_of": as_of, "earliest": earliest}).iloc[0]
    params = {
        "as_of": as_of,
        "usage_days": USAGE_DAYS,
        "support_days": SUPPORT_DAYS,
        "growth_from": _months_before(as_of, MRR_GROWTH_MONTHS),
        "scored_on": sources["scored_on"],
    }
    frame = wh.df(_ACCOUNTS_SQL, params).set_index("customer_id")
    seats_known = bool(frame["seats"].notna().any())
    metrics = _present_metrics(sources, seats_known)
    values = _values(frame, metrics, seats_known)
    size_basis: Literal["seats", "mrr", "none"] = (
        "seats" if seats_known else "mrr" if frame["mrr_now"].notna().any() else "none"
    )
    table = pd.DataFrame(index=frame.index)
    table["plan_tier"] = _key_text(frame["plan_tier"])
    table["industry"] = _key_text(frame["industry"])
    if size_basis != "none":
        table["size_band"] = _size_bands(frame["seats" if size_basis == "seats" else "mrr_now"], size_basis)
    keys = tuple(k for k in ("plan_tier", "industry", "size_band") if k in table and (table[k] != UNKNOWN).any())
    levels = _levels(keys)
    sizes, ranks = [], []
    for level_keys, _name in levels:
        group = _group_of(table, level_keys)
        sizes.append(group.map(group.value_counts()))
        ranks.append(_rank_within(group, values))
    # The finest level whose group holds MIN_PEERS accounts; the whole book otherwise.
    chosen = pd.Series(len(levels) - 1, index=table.index)
    for i in reversed(range(len(levels) - 1)):
        chosen = chosen.mask(sizes[i] >= MIN_PEERS, i)
    table["fallback_level"] = chosen
    table["level"] = chosen.map({i: name for i, (_k, name) in enumerate(levels)})
    table["n"] = _pick(sizes, chosen).astype("int64")
    for metric in metrics:
        table[f"{metric.key}_value"] = values[metric.key]
        for j, part in enumerate(("pct", "median", "peers")):
            table[f"{metric.key}_{part}"] = _pick([r[metric.key][j] for r in ranks], chosen)
    notes = []
    absent = [m.label.split(":")[0] for m in METRICS if m.key not in {x.key for x in metrics}]
    if absent:
        notes.append(f"Not compared (no data loaded for it by {formatting.day(as_of)}): {', '.join(absent)}.")
    return _Book(as_of, table, metrics, keys, size_basis, levels, tuple(notes))


def _pick(per_level: list[pd.Series], chosen: pd.Series) -> pd.Series:
    """Each account's value from the level chosen for it."""
    stacked = np.column_stack([s.to_numpy(dtype=float) for s in per_level])
    return pd.Series(stacked[np.arange(len(chosen)), chosen.to_numpy()], index=chosen.index)


def _months_before(day: date, months: int) -> date:
    return (pd.Timestamp(day) - pd.DateOffset(months=months)).date()


# -- the in-process cache -------------------------------------------------------------------------
_books: Kept[_Book] = Kept(TABLES_KEPT)


def _book(wh: Warehouse, as_of: date) -> _Book:
    """The book-wide table for this snapshot and date, computed once and kept."""
    return _books.get((str(wh.path), wh.generation, as_of), lambda: _book_table(wh, as_of))


def clear_cache() -> None:
    _books.clear()


def _as_of(wh: Warehouse, as_of: date | None) -> date:
    """`as_of`, or the data's latest day; a date after it is refused (every day past the data
    would read as silence: no usage, no tickets)."""
    latest = health.data_as_of(wh)
    if latest is None:
        raise BadInputError("The warehouse has no dated data yet, so there are no peers to compare with.")
    if as_of is not None and as_of > latest:
        raise BadInputError(f"{as_of} is after the data's latest day ({latest}); compare as of {latest} or earlier.")
    return as_of or latest


# -- one account ----------------------------------------------------------------------------------
def _float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def account_position(wh: Warehouse, viewer: Viewer, customer_id: str, as_of: date | None = None) -> PeerPosition:
    """The account's percentile among its peers on each metric (see the module doc). A CSM
    reads only their own accounts (another is "not found"); the peer statistics come from
    the whole book, and no other account is named."""
    customer_id = customer.check_access(wh, viewer, customer_id)
    day = _as_of(wh, as_of)
    book = _book(wh, day)
    if customer_id not in book.table.index:
        raise NotFoundError(f"This account was not active on {formatting.day(day)}, so it has no peers then.")
    row = book.table.loc[customer_id]
    level = int(row["fallback_level"])
    level_keys, level_name = book.levels[level]
    keys = {k: str(row[k]) for k in level_keys}
    return PeerPosition(
        customer_id=customer_id,
        as_of=day,
        group=PeerGroup(
            level=level_name,
            fallback_level=level,
            keys=keys,
            n=int(row["n"]),
            description=" · ".join(keys.values()) if keys else BOOK,
        ),
        min_group_size=MIN_PEERS,
        size_basis=book.size_basis,
        metrics=tuple(_metric(m, row) for m in book.metrics),
        notes=(*book.notes, *_fallback_note(level, level_name, int(row["n"]), book.levels)),
    )


def _metric(metric: Metric, row: pd.Series) -> PeerMetric:
    pct = _float(row[f"{metric.key}_pct"])
    return PeerMetric(
        metric=metric.key,
        label=metric.label,
        unit=metric.unit,
        direction=metric.direction,
        value=_float(row[f"{metric.key}_value"]),
        peer_median=_float(row[f"{metric.key}_median"]),
        percentile=pct,
        better_than=None if pct is None else (pct if metric.direction == "good" else 1 - pct),
        peers_with_value=int(row[f"{metric.key}_peers"]),
    )


def _fallback_note(level: int, name: str, n: int, levels: tuple) -> tuple[str, ...]:
    if level == 0:
        return ()
    finer = levels[0][1]
    return (
        f"Fewer than {MIN_PEERS} accounts share this account's {finer}; compared by {name} instead ({n} accounts).",
    )


# -- plans and segments vs the book and last quarter ----------------------------------------------
_FIGURES_SQL = """
WITH mrr AS (
    SELECT customer_id, arg_max(mrr, month) AS mrr_now,
        arg_max(mrr, month) FILTER (WHERE month <= $start_12m) AS mrr_12m,
        sum(mrr) AS paid
    FROM mrr_history WHERE month <= $as_of GROUP BY 1
),
billing AS (<BILLING>),
scored AS (<LATEST>)
SELECT c.customer_id, c.plan_tier, c.csm_owner,
    c.signup_date <= $as_of AND (c.churn_date IS NULL OR c.churn_date > $as_of) AS active,
    c.signup_date <= $start_90d AND (c.churn_date IS NULL OR c.churn_date > $start_90d) AS cohort_90d,
    coalesce(c.churn_date > $start_90d AND c.churn_date <= $as_of, false) AS churned_90d,
    c.signup_date <= $start_12m AND (c.churn_date IS NULL OR c.churn_date > $start_12m) AS cohort_12m,
    coalesce(m.mrr_12m, b.mrr_12m, 0) AS mrr_12m,
    CASE WHEN c.signup_date <= $as_of AND (c.churn_date IS NULL OR c.churn_date > $as_of)
         THEN coalesce(m.mrr_now, b.mrr_now, 0) ELSE 0 END AS mrr_kept,
    coalesce(m.paid, 0) AS revenue_to_date,
    s.churn_probability, s.ci_low, s.ci_high, s.mrr AS scored_mrr
FROM customers c
LEFT JOIN mrr m USING (customer_id)
LEFT JOIN billing b USING (customer_id)
LEFT JOIN scored s USING (customer_id)
WHERE c.signup_date <= $as_of
ORDER BY c.customer_id  -- a fixed order: pandas sums the figures in the same order on every read
""".replace("<LATEST>", latest_predictions_sql("as_of = $scored_on")).replace(
    "<BILLING>", billing_sql(mrr_now="$as_of", mrr_12m="$start_12m")
)

RATES = ("churn_rate_90d", "nrr_12m", "ltv_12m")


class BenchmarkFigures(Contract):
    """Churn, NRR and LTV of a set of accounts at one date."""

    accounts: int  # active at the date
    churn_rate_90d: float | None  # of the accounts active 90 days before, the share that churned since
    nrr_12m: float | None  # MRR now of the accounts active 12 months before over their MRR then
    ltv_12m: float | None  # mean LTV (paid so far + expected next 12 months) of the scored active accounts


class SegmentBenchmarks(Contract):
    """Each plan's (and segment's) churn, NRR and LTV against the whole book and last quarter.

    `rows`: dimension (plan_tier or segment), group, accounts, accounts_prev, then for each of
    churn_rate_90d, nrr_12m and ltv_12m: the figure, `<figure>_prev` (last quarter),
    `<figure>_vs_book` and `<figure>_vs_prev` (differences: the group minus the book, now minus
    last quarter; None when either side rests on fewer than SMALL_COHORT accounts) and
    `<figure>_n` (how many accounts the figure rests on)."""

    as_of: date
    previous_as_of: date
    book: BenchmarkFigures
    book_previous: BenchmarkFigures
    book_change: dict[str, float | None]  # per rate, now minus last quarter (None: a cohort under SMALL_COHORT)
    rows: Table
    scope: str  # whose accounts the rows cover
    notes: tuple[str, ...] = ()


def _figures_frame(wh: Warehouse, as_of: date) -> pd.DataFrame:
    earliest, _latest = health.date_window()
    scored_on = wh.scalar("SELECT max(as_of) FROM predictions WHERE as_of <= ? AND as_of >= ?", [as_of, earliest])
    frame = wh.df(
        _FIGURES_SQL,
        {
            "as_of": as_of,
            "start_90d": as_of - timedelta(days=CHURN_DAYS),
            "start_12m": _months_before(as_of, NRR_MONTHS),
            "scored_on": scored_on,
        },
    )
    frame["plan_tier"] = _key_text(frame["plan_tier"])
    scored = frame["churn_probability"].notna() & frame["active"]
    frame["ltv_12m"] = np.nan
    if scored.any():
        part = frame.loc[scored].assign(mrr=frame.loc[scored, "scored_mrr"])
        frame.loc[scored, "ltv_12m"] = ltv.ltv_frame(part, LTV_MONTHS)["forecasted_ltv"].to_numpy()
    return frame


Members = tuple[pd.Series, pd.Series, pd.Series]  # in the group at the date, 90 days and 12 months before


def _summarise(frame: pd.DataFrame, members: Members | None = None) -> dict[str, float | int | None]:
    """The figures of the accounts in `members` (None: every account of `frame`): each cohort
    is read with the accounts that were in the group when it was taken (a segment changes).
    `<rate>_n` is how many accounts each rate rests on."""
    at_date, at_90d, at_12m = members if members is not None else (True, True, True)
    active = frame["active"] & at_date
    cohort = frame["cohort_90d"] & at_90d
    base = frame["cohort_12m"] & at_12m
    mrr_then = frame.loc[base, "mrr_12m"].sum()
    ltvs = frame.loc[active, "ltv_12m"].dropna()
    return {
        "accounts": int(active.sum()),
        "churn_rate_90d": float(frame.loc[cohort, "churned_90d"].mean()) if cohort.any() else None,
        "nrr_12m": float(frame.loc[base, "mrr_kept"].sum() / mrr_then) if mrr_then > 0 else None,
        "ltv_12m": float(ltvs.mean()) if len(ltvs) else None,
        "churn_rate_90d_n": int(cohort.sum()),
        "nrr_12m_n": int(base.sum()),
        "ltv_12m_n": len(ltvs),
    }


def _figures(summary: dict[str, float | int | None]) -> BenchmarkFigures:
    return BenchmarkFigures.model_validate({k: v for k, v in summary.items() if k in BenchmarkFigures.model_fields})


def _diff(a: dict[str, Any], b: dict[str, Any], name: str) -> float | None:
    """a's `name` minus b's; None when either is missing or rests on fewer than SMALL_COHORT accounts
    (a churn rate of 0% on 2 accounts is no lead over the book)."""
    if a[name] is None or b[name] is None or min(a[f"{name}_n"], b[f"{name}_n"]) < SMALL_COHORT:
        return None
    return float(a[name]) - float(b[name])


def segment_benchmarks(
    wh: Warehouse,
    viewer: Viewer,
    as_of: date | None = None,
    segments_at: SegmentsAt | None = None,
) -> SegmentBenchmarks:
    """Churn (realised 90-day rate), NRR (12 months) and LTV (12 months) per plan tier and,
    per behavioural segment (archetype; `segments_at` gives another date -> account segments
    mapping, default `segment_of_accounts`): against the whole book and against the same figures PREVIOUS_DAYS earlier.
    Rows cover the viewer's accounts (a CSM: their book); the book figures are the whole
    book's, as aggregates only."""
    day = _as_of(wh, as_of)
    previous = day - timedelta(days=PREVIOUS_DAYS)
    now, before = _figures_frame(wh, day), _figures_frame(wh, previous)
    book, book_previous = _summarise(now), _summarise(before)
    scope_now, scope_before = _scoped(now, viewer), _scoped(before, viewer)
    labels = {"plan_tier": (_plan_labels(scope_now), _plan_labels(scope_before))}
    segments_at = segments_at or segment_of_accounts(wh, viewer, (*_label_dates(day), *_label_dates(previous)))
    labels["segment"] = (
        _segment_labels(scope_now, day, segments_at),
        _segment_labels(scope_before, previous, segments_at),
    )
    rows = []
    for dimension, (labels_now, labels_before) in labels.items():
        seen = pd.concat([labels_now[0], labels_before[0]]).dropna()
        for group in sorted(set(seen)):
            figures = _summarise(scope_now, _members(labels_now, group))
            prev = _summarise(scope_before, _members(labels_before, group))
            row: dict[str, Any] = {"dimension": dimension, "group": str(group)}
            row["accounts"], row["accounts_prev"] = figures["accounts"], prev["accounts"]
            for name in RATES:
                row[name], row[f"{name}_n"] = figures[name], figures[f"{name}_n"]
                row[f"{name}_prev"] = prev[name]
                row[f"{name}_vs_book"] = _diff(figures, book, name)
                row[f"{name}_vs_prev"] = _diff(figures, prev, name)
            rows.append(row)
    notes = []
    if labels["segment"][0][0].isna().all():
        notes.append("No account has a behavioural segment yet (too little history); rows are by plan tier only.")
    return SegmentBenchmarks(
        as_of=day,
        previous_as_of=previous,
        book=_figures(book),
        book_previous=_figures(book_previous),
        book_change={name: _diff(book, book_previous, name) for name in RATES},
        rows=pd.DataFrame(rows),
        scope="the whole book" if viewer.sees_everyone else f"the accounts of {viewer.book_owner}",
        notes=tuple(notes),
    )


Labels = tuple[pd.Series, pd.Series, pd.Series]  # each account's group at the date, 90 days and 12 months before


def _plan_labels(frame: pd.DataFrame) -> Labels:
    return (frame["plan_tier"],) * 3  # a plan does not change with time


def _label_dates(day: date) -> tuple[date, date, date]:
    """The dates `Labels` reads groups at: the day, 90 days and 12 months before."""
    return (day, day - timedelta(days=CHURN_DAYS), _months_before(day, NRR_MONTHS))


def _segment_labels(frame: pd.DataFrame, day: date, segments_at: SegmentsAt) -> Labels:
    out = []
    for when in _label_dates(day):
        try:
            found = _segment_series(segments_at(when))
        except RadarError:  # no segments that early (too little history): the cohort has no segment
            found = pd.Series(dtype="str")
        out.append(frame["customer_id"].map(found))
    return (out[0], out[1], out[2])


def _members(labels: Labels, group: str) -> Members:
    return (labels[0] == group, labels[1] == group, labels[2] == group)


def _scoped(frame: pd.DataFrame, viewer: Viewer) -> pd.DataFrame:
    if viewer.sees_everyone:
        return frame
    return frame[frame["csm_owner"] == viewer.book_owner]


# -- behavioural segments ------------------------------------------------------------------------------
SegmentsAt = Callable[[date], "pd.Series | pd.DataFrame"]


def segment_of_accounts(wh: Warehouse, viewer: Viewer, dates: Sequence[date] = ()) -> SegmentsAt:
    """Each account's behavioural archetype at a date (`engine.segments`), the viewer's
    accounts only; accounts with too little history ("Not enough data") get no segment row.
    The book at `dates` is classified up front in one pass (a date with too little history
    for segments is left to the per-date read, which says why)."""
    try:
        ready = segments.segments_at_dates(wh, viewer, dates) if dates else {}
    except RadarError:
        ready = {}

    def at(day: date) -> pd.Series:
        found = ready[day] if day in ready else segments.segment_of_accounts(wh, viewer, day)
        named = found[found["archetype"] != NOT_ENOUGH_DATA.name]
        return named.set_index("customer_id")["archetype"]

    return at


def _segment_series(found: pd.Series | pd.DataFrame) -> pd.Series:
    """customer_id -> segment name, from a Series so indexed or a frame with customer_id and
    archetype (or segment) columns."""
    if isinstance(found, pd.Series):
        return found
    name = "archetype" if "archetype" in found.columns else "segment"
    return found.set_index("customer_id")[name]
