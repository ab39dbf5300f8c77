"""Forecast engine: golden values, contracts, time safety of backtests, interval coverage,
bad input, warehouse series and the forecast CLI commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from engine import cli
from engine.core.access import SYSTEM, Viewer
from engine.core.errors import BadInputError, NotFoundError
from engine.data import warehouse
from engine.forecasting import series
from engine.forecasting.auto import (
    COVERAGE_FLOOR,
    DEFAULT_MODEL,
    REPLACEMENTS,
    auto_choice,
    backtest,
    forecast,
)
from engine.forecasting.backtest import fitting_step, fold_mase
from engine.forecasting.frames import infer_frequency, validate_frame
from engine.forecasting.models import MODELS, LightGBM

Z95 = norm.ppf(0.975)
Z80 = norm.ppf(0.9)


def frame_of(values: dict[str, np.ndarray], start: str = "2020-01-01", freq: str = "MS") -> pd.DataFrame:
    parts = [
        pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, periods=len(y), freq=freq), "y": y})
        for uid, y in values.items()
    ]
    return pd.concat(parts, ignore_index=True)


def seasonal_trend(n: int = 48, seed: int = 3) -> np.ndarray:
    t = np.arange(n)
    return 50 + 0.8 * t + 5 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 1, n)


# -- golden values ------------------------------------------------------------------------------
def test_naive_golden_values_and_random_walk_interval():
    y = np.array([10.0, 11.0, 13.0, 12.0, 14.0])  # one-step changes 1, 2, -1, 2: RMS sqrt(10/4)
    out = forecast(frame_of({"a": y}), 3, model="naive").forecast
    sigma = np.sqrt(10 / 4)
    np.testing.assert_allclose(out["naive"], [14, 14, 14])
    np.testing.assert_allclose(out["naive-hi-95"], 14 + Z95 * sigma * np.sqrt([1, 2, 3]))
    np.testing.assert_allclose(out["naive-lo-80"], 14 - Z80 * sigma * np.sqrt([1, 2, 3]))


def test_seasonal_naive_golden_values():
    # 30 monthly points: two and a half seasons (from 1: a series starting at 0 is a launch, left out of the fit)
    y = np.arange(1, 31, dtype=float) ** 1.5
    out = forecast(frame_of({"a": y}), 14, model="seasonal_naive").forecast
    expected = np.r_[y[18:30], y[18:20]]  # the last season, repeated
    np.testing.assert_allclose(out["seasonal_naive"], expected)
    sigma = np.sqrt(np.mean((y[12:] - y[:-12]) ** 2))
    widths = out["seasonal_naive-hi-95"] - out["seasonal_naive"]
    np.testing.assert_allclose(widths[:12], Z95 * sigma)  # first season ahead: one seasonal step
    np.testing.assert_allclose(widths[12:], Z95 * sigma * np.sqrt(2))


def test_moving_average_golden_value():
    y = np.arange(1.0, 31.0)
    out = forecast(frame_of({"a": y}), 2, model="moving_average").forecast
    np.testing.assert_allclose(out["moving_average"], [np.mean(y[-12:])] * 2)


def test_ets_golden_forecast_follows_trend_and_season():
    y = seasonal_trend()
    result = forecast(frame_of({"a": y}), 3, model="ets")
    out = result.forecast
    t = np.arange(48, 51)
    truth = 50 + 0.8 * t + 5 * np.sin(2 * np.pi * t / 12)
    np.testing.assert_allclose(out["ets"], truth, atol=1.5)  # the signal, within the noise
    np.testing.assert_allclose(out["ets"], [87.656783, 92.349804, 94.663222], rtol=1e-4)  # pinned statsmodels
    np.testing.assert_allclose(out["ets-lo-95"], [84.931425, 89.334671, 91.379977], rtol=1e-4)
    assert result.forms["form"].tolist() == ["ETS(A,A,A)"]  # the straight trend it was made with


def test_ets_chooses_multiplicative_for_positive_proportional_season():
    rng = np.random.default_rng(5)
    t = np.arange(40)
    q = 100 * np.exp(0.02 * t) * (1 + 0.1 * np.tile([1, -0.5, 0.3, -0.8], 10)) * np.exp(rng.normal(0, 0.02, 40))
    result = forecast(frame_of({"q": q}, "2010-01-01", "QS"), 4, model="ets")
    assert result.frequency.season_length == 4
    assert result.forms["form"].tolist() == ["ETS(M,A,M)"]
    np.testing.assert_allclose(result.forecast["ets"], [240.362137, 213.027486, 232.55367, 209.378617], rtol=1e-4)


def test_lightgbm_is_deterministic_and_extends_a_trend():
    rng = np.random.default_rng(0)
    values = {f"s{i}": 100 + (i + 1) * np.arange(40.0) + rng.normal(0, 0.5, 40) for i in range(8)}
    first = forecast(frame_of(values), 4, model="lightgbm").forecast
    second = forecast(frame_of(values), 4, model="lightgbm").forecast
    pd.testing.assert_frame_equal(first, second)
    slope_3 = first.loc[first["unique_id"] == "s2", "lightgbm"].to_numpy()  # slope 3 per month
    assert np.all(np.diff(slope_3) > 1.5) and abs(slope_3[0] - (100 + 3 * 40)) < 6


def test_predict_before_fit_is_refused():
    with pytest.raises(RuntimeError, match="before fit"):
        LightGBM().predict(3)


# -- contracts ----------------------------------------------------------------------------------------
def test_output_contract_columns_dates_and_order_of_bounds():
    frame = frame_of({"b": seasonal_trend(36, 1), "a": seasonal_trend(40, 2)})
    result = forecast(frame, 5, model=list(MODELS))
    out = result.forecast
    expected = ["unique_id", "ds"]
    for name in MODELS:
        expected += [name, f"{name}-lo-95", f"{name}-lo-80", f"{name}-hi-80", f"{name}-hi-95"]
    assert list(out.columns) == expected
    assert pd.api.types.is_string_dtype(out["unique_id"]) and pd.api.types.is_datetime64_any_dtype(out["ds"])
    assert out["unique_id"].tolist() == ["a"] * 5 + ["b"] * 5
    assert out.loc[out["unique_id"] == "a", "ds"].tolist() == list(pd.date_range("2023-05-01", periods=5, freq="MS"))
    assert out.loc[out["unique_id"] == "b", "ds"].iloc[0] == pd.Timestamp("2023-01-01")
    for name in MODELS:
        assert (out[f"{name}-lo-95"] <= out[f"{name}-lo-80"] + 1e-9).all()
        assert (out[f"{name}-lo-80"] <= out[name] + 1e-9).all() and (out[name] <= out[f"{name}-hi-80"] + 1e-9).all()
        assert (out[f"{name}-hi-80"] <= out[f"{name}-hi-95"] + 1e-9).all()
    assert result.chosen == {"a": "naive", "b": "naive"}
    assert set(result.forms.columns) == {"unique_id", "model", "form"}


def test_auto_result_and_simple_view():
    frame = frame_of({"a": seasonal_trend(48, 4), "b": seasonal_trend(48, 5) * 3})
    result = forecast(frame, 6)
    assert list(result.forecast.columns) == [
        "unique_id",
        "ds",
        "auto",
        "auto-lo-95",
        "auto-lo-80",
        "auto-hi-80",
        "auto-hi-95",
    ]
    assert set(result.chosen) == {"a", "b"} and set(result.chosen.values()) <= set(MODELS)
    assert any(note.startswith("The automatic choice backtested") for note in result.notes)
    assert set(result.selection.metrics["model"]) == set(MODELS)
    simple = result.simple(level=80)
    assert list(simple.columns) == ["unique_id", "ds", "forecast", "lo", "hi"]
    np.testing.assert_allclose(simple["lo"], result.forecast["auto-lo-80"])
    with pytest.raises(BadInputError):
        result.simple(level=90)


def test_backtest_metrics_frame_and_winner():
    rng = np.random.default_rng(8)
    frame = frame_of({"walk": 100 + np.cumsum(rng.normal(0, 1, 60)), "season": seasonal_trend(60, 9)})
    result = backtest(frame, 6, folds=3)
    metrics = result.metrics
    assert list(metrics.columns) == [
        "unique_id",
        "model",
        "folds",
        "points",
        "mae",
        "rmse",
        "smape",
        "wape",
        "mase",
        "bias",
        "coverage_80",
        "coverage_95",
    ]
    assert len(metrics) == 2 * len(MODELS) and (metrics["folds"] == 3).all() and (metrics["points"] == 18).all()
    assert (metrics["rmse"] >= metrics["mae"]).all()
    for uid, winner in result.winner.items():
        rows = metrics[metrics["unique_id"] == uid]
        assert rows.loc[rows["model"] == winner, "mase"].iloc[0] == rows["mase"].min()
    # Trend plus season: ETS must beat both naive forecasts, which each miss one of the two.
    season = metrics[metrics["unique_id"] == "season"].set_index("model")["mase"]
    assert season["ets"] < season["naive"] and season["ets"] < season["seasonal_naive"]
    assert len(result.folds) == 2 * 3 * 6 and {"cutoff", "y", "ets-lo-95"} <= set(result.folds.columns)
    assert set(result.summary()["model"]) == set(MODELS)


def test_backtest_metric_formulas_on_a_hand_checked_case():
    y = np.array([1.0, 3.0, 2.0, 4.0, 3.0, 5.0, 4.0, 6.0, 5.0])  # naive errors are easy to follow
    result = backtest(frame_of({"a": y}, freq="YS"), 2, folds=1, models="naive")
    row = result.metrics.iloc[0]
    # Trains on 7 points (last 4.0), forecasts 4.0, 4.0 for actuals 6.0, 5.0.
    assert row["mae"] == pytest.approx(1.5) and row["rmse"] == pytest.approx(np.sqrt(2.5))
    assert row["bias"] == pytest.approx(-1.5) and row["wape"] == pytest.approx(100 * 3 / 11)
    assert row["smape"] == pytest.approx(100 * np.mean([4 / 10, 2 / 9]))
    assert row["mase"] == pytest.approx(1.5 / np.mean(np.abs(np.diff(y[:7]))))


# -- time safety -------------------------------------------------------------------------------------------
def test_backtest_folds_never_see_data_after_their_origin():
    frame = frame_of({"a": seasonal_trend(60, 11), "b": seasonal_trend(60, 12) + 20})
    models = list(MODELS)
    clean = backtest(frame, 6, folds=3, models=models)
    first_cutoff = clean.folds["cutoff"].min()
    poisoned = frame.copy()
    later = poisoned["ds"] > first_cutoff
    poisoned.loc[later, "y"] = poisoned.loc[later, "y"] * 50 + 1e4  # wildly different future
    dirty = backtest(poisoned, 6, folds=3, models=models)
    columns = [c for c in clean.folds.columns if c not in ("y",) and c.split("-")[0] in MODELS]
    first = clean.folds["cutoff"] == first_cutoff
    pd.testing.assert_frame_equal(
        clean.folds.loc[first, columns].reset_index(drop=True),
        dirty.folds.loc[dirty.folds["cutoff"] == first_cutoff, columns].reset_index(drop=True),
    )
    # ...while later folds, whose training data now includes the change, do move.
    last = clean.folds["cutoff"] == clean.folds["cutoff"].max()
    assert not np.allclose(clean.folds.loc[last, "ets"], dirty.folds.loc[last.to_numpy(), "ets"])


def test_auto_choice_uses_only_past_data_in_a_fold():
    frame = frame_of({"a": seasonal_trend(54, 13)})
    clean = backtest(frame, 6, folds=2, models=["auto"])
    cutoff = clean.folds["cutoff"].min()
    poisoned = frame.assign(y=np.where(frame["ds"] > cutoff, -1e6, frame["y"]))
    dirty = backtest(poisoned, 6, folds=2, models=["auto"])
    first = clean.folds["cutoff"] == cutoff
    np.testing.assert_allclose(clean.folds.loc[first, "auto"], dirty.folds.loc[first.to_numpy(), "auto"])


# -- interval coverage --------------------------------------------------------------------------------
def _coverage(model: str, values: dict[str, np.ndarray], horizon: int, freq: str = "MS") -> float:
    history = {uid: y[:-horizon] for uid, y in values.items()}
    out = forecast(frame_of(history, freq=freq), horizon, model=model).forecast
    actual = np.concatenate([y[-horizon:] for _, y in sorted(values.items())])
    return float(np.mean((actual >= out[f"{model}-lo-95"]) & (actual <= out[f"{model}-hi-95"])))


@pytest.mark.parametrize("model", ["naive", "moving_average", "ets", "lightgbm"])
def test_95_intervals_cover_random_walks(model):
    rng = np.random.default_rng(21)
    walks = {f"w{i:03d}": 100 + np.cumsum(rng.normal(0, 1, 60)) for i in range(120)}
    assert 0.88 <= _coverage(model, walks, 6) <= 0.99


def test_95_intervals_of_seasonal_naive_cover_a_seasonal_random_walk():
    rng = np.random.default_rng(22)
    values = {}
    for i in range(120):
        y = list(rng.normal(0, 5, 12))
        for t in range(12, 60):
            y.append(y[t - 12] + rng.normal(0, 1))
        values[f"s{i:03d}"] = np.array(y)
    assert 0.88 <= _coverage("seasonal_naive", values, 12) <= 0.99


def test_95_intervals_of_auto_cover_noisy_series():
    rng = np.random.default_rng(23)
    t = np.arange(48)
    values = {f"a{i:02d}": 50 + 0.5 * t + np.cumsum(rng.normal(0, 1, 48)) for i in range(16)}
    assert 0.88 <= _coverage("auto", values, 6) <= 0.99


# -- bad input ----------------------------------------------------------------------------------------
def good_frame() -> pd.DataFrame:
    return frame_of({"a": seasonal_trend(30, 1)})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="y"), "Missing column"),
        (lambda f: f.rename(columns={"ds": "date"}), "Missing column.*ds"),
        (lambda f: pd.concat([f, f.iloc[[3]]]), "duplicate date"),
        (lambda f: f.drop(index=[5]), "irregular dates"),
        (lambda f: f.assign(y=f["y"].where(f.index != 4)), "missing"),
        (lambda f: f.assign(y=f["y"].astype(object).where(f.index != 2, "n/a")), "must hold numbers"),
        (lambda f: f.assign(ds=f["ds"].astype(str).where(f.index != 1, "yesterday")), "not a date"),
        (lambda f: f.iloc[:2], "at least 3"),
        (lambda f: f.iloc[0:0], "no rows"),
    ],
)
def test_bad_frames_are_refused_with_a_clear_message(change, message):
    with pytest.raises(BadInputError, match=message):
        forecast(change(good_frame()), 3, model="naive")


def test_series_on_different_frequencies_are_refused():
    frame = pd.concat([frame_of({"m": np.ones(10)}), frame_of({"w": np.ones(10)}, freq="W-MON")])
    with pytest.raises(BadInputError, match="different frequencies"):
        forecast(frame, 3, model="naive")


@pytest.mark.parametrize("horizon", [0, -2, 1.5])
def test_horizon_must_be_positive_whole(horizon):
    with pytest.raises(BadInputError, match="horizon"):
        forecast(good_frame(), horizon, model="naive")


def test_unknown_model_and_levels_are_refused():
    with pytest.raises(BadInputError, match="Unknown model"):
        forecast(good_frame(), 3, model="prophet")
    with pytest.raises(BadInputError, match="levels"):
        forecast(good_frame(), 3, model="naive", levels=(95, 120))


def test_too_many_folds_for_the_length_are_refused():
    with pytest.raises(BadInputError, match="fewer folds"):
        backtest(good_frame(), 6, folds=5)  # 30 points cannot hold 5 x 6 + 6


def test_short_series_fall_back_to_non_seasonal_forms_and_say_so():
    y = seasonal_trend(20, 3)  # under two monthly seasons
    result = forecast(frame_of({"short": y}), 4, model=["seasonal_naive", "ets", "naive"])
    out = result.forecast
    np.testing.assert_allclose(out["seasonal_naive"], out["naive"])
    assert any("shorter than two seasons" in note and "'short'" in note for note in result.notes)
    form = result.forms.set_index("model").loc["ets", "form"]
    assert form.endswith(",N)")  # no seasonal component


def test_auto_choice_and_its_report_come_from_one_backtest():
    t = np.arange(48)
    frame = frame_of({"steady": 100 + 2.0 * t + np.random.default_rng(31).normal(0, 0.3, 48)})
    result = forecast(frame, 12, model=["naive", "auto"])
    selection = result.selection
    # The pick and its words are exactly what the rule reads from the backtest the result carries...
    assert auto_choice(selection) == (result.picked, result.reasons)
    assert result.picked["steady"] in (DEFAULT_MODEL, *REPLACEMENTS)
    folds = selection.folds["cutoff"].nunique()
    assert folds == 5 and f"of {folds} past forecasts" in result.reasons["steady"]
    # ...and the metrics reported for each model are that backtest's, fold by fold.
    per_fold = fold_mase(selection.folds, selection.models)
    mase = selection.metrics.set_index("model")["mase"]
    for name in selection.models:
        assert mase[name] == pytest.approx(per_fold[name].mean())
    # Naive's flat line misses a steady climb: its bands failed the backtest, so they are not offered.
    assert result.band_coverage("steady", "naive") < COVERAGE_FLOOR
    assert not result.keeps_bands("steady", "naive") and result.keeps_bands("steady", "auto")
    # Auto's own bands were made at least as wide as its backtest errors: the notes and the page say so.
    assert result.bands_from_backtest("steady") and result.band_coverage("steady", "auto") is None
    assert any(note.startswith("The automatic choice widened the intervals of 1 series") for note in result.notes)
    assert any(note.startswith("Naive (last value)'s 95% intervals held far fewer") for note in result.notes)
    # One series (as on the page): the note gives the share held, not the series' id ("steady 20%").
    held = next(n for n in result.notes if n.startswith("Naive (last value)'s 95% intervals"))
    assert "steady" not in held and "% of them)" in held


def test_auto_on_a_public_series_beats_seasonal_naive_with_honest_bands():
    """Euro-area electrical equipment orders (statsmodels' elec_equip): the last year held out."""
    from statsmodels.datasets import elec_equip

    raw = elec_equip.load().data.iloc[:, 0]
    values = pd.Series(raw.to_numpy(float), index=pd.DatetimeIndex(raw.index))[-108:]
    train, actual = values[:-12], values[-12:].to_numpy()
    frame = pd.DataFrame({"unique_id": "orders", "ds": train.index, "y": train.to_numpy()})
    result = forecast(frame, 12, model=["auto", "seasonal_naive", "combination"])
    out = result.forecast
    y = train.to_numpy()
    scale = np.mean(np.abs(y[12:] - y[:-12]))  # MASE: the in-sample error of last year's value
    error = {m: np.mean(np.abs(out[m].to_numpy() - actual)) / scale for m in ("auto", "seasonal_naive")}
    assert error["auto"] < 0.8 * error["seasonal_naive"]  # 0.18 vs 0.36
    inside = (actual >= out["auto-lo-95"].to_numpy()) & (actual <= out["auto-hi-95"].to_numpy())
    assert inside.sum() >= 10  # of 12
    form = result.forms.set_index("model").loc["combination", "form"]
    assert form.startswith("median of ETS(") and "Theta" in form and "ARIMA(" in form


def test_auto_on_a_series_too_short_to_backtest_says_so():
    result = forecast(frame_of({"tiny": np.array([5.0, 6.0, 5.5, 6.5, 7.0])}), 3)
    assert result.chosen == {"tiny": "naive"}
    assert any("too short to backtest" in note for note in result.notes)


# -- warehouse series ------------------------------------------------------------------------------------
@pytest.fixture
def wh(generated_dir):
    return warehouse.get_warehouse(generated_dir, read_only=True)


@pytest.mark.parametrize("name", list(series.SERIES))
def test_warehouse_series_are_regular_complete_and_forecastable(wh, name):
    frame = series.load_series(wh, name, SYSTEM)
    assert list(frame.columns) == ["unique_id", "ds", "y"] and len(frame) > 20
    clean = validate_frame(frame)  # no duplicates, gaps or missing values
    frequency = infer_frequency(clean)
    info = series.series_info(name)
    # The generated data ends on Tuesday 2026-06-30: June is complete, that week is not.
    if info.frequency == "monthly":
        assert frequency.alias == "MS" and frame["ds"].max() == pd.Timestamp("2026-06-01")
    else:
        assert frequency.alias == "W-MON" and frame["ds"].max() == pd.Timestamp("2026-06-22")
    assert (frame["y"] >= 0).all() and frame["y"].sum() > 0


def test_partial_last_week_is_dropped_and_weeks_sum_their_days(wh):
    usage = series.load_series(wh, "usage_weekly", SYSTEM).set_index("ds")["y"]
    week = pd.Timestamp("2026-06-15")
    daily = wh.scalar(
        "SELECT sum(events) FROM usage_daily WHERE date BETWEEN ? AND ?",
        [week.date(), pd.Timestamp("2026-06-21").date()],
    )
    assert usage[week] == daily
    assert pd.Timestamp("2026-06-29") not in usage.index


def test_plan_tiers_sum_to_total_mrr(wh):
    tiers = series.load_series(wh, "mrr_by_plan", SYSTEM)
    total = series.load_series(wh, "mrr_total", SYSTEM).set_index("ds")["y"]
    assert set(tiers["unique_id"]) == {"starter", "growth", "enterprise"}
    summed = tiers.groupby("ds")["y"].sum().reindex(total.index, fill_value=0.0)
    np.testing.assert_allclose(summed.to_numpy(), total.to_numpy())


def test_csm_viewer_sees_only_their_book(wh):
    total = series.load_series(wh, "tickets_weekly", SYSTEM).set_index("ds")["y"]
    owners = [r[0] for r in wh.rows("SELECT DISTINCT csm_owner FROM customers ORDER BY 1")]
    books = [series.load_series(wh, "tickets_weekly", Viewer(o, "csm")).set_index("ds")["y"] for o in owners]
    assert all(book.sum() < total.sum() for book in books)
    summed = pd.concat(books, axis=1).fillna(0).sum(axis=1).reindex(total.index, fill_value=0)
    np.testing.assert_allclose(summed.to_numpy(), total.to_numpy())
    # The name is bound, not pasted into SQL: a quote is just a name nobody has.
    with pytest.raises(NotFoundError):
        series.load_series(wh, "mrr_total", Viewer("o'brien' OR '1'='1", "csm"))
    everyone = series.load_series(wh, "mrr_total", Viewer("boss", "executive"))
    assert everyone["y"].sum() == series.load_series(wh, "mrr_total", SYSTEM)["y"].sum()


def test_series_picker_and_unknown_name(wh):
    options = series.series_options()
    assert [name for name, _ in options] == list(series.SERIES) and all(label for _, label in options)
    with pytest.raises(BadInputError, match="Unknown series"):
        series.load_series(wh, "revenue", SYSTEM)


def test_empty_warehouse_says_what_to_do(empty_dir):
    with pytest.raises(NotFoundError, match="no data yet"):
        series.load_series(warehouse.get_warehouse(empty_dir), "mrr_total", SYSTEM)


# -- CLI ------------------------------------------------------------------------------------------------
def test_cli_forecast_json_shape(generated_dir, capsys):
    argv = ["--data-dir", str(generated_dir), "forecast", "--series", "mrr_by_plan", "--horizon", "3", "--json"]
    assert cli.main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["series"] == "mrr_by_plan" and payload["horizon"] == 3 and payload["levels"] == [80, 95]
    assert set(payload["chosen"]) == {"starter", "growth", "enterprise"}
    assert set(payload["reasons"]) == set(payload["chosen"])  # the choice, explained per series
    assert payload["history_end"] == "2026-06-01"
    rows = payload["forecast"]
    assert len(rows) == 9
    assert set(rows[0]) == {"unique_id", "ds", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"}
    assert [r["ds"] for r in rows[:3]] == ["2026-07-01", "2026-08-01", "2026-09-01"]
    assert all(r["lo_95"] <= r["lo_80"] <= r["forecast"] <= r["hi_80"] <= r["hi_95"] for r in rows)


def test_cli_forecast_text_and_bad_horizon(generated_dir, capsys):
    base = ["--data-dir", str(generated_dir), "forecast", "--series", "tickets_weekly"]
    assert cli.main([*base, "--horizon", "4", "--model", "seasonal_naive"]) == 0
    out = capsys.readouterr().out
    assert "Weekly support tickets" in out and "2026-06-29" in out and "95% interval" in out
    # The automatic choice's backtest comes along, the picked model marked in it.
    assert "the automatic choice is" in out and "past forecasts" in out and out.count("<- picked") == 1
    assert cli.main([*base, "--horizon", "0"]) == 2
    assert "horizon must be" in capsys.readouterr().err


def test_cli_forecast_file_writes_csv_atomically(tmp_path, capsys):
    source = tmp_path / "in.csv"
    frame_of({"north": seasonal_trend(36, 1), "south": seasonal_trend(36, 2) + 10}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    assert cli.main(["forecast-file", str(source), "--horizon", "4", "--out", str(out), "--level", "80"]) == 0
    written = pd.read_csv(out)
    assert list(written.columns) == ["unique_id", "ds", "forecast", "lo", "hi"]
    assert len(written) == 8 and written["ds"].iloc[0] == "2023-01-01"
    assert ((written["lo"] <= written["forecast"]) & (written["forecast"] <= written["hi"])).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]  # no temporary left behind
    assert "Wrote 8 rows" in capsys.readouterr().out


def test_cli_forecast_file_parquet_weekly_and_bad_file(tmp_path, capsys):
    source = tmp_path / "in.parquet"
    frame_of({"w": 20 + np.sin(np.arange(40))}, "2024-01-01", "W-SUN").to_parquet(source, index=False)
    out = tmp_path / "out.parquet"
    assert cli.main(["forecast-file", str(source), "--horizon", "3", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frequency"] == "weekly" and summary["rows"] == 3
    assert pd.read_parquet(out)["ds"].iloc[0] == pd.Timestamp("2024-10-13")
    bad = tmp_path / "bad.csv"
    pd.DataFrame(
        {"unique_id": ["a"] * 4, "ds": ["2024-01-01", "2024-02-01", "2024-02-01", "2024-03-01"], "y": [1, 2, 3, 4]}
    ).to_csv(bad, index=False)
    never = tmp_path / "never.csv"
    assert cli.main(["forecast-file", str(bad), "--horizon", "3", "--out", str(never)]) == 2
    assert "duplicate date" in capsys.readouterr().err and not never.exists()


def test_cli_backtest_file_json_shape(tmp_path, capsys):
    source = tmp_path / "in.csv"
    frame_of({"a": seasonal_trend(48, 3), "b": seasonal_trend(48, 4)}).to_csv(source, index=False)
    argv = ["backtest-file", str(source), "--horizon", "6", "--folds", "2", "--json"]
    assert cli.main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["horizon"] == 6 and payload["folds"] == 2 and payload["frequency"] == "monthly"
    assert [s["unique_id"] for s in payload["series"]] == ["a", "b"]
    first = payload["series"][0]
    assert first["winner"] in MODELS and {m["model"] for m in first["metrics"]} == set(MODELS)
    assert {"mae", "rmse", "smape", "wape", "mase", "bias", "coverage_95"} <= set(first["metrics"][0])
    assert cli.main(["backtest-file", str(source), "--horizon", "6", "--folds", "9"]) == 2
    assert "fewer folds" in capsys.readouterr().err


def test_fitting_step_keeps_every_fold_and_prefers_two_seasons_of_training():
    assert fitting_step(60, 12, 3, season_length=12) == 12  # first fold trains on 24 points
    assert fitting_step(48, 12, 3, season_length=12) == 6  # 48 - 24 - 12 = 12 points of room, 2 steps
    assert fitting_step(36, 12, 3, season_length=12) == 1  # short: one-period steps, most training
    assert fitting_step(20, 12, 1) == 12
    assert fitting_step(35, 24, 6) == 1  # just fits
    with pytest.raises(BadInputError, match="Use fewer folds or a shorter horizon"):
        fitting_step(34, 24, 6)
    with pytest.raises(BadInputError, match="whole number"):
        fitting_step(36, 0, 3)


def test_a_compared_error_has_the_decimals_that_tell_it_apart():
    # "Exponential smoothing had a lower average error (0.027 vs 0.027)" contradicted itself.
    from engine.forecasting.auto import _errs

    assert _errs(0.02712, 0.02744) == "0.0271 vs 0.0274"
    assert _errs(0.52, 0.9) == "0.520 vs 0.900"


def test_a_backtest_says_where_naive_stood_in_for_a_model():
    """20 months (a young company's MRR): at the past dates seasonal naive has under two seasons
    and falls back to naive, so its row repeats naive's; the result says so per series and
    model, and names no model that was really fitted."""
    y = 1000 + 80 * np.arange(20) + np.random.default_rng(5).normal(0, 20, 20)
    result = backtest(frame_of({"young": y}), 3, folds=3, models=["naive", "seasonal_naive", "theta"])
    assert result.stood_in == {"young": {"seasonal_naive": 3}}
    rows = result.metrics.set_index("model")["mase"]
    assert rows["seasonal_naive"] == rows["naive"] and rows["theta"] != rows["naive"]
    long = backtest(frame_of({"old": seasonal_trend(60)}), 3, folds=3, models=["naive", "seasonal_naive"])
    assert long.stood_in == {}


def test_a_launch_month_is_left_out_of_the_fit():
    """A company's data that starts with its launch (MRR 18K, then 534K and +40K a month, a
    ChurnSim book) made the 12-month forecast climb at twice the year's pace: the models read
    the launch jump as growth. The launch period is left out of the fit and a note says so;
    the same series without it forecasts the same, and a series that has been negative is kept whole."""
    grown = 534.0 + 40.0 * np.arange(13)
    launched = frame_of({"mrr": np.r_[18.0, grown]})
    result = forecast(launched, 12, model="arima")
    plain = forecast(frame_of({"mrr": grown}), 12, model="arima")
    np.testing.assert_allclose(result.forecast["arima"], plain.forecast["arima"])
    steps = np.diff(result.forecast["arima"].to_numpy())
    assert steps == pytest.approx(np.full(11, 40.0), rel=0.05)  # the year's pace, not (last - 18) / 13
    assert any("fitted from" in n and "where the series starts" in n for n in result.notes)
    assert str(result.forecast["ds"].iloc[0].date()) == str((launched["ds"].max() + pd.offsets.MonthBegin(1)).date())
    swings = frame_of({"pnl": np.r_[-5.0, 100.0, 90.0, 120.0, 110.0, 130.0]})
    assert not any("fitted from" in n for n in forecast(swings, 3, model="naive").notes)
