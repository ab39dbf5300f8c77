"""Churn-adjusted MRR outlook: survival arithmetic, band, scope, time safety, bad input."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from components.shared import auth
from engine.accounts import board, ltv
from engine.core.access import Viewer
from engine.core.contracts import from_json, to_json
from engine.core.errors import BadInputError
from engine.data import warehouse
from engine.portfolio import outlook

EXEC = Viewer("exec", "executive")


@pytest.fixture
def wh(scored_copy):
    return warehouse.get_warehouse(scored_copy)


def test_book_part_is_each_account_surviving_month_by_month(wh):
    result = outlook.mrr_outlook(wh, EXEC, 12)
    book = board.board_frame(wh, EXEC)
    keep = 1 - ltv.monthly_hazard(book["churn_probability"].to_numpy(float))
    mrr = book["mrr"].to_numpy(float)
    for m in (1, 3, 12):
        row = result.at(m)
        assert row.book_mrr == pytest.approx(float((mrr * keep**m).sum()))
        assert row.expected_churned_mrr == pytest.approx(mrr.sum() - row.book_mrr)
        assert row.expected_mrr == pytest.approx(row.book_mrr + row.inflow_mrr)
    assert result.current_mrr == pytest.approx(mrr.sum())
    # Today's accounts only ever lose revenue; the band brackets the expectation and widens.
    assert np.all(np.diff(result.frame["book_mrr"]) < 0)
    assert np.all(result.frame["lo"] <= result.frame["expected_mrr"])
    assert np.all(result.frame["expected_mrr"] <= result.frame["hi"])
    width = (result.frame["hi"] - result.frame["lo"]).to_numpy()
    assert np.all(np.diff(width) > 0)
    assert list(result.frame["month_ahead"]) == list(range(1, 13))


def test_inflow_is_the_recent_pace_of_new_and_expansion_mrr(wh):
    result = outlook.mrr_outlook(wh, EXEC, 6)
    history = outlook.inflow_history(wh, EXEC, result.as_of)
    first_open = pd.Timestamp(result.as_of).replace(day=1)
    recent = history[pd.to_datetime(history["month"]) < first_open].tail(outlook.INFLOW_MONTHS)
    assert result.monthly_inflow == pytest.approx(recent["net_inflow"].mean())
    # The first month adds one month of inflow, before any of it can churn.
    assert result.at(1).inflow_mrr == pytest.approx(result.monthly_inflow)


def test_a_csm_sees_the_outlook_of_their_own_book(wh):
    csm = auth.TEST_VIEWERS["csm"]
    mine = outlook.mrr_outlook(wh, csm, 3)
    everyone = outlook.mrr_outlook(wh, EXEC, 3)
    own = board.board_frame(wh, csm)
    assert mine.current_mrr == pytest.approx(own["mrr"].sum())
    assert 0 < mine.current_mrr < everyone.current_mrr


def test_rows_after_the_scoring_date_do_not_move_the_outlook(wh):
    before = outlook.mrr_outlook(wh, EXEC, 12)
    customer_id = wh.rows("SELECT customer_id FROM customers WHERE status = 'active' LIMIT 1")[0][0]
    later = date(before.as_of.year + 1, 1, 1)
    with wh.cursor() as cur:
        cur.execute(
            "INSERT INTO mrr_history (customer_id, month, mrr, change_type) VALUES (?, ?, ?, 'expansion')",
            [customer_id, later, 10_000_000.0],
        )
    after = outlook.mrr_outlook(wh, EXEC, 12)
    pd.testing.assert_frame_equal(before.frame, after.frame)


@pytest.mark.parametrize("months", [0, -3, 37])
def test_horizon_outside_1_to_36_months_is_refused(wh, months):
    with pytest.raises(BadInputError, match="1 to 36 months"):
        outlook.mrr_outlook(wh, EXEC, months)


def test_asking_past_the_horizon_names_the_range(wh):
    with pytest.raises(BadInputError, match="1 to 6 months"):
        outlook.mrr_outlook(wh, EXEC, 6).at(12)


def test_no_scores_says_how_to_get_them(data_dir_copy):
    wh = warehouse.get_warehouse(data_dir_copy)
    with pytest.raises(BadInputError, match="engine score"):
        outlook.mrr_outlook(wh, EXEC, 12)


def test_outlook_round_trips_and_reads_a_month_back(wh):
    result = outlook.mrr_outlook(wh, EXEC, 6)
    text = to_json(result)
    again = from_json(outlook.Outlook, text)
    assert to_json(again) == text
    assert (again.as_of, again.current_mrr, again.assumptions) == (result.as_of, result.current_mrr, result.assumptions)
    assert again.at(3) == result.at(3)  # months travel as YYYY-MM-DD and come back as dates
    assert json.loads(text)["frame"][0]["month"] == result.at(1).month.isoformat()
