"""Rolling-origin backtests: how accurate each model was out of sample, per series.

Each fold trains only on data up to its origin and forecasts the next `horizon` points;
the errors are summed up per series and model (MAE, RMSE, sMAPE, WAPE, MASE, bias and
interval coverage). MASE divides by the in-sample error of the seasonal naive, so below 1
beats simply repeating last season's values.

Entry points: `backtest_panel()` -> `BacktestResult` (the public `backtest()` of a frame is in
`engine.forecasting.auto`, since it can also judge the automatic choice), `fitting_step()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError
from engine.forecasting.frames import (
    Frequency,
    check_positive,
    name_some,
)
from engine.forecasting.models import (
    AUTO,
    MODEL_ORDER,
    Panel,
    PanelForecast,
    fit_predict,
)

# Forecasts one fold with the automatic choice: (train, horizon, levels, dates, frequency, n_jobs).
AutoForecaster = Callable[[Panel, int, Sequence[int], dict[str, pd.DatetimeIndex], Frequency, int], PanelForecast]

LEVELS = (80, 95)
MIN_TRAIN = 6  # shortest history a backtest fold trains on


def longest_backtest_horizon(points: int) -> int:
    """The longest horizon a series of `points` can be backtested at (one fold on MIN_TRAIN
    points); below 1 when it is too short for any."""
    return points - MIN_TRAIN


class BacktestResult(Contract):
    """Out-of-sample accuracy by series and model.

    metrics: unique_id, model, folds, points, mae, rmse, smape (%), wape (%), mase, bias
      (mean forecast minus actual: positive = over-forecast), coverage_<level> (share of
      actuals inside the interval; only when intervals were asked for).
    winner: per series, the model with the lowest MASE (ties: the simpler model).
    folds: unique_id, cutoff (last date the fold trained on), ds, y, scale (the fold's MASE
      divisor) and the forecast columns of the contract, one row per fold and date.
    """

    metrics: Table
    winner: dict[str, str]
    folds: Table
    horizon: int
    models: tuple[str, ...]
    levels: tuple[int, ...]
    frequency: Frequency
    notes: tuple[str, ...] = ()
    # Per series, the models that could not be fitted on a fold's short history (ETS, LightGBM,
    # seasonal naive under two seasons) and in how many folds naive's forecast stood in for them:
    # their rows then repeat naive's, which a reader must be told.
    stood_in: dict[str, dict[str, int]] = {}

    def summary(self) -> pd.DataFrame:
        """Per model, the mean of each metric across series (and how many series it wins)."""
        numeric = self.metrics.drop(columns=["unique_id"]).groupby("model", sort=False).mean(numeric_only=True)
        wins = pd.Series(self.winner).value_counts()
        numeric["wins"] = wins.reindex(numeric.index).fillna(0).astype(int)
        return numeric.reset_index()


def fitting_step(points: int, horizon: int, folds: int, season_length: int = 1) -> int:
    """The step between backtest origins for a series of `points` periods.

    Prefers folds that each train on at least two seasons (steps of up to `horizon`); when the
    history is too short for that, steps of one period, so every fold trains on as much as it
    can. Raises BadInputError when even one-period steps leave fewer than MIN_TRAIN points.
    """
    horizon, folds = check_positive(horizon, "horizon"), check_positive(folds, "folds")
    room = points - MIN_TRAIN - horizon
    if room < folds - 1:
        raise BadInputError(
            f"{points} points are too few for {folds} backtest fold(s) of horizon {horizon}: need at least "
            f"{MIN_TRAIN + horizon + folds - 1}. Use fewer folds or a shorter horizon."
        )
    if folds == 1:
        return horizon
    seasonal_room = points - max(MIN_TRAIN, 2 * season_length) - horizon
    if seasonal_room >= folds - 1:
        return min(horizon, seasonal_room // (folds - 1))
    return 1


# -- the folds ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Folds:
    """Where the origins sit: `count` origins `step` apart, the last `horizon` before the end."""

    horizon: int
    count: int
    step: int
    window: str = "expanding"  # or "rolling": train on the last `window_size` points only
    window_size: int | None = None


@dataclass
class _Points:
    """Fold forecasts gathered as flat columns (one entry per series, fold, step)."""

    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **arrays: np.ndarray) -> None:
        for key, values in arrays.items():
            self.columns.setdefault(key, []).append(np.asarray(values).ravel())

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: np.concatenate(v) for k, v in self.columns.items()})


def mase_scale(train: np.ndarray, m: int) -> float:
    """In-sample mean absolute error of the seasonal naive (naive when under one season + 1)."""
    lag = m if m > 1 and len(train) > m else 1
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag]))) if len(train) > lag else 0.0
    if not scale > 0 and lag > 1:
        scale = float(np.mean(np.abs(np.diff(train))))
    return scale if scale > 0 else 1.0


def backtest_panel(
    panel: Panel,
    dates: dict[str, pd.DatetimeIndex],
    frequency: Frequency,
    plan: Folds,
    models: Sequence[str],
    levels: Sequence[int],
    n_jobs: int = 1,
    auto: AutoForecaster | None = None,
) -> BacktestResult:
    """Run the folds; series too short for a fold simply sit that fold out.

    `auto` forecasts a fold for the model name "auto" (the automatic choice, which runs a
    backtest of its own inside the fold); it is passed in because that choice is built on
    this module."""
    horizon, step = plan.horizon, plan.step
    lengths = panel.lengths
    points = _Points()
    sat_out: set[str] = set()
    stood_in: dict[str, dict[str, int]] = {}
    for fold in range(plan.count):
        origins = lengths - horizon - step * (plan.count - 1 - fold)
        rows = np.flatnonzero(origins >= MIN_TRAIN)
        sat_out.update(panel.ids[i] for i in np.flatnonzero(origins < MIN_TRAIN))
        if not len(rows):
            continue
        if plan.window == "rolling":
            size = plan.window_size or (lengths - horizon - step * (plan.count - 1))
            starts = np.maximum(0, origins - size)[rows]
        else:
            starts = np.zeros(len(rows), dtype=np.int64)
        train = panel.window(rows.tolist(), starts.tolist(), origins[rows].tolist())
        base = _fold_frame(panel, train, rows, origins, dates, fold, horizon)
        done: dict[str, PanelForecast] = {}  # this fold's forecasts so far: the combination reuses its members'
        for name in models:
            result = _fold_forecast(name, train, horizon, levels, dates, starts, frequency, n_jobs, auto, done)
            done[name] = result
            if name not in ("naive", "auto"):
                for uid, form in zip(train.ids, result.forms, strict=False):
                    if form.startswith("naive"):
                        stood_in.setdefault(uid, {})[name] = stood_in.get(uid, {}).get(name, 0) + 1
            arrays = {"model": np.full(len(rows) * horizon, name, dtype=object), "forecast": result.mean}
            for lv in levels:
                arrays[f"lo-{lv}"] = result.lower[lv]
                arrays[f"hi-{lv}"] = result.upper[lv]
            points.add(**base, **arrays)
    if not points.columns:  # every series too short for any fold
        empty = ("unique_id", "model", "fold", "cutoff", "ds", "y", "scale", "forecast")
        points.add(
            **{k: np.array([]) for k in empty},
            **{f"{b}-{lv}": np.array([]) for lv in levels for b in ("lo", "hi")},
        )
    long = points.frame()
    metrics = _metrics(long, levels)
    return BacktestResult(
        metrics=metrics,
        winner=winners(metrics),
        folds=_folds_wide(long, models, levels),
        horizon=horizon,
        models=tuple(models),
        levels=tuple(levels),
        frequency=frequency,
        notes=(f"{name_some(sorted(sat_out))}: too short for some folds, judged on fewer.",) if sat_out else (),
        stood_in=stood_in,
    )


def _fold_frame(
    panel: Panel,
    train: Panel,
    rows: np.ndarray,
    origins: np.ndarray,
    dates: dict[str, pd.DatetimeIndex],
    fold: int,
    horizon: int,
) -> dict[str, np.ndarray]:
    """The fold's actuals, dates and MASE scales, one entry per series and step ahead."""
    actual = np.vstack([panel.values[r][origins[r] : origins[r] + horizon] for r in rows])
    scales = np.array([mase_scale(y, panel.season_length) for y in train.values])
    pairs = list(zip(train.ids, rows, strict=True))
    return {
        "unique_id": np.repeat(np.array(train.ids, dtype=object), horizon),
        "fold": np.full(len(rows) * horizon, fold),
        "cutoff": np.repeat(np.array([dates[u][origins[r] - 1] for u, r in pairs]), horizon),
        "ds": np.vstack([dates[u][origins[r] : origins[r] + horizon].to_numpy() for u, r in pairs]),
        "y": actual,
        "scale": np.repeat(scales, horizon),
        "step": np.tile(np.arange(1, horizon + 1), len(rows)),
    }


def _fold_forecast(
    name: str,
    train: Panel,
    horizon: int,
    levels: Sequence[int],
    dates: dict[str, pd.DatetimeIndex],
    starts: np.ndarray,
    frequency: Frequency,
    n_jobs: int,
    auto: AutoForecaster | None,
    done: dict[str, PanelForecast],
) -> PanelForecast:
    if name != AUTO:
        return fit_predict(name, train, horizon, levels, n_jobs, done)
    if auto is None:
        raise BadInputError("The automatic choice is backtested through engine.forecasting.auto.backtest.")
    # The automatic choice runs a backtest of its own inside the fold, on the fold's data only.
    fold_dates = {u: dates[u][s:] for u, s in zip(train.ids, starts, strict=True)}
    return auto(train, horizon, levels, fold_dates, frequency, n_jobs)


def _metrics(long: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
    err = long["forecast"] - long["y"]
    denom = long["y"].abs() + long["forecast"].abs()
    parts = pd.DataFrame(
        {
            "unique_id": long["unique_id"],
            "model": long["model"],
            "fold": long["fold"],
            "abs": err.abs(),
            "sq": err**2,
            "err": err,
            "abs_y": long["y"].abs(),
            "smape": np.where(denom > 0, 2 * err.abs() / denom.where(denom > 0, 1.0), 0.0),
            "scaled": err.abs() / long["scale"],
        }
    )
    for lv in levels:
        parts[f"coverage_{lv}"] = ((long["y"] >= long[f"lo-{lv}"]) & (long["y"] <= long[f"hi-{lv}"])).astype(float)
    grouped = parts.groupby(["unique_id", "model"], sort=False)
    out = pd.DataFrame(
        {
            "folds": grouped["fold"].nunique(),
            "points": grouped.size(),
            "mae": grouped["abs"].mean(),
            "rmse": np.sqrt(grouped["sq"].mean()),
            "smape": 100 * grouped["smape"].mean(),
            "wape": 100 * grouped["abs"].sum() / grouped["abs_y"].sum().where(lambda s: s > 0),
            "mase": grouped["scaled"].mean(),
            "bias": grouped["err"].mean(),
        }
    )
    for lv in levels:
        out[f"coverage_{lv}"] = grouped[f"coverage_{lv}"].mean()
    out = out.reset_index()
    order = out["model"].map(MODEL_ORDER)
    return out.assign(_order=order).sort_values(["unique_id", "_order"]).drop(columns="_order").reset_index(drop=True)


def winners(metrics: pd.DataFrame) -> dict[str, str]:
    """Per series, the model with the lowest MASE (ties: the simpler model)."""
    ranked = metrics.assign(_order=metrics["model"].map(MODEL_ORDER), _mase=metrics["mase"].fillna(np.inf)).sort_values(
        ["unique_id", "_mase", "_order"], kind="stable"
    )
    first = ranked.drop_duplicates("unique_id")
    return dict(zip(first["unique_id"], first["model"], strict=True))


def _folds_wide(long: pd.DataFrame, models: Sequence[str], levels: Sequence[int]) -> pd.DataFrame:
    keys = ["unique_id", "cutoff", "ds", "y", "scale"]
    out = long.loc[long["model"] == models[0], keys].reset_index(drop=True)
    for name in models:
        part = long.loc[long["model"] == name].reset_index(drop=True)
        out[name] = part["forecast"].to_numpy()
        for lv in sorted(levels, reverse=True):
            out[f"{name}-lo-{lv}"] = part[f"lo-{lv}"].to_numpy()
        for lv in sorted(levels):
            out[f"{name}-hi-{lv}"] = part[f"hi-{lv}"].to_numpy()
    return out.astype({"unique_id": "str"})


def fold_mase(folds: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """MASE per series, fold (cutoff) and model: rows (unique_id, cutoff), one column per model."""
    if folds.empty:
        return pd.DataFrame(columns=["unique_id", "cutoff", *models]).set_index(["unique_id", "cutoff"])
    scaled = {name: (folds[name] - folds["y"]).abs() / folds["scale"] for name in models if name in folds}
    frame = pd.DataFrame({"unique_id": folds["unique_id"], "cutoff": folds["cutoff"], **scaled})
    return frame.groupby(["unique_id", "cutoff"], sort=True).mean()
