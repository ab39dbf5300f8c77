"""What-if simulation of retention plays against the latest churn scores, and saved plans.

A plan combines five levers, each aimed at a segment of the scored accounts:

* CS outreach to the top N accounts (by revenue at risk, or risk tier first): an assumed
  relative cut of churn probability, a cost per account contacted;
* a renewal discount of X %: lower MRR, and churn lower by a stated elasticity;
* an adoption push: usage up Y %. The usage feature columns (and the ones derived from
  them) are changed and the rows re-scored by the production churn model;
* a support improvement: resolution time down Z %, a share of open tickets closed;
  re-scored by the model, like the adoption push;
* a price change of P %, with churn moving by a stated elasticity.

Conventions (also in every result's `conventions`): the baseline is the latest stored
prediction per account; churn probabilities are 90-day probabilities; expected churned
accounts = sum of p; MRR lost over 90 days = sum of p x MRR x 3 (a churned account's
MRR is taken to stop at the start of the window, an upper bound); ARR lost (12 months)
= sum of p x MRR x 12, the annualised run-rate the board calls revenue at risk. Churn
losses are valued at current MRR. Intervals come from the churn intervals: the totals
are computed again on ci_low and on ci_high, assumption levers apply the same relative
change to the bounds, model-based levers re-score the bounds with the model.

Model-based levers shift each account's stored probability by the model's own change
in log-odds between the original and the changed features, so a lever whose features
do not move leaves the account exactly at its baseline, and the stored score (which may
come from a run the current data no longer reproduces bit for bit) stays the anchor.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select

from engine.accounts import board
from engine.churn import features as feats
from engine.churn import registry
from engine.core import formatting
from engine.core.access import Viewer
from engine.core.errors import BadInputError, NotFoundError
from engine.core.store import get_engine
from engine.core.store import scenarios as scenarios_table
from engine.core.values import logit as _logit
from engine.core.values import sigmoid
from engine.data.warehouse import Warehouse

MONTHS_IN_WINDOW = 3  # the 90-day window of a churn probability, in months
MONTHS_IN_YEAR = 12
ROI_POINTS = (10, 25, 50, 100)  # "ROI if we contact the top k"
COMPARE_MIN, COMPARE_MAX = 2, 5
TARGETING = {"revenue_at_risk": "Revenue at risk (ARR)", "risk_tier": "Risk tier, then revenue at risk"}
TIER_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
BREAKDOWN_DIMENSIONS = {"plan_tier": "Plan", "risk_tier": "Risk tier", "region": "Region", "industry": "Industry"}

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


# -- the plan ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """Which accounts a lever reaches; empty means every scored account."""

    risk_tiers: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    renewal_within_days: int | None = None
    max_tenure_days: int | None = None  # "new accounts": signed up at most this many days before the scores

    def describe(self) -> str:
        parts = [
            f"{label} {', '.join(values)}"
            for label, values in (
                ("risk tier", self.risk_tiers),
                ("plan", self.plans),
                ("industry", self.industries),
                ("region", self.regions),
                ("owner", self.owners),
            )
            if values
        ]
        if self.renewal_within_days is not None:
            parts.append(f"renewing within {self.renewal_within_days} days")
        if self.max_tenure_days is not None:
            parts.append(f"customers for at most {self.max_tenure_days} days")
        return "; ".join(parts) or "all scored accounts"


@dataclass(frozen=True)
class Outreach:
    top_n: int = 0
    target_by: str = "revenue_at_risk"
    churn_reduction: float = 0.0  # percent, relative cut of churn probability of a contacted account
    cost_per_account: float = 0.0
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.top_n > 0 and (self.churn_reduction > 0 or self.cost_per_account > 0)


@dataclass(frozen=True)
class Discount:
    percent: float = 0.0  # off MRR
    elasticity: float = 1.5  # relative churn cut per unit of discount: 10 % x 1.5 = churn 15 % lower
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.percent > 0


@dataclass(frozen=True)
class AdoptionPush:
    usage_increase: float = 0.0  # percent more product events in the last 30 days
    cost_per_account: float = 0.0
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.usage_increase > 0 or self.cost_per_account > 0


@dataclass(frozen=True)
class SupportImprovement:
    resolution_time_cut: float = 0.0  # percent off average resolution time
    open_tickets_cleared: float = 0.0  # percent of open tickets closed
    cost_per_account: float = 0.0
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.resolution_time_cut > 0 or self.open_tickets_cleared > 0 or self.cost_per_account > 0


@dataclass(frozen=True)
class PriceChange:
    percent: float = 0.0  # -100..100, on MRR
    elasticity: float = 1.0  # relative churn change per unit of price change: +10 % x 1.0 = churn 10 % higher
    segment: Segment = Segment()

    @property
    def active(self) -> bool:
        return self.percent != 0


@dataclass(frozen=True)
class Plan:
    outreach: Outreach = Outreach()
    discount: Discount = Discount()
    adoption: AdoptionPush = AdoptionPush()
    support: SupportImprovement = SupportImprovement()
    price: PriceChange = PriceChange()

    def as_dict(self) -> dict:
        return asdict(self)


LEVERS = {
    "outreach": Outreach,
    "discount": Discount,
    "adoption": AdoptionPush,
    "support": SupportImprovement,
    "price": PriceChange,
}
LEVER_LABELS = {
    "outreach": "CS outreach",
    "discount": "Renewal discount",
    "adoption": "Adoption push",
    "support": "Support improvement",
    "price": "Price change",
}


def _build(cls, raw: Any, where: str):
    if raw is None:
        return cls()
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, dict):
        raise BadInputError(f"{where} must be a mapping of settings, not {type(raw).__name__}.")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise BadInputError(f"Unknown setting(s) for {where}: {', '.join(unknown)}. Known: {', '.join(known)}.")
    values = {}
    for name, value in raw.items():
        if name == "segment":
            values[name] = _build(Segment, value, f"{where} segment")
        elif isinstance(value, list | tuple):
            values[name] = tuple(str(v) for v in value)
        else:
            values[name] = value
    return cls(**values)


def plan_from_dict(raw: dict) -> Plan:
    """A Plan from plain settings (JSON, CLI, a saved plan): {lever: {setting: value, segment: {...}}}."""
    if not isinstance(raw, dict):
        raise BadInputError("A plan is a mapping of lever name to its settings.")
    unknown = sorted(set(raw) - set(LEVERS))
    if unknown:
        raise BadInputError(f"Unknown lever(s): {', '.join(unknown)}. Levers are: {', '.join(LEVERS)}.")
    return Plan(**{name: _build(cls, raw.get(name), LEVER_LABELS[name]) for name, cls in LEVERS.items()})


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInputError(f"{what} must be a number, not {value!r}.")
    return float(value)


def _percent(value: Any, what: str, low: float = 0.0) -> None:
    number = _number(value, what)
    if not low <= number <= 100:
        raise BadInputError(f"{what} must be between {low:g} % and 100 %; got {number:g} %.")


def _not_negative(value: Any, what: str) -> None:
    if _number(value, what) < 0:
        raise BadInputError(f"{what} cannot be negative; got {value:g}.")


def _check_segment(segment: Segment, where: str) -> None:
    for name, value in (("renewal window", segment.renewal_within_days), ("tenure limit", segment.max_tenure_days)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise BadInputError(f"The {name} of {where} must be a whole number of days, 0 or more; got {value!r}.")


def validate(plan: Plan) -> None:
    """Raise BadInputError naming the lever and setting when a value cannot be used."""
    o = plan.outreach
    if isinstance(o.top_n, bool) or not isinstance(o.top_n, int) or o.top_n < 0:
        raise BadInputError(f"CS outreach: the number of accounts to contact must be 0 or more; got {o.top_n!r}.")
    if o.target_by not in TARGETING:
        raise BadInputError(f"CS outreach: target by one of {', '.join(TARGETING)}; got '{o.target_by}'.")
    _percent(o.churn_reduction, "CS outreach: the churn reduction")
    _not_negative(o.cost_per_account, "CS outreach: the cost per account")
    _percent(plan.discount.percent, "Renewal discount: the discount")
    _not_negative(plan.discount.elasticity, "Renewal discount: the elasticity")
    _percent(plan.adoption.usage_increase, "Adoption push: the usage increase")
    _not_negative(plan.adoption.cost_per_account, "Adoption push: the cost per account")
    _percent(plan.support.resolution_time_cut, "Support improvement: the resolution-time cut")
    _percent(plan.support.open_tickets_cleared, "Support improvement: the share of open tickets cleared")
    _not_negative(plan.support.cost_per_account, "Support improvement: the cost per account")
    _percent(plan.price.percent, "Price change: the price change", low=-100.0)
    _not_negative(plan.price.elasticity, "Price change: the elasticity")
    for name in LEVERS:
        _check_segment(getattr(plan, name).segment, LEVER_LABELS[name])


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
    as_of: date | None
    scores_model_version: str | None
    stamp: str
    data_dir: str
    scope: tuple[str, str] = ("*", "all")  # whose book: ("*", "all") or (username, role)


_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 4


def _cached(key: tuple, build):
    """A tiny per-process LRU: the feature frame at 100,000 accounts takes seconds to build."""
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = build()
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def data_stamp(wh: Warehouse) -> str:
    """Changes when scores or any feature source change (a scoring run, a load)."""
    scored = wh.rows("SELECT max(scored_at), count(*) FROM predictions")[0]
    counts = wh.table_counts()
    return f"{scored[0]}|{scored[1]}|" + ",".join(f"{k}={v}" for k, v in sorted(counts.items()))


def load_baseline(wh: Warehouse, viewer: Viewer, data_dir: str | Path | None = None) -> Baseline:
    """The accounts a scenario works on: the board's rows plus tenure at the scoring date."""
    stamp = data_stamp(wh)
    scope = (viewer.username, viewer.role) if not viewer.sees_everyone else ("*", "all")
    return _cached(("baseline", str(wh.path), scope, stamp), lambda: _load_baseline(wh, viewer, data_dir, stamp, scope))


def _load_baseline(wh: Warehouse, viewer: Viewer, data_dir, stamp: str, scope: tuple[str, str]) -> Baseline:
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


def model_inputs(wh: Warehouse, base: Baseline, data_dir: str | Path | None = None) -> ModelInputs:
    """Features as of the baseline's date and the production model's predictions on them (cached)."""
    version = registry.production("churn", data_dir)
    key = ("model", str(wh.path), base.stamp, base.scope, version.version if version else None)
    return _cached(key, lambda: _model_inputs(wh, base, data_dir))


def _model_inputs(wh: Warehouse, base: Baseline, data_dir) -> ModelInputs:
    version, model = registry.load_production("churn", data_dir)
    frame = feats.features_as_of(wh, base.as_of)
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
    columns derived from them recomputed; only ADOPTION_COLUMNS change."""
    out = frame.copy()
    e30 = out["events_last_30d"].astype(float)
    prev30 = out["events_prev_30d"].astype(float)
    e90 = out["events_last_90d"].astype(float)
    e_60_90 = (e90 - e30 - prev30).clip(lower=0)  # not a column of its own; recovered for the trend
    new30 = e30 * (1 + increase)
    out["events_last_30d"] = new30
    out["events_last_7d"] = out["events_last_7d"].astype(float) * (1 + increase)
    out["events_last_90d"] = e90 + (new30 - e30)
    out["events_per_seat_30d"] = new30 / np.maximum(out["seats"].astype(float).fillna(1), 1)
    out["usage_decay_score"] = np.where(prev30 > 0, np.maximum(0, 1 - new30 / prev30.where(prev30 > 0, 1)), 0.0)
    out["usage_trend"] = np.log((new30 + 1) / (e_60_90 + 1))
    return out


def improve_support(frame: pd.DataFrame, resolution_cut: float, tickets_cleared: float) -> pd.DataFrame:
    """The frame with resolution time down `resolution_cut` and open tickets down `tickets_cleared`
    (fractions); only SUPPORT_COLUMNS change."""
    out = frame.copy()
    out["avg_resolution_hours_90d"] = out["avg_resolution_hours_90d"].astype(float) * (1 - resolution_cut)
    out["open_tickets"] = np.round(out["open_tickets"].astype(float) * (1 - tickets_cleared))
    return out


# -- results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Totals:
    """Expected churn and revenue lost over the scored accounts, with the interval's bounds."""

    accounts: int
    expected_churned: float
    expected_churned_low: float
    expected_churned_high: float
    mrr_lost_90d: float
    mrr_lost_90d_low: float
    mrr_lost_90d_high: float
    arr_lost_12m: float
    arr_lost_12m_low: float
    arr_lost_12m_high: float


@dataclass(frozen=True)
class LeverEffect:
    lever: str
    label: str
    active: bool
    basis: str  # "model" (re-scored through the churn model) or "assumption"
    assumption: str  # the stated assumption and its value, or what the model re-scores
    assumption_value: float | None
    segment: str
    accounts: int
    revenue_retained: float  # ARR, in the order levers apply (model levers, discount, price, outreach)
    cost: float
    features_changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScenarioResult:
    plan: Plan
    baseline: Totals
    scenario: Totals
    revenue_retained: float
    revenue_retained_low: float
    revenue_retained_high: float
    price_revenue: float  # 12-month revenue from the price change on accounts that stay
    cost: float
    net_benefit: float
    roi: float | None
    roi_at: dict[int, float | None]
    levers: tuple[LeverEffect, ...]
    segments: pd.DataFrame
    uplift: pd.DataFrame
    readout: str
    as_of: date | None
    scores_model_version: str | None
    model_version: str | None  # the model that re-scored model-based levers (None if none ran)
    conventions: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """A JSON-safe snapshot; `result_from_dict` rebuilds it with identical numbers."""
        return json_safe(
            {
                "plan": self.plan.as_dict(),
                "baseline": asdict(self.baseline),
                "scenario": asdict(self.scenario),
                "revenue_retained": self.revenue_retained,
                "revenue_retained_low": self.revenue_retained_low,
                "revenue_retained_high": self.revenue_retained_high,
                "price_revenue": self.price_revenue,
                "cost": self.cost,
                "net_benefit": self.net_benefit,
                "roi": self.roi,
                "roi_at": {str(k): v for k, v in self.roi_at.items()},
                "levers": [asdict(lever) for lever in self.levers],
                "segments": self.segments.to_dict(orient="records"),
                "uplift": self.uplift.to_dict(orient="records"),
                "readout": self.readout,
                "as_of": self.as_of.isoformat() if self.as_of else None,
                "scores_model_version": self.scores_model_version,
                "model_version": self.model_version,
                "conventions": list(self.conventions),
                "notes": list(self.notes),
            }
        )


def json_safe(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value


SEGMENT_COLUMNS = (
    "dimension",
    "segment",
    "accounts",
    "baseline_churned",
    "scenario_churned",
    "baseline_arr_lost",
    "scenario_arr_lost",
    "revenue_retained",
    "cost",
)
UPLIFT_COLUMNS = ("accounts_contacted", "arr_recovered", "cost", "roi")


def result_from_dict(raw: dict) -> ScenarioResult:
    """The result a snapshot (ScenarioResult.as_dict) was made from."""
    return ScenarioResult(
        plan=plan_from_dict(raw["plan"]),
        baseline=Totals(**raw["baseline"]),
        scenario=Totals(**raw["scenario"]),
        revenue_retained=raw["revenue_retained"],
        revenue_retained_low=raw["revenue_retained_low"],
        revenue_retained_high=raw["revenue_retained_high"],
        price_revenue=raw["price_revenue"],
        cost=raw["cost"],
        net_benefit=raw["net_benefit"],
        roi=raw["roi"],
        roi_at={int(k): v for k, v in raw["roi_at"].items()},
        levers=tuple(
            LeverEffect(**{**lever, "features_changed": tuple(lever["features_changed"])}) for lever in raw["levers"]
        ),
        segments=pd.DataFrame(raw["segments"], columns=list(SEGMENT_COLUMNS)),
        uplift=pd.DataFrame(raw["uplift"], columns=list(UPLIFT_COLUMNS)),
        readout=raw["readout"],
        as_of=date.fromisoformat(raw["as_of"]) if raw["as_of"] else None,
        scores_model_version=raw["scores_model_version"],
        model_version=raw["model_version"],
        conventions=tuple(raw["conventions"]),
        notes=tuple(raw["notes"]),
    )


CONVENTIONS = (
    "Baseline: the latest stored churn prediction of every scored account (90-day probability, 90 % interval).",
    "Expected churned accounts = sum of churn probabilities.",
    "MRR lost over 90 days = sum of p x MRR x 3 (a churned account's MRR stops at the start of the window).",
    "ARR lost over 12 months = sum of p x MRR x 12 (annualised run-rate, as 'revenue at risk' on the board).",
    "Revenue retained = baseline ARR lost - scenario ARR lost, valued at current MRR.",
    "Discount cost = discount x MRR x 12 x (1 - scenario p): revenue given up by accounts that stay.",
    "Price revenue = price change x (discounted) MRR x 12 x (1 - scenario p).",
    "ROI = (revenue retained + price revenue - cost) / cost.",
    "Intervals: the same totals on the churn interval's bounds.",
)


# -- simulation ------------------------------------------------------------------------------------
def simulate(wh: Warehouse, plan: Plan, viewer: Viewer, data_dir: str | Path | None = None) -> ScenarioResult:
    """Run a plan against the latest scores. Analysts and admins only (executives read saved plans)."""
    viewer.require("edit_scenarios")
    validate(plan)
    base = load_baseline(wh, viewer, data_dir)
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
    if segment.renewal_within_days is not None:
        days = frame["days_to_renewal"].astype(float).to_numpy()
        keep &= (days >= 0) & (days <= segment.renewal_within_days)
    if segment.max_tenure_days is not None:
        keep &= (frame["tenure_days"].astype(float) <= segment.max_tenure_days).to_numpy()
    return keep


def _lever_rows(frame: pd.DataFrame, name: str, lever) -> np.ndarray:
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
    """The plan applied to a baseline (use `simulate`; this is the pure part, for tests and benches)."""
    validate(plan)
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
        _replace(e, cost=float(discount_cost.sum())) if e.lever == "discount" and e.active else e for e in effects
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
    readout = _readout(
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
        readout=readout,
        as_of=base.as_of,
        scores_model_version=base.scores_model_version,
        model_version=inputs.version if inputs is not None else None,
        conventions=CONVENTIONS,
        notes=tuple(notes),
    )


def _replace(effect: LeverEffect, **changes) -> LeverEffect:
    return LeverEffect(**{**asdict(effect), **changes})


def _off(name: str, basis: str, assumption: str, value: float | None, segment: Segment, cols=()) -> LeverEffect:
    return LeverEffect(name, LEVER_LABELS[name], False, basis, assumption, value, segment.describe(), 0, 0.0, 0.0, cols)


def _model_levers(frame, plan: Plan, inputs, state: _State, cost: np.ndarray, notes: list[str]) -> list[LeverEffect]:
    """Adoption push then support improvement: change the named features, re-score the changed rows."""
    a, s = plan.adoption, plan.support
    a_text = f"usage +{a.usage_increase:g} % re-scored by the churn model"
    s_text = (
        f"resolution time -{s.resolution_time_cut:g} %, {s.open_tickets_cleared:g} % of open tickets cleared, "
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
    for name, lever, text, value, columns, change in steps:
        if not lever.active:
            out.append(_off(name, "model", text, value, lever.segment, columns))
            continue
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
            work.loc[scored, list(columns)] = changed[list(columns)].to_numpy()
        out.append(
            LeverEffect(
                name,
                LEVER_LABELS[name],
                True,
                "model",
                text,
                value,
                lever.segment.describe(),
                int(rows.sum()),
                lost_before - state.lost(),
                float(rows.sum() * lever.cost_per_account),
                columns,
            )
        )
    return out


def _discount(frame, lever: Discount, state: _State) -> LeverEffect:
    text = (
        f"churn x (1 - {lever.elasticity:g} x {lever.percent:g} %) with the discount (elasticity {lever.elasticity:g})"
    )
    if not lever.active:
        return _off("discount", "assumption", text, lever.elasticity, lever.segment)
    rows = _lever_rows(frame, "discount", lever)
    before = state.lost()
    state.scale(rows, max(0.0, 1 - lever.elasticity * lever.percent / 100))
    return LeverEffect(
        "discount",
        LEVER_LABELS["discount"],
        True,
        "assumption",
        text,
        lever.elasticity,
        lever.segment.describe(),
        int(rows.sum()),
        before - state.lost(),
        0.0,  # settled once the final churn is known
    )


def _price(frame, lever: PriceChange, state: _State) -> LeverEffect:
    text = f"churn x (1 + {lever.elasticity:g} x {lever.percent:+g} %) with the price change (elasticity {lever.elasticity:g})"
    if not lever.active:
        return _off("price", "assumption", text, lever.elasticity, lever.segment)
    rows = _lever_rows(frame, "price", lever)
    before = state.lost()
    state.scale(rows, max(0.0, 1 + lever.elasticity * lever.percent / 100))
    return LeverEffect(
        "price",
        LEVER_LABELS["price"],
        True,
        "assumption",
        text,
        lever.elasticity,
        lever.segment.describe(),
        int(rows.sum()),
        before - state.lost(),
        0.0,
    )


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


def _outreach(frame, lever: Outreach, state: _State, cost: np.ndarray, notes: list[str]):
    text = f"churn of a contacted account -{lever.churn_reduction:g} % (relative)"
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
    effect = LeverEffect(
        "outreach",
        LEVER_LABELS["outreach"],
        True,
        "assumption",
        text,
        lever.churn_reduction,
        lever.segment.describe(),
        contacted,
        before - state.lost(),
        float(contacted * lever.cost_per_account),
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


def _breakdown(frame: pd.DataFrame, p0, p1, mrr, cost) -> pd.DataFrame:
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


# -- the readout -------------------------------------------------------------------------------------
_money = formatting.money  # the one money format (engine.core.formatting)


def _roi_text(roi: float | None) -> str:
    return "not defined (no cost)" if roi is None else f"{roi * 100:,.0f} %"


def _readout(baseline, scenario, retained, bounds, cost, price, roi, levers, roi_at, contacted) -> str:
    """A few plain sentences, the same every time for the same numbers."""
    active = [lever for lever in levers if lever.active]
    if not active:
        return (
            f"Every lever is off, so the scenario equals the baseline: {baseline.expected_churned:,.1f} accounts "
            f"expected to churn in 90 days and {_money(baseline.arr_lost_12m)} ARR at risk over 12 months."
        )
    low, high = sorted(bounds)
    lines = [
        f"Against the baseline of {baseline.expected_churned:,.1f} expected churned accounts "
        f"({baseline.expected_churned_low:,.1f}-{baseline.expected_churned_high:,.1f}) and "
        f"{_money(baseline.arr_lost_12m)} ARR at risk, this plan expects {scenario.expected_churned:,.1f} churned "
        f"accounts and {_money(scenario.arr_lost_12m)} ARR lost.",
        f"It retains {_money(retained)} ARR (range {_money(low)} to {_money(high)}) for {_money(cost)}"
        + (f", with {_money(price)} from the price change" if price else "")
        + f"; ROI {_roi_text(roi)}.",
    ]
    biggest = max(active, key=lambda lever: lever.revenue_retained)
    if biggest.revenue_retained > 0:
        lines.append(f"{biggest.label} contributes most: {_money(biggest.revenue_retained)} of the retained ARR.")
    if contacted:
        points = [f"top {k}: {_roi_text(v)}" for k, v in roi_at.items() if v is not None]
        if points:
            lines.append("Outreach ROI by accounts contacted — " + ", ".join(points) + ".")
    model = [lever.label for lever in active if lever.basis == "model"]
    assumed = [f"{lever.label} ({lever.assumption})" for lever in active if lever.basis == "assumption"]
    if model:
        lines.append(f"Model-based: {', '.join(model)} (features changed and re-scored).")
    if assumed:
        lines.append(f"Assumptions: {'; '.join(assumed)}.")
    return " ".join(lines)


# -- saved plans ---------------------------------------------------------------------------------------
NAME_MAX, TAG_MAX, TAGS_MAX = 120, 40, 10


@dataclass(frozen=True)
class SavedScenario:
    id: int
    name: str
    tags: tuple[str, ...]
    author: str
    created_at: datetime
    cloned_from: int | None
    model_version: str | None
    data_as_of: date | None
    revenue_retained: float
    cost: float
    roi: float | None
    result: ScenarioResult | None = None  # loaded by open_saved, not by list_saved

    @property
    def plan(self) -> Plan:
        if self.result is None:
            raise BadInputError("Open the saved scenario to read its plan.")
        return self.result.plan

    def summary(self) -> dict:
        return json_safe(
            {
                "id": self.id,
                "name": self.name,
                "tags": list(self.tags),
                "author": self.author,
                "created_at": self.created_at.isoformat(),
                "cloned_from": self.cloned_from,
                "model_version": self.model_version,
                "data_as_of": self.data_as_of,
                "revenue_retained": self.revenue_retained,
                "cost": self.cost,
                "roi": self.roi,
            }
        )


def clean_tags(tags) -> tuple[str, ...]:
    """Tags as lower-case words, without duplicates, in the order given."""
    if isinstance(tags, str):
        tags = tags.split(",")
    out: list[str] = []
    for tag in tags or ():
        text = str(tag).strip().lower()
        if not text:
            continue
        if len(text) > TAG_MAX:
            raise BadInputError(f"Tag '{text[:20]}...' is longer than {TAG_MAX} characters.")
        if text not in out:
            out.append(text)
    if len(out) > TAGS_MAX:
        raise BadInputError(f"At most {TAGS_MAX} tags per scenario; got {len(out)}.")
    return tuple(out)


def _clean_name(name: str) -> str:
    text = (name or "").strip()
    if not text:
        raise BadInputError("Give the scenario a name, e.g. 'Q3 save plan'.")
    if len(text) > NAME_MAX:
        raise BadInputError(f"Scenario names are at most {NAME_MAX} characters; this one has {len(text)}.")
    return text


def _saved(row, with_result: bool) -> SavedScenario:
    m = row._mapping
    return SavedScenario(
        id=int(m["id"]),
        name=m["name"],
        tags=tuple(m["tags"] or ()),
        author=m["author"],
        created_at=m["created_at"],
        cloned_from=m["cloned_from"],
        model_version=m["model_version"],
        data_as_of=m["data_as_of"],
        revenue_retained=m["revenue_retained"],
        cost=m["cost"],
        roi=m["roi"],
        result=result_from_dict(m["result"]) if with_result else None,
    )


def save(
    name: str,
    result: ScenarioResult,
    viewer: Viewer,
    tags=(),
    data_dir: str | Path | None = None,
    cloned_from: int | None = None,
) -> SavedScenario:
    """Store a run (its assumptions and a snapshot of its numbers) under a name; returns it."""
    viewer.require("edit_scenarios")
    snapshot = result.as_dict()
    row = {
        "name": _clean_name(name),
        "tags": list(clean_tags(tags)),
        "author": viewer.username,
        "created_at": datetime.now(UTC),
        "cloned_from": cloned_from,
        "assumptions": snapshot["plan"],
        "result": snapshot,
        "model_version": result.model_version or result.scores_model_version,
        "data_as_of": result.as_of,
        "revenue_retained": result.revenue_retained,
        "cost": result.cost,
        "roi": result.roi,
    }
    with get_engine(data_dir).begin() as conn:
        new_id = conn.execute(insert(scenarios_table).values(**row)).inserted_primary_key[0]
    return open_saved(int(new_id), viewer, data_dir)


def list_saved(viewer: Viewer, tag: str | None = None, data_dir: str | Path | None = None) -> list[SavedScenario]:
    """Saved scenarios, newest first; with `tag`, only those carrying it."""
    viewer.require_page("scenarios")
    columns = [c for c in scenarios_table.c if c.name not in ("result", "assumptions")]
    query = select(*columns).order_by(scenarios_table.c.created_at.desc(), scenarios_table.c.id.desc())
    with get_engine(data_dir).connect() as conn:
        found = [_saved(r, with_result=False) for r in conn.execute(query)]
    wanted = tag.strip().lower() if tag else ""
    return [s for s in found if not wanted or wanted in s.tags]


def open_saved(scenario_id: int, viewer: Viewer, data_dir: str | Path | None = None) -> SavedScenario:
    """One saved scenario with its stored result (the numbers as they were when saved)."""
    viewer.require_page("scenarios")
    scenario_id = _id(scenario_id)
    with get_engine(data_dir).connect() as conn:
        row = conn.execute(select(scenarios_table).where(scenarios_table.c.id == scenario_id)).first()
    if row is None:
        raise NotFoundError(
            f"No saved scenario with id {scenario_id}. List them with `.venv/bin/python -m engine scenario list`."
        )
    return _saved(row, with_result=True)


def _id(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadInputError(f"'{value}' is not a scenario id; ids are whole numbers, see `scenario list`.") from None
    if number < 1:
        raise BadInputError(f"Scenario ids start at 1; got {number}.")
    return number


def clone(
    scenario_id: int, viewer: Viewer, name: str | None = None, data_dir: str | Path | None = None
) -> SavedScenario:
    """A copy of a saved scenario under a new name (default 'Copy of ...'), remembering its origin."""
    viewer.require("edit_scenarios")
    original = open_saved(scenario_id, viewer, data_dir)
    new_name = name or f"Copy of {original.name}"[:NAME_MAX]
    return save(new_name, original.result, viewer, original.tags, data_dir, cloned_from=original.id)


def delete_saved(scenario_id: int, viewer: Viewer, data_dir: str | Path | None = None) -> None:
    viewer.require("edit_scenarios")
    scenario_id = _id(scenario_id)
    with get_engine(data_dir).begin() as conn:
        gone = conn.execute(delete(scenarios_table).where(scenarios_table.c.id == scenario_id)).rowcount
    if not gone:
        raise NotFoundError(f"No saved scenario with id {scenario_id}; nothing was deleted.")


# -- comparing ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool
    kind: str  # money / ratio / count


METRICS = {
    m.key: m
    for m in (
        Metric("roi", "ROI", True, "ratio"),
        Metric("net_benefit", "Net benefit (retained + price revenue - cost)", True, "money"),
        Metric("revenue_retained", "ARR retained", True, "money"),
        Metric("cost", "Cost", False, "money"),
        Metric("arr_lost_12m", "ARR lost, 12 months", False, "money"),
        Metric("mrr_lost_90d", "MRR lost, 90 days", False, "money"),
        Metric("expected_churned", "Expected churned accounts", False, "count"),
    )
}


@dataclass(frozen=True)
class Comparison:
    metric: Metric
    rows: pd.DataFrame  # one row per plan, best first: rank, id, name, every metric
    notes: tuple[str, ...] = ()


def metric_values(result: ScenarioResult) -> dict[str, float | None]:
    return {
        "roi": result.roi,
        "net_benefit": result.net_benefit,
        "revenue_retained": result.revenue_retained,
        "cost": result.cost,
        "arr_lost_12m": result.scenario.arr_lost_12m,
        "mrr_lost_90d": result.scenario.mrr_lost_90d,
        "expected_churned": result.scenario.expected_churned,
    }


def compare(ids, viewer: Viewer, rank_by: str = "net_benefit", data_dir: str | Path | None = None) -> Comparison:
    """Two to five saved scenarios ranked by a metric (best first; a plan without a value last)."""
    wanted = [_id(i) for i in ids]
    if len(set(wanted)) != len(wanted):
        raise BadInputError("Each scenario can appear once in a comparison; remove the repeated id.")
    if not COMPARE_MIN <= len(wanted) <= COMPARE_MAX:
        raise BadInputError(f"Compare {COMPARE_MIN} to {COMPARE_MAX} saved scenarios; got {len(wanted)}.")
    if rank_by not in METRICS:
        raise BadInputError(f"Cannot rank by '{rank_by}'. Choose one of: {', '.join(METRICS)}.")
    metric = METRICS[rank_by]
    opened = [open_saved(i, viewer, data_dir) for i in wanted]
    rows = pd.DataFrame([{"id": s.id, "name": s.name, "author": s.author, **metric_values(s.result)} for s in opened])
    rows = rows.sort_values(rank_by, ascending=not metric.higher_is_better, na_position="last", kind="stable")
    rows.insert(0, "rank", range(1, len(rows) + 1))
    notes = []
    if len({s.data_as_of for s in opened}) > 1:
        notes.append("The plans were run on scores of different dates; their baselines differ.")
    if len({s.model_version for s in opened}) > 1:
        notes.append("The plans were run with different model versions.")
    return Comparison(metric, rows.reset_index(drop=True), tuple(notes))


# -- the demo's sample plan ------------------------------------------------------------------------
SAMPLE_NAME = "Sample: renewal save plan"
SAMPLE_TAGS = ("sample", "renewals")


def sample_plan() -> Plan:
    """A plan a CS leader would plausibly run: call the 50 accounts with the most ARR at risk
    (20 % lower churn each, $400 of CSM time per call) and offer a 10 % renewal discount to
    high and critical accounts renewing within 90 days."""
    return Plan(
        outreach=Outreach(top_n=50, churn_reduction=20.0, cost_per_account=400.0),
        discount=Discount(
            percent=10.0, elasticity=1.5, segment=Segment(risk_tiers=("high", "critical"), renewal_within_days=90)
        ),
    )


def save_sample_plan(
    wh: Warehouse, data_dir: str | Path | None = None, author: str = "analyst"
) -> SavedScenario | None:
    """Save the sample plan (run on the current scores) so an executive opening Scenarios on a
    fresh demo has a plan to read. Does nothing and returns None when any plan is saved already."""
    viewer = Viewer(author, "analyst")
    if list_saved(viewer, data_dir=data_dir):
        return None
    result = simulate(wh, sample_plan(), viewer, data_dir)
    return save(SAMPLE_NAME, result, viewer, SAMPLE_TAGS, data_dir)
