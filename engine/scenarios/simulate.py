"""Running a plan: the baseline, the model's view of it, and the lever maths.

The baseline is the latest stored prediction per account in the viewer's scope. Levers apply
in a fixed order — model-based levers (adoption push, support improvement), then the renewal
discount, the price change, and CS outreach last (its uplift curve sees every other lever) —
and the revenue effects of the price levers are settled once the final churn is known.

Model-based levers shift each account's stored probability by the model's own change in
log-odds between the original and the changed features (logit/sigmoid from
engine.core.values), so a lever whose features do not move leaves the account exactly at its
baseline, and the stored score (which may come from a run the current data no longer
reproduces bit for bit) stays the anchor.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from engine.accounts import board
from engine.churn import features as feats
from engine.churn import registry, scoring
from engine.core.access import Viewer
from engine.core.errors import BadInputError
from engine.core.kept import Kept
from engine.core.values import logit as _logit
from engine.core.values import sigmoid
from engine.data.warehouse import Warehouse
from engine.scenarios.plan import LEVER_LABELS, LEVERS, Discount, Lever, Outreach, Plan, PriceChange, Segment
from engine.scenarios.readout import CONVENTIONS, readout_text
from engine.scenarios.results import (
    BREAKDOWN_DIMENSIONS,
    MONTHS_IN_WINDOW,
    MONTHS_IN_YEAR,
    SEGMENT_COLUMNS,
    UPLIFT_COLUMNS,
    LeverEffect,
    ScenarioResult,
    Totals,
)

ROI_POINTS = (10, 25, 50, 100)  # "ROI if we contact the top k"
TIER_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}

# The feature columns each model-based lever may change (nothing else reaches the model changed).
ADOPTION_COLUMNS = (
    "events_last_7d",
    "events_last_30d",
    "events_last_90d",
    "events_per_seat_30d",
    "usage_decay_score",
    "usage_trend",
)
SUPPORT_COLUMNS = ("avg_resolution_hours_90d", "open_tickets")
LEVER_COLUMNS = {"adoption": ADOPTION_COLUMNS, "support": SUPPORT_COLUMNS}


# Per-event-type usage the adoption lever raises too ("evt_<type>_count_28d" ...): a company's
# model reads its own event types, and moving only the totals left its scores where they were.
EVENT_USAGE_STATS = ("count_7d", "count_28d", "count_90d", "trend_28d", "value_7d", "value_28d", "value_90d")


def event_usage_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The per-event-type usage columns among `columns` (what `raise_usage` changes besides the totals)."""
    return tuple(c for c in columns if (found := feats.event_key_of(c)) and found[1] in EVENT_USAGE_STATS)


def lever_reach(model_features: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Per model-based lever, the columns it changes that the model reads. None means the lever
    cannot move a score: a tenure baseline serving, or a company that loaded no support tickets."""
    used = set(model_features)
    reach = {lever: tuple(c for c in columns if c in used) for lever, columns in LEVER_COLUMNS.items()}
    reach["adoption"] += event_usage_columns(list(model_features))
    return reach


UNREACHED = "The serving model reads none of the features this lever changes ({columns}), so it cannot change a score."


# -- inputs: the baseline and the model's view of it ---------------------------------------------
@dataclass(frozen=True)
class ModelInputs:
    """Features as of the scoring date for the baseline's accounts (aligned row for row; rows
    without features are NaN and flagged), the production model, and its own predictions on them."""

    version: str
    model: Any
    features: pd.DataFrame
    has_features: np.ndarray
    probability: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


@dataclass(frozen=True)
class Baseline:
    """The latest stored prediction per account in the viewer's scope, with what segments need."""

    frame: pd.DataFrame
    as_of: date
    scores_model_version: str | None
    stamp: str
    data_dir: str
    scope: tuple[str, str] = ("*", "all")  # whose book: ("*", "all") or (username, role)


# Baselines, their segments and model inputs for a few books: the feature frame at 100,000
# accounts takes seconds to build.
_cache: Kept[Any] = Kept(6)
T = TypeVar("T")


def _cached(key: Hashable, build: Callable[[], T]) -> T:
    found: T = _cache.get(key, build)
    return found


def clear_cache() -> None:
    _cache.clear()


def data_stamp(wh: Warehouse) -> str:
    """Changes when scores or any feature source change (a scoring run, a load)."""
    scored = wh.rows("SELECT max(scored_at), count(*) FROM predictions")[0]
    counts = wh.table_counts()
    return f"{scored[0]}|{scored[1]}|" + ",".join(f"{k}={v}" for k, v in sorted(counts.items()))


def load_baseline(wh: Warehouse, viewer: Viewer, data_dir: str | Path | None = None) -> Baseline:
    """The accounts a scenario works on: the board's rows plus tenure at the scoring date."""
    stamp = data_stamp(wh)
    scope = (viewer.book_owner, viewer.role) if not viewer.sees_everyone else ("*", "all")
    return _cached(("baseline", str(wh.path), scope, stamp), lambda: _load_baseline(wh, viewer, data_dir, stamp, scope))


def _load_baseline(
    wh: Warehouse, viewer: Viewer, data_dir: str | Path | None, stamp: str, scope: tuple[str, str]
) -> Baseline:
    frame = board.board_frame(wh, viewer)
    if frame.empty:
        raise BadInputError(
            "No scored accounts to simulate on. Score customers first (`.venv/bin/python -m engine score`, or "
            "`.venv/bin/python -m engine demo` for demo data)."
        )
    signup = wh.df("SELECT customer_id, signup_date FROM customers")
    frame = frame.merge(signup, on="customer_id", how="left")
    as_of = pd.Timestamp(frame["as_of"].max())
    frame["tenure_days"] = (as_of - pd.to_datetime(frame["signup_date"])).dt.days
    frame["mrr"] = frame["mrr"].fillna(0.0).astype(float)
    for col in ("churn_probability", "ci_low", "ci_high"):
        frame[col] = frame[col].astype(float)
    frame["ci_low"] = frame["ci_low"].fillna(frame["churn_probability"])
    frame["ci_high"] = frame["ci_high"].fillna(frame["churn_probability"])
    return Baseline(
        frame=frame.reset_index(drop=True),
        as_of=as_of.date(),
        scores_model_version=str(frame["model_version"].mode().iloc[0]),
        stamp=stamp,
        data_dir=str(data_dir or ""),
        scope=scope,
    )


def uses_segments(plan: Plan) -> bool:
    """Does any lever narrow its accounts by behavioural segment?"""
    return any(plan.lever(name).segment.segments for name in LEVERS)


def with_segments(wh: Warehouse, viewer: Viewer, base: Baseline) -> Baseline:
    """The baseline with each account's behavioural segment (`archetype`), read once per baseline
    and kept: only plans that filter by segment pay for it."""
    if board.SEGMENT_COLUMN in base.frame:
        return base
    key = ("segments", str(wh.path), base.scope, base.stamp)
    return _cached(key, lambda: replace(base, frame=board.with_segments(wh, viewer, base.frame)))


def model_inputs(wh: Warehouse, base: Baseline, data_dir: str | Path | None = None) -> ModelInputs:
    """Features as of the baseline's date and the production model's predictions on them (cached)."""
    version = registry.production("churn", data_dir)
    key = ("model", str(wh.path), base.stamp, base.scope, version.version if version else None)
    return _cached(key, lambda: _model_inputs(wh, base, data_dir))


def _model_inputs(wh: Warehouse, base: Baseline, data_dir: str | Path | None) -> ModelInputs:
    version, model = registry.load_production("churn", data_dir)
    frame = feats.features_as_of(wh, base.as_of, feature_set=scoring.scoring_features(model))
    index = pd.Index(frame["customer_id"])
    position = index.get_indexer(base.frame["customer_id"])
    has = position >= 0
    aligned = frame.iloc[np.where(has, position, 0)].reset_index(drop=True)
    if not has.all():  # accounts scored but without features at that date: never re-scored
        aligned.loc[~has, list(feats.FEATURE_NAMES)] = np.nan
    pred = model.predict(aligned) if len(aligned) else None
    return ModelInputs(
        version=version.version,
        model=model,
        features=aligned,
        has_features=has,
        probability=pred.churn_probability if pred else np.array([]),
        ci_low=pred.ci_low if pred else np.array([]),
        ci_high=pred.ci_high if pred else np.array([]),
    )


# -- changing features (model-based levers) ------------------------------------------------------
def raise_usage(frame: pd.DataFrame, increase: float) -> pd.DataFrame:
    """The frame with product events in the last 30 days up by `increase` (a fraction), and the
    columns derived from them recomputed; only ADOPTION_COLUMNS and each event type's recent
    counts and values (`event_usage_columns`, the mix kept) change."""
    out = frame.copy()
    e30 = out["events_last_30d"].astype(float)
    prev30 = out["events_prev_30d"].astype(float)
    e90 = out["events_last_90d"].astype(float)
    e_60_90 = (e90 - e30 - prev30).clip(lower=0)  # not a column of its own; recovered for the trend
    new30 = e30 * (1 + increase)
    out["events_last_30d"] = new30
    out["events_last_7d"] = out["events_last_7d"].astype(float) * (1 + increase)
    out["events_last_90d"] = e90 + (new30 - e30)
    if "seats" in out:  # a company that loaded no seats has neither seats nor events per seat
        out["events_per_seat_30d"] = new30 / np.maximum(out["seats"].astype(float).fillna(1), 1)
    out["usage_decay_score"] = np.where(prev30 > 0, np.maximum(0, 1 - new30 / prev30.where(prev30 > 0, 1)), 0.0)
    out["usage_trend"] = np.log((new30 + 1) / (e_60_90 + 1))
    _raise_event_types(out, increase)
    return out


def _raise_event_types(out: pd.DataFrame, increase: float) -> None:
    """Each event type's last 7 and 28 days up by `increase`, its 90 days by the 28 days' gain,
    its trend recomputed (the previous 28 days read back from it); values move with the counts.
    As the one-account what-if does (`engine.accounts.whatif`)."""
    keys = {found[0] for c in out.columns if (found := feats.event_key_of(c))}
    for key in sorted(keys):
        col = f"evt_{key}_{{}}".format
        for kind in ("count", "value"):
            recent, week, quarter = col(f"{kind}_28d"), col(f"{kind}_7d"), col(f"{kind}_90d")
            if recent in out:
                old28 = out[recent].astype(float)
            elif quarter in out:  # screened out: the last 28 days' share of the 90 days
                old28 = out[quarter].astype(float) * 28 / 90
            else:
                continue
            gain = old28 * increase
            if kind == "count" and col("trend_28d") in out:
                out[col("trend_28d")] = feats.trend_after(out[col("trend_28d")].astype(float), old28, old28 + gain)
            if recent in out:
                out[recent] = old28 + gain
            if week in out:
                out[week] = out[week].astype(float) * (1 + increase)
            if quarter in out:
                out[quarter] = out[quarter].astype(float) + gain


def improve_support(frame: pd.DataFrame, resolution_cut: float, tickets_cleared: float) -> pd.DataFrame:
    """The frame with resolution time down `resolution_cut` and open tickets down `tickets_cleared`
    (fractions); only SUPPORT_COLUMNS change."""
    out = frame.copy()
    if "avg_resolution_hours_90d" in out:  # absent for a company that loaded no tickets
        out["avg_resolution_hours_90d"] = out["avg_resolution_hours_90d"].astype(float) * (1 - resolution_cut)
    if "open_tickets" in out:
        out["open_tickets"] = np.round(out["open_tickets"].astype(float) * (1 - tickets_cleared))
    return out


# -- simulation ------------------------------------------------------------------------------------
def simulate(wh: Warehouse, plan: Plan, viewer: Viewer, data_dir: str | Path | None = None) -> ScenarioResult:
    """Run a plan against the latest scores. Analysts and admins only (executives read saved plans)."""
    viewer.require("edit_scenarios")
    base = load_baseline(wh, viewer, data_dir)
    if uses_segments(plan):
        base = with_segments(wh, viewer, base)
    inputs = None
    if plan.adoption.active or plan.support.active:
        inputs = model_inputs(wh, base, data_dir)
    return run(base, plan, inputs)


def segment_mask(frame: pd.DataFrame, segment: Segment) -> np.ndarray:
    """True for the rows a segment covers."""
    keep = np.ones(len(frame), dtype=bool)
    for column, chosen in (
        ("risk_tier", segment.risk_tiers),
        ("plan_tier", segment.plans),
        ("industry", segment.industries),
        ("region", segment.regions),
        ("csm_owner", segment.owners),
    ):
        if chosen:
            keep &= frame[column].isin(list(chosen)).to_numpy()
    if segment.segments:
        if board.SEGMENT_COLUMN not in frame:
            raise BadInputError(
                "A behavioural-segment filter needs the accounts' segments; run the plan with `simulate`."
            )
        keep &= frame[board.SEGMENT_COLUMN].isin(list(segment.segments)).to_numpy()
    if segment.renewal_within_days is not None:
        days = frame["days_to_renewal"].astype(float).to_numpy()
        keep &= (days >= 0) & (days <= segment.renewal_within_days)
    if segment.max_tenure_days is not None:
        keep &= (frame["tenure_days"].astype(float) <= segment.max_tenure_days).to_numpy()
    return keep


def _lever_rows(frame: pd.DataFrame, name: str, lever: Lever) -> np.ndarray:
    rows = segment_mask(frame, lever.segment)
    if not rows.any():
        raise BadInputError(
            f"{LEVER_LABELS[name]}: its segment ({lever.segment.describe()}) matches no scored account. "
            "Widen the segment or turn the lever off."
        )
    return rows


def _shift(stored: np.ndarray, model_before: np.ndarray, model_after: np.ndarray) -> np.ndarray:
    """The stored probability moved by the model's change in log-odds."""
    moved = _logit(stored) + _logit(model_after) - _logit(model_before)
    out = sigmoid(moved)
    return np.where(model_after == model_before, stored, out)


@dataclass
class _State:
    """Per-account arrays while levers apply, in order."""

    p: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    arr: np.ndarray  # MRR x 12

    def lost(self) -> float:
        return float(np.sum(self.p * self.arr))

    def scale(self, rows: np.ndarray, factor: np.ndarray | float) -> None:
        for name in ("p", "lo", "hi"):
            values = getattr(self, name)
            values[rows] = np.clip(values[rows] * factor, 0.0, 1.0)


def run(base: Baseline, plan: Plan, inputs: ModelInputs | None = None) -> ScenarioResult:
    """The plan applied to a baseline (use `simulate`; this is the pure part, for tests and benches).
    A Plan checks its own values when it is made, so there is nothing left to validate here."""
    frame = base.frame
    mrr = frame["mrr"].to_numpy(dtype=float)
    p0 = frame["churn_probability"].to_numpy(dtype=float)
    lo0 = frame["ci_low"].to_numpy(dtype=float)
    hi0 = frame["ci_high"].to_numpy(dtype=float)
    state = _State(p0.copy(), lo0.copy(), hi0.copy(), mrr * MONTHS_IN_YEAR)
    cost = np.zeros(len(frame))
    effects: list[LeverEffect] = []
    notes: list[str] = []

    effects += _model_levers(frame, plan, inputs, state, cost, notes)
    effects.append(_discount(frame, plan.discount, state))
    effects.append(_price(frame, plan.price, state))
    outreach_effect, uplift, roi_at, contacted = _outreach(frame, plan.outreach, state, cost, notes)
    effects.append(outreach_effect)

    # Revenue effects of the price levers depend on who stays, so they are settled last.
    stay = 1 - state.p
    discount_rows = segment_mask(frame, plan.discount.segment) if plan.discount.active else np.zeros(len(frame), bool)
    price_rows = segment_mask(frame, plan.price.segment) if plan.price.active else np.zeros(len(frame), bool)
    discount_share = np.where(discount_rows, plan.discount.percent / 100, 0.0)
    discount_cost = discount_share * state.arr * stay
    cost += discount_cost
    price_share = np.where(price_rows, plan.price.percent / 100, 0.0)
    price_revenue = price_share * (1 - discount_share) * state.arr * stay
    effects = [
        e.model_copy(update={"cost": float(discount_cost.sum())}) if e.lever == "discount" and e.active else e
        for e in effects
    ]

    baseline = _totals(p0, lo0, hi0, mrr)
    scenario = _totals(state.p, state.lo, state.hi, mrr)
    retained = baseline.arr_lost_12m - scenario.arr_lost_12m
    bounds = (
        baseline.arr_lost_12m_low - scenario.arr_lost_12m_low,
        baseline.arr_lost_12m_high - scenario.arr_lost_12m_high,
    )
    total_cost = float(cost.sum())
    price_total = float(price_revenue.sum())
    net = retained + price_total - total_cost
    roi = net / total_cost if total_cost > 0 else None
    if inputs is not None and base.scores_model_version and inputs.version != base.scores_model_version:
        notes.append(
            f"The scores were made by {base.scores_model_version}; model-based levers re-score with the production "
            f"model {inputs.version}. Run `.venv/bin/python -m engine score` so both agree."
        )
    segments = _breakdown(frame, p0, state.p, mrr, cost)
    result_levers = tuple(effects)
    text = readout_text(
        baseline, scenario, retained, bounds, total_cost, price_total, roi, result_levers, roi_at, contacted
    )
    return ScenarioResult(
        plan=plan,
        baseline=baseline,
        scenario=scenario,
        revenue_retained=retained,
        revenue_retained_low=min(bounds),
        revenue_retained_high=max(bounds),
        price_revenue=price_total,
        cost=total_cost,
        net_benefit=net,
        roi=roi,
        roi_at=roi_at,
        levers=result_levers,
        segments=segments,
        uplift=uplift,
        readout=text,
        as_of=base.as_of,
        scores_model_version=base.scores_model_version,
        model_version=inputs.version if inputs is not None else None,
        conventions=CONVENTIONS,
        notes=tuple(notes),
    )


def _effect(
    name: str,
    basis: str,
    assumption: str,
    value: float | None,
    segment: Segment,
    accounts: int = 0,
    retained: float = 0.0,
    cost: float = 0.0,
    columns: tuple[str, ...] = (),
    active: bool = True,
) -> LeverEffect:
    return LeverEffect(
        lever=name,
        label=LEVER_LABELS[name],
        active=active,
        basis=basis,
        assumption=assumption,
        assumption_value=value,
        segment=segment.describe(),
        accounts=accounts,
        revenue_retained=retained,
        cost=cost,
        features_changed=columns,
    )


def _off(
    name: str, basis: str, assumption: str, value: float | None, segment: Segment, columns: tuple[str, ...] = ()
) -> LeverEffect:
    return _effect(name, basis, assumption, value, segment, columns=columns, active=False)


def _model_levers(
    frame: pd.DataFrame,
    plan: Plan,
    inputs: ModelInputs | None,
    state: _State,
    cost: np.ndarray,
    notes: list[str],
) -> list[LeverEffect]:
    """Adoption push then support improvement: change the named features, re-score the changed rows."""
    a, s = plan.adoption, plan.support
    a_text = f"usage +{a.usage_increase:g}% re-scored by the churn model"
    s_text = (
        f"resolution time -{s.resolution_time_cut:g}%, {s.open_tickets_cleared:g}% of open tickets cleared, "
        "re-scored by the churn model"
    )
    if not (a.active or s.active):
        return [
            _off("adoption", "model", a_text, a.usage_increase, a.segment, ADOPTION_COLUMNS),
            _off("support", "model", s_text, s.resolution_time_cut, s.segment, SUPPORT_COLUMNS),
        ]
    if inputs is None:
        raise BadInputError("Model-based levers need the model inputs; run the plan with `simulate`.")
    work = inputs.features
    model_p, model_lo, model_hi = inputs.probability.copy(), inputs.ci_low.copy(), inputs.ci_high.copy()
    missing = int((~inputs.has_features).sum())
    if missing:
        notes.append(f"{missing:,} scored accounts have no features at the scoring date; model levers skip them.")
    out = []
    steps = (
        ("adoption", a, a_text, a.usage_increase, ADOPTION_COLUMNS, lambda f: raise_usage(f, a.usage_increase / 100)),
        (
            "support",
            s,
            s_text,
            s.resolution_time_cut,
            SUPPORT_COLUMNS,
            lambda f: improve_support(f, s.resolution_time_cut / 100, s.open_tickets_cleared / 100),
        ),
    )
    reach = lever_reach(getattr(inputs.model, "features", inputs.features.columns))  # what the model reads
    for name, lever, text, value, columns, change in steps:
        if name == "adoption":
            columns = (*columns, *event_usage_columns(list(work.columns)))
        if not lever.active:
            out.append(_off(name, "model", text, value, lever.segment, columns))
            continue
        if not reach[name]:
            notes.append(f"{name.capitalize()}: " + UNREACHED.format(columns=", ".join(columns)))
        rows = _lever_rows(frame, name, lever)
        cost[rows] += lever.cost_per_account
        lost_before = state.lost()
        scored = rows & inputs.has_features
        if scored.any():
            changed = change(work.loc[scored])
            pred = inputs.model.predict(changed)
            idx = np.flatnonzero(scored)
            state.p[idx] = _shift(state.p[idx], model_p[idx], pred.churn_probability)
            state.lo[idx] = _shift(state.lo[idx], model_lo[idx], pred.ci_low)
            state.hi[idx] = _shift(state.hi[idx], model_hi[idx], pred.ci_high)
            model_p[idx], model_lo[idx], model_hi[idx] = pred.churn_probability, pred.ci_low, pred.ci_high
            work = work.copy() if work is inputs.features else work
            kept = [c for c in columns if c in changed.columns]  # a column of data never loaded is absent
            work.loc[scored, kept] = changed[kept].to_numpy()
        out.append(
            _effect(
                name,
                "model",
                text,
                value,
                lever.segment,
                accounts=int(rows.sum()),
                retained=lost_before - state.lost(),
                cost=float(rows.sum() * lever.cost_per_account),
                columns=columns,
            )
        )
    return out


def _discount(frame: pd.DataFrame, lever: Discount, state: _State) -> LeverEffect:
    text = (
        f"churn × (1 - {lever.elasticity:g} × {lever.percent:g}%) with the discount (elasticity {lever.elasticity:g})"
    )
    if not lever.active:
        return _off("discount", "assumption", text, lever.elasticity, lever.segment)
    rows = _lever_rows(frame, "discount", lever)
    before = state.lost()
    state.scale(rows, max(0.0, 1 - lever.elasticity * lever.percent / 100))
    # Its cost (the revenue given up) is settled once the final churn is known.
    return _effect(
        "discount", "assumption", text, lever.elasticity, lever.segment, int(rows.sum()), before - state.lost()
    )


def _price(frame: pd.DataFrame, lever: PriceChange, state: _State) -> LeverEffect:
    text = f"churn × (1 + {lever.elasticity:g} × {lever.percent:+g}%) with the price change (elasticity {lever.elasticity:g})"
    if not lever.active:
        return _off("price", "assumption", text, lever.elasticity, lever.segment)
    rows = _lever_rows(frame, "price", lever)
    before = state.lost()
    state.scale(rows, max(0.0, 1 + lever.elasticity * lever.percent / 100))
    return _effect("price", "assumption", text, lever.elasticity, lever.segment, int(rows.sum()), before - state.lost())


def target_order(frame: pd.DataFrame, lever: Outreach) -> np.ndarray:
    """Row positions of the lever's segment in the order a CS team would call them."""
    rows = np.flatnonzero(segment_mask(frame, lever.segment))
    at_risk = frame["revenue_at_risk"].to_numpy(dtype=float)[rows]
    if lever.target_by == "risk_tier":
        tier = frame["risk_tier"].map(TIER_RANK).fillna(len(TIER_RANK)).to_numpy()[rows]
        order = np.lexsort((-at_risk, tier))
    else:
        order = np.argsort(-at_risk, kind="stable")
    return rows[order]


def _outreach(
    frame: pd.DataFrame, lever: Outreach, state: _State, cost: np.ndarray, notes: list[str]
) -> tuple[LeverEffect, pd.DataFrame, dict[int, float | None], int]:
    text = f"churn of a contacted account -{lever.churn_reduction:g}% (relative)"
    empty = pd.DataFrame(columns=list(UPLIFT_COLUMNS))
    if not lever.active:
        return _off("outreach", "assumption", text, lever.churn_reduction, lever.segment), empty, {}, 0
    order = target_order(frame, lever)
    if not len(order):
        _lever_rows(frame, "outreach", lever)  # raises the empty-segment error
    share = lever.churn_reduction / 100
    # What each call would recover, given every other lever: the uplift curve.
    gain = state.p[order] * share * state.arr[order]
    recovered = np.cumsum(gain)
    contacts = np.arange(1, len(order) + 1)
    spent = contacts * lever.cost_per_account
    roi = np.where(spent > 0, (recovered - spent) / np.where(spent > 0, spent, 1), np.nan)
    contacted = min(lever.top_n, len(order))
    if lever.top_n > len(order):
        notes.append(
            f"CS outreach: the segment has {len(order):,} accounts, fewer than the {lever.top_n:,} asked for; all are contacted."
        )
    chosen = order[:contacted]
    before = state.lost()
    state.scale(chosen, 1 - share)
    cost[chosen] += lever.cost_per_account
    keep = _curve_points(len(order), contacted)
    uplift = pd.DataFrame(
        {
            "accounts_contacted": contacts[keep - 1],
            "arr_recovered": recovered[keep - 1],
            "cost": spent[keep - 1],
            "roi": roi[keep - 1],
        }
    )
    roi_at = {k: (float(roi[k - 1]) if k <= len(order) and spent[k - 1] > 0 else None) for k in ROI_POINTS}
    effect = _effect(
        "outreach",
        "assumption",
        text,
        lever.churn_reduction,
        lever.segment,
        accounts=contacted,
        retained=before - state.lost(),
        cost=float(contacted * lever.cost_per_account),
    )
    return effect, uplift, roi_at, contacted


def _curve_points(length: int, contacted: int, dense: int = 200, sparse: int = 300) -> np.ndarray:
    """Which k (1-based) to keep on the curve: every k up to `dense`, then log-spaced, plus the
    ROI points, the plan's N and the end; a 100,000-point curve stays a light snapshot."""
    keep = set(range(1, min(length, dense) + 1))
    if length > dense:
        keep |= set(np.unique(np.geomspace(dense, length, sparse).astype(int)).tolist())
    keep |= {k for k in (*ROI_POINTS, contacted, length) if 1 <= k <= length}
    return np.array(sorted(keep), dtype=int)


def _totals(p: np.ndarray, lo: np.ndarray, hi: np.ndarray, mrr: np.ndarray) -> Totals:
    def window(q: np.ndarray, months: int) -> float:
        return float(np.sum(q * mrr) * months)

    return Totals(
        accounts=len(p),
        expected_churned=float(p.sum()),
        expected_churned_low=float(lo.sum()),
        expected_churned_high=float(hi.sum()),
        mrr_lost_90d=window(p, MONTHS_IN_WINDOW),
        mrr_lost_90d_low=window(lo, MONTHS_IN_WINDOW),
        mrr_lost_90d_high=window(hi, MONTHS_IN_WINDOW),
        arr_lost_12m=window(p, MONTHS_IN_YEAR),
        arr_lost_12m_low=window(lo, MONTHS_IN_YEAR),
        arr_lost_12m_high=window(hi, MONTHS_IN_YEAR),
    )


def _breakdown(frame: pd.DataFrame, p0: np.ndarray, p1: np.ndarray, mrr: np.ndarray, cost: np.ndarray) -> pd.DataFrame:
    """Baseline vs scenario per plan, risk tier, region and industry."""
    values = pd.DataFrame(
        {
            "accounts": 1,
            "baseline_churned": p0,
            "scenario_churned": p1,
            "baseline_arr_lost": p0 * mrr * MONTHS_IN_YEAR,
            "scenario_arr_lost": p1 * mrr * MONTHS_IN_YEAR,
            "cost": cost,
        }
    )
    parts = []
    for dimension in BREAKDOWN_DIMENSIONS:
        grouped = values.groupby(frame[dimension].astype(str).to_numpy()).sum()
        grouped = grouped.rename_axis("segment").reset_index()
        grouped.insert(0, "dimension", dimension)
        parts.append(grouped)
    out = pd.concat(parts, ignore_index=True)
    out["accounts"] = out["accounts"].astype(int)
    out["revenue_retained"] = out["baseline_arr_lost"] - out["scenario_arr_lost"]
    out["segment"] = out["segment"].astype(object)
    out["dimension"] = out["dimension"].astype(object)
    return out[list(SEGMENT_COLUMNS)]
