"""Risk tiers and the recommended action: tier, strongest driver, revenue at risk, renewal timing."""

from __future__ import annotations

import numpy as np
import pytest

from engine import risk


def test_tiers_cut_at_30_60_80_percent():
    p = np.array([0.0, 0.2999, 0.30, 0.5999, 0.60, 0.7999, 0.80, 1.0])
    assert list(risk.risk_tier(p)) == ["low", "low", "medium", "medium", "high", "high", "critical", "critical"]


@pytest.mark.parametrize(
    ("tier", "driver", "p", "mrr", "days", "expected"),
    [
        ("critical", "days_to_renewal", 0.85, 10_000, 20, "Escalate now: renewal in 20 days with $102,000 ARR at risk"),
        ("high", "usage_decay_score", 0.65, 1_000, 200, "Adoption rescue ($7,800 ARR at risk)"),
        ("high", "open_tickets", 0.65, 1_000, 200, "Support recovery ($7,800 ARR at risk)"),
        ("high", "compliance_gap_score", 0.65, 1_000, 200, "Risk review ($7,800 ARR at risk)"),
        ("medium", "csat", 0.40, 1_000, 45, "Prepare the renewal: share a value review before day 45."),
        ("low", "days_to_renewal", 0.1, 100_000, 30, "Secure the renewal in 30 days ($120,000 ARR at risk)"),
        ("low", None, 0.05, 1_000, 300, "Healthy: keep the regular cadence"),
    ],
)
def test_recommended_action_follows_tier_driver_value_and_renewal(tier, driver, p, mrr, days, expected):
    assert risk.recommended_action(tier, driver, p, mrr, days).startswith(expected)


def test_a_healthy_account_with_an_open_expansion_is_told_to_progress_it():
    action = risk.recommended_action("low", None, 0.05, 1_000, 300, has_expansion_opportunity=True)
    assert action == "Healthy: progress the open expansion opportunity."
    # Unknown renewal date: no renewal advice.
    assert risk.recommended_action("low", None, 0.05, 1_000, float("nan")).startswith("Healthy")
