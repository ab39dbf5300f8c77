"""The benchmark's oracle plays ChurnSim's term rule: a churn intent ends an account only at
renewal, or mid-term after two (2-6 month terms) or three (longer terms) intents."""

from datetime import date

import pandas as pd
import pytest

from tests.foreign import churnsim


def _rows(customer_id, month_ends, chance, renewal, bill_period, intents=0):
    return [(customer_id, m, chance, intents, renewal, bill_period) for m in month_ends]


def _chances(*parts):
    return pd.DataFrame([r for part in parts for r in part], columns=list(churnsim.CHANCE_COLUMNS))


MONTH_ENDS = [date(2025, 2, 15), date(2025, 3, 15), date(2025, 4, 15)]


def test_a_monthly_account_churns_at_its_first_intent():
    chances = _chances(
        [(1, m, 0.1, 0, m, 1) for m in MONTH_ENDS],
    )
    oracle = churnsim.oracle(chances, date(2025, 1, 31))
    assert oracle[1] == pytest.approx(1 - 0.9**3)


def test_an_annual_account_far_from_renewal_needs_three_intents():
    chances = _chances(_rows(2, MONTH_ENDS, 0.1, date(2025, 11, 15), 12))
    assert churnsim.oracle(chances, date(2025, 1, 31))[2] == pytest.approx(0.1**3)


def test_an_intent_earlier_in_the_term_ends_it_at_renewal():
    # one intent already this term; renewal at the second month end of the window
    chances = _chances(_rows(3, MONTH_ENDS, 0.1, date(2025, 3, 15), 12, intents=1))
    assert churnsim.oracle(chances, date(2025, 1, 31))[3] == pytest.approx(1.0)


def test_a_quarterly_account_churns_mid_term_on_a_second_intent():
    chances = _chances(_rows(4, MONTH_ENDS[:1], 0.5, date(2025, 6, 15), 3, intents=1))
    # recorded once (it churned there); the month ends after take its last chance
    assert churnsim.oracle(chances, date(2025, 1, 31))[4] == pytest.approx(1 - 0.5**3)


def test_month_ends_outside_the_window_do_not_count():
    chances = _chances(
        [(5, date(2025, 1, 15), 0.9, 0, date(2025, 1, 15), 1), (5, date(2025, 6, 15), 0.9, 0, date(2025, 6, 15), 1)]
    )
    assert 5 not in churnsim.oracle(chances, date(2025, 1, 31)).index
