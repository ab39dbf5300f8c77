"""Composite risk score, risk tiers and the recommended next action."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from engine.core import config, formatting
from engine.core.contracts import Contract, RiskComponents

# The risk tier is ONE documented choice: it comes from the model's 90-day churn probability
# alone (not the composite risk_score, which is shown next to it as context). Its thresholds
# come from configuration (`tier_cuts`): by default RELATIVE to the base rate the serving model
# was trained on (medium from 1.5x, high from 3x, critical from 6x), so tiers separate accounts
# whether 4% or 40% of customers churn in 90 days; or the seed's ABSOLUTE thresholds
#   low < 10% <= medium < 25% <= high < 50% <= critical.
# Revenue at risk and the renewal date do not change the tier; they set the urgency of the
# recommended action.
TIER_CUTS = config.DEFAULT_TIER_CUTS
TIERS = ("low", "medium", "high", "critical")
Tier = Literal["low", "medium", "high", "critical"]
TIER_BASIS = "90-day churn probability"
ONBOARDING_DAYS = 60  # younger accounts are onboarding (segments read the same: engine.segments.axes)
HIGHEST_CUT = 0.95  # a relative threshold never asks for more than this probability


def _pct(cut: float) -> str:
    return f"{cut * 100:.3g}%"


class TierCuts(Contract):
    """The thresholds tiers use: medium, high and critical start at `cuts`; `mode` says how they
    were set (`relative`: `lifts` times `base_rate`, the training churn rate; `absolute`)."""

    mode: Literal["relative", "absolute"]
    cuts: tuple[float, float, float]
    base_rate: float | None = None
    lifts: tuple[float, float, float] | None = None

    @property
    def legend(self) -> str:
        """The legend under the board and Customer 360: the thresholds in use."""
        c = self.cuts
        bands = f"low < {_pct(c[0])} · medium {_pct(c[0])}–{_pct(c[1])} · high {_pct(c[1])}–{_pct(c[2])} · critical ≥ {_pct(c[2])}"
        if self.mode == "relative" and self.lifts and self.base_rate is not None:
            lifts = "/".join(f"{x:g}×" for x in self.lifts)
            basis = f", against the {_pct(self.base_rate)} base rate the model was trained on ({lifts} it)"
        else:
            basis = ""
        return (
            f"Risk tier = the model's probability of churning in the next 90 days{basis}: {bands}. "
            "Revenue at risk and the renewal date set how urgent the recommended action is."
        )


ABSOLUTE = TierCuts(mode="absolute", cuts=TIER_CUTS)
TIER_LEGEND = ABSOLUTE.legend  # the seed's legend (absolute thresholds); pages show `tier_cuts(...).legend`


def tier_cuts(base_rate: float | None) -> TierCuts:
    """The thresholds in use for a model trained at `base_rate` (its training churn rate).

    Set by RADAR_RISK_TIERS: `relative` (default) = RADAR_RISK_TIER_LIFTS (default 1.5,3,6)
    times the base rate, at most 93, 94 and 95%; `absolute` = RADAR_RISK_TIER_CUTS (default
    0.10,0.25,0.50). A model without a recorded base rate (registered before tiers were
    relative) uses the absolute thresholds."""
    if config.risk_tier_mode() == "absolute" or base_rate is None or not base_rate > 0:
        return TierCuts(mode="absolute", cuts=config.risk_tier_cuts(), base_rate=base_rate)
    lifts = config.risk_tier_lifts()
    # Capped thresholds step down 1 point each from HIGHEST_CUT, so the tiers stay in order.
    cuts = [min(base_rate * lift, HIGHEST_CUT - 0.01 * (2 - i)) for i, lift in enumerate(lifts)]
    return TierCuts(mode="relative", cuts=(cuts[0], cuts[1], cuts[2]), base_rate=base_rate, lifts=lifts)


# ARR at risk (churn probability x ARR) from which a non-low account is escalated to an
# executive sponsor whatever its tier, and a renewal this close counts as "soon".
ESCALATION_ARR_AT_RISK = 100_000.0
RENEWAL_SOON_DAYS = 60
RENEWAL_WINDOW_DAYS = 90
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


def risk_tier(probability: np.ndarray | float, cuts: TierCuts = ABSOLUTE) -> np.ndarray:
    """low / medium / high / critical from churn probability, with the thresholds `cuts`
    (scoring passes the ones in use, `tier_cuts`; the seed's absolute ones by default)."""
    p = np.asarray(probability, dtype=float)
    return np.array(TIERS, dtype=object)[np.searchsorted(cuts.cuts, p, side="right")]


# The risk score's parts, stored with each prediction (the contract's `components`).
COMPONENTS = ("usage_decay_score", "compliance_gap_score", "vendor_risk_flags")


class RiskScore(Contract):
    """The risk score contract for one customer: the composite `risk_score` (0-1), the
    `risk_tier` (from the 90-day churn probability, see `tier_cuts`) and the score's parts."""

    customer_id: str
    risk_score: float | None  # None when none of its parts is measured (a young account with a usage log alone)
    risk_tier: Tier
    components: RiskComponents
    churned_on: date | None = None  # set when the account churned after it was scored: a record, not a task


def components_of(row: Mapping[str, Any] | pd.Series) -> RiskComponents:
    """The risk score's parts of one row of `risk_components` (or of a stored prediction)."""
    return RiskComponents(**{name: None if pd.isna(row[name]) else float(row[name]) for name in COMPONENTS})


def _signal(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """A component's input (0 for an account without a value), or None when the company loaded
    no such source at all (no risk signals, no usage log): then the feature does not exist."""
    if name not in frame.columns:
        return None
    return frame[name].astype("float64").fillna(0)


DECAY_DAYS = 60  # usage decay compares the last 30 days with the 30 before: an account needs both


def decay_measured(tenure_days: float) -> bool:
    """Whether an account is old enough for usage decay (and a change on the 30 days before)."""
    return tenure_days >= DECAY_DAYS


def decay_unmeasured(tenure_days: int) -> str:
    """Why an account's usage decay is not measured yet (its tenure is below DECAY_DAYS), to
    follow "Usage decay not measured yet: "."""
    return f"it compares the last 30 days with the 30 before, and the account is {formatting.days(tenure_days)} old"


def risk_components(frame: pd.DataFrame, weights: RiskWeights = RiskWeights()) -> pd.DataFrame:
    """Per customer: usage_decay_score, compliance_gap_score, vendor_risk_flags and risk_score (0-1).
    A part whose source was not loaded is NaN and left out, the others' weights renormalised: a
    company without risk signals gets a score from usage decay alone, not one capped at half.
    Usage decay of an account younger than DECAY_DAYS is not measured either (its "previous 30
    days" were partly before it signed up, and 0.00 read as "no decay"); a row with no measured
    part has no risk score (NaN), not a 0 that says "no risk"."""
    usage, gap, flags = (_signal(frame, n) for n in ("usage_decay_score", "compliance_gap_score", "vendor_risk_flags"))
    if usage is not None and "tenure_days" in frame.columns:
        usage = usage.where(~(frame["tenure_days"].astype("float64") < DECAY_DAYS))
    parts = (
        (weights.usage_decay, None if usage is None else usage.clip(0, 1)),
        (weights.compliance_gap, None if gap is None else gap.clip(0, 1)),
        (weights.vendor_risk, None if flags is None else (flags.clip(lower=0) / weights.vendor_flags_cap).clip(0, 1)),
    )
    weighted = np.zeros(len(frame))
    total = np.zeros(len(frame))
    for weight, value in parts:
        if value is None:
            continue
        measured = value.notna().to_numpy()
        weighted += np.where(measured, weight * value.fillna(0).to_numpy(dtype=float), 0.0)
        total += np.where(measured, weight, 0.0)
    score = np.divide(weighted, total, out=np.full(len(frame), np.nan), where=total > 0)
    missing = np.full(len(frame), np.nan)
    return pd.DataFrame(
        {
            "usage_decay_score": missing if usage is None else usage.clip(0, 1).to_numpy(dtype=float),
            "compliance_gap_score": missing if gap is None else gap.clip(0, 1).to_numpy(dtype=float),
            "vendor_risk_flags": missing if flags is None else flags.clip(lower=0).to_numpy(dtype=float),
            "risk_score": score.round(4),
        }
    )


@dataclass(frozen=True)
class Step:
    """The first thing to do for an account: the stored `recommended_action` and the first
    step of the AI actions plan (`engine.ai.actions`) are both made from this."""

    category: str  # escalation, adoption, support, compliance, renewal, health_check, monitor, expansion, cadence
    headline: str  # "Escalate now", "Adoption rescue", ...
    action: str  # what to do, one sentence
    due_within_days: int
    urgency: int  # higher first (the actions plan sorts by it)
    arr_at_risk: float | None

    @property
    def text(self) -> str:
        """The recommended action as one line, e.g. 'Escalate now ($718.1K ARR at risk, renewal in
        39 days): Book an executive-sponsor call ... Due within 7 days.'"""
        context = []
        if self.arr_at_risk is not None and self.category not in ("cadence", "expansion", "monitor"):
            context.append(f"{formatting.money(self.arr_at_risk)} ARR at risk")
        head = f"{self.headline} ({', '.join(context)})" if context else self.headline
        return f"{head}: {self.action} Due within {formatting.days(self.due_within_days)}."


def _number(value) -> float | None:
    if formatting.is_missing(value):
        return None
    return float(value)


def due_before_renewal(due_days: int, days_to_renewal: float | None) -> int:
    """`due_days`, brought forward so it never falls after a known, upcoming renewal."""
    if days_to_renewal is None or days_to_renewal < 0:
        return int(due_days)
    return int(max(0, min(due_days, int(days_to_renewal))))


def lead_step(
    tier: str,
    top_risk_driver: str | None,
    churn_probability: float,
    mrr: float | None,
    days_to_renewal: float | None,
    has_expansion_opportunity: bool = False,
    tenure_days: float | None = None,
) -> Step:
    """The first step for an account, weighing tier, the strongest actionable risk driver,
    ARR at risk and the renewal date:

    * escalate to an executive sponsor when the tier is critical; or high with the renewal
      within 90 days or ARR at risk >= ESCALATION_ARR_AT_RISK; or medium with both;
    * otherwise high/medium accounts get the step their top driver calls for (usage ->
      adoption, support -> support recovery, compliance -> risk review), a renewal step
      when the renewal is near, or a success review;
    * due dates never fall after the renewal.
    """
    p = float(churn_probability)
    monthly = _number(mrr)
    arr_at_risk = p * monthly * 12 if monthly is not None else None
    days = _number(days_to_renewal)
    renewal_in_window = days is not None and 0 <= days <= RENEWAL_WINDOW_DAYS
    renewal_soon = days is not None and 0 <= days <= RENEWAL_SOON_DAYS
    big = arr_at_risk is not None and arr_at_risk >= ESCALATION_ARR_AT_RISK
    renewal_words = f" before the renewal in {formatting.days(days)}" if renewal_in_window else ""
    tenure = _number(tenure_days)

    def step(category: str, headline: str, action: str, due: int, urgency: int) -> Step:
        return Step(category, headline, action, due_before_renewal(due, days), urgency, arr_at_risk)

    escalate = (
        tier == "critical"
        or (tier == "high" and (renewal_in_window or big))
        or (tier == "medium" and big and renewal_in_window)
    )
    if escalate:
        return step(
            "escalation",
            "Escalate now",
            f"Book an executive-sponsor call and agree a rescue plan{renewal_words}.",
            7,
            100,
        )
    if tier in ("high", "medium"):
        serious = tier == "high"
        if top_risk_driver in SUPPORT_DRIVERS:
            return step(
                "support",
                "Support recovery",
                "Review open and high-priority tickets with support leadership and call the customer with a fix "
                "timeline.",
                7 if serious else 14,
                90 if serious else 60,
            )
        if top_risk_driver in USAGE_DRIVERS:
            return step(
                "adoption",
                "Adoption rescue" if serious else "Nudge adoption",
                "Run a workflow review with the champion and re-onboard inactive users."
                if serious
                else "Send targeted enablement content and offer a training session.",
                14 if serious else 21,
                80 if serious else 50,
            )
        if top_risk_driver in COMPLIANCE_DRIVERS:
            return step(
                "compliance",
                "Risk review",
                "Close the compliance and vendor-risk gaps with their security team; share the trust-center pack.",
                21,
                70 if serious else 45,
            )
        if renewal_soon:
            return step(
                "renewal",
                "Renewal at risk" if serious else "Prepare the renewal",
                "Open the renewal conversation, confirm the decision-maker and share a value review.",
                14,
                75 if serious else 55,
            )
        if serious or big:
            return step(
                "health_check",
                "Health check",
                "Schedule a success review to find the cause of the risk.",
                14,
                65 if serious else 50,
            )
        return step(
            "monitor",
            "Monitor",
            "Check in at the next touchpoint and keep an eye on usage.",
            30,
            20,
        )
    if tenure is not None and tenure < ONBOARDING_DAYS:
        # A low score this early means little: the account has barely started (its segment says "onboarding").
        return step(
            "onboarding",
            "Onboarding",
            "Run the onboarding sequence: get the first workflow live and invite the rest of the team.",
            14,
            30,
        )
    if renewal_soon:
        return step(
            "renewal",
            "Secure the renewal",
            "Confirm terms and timeline with the decision-maker and send a value summary.",
            14,
            55,
        )
    if has_expansion_opportunity:
        return step("expansion", "Healthy", "Progress the open expansion opportunity.", 30, 40)
    return step("cadence", "Healthy", "Keep the regular cadence; look for advocacy or expansion.", 30, 10)


def recommended_action(
    tier: str,
    top_risk_driver: str | None,
    churn_probability: float,
    mrr: float | None,
    days_to_renewal: float | None,
    has_expansion_opportunity: bool = False,
    tenure_days: float | None = None,
) -> str:
    """The stored next step (one line): `lead_step(...).text`."""
    return lead_step(
        tier, top_risk_driver, churn_probability, mrr, days_to_renewal, has_expansion_opportunity, tenure_days
    ).text
