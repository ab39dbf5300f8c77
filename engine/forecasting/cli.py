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
from engine.forecasting import auto as fc
from engine.forecasting import series as business_series

MODEL_CHOICES = (fc.AUTO, *fc.MODELS)


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-friendly rows: dates as YYYY-MM-DD (or full timestamps when there is a time)."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = _date_text(out[column])
    return out.to_dict(orient="records")


def _date_text(values: pd.Series) -> pd.Series:
    midnight = (values == values.dt.normalize()).all()
    return values.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%dT%H:%M:%S")


def _number(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"


def _plain_columns(frame: pd.DataFrame, model: str, levels) -> pd.DataFrame:
    """The contract's `<model>`, `<model>-lo-<l>`, `<model>-hi-<l>` as forecast, lo_<l>, hi_<l>."""
    names = {model: "forecast"}
    for lv in levels:
        names[f"{model}-lo-{lv}"] = f"lo_{lv}"
        names[f"{model}-hi-{lv}"] = f"hi_{lv}"
    return frame[["unique_id", "ds", *names]].rename(columns=names)


# -- forecast (warehouse) -----------------------------------------------------------------
def _forecast_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--series", required=True, choices=list(business_series.SERIES), help="which business series")
    p.add_argument("--horizon", type=int, required=True, help="periods ahead (months or weeks, as the series)")
    p.add_argument("--model", default=fc.AUTO, choices=MODEL_CHOICES, help="default: auto (chosen by backtest)")
    p.add_argument("--folds", type=int, default=fc.AUTO_FOLDS, help="backtest origins for auto (default 5)")
    p.add_argument("--json", action="store_true", help="print the forecast as JSON")


@command("forecast", "forecast a business series from the warehouse (MRR, customers, usage, tickets)", _forecast_args)
def _forecast(args: argparse.Namespace) -> int:
    wh = get_warehouse(args.data_dir, read_only=True)
    info = business_series.series_info(args.series)
    history = business_series.load_series(wh, args.series, SYSTEM)  # the CLI is a batch viewer
    if warning := health.out_of_range_warning(wh):
        print(f"warning: {warning}", file=sys.stderr)
    result = fc.forecast(history, args.horizon, model=args.model, folds=args.folds)
    table = _plain_columns(result.forecast, args.model, result.levels)
    if args.json:
        print_json(
            {
                "series": info.name,
                "label": info.label,
                "unit": info.unit,
                "frequency": result.frequency.label,
                "horizon": result.horizon,
                "model": args.model,
                "levels": list(result.levels),
                "history_end": _date_text(history["ds"]).max(),
                "chosen": result.chosen,
                "forms": dict(zip(result.forms["unique_id"], result.forms["form"], strict=True)),
                "notes": list(result.notes),
                "forecast": _records(table),
            }
        )
        return 0
    print(f"{info.label} ({info.unit}), {result.horizon} {result.frequency.label} periods ahead, model {args.model}")
    for uid, form in zip(result.forms["unique_id"], result.forms["form"], strict=True):
        print(f"  {uid}: {form}")
    low, high = min(result.levels), max(result.levels)
    print(f"{'series':<18} {'date':<10} {'forecast':>14} {f'{low}% interval':>29} {f'{high}% interval':>29}")
    for row in table.to_dict(orient="records"):
        lo_in, hi_in = row[f"lo_{low}"], row[f"hi_{low}"]
        lo_out, hi_out = row[f"lo_{high}"], row[f"hi_{high}"]
        print(
            f"{row['unique_id']:<18} {row['ds']:%Y-%m-%d} {_number(row['forecast']):>14} "
            f"{_number(lo_in):>14}-{_number(hi_in):<14} {_number(lo_out):>14}-{_number(hi_out):<14}"
        )
    for note in result.notes:
        print(f"note: {note}")
    return 0


# -- forecast-file ----------------------------------------------------------------------------
def _file_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="CSV or Parquet with columns unique_id, ds, y (one regular frequency)")
    p.add_argument("--horizon", type=int, required=True, help="periods ahead, in the file's frequency")
    p.add_argument("--season-length", type=int, default=None, help="override the season length (e.g. 7 for daily)")


def _forecast_file_args(p: argparse.ArgumentParser) -> None:
    _file_args(p)
    p.add_argument("--out", type=Path, required=True, help="output .csv (or .parquet): unique_id, ds, forecast, lo, hi")
    p.add_argument("--level", type=int, default=95, help="interval level in percent (default 95)")
    p.add_argument("--folds", type=int, default=fc.AUTO_FOLDS, help="backtest origins for the automatic choice")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


@command("forecast-file", "forecast every series in a file with the automatically chosen model", _forecast_file_args)
def _forecast_file(args: argparse.Namespace) -> int:
    frame = fc.read_frame_file(args.file)
    if args.out.suffix.lower() not in (".csv", ".parquet"):
        raise BadInputError(f"--out {args.out}: write a .csv or .parquet file.")
    result = fc.forecast(
        frame, args.horizon, model=fc.AUTO, levels=(args.level,), season_length=args.season_length, folds=args.folds
    )
    out = result.simple(level=args.level)
    _write_atomically(out, args.out)
    summary = {
        "out": str(args.out),
        "rows": len(out),
        "series": len(result.chosen),
        "frequency": result.frequency.label,
        "horizon": result.horizon,
        "level": args.level,
        "chosen": result.chosen,
        "notes": list(result.notes),
    }
    if args.json:
        print_json(summary)
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
        "--models", nargs="+", choices=MODEL_CHOICES, default=list(fc.MODELS), help="models to compare (default: all)"
    )
    p.add_argument("--json", action="store_true", help="print metrics and winners as JSON")


@command("backtest-file", "compare forecasting models on a file by rolling-origin backtest", _backtest_file_args)
def _backtest_file(args: argparse.Namespace) -> int:
    frame = fc.read_frame_file(args.file)
    result = fc.backtest(
        frame,
        args.horizon,
        folds=args.folds,
        models=args.models,
        step=args.step,
        window=args.window,
        season_length=args.season_length,
    )
    metrics = result.metrics
    if args.json:
        print_json(
            {
                "horizon": result.horizon,
                "folds": args.folds,
                "frequency": result.frequency.label,
                "levels": list(result.levels),
                "series": [
                    {
                        "unique_id": uid,
                        "winner": result.winner[uid],
                        "metrics": group.drop(columns="unique_id").to_dict(orient="records"),
                    }
                    for uid, group in metrics.groupby("unique_id", sort=True)
                ],
                "summary": result.summary().to_dict(orient="records"),
            }
        )
        return 0
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
