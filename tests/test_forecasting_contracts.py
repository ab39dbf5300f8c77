"""Forecast contracts read back from their own JSON: forecasts, backtests and the CLI reports."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.core.contracts import from_json, to_json
from engine.forecasting import reports
from engine.forecasting.auto import ForecastResult, backtest, forecast
from engine.forecasting.backtest import BacktestResult
from engine.forecasting.frames import Frequency
from engine.forecasting.series import SERIES


def _frame() -> pd.DataFrame:
    t = np.arange(40)
    rng = np.random.default_rng(1)
    parts = [
        pd.DataFrame(
            {
                "unique_id": uid,
                "ds": pd.date_range("2020-01-01", periods=40, freq="MS"),
                "y": 50 + shift + 0.5 * t + 4 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 40),
            }
        )
        for uid, shift in (("north", 0.0), ("south", 30.0))
    ]
    return pd.concat(parts, ignore_index=True)


def _round_trip(model, cls):
    text = to_json(model)
    again = from_json(cls, text)
    assert to_json(again) == text
    return again


@pytest.fixture(scope="module")
def auto_result() -> ForecastResult:
    return forecast(_frame(), 4, model=["auto", "naive"], folds=2)


def test_forecast_result_round_trips_with_its_backtest(auto_result):
    again = _round_trip(auto_result, ForecastResult)
    assert again.models == auto_result.models and again.levels == auto_result.levels
    assert again.chosen == auto_result.chosen and again.notes == auto_result.notes
    assert again.frequency == auto_result.frequency == Frequency(alias="MS", season_length=12, label="monthly")
    assert again.selection is not None and again.selection.winner == auto_result.selection.winner
    assert list(again.forecast.columns) == list(auto_result.forecast.columns)
    np.testing.assert_allclose(again.forecast["auto"], auto_result.forecast["auto"])
    assert again.forecast["ds"].iloc[0] == "2023-05-01"  # dates travel as YYYY-MM-DD


def test_backtest_result_round_trips_and_keeps_missing_metrics_as_null():
    frame = _frame()
    frame.loc[frame["unique_id"] == "south", "y"] = 0.0  # WAPE is undefined: no actual volume
    result = backtest(frame, 3, folds=2, models=["naive", "seasonal_naive"])
    payload = json.loads(to_json(result))
    south = [m for m in payload["metrics"] if m["unique_id"] == "south"]
    assert south and all(m["wape"] is None for m in south)
    again = _round_trip(result, BacktestResult)
    assert again.winner == result.winner and again.horizon == 3 and again.models == ("naive", "seasonal_naive")
    pd.testing.assert_frame_equal(again.summary()[["model", "wins"]], result.summary()[["model", "wins"]])


def test_cli_reports_round_trip_and_keep_their_keys(auto_result):
    history = auto_result.history
    info = SERIES["mrr_by_plan"]
    series = reports.series_forecast(info, history, auto_result, "auto")
    payload = json.loads(to_json(_round_trip(series, reports.SeriesForecast)))
    assert set(payload) == {
        "series",
        "label",
        "unit",
        "frequency",
        "horizon",
        "model",
        "levels",
        "history_end",
        "chosen",
        "forms",
        "notes",
        "forecast",
        "reasons",
    }
    assert set(payload["reasons"]) == {"north", "south"}  # why the automatic choice picked each model
    assert payload["history_end"] == "2023-04-01" and payload["levels"] == [80, 95]
    assert set(payload["forecast"][0]) == {"unique_id", "ds", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"}

    written = reports.file_forecast("out.csv", 8, auto_result, 95)
    assert set(json.loads(to_json(_round_trip(written, reports.FileForecast)))) == {
        "out",
        "rows",
        "series",
        "frequency",
        "horizon",
        "level",
        "chosen",
        "notes",
    }

    report = reports.backtest_report(backtest(_frame(), 3, folds=2), 2)
    payload = json.loads(to_json(_round_trip(report, reports.BacktestReport)))
    assert set(payload) == {"horizon", "folds", "frequency", "levels", "series", "summary"}
    assert [s["unique_id"] for s in payload["series"]] == ["north", "south"]
    assert "unique_id" not in payload["series"][0]["metrics"][0] and "wins" in payload["summary"][0]
