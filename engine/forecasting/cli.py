"""Forecast commands: `forecast` (warehouse series), `forecast-file` and `backtest-file` (your files).

Registered on import by `engine.cli` (see COMMAND_MODULES).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from engine.core.access import SYSTEM
from engine.core.commands import command, print_json
from engine.core.errors import BadInputError
from engine.data import health
from engine.data.warehouse import get_warehouse
from engine.forecasting import reports
from engine.forecasting import series as business_series
from engine.forecasting.auto import AUTO_FOLDS, ForecastResult, backtest, forecast
from engine.forecasting.frames import read_frame_file
from engine.forecasting.models import AUTO, MODEL_WORDS, MODELS

MODEL_CHOICES = (AUTO, *MODELS)


def _date_text(values: pd.Series) -> pd.Series:
    midnight = (values == values.dt.normalize()).all()
    return values.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%dT%H:%M:%S")


def _number(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"


# -- forecast (warehouse) -----------------------------------------------------------------
def _forecast_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--series", required=True, choices=list(business_series.SERIES), help="which business series")
    p.add_argument("--horizon", type=int, required=True, help="periods ahead (months or weeks, as the series)")
    p.add_argument("--model", default=AUTO, choices=MODEL_CHOICES, help="default: auto (chosen by backtest)")
    p.add_argument("--folds", type=int, default=AUTO_FOLDS, help="backtest origins for auto (default 5)")
    p.add_argument("--json", action="store_true", help="print the forecast as JSON")


@command("forecast", "forecast a business series from the warehouse (MRR, customers, usage, tickets)", _forecast_args)
def _forecast(args: argparse.Namespace) -> int:
    wh = get_warehouse(args.data_dir, read_only=True)
    info = business_series.series_info(args.series)
    history = business_series.load_series(wh, args.series, SYSTEM)  # the CLI is a batch viewer
    if warning := health.out_of_range_warning(wh):
        print(f"warning: {warning}", file=sys.stderr)
    # The automatic choice always runs: its backtest is the one the report shows, and it tells
    # whether a named model's intervals held up.
    models = [args.model] if args.model == AUTO else [args.model, AUTO]
    result = forecast(history, args.horizon, model=models, folds=args.folds)
    report = reports.series_forecast(info, history, result, args.model)
    if args.json:
        print_json(report)
        return 0
    table = report.forecast
    print(f"{info.label} ({info.unit}), {result.horizon} {result.frequency.label} periods ahead, model {args.model}")
    for uid, form in report.forms.items():
        print(f"  {uid}: {form}")
    low, high = min(result.levels), max(result.levels)
    print(f"{'series':<18} {'date':<10} {'forecast':>14} {f'{low}% interval':>29} {f'{high}% interval':>29}")
    for row in table.to_dict(orient="records"):
        if result.keeps_bands(row["unique_id"], args.model):
            inner = f"{_number(row[f'lo_{low}']):>14}-{_number(row[f'hi_{low}']):<14}"
            outer = f"{_number(row[f'lo_{high}']):>14}-{_number(row[f'hi_{high}']):<14}"
        else:  # the backtest showed these intervals do not hold: do not print them as if they did
            inner = outer = f"{'withheld (see notes)':^29}"
        print(f"{row['unique_id']:<18} {row['ds']:%Y-%m-%d} {_number(row['forecast']):>14} {inner} {outer}")
    for note in result.notes:
        print(f"note: {note}")
    _print_choice(result)
    return 0


def _print_choice(result: ForecastResult) -> None:
    """Why auto picked each series' model, and the very backtest it picked on (the page shows the same)."""
    if result.selection is None:
        return
    metrics = result.selection.metrics
    level = max(result.levels)
    for uid, reason in result.reasons.items():
        print(f"\n{uid}: the automatic choice is {MODEL_WORDS[result.picked[uid]]}. {reason}")
        rows = metrics[metrics["unique_id"] == uid]
        if rows.empty:
            continue
        print(f"  backtest, {int(rows['folds'].max())} past forecasts:")
        print(f"  {'model':<16} {'MASE':>7} {f'cover {level}%':>9}")
        for row in rows.sort_values("mase").to_dict(orient="records"):
            mark = "  <- picked" if row["model"] == result.picked[uid] else ""
            cover = row.get(f"coverage_{level}", float("nan"))
            print(f"  {row['model']:<16} {row['mase']:>7.3f} {cover:>9.0%}{mark}")


# -- forecast-file ----------------------------------------------------------------------------
def _file_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="CSV or Parquet with columns unique_id, ds, y (one regular frequency)")
    p.add_argument("--horizon", type=int, required=True, help="periods ahead, in the file's frequency")
    p.add_argument("--season-length", type=int, default=None, help="override the season length (e.g. 7 for daily)")


def _forecast_file_args(p: argparse.ArgumentParser) -> None:
    _file_args(p)
    p.add_argument("--out", type=Path, required=True, help="output .csv (or .parquet): unique_id, ds, forecast, lo, hi")
    p.add_argument("--level", type=int, default=95, help="interval level in percent (default 95)")
    p.add_argument("--folds", type=int, default=AUTO_FOLDS, help="backtest origins for the automatic choice")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


@command("forecast-file", "forecast every series in a file with the automatically chosen model", _forecast_file_args)
def _forecast_file(args: argparse.Namespace) -> int:
    frame = read_frame_file(args.file)
    if args.out.suffix.lower() not in (".csv", ".parquet"):
        raise BadInputError(f"--out {args.out}: write a .csv or .parquet file.")
    result = forecast(
        frame, args.horizon, model=AUTO, levels=(args.level,), season_length=args.season_length, folds=args.folds
    )
    out = result.simple(level=args.level)
    _write_atomically(out, args.out)
    if args.json:
        print_json(reports.file_forecast(str(args.out), len(out), result, args.level))
        return 0
    print(
        f"Wrote {len(out):,} rows ({len(result.chosen):,} series x {result.horizon} {result.frequency.label} periods, "
        f"{args.level}% intervals) to {args.out}"
    )
    for note in result.notes:
        print(f"note: {note}")
    return 0


def _write_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write next to the target, then rename: readers see the old file or the whole new one."""
    path = path.expanduser()
    if not path.parent.is_dir():
        raise BadInputError(f"Folder {path.parent} does not exist; create it or choose another --out.")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if path.suffix.lower() == ".parquet":
            frame.to_parquet(temporary, index=False)
        else:
            out = frame.assign(ds=_date_text(frame["ds"]))
            out.to_csv(temporary, index=False)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# -- backtest-file -------------------------------------------------------------------------------
def _backtest_file_args(p: argparse.ArgumentParser) -> None:
    _file_args(p)
    p.add_argument("--folds", type=int, required=True, help="number of forecast origins")
    p.add_argument("--step", type=int, default=None, help="periods between origins (default: the horizon)")
    p.add_argument("--window", choices=("expanding", "rolling"), default="expanding")
    p.add_argument(
        "--models", nargs="+", choices=MODEL_CHOICES, default=list(MODELS), help="models to compare (default: all)"
    )
    p.add_argument("--json", action="store_true", help="print metrics and winners as JSON")


@command("backtest-file", "compare forecasting models on a file by rolling-origin backtest", _backtest_file_args)
def _backtest_file(args: argparse.Namespace) -> int:
    frame = read_frame_file(args.file)
    result = backtest(
        frame,
        args.horizon,
        folds=args.folds,
        models=args.models,
        step=args.step,
        window=args.window,
        season_length=args.season_length,
    )
    if args.json:
        print_json(reports.backtest_report(result, args.folds))
        return 0
    metrics = result.metrics
    print(
        f"Backtest: {args.folds} fold(s), horizon {result.horizon} ({result.frequency.label}), {args.window} window. "
        "MASE < 1 beats the in-sample seasonal naive; bias = mean(forecast - actual)."
    )
    coverage = [f"coverage_{lv}" for lv in result.levels]
    header = f"{'model':<16} {'MAE':>12} {'RMSE':>12} {'sMAPE%':>8} {'WAPE%':>8} {'MASE':>7} {'bias':>12}"
    header += "".join(f" {'cov' + str(lv):>7}" for lv in result.levels)
    for uid, group in metrics.groupby("unique_id", sort=True):
        print(f"\n{uid}  (winner: {result.winner[uid]})")
        print(header)
        for row in group.itertuples(index=False):
            line = (
                f"{row.model:<16} {_number(row.mae):>12} {_number(row.rmse):>12} {row.smape:>8.2f} "
                f"{row.wape:>8.2f} {row.mase:>7.3f} {_number(row.bias):>12}"
            )
            line += "".join(f" {getattr(row, c):>7.2f}" for c in coverage)
            print(line)
    return 0
