"""Time-series forecasts on long frames, with the automatic choice of model per series.

Contract: `unique_id, ds, y` in (several series per frame, one regular
frequency inferred from the dates: `engine.forecasting.frames`); `unique_id, ds, <model>,
<model>-lo-<level>, <model>-hi-<level>` out. Input is validated on entry and every
problem is a `BadInputError` naming the column, series or date and the fix.

Models (details and how each builds its intervals: `engine.forecasting.models`):
`naive`, `seasonal_naive`, `moving_average`, `ets` (statsmodels, chosen by AICc), `theta`,
`arima` (order chosen by AICc), `lightgbm` (one global model, recursive), `combination`
(the median of ETS, Theta and ARIMA) and `auto`: per series, the combination unless a single
model clearly beat it in an expanding-origin backtest (`engine.forecasting.backtest`) on that
series' own history (the rule: `auto_choice`), refitted on all of it; its intervals are the
chosen model's own, widened where that model's backtest errors were larger. The backtest
behind the choice is returned with the forecast (`ForecastResult.selection`), so a report
shows the very evidence the choice was made on, and `ForecastResult.keeps_bands()` says
whether a model's intervals held up in it (none drawn when they held under COVERAGE_FLOOR of
the actuals). Series shorter than two seasons get non-seasonal forms, and the result says so.

Entry points: `forecast()` -> `ForecastResult`, `backtest()` -> `BacktestResult` (any models,
`auto` included).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.core import formatting
from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError
from engine.forecasting.backtest import LEVELS, MIN_TRAIN, BacktestResult, Folds, backtest_panel, fold_mase
from engine.forecasting.frames import (
    Frequency,
    check_levels,
    check_positive,
    infer_frequency,
    name_some,
    panel_of,
    series_dates,
    validate_frame,
    without_launch,
)
from engine.forecasting.models import (
    AUTO,
    COMBINED,
    MODEL_WORDS,
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
DEFAULT_MODEL = "combination"  # what auto forecasts with unless the backtest clearly says otherwise
# How much lower (relative) a single model's mean backtest MASE must be to replace the
# combination, at AUTO_FOLDS folds; the margin grows as sqrt(AUTO_FOLDS / folds) with fewer.
AUTO_MARGIN = 0.10
WIN_SHARE = 0.75  # the share of folds a single model must win against the combination
# A model whose widest interval held fewer of the backtest's actuals than this (95% promised)
# gets no bands: they would promise a certainty the backtest showed it does not have.
COVERAGE_FLOOR = 0.75
# The single models that may replace the combination: the statistical ones and seasonal naive,
# the floor every forecast must clear; LightGBM too when it learns across several series (one
# series is too little for trees). Naive and the moving average stay in the backtest for the
# report only: ETS and ARIMA hold them as special cases, and on public series
# (bench/forecast_accuracy.py) letting a few folds pick them, or LightGBM on one series, made
# the choice worse than the combination more often than better.
REPLACEMENTS = ("ets", "theta", "arima", "seasonal_naive")
GLOBAL_REPLACEMENTS = ("lightgbm",)


class ForecastResult(Contract):
    """Forecasts in the contract's wide shape plus what was chosen and why.

    forecast: unique_id, ds, <model>, <model>-lo-<level>, <model>-hi-<level> per model asked.
    chosen: per series, the model behind the first column asked (for "auto": the winner).
    forms: unique_id, model, form: the form each model actually took (e.g. "ETS(A,Ad,A)",
      "naive" for a seasonal naive short of two seasons).
    notes: plain-language remarks (fallbacks, short series, the auto choice).
    selection: for "auto", the backtest the choice was made on (every model, with intervals).
    picked: for "auto", the model it picked per series (whatever model comes first).
    reasons: for "auto", per series, why that model, in words.
    fitted_points: per series, the periods the models were fitted on (a launch left out: fewer
      than `history` holds).
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
    picked: dict[str, str] = {}
    reasons: dict[str, str] = {}
    fitted_points: dict[str, int] = {}

    def form(self, uid: str, model: str) -> str:
        """The form `model` took on series `uid` ("ETS(A,Ad,N)", "naive" for a seasonal naive
        short of two seasons); "" when it was not asked."""
        rows = self.forms[(self.forms["unique_id"] == uid) & (self.forms["model"] == model)]
        return str(rows["form"].iloc[0]) if len(rows) else ""

    def band_coverage(self, uid: str, model: str) -> float | None:
        """The share of the backtest's actuals inside `model`'s widest interval for series `uid`
        (None: no backtest, or too few points). For "auto", the picked model's, unless its
        bands were widened to the backtest's own errors (then None: nothing left to judge)."""
        if self.selection is None or self.selection.folds.empty:
            return None
        level = max(self.levels)
        if model == AUTO:
            if self.bands_from_backtest(uid):
                return None
            model = self.picked.get(uid, "")
        metrics = self.selection.metrics
        row = metrics[(metrics["unique_id"] == uid) & (metrics["model"] == model)]
        column = f"coverage_{level}"
        if row.empty or column not in row or pd.isna(row[column].iloc[0]):
            return None
        return float(row[column].iloc[0])

    def backtested(self, uid: str) -> bool:
        """Whether the automatic choice for `uid` rests on a backtest (a series too short for one
        fold at this horizon gets the default without one)."""
        return self.selection is not None and bool((self.selection.metrics["unique_id"] == uid).any())

    def bands_from_backtest(self, uid: str) -> bool:
        """Whether the automatic choice's bands for `uid` were made at least as wide as its model's
        backtest errors (`widen_by_backtest`: it needs MIN_BACKTEST_ERRORS of them)."""
        if self.selection is None or self.selection.folds.empty:
            return False
        return int((self.selection.folds["unique_id"] == uid).sum()) >= MIN_BACKTEST_ERRORS

    def keeps_bands(self, uid: str, model: str) -> bool:
        """Whether `model`'s intervals for `uid` held up in the backtest (or were never tested)."""
        coverage = self.band_coverage(uid, model)
        return coverage is None or coverage >= COVERAGE_FLOOR

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
    fitted, launches = without_launch(history)
    panel = panel_of(fitted, frequency)
    n_jobs = workers(n_jobs, len(panel))
    notes = launches + _short_series_notes(panel, models)
    columns: dict[str, np.ndarray] = {}
    forms: list[tuple[str, str, str]] = []
    chosen: dict[str, str] = {}
    selection = None
    auto_picks: dict[str, str] = {}
    reasons: dict[str, str] = {}
    # Named models first, so the automatic choice (and the combination) reuse their fits.
    done: dict[str, PanelForecast] = {}
    for name in models:
        if name != AUTO:
            done[name] = fit_predict(name, panel, horizon, levels, n_jobs, done)
    for name in models:
        if name == AUTO:
            choice = choose(panel, horizon, levels, folds, series_dates(fitted), frequency, n_jobs, done)
            result, picked, selection = choice.forecast, choice.picked, choice.selection
            auto_picks, reasons = dict(zip(panel.ids, picked, strict=True)), choice.reasons
            notes += choice.notes
        else:
            result, picked = done[name], [name] * len(panel)
        if not chosen:
            chosen = dict(zip(panel.ids, picked, strict=True))
        forms += [(uid, name, form) for uid, form in zip(panel.ids, result.forms, strict=True)]
        columns.update(_wide_columns(name, result, levels))
    notes += _fallback_notes(forms)
    if selection is not None:
        notes += _coverage_notes(selection, [m for m in models if m != AUTO], max(levels) if levels else None)
    out = _future_frame(history, panel, horizon, frequency)
    never_negative = np.array([bool(len(v)) and float(np.nanmin(v)) >= 0 for v in panel.values])
    floored = False
    for key, values in columns.items():
        below = never_negative[:, None] & (values < 0)  # revenue and counts are never forecast below zero
        floored |= bool(below.any())
        out[key] = np.where(below, 0.0, values).ravel()
    if floored:
        notes.append("Forecasts and intervals stop at zero where the series has never been negative.")
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
        picked=auto_picks,
        reasons=reasons,
        fitted_points={str(uid): int(n) for uid, n in fitted.groupby("unique_id", sort=False).size().items()},
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


def _coverage_notes(selection: BacktestResult, models: Sequence[str], level: int | None) -> list[str]:
    """A note per named model whose intervals held far fewer actuals than promised in the backtest."""
    column = f"coverage_{level}"
    if level is None or column not in selection.metrics:
        return []
    notes = []
    for name in models:
        rows = selection.metrics[(selection.metrics["model"] == name) & (selection.metrics[column] < COVERAGE_FLOOR)]
        if rows.empty:
            continue
        if selection.metrics["unique_id"].nunique() == 1:  # one series (a page's): its id says nothing
            held = f"{float(rows[column].iloc[0]):.0%} of them"
        else:
            held = ", ".join(f"{uid} {share:.0%}" for uid, share in zip(rows["unique_id"], rows[column], strict=True))
        notes.append(
            f"{MODEL_WORDS[name]}'s {level}% intervals held far fewer of the backtest's actuals than promised "
            f"({held}); do not rely on them."
        )
    return notes


def _fallback_notes(forms: list[tuple[str, str, str]]) -> list[str]:
    by_reason: dict[str, list[str]] = {}
    for uid, _model, form in forms:
        if "could not" in form or "too little" in form:
            by_reason.setdefault(form, []).append(uid)
    return [f"{name_some(ids)}: used {form}." for form, ids in by_reason.items()]


# -- automatic choice -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AutoChoice:
    """What "auto" did: the forecast, the model picked per series, the backtest behind it,
    why each series got its model (in words), notes."""

    forecast: PanelForecast
    picked: list[str]
    selection: BacktestResult
    notes: list[str]
    reasons: dict[str, str]


def selection_step(points: int, horizon: int, folds: int, season_length: int) -> int:
    """Periods between the choice's backtest origins for a series of `points`.

    `horizon` apart when the history allows every fold that way; closer otherwise, so all
    `folds` folds still happen, while every fold trains on two seasons when it can, else on
    at least as many points as it forecasts: a model fitted on 8 points and judged 12 ahead
    says little about the same model fitted on 36 (and such folds made the choice noisy).
    """
    if folds <= 1:
        return horizon
    for least in (max(MIN_TRAIN, horizon, 2 * season_length), max(MIN_TRAIN, horizon)):
        room = points - least - horizon
        if room >= folds - 1:
            return max(1, min(horizon, room // (folds - 1)))
    return max(1, min(horizon, (points - MIN_TRAIN - horizon) // (folds - 1)))


def choose(
    panel: Panel,
    horizon: int,
    levels: Sequence[int],
    folds: int,
    dates: dict[str, pd.DatetimeIndex],
    frequency: Frequency,
    n_jobs: int = 1,
    done: dict[str, PanelForecast] | None = None,
) -> AutoChoice:
    """Per series, the model `auto_choice` picks from one backtest of every model, refitted on all its data.

    The backtest (`folds` origins, `selection_step` apart, every model with intervals) is
    returned as the selection, so reports show the evidence the choice was made on. A series
    too short for any fold gets the combination (naive under 10 points) and a note saying so.
    `done` holds forecasts of whole models already made on `panel` (same horizon and levels).
    """
    step = selection_step(int(panel.lengths.max()), horizon, folds, panel.season_length)
    selection = backtest_panel(panel, dates, frequency, Folds(horizon, folds, step), MODELS, levels, n_jobs)
    preferred, reasons = auto_choice(selection, several_series=len(panel) > 1)
    picked, notes = _picks(panel, preferred, horizon)
    for uid, name in zip(panel.ids, picked, strict=True):
        reasons.setdefault(uid, f"{MODEL_WORDS[name]}: too short to backtest, so the default.")
    result = _refit(panel, picked, horizon, levels, n_jobs, done or {})
    counts = pd.Series(picked).map(_the).value_counts()
    if not selection.metrics.empty:  # else each series' own note says it was too short to backtest
        notes.append(
            f"The automatic choice backtested every model from up to {folds} past dates ({horizon} periods ahead each) "
            f"and keeps the combination of exponential smoothing, Theta and ARIMA unless one model clearly beat it: "
            + ", ".join(f"{name} for {n} series" for name, n in counts.items())
            + "."
        )
    widened = widen_by_backtest(selection.folds, panel.ids, picked, result)
    if widened:
        notes.append(
            f"The automatic choice widened the intervals of {widened} series to match the errors their model made "
            "in the backtest."
        )
    return AutoChoice(result, picked, selection, notes, reasons)


def margin_for(folds: int) -> float:
    """How much lower (relative) a single model's mean MASE must be to replace the combination."""
    return AUTO_MARGIN * math.sqrt(AUTO_FOLDS / max(folds, 1))


def wins_needed(folds: int) -> int:
    """Folds a single model must win against the combination: 2 of 2, 3 of 3, 3 of 4, 4 of 5, 5 of 6..."""
    return max(2, math.ceil(WIN_SHARE * folds))


def auto_choice(selection: BacktestResult, several_series: bool = False) -> tuple[dict[str, str], dict[str, str]]:
    """Per series, the model to forecast with and why, in words: ({uid: model}, {uid: reason}).

    The rule, shrinking toward the combination when the evidence is thin:
    the combination (median of ETS, Theta and ARIMA) is the default. A single model of
    REPLACEMENTS (and GLOBAL_REPLACEMENTS for `several_series`) replaces it only when, over
    the k backtest folds (origins) both were scored on,
    - k >= 2 (one fold is never enough),
    - it had the lower error in at least `wins_needed(k)` folds (2 of 2, 3 of 3, 4 of 5, ...), and
    - its mean MASE is lower by at least `margin_for(k)` (10% at 5 folds, 13% at 3, 16% at 2).
    Among the models that qualify, the one with the lowest mean MASE wins.
    """
    allowed = REPLACEMENTS + (GLOBAL_REPLACEMENTS if several_series else ())
    per_fold = fold_mase(selection.folds, selection.models)
    picks: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for uid, table in per_fold.groupby(level="unique_id", sort=False):
        picks[str(uid)], reasons[str(uid)] = _choose_one(table.droplevel("unique_id"), allowed)
    return picks, reasons


def _past(k: int) -> str:
    return f"{k} past forecast{'s' if k != 1 else ''}"


def _err(value: float) -> str:
    """A backtest error (MASE) as reports show it: 0.025, 0.520, 1.234."""
    return f"{value:.3f}"


def _errs(lower: float, other: float) -> str:
    """Two errors compared in a sentence, with the decimals it takes to tell them apart
    ("0.0271 vs 0.0274", not "0.027 vs 0.027" under "a lower error")."""
    for decimals in range(3, 7):
        a, b = f"{lower:.{decimals}f}", f"{other:.{decimals}f}"
        if a != b:
            return f"{a} vs {b}"
    return f"{lower:.3g} vs {other:.3g}, equal to 6 decimals"


def _the(name: str) -> str:
    """A model's name inside a sentence."""
    if name == DEFAULT_MODEL:
        return "the combination"
    word = MODEL_WORDS[name]
    return word if name in ("theta", "arima") else word[0].lower() + word[1:]


def _choose_one(table: pd.DataFrame, allowed: Sequence[str]) -> tuple[str, str]:
    """One series' pick and reason from its per-fold MASE (rows: folds, columns: models)."""
    base = DEFAULT_MODEL
    scored = table.dropna(subset=[base]) if base in table else table.iloc[0:0]
    k = len(scored)
    if k == 0:
        return base, f"{MODEL_WORDS[base]}: the default; the backtest could not judge it."
    combo = float(scored[base].mean())
    candidates = []
    for name in allowed:
        if name not in scored or scored[name].isna().any():
            continue
        candidates.append((float(scored[name].mean()), name, int((scored[name] < scored[base]).sum())))
    qualified = [c for c in candidates if k >= 2 and c[2] >= wins_needed(k) and c[0] <= (1 - margin_for(k)) * combo]
    if qualified:
        mean, name, wins = min(qualified)
        return name, (
            f"{MODEL_WORDS[name]} had a lower error than the combination in {wins} of {_past(k)} "
            f"(average error {_errs(mean, combo)}), clearly enough to prefer it."
        )
    contenders = scored[[base, *(c[1] for c in candidates)]]
    best_in = int((contenders.idxmin(axis=1) == base).sum())
    if not candidates or min(candidates)[0] >= combo:
        reason = (
            f"{MODEL_WORDS[base]} had the lowest average error over {_past(k)} ({_err(combo)}) and was the most "
            f"accurate in {best_in} of them."
        )
    else:
        mean, name, wins = min(candidates)
        if k < 2 or wins < wins_needed(k):
            reason = (
                f"{MODEL_WORDS[name]} had a lower average error ({_errs(mean, combo)}) but beat the "
                f"combination in only {wins} of {_past(k)}: too little evidence to rely on one model."
            )
        else:
            reason = (
                f"{MODEL_WORDS[name]} beat the combination in {wins} of {_past(k)}, but its average error was only "
                f"{1 - mean / combo:.0%} lower ({_errs(mean, combo)}), short of the {margin_for(k):.0%} "
                "that would justify relying on one model."
            )
    return base, reason + _not_picked(scored, allowed, min(combo, *(c[0] for c in candidates)))


def _not_picked(scored: pd.DataFrame, allowed: Sequence[str], best: float) -> str:
    """A remark on a model the automatic choice does not pick that did better here."""
    others = [name for name in scored.columns if name not in (*allowed, DEFAULT_MODEL)]
    if not others:
        return ""
    means = scored[others].mean()
    name = str(means.idxmin())
    if not float(means[name]) < best:
        return ""
    why = "for a single series" if name in GLOBAL_REPLACEMENTS else "at all"
    return (
        f" {MODEL_WORDS[name]} scored lower still ({_err(float(means[name]))}), but the automatic choice does not "
        f"pick it {why}: on public series, wins like this in a few past forecasts did not hold up."
    )


def _picks(panel: Panel, preferred: dict[str, str], horizon: int) -> tuple[list[str], list[str]]:
    """The model per series: the backtest's choice, else the combination (naive under 10 points) with a note."""
    picked, untested = [], []
    for uid, y in zip(panel.ids, panel.values, strict=True):
        if uid in preferred:
            picked.append(preferred[uid])
        else:
            picked.append(DEFAULT_MODEL if len(y) >= 10 else "naive")
            untested.append(uid)
    notes = []
    if untested:
        notes.append(
            f"{name_some(untested)}: too short to backtest {formatting.a_or_an(str(horizon) + '-period')} horizon "
            f"(needs {MIN_TRAIN + horizon} points), so auto used the combination (naive under 10 points) without a backtest."
        )
    return picked, notes


def _refit(
    panel: Panel,
    picked: Sequence[str],
    horizon: int,
    levels: Sequence[int],
    n_jobs: int,
    done: dict[str, PanelForecast],
) -> PanelForecast:
    """Each series' picked model fitted on all of its data (a global model on every series);
    a model in `done` (already fitted on the whole panel) is not fitted again."""
    k = len(panel)
    mean = np.empty((k, horizon))
    lower = {lv: np.empty((k, horizon)) for lv in levels}
    upper = {lv: np.empty((k, horizon)) for lv in levels}
    forms = [""] * k
    for name in dict.fromkeys(picked):
        rows = [i for i, p in enumerate(picked) if p == name]
        model = make_model(name, n_jobs)
        if name in done:
            result, take = done[name], rows
        elif name == DEFAULT_MODEL and all(member in done for member in COMBINED):
            result, take = fit_predict(name, panel, horizon, levels, n_jobs, done), rows
        elif model.is_global:  # trained on every series, as in the backtest
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
