"""SHAP drivers: why a customer's churn score is what it is, in plain language.

Contributions are exact TreeSHAP values computed by LightGBM itself
(`pred_contrib=True`), the same algorithm as `shap.TreeExplainer` on the same trees
(bench/explain.py checks the values agree to 1e-6), averaged over the ensemble's
members: the ensemble's log-odds is their mean, so its SHAP values are the mean of
theirs. Positive impact pushes churn risk up.

Drivers a person can use: correlated features are GROUPED into one reason (their SHAP
values summed; e.g. days to renewal, renewal within 90 days, an open renewal opportunity,
billing cycle and GTM stage are one "Renewal timing" reason), so four renewal facts cannot
crowd out the reasons a CSM can act on. Each driver keeps the contract fields
`{feature, value, shap_impact}` (feature and value of the group's strongest member,
shap_impact the group's sum, in log-odds) and adds `group`, `label`, `actionable`,
`members` and `impact_pp`: the change in the 90-day churn probability, in percentage
points, that the group makes for this customer (probability with every feature minus
probability without this group's contribution, on the calibrated scale when the model's
calibration is given). The top-k groups by |impact| are listed actionable ones first.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import TypeAdapter, field_serializer
from pydantic_core import to_json

from engine.churn.features import LABELS, OTHER, event_key_of
from engine.core.contracts import ShapFeature, plain
from engine.core.formatting import money as _money
from engine.core.values import sigmoid as _sigmoid

# Correlated features that make one reason: key -> (label, members, actionable).
GROUPS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "renewal_timing": (
        "Renewal timing",
        ("days_to_renewal", "renewal_within_90d", "open_renewal_opportunity", "billing_cycle", "gtm_stage"),
        False,
    ),
    "usage_level": (
        "Product usage",
        (
            "events_last_7d",
            "events_last_30d",
            "events_prev_30d",
            "events_last_90d",
            "events_per_seat_30d",
            "active_users_30d",
            "seat_utilization",
        ),
        True,
    ),
    "usage_trend": ("Usage trend", ("usage_decay_score", "usage_trend", "active_users_change"), True),
    "inactivity": ("Days since last activity", ("days_since_last_event",), True),
    "feature_breadth": ("Product areas used", ("feature_breadth_30d", "feature_breadth_change"), True),
    "support_load": (
        "Support tickets",
        ("tickets_30d", "tickets_90d", "high_priority_tickets_90d", "open_tickets"),
        True,
    ),
    "support_experience": (
        "Support experience",
        ("avg_resolution_hours_90d", "csat_avg_90d", "csat_responses_90d"),
        True,
    ),
    "compliance": ("Compliance gap", ("compliance_gap_score", "compliance_gap_change"), True),
    "vendor_risk": ("Vendor risk", ("vendor_risk_flags", "vendor_risk_flags_avg_3m"), True),
    "expansion": (
        "Expansion pipeline",
        ("open_expansion_opportunity", "open_expansion_amount_ratio", "expansion_won_12m"),
        True,
    ),
    "revenue_trend": ("Revenue trend", ("mrr", "mrr_change_90d", "expansions_12m", "contractions_12m"), False),
}
GROUP_OF = {member: key for key, (_label, members, _act) in GROUPS.items() for member in members}
IMPACT_UNIT = "change in 90-day churn probability, percentage points"


def group_of(feature: str) -> str:
    """The group a feature belongs to: every feature of one event type is one reason
    ("Login usage"); a feature outside every group is its own group."""
    found = event_key_of(feature)
    return f"evt_{found[0]}" if found else GROUP_OF.get(feature, feature)


def group_label(group: str) -> str:
    if group in GROUPS:
        return GROUPS[group][0]
    if group.startswith("evt_") and event_key_of(f"{group}_count_28d"):
        return f"{LABELS.get(f'{group}_count_28d', group).split(' events')[0]} usage"
    return LABELS.get(group, group)


def in_words(features: Sequence[str]) -> str:
    """Feature names as a person reads a list of them: grouped as drivers are, in first-seen order
    ("Cancel meeting usage (5 inputs), Tenure"); "none" for an empty list."""
    counts: dict[str, int] = {}
    for feature in features:
        group = group_of(feature)
        counts[group] = counts.get(group, 0) + 1
    return ", ".join(f"{group_label(g)}{f' ({n} inputs)' if n > 1 else ''}" for g, n in counts.items()) or "none"


def is_actionable(group: str) -> bool:
    """Can a CSM act on it (usage, support, compliance, expansion, and the use of one event
    type), or is it context (renewal timing, plan, industry, tenure, size, custom attributes)?"""
    return GROUPS[group][2] if group in GROUPS else group.startswith("evt_")


class Driver(ShapFeature):
    """One grouped reason behind a churn score: the seed contract's `{feature, value,
    shap_impact, reason}` (feature and value of the group's strongest member, shap_impact
    the group's summed SHAP in log-odds) plus the group it stands for.

    Stored as JSON with each prediction (`predictions.drivers`, see `drivers_json`) with
    shap_impact rounded to 6 and impact_pp to 3 decimals; drivers stored before grouping
    existed lack the group fields and still load."""

    group: str = ""
    label: str = ""
    actionable: bool = False
    members: tuple[str, ...] = ()
    impact_pp: float | None = None  # percentage points of 90-day churn probability

    @field_serializer("value")
    def _plain_value(self, value: Any) -> Any:
        return plain(value)  # NaN as null, numpy numbers as Python ones

    @field_serializer("shap_impact")
    def _round_impact(self, impact: float) -> float:
        return round(impact, 6)

    @field_serializer("impact_pp")
    def _round_pp(self, impact_pp: float | None) -> float | None:
        return None if impact_pp is None else round(impact_pp, 3)


DRIVERS = TypeAdapter(list[Driver])


def drivers_json(drivers: list[Driver]) -> str:
    """The JSON text stored in `predictions.drivers`."""
    return DRIVERS.dump_json(drivers).decode()


def drivers_from_json(text: str | bytes) -> list[Driver]:
    """Stored drivers back as models (any version's JSON)."""
    return DRIVERS.validate_json(text)


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.0f}%"


def _n(x: float, thing: str, things: str = "") -> str:
    """A whole count with its noun, singular for one: "1 day", "3 days", "1 opportunity"."""
    return f"{x:,.0f} {thing if round(x) == 1 else (things or thing + 's')}"


def _days(x: float) -> str:
    return _n(x, "day")


def _texts() -> dict[str, Callable[[Any], str]]:
    """The sentence for each fixed feature's value (built once: scoring writes hundreds of
    thousands of reasons)."""
    return {
        "usage_decay_score": lambda v: (
            f"Usage fell {_pct(v)} versus the previous 30 days"
            if v > 0
            else "Usage held steady or grew versus the previous 30 days"
        ),
        "usage_trend": lambda v: (
            f"Usage is {math.exp(v):,.0f}× two months ago"
            if math.exp(v) >= 10
            else f"Usage is {_pct(math.exp(v) - 1)} {'up' if v >= 0 else 'down'} on two months ago"
        ),
        "seat_utilization": lambda v: f"{_pct(v)} of seats are active on an average day of the last four weeks",
        "active_users_change": lambda v: (
            # "+7400%" (a month-old account against the weeks before it signed up) says nothing.
            f"Daily active users are {v + 1:,.0f}× the four weeks before"
            if v >= 9
            else f"Daily active users {'rose' if v >= 0 else 'fell'} {_pct(v)} over the last four weeks"
        ),
        "days_since_last_event": lambda v: f"No activity for {_days(v)}" if v >= 1 else "Active in the last day",
        "events_last_30d": lambda v: f"{_n(v, 'product event')} in the last 30 days",
        "events_last_7d": lambda v: f"{_n(v, 'product event')} in the last 7 days",
        "events_last_90d": lambda v: f"{_n(v, 'product event')} in the last 90 days",
        "events_prev_30d": lambda v: f"{_n(v, 'product event')} in the 30 days before last",
        "events_per_seat_30d": lambda v: f"{v:,.1f} events per seat in 30 days",
        # Out of as many event types as the company logs (the demo has 5, a foreign log any number).
        "feature_breadth_30d": lambda v: f"Used {_n(v, 'product area')} in the last 30 days",
        "feature_breadth_change": lambda v: (
            f"Stopped using {_n(abs(v), 'product area')}"
            if v < 0
            else f"Started using {_n(v, 'more product area')}"
            if v > 0
            else "Same product areas as the month before"
        ),
        "tickets_30d": lambda v: f"{_n(v, 'support ticket')} in 30 days",
        "tickets_90d": lambda v: f"{_n(v, 'support ticket')} in 90 days",
        "high_priority_tickets_90d": lambda v: f"{_n(v, 'high-priority ticket')} in 90 days",
        "open_tickets": lambda v: f"{_n(v, 'ticket')} still open",
        "avg_resolution_hours_90d": lambda v: f"Tickets take {_n(v, 'hour')} to resolve on average",
        "csat_avg_90d": lambda v: f"CSAT averages {v:.1f} of 5",
        "csat_responses_90d": lambda v: f"{_n(v, 'CSAT response')} in 90 days",
        "compliance_gap_score": lambda v: f"Compliance gap score is {v:.2f}",
        "compliance_gap_change": lambda v: (
            f"Compliance gap {'widened' if v > 0 else 'narrowed'} by {abs(v):.2f} in 3 months"
        ),
        "vendor_risk_flags": lambda v: f"{_n(v, 'vendor-risk flag')} open",
        "vendor_risk_flags_avg_3m": lambda v: f"{v:.1f} vendor-risk flags on average over 3 months",
        "days_to_renewal": lambda v: f"Renewal in {_days(v)}" if v >= 1 else "Renewal is due today",
        "renewal_within_90d": lambda v: "Renewal falls within 90 days" if v else "No renewal in the next 90 days",
        "open_renewal_opportunity": lambda v: "Renewal opportunity is open" if v else "No open renewal opportunity",
        "open_expansion_opportunity": lambda v: (
            "Expansion opportunity is open" if v else "No open expansion opportunity"
        ),
        "open_expansion_amount_ratio": lambda v: f"Open expansion pipeline is {_pct(v)} of ARR",
        "expansion_won_12m": lambda v: f"{_n(v, 'expansion')} won in 12 months",
        "opportunities_lost_12m": lambda v: f"{_n(v, 'opportunity', 'opportunities')} lost in 12 months",
        "expansions_12m": lambda v: f"{_n(v, 'MRR expansion')} in 12 months",
        "contractions_12m": lambda v: f"{_n(v, 'MRR contraction')} in 12 months",
        "mrr_change_90d": lambda v: f"MRR {'grew' if v >= 0 else 'shrank'} {_pct(v)} in 90 days",
        "mrr": lambda v: f"MRR is {_money(v)}",
        "seats": lambda v: _n(v, "seat"),
        "tenure_days": lambda v: f"Customer for {_days(v)}" if v >= 1 else "Signed up on the day it was scored",
        "active_users_30d": lambda v: f"{v:,.1f} daily active users on average",
    }


TEXTS = _texts()


# "in the last 90 days" / "in 90 days": a count over a window that may be longer than the account's life.
_WINDOW = re.compile(r"in (?:the last )?(\d+) days")
# The features counted over a past window (not "Renewal in 22 days", which is ahead).
_WINDOW_COUNTS = re.compile(
    r"^(?:evt_.+_(?:count|value)_(?:7d|28d|90d)|events_last_\d+d|events_per_seat_30d|tickets_\d+d"
    r"|high_priority_tickets_90d|csat_responses_90d)$"
)


def _within_tenure(feature: str, text: str, tenure_days: float | None) -> str:
    """A window count of an account younger than the window is said over its life: "0 like
    events in its 3 days as a customer", not "in the last 90 days" (it had no 90 days)."""
    if tenure_days is None or not math.isfinite(tenure_days) or tenure_days >= 90:
        return text
    life = "its first day as a customer" if tenure_days < 1 else f"its {_days(tenure_days)} as a customer"
    if feature == "seat_utilization" and tenure_days < 27:  # averaged over its own days (features.py)
        return text.replace("of the last four weeks", f"of {life}")
    if not _WINDOW_COUNTS.match(feature):
        return text
    found = _WINDOW.search(text)
    if not found or tenure_days >= int(found.group(1)):
        return text
    return f"{text[: found.start()]}in {life}{text[found.end() :]}"


def reason(feature: str, value, impact: float, tenure_days: float | None = None) -> str:
    """A sentence a CSM can read: what the value is and which way it pushes risk. With the
    account's tenure, a window longer than its life is said as its life."""
    direction = "raises" if impact > 0 else "lowers"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        found = event_key_of(feature)
        what = (
            LABELS.get(f"evt_{found[0]}_count_28d", feature).split(" events")[0]
            if found
            else LABELS.get(feature, feature)
        )
        return f"No {what.lower()} on record, which {direction} the risk"
    if value == OTHER:  # a category level pooled with the rare ones (features.choose_attributes)
        label = LABELS.get(feature, feature)
        return f"{label} is one of the less common ones, which {direction} the risk"
    make = _sentence_of(feature)
    try:
        text = make(value) if make else f"{LABELS.get(feature, feature)} is {value}"
    except (TypeError, ValueError):
        text = f"{LABELS.get(feature, feature)} is {value}"
    return f"{_within_tenure(feature, text, tenure_days)}, which {direction} the risk"


@functools.lru_cache(maxsize=4096)
def _sentence_of(feature: str) -> Callable[[Any], str] | None:
    """How a feature's value is said (kept per feature: scoring asks for it 5 times per account)."""
    return TEXTS.get(feature) or _event_reason(feature)


def _event_reason(feature: str) -> Callable[[Any], str] | None:
    """The sentence for a per-event-type feature (evt_<type>_<stat>), or None."""
    found = event_key_of(feature)
    if not found:
        return None
    thing = LABELS.get(f"evt_{found[0]}_count_28d", feature).split(" events")[0].lower()
    window = {"7d": "7", "28d": "28", "90d": "90"}.get(found[1].rsplit("_", 1)[-1], "")
    if found[1].startswith("count_"):
        return lambda v: f"{_n(v, thing + ' event')} in the last {window} days"
    if found[1].startswith("value_"):
        # "46,303.0" and "0.0": a decimal place is noise on a large or whole value
        return lambda v: (
            f"{thing.capitalize()} value of {v:,.{0 if abs(v) >= 100 or float(v).is_integer() else 1}f} "
            f"in the last {window} days"
        )
    if found[1] == "trend_28d":
        # "19700% up" (1 event before, 198 now) is unreadable: ten times or more is said as a multiple.
        return lambda v: (
            f"{thing.capitalize()} events are {math.exp(v):,.0f}× the previous 28 days"
            if math.exp(v) >= 10
            else f"{thing.capitalize()} events are {_pct(math.exp(v) - 1)} {'up' if v >= 0 else 'down'} "
            "on the previous 28 days"
        )
    return lambda v: f"No {thing} event for {_days(v)}" if v >= 1 else f"A {thing} event in the last day"


def top_drivers(
    features: list[str], row: pd.Series, contributions: np.ndarray, k: int = 5, calibration=None
) -> list[Driver]:
    """The k strongest reasons (grouped) for one customer."""
    return drivers_for_frame(features, row.to_frame().T, contributions.reshape(1, -1), k, calibration)[0]


@dataclass(frozen=True)
class _Chosen:
    """The top-k groups of every row, in the order they are listed (rows x k arrays)."""

    keys: list[str]  # group keys, by group index
    members: list[tuple[str, ...]]  # member feature names, by group index
    actionable: np.ndarray  # by group index
    group: np.ndarray  # group index of each listed driver
    lead: np.ndarray  # feature index of the group's strongest member pushing its way
    impact: np.ndarray  # the group's summed SHAP (log-odds)
    pp: np.ndarray  # its change in churn probability, percentage points


def _choose(features: list[str], contributions: np.ndarray, k: int, calibration: tuple[float, float] | None) -> _Chosen:
    """The k groups with the largest |summed SHAP| per row, actionable ones first (each part by
    |impact|), with each group's lead member, for every row at once."""
    n = len(features)
    impacts = contributions[:, :n]
    total = contributions.sum(axis=1) if contributions.shape[1] > n else impacts.sum(axis=1)
    a, b = calibration if calibration is not None else (1.0, 0.0)
    keys: list[str] = []
    index: dict[str, list[int]] = {}
    for j, name in enumerate(features):
        key = group_of(name)
        if key not in index:
            keys.append(key)
            index[key] = []
        index[key].append(j)
    sums = np.column_stack([impacts[:, index[key]].sum(axis=1) for key in keys])  # rows x groups
    p_all = _sigmoid(a * total + b)
    p_without = _sigmoid(a * (total[:, None] - sums) + b)
    pp = (p_all[:, None] - p_without) * 100
    # The strongest member of each group among those pushing the group's way (all when none does);
    # argmax keeps the first of equals, as the members are listed.
    leads = np.empty(sums.shape, dtype=np.int64)
    for g, key in enumerate(keys):
        members = np.array(index[key])
        part = impacts[:, members]
        same = np.sign(part) == np.sign(sums[:, g])[:, None]
        same |= ~same.any(axis=1, keepdims=True)
        leads[:, g] = members[np.argmax(np.where(same, np.abs(part), -1.0), axis=1)]
    actionable = np.array([is_actionable(key) for key in keys])
    k = min(k, len(keys))
    strongest = np.argsort(-np.abs(sums), axis=1, kind="stable")[:, :k]
    # Listed actionable first; a stable sort keeps the |impact| order inside each part.
    order = np.argsort(~actionable[strongest], axis=1, kind="stable")
    chosen = np.take_along_axis(strongest, order, axis=1)
    return _Chosen(
        keys=keys,
        members=[tuple(features[j] for j in index[key]) for key in keys],
        actionable=actionable,
        group=chosen,
        lead=np.take_along_axis(leads, chosen, axis=1),
        impact=np.take_along_axis(sums, chosen, axis=1),
        pp=np.take_along_axis(pp, chosen, axis=1),
    )


def _listed(
    features: list[str], frame: pd.DataFrame, chosen: _Chosen, stored: bool = False
) -> Iterator[list[dict[str, Any]]]:
    """Every row's drivers as the fields of `Driver`, in order; with `stored`, as `Driver`'s
    JSON writes them (see its serializers): values made JSON-ready, impacts rounded."""
    # Python values once per column, not one numpy scalar per driver.
    names = {features[j] for j in np.unique(chosen.lead)}
    columns = {name: frame[name].tolist() for name in names}
    tenures = frame["tenure_days"].astype(float).tolist() if "tenure_days" in frame else [None] * len(frame)
    # JSON-ready values: a float column at once (only its non-finite values change), others per driver.
    ready = {name: _ready_floats(frame[name]) if stored else None for name in names}
    labels = [group_label(key) for key in chosen.keys]
    groups, leads, impacts, pps = (x.tolist() for x in (chosen.group, chosen.lead, chosen.impact, chosen.pp))
    shown_impacts = [[round(x, 6) for x in row] for row in impacts] if stored else impacts
    shown_pps = [[round(x, 3) for x in row] for row in pps] if stored else pps
    for i in range(len(groups)):
        row = []
        for g, lead, impact, shown, pp in zip(
            groups[i], leads[i], impacts[i], shown_impacts[i], shown_pps[i], strict=True
        ):
            name = features[lead]
            value = columns[name][i]
            if stored:
                floats = ready[name]
                shown_value = floats[i] if floats is not None else plain(value)
            else:
                shown_value = value
            row.append(
                {
                    "feature": name,
                    "value": shown_value,
                    "shap_impact": shown,
                    "reason": reason(name, value, impact, tenures[i]),
                    "group": chosen.keys[g],
                    "label": labels[g],
                    "actionable": bool(chosen.actionable[g]),
                    "members": chosen.members[g],
                    "impact_pp": pp,
                }
            )
        yield row


def _ready_floats(column: pd.Series) -> list[Any] | None:
    """A float64 column as JSON-ready values (`plain`'s: NaN and infinities to None), or None
    for another kind of column."""
    if column.dtype != np.float64:
        return None
    values = column.to_numpy()
    out: list[Any] = values.tolist()
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = None
    return out


def drivers_for_frame(
    features: list[str],
    frame: pd.DataFrame,
    contributions: np.ndarray,
    k: int = 5,
    calibration: tuple[float, float] | None = None,
) -> list[list[Driver]]:
    """Top-k grouped drivers for every row (contributions aligned with rows; a last column
    beyond the features is the expected value). The k groups with the largest |summed SHAP|
    are chosen, then listed actionable first, each part by |impact|. `calibration` (a, b)
    maps the model's log-odds to the calibrated logit a * x + b for `impact_pp`.
    """
    chosen = _choose(features, np.asarray(contributions, dtype=float), k, calibration)
    # The values are built right here: no need to validate them.
    return [[Driver.model_construct(**d) for d in row] for row in _listed(features, frame, chosen)]


def stored_drivers(
    features: list[str],
    frame: pd.DataFrame,
    contributions: np.ndarray,
    k: int = 5,
    calibration: tuple[float, float] | None = None,
) -> tuple[list[str], list[str | None], list[str | None]]:
    """For every row: the drivers' JSON as `drivers_json` writes it, and the first driver that
    raises the risk (its feature and its reason; None when none does). Batch scoring's path:
    the same drivers as `drivers_for_frame` without a model object per driver."""
    chosen = _choose(features, np.asarray(contributions, dtype=float), k, calibration)
    texts: list[str] = []
    raising_feature: list[str | None] = []
    raising_reason: list[str | None] = []
    # The first raising driver by its exact impact (a stored impact is rounded to 6 places).
    raising = np.where((chosen.impact > 0).any(axis=1), np.argmax(chosen.impact > 0, axis=1), -1).tolist()
    for row, first in zip(_listed(features, frame, chosen, stored=True), raising, strict=True):
        texts.append(to_json(row).decode())
        raising_feature.append(row[first]["feature"] if first >= 0 else None)
        raising_reason.append(row[first]["reason"] if first >= 0 else None)
    return texts, raising_feature, raising_reason


def global_importance(features: list[str], contributions: np.ndarray) -> pd.DataFrame:
    """Mean |SHAP| per feature over the rows given, largest first (ungrouped: the model view)."""
    mean_abs = np.abs(contributions[:, : len(features)]).mean(axis=0)
    frame = pd.DataFrame(
        {"feature": features, "label": [LABELS.get(f, f) for f in features], "mean_abs_shap": mean_abs}
    )
    return frame.sort_values("mean_abs_shap", ascending=False).reset_index(drop=True)
