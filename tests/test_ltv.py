"""Customer LTV: the survival arithmetic, its interval and the contract."""

from __future__ import annotations

import numpy as np
import pytest

from engine.accounts import ltv
from engine.core.contracts import from_json, to_dict, to_json
from engine.core.errors import BadInputError


def test_expected_revenue_matches_a_month_by_month_sum():
    mrr, p90, months = 1200.0, 0.2, 24
    keep = (1 - p90) ** (1 / 3)
    by_hand = sum(mrr * keep**m for m in range(months))
    assert ltv.expected_revenue(mrr, p90, months) == pytest.approx(by_hand)
    # Three months of survival reproduce the 90-day probability.
    assert (1 - ltv.monthly_hazard(p90)) ** 3 == pytest.approx(1 - p90)


def test_no_churn_is_mrr_times_months_and_certain_churn_is_one_month():
    assert ltv.expected_revenue(500.0, 0.0, 12) == pytest.approx(6000.0)
    assert ltv.expected_revenue(500.0, 1.0, 12) == pytest.approx(500.0, rel=1e-3)


def test_more_churn_means_less_value_and_the_interval_brackets_it():
    values = ltv.expected_revenue(np.full(5, 1000.0), np.array([0.01, 0.1, 0.3, 0.6, 0.9]), 12)
    assert np.all(np.diff(values) < 0)
    v = ltv.customer_ltv("c1", 1000.0, 0.3, 0.2, 0.45, revenue_to_date=8000.0, horizon_months=24)
    assert v.confidence_interval.lower < v.forecasted_ltv < v.confidence_interval.upper
    assert v.forecasted_ltv == pytest.approx(v.current_ltv + v.incremental_ltv)
    contract = to_dict(v)
    assert set(contract) == {
        "customer_id",
        "forecasted_ltv",
        "confidence_interval",
        "current_ltv",
        "incremental_ltv",
        "horizon_months",
    }
    # Today's name for the level (confidence_level) and the seed contract's (level).
    assert set(contract["confidence_interval"]) == {"lower", "upper", "confidence_level", "level"}
    assert contract["confidence_interval"]["confidence_level"] == contract["confidence_interval"]["level"] == 0.9
    assert contract["horizon_months"] == 24
    text = to_json(v)
    assert to_json(from_json(ltv.Ltv, text)) == text and from_json(ltv.Ltv, text) == v


def test_an_ltv_written_before_the_seed_level_still_loads():
    old = {
        "customer_id": "c1",
        "forecasted_ltv": 16000.0,
        "confidence_interval": {"lower": 13000.0, "upper": 19000.0, "confidence_level": 0.9},
        "current_ltv": 8000.0,
        "incremental_ltv": 8000.0,
        "horizon_months": 24,
    }
    v = from_json(ltv.Ltv, old)
    assert v.confidence_interval.level == 0.9 and v.confidence_interval.lower == 13000.0


def test_bad_horizon_is_refused():
    with pytest.raises(BadInputError, match="horizon"):
        ltv.expected_revenue(100.0, 0.1, 0)


def test_an_account_billing_since_this_month_has_its_first_month_to_date():
    """Signed up on the 25th and billed $700: a month's MRR is what runs on its first day, so it
    has no MRR month yet, and Customer 360 read 'Revenue to date $0'."""
    new = ltv.customer_ltv("c1", 700.0, 0.2, 0.1, 0.3, revenue_to_date=0.0)
    assert new.current_ltv == 700.0 and new.forecasted_ltv == pytest.approx(700.0 + new.incremental_ltv)
    assert ltv.customer_ltv("c2", 700.0, 0.2, 0.1, 0.3, revenue_to_date=2100.0).current_ltv == 2100.0
    assert ltv.customer_ltv("c3", 0.0, 0.2, 0.1, 0.3, revenue_to_date=0.0).current_ltv == 0.0  # a free account
