"""What a forecast command answers with: one contract per command, printed by `--json`.

`SeriesForecast` (a warehouse series), `FileForecast` (a file forecast written to disk) and
`BacktestReport` (a file's backtest) keep the keys the CLI has always printed.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from engine.core.contracts import Contract, Table
from engine.forecasting.auto import ForecastResult
from engine.forecasting.backtest import BacktestResult
from engine.forecasting.series import SeriesInfo


class SeriesForecast(Contract):
    """A business series' forecast with one model: rows unique_id, ds, forecast, lo_<l>, hi_<l>."""

    series: str
    label: str
    unit: str
    frequency: str  # in words: "monthly", "weekly"
    horizon: int
    model: str
    levels: tuple[int, ...]
    history_end: date
    chosen: dict[str, str]  # per series, the model behind the forecast ("auto": the winner)
    forms: dict[str, str]  # per series, the form that model took (e.g. "ETS(A,Ad,A)")
    notes: tuple[str, ...]
    forecast: Table
    # Per series, why the automatic choice picked its model, in words (from the backtest it ran).
    reasons: dict[str, str] = {}


def series_forecast(info: SeriesInfo, history: pd.DataFrame, result: ForecastResult, model: str) -> SeriesForecast:
    return SeriesForecast(
        series=info.name,
        label=info.label,
        unit=info.unit,
        frequency=result.frequency.label,
        horizon=result.horizon,
        model=model,
        levels=result.levels,
        history_end=pd.Timestamp(history["ds"].max()).date(),
        chosen=result.chosen,
        forms=_forms_of(result, model),
        notes=result.notes,
        forecast=plain_columns(result.forecast, model, result.levels),
        reasons=result.reasons,
    )


def _forms_of(result: ForecastResult, model: str) -> dict[str, str]:
    own = result.forms[result.forms["model"] == model]
    return dict(zip(own["unique_id"], own["form"], strict=True))


def plain_columns(frame: pd.DataFrame, model: str, levels: tuple[int, ...]) -> pd.DataFrame:
    """The contract's `<model>`, `<model>-lo-<l>`, `<model>-hi-<l>` as forecast, lo_<l>, hi_<l>."""
    names = {model: "forecast"}
    for lv in levels:
        names[f"{model}-lo-{lv}"] = f"lo_{lv}"
        names[f"{model}-hi-{lv}"] = f"hi_{lv}"
    return frame[["unique_id", "ds", *names]].rename(columns=names)


class FileForecast(Contract):
    """A file forecast written to `out`: how many rows and series, and what was chosen."""

    out: str
    rows: int
    series: int
    frequency: str
    horizon: int
    level: int
    chosen: dict[str, str]
    notes: tuple[str, ...]


def file_forecast(out: str, rows: int, result: ForecastResult, level: int) -> FileForecast:
    return FileForecast(
        out=out,
        rows=rows,
        series=len(result.chosen),
        frequency=result.frequency.label,
        horizon=result.horizon,
        level=level,
        chosen=result.chosen,
        notes=result.notes,
    )


class SeriesBacktest(Contract):
    """One series' backtest: the winning model and every model's metrics."""

    unique_id: str
    winner: str
    metrics: Table  # model, folds, points, mae, rmse, smape, wape, mase, bias, coverage_<l>


class BacktestReport(Contract):
    """A file's backtest: per series metrics and winner, and the mean over series per model."""

    horizon: int
    folds: int
    frequency: str
    levels: tuple[int, ...]
    series: tuple[SeriesBacktest, ...]
    summary: Table  # model, mean metrics, wins


def backtest_report(result: BacktestResult, folds: int) -> BacktestReport:
    return BacktestReport(
        horizon=result.horizon,
        folds=folds,
        frequency=result.frequency.label,
        levels=result.levels,
        series=tuple(
            SeriesBacktest(unique_id=str(uid), winner=result.winner[str(uid)], metrics=group.drop(columns="unique_id"))
            for uid, group in result.metrics.groupby("unique_id", sort=True)
        ),
        summary=result.summary(),
    )
