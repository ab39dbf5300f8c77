"""Forecast engine benchmarks: accuracy on real public series, speed on 1,000 series.

(a) Accuracy. Real series that ship with statsmodels (no downloads):
    monthly   co2 (Mauna Loa CO2, weekly readings averaged per month), elec_equip (euro-area
              electrical equipment orders index), elnino (Pacific sea-surface temperature),
              housing_starts (US housing starts, not seasonally adjusted: FRED HOUSTNSA, from
              statsmodels' Holt-Winters test data);
    quarterly macrodata (12 US series: realgdp, realcons, realinv, realgovt, realdpi, cpi, m1,
              tbilrate, unemp, pop, infl, realint), danish_data (lrm, lry, lpy, ibo, ide),
              interest_inflation (Dp, R).
    Each series is forecast from several origins (monthly: 12 months ahead from each of the
    last 6 years; quarterly: 8 quarters ahead from each of the last 5 two-year steps), training
    on at most the 10 (monthly) or 20 (quarterly) years before the origin. Compared by MASE
    (scale: in-sample seasonal naive) against the seasonal naive and a well-tuned damped
    Holt-Winters (statsmodels ExponentialSmoothing: additive damped trend, additive or
    multiplicative season by AICc, estimated initial states, brute-force starting values).
    Targets: auto beats seasonal naive and is at least as accurate as damped Holt-Winters;
    auto's 95 % intervals cover >= 85 % of the actuals.
(b) Speed. 1,000 simulated monthly series x 36 points (growth, seasonality of random size,
    noise), automatic choice and a 12-month forecast with intervals. Target <= 60 s on 2 cores.

Run: `.venv/bin/python bench/forecast.py [--skip-speed] [--skip-accuracy] [--series 1000]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without PYTHONPATH

from engine.forecasting.auto import forecast


# -- real series -------------------------------------------------------------------------
def monthly_series() -> dict[str, pd.Series]:
    import statsmodels
    import statsmodels.api as sm
    from statsmodels.datasets import elec_equip

    out = {"co2": sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()}
    equip = elec_equip.load().data.iloc[:, 0]
    out["elec_equip"] = pd.Series(equip.to_numpy(float), index=pd.DatetimeIndex(equip.index))
    nino = sm.datasets.elnino.load_pandas().data
    values = nino.drop(columns="YEAR").to_numpy(float).ravel()
    start = f"{int(nino['YEAR'].iloc[0])}-01-01"
    out["elnino"] = pd.Series(values, index=pd.date_range(start, periods=len(values), freq="MS"))
    housing = Path(statsmodels.__file__).parent / "tsa/holtwinters/tests/results/housing-data.csv"
    starts = pd.read_csv(housing, parse_dates=["DATE"], index_col="DATE")["HOUSTNSA"]
    out["housing_starts"] = starts.astype(float)
    return out


def quarterly_series() -> dict[str, pd.Series]:
    import statsmodels.api as sm

    out = {}
    macro = sm.datasets.macrodata.load_pandas().data
    index = pd.date_range("1959-01-01", periods=len(macro), freq="QS")
    columns = ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "pop")
    for column in (*columns, "infl", "realint"):
        out[f"macro_{column}"] = pd.Series(macro[column].to_numpy(float), index=index)
    danish = sm.datasets.danish_data.load_pandas().data
    for column in danish.columns:
        out[f"danish_{column}"] = pd.Series(danish[column].to_numpy(float), index=pd.DatetimeIndex(danish.index))
    rates = sm.datasets.interest_inflation.load_pandas().data
    first = f"{int(rates['year'].iloc[0])}-{3 * int(rates['quarter'].iloc[0]) - 2:02d}-01"
    index = pd.date_range(first, periods=len(rates), freq="QS")
    for column in ("Dp", "R"):
        out[f"interest_{column}"] = pd.Series(rates[column].to_numpy(float), index=index)
    return out


def damped_holt_winters(train: np.ndarray, m: int, horizon: int) -> np.ndarray:
    """Damped additive trend with additive or multiplicative season (lower AICc wins)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    best = None
    for season in ("add", "mul") if train.min() > 0 else ("add",):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = ExponentialSmoothing(
                    train,
                    trend="add",
                    damped_trend=True,
                    seasonal=season,
                    seasonal_periods=m,
                    initialization_method="estimated",
                ).fit(use_brute=True)
            except (ValueError, np.linalg.LinAlgError):
                continue
        if np.isfinite(fit.aicc) and (best is None or fit.aicc < best.aicc):
            best = fit
    return np.asarray(best.forecast(horizon), dtype=float)


def mase(train: np.ndarray, actual: np.ndarray, predicted: np.ndarray, m: int) -> float:
    lag = m if len(train) > m else 1
    return float(np.mean(np.abs(actual - predicted)) / np.mean(np.abs(train[lag:] - train[:-lag])))


def accuracy(quick: bool) -> pd.DataFrame:
    plans = [
        ("monthly", monthly_series(), 12, 12, 3 if quick else 6, 120),
        ("quarterly", quarterly_series(), 4, 8, 2 if quick else 5, 80),
    ]
    rows = []
    for label, collection, m, horizon, origins, max_train in plans:
        print(f"  {label}: {', '.join(collection)}", flush=True)
        for name, values in collection.items():
            y = values.to_numpy(float)
            for origin in range(origins):
                end = len(y) - horizon - origin * horizon
                start = max(0, end - max_train)
                train, actual = y[start:end], y[end : end + horizon]
                frame = pd.DataFrame({"unique_id": name, "ds": values.index[start:end], "y": train})
                t0 = time.perf_counter()
                result = forecast(frame, horizon, model=["auto", "seasonal_naive"])
                seconds = time.perf_counter() - t0
                out = result.forecast
                inside = {
                    lv: (actual >= out[f"auto-lo-{lv}"].to_numpy()) & (actual <= out[f"auto-hi-{lv}"].to_numpy())
                    for lv in (80, 95)
                }
                rows.append(
                    {
                        "frequency": label,
                        "series": name,
                        "origin": origin,
                        "chosen": result.chosen[name],
                        "auto": mase(train, actual, out["auto"].to_numpy(), m),
                        "seasonal_naive": mase(train, actual, out["seasonal_naive"].to_numpy(), m),
                        "damped_hw": mase(train, actual, damped_holt_winters(train, m, horizon), m),
                        "inside_80": inside[80].sum(),
                        "inside_95": inside[95].sum(),
                        "points": horizon,
                        "seconds": seconds,
                    }
                )
    return pd.DataFrame(rows)


def report_accuracy(results: pd.DataFrame) -> bool:
    print("\n(a) accuracy on real series: mean MASE (median), lower is better")
    print(
        f"{'set':<10} {'tasks':>5} {'auto':>14} {'seasonal naive':>16} {'damped HW':>14} {'cover95':>8} {'cover80':>8}"
    )
    for label, part in [*results.groupby("frequency", sort=False), ("all", results)]:
        cells = [f"{part[c].mean():.3f} ({part[c].median():.3f})" for c in ("auto", "seasonal_naive", "damped_hw")]
        cover95 = part["inside_95"].sum() / part["points"].sum()
        cover80 = part["inside_80"].sum() / part["points"].sum()
        print(
            f"{label:<10} {len(part):>5} {cells[0]:>14} {cells[1]:>16} {cells[2]:>14} {cover95:>8.1%} {cover80:>8.1%}"
        )
    chosen = results["chosen"].value_counts()
    print("auto chose: " + ", ".join(f"{k} {v}" for k, v in chosen.items()))
    print(f"auto forecast time per task: median {results['seconds'].median():.2f} s")
    by_series = results.groupby("series", sort=False)[["auto", "damped_hw", "seasonal_naive"]].mean()
    print("per series (mean MASE):\n" + by_series.round(3).to_string())
    auto, naive, hw = (results[c].mean() for c in ("auto", "seasonal_naive", "damped_hw"))
    cover = results["inside_95"].sum() / results["points"].sum()
    checks = {
        "auto beats seasonal naive": auto < naive,
        "auto at least as accurate as damped Holt-Winters": auto <= hw,
        "95% intervals cover >= 85%": cover >= 0.85,
    }
    for text, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    return all(checks.values())


# -- speed ----------------------------------------------------------------------------------
def simulated_panel(series: int = 1000, points: int = 36, seed: int = 0) -> pd.DataFrame:
    """Monthly business-like series: a level, growth, a season of random size (none for 2 in 3), noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    ds = pd.date_range("2023-01-01", periods=points, freq="MS")
    frames = []
    for i in range(series):
        level = rng.lognormal(8, 1)
        growth = rng.normal(0.01, 0.015)
        season = rng.choice([0.0, 0.0, rng.uniform(0.03, 0.2)])
        phase = rng.uniform(0, 2 * np.pi)
        noise = rng.uniform(0.01, 0.08)
        drift = np.cumsum(rng.normal(0, noise / 2, points))
        y = level * np.exp(growth * t + drift) * (1 + season * np.sin(2 * np.pi * t / 12 + phase))
        frames.append(pd.DataFrame({"unique_id": f"s{i:04d}", "ds": ds, "y": y * np.exp(rng.normal(0, noise, points))}))
    return pd.concat(frames, ignore_index=True)


def speed(series: int) -> bool:
    frame = simulated_panel(series)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = forecast(frame, 12)
    seconds = time.perf_counter() - t0
    chosen = pd.Series(result.chosen).value_counts()
    print(
        f"\n(b) speed: {series:,} monthly series x 36 points, auto choice + 12-month forecast with 80/95% intervals: "
        f"{seconds:.1f} s wall on {os.cpu_count()} cores (load average before: {load:.1f})"
    )
    print("  auto chose: " + ", ".join(f"{k} {v}" for k, v in chosen.items()))
    ok = seconds <= 60
    print(f"  [{'PASS' if ok else 'FAIL'}] <= 60 s")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=1000, help="series for the speed test")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--quick", action="store_true", help="fewer forecast origins in the accuracy test")
    args = parser.parse_args()
    passed = True
    if not args.skip_speed:
        passed &= speed(args.series)
    if not args.skip_accuracy:
        print("\n(a) real series used:")
        t0 = time.perf_counter()
        passed &= report_accuracy(accuracy(args.quick))
        print(f"accuracy benchmark took {time.perf_counter() - t0:.0f} s")
    print("\nall targets met" if passed else "\nsome targets missed")


if __name__ == "__main__":
    main()
