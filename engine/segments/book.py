"""Segments of the book at a date: every account's axis levels and archetype, and per
archetype its size, realised churn, NRR, LTV and playbook.

Scope: the level cuts and the archetype statistics (churn rate, NRR, LTV) describe the whole
book, whoever asks (a CSM's handful of accounts would give noise, and the cuts must be the
same for everyone for an archetype to mean one thing). Account counts, MRR and member lists
are the viewer's own book.

Statistics (all point-in-time at the report's date D):

* churn_rate: share of the archetype's accounts at past month ends M (M + 90 days <= D) that
  churned in (M, M + 90 days]. The latest such month ends are pooled until they hold
  MIN_OBSERVATIONS account-months (at most OUTCOME_MONTHS). The 90% interval is Wilson's,
  on the effective sample size of the account-clustered variance, since an account seen at
  several month ends is one account, not several.
* nrr: net revenue retention over 12 months of the archetype's accounts at past month ends
  M (M + 12 months <= D): their MRR 12 months later (0 once churned) / their MRR at M.
  Month ends pooled the same way (at most NRR_MONTHS).
* ltv_12m: the average expected revenue of the next 12 months per account of the archetype
  at D, from each account's latest stored prediction on or before D:
  MRR x sum_{m=0}^{11} (1 - h)^m with the monthly hazard h = 1 - (1 - p)^(1/3), p being the
  90-day churn probability, MRR the one scored (else the account's MRR at D). It assumes
  MRR stays flat while the account survives (the same convention as Customer 360's LTV).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from scipy.stats import norm

from engine.churn.features import month_ends
from engine.core import formatting
from engine.core.access import Viewer
from engine.core.contracts import ConfidenceInterval, Contract
from engine.core.errors import BadInputError, NotFoundError
from engine.data import health
from engine.data.warehouse import Warehouse, latest_predictions_sql
from engine.segments import archetypes as rules
from engine.segments import axes as ax
from engine.segments.playbooks import Playbook

CHURN_HORIZON_DAYS = 90
OUTCOME_MONTHS = 6
NRR_MONTHS = 3
MIN_OBSERVATIONS = 20_000
INTERVAL_LEVEL = 0.9
LTV_MONTHS = 12


# -- contracts --------------------------------------------------------------------------------
class AxisCuts(Contract):
    """An axis and where its levels change at the report's date, learned from the book."""

    axis: str
    label: str
    unit: str
    meaning: str
    low_at_most: float | None  # value <= this: low (None: no value is low)
    high_above: float  # value > this: high
    words: tuple[str, str, str]  # how low / mid / high read on this axis
    accounts: int  # accounts the cuts were learned from


class AxisReading(Contract):
    """One account's value and level on one axis."""

    axis: str
    label: str
    unit: str
    value: float | None
    level: str | None  # low / mid / high; None when the account has no value
    word: str  # the level as a person says it on this axis ("falling", "heavy" ...)
    low_at_most: float | None = None  # the book's cuts the level was read with
    high_above: float | None = None


class ArchetypeStats(Contract):
    key: str
    name: str
    description: str  # generated from the archetype's rule
    findings: tuple[str, ...]  # sentences generated from the numbers below
    accounts: int  # the viewer's accounts in the archetype at D
    share: float | None  # of the viewer's accounts
    mrr: float  # the viewer's accounts' MRR at D
    churn_rate: float | None
    churn_rate_interval: ConfidenceInterval | None
    churn_observations: int  # account-months behind churn_rate
    churned: int
    nrr: float | None
    nrr_accounts: int
    ltv_12m: float | None  # average per account
    ltv_accounts: int
    playbook: Playbook
    missing_axes: tuple[str, ...]  # axes the rule needs that the book lacks (then no members)


class SegmentReport(Contract):
    as_of: date
    accounts: int  # the viewer's active accounts at D
    axes: tuple[AxisCuts, ...]
    absent_axes: tuple[str, ...]  # axes whose data was not loaded
    archetypes: tuple[ArchetypeStats, ...]
    outcome_months: tuple[date, ...]  # month ends behind churn_rate
    nrr_months: tuple[date, ...]  # month ends behind nrr
    book_churn_rate: float | None  # every account at those month ends
    scope: str
    conventions: tuple[str, ...]

    def churn_spread(self) -> tuple[ArchetypeStats, ArchetypeStats] | None:
        """The archetypes with the lowest and the highest churn rate (None with fewer than two)."""
        rated = [a for a in self.archetypes if a.churn_rate is not None and a.key != rules.NOT_ENOUGH_DATA.key]
        if len(rated) < 2:
            return None
        ordered = sorted(rated, key=lambda a: a.churn_rate or 0.0)
        return ordered[0], ordered[-1]


class SegmentPoint(Contract):
    """An account's archetype and axis levels at one month end."""

    as_of: date
    archetype: str
    levels: dict[str, str | None]


class AccountSegment(Contract):
    customer_id: str
    as_of: date
    archetype: str | None  # None when the account is not active at D
    archetype_key: str | None
    description: str | None
    playbook: Playbook | None
    axes: tuple[AxisReading, ...]
    history: tuple[SegmentPoint, ...]  # the month ends before D, oldest first
    note: str | None = None


# -- the book at a date -------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """What the book says at one date: the axes present and their cuts."""

    as_of: date
    present: tuple[str, ...]
    cuts: dict[str, ax.Cuts]


# Published snapshots never change, so what the book says at a date is kept per snapshot:
# the cuts (tiny, many kept: one account's history reads them) and the classified book
# (a few kept: the board and the report read today's). A write session can change under
# its reader, so it is never cached.
_cache_lock = threading.Lock()
_calibrations: OrderedDict[tuple[str, int | None, date], Calibration] = OrderedDict()
_frames: OrderedDict[tuple[str, int | None, date], pd.DataFrame] = OrderedDict()
CALIBRATIONS_KEPT = 256
FRAMES_KEPT = 6


def _cache_key(wh: Warehouse, d: date) -> tuple[str, int | None, date] | None:
    return (str(wh.path), wh.generation, d) if wh.read_only else None


def _keep(store: OrderedDict, key: tuple, value: object, limit: int) -> None:
    with _cache_lock:
        store[key] = value
        store.move_to_end(key)
        while len(store) > limit:
            store.popitem(last=False)


def _recall(store: OrderedDict, key: tuple | None) -> object | None:
    if key is None:
        return None
    with _cache_lock:
        return store.get(key)


def _classify(values: pd.DataFrame, calibrations: dict[date, Calibration]) -> pd.DataFrame:
    """`values` with one `<axis>_level` column per axis and the archetype, each row read with
    the calibration of its date."""
    lv = ax.levels(values, {d: c.cuts for d, c in calibrations.items()})
    present = {d: c.present for d, c in calibrations.items()}
    out = values.copy()
    for key in ax.AXIS_KEYS:
        out[f"{key}_level"] = lv[key]
    out["archetype"] = rules.assign(lv, ax.enough_data(values, present), ax.dormant(values, present))
    return out


def _books(
    wh: Warehouse, dates: list[date], keep: frozenset[date] = frozenset()
) -> tuple[pd.DataFrame, dict[date, Calibration]]:
    """Every active account at each date, classified with that date's book cuts (the
    classified book is kept for the dates in `keep`)."""
    frames: dict[date, pd.DataFrame] = {}
    calibrations: dict[date, Calibration] = {}
    for d in dates:
        key = _cache_key(wh, d)
        frame, calibration = _recall(_frames, key), _recall(_calibrations, key)
        if isinstance(frame, pd.DataFrame) and isinstance(calibration, Calibration):
            frames[d], calibrations[d] = frame, calibration
    missing = [d for d in dates if d not in frames]
    if missing:
        values = ax.axis_values(wh, missing)
        starts = ax.source_starts(wh)
        for d in missing:
            part = values[values["as_of"] == d].reset_index(drop=True)
            present = ax.present_axes(starts, d)
            eligible = ax.enough_data(part, {d: present})
            calibrations[d] = Calibration(d, present, ax.learn_cuts(part, present, eligible))
            frames[d] = _classify(part, {d: calibrations[d]})
            if (key := _cache_key(wh, d)) is not None:
                _keep(_calibrations, key, calibrations[d], CALIBRATIONS_KEPT)
                if d in keep:
                    _keep(_frames, key, frames[d], FRAMES_KEPT)
    return pd.concat([frames[d] for d in dates], ignore_index=True), calibrations


def _calibrations_for(wh: Warehouse, dates: list[date]) -> dict[date, Calibration]:
    found = {}
    for d in dates:
        calibration = _recall(_calibrations, _cache_key(wh, d))
        if isinstance(calibration, Calibration):
            found[d] = calibration
    missing = [d for d in dates if d not in found]
    if missing:
        found.update(_books(wh, missing)[1])
    return found


def report_date(wh: Warehouse, as_of: date | None) -> date:
    """The report's date: `as_of`, or the data's latest day."""
    latest = health.data_as_of(wh)
    if latest is None:
        raise NotFoundError("The warehouse has no dated activity yet, so there are no segments to show.")
    if as_of is None:
        return latest
    if as_of > latest:
        raise BadInputError(f"The date {as_of} is after the data's latest day ({latest}); use {latest} or earlier.")
    return as_of


def axis_cuts(wh: Warehouse, as_of: date | None = None) -> tuple[AxisCuts, ...]:
    """The level cuts of the present axes at `as_of` (default: the data's latest day), learned
    from the whole book; they name no account, so every viewer may see them."""
    d = report_date(wh, as_of)
    calibration = _calibrations_for(wh, [d])[d]
    return tuple(_axis_cuts(key, cut) for key, cut in calibration.cuts.items())


def _mine(frame: pd.DataFrame, viewer: Viewer) -> pd.DataFrame:
    return frame if viewer.sees_everyone else frame[frame["csm_owner"] == viewer.book_owner]


def segment_of_accounts(wh: Warehouse, viewer: Viewer, as_of: date | None = None) -> pd.DataFrame:
    """customer_id, archetype and one level column per axis (named by the axis key) for the
    viewer's accounts active at `as_of` (default: the data's latest day)."""
    d = report_date(wh, as_of)
    classified, _ = _books(wh, [d], keep=frozenset({d}))
    return _levels_of(_mine(classified, viewer))


def segments_at_dates(wh: Warehouse, viewer: Viewer, dates: Sequence[date]) -> dict[date, pd.DataFrame]:
    """`segment_of_accounts` at each of `dates`, the book read in one query for all of them (a
    query per date costs about as much as one for several: each scans the usage log). The
    classified books are not kept, so they do not push today's out of the cache."""
    days = sorted({report_date(wh, d) for d in dates})
    classified, _ = _books(wh, days)
    mine = _mine(classified, viewer)
    return {d: _levels_of(mine[mine["as_of"] == d]) for d in days}


def _levels_of(classified: pd.DataFrame) -> pd.DataFrame:
    out = classified[["customer_id", "archetype", *(f"{k}_level" for k in ax.AXIS_KEYS)]]
    return out.rename(columns={f"{k}_level": k for k in ax.AXIS_KEYS}).reset_index(drop=True)


# -- statistics -------------------------------------------------------------------------------------
def _active_counts(wh: Warehouse, dates: list[date]) -> dict[date, int]:
    rows = wh.rows(
        "SELECT p.d, count(*) FROM customers c, (SELECT unnest(CAST(? AS DATE[])) AS d) p "
        "WHERE c.signup_date <= p.d AND (c.churn_date IS NULL OR c.churn_date > p.d) GROUP BY 1",
        [dates],
    )
    return {pd.Timestamp(d).date(): int(n) for d, n in rows}


def _pooled_months(wh: Warehouse, last: date, at_most: int) -> list[date]:
    """The latest month ends up to `last`, newest first, until they hold MIN_OBSERVATIONS
    active accounts between them (at most `at_most`)."""
    first = wh.scalar("SELECT min(signup_date) FROM customers WHERE signup_date <= ?", [last])
    if first is None:
        return []
    candidates = list(reversed(month_ends(first, last)))[:at_most]
    counts = _active_counts(wh, candidates) if candidates else {}
    chosen, total = [], 0
    for d in candidates:
        if counts.get(d, 0) == 0:
            continue
        chosen.append(d)
        total += counts[d]
        if total >= MIN_OBSERVATIONS:
            break
    return chosen


def wilson(rate: float, n: float, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion observed on n (possibly effective) trials."""
    if n <= 0:
        return 0.0, 1.0
    z = float(norm.ppf(0.5 + level / 2))
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def clustered_rate(frame: pd.DataFrame) -> tuple[float, float, float, int, int] | None:
    """(rate, lower, upper, observations, churned) of `churned` over rows of customer_id,
    with the interval on the effective sample size of the account-clustered variance."""
    n = len(frame)
    if n == 0:
        return None
    y = frame["churned"].to_numpy(dtype=float)
    rate = float(y.mean())
    per = frame.assign(y=y).groupby("customer_id")["y"].agg(["sum", "count"])
    accounts = len(per)
    resid = per["sum"].to_numpy() - rate * per["count"].to_numpy()
    variance = float((resid**2).sum()) / n**2 * (accounts / max(accounts - 1, 1))
    effective = rate * (1 - rate) / variance if variance > 0 else float(accounts)
    lo, hi = wilson(rate, min(effective, float(n)))
    return rate, lo, hi, n, int(y.sum())


def _outcomes(wh: Warehouse, classified: pd.DataFrame) -> pd.DataFrame:
    """classified rows (customer_id, as_of, archetype) with churned = left within 90 days."""
    churn = wh.df("SELECT customer_id, churn_date FROM customers WHERE churn_date IS NOT NULL")
    frame = classified[["customer_id", "as_of", "archetype"]].merge(churn, on="customer_id", how="left")
    start = pd.to_datetime(frame["as_of"])
    left = pd.to_datetime(frame["churn_date"])
    frame["churned"] = ((left > start) & (left <= start + pd.Timedelta(days=CHURN_HORIZON_DAYS))).astype(int)
    return frame


def _nrr_frame(wh: Warehouse, classified: pd.DataFrame) -> pd.DataFrame:
    """classified rows with mrr_start (MRR at the month end) and mrr_end (12 months later, 0 once churned)."""
    parts = []
    for d, part in classified.groupby("as_of"):
        end = d + relativedelta(months=12)
        later = wh.df(
            "SELECT c.customer_id, CASE WHEN c.churn_date <= $1 THEN 0.0 ELSE coalesce(m.mrr, 0.0) END AS mrr_end "
            "FROM customers c LEFT JOIN (SELECT customer_id, arg_max(mrr, month) AS mrr FROM mrr_history "
            "WHERE month <= $1 GROUP BY 1) m USING (customer_id) WHERE c.signup_date <= $2",
            [end, d],
        )
        parts.append(part.merge(later, on="customer_id", how="left").rename(columns={"mrr": "mrr_start"}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


_LATEST_SCORES_SQL = (
    "SELECT customer_id, arg_max(churn_probability, as_of) AS p, arg_max(mrr, as_of) AS scored_mrr "  # noqa: S608 - engine-written condition, values bound
    f"FROM ({latest_predictions_sql('as_of <= ?')}) GROUP BY 1"
)


def _ltv(wh: Warehouse, current: pd.DataFrame, d: date) -> pd.DataFrame:
    """current rows (customer_id, archetype, mrr) with ltv_12m from the latest prediction on or before d."""
    scores = wh.df(_LATEST_SCORES_SQL, [d])
    frame = current[["customer_id", "archetype", "mrr"]].merge(scores, on="customer_id", how="inner")
    p = frame["p"].clip(0.0, 1.0 - 1e-12).to_numpy(dtype=float)
    keep = (1.0 - p) ** (1.0 / 3.0)  # 1 - monthly hazard
    factor = np.where(keep < 1.0, (1.0 - keep**LTV_MONTHS) / (1.0 - keep), float(LTV_MONTHS))
    mrr = frame["scored_mrr"].fillna(frame["mrr"]).fillna(0.0).to_numpy(dtype=float)
    frame["ltv_12m"] = mrr * factor
    return frame


def _findings(stats: dict[str, dict], book_rate: float | None) -> dict[str, list[str]]:
    """Sentences stated from the numbers (so they hold by construction, and tests check them)."""
    out: dict[str, list[str]] = {name: [] for name in stats}
    rated = {n: s for n, s in stats.items() if s["churn_rate"] is not None and n != rules.NOT_ENOUGH_DATA.name}
    if len(rated) >= 2:
        top = max(rated, key=lambda n: rated[n]["churn_rate"])
        low = min(rated, key=lambda n: rated[n]["churn_rate"])
        out[top].append("Highest 90-day churn of the archetypes.")
        out[low].append("Lowest 90-day churn of the archetypes.")
    if book_rate is not None:
        for name, s in rated.items():
            band = s["churn_rate_interval"]
            if band.lower > book_rate:
                out[name].append(
                    f"Churns more than the book ({book_rate * 100:.1f}% within 90 days), beyond the interval."
                )
            elif band.upper < book_rate:
                out[name].append(
                    f"Churns less than the book ({book_rate * 100:.1f}% within 90 days), beyond the interval."
                )
    nrr = {n: s["nrr"] for n, s in stats.items() if s["nrr"] is not None and n != rules.NOT_ENOUGH_DATA.name}
    if len(nrr) >= 2:
        out[max(nrr, key=lambda n: nrr[n])].append("Highest net revenue retention of the archetypes.")
        out[min(nrr, key=lambda n: nrr[n])].append("Lowest net revenue retention of the archetypes.")
    return out


def book_segments(wh: Warehouse, viewer: Viewer, as_of: date | None = None) -> SegmentReport:
    """Archetypes of the book at `as_of` (default: the data's latest day) with their cuts and statistics."""
    d = report_date(wh, as_of)
    outcome = _pooled_months(wh, d - pd.Timedelta(days=CHURN_HORIZON_DAYS), OUTCOME_MONTHS)
    cohorts = _pooled_months(wh, d - relativedelta(months=12), NRR_MONTHS)
    dates = sorted({d, *outcome, *cohorts})
    classified, calibrations = _books(wh, dates, keep=frozenset(dates))
    current = classified[classified["as_of"] == d]
    mine = _mine(current, viewer)

    outcomes = _outcomes(wh, classified[classified["as_of"].isin(outcome)])
    book = clustered_rate(outcomes[outcomes["archetype"] != rules.NOT_ENOUGH_DATA.name])
    nrr = _nrr_frame(wh, classified[classified["as_of"].isin(cohorts)])
    ltv = _ltv(wh, current, d)
    calibration = calibrations[d]
    missing = rules.available(calibration.present)

    stats: dict[str, dict] = {}
    for archetype in rules.ARCHETYPES:
        members = mine[mine["archetype"] == archetype.name]
        rate = clustered_rate(outcomes[outcomes["archetype"] == archetype.name])
        cohort = nrr[nrr["archetype"] == archetype.name] if len(nrr) else nrr
        start = float(cohort["mrr_start"].fillna(0).sum()) if len(cohort) else 0.0
        worth = ltv[ltv["archetype"] == archetype.name]["ltv_12m"]
        stats[archetype.name] = {
            "accounts": len(members),
            "share": len(members) / len(mine) if len(mine) else None,
            "mrr": float(members["mrr"].fillna(0).sum()),
            "churn_rate": rate[0] if rate else None,
            "churn_rate_interval": ConfidenceInterval(lower=rate[1], upper=rate[2], level=INTERVAL_LEVEL)
            if rate
            else None,
            "churn_observations": rate[3] if rate else 0,
            "churned": rate[4] if rate else 0,
            "nrr": float(cohort["mrr_end"].fillna(0).sum()) / start if start > 0 else None,
            "nrr_accounts": int((cohort["mrr_start"].fillna(0) > 0).sum()) if len(cohort) else 0,
            "ltv_12m": float(worth.mean()) if len(worth) else None,
            "ltv_accounts": len(worth),
        }
    findings = _findings(stats, book[0] if book else None)
    return SegmentReport(
        as_of=d,
        accounts=len(mine),
        axes=tuple(_axis_cuts(key, cut) for key, cut in calibration.cuts.items()),
        absent_axes=tuple(k for k in ax.AXIS_KEYS if k not in calibration.present),
        archetypes=tuple(
            ArchetypeStats(
                key=a.key,
                name=a.name,
                description=a.description,
                findings=tuple(findings[a.name]),
                playbook=a.playbook,
                missing_axes=missing[a.name],
                **stats[a.name],
            )
            for a in rules.ARCHETYPES
        ),
        outcome_months=tuple(sorted(outcome)),
        nrr_months=tuple(sorted(cohorts)),
        book_churn_rate=book[0] if book else None,
        scope=(
            "Level cuts, churn rates, NRR and LTV describe the whole book; account counts and MRR are "
            + ("the whole book." if viewer.sees_everyone else f"{viewer.book_owner}'s accounts.")
        ),
        conventions=CONVENTIONS,
    )


CONVENTIONS = (
    "Axes are read point-in-time: only rows dated on or before the report's date count.",
    "Levels: low at or below the low cut, high above the high cut, learned as quantiles of the book's "
    "accounts with enough data at that date (tertiles; 20% / 80% with a floor for trend and momentum).",
    "An account takes the first archetype whose rule it matches, in the listed order.",
    f"churn_rate: share of the archetype's accounts at the listed month ends that churned within "
    f"{CHURN_HORIZON_DAYS} days; {INTERVAL_LEVEL:.0%} Wilson interval on the account-clustered effective sample.",
    "nrr: the archetype's accounts' MRR 12 months after each listed month end (0 once churned) over their MRR then.",
    "ltv_12m: average per account of MRR x sum over the next 12 months of the survival from the latest "
    "churn prediction (monthly hazard 1 - (1 - p90)^(1/3)), MRR flat.",
)


def _axis_cuts(key: str, cut: ax.Cuts) -> AxisCuts:
    axis = ax.BY_KEY[key]
    return AxisCuts(
        axis=key,
        label=axis.label,
        unit=axis.unit,
        meaning=axis.meaning,
        low_at_most=cut.low_at_most,
        high_above=cut.high_above,
        words=axis.words,
        accounts=cut.accounts,
    )


# -- one account ------------------------------------------------------------------------------------
NOT_IN_BOOK = (
    "This account is not in your book, or there is no account with this id. "
    "Check the link, or open the account from your risk board."
)


def _check_access(wh: Warehouse, viewer: Viewer, customer_id: str) -> str:
    text = str(customer_id or "").strip()
    if not text:
        raise BadInputError("Give a customer id (open an account from the risk board, or paste its id).")
    found = wh.rows("SELECT csm_owner FROM customers WHERE customer_id = ?", [text])
    if not found or not viewer.owns(found[0][0]):
        # One message for "no such id" and "another CSM's account": ids of other books are not confirmed.
        raise NotFoundError(NOT_IN_BOOK if not viewer.sees_everyone else f"No customer with id '{text}'.")
    return text


def account_segment(wh: Warehouse, viewer: Viewer, customer_id: str, months: int = 6) -> AccountSegment:
    """The account's archetype and axis readings at the data's latest day, and its archetype
    and levels at the `months` month ends before it (those it was active at), oldest first."""
    customer_id = _check_access(wh, viewer, customer_id)
    if not 0 <= months <= 36:
        raise BadInputError(f"months must be between 0 and 36 (got {months}).")
    d = report_date(wh, None)
    signup = wh.scalar("SELECT signup_date FROM customers WHERE customer_id = ?", [customer_id])
    past = [m for m in month_ends(signup, d) if m < d][-months:] if months else []
    dates = [*past, d]
    values = ax.axis_values(wh, dates, customer_id)
    calibrations = _calibrations_for(wh, [v for v in dates if v in set(values["as_of"])])
    rows = {row["as_of"]: row for _, row in _classify(values, calibrations).iterrows()}
    history = tuple(
        SegmentPoint(
            as_of=m,
            archetype=str(rows[m]["archetype"]),
            levels={k: _level(rows[m][f"{k}_level"]) for k in calibrations[m].present},
        )
        for m in past
        if m in rows
    )
    now = rows.get(d)
    if now is None:
        return AccountSegment(
            customer_id=customer_id,
            as_of=d,
            archetype=None,
            archetype_key=None,
            description=None,
            playbook=None,
            axes=(),
            history=history,
            note=f"Not an active account on {formatting.day(d)}, so it has no current segment.",
        )
    archetype = rules.BY_NAME[str(now["archetype"])]
    return AccountSegment(
        customer_id=customer_id,
        as_of=d,
        archetype=archetype.name,
        archetype_key=archetype.key,
        description=archetype.description,
        playbook=archetype.playbook,
        axes=tuple(_reading(key, now, calibrations[d].cuts.get(key)) for key in calibrations[d].present),
        history=history,
    )


def _level(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _reading(key: str, row: pd.Series, cut: ax.Cuts | None) -> AxisReading:
    axis = ax.BY_KEY[key]
    value = row[key]
    level = _level(row[f"{key}_level"])
    return AxisReading(
        axis=key,
        label=axis.label,
        unit=axis.unit,
        value=float(value) if pd.notna(value) else None,
        level=level,
        word=axis.word(level),
        low_at_most=cut.low_at_most if cut else None,
        high_above=cut.high_above if cut else None,
    )
