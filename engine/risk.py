"""Composite risk score, risk tiers and the recommended next action."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Tier cut points on churn probability: low < 0.30 <= medium < 0.60 <= high < 0.80 <= critical.
TIER_CUTS = (0.30, 0.60, 0.80)
TIERS = ("low", "medium", "high", "critical")
USAGE_DRIVERS = {
    "usage_decay_score",
    "usage_trend",
    "seat_utilization",
    "active_users_change",
    "days_since_last_event",
    "events_last_7d",
    "events_last_30d",
    "events_last_90d",
    "events_per_seat_30d",
    "feature_breadth_30d",
    "feature_breadth_change",
    "active_users_30d",
    "events_prev_30d",
}
SUPPORT_DRIVERS = {
    "tickets_30d",
    "tickets_90d",
    "high_priority_tickets_90d",
    "open_tickets",
    "avg_resolution_hours_90d",
    "csat_avg_90d",
    "csat_responses_90d",
}
COMPLIANCE_DRIVERS = {"compliance_gap_score", "compliance_gap_change", "vendor_risk_flags", "vendor_risk_flags_avg_3m"}


@dataclass(frozen=True)
class RiskWeights:
    """How much each component counts in `risk_score` (they are normalised to sum to 1)."""

    usage_decay: float = 0.5
    compliance_gap: float = 0.3
    vendor_risk: float = 0.2
    vendor_flags_cap: float = 3.0  # this many flags or more counts as the maximum


def risk_tier(probability: np.ndarray | float) -> np.ndarray:
    """low / medium / high / critical from churn probability."""
    p = np.asarray(probability, dtype=float)
    return np.array(TIERS, dtype=object)[np.searchsorted(TIER_CUTS, p, side="right")]


def risk_components(frame: pd.DataFrame, weights: RiskWeights = RiskWeights()) -> pd.DataFrame:
    """Per customer: usage_decay_score, compliance_gap_score, vendor_risk_flags and risk_score (0-1)."""
    usage = frame["usage_decay_score"].fillna(0).clip(0, 1)
    gap = frame["compliance_gap_score"].fillna(0).clip(0, 1)
    flags = frame["vendor_risk_flags"].fillna(0).clip(lower=0)
    total = weights.usage_decay + weights.compliance_gap + weights.vendor_risk
    score = (
        weights.usage_decay * usage
        + weights.compliance_gap * gap
        + weights.vendor_risk * (flags / weights.vendor_flags_cap).clip(0, 1)
    ) / total
    return pd.DataFrame(
        {
            "usage_decay_score": usage.to_numpy(),
            "compliance_gap_score": gap.to_numpy(),
            "vendor_risk_flags": flags.to_numpy(),
            "risk_score": score.round(4).to_numpy(),
        }
    )


def recommended_action(
    tier: str,
    top_risk_driver: str | None,
    churn_probability: float,
    mrr: float,
    days_to_renewal: float | None,
    has_expansion_opportunity: bool = False,
) -> str:
    """A next step from tier, the strongest risk-raising driver, revenue at risk and renewal timing."""
    arr_at_risk = churn_probability * (mrr or 0) * 12
    at_risk = f"${arr_at_risk:,.0f} ARR at risk"
    renewal_soon = days_to_renewal is not None and not np.isnan(days_to_renewal) and days_to_renewal <= 60
    if tier == "critical" and renewal_soon:
        return (
            f"Escalate now: renewal in {days_to_renewal:.0f} days with {at_risk}. Book an executive-sponsor "
            "call this week and agree a rescue plan."
        )
    if tier in ("critical", "high"):
        if top_risk_driver in USAGE_DRIVERS:
            return (
                f"Adoption rescue ({at_risk}): usage is slipping. Run a workflow review with the champion and "
                "re-onboard inactive seats within 14 days."
            )
        if top_risk_driver in SUPPORT_DRIVERS:
            return (
                f"Support recovery ({at_risk}): review open and high-priority tickets with support leadership "
                "and call the customer with a fix timeline."
            )
        if top_risk_driver in COMPLIANCE_DRIVERS:
            return (
                f"Risk review ({at_risk}): close the compliance and vendor-risk gaps with their security team; "
                "offer the trust-center pack."
            )
        if renewal_soon:
            return f"Renewal at risk ({at_risk}): start the renewal conversation now and confirm the decision-maker."
        return f"Health check ({at_risk}): schedule a success review within 14 days to find the cause."
    if tier == "medium":
        if renewal_soon:
            return f"Prepare the renewal: share a value review before day {days_to_renewal:.0f}."
        if top_risk_driver in USAGE_DRIVERS:
            return "Nudge adoption: send targeted enablement content and offer a training session."
        return "Monitor: check in at the next touchpoint and watch usage and tickets."
    if renewal_soon:
        return (
            f"Secure the renewal in {days_to_renewal:.0f} days ({at_risk}): confirm terms and timeline with the "
            "decision-maker and send a value summary."
        )
    if has_expansion_opportunity:
        return "Healthy: progress the open expansion opportunity."
    return "Healthy: keep the regular cadence; look for advocacy or expansion."
