"""Time-series forecasts on long frames, with the automatic choice of model per series.

Contract: `unique_id, ds, y` in (several series per frame, one regular
frequency inferred from the dates: `engine.forecasting.frames`); `unique_id, ds, <model>,
<model>-lo-<level>, <model>-hi-<level>` out. Input is validated on entry and every
problem is a `BadInputError` naming the column, series or date and the fix.

Models (details and how each builds its intervals: `engine.forecasting.models`):
`naive`, `seasonal_naive`, `moving_average`, `ets` (statsmodels, chosen by AICc),
`lightgbm` (one global model, recursive), and `auto`: per series, the model with the
lowest MASE in an expanding-origin backtest (`engine.forecasting.backtest`) on that
series' own history (ETS unless another model is clearly better), refitted on all of it;
its intervals are the chosen model's own, widened where that model's backtest errors were
larger. Series shorter than two seasons get non-seasonal forms, and the result says so.

Entry points: `forecast()` -> `ForecastResult`, `backtest()` -> `BacktestResult` (any models,
`auto` included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError
from engine.forecasting.backtest import LEVELS, MIN_TRAIN, BacktestResult, Folds, backtest_panel, winners
from engine.forecasting.frames import (
    Frequency,
    check_levels,
    check_positive,
    infer_frequency,
    name_some,
    panel_of,
    series_dates,
    validate_frame,
)
from engine.forecasting.models import (
    AUTO,
    MODELS,
    Panel,
    PanelForecast,
    check_models,
    fit_predict,
    is_seasonal,
    make_model,
    workers,
    z_value,
)

AUTO_FOLDS = 5
MIN_BACKTEST_ERRORS = 6  # fewer out-of-sample errors say too little to widen an interval on
AUTO_MARGIN = 0.10  # how much lower (relative) another model's backtest MASE must be to replace ETS


class ForecastResult(Contract):
    """Forecasts in the contract's wide shape plus what was chosen and why.

    forecast: unique_id, ds, <model>, <model>-lo-<level>, <model>-hi-<level> per model asked.
    chosen: per series, the model behind the first column asked (for "auto": the winner).
    forms: unique_id, model, form: the form each model actually took (e.g. "ETS(A,Ad,A)",
      "naive" for a seasonal naive short of two seasons).
    notes: plain-language remarks (fallbacks, short series, the auto choice).
    selection: for "auto", the backtest the choice was made on.
    """

    forecast: Table
    models: tuple[str, ...]
    chosen: dict[str, str]
    forms: Table
    notes: tuple[str, ...]
    levels: tuple[int, ...]
    frequency: Frequency
    horizon: int
    history: Table
    selection: BacktestResult | None = None

    def simple(self, level: int | None = None, model: str | None = None) -> pd.DataFrame:
        """unique_id, ds, forecast, lo, hi for one model (default: the first) and level (default: the widest)."""
        model = model or self.models[0]
        level = level if level is not None else max(self.levels)
        if model not in self.models or level not in self.levels:
            raise BadInputError(f"This result has models {self.models} and levels {self.levels}.")
        out = self.forecast[["unique_id", "ds", model, f"{model}-lo-{level}", f"{model}-hi-{level}"]]
        return out.set_axis(["unique_id", "ds", "forecast", "lo", "hi"], axis=1).reset_index(drop=True)


def forecast(
    frame: pd.DataFrame,
    horizon: int,
    model: str | Sequence[str] = AUTO,
    levels: Sequence[int] = LEVELS,
    season_length: int | None = None,
    folds: int = AUTO_FOLDS,
    n_jobs: int | None = None,
) -> ForecastResult:
    """Forecast every series `horizon` periods past its last date with one or more models.

    Returns a ForecastResult whose `.forecast` follows the contract; "auto" picks a model per
    series by backtest (`folds` origins, each `horizon` apart) and refits it on all the data.
    `n_jobs` worker processes fit ETS (default: 2 for 200+ series on a multi-core machine, else 1).
    """
    models = check_models(model)
    horizon = check_positive(horizon, "horizon")
    levels = check_levels(levels)
    folds = check_positive(folds, "folds")
    history = validate_frame(frame)
    frequency = infer_frequency(history, season_length)
    panel = panel_of(history, frequency)
    n_jobs = workers(n_jobs, len(panel))
    notes = _short_series_notes(panel, models)
    columns: dict[str, np.ndarray] = {}
    forms: list[tuple[str, str, str]] = []
    chosen: dict[str, str] = {}
    selection = None
    for name in models:
        if name == AUTO:
            choice = choose(panel, horizon, levels, folds, series_dates(history), frequency, n_jobs)
            result, picked, selection = choice.forecast, choice.picked, choice.selection
            notes += choice.notes
        else:
            result = fit_predict(name, panel, horizon, levels, n_jobs)
            picked = [name] * len(panel)
        if not chosen:
            chosen = dict(zip(panel.ids, picked, strict=True))
        forms += [(uid, name, form) for uid, form in zip(panel.ids, result.forms, strict=True)]
        columns.update(_wide_columns(name, result, levels))
    notes += _fallback_notes(forms)
    out = _future_frame(history, panel, horizon, frequency)
    for key, values in columns.items():
        out[key] = values.ravel()
    return ForecastResult(
        forecast=out,
        models=models,
        chosen=chosen,
        forms=pd.DataFrame(forms, columns=["unique_id", "model", "form"]),
        notes=tuple(notes),
        levels=levels,
        frequency=frequency,
        horizon=horizon,
        history=history,
        selection=selection,
    )


def backtest(
    frame: pd.DataFrame,
    horizon: int,
    folds: int = 3,
    models: str | Sequence[str] = MODELS,
    step: int | None = None,
    window: str = "expanding",
    window_size: int | None = None,
    levels: Sequence[int] = LEVELS,
    season_length: int | None = None,
    n_jobs: int | None = None,
) -> BacktestResult:
    """Rolling-origin evaluation: `folds` origins `step` periods apart (default: `horizon`).

    Each fold trains only on data up to its origin (expanding window, or the last
    `window_size` points for window="rolling") and forecasts the next `horizon` points.
    Raises BadInputError when a series is too short for the folds asked.
    """
    names = check_models(models)
    horizon = check_positive(horizon, "horizon")
    folds = check_positive(folds, "folds")
    step = check_positive(step if step is not None else horizon, "step")
    levels = check_levels(levels)
    if window not in ("expanding", "rolling"):
        raise BadInputError(f"window must be 'expanding' or 'rolling', not '{window}'.")
    if window_size is not None and (check_positive(window_size, "window_size") < MIN_TRAIN):
        raise BadInputError(f"window_size must be at least {MIN_TRAIN} periods to train on, not {window_size}.")
    history = validate_frame(frame)
    frequency = infer_frequency(history, season_length)
    panel = panel_of(history, frequency)
    need = MIN_TRAIN + horizon + step * (folds - 1)
    lengths = panel.lengths
    if lengths.min() < need:
        short = panel.ids[int(np.argmin(lengths))]
        raise BadInputError(
            f"Series '{short}' has {int(lengths.min())} points, but {folds} fold(s) of horizon {horizon}, "
            f"{step} apart, need at least {need} ({MIN_TRAIN} to train on). Use fewer folds, a shorter "
            "horizon or a smaller step."
        )
    plan = Folds(horizon, folds, step, window, window_size)
    return backtest_panel(
        panel, series_dates(history), frequency, plan, names, levels, workers(n_jobs, len(panel)), _auto_fold
    )


def _auto_fold(
    train: Panel,
    horizon: int,
    levels: Sequence[int],
    dates: dict[str, pd.DatetimeIndex],
    frequency: Frequency,
    n_jobs: int,
) -> PanelForecast:
    """One backtest fold of the automatic choice, chosen on the fold's own data."""
    return choose(train, horizon, levels, AUTO_FOLDS, dates, frequency, n_jobs).forecast


def _wide_columns(name: str, result: PanelForecast, levels: Sequence[int]) -> dict[str, np.ndarray]:
    columns = {name: result.mean}
    for lv in sorted(levels, reverse=True):
        columns[f"{name}-lo-{lv}"] = result.lower[lv]
    for lv in sorted(levels):
        columns[f"{name}-hi-{lv}"] = result.upper[lv]
    return columns


def _future_frame(history: pd.DataFrame, panel: Panel, horizon: int, frequency: Frequency) -> pd.DataFrame:
    last = history.groupby("unique_id", sort=True)["ds"].max()
    dates = [pd.date_range(last[uid], periods=horizon + 1, freq=frequency.alias)[1:] for uid in panel.ids]
    return pd.DataFrame(
        {"unique_id": np.repeat(np.array(panel.ids, dtype=object), horizon), "ds": np.concatenate(dates)}
    ).astype({"unique_id": "str"})


def _short_series_notes(panel: Panel, models: Sequence[str]) -> list[str]:
    m = panel.season_length
    seasonal_models = {"seasonal_naive", "ets", "lightgbm", AUTO} & set(models)
    if m <= 1 or not seasonal_models:
        return []
    short = [uid for uid, y in zip(panel.ids, panel.values, strict=True) if not is_seasonal(len(y), m)]
    if not short:
        return []
    return [
        f"{len(short)} series shorter than two seasons ({2 * m} points) ({name_some(short)}): seasonal models "
        "fell back to non-seasonal forms (seasonal naive became naive; ETS and LightGBM without a seasonal part)."
    ]


def _fallback_notes(forms: list[tuple[str, str, str]]) -> list[str]:
    by_reason: dict[str, list[str]] = {}
    for uid, _model, form in forms:
        if "could not" in form or "too little" in form:
            by_reason.setdefault(form, []).append(uid)
    return [f"{name_some(ids)}: used {form}." for form, ids in by_reason.items()]


# -- automatic choice -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AutoChoice:
    """What "auto" did: the forecast, the model picked per series, the backtest behind it, notes."""

    forecast: PanelForecast
    picked: list[str]
    selection: BacktestResult
    notes: list[str]


def choose(
    panel: Panel,
    horizon: int,
    levels: Sequence[int],
    folds: int,
    dates: dict[str, pd.DatetimeIndex],
    frequency: Frequency,
    n_jobs: int = 1,
) -> AutoChoice:
    """Per series, the model with the lowest backtest MASE, refitted on all its data.

    ETS is the default: another model replaces it only with a MASE at least AUTO_MARGIN
    lower, because a few folds rank close models by chance (on the real series of
    bench/forecast.py the plain lowest-MASE pick was less accurate than ETS alone).
    Folds are `horizon` apart and shrink to what each series' length allows; a series
    too short for any fold gets ETS (or naive under 10 points) and a note saying so.
    """
    selection = backtest_panel(panel, dates, frequency, Folds(horizon, folds, horizon), MODELS, (), n_jobs)
    picked, notes = _picks(panel, auto_choice(selection.metrics), horizon)
    result = _refit(panel, picked, horizon, levels, n_jobs)
    counts = pd.Series(picked).value_counts()
    notes.append(
        f"auto chose per series by backtest MASE over up to {folds} fold(s) of {horizon} periods "
        f"(ETS unless another model is {AUTO_MARGIN:.0%} more accurate): "
        + ", ".join(f"{name} {n}" for name, n in counts.items())
        + "."
    )
    widened = widen_by_backtest(selection.folds, panel.ids, picked, result)
    if widened:
        notes.append(
            f"auto widened the intervals of {widened} series to match the errors their chosen model made in the backtest."
        )
    return AutoChoice(result, picked, selection, notes)


def auto_choice(metrics: pd.DataFrame) -> dict[str, str]:
    """The lowest-MASE model per series, unless ETS is within AUTO_MARGIN of it."""
    best = winners(metrics)
    mase = metrics.set_index(["unique_id", "model"])["mase"]
    out = {}
    for uid, model in best.items():
        ets = mase.get((uid, "ets"), np.nan)
        out[uid] = "ets" if np.isfinite(ets) and mase[(uid, model)] > (1 - AUTO_MARGIN) * ets else model
    return out


def _picks(panel: Panel, preferred: dict[str, str], horizon: int) -> tuple[list[str], list[str]]:
    """The model per series: the backtest's choice, else ETS (naive under 10 points) with a note."""
    picked, untested = [], []
    for uid, y in zip(panel.ids, panel.values, strict=True):
        if uid in preferred:
            picked.append(preferred[uid])
        else:
            picked.append("ets" if len(y) >= 10 else "naive")
            untested.append(uid)
    notes = []
    if untested:
        notes.append(
            f"{name_some(untested)}: too short to backtest a {horizon}-period horizon "
            f"(needs {MIN_TRAIN + horizon} points), so auto used ETS (naive under 10 points) without a backtest."
        )
    return picked, notes


def _refit(panel: Panel, picked: Sequence[str], horizon: int, levels: Sequence[int], n_jobs: int) -> PanelForecast:
    """Each series' picked model fitted on all of its data (a global model on every series)."""
    k = len(panel)
    mean = np.empty((k, horizon))
    lower = {lv: np.empty((k, horizon)) for lv in levels}
    upper = {lv: np.empty((k, horizon)) for lv in levels}
    forms = [""] * k
    for name in dict.fromkeys(picked):
        rows = [i for i, p in enumerate(picked) if p == name]
        model = make_model(name, n_jobs)
        if model.is_global:  # trained on every series, as in the backtest
            result = model.fit(panel).predict(horizon, levels)
            take = rows
        else:
            result = model.fit(panel.subset(rows)).predict(horizon, levels)
            take = list(range(len(rows)))
        mean[rows] = result.mean[take]
        for lv in levels:
            lower[lv][rows] = result.lower[lv][take]
            upper[lv][rows] = result.upper[lv][take]
        for i, t in zip(rows, take, strict=True):
            plain = result.forms[t] in (name, name.replace("_", " "))
            forms[i] = name if plain else f"{name}: {result.forms[t]}"
    return PanelForecast(mean, lower, upper, tuple(forms))


def widen_by_backtest(folds: pd.DataFrame, ids: Sequence[str], picked: Sequence[str], result: PanelForecast) -> int:
    """Widen each interval of `result` (in place) to at least mean -/+ z * sigma * sqrt(h), where
    sigma is the root mean square of the chosen model's backtest errors (each divided by
    sqrt(steps ahead)).

    A model's own interval assumes the model is right; the backtest shows how wrong it was
    out of sample. Needs MIN_BACKTEST_ERRORS errors; returns how many series were widened.
    """
    mean, lower, upper = result.mean, result.lower, result.upper
    if not lower or folds.empty:
        return 0
    choice = dict(zip(ids, picked, strict=True))
    steps = folds.groupby(["unique_id", "cutoff"], sort=False).cumcount().to_numpy() + 1
    chosen = folds["unique_id"].map(choice).to_numpy()
    scaled = np.full(len(folds), np.nan)
    for name in set(picked) & set(folds.columns):
        rows = chosen == name
        scaled[rows] = (folds[name].to_numpy()[rows] - folds["y"].to_numpy()[rows]) / np.sqrt(steps[rows])
    errors = pd.DataFrame({"unique_id": folds["unique_id"].to_numpy(), "u2": scaled**2}).dropna()
    stats = errors.groupby("unique_id")["u2"].agg(["mean", "size"])
    ahead = np.sqrt(np.arange(1, mean.shape[1] + 1))
    widened = 0
    for i, uid in enumerate(ids):
        if uid not in stats.index or stats.at[uid, "size"] < MIN_BACKTEST_ERRORS:
            continue
        sigma = np.sqrt(stats.at[uid, "mean"]) * ahead
        changed = False
        for lv in lower:
            half = z_value(lv) * sigma
            lo, hi = np.minimum(lower[lv][i], mean[i] - half), np.maximum(upper[lv][i], mean[i] + half)
            changed |= bool(np.any(lo < lower[lv][i]) or np.any(hi > upper[lv][i]))
            lower[lv][i], upper[lv][i] = lo, hi
        widened += changed
    return widened
