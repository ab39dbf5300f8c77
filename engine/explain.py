"""SHAP drivers: why a customer's churn score is what it is, in plain language.

Contributions are exact TreeSHAP values computed by LightGBM itself
(`pred_contrib=True`), the same algorithm as `shap.TreeExplainer` on the same trees
(bench/explain.py checks the values agree to 1e-6), averaged over the ensemble's
members: the ensemble's log-odds is their mean, so its SHAP values are the mean of
theirs. Positive impact pushes churn risk up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.features import LABELS


@dataclass(frozen=True)
class Driver:
    feature: str
    value: object
    shap_impact: float
    reason: str

    def as_dict(self) -> dict:
        value = self.value
        if isinstance(value, float) and math.isnan(value):
            value = None
        return {
            "feature": self.feature,
            "value": value,
            "shap_impact": round(self.shap_impact, 6),
            "reason": self.reason,
        }


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.0f} %"


def _days(x: float) -> str:
    return "1 day" if round(x) == 1 else f"{x:,.0f} days"


def _money(x: float) -> str:
    return f"${x:,.0f}"


def reason(feature: str, value, impact: float) -> str:
    """A sentence a CSM can read: what the value is and which way it pushes risk."""
    direction = "raises" if impact > 0 else "lowers"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"No {LABELS.get(feature, feature).lower()} on record, which {direction} the risk"
    v = value
    texts = {
        "usage_decay_score": lambda: (
            f"Usage fell {_pct(v)} versus the previous 30 days"
            if v > 0
            else "Usage held steady or grew versus the previous 30 days"
        ),
        "usage_trend": lambda: f"Usage is {_pct(math.exp(v) - 1)} {'up' if v >= 0 else 'down'} on two months ago",
        "seat_utilization": lambda: f"{_pct(v)} of seats are active on an average day",
        "active_users_change": lambda: f"Daily active users {'rose' if v >= 0 else 'fell'} {_pct(v)} in 30 days",
        "days_since_last_event": lambda: f"No activity for {_days(v)}" if v >= 1 else "Active in the last day",
        "events_last_30d": lambda: f"{v:,.0f} product events in the last 30 days",
        "events_last_7d": lambda: f"{v:,.0f} product events in the last 7 days",
        "events_last_90d": lambda: f"{v:,.0f} product events in the last 90 days",
        "events_prev_30d": lambda: f"{v:,.0f} product events in the 30 days before last",
        "events_per_seat_30d": lambda: f"{v:,.1f} events per seat in 30 days",
        "feature_breadth_30d": lambda: f"Uses {v:.0f} of 5 product areas",
        "feature_breadth_change": lambda: (
            f"Stopped using {abs(v):.0f} product area(s)"
            if v < 0
            else f"Started using {v:.0f} more product area(s)"
            if v > 0
            else "Same product areas as the month before"
        ),
        "tickets_30d": lambda: f"{v:.0f} support tickets in 30 days",
        "tickets_90d": lambda: f"{v:.0f} support tickets in 90 days",
        "high_priority_tickets_90d": lambda: f"{v:.0f} high-priority tickets in 90 days",
        "open_tickets": lambda: f"{v:.0f} tickets still open",
        "avg_resolution_hours_90d": lambda: f"Tickets take {v:.0f} hours to resolve on average",
        "csat_avg_90d": lambda: f"CSAT averages {v:.1f} of 5",
        "csat_responses_90d": lambda: f"{v:.0f} CSAT responses in 90 days",
        "compliance_gap_score": lambda: f"Compliance gap score is {v:.2f}",
        "compliance_gap_change": lambda: (
            f"Compliance gap {'widened' if v > 0 else 'narrowed'} by {abs(v):.2f} in 3 months"
        ),
        "vendor_risk_flags": lambda: f"{v:.0f} vendor-risk flag(s) open",
        "vendor_risk_flags_avg_3m": lambda: f"{v:.1f} vendor-risk flags on average over 3 months",
        "days_to_renewal": lambda: f"Renewal in {_days(v)}" if v >= 1 else "Renewal is due today",
        "renewal_within_90d": lambda: "Renewal falls within 90 days" if v else "No renewal in the next 90 days",
        "open_renewal_opportunity": lambda: "Renewal opportunity is open" if v else "No open renewal opportunity",
        "open_expansion_opportunity": lambda: "Expansion opportunity is open" if v else "No open expansion opportunity",
        "open_expansion_amount_ratio": lambda: f"Open expansion pipeline is {_pct(v)} of ARR",
        "expansion_won_12m": lambda: f"{v:.0f} expansion(s) won in 12 months",
        "opportunities_lost_12m": lambda: f"{v:.0f} opportunity(ies) lost in 12 months",
        "expansions_12m": lambda: f"{v:.0f} MRR expansion(s) in 12 months",
        "contractions_12m": lambda: f"{v:.0f} MRR contraction(s) in 12 months",
        "mrr_change_90d": lambda: f"MRR {'grew' if v >= 0 else 'shrank'} {_pct(v)} in 90 days",
        "mrr": lambda: f"MRR is {_money(v)}",
        "seats": lambda: f"{v:,.0f} seats",
        "tenure_days": lambda: f"Customer for {v:,.0f} days",
        "active_users_30d": lambda: f"{v:,.1f} daily active users on average",
    }
    make = texts.get(feature)
    try:
        text = make() if make else f"{LABELS.get(feature, feature)} is {v}"
    except (TypeError, ValueError):
        text = f"{LABELS.get(feature, feature)} is {v}"
    return f"{text}, which {direction} the risk"


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def top_drivers(features: list[str], row: pd.Series, contributions: np.ndarray, k: int = 5) -> list[Driver]:
    """The k features with the largest absolute SHAP impact for one customer."""
    return drivers_for_frame(features, row.to_frame().T, contributions.reshape(1, -1), k)[0]


def drivers_for_frame(
    features: list[str], frame: pd.DataFrame, contributions: np.ndarray, k: int = 5
) -> list[list[Driver]]:
    """Top-k drivers (largest |SHAP| first) for every row; contributions aligned with rows."""
    impacts = contributions[:, : len(features)]
    k = min(k, len(features))
    top = np.argpartition(-np.abs(impacts), k - 1, axis=1)[:, :k]
    order = np.take_along_axis(top, np.argsort(-np.abs(np.take_along_axis(impacts, top, axis=1)), axis=1), axis=1)
    columns = {name: frame[name].to_numpy() for name in features}
    out = []
    for i in range(len(frame)):
        row_drivers = []
        for j in order[i]:
            name, impact = features[j], float(impacts[i, j])
            value = _plain(columns[name][i])
            row_drivers.append(Driver(name, value, impact, reason(name, value, impact)))
        out.append(row_drivers)
    return out


def global_importance(features: list[str], contributions: np.ndarray) -> pd.DataFrame:
    """Mean |SHAP| per feature over the rows given, largest first."""
    mean_abs = np.abs(contributions[:, : len(features)]).mean(axis=0)
    frame = pd.DataFrame(
        {"feature": features, "label": [LABELS.get(f, f) for f in features], "mean_abs_shap": mean_abs}
    )
    return frame.sort_values("mean_abs_shap", ascending=False).reset_index(drop=True)
