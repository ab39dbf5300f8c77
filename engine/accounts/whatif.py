"""What if, for one account: change what a CSM can change and re-score through the model.

The account's real feature row is rebuilt as of its latest scoring date with the feature code
batch scoring used (`features.features_as_of(..., scoring.scoring_features(model))`), by the
model version that wrote the stored score (kept in memory by `engine.churn.serving`), and
re-scored by `scoring.score_features`, the function batch scoring calls: probability, 90%
interval, risk tier, exact SHAP drivers and next step. With no change the result IS the
stored score, to the last bit (tests/test_whatif.py holds that).

Levers are the features a CSM can move (usage level, seat utilisation, open tickets, CSAT, a
renewal discount), offered only when the model reads them or a feature that follows from
them, with the range the model learnt from (`serving.training_ranges`). A lever sets its
feature, and the features the feature code computes from it follow by the same formulas, so
the row stays one an account could have:

* usage (`events_last_30d`): the last 7 and 28 days scale by the same ratio (per event type
  too), the 90-day and since-signup counts change by the events added, and events per seat,
  usage decay and the trends are recomputed; activity resuming (or stopping) resets the days
  since the last event.
* seat utilisation (`seat_utilization`): daily active users follow (utilisation x seats), and
  their change against the four weeks before.
* CSAT (`csat_avg_90d`): the average is set; an account without a response gets one.
* renewal discount (`discount`, percent off MRR): MRR, its 90-day change and the open
  expansion pipeline's share of ARR follow; a discount is not counted as a contraction (the
  customer did not shrink).
* open tickets (`open_tickets`): nothing else follows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pydantic import computed_field

from engine.accounts import customer
from engine.churn import explain, registry, scoring, serving
from engine.churn import features as feats
from engine.core.access import Viewer
from engine.core.contracts import ConfidenceInterval, Contract
from engine.core.errors import BadInputError, NotFoundError, RadarError
from engine.core.kept import Kept
from engine.data.warehouse import Warehouse

TOP_DRIVERS = 5  # as batch scoring stores them
MOVED_DRIVERS = 5
DISCOUNT = "discount"
RESUMED_DAYS = 0.0  # days since the last event once usage resumes: active on the scoring date
SILENT_DAYS = 30.0  # at least this many once the last 30 days hold no event
ROWS_KEPT = 512  # accounts' scoring rows kept in memory (a few kB each)


class Lever(Contract):
    """One thing a CSM can change for this account, with the range the model learnt from."""

    name: str  # what `--set name=value` and the API's `changes` use
    label: str
    feature: str  # the model feature it sets (the discount sets `mrr`)
    value: float | None  # the account's value on its scoring row (the discount: 0)
    low: float  # the allowed range: what the model saw in training
    high: float
    unit: str
    integer: bool  # counts: the page steps by one
    moves: tuple[str, ...]  # features the model reads that follow from it
    description: str


class FeatureChange(Contract):
    """A feature the model reads, on the scoring row and after the changes."""

    feature: str
    label: str
    before: float | None
    after: float | None


class DriverMove(Contract):
    """How much one grouped driver pushes churn, before and after (percentage points)."""

    group: str
    label: str
    before_pp: float
    after_pp: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def change_pp(self) -> float:
        return self.after_pp - self.before_pp


class WhatIfResult(Contract):
    """The account re-scored with the changes, beside its stored score."""

    customer_id: str
    as_of: date  # the scoring date whose feature row was re-scored
    model_version: str
    changes: dict[str, float]  # lever -> value, as asked
    feature_changes: tuple[FeatureChange, ...]
    churn_probability: float
    confidence_interval: ConfidenceInterval
    risk_tier: str
    top_shap_features: list[explain.Driver]
    recommended_action: str
    stored_churn_probability: float
    stored_confidence_interval: ConfidenceInterval
    stored_risk_tier: str
    stored_top_shap_features: tuple[explain.Driver, ...]
    stored_recommended_action: str | None
    moved_drivers: tuple[DriverMove, ...]  # the drivers whose push changed most
    levers: tuple[Lever, ...]
    notes: tuple[str, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def change_pp(self) -> float:
        """Re-scored minus stored churn probability, in percentage points."""
        return (self.churn_probability - self.stored_churn_probability) * 100


# -- the account's scoring row -------------------------------------------------------------------
@dataclass(frozen=True)
class _Account:
    prediction: customer.AccountPrediction
    version: registry.ModelVersion
    model: Any
    row: pd.DataFrame  # one row: the features batch scoring built for it
    notes: tuple[str, ...]


def _account(wh: Warehouse, viewer: Viewer, customer_id: str) -> _Account:
    """The stored score (scoped: NotFoundError outside the viewer's book), the model that wrote
    it and the feature row it scored."""
    prediction = customer.latest_prediction(wh, viewer, customer_id)
    if prediction is None:
        raise NotFoundError(
            f"Customer '{customer_id}' has no churn score yet, so there is nothing to re-score: it is not active, "
            "or scoring has not run since it was added (an admin can run `.venv/bin/python -m engine score`)."
        )
    notes: list[str] = []
    try:
        version, model = serving.model_of(wh.data_dir, prediction.model_version)
    except RadarError as exc:  # the version is gone or its artifact fails its checks
        version, model = serving.production_model(wh.data_dir)
        notes.append(
            f"The stored score came from {prediction.model_version}, which cannot be loaded ({exc}); the what-if "
            f"uses production {version.version}, so even with no change it may differ from the stored score."
        )
    production = registry.production("churn", wh.data_dir)
    if production is not None and production.version != version.version:
        notes.append(
            f"Production is now {production.version}; this what-if re-scores with {version.version}, the model "
            "that wrote the stored score, so the two stay comparable."
        )
    return _Account(prediction, version, model, _scoring_row(wh, prediction, version, model), tuple(notes))


_rows: Kept[pd.DataFrame] = Kept(ROWS_KEPT)


def _scoring_row(
    wh: Warehouse, prediction: customer.AccountPrediction, version: registry.ModelVersion, model: Any
) -> pd.DataFrame:
    """The feature row batch scoring built for the account: the one `score` kept
    (`scoring.stored_rows`), else rebuilt; held per warehouse snapshot, since a CSM moving
    levers re-scores the same row again and again."""

    def build() -> pd.DataFrame:
        wanted = scoring.scoring_features(model)
        names = None if wanted is None else list(wanted.names)
        row = scoring.stored_rows(wh, prediction.customer_id, prediction.as_of, version.version, names)
        if row is None:  # scored before rows were kept, or by back-scoring: rebuilt as scoring built it
            row = feats.features_as_of(wh, prediction.as_of, prediction.customer_id, wanted)
        if row.empty:
            raise NotFoundError(f"Customer '{prediction.customer_id}' has no feature row on {prediction.as_of}.")
        return row.reset_index(drop=True)

    return _rows.get((str(wh.path), wh.generation, prediction.customer_id, prediction.as_of, version.version), build)


# -- levers ---------------------------------------------------------------------------------------
def _num(row: dict[str, Any], name: str) -> float:
    value = row.get(name)
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return out


def _known(x: float) -> bool:
    return not math.isnan(x)


Apply = Callable[[dict[str, Any], float], dict[str, float]]


def _usage(row: dict[str, Any], new: float) -> dict[str, float]:
    old = _num(row, "events_last_30d")
    ratio = new / old if old > 0 else None
    out = {"events_last_30d": new}
    e7, e90, prev = _num(row, "events_last_7d"), _num(row, "events_last_90d"), _num(row, "events_prev_30d")
    out["events_last_7d"] = e7 * ratio if ratio is not None else new * 7 / 30
    if _known(e90):
        out["events_last_90d"] = e90 + (new - old if _known(old) else new)
        if _known(prev) and _known(old):
            out["usage_trend"] = math.log((new + 1) / (max(e90 - old - prev, 0.0) + 1))
    per_seat = _num(row, "events_per_seat_30d")
    seats = _num(row, "seats")
    if ratio is not None and _known(per_seat):
        out["events_per_seat_30d"] = per_seat * ratio
    elif _known(seats) or _known(per_seat):
        out["events_per_seat_30d"] = new / max(seats if _known(seats) else 1.0, 1.0)
    out["usage_decay_score"] = max(0.0, 1 - new / prev) if prev > 0 else 0.0
    since = _num(row, "days_since_last_event")
    if new > 0 and not old > 0:
        out["days_since_last_event"] = RESUMED_DAYS
    elif new == 0 and _known(since):
        out["days_since_last_event"] = max(since, SILENT_DAYS)
    if ratio is not None:
        out.update(_event_types(row, ratio))
    return out


def _event_types(row: dict[str, Any], ratio: float) -> dict[str, float]:
    """Each event type's recent counts in the same proportion as the total (its mix kept)."""
    out: dict[str, float] = {}
    tenure = max(_num(row, "tenure_days"), 7.0) if _known(_num(row, "tenure_days")) else math.nan
    for name in row:
        found = feats.event_key_of(name)
        if not found or found[1] != "count_28d":
            continue
        key = f"evt_{found[0]}"
        old28 = _num(row, name)
        if not _known(old28):
            continue
        new28 = old28 * ratio
        out[name] = new28
        if _known(_num(row, f"{key}_count_7d")):
            out[f"{key}_count_7d"] = _num(row, f"{key}_count_7d") * ratio
        for longer in ("count_90d", "count_all"):
            if _known(_num(row, f"{key}_{longer}")):
                out[f"{key}_{longer}"] = _num(row, f"{key}_{longer}") + new28 - old28
        trend = _num(row, f"{key}_trend_28d")
        if _known(trend):
            out[f"{key}_trend_28d"] = float(feats.trend_after(trend, old28, new28))
        if f"{key}_per_month_all" in row and f"{key}_count_all" in out and _known(tenure):
            out[f"{key}_per_month_all"] = out[f"{key}_count_all"] * 30.0 / tenure
    return out


def _utilisation(row: dict[str, Any], new: float) -> dict[str, float]:
    old, users = _num(row, "seat_utilization"), _num(row, "active_users_30d")
    out = {"seat_utilization": new}
    seats = _num(row, "seats")
    if old > 0 and _known(users):
        out["active_users_30d"] = users * new / old
    elif _known(users) or _known(seats):
        out["active_users_30d"] = new * max(seats if _known(seats) else 1.0, 1.0)
    change = _num(row, "active_users_change")
    if _known(change) and users > 0 and change > -1 and "active_users_30d" in out:
        before = users / (1 + change)  # the four weeks before, read back from the change
        out["active_users_change"] = out["active_users_30d"] / before - 1
    return out


def _csat(row: dict[str, Any], new: float) -> dict[str, float]:
    out = {"csat_avg_90d": new}
    responses = _num(row, "csat_responses_90d")
    if not responses >= 1:
        out["csat_responses_90d"] = 1.0
    return out


def _open_tickets(_row: dict[str, Any], new: float) -> dict[str, float]:
    return {"open_tickets": new}


def _discount(row: dict[str, Any], percent: float) -> dict[str, float]:
    old = _num(row, "mrr")
    new = old * (1 - percent / 100)
    out = {"mrr": new}
    change = _num(row, "mrr_change_90d")
    if _known(change) and change > -1:
        then = old / (1 + change)  # the MRR 90 days ago, read back from the change
        out["mrr_change_90d"] = (new - then) / then
    ratio = _num(row, "open_expansion_amount_ratio")
    if _known(ratio):
        out["open_expansion_amount_ratio"] = ratio * old / new if new > 0 else 0.0
    return out


@dataclass(frozen=True)
class _Spec:
    name: str
    feature: str
    label: str
    unit: str
    integer: bool
    apply: Apply
    follows: tuple[str, ...]  # features the formulas may change (event-type ones are found per model)
    description: str


SPECS: tuple[_Spec, ...] = (
    _Spec(
        "events_last_30d",
        "events_last_30d",
        "Usage level: product events in the last 30 days",
        "events",
        True,
        _usage,
        (
            "events_last_7d",
            "events_last_90d",
            "events_per_seat_30d",
            "usage_decay_score",
            "usage_trend",
            "days_since_last_event",
        ),
        "Events in the last 30 days; the last week and each event type move in proportion.",
    ),
    _Spec(
        "seat_utilization",
        "seat_utilization",
        "Seat utilisation: share of seats active on an average day",
        "share of seats",
        False,
        _utilisation,
        ("active_users_30d", "active_users_change"),
        "Daily active users over seats (0.5 = half the seats active); active users follow.",
    ),
    _Spec(
        "open_tickets",
        "open_tickets",
        "Open support tickets",
        "tickets",
        True,
        _open_tickets,
        (),
        "Tickets still open on the scoring date.",
    ),
    _Spec(
        "csat_avg_90d",
        "csat_avg_90d",
        "CSAT, 90-day average",
        "score",
        False,
        _csat,
        ("csat_responses_90d",),
        "Average satisfaction score of tickets closed in the last 90 days.",
    ),
    _Spec(
        DISCOUNT,
        "mrr",
        "Discount at renewal",
        "% off MRR",
        False,
        _discount,
        ("mrr_change_90d", "open_expansion_amount_ratio"),
        "Percent off today's MRR; MRR, its 90-day change and the expansion pipeline's share of ARR follow.",
    ),
)
SPEC_BY_NAME = {s.name: s for s in SPECS}


def _follows(spec: _Spec, columns: list[str]) -> tuple[str, ...]:
    names = list(spec.follows)
    if spec.name == "events_last_30d":
        names += [c for c in columns if (found := feats.event_key_of(c)) and found[1] in _EVENT_STATS_MOVED]
    return tuple(names)


_EVENT_STATS_MOVED = ("count_7d", "count_28d", "count_90d", "count_all", "trend_28d", "per_month_all")


def _lever(spec: _Spec, row: dict[str, Any], model: Any, ranges: dict[str, tuple[float, float]]) -> Lever | None:
    """The lever for this account, or None: the model reads none of what it moves, the range
    the model learnt is unknown, or (the discount) there is no MRR to discount."""
    read = set(model.features)
    moves = tuple(n for n in (spec.feature, *_follows(spec, list(row))) if n in read)
    if not moves or spec.feature not in ranges or spec.feature not in row:
        return None
    low, high = ranges[spec.feature]
    value = _num(row, spec.feature)
    if spec.name == DISCOUNT:
        if not value > 0:
            return None
        low, high = 0.0, float(np.clip(100 * (1 - low / value), 0.0, 100.0))  # MRR stays above the lowest learnt
        if high <= 0:
            return None
        value = 0.0
    return Lever(
        name=spec.name,
        label=spec.label,
        feature=spec.feature,
        value=value if _known(value) else None,
        low=low,
        high=high,
        unit=spec.unit,
        integer=spec.integer,
        moves=tuple(n for n in moves if n != spec.feature),
        description=spec.description,
    )


def _levers_of(account: _Account) -> list[Lever]:
    row = account.row.iloc[0].to_dict()
    ranges = serving.training_ranges(account.model)
    return [lever for spec in SPECS if (lever := _lever(spec, row, account.model, ranges)) is not None]


def levers(wh: Warehouse, viewer: Viewer, customer_id: str) -> list[Lever]:
    """What a CSM may change for this account (NotFoundError outside the viewer's book), each
    with its value on the scoring row and the range the model learnt from."""
    return _levers_of(_account(wh, viewer, customer_id))


# -- simulate ------------------------------------------------------------------------------------
def _shown(x: float) -> str:
    return f"{x:,.4g}"


def _check(changes: dict[str, float], offered: dict[str, Lever]) -> None:
    """Refuse a lever that is not offered and a value outside the range the model learnt from."""
    listing = ", ".join(f"{name} ({lever.label})" for name, lever in offered.items()) or "none for this account"
    for name, value in changes.items():
        lever = offered.get(name)
        if lever is None:
            why = (
                "is not something a CSM can change"
                if name not in SPEC_BY_NAME
                else "is not offered for this account (the model does not read it or its training range is unknown)"
            )
            raise BadInputError(f"'{name}' {why}. Levers: {listing}.")
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise BadInputError(f"{name} must be a number (got {value!r}).")
        unchanged = lever.value is not None and value == lever.value
        if not unchanged and not lever.low <= value <= lever.high:
            raise BadInputError(
                f"{name} = {_shown(value)} is outside the range the model learnt from: {_shown(lever.low)} to "
                f"{_shown(lever.high)} {lever.unit} ({lever.label}). Pick a value in that range."
            )


def _changed_row(account: _Account, changes: dict[str, float]) -> pd.DataFrame:
    row = account.row.iloc[0].to_dict()
    new_values: dict[str, float] = {}
    for name, value in changes.items():
        spec = SPEC_BY_NAME[name]
        new_values.update(spec.apply({**row, **new_values}, float(value)))
    changed = account.row.copy()
    for name, value in new_values.items():
        if name in changed.columns:
            changed[name] = changed[name].astype("float64")
            changed.loc[0, name] = value
    return changed


def _feature_changes(before: pd.DataFrame, after: pd.DataFrame, model: Any) -> tuple[FeatureChange, ...]:
    """The features the model reads whose value the changes moved."""
    was, now = before.iloc[0].to_dict(), after.iloc[0].to_dict()
    out = []
    for name in model.features:
        if name in model.categorical:
            continue
        a, b = _num(was, name), _num(now, name)
        if a == b or (math.isnan(a) and math.isnan(b)):
            continue
        out.append(
            FeatureChange(
                feature=name,
                label=feats.LABELS.get(name, name),
                before=a if _known(a) else None,
                after=b if _known(b) else None,
            )
        )
    return tuple(out)


def _moved(model: Any, frame: pd.DataFrame) -> tuple[DriverMove, ...]:
    """The grouped drivers whose push on churn changed most between the two rows of `frame`."""
    calibration = (model.platt_a_, model.platt_b_) if hasattr(model, "platt_a_") else None
    every = len(model.features)
    before, after = explain.drivers_for_frame(model.features, frame, model.contributions(frame), every, calibration)
    was = {d.group: d for d in before}
    moves = [
        DriverMove(group=d.group, label=d.label, before_pp=was[d.group].impact_pp or 0.0, after_pp=d.impact_pp or 0.0)
        for d in after
        if d.group in was
    ]
    moved = [m for m in moves if abs(m.change_pp) >= 0.005]
    return tuple(sorted(moved, key=lambda m: -abs(m.change_pp))[:MOVED_DRIVERS])


def simulate(wh: Warehouse, viewer: Viewer, customer_id: str, changes: dict[str, float] | None = None) -> WhatIfResult:
    """The account re-scored with `changes` (lever name -> value) through the model that wrote
    its stored score, beside that score. Refuses (BadInputError) a lever not offered for the
    account and a value outside the range the model learnt from; NotFoundError outside the
    viewer's book or without a stored score."""
    changes = dict(changes or {})
    account = _account(wh, viewer, customer_id)
    offered = {lever.name: lever for lever in _levers_of(account)}
    _check(changes, offered)
    changed = _changed_row(account, changes)
    frame = pd.concat([account.row, changed], ignore_index=True)
    scored = scoring.score_features(
        account.model, frame, TOP_DRIVERS, serving.tier_cuts(account.version, account.model)
    ).iloc[1]
    stored = account.prediction
    return WhatIfResult(
        customer_id=stored.customer_id,
        as_of=stored.as_of,
        model_version=account.version.version,
        changes={k: float(v) for k, v in changes.items()},
        feature_changes=_feature_changes(account.row, changed, account.model),
        churn_probability=float(scored["churn_probability"]),
        confidence_interval=ConfidenceInterval(
            lower=float(scored["ci_low"]), upper=float(scored["ci_high"]), level=account.model.interval_level
        ),
        risk_tier=str(scored["risk_tier"]),
        top_shap_features=explain.drivers_from_json(scored["drivers"]),
        recommended_action=str(scored["recommended_action"]),
        stored_churn_probability=stored.churn_probability,
        stored_confidence_interval=stored.confidence_interval,
        stored_risk_tier=stored.risk_tier,
        stored_top_shap_features=stored.top_shap_features,
        stored_recommended_action=stored.recommended_action,
        moved_drivers=_moved(account.model, frame) if changes else (),
        levers=tuple(offered.values()),
        notes=account.notes,
    )
