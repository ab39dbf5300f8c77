"""How far below damped Holt-Winters any mix of the classical models can get on the public series.

The forecast target (the automatic choice's mean MASE <= 0.95 x damped Holt-Winters',
bench/forecast_accuracy.py) is a claim about what combining and choosing can reach. This
measures the room there is, on the same series, origins and training windows:
- every single member: ETS by AICc (as the app fits it), Theta, ARIMA by AICc, ETS limited
  to no trend or a damped trend, SES, Holt, ETS with a damped trend only, and the reference
  damped Holt-Winters itself;
- every mean and median of 2-4 of them (the reference included as a member);
- two hindsight oracles no forecaster can match: per series, the member with the lowest mean
  error over its origins; per forecast, the member with the lowest error.
Each is reported as its mean MASE over damped Holt-Winters' (1.000 = the reference), over all
origins and on the first two and last three origins apart (a mix that wins only on one half
was picked by noise).

Run: `PYTHONPATH=. .venv/bin/python bench/forecast_ceiling.py [--origins 5] [--workers 2] [--top 15]`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from bench.forecast import damped_holt_winters, mase
from bench.forecast_accuracy import PLANS, collection, split
from engine.forecasting import models

# name: ETS trend forms allowed (None: the app's own forecaster of that name)
MEMBERS: dict[str, tuple | None] = {
    "ets": None,
    "theta": None,
    "arima": None,
    "ets_damped": ((None, False), ("add", True)),
    "ses": ((None, False),),
    "holt": (("add", False),),
    "damped_only": (("add", True),),
}
REFERENCE = "damped_hw"


def _ets_with(trends: tuple, y: np.ndarray, m: int, horizon: int) -> np.ndarray | None:
    saved = models.ETS_TRENDS
    models.ETS_TRENDS = trends
    try:
        fitted = models.ets_forecast(y, m, horizon, ())
    finally:
        models.ETS_TRENDS = saved
    return None if fitted is None else fitted[0]


def task(args: tuple) -> dict:
    """One series from one origin: every member's MASE-ready forecast."""
    name, label, values, origin = args
    m, horizon, _most = PLANS[label]
    window, actual = split(label, values, origin)
    train = window.to_numpy(float)
    row: dict = {"series": name, "origin": origin, "train": train, "actual": actual, "m": m}
    with models.one_blas_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for member, trends in MEMBERS.items():
            if trends is None:
                fitted = models.SERIES_FORECASTERS[member](train, m, horizon, ())
                row[member] = None if fitted is None else fitted[0]
            else:
                row[member] = _ets_with(trends, train, m, horizon)
        row[REFERENCE] = damped_holt_winters(train, m, horizon)
    return row


def scores(rows: list[dict]) -> pd.DataFrame:
    """MASE per forecast (rows) of every member and every mean or median of 2-4 members (columns)."""
    names = (*MEMBERS, REFERENCE)

    def point(row: dict, name: str) -> np.ndarray:  # a member that could not fit falls back to the reference
        return row[name] if row[name] is not None else row[REFERENCE]

    out: dict[str, list[float]] = {}
    for size in (1, 2, 3, 4):
        for mix in itertools.combinations(names, size):
            ways = {"": np.mean} if size == 1 else {"mean of ": np.mean, "median of ": np.median}
            if size == 2:
                ways.pop("median of ")  # the median of two is their mean
            for way, reduce in ways.items():
                key = way + " + ".join(mix)
                out[key] = [
                    mase(r["train"], r["actual"], reduce(np.stack([point(r, n) for n in mix]), axis=0), r["m"])
                    for r in rows
                ]
    frame = pd.DataFrame(out)
    frame.insert(0, "series", [r["series"] for r in rows])
    frame.insert(1, "origin", [r["origin"] for r in rows])
    return frame


def report(frame: pd.DataFrame, top: int) -> None:
    errors = frame.drop(columns=["series", "origin"])
    first = frame["origin"] < 2

    def ratio(part: pd.DataFrame) -> pd.Series:
        return part.mean() / part[REFERENCE].mean()

    table = pd.DataFrame(
        {
            "mean MASE": errors.mean(),
            "vs ref": ratio(errors),
            "origins 0-1": ratio(errors[first]),
            "origins 2-4": ratio(errors[~first]),
        }
    ).sort_values("vs ref")
    print(f"{frame['series'].nunique()} series, {len(frame)} forecasts, {errors.shape[1]} members and mixes\n")
    print(f"best {top} of them:")
    print(table.head(top).round(3).to_string())
    print("\nsingle members:")
    print(table.loc[[*MEMBERS, REFERENCE, "median of ets + theta + arima"]].round(3).to_string())
    singles = errors[[*MEMBERS]]
    per_series = frame.groupby("series")[[*MEMBERS, REFERENCE]].mean()
    ref = errors[REFERENCE].mean()
    print("\nhindsight oracles (no forecaster can match them), vs the reference:")
    print(f"  best member per series: {per_series[[*MEMBERS]].min(axis=1).mean() / per_series[REFERENCE].mean():.3f}")
    print(f"  best member per forecast: {singles.min(axis=1).mean() / ref:.3f}")
    print(f"  the target: 0.950; best mix: {table['vs ref'].iloc[0]:.3f} ({table.index[0]})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--origins", type=int, default=5)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    t0 = time.perf_counter()
    jobs = [(name, label, values, o) for name, (label, values) in collection().items() for o in range(args.origins)]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(task, jobs))
    report(scores(rows), args.top)
    print(f"\ntook {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
