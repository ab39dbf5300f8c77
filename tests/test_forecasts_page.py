"""The Forecasts page through app.py: pickers, chart, the backtest behind the automatic choice, outlook, roles."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from components.shared import auth, cache
from components.shared import format as fmt
from engine.core.access import Viewer
from engine.data import warehouse
from engine.portfolio import outlook

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def _open(role: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
    at.run()
    at.switch_page("views/forecasts.py")
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def scored_app(scored_copy, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_copy))
    return scored_copy


def _texts(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def test_analyst_sees_forecast_backtest_and_outlook(scored_app):
    at = _open("analyst")
    assert not at.error
    text = _texts(at)
    assert "The automatic choice is **" in text
    # The chart's caption and the backtest below name the same model: one backtest for both.
    chosen = text.split("The automatic choice is **")[1].split("**")[0]
    assert f"The automatic choice trusts **{chosen}**" in text
    assert "past forecasts" in text  # the choice explained in words
    assert "made at least as wide as the errors its model made here" in text  # the table's bands are not the chart's
    assert len(at.get("plotly_chart")) >= 4  # forecast, backtest bars, folds, outlook
    labels = [d.label for d in at.get("download_button")]
    assert {"Forecast (CSV)", "Backtest metrics (CSV)", "Outlook (CSV)"} <= set(labels)
    # The outlook cards are the engine's numbers.
    wh = warehouse.get_warehouse(scored_app, read_only=True)
    expected = outlook.mrr_outlook(wh, Viewer("analyst", "analyst"), 12)
    warehouse.close_all()
    cards = {m.label: m.value for m in at.metric}
    for m in (3, 6, 12):
        assert cards[f"MRR in {m} months"] == fmt.money(expected.at(m).expected_mrr)
    assert {"MRR in 3 months", "MRR in 6 months", "MRR in 12 months"} <= set(cards)
    # The outlook table writes money as the cards do, with its month as words.
    table = at.dataframe[-1].value
    first = expected.at(1)
    assert table["Expected MRR"].iloc[0] == fmt.money(first.expected_mrr)
    assert table["Month"].iloc[0] == f"{first.month:%b %Y}"
    # The actual line ends on today's MRR, where the outlook starts (not on the last month row).
    figure = json.loads(at.get("plotly_chart")[-1].proto.spec)
    actual = next(t for t in figure["data"] if t.get("name") == "MRR (actual)")["y"]
    ys = np.frombuffer(base64.b64decode(actual["bdata"]), dtype=actual["dtype"]) if isinstance(actual, dict) else actual
    assert float(ys[-1]) == pytest.approx(expected.current_mrr)


def test_switching_series_and_models(scored_app):
    at = _open("analyst")
    at.selectbox(key="fc_series").select("mrr_by_plan").run()
    assert not at.exception and not at.error
    assert "for **enterprise** is" in _texts(at)
    at.multiselect(key="fc_models").set_value(["ets", "naive"]).run()
    assert not at.exception
    assert "**Exponential smoothing** (`ETS(" in _texts(at)
    # Naive's flat line under growing revenue failed its backtest intervals: no bands, said in words.
    at.selectbox(key="fc_series").select("mrr_total").run()
    at.multiselect(key="fc_models").set_value(["naive", "auto"]).run()
    assert "no bands: Naive (last value)'s 95% interval held only" in _texts(at)
    at.multiselect(key="fc_models").set_value([]).run()
    assert any("Pick at least one model" in w.value for w in at.warning)


def test_executive_reads_forecasts(scored_app):
    at = _open("executive")
    assert not at.error
    assert "The automatic choice trusts **" in _texts(at)


def test_the_page_itself_refuses_a_csm(scored_app):
    at = AppTest.from_file(str(ROOT / "views" / "forecasts.py"), default_timeout=60)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["csm"])
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Your role (csm) cannot open this page. Ask an admin if you need access."]
    assert not at.get("plotly_chart") and not at.metric


def test_outlook_without_scores_says_how_to_fix_it(data_dir_copy, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(data_dir_copy))
    at = _open("analyst")
    assert "The automatic choice trusts **" in _texts(at)  # series forecasts need no model
    assert any("needs scores" in w.value for w in at.warning)


def test_a_series_too_short_to_backtest_names_the_horizon_that_can_be(scored_app, monkeypatch):
    """A company 15 months old asked for 12 months ahead: the chart's caption said "(why: the backtest
    below)" above "No backtest ... Try a shorter horizon". Now the default is called the default, and
    the page names the horizon a backtest can judge (15 months - 6 to fit on = 9)."""
    real = cache.business_series
    monkeypatch.setattr(cache, "business_series", lambda *args: real(*args).tail(15).reset_index(drop=True))
    at = _open("analyst")
    text = _texts(at)
    assert "the default when there is no backtest" in text and "(why: the backtest below)" not in text
    said = " ".join(w.value for w in at.warning)
    assert "15 complete months are too short to test a 12-month forecast" in said
    assert "A horizon of 9 months or less can be backtested." in said
    notes = " ".join(m.value for m in at.expander[0].markdown) if at.expander else ""
    assert "backtested every model" not in notes and "too short to backtest" in notes

    at.number_input(key="fc_horizon_monthly").set_value(9).run()
    assert not at.warning and "(why: the backtest below)" in _texts(at)


def test_a_launch_left_out_of_the_fit_is_not_counted_for_the_backtest(scored_app, monkeypatch):
    """MRR of a book that started mid-month (18K, then 534K): its first month is left out of the
    fit, so 16 months leave 15 to backtest on. The page said a 10-month horizon could be backtested;
    at 10 there was still no backtest."""
    real = cache.business_series

    def launched(*args):
        frame = real(*args).tail(16).reset_index(drop=True)
        frame.loc[0, "y"] = frame["y"].iloc[1] * 0.03
        return frame

    monkeypatch.setattr(cache, "business_series", launched)
    at = _open("analyst")
    said = " ".join(w.value for w in at.warning)
    assert "15 complete months after its first month, left out as its launch, are too short" in said, said
    assert "A horizon of 9 months or less can be backtested." in said
    # the chart's caption names the months, not the first day of the last one ("to Nov 1, 2025")
    assert re.search(r"16 complete months, [A-Z][a-z]{2} \d{4} to [A-Z][a-z]{2} \d{4};", _texts(at)), _texts(at)
    # under two seasons, "seasonal naive" draws the last value: its line is named for what it draws
    names = [trace.get("name") for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert "Naive (too short for seasonal naive)" in names and "Seasonal naive" not in names, names
    at.number_input(key="fc_horizon_monthly").set_value(9).run()
    assert not at.warning and "(why: the backtest below)" in _texts(at)
