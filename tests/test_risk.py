"""Risk tiers and the recommended action: tier, strongest driver, revenue at risk, renewal timing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.churn import risk


def test_tiers_cut_at_10_25_50_percent():
    # Issue 12: the cuts moved from 30/60/80 % so that a more-likely-than-not churn is critical.
    p = np.array([0.0, 0.0999, 0.10, 0.2499, 0.25, 0.4999, 0.50, 1.0])
    assert list(risk.risk_tier(p)) == ["low", "low", "medium", "medium", "high", "high", "critical", "critical"]


@pytest.mark.parametrize(
    ("tier", "driver", "p", "mrr", "days", "expected"),
    [
        ("critical", "days_to_renewal", 0.85, 10_000, 20, "Escalate now ($102.0K ARR at risk): Book an executive"),
        ("high", "usage_decay_score", 0.65, 1_000, 200, "Adoption rescue ($7.8K ARR at risk): Run a workflow review"),
        ("high", "open_tickets", 0.65, 1_000, 200, "Support recovery ($7.8K ARR at risk): Review open"),
        ("high", "compliance_gap_score", 0.65, 1_000, 200, "Risk review ($7.8K ARR at risk): Close the compliance"),
        ("high", "csat", 0.40, 1_000, 45, "Escalate now ($4.8K ARR at risk)"),  # renewal inside 90 days
        ("medium", "csat", 0.20, 1_000, 45, "Prepare the renewal ($2.4K ARR at risk): Open the renewal"),
        ("medium", "tenure_days", 0.20, 1_000, 200, "Monitor: Check in at the next touchpoint"),
        ("low", "days_to_renewal", 0.05, 100_000, 30, "Secure the renewal ($60.0K ARR at risk): Confirm terms"),
        ("low", None, 0.05, 1_000, 300, "Healthy: Keep the regular cadence"),
    ],
)
def test_recommended_action_follows_tier_driver_value_and_renewal(tier, driver, p, mrr, days, expected):
    assert risk.recommended_action(tier, driver, p, mrr, days).startswith(expected)


def test_a_healthy_account_with_an_open_expansion_is_told_to_progress_it():
    action = risk.recommended_action("low", None, 0.05, 1_000, 300, has_expansion_opportunity=True)
    assert action == "Healthy: Progress the open expansion opportunity. Due within 30 days."
    # Unknown renewal date: no renewal advice.
    assert risk.recommended_action("low", None, 0.05, 1_000, float("nan")).startswith("Healthy")


def test_a_new_low_risk_account_is_onboarded_not_called_healthy():
    # An 8-day-old account with 2 % of seats active read "Healthy: keep the regular cadence"
    # while its segment said "run the standard onboarding sequence".
    young = risk.lead_step("low", None, 0.02, 500.0, 20, tenure_days=8)
    assert young.category == "onboarding" and "Run the onboarding sequence" in young.text
    assert risk.lead_step("low", None, 0.02, 500.0, 200, tenure_days=400).category == "cadence"
    assert risk.lead_step("low", None, 0.02, 500.0, 200).category == "cadence"  # tenure unknown: as before
    # Risk outranks newness: a critical young account is escalated.
    assert risk.lead_step("critical", None, 0.6, 500.0, 20, tenure_days=8).category == "escalation"
