"""Forecast accuracy on public series against damped Holt-Winters, by rolling origin.

Series: every one ships inside a pip package installed in the venv (nothing is downloaded).
  statsmodels (33):
    quarterly (23): macrodata realgdp, realcons, realinv, realgovt, realdpi, cpi, m1, tbilrate,
      unemp, pop, infl, realint (US, 1959-2009); danish_data lrm, lry, lpy, ibo, ide (Denmark,
      1974-1987); interest_inflation Dp, R (Germany, 1972-1998); lutkepohl2 inv, inc, consump
      (West Germany, 1960-1982); rgnpq (US real GNP, 159 quarters).
    monthly (9): co2 (Mauna Loa, weekly readings averaged per month), elec_equip (euro-area
      electrical equipment orders), elnino (Pacific sea-surface temperature), housing_starts
      (US, not seasonally adjusted: FRED HOUSTNSA), Schwert's US unemployment (UN), BAA bond
      yield (BAA) and S&P 500 (SP500), manufac hours and capacity utilisation (US, 1972-2008).
    weekly (1): co2 (Mauna Loa, gaps filled by interpolation).
  pmdarima (6, when installed: every monthly and quarterly series it ships; its weekly
    gasoline is a download): airpassengers, wineind (Australian wine sales), sunspots
    (monthly); ausbeer, austres (Australian residents), woolyrnq (wool production) (quarterly).
  sktime (6, when installed; its data files are read, the package is never imported): UK
    road casualties killed or seriously injured, monthly 1969-1984 (seatbelts KSI); US
    quarterly changes 1970-2016 in consumption, income, production, savings, unemployment
    (Uschange). Its other series are annual, sub-daily, 0/1 or copies of the above.
Each series is forecast from ORIGINS origins one horizon apart (monthly 12 months, quarterly 8
quarters, weekly 13 weeks ahead), training on at most the 10 years (monthly, quarterly: 20)
or 5 years (weekly) before the origin. Every task calls `engine.forecasting.auto.forecast`
once, which backtests all models on the training data to make the automatic choice.

Scored by MASE (scale: in-sample seasonal naive of the training data) against the seasonal
naive and damped Holt-Winters (statsmodels ExponentialSmoothing: additive damped trend,
additive or multiplicative season by AICc, as in bench/forecast.py).
Targets: auto's mean MASE <= 0.95 x damped Holt-Winters'; auto worse than seasonal naive
(mean MASE over a series' origins) on <= 10 % of series; auto's 95 % intervals cover 90-98 %.

Run: `PYTHONPATH=. .venv/bin/python bench/forecast_accuracy.py [--origins 5] [--workers 2]`.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from bench.forecast import damped_holt_winters, mase, monthly_series, quarterly_series
from engine.forecasting.auto import forecast

MODELS = ("auto", "combination", "ets", "theta", "arima", "lightgbm", "seasonal_naive", "naive")
# frequency: (season length, horizon, most training points)
PLANS = {"quarterly": (4, 8, 80), "monthly": (12, 12, 120), "weekly": (52, 13, 260)}


def _statsmodels_file(relative: str) -> Path:
    import statsmodels

    return Path(statsmodels.__file__).parent / relative


def more_quarterly() -> dict[str, pd.Series]:
    out = {}
    lut = pd.read_stata(_statsmodels_file("tsa/tests/results/lutkepohl2.dta"))
    index = pd.date_range("1960-01-01", periods=len(lut), freq="QS")
    for column in ("inv", "inc", "consump"):
        out[f"lutkepohl_{column}"] = pd.Series(lut[column].to_numpy(float), index=index)
    gnp = pd.read_csv(_statsmodels_file("tsa/tests/results/rgnpq.csv")).iloc[:, 0].to_numpy(float)
    out["rgnpq"] = pd.Series(gnp, index=pd.date_range("1947-01-01", periods=len(gnp), freq="QS"))
    return out


def more_monthly() -> dict[str, pd.Series]:
    out = {}
    for name in ("UN", "BAA", "SP500"):  # Schwert's monthly US series, from 1948
        values = pd.read_csv(_statsmodels_file(f"tsa/tests/results/{name}.csv")).iloc[:, 0].to_numpy(float)
        out[f"schwert_{name}"] = pd.Series(values, index=pd.date_range("1948-01-01", periods=len(values), freq="MS"))
    manufac = pd.read_stata(_statsmodels_file("tsa/statespace/tests/results/manufac.dta"))
    for column in ("hours", "caputil"):
        out[f"manufac_{column}"] = pd.Series(manufac[column].to_numpy(float), index=pd.DatetimeIndex(manufac["month"]))
    return out


def weekly_series() -> dict[str, pd.Series]:
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate()
    return {"co2_weekly": co2.asfreq("W-SAT").interpolate()}


def pmdarima_series() -> dict[str, tuple[str, pd.Series]]:
    """Every monthly and quarterly series pmdarima ships (its weekly gasoline is a download)."""
    try:
        from pmdarima import datasets
    except ImportError:
        return {}
    plans = (
        ("airpassengers", "monthly", "1949-01-01"),
        ("wineind", "monthly", "1980-01-01"),
        ("sunspots", "monthly", "1749-01-01"),
        ("ausbeer", "quarterly", "1956-01-01"),
        ("austres", "quarterly", "1971-04-01"),
        ("woolyrnq", "quarterly", "1965-01-01"),
    )
    out = {}
    for name, label, start in plans:
        values = getattr(datasets, f"load_{name}")(as_series=True).to_numpy(float)
        index = pd.date_range(start, periods=len(values), freq="MS" if label == "monthly" else "QS")
        out[f"pmdarima_{name}"] = (label, pd.Series(values, index=index))
    return out


def sktime_series() -> dict[str, tuple[str, pd.Series]]:
    """sktime's monthly and quarterly series, read from its data files (sktime pins pandas<3.1,
    so it is installed without its dependencies and never imported)."""
    import importlib.util

    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        return {}
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    out = {}
    ksi = pd.read_csv(data / "seatbelts" / "seatbelts.csv", index_col=0)["KSI"].to_numpy(float)
    out["sktime_seatbelts_KSI"] = (
        "monthly",
        pd.Series(ksi, index=pd.date_range("1969-01-01", periods=len(ksi), freq="MS")),
    )
    changes = pd.read_csv(data / "Uschange" / "Uschange.csv")
    index = pd.date_range("1970-01-01", periods=len(changes), freq="QS")
    for column in ("Consumption", "Income", "Production", "Savings", "Unemployment"):
        out[f"sktime_uschange_{column}"] = ("quarterly", pd.Series(changes[column].to_numpy(float), index=index))
    return out


def collection() -> dict[str, tuple[str, pd.Series]]:
    out: dict[str, tuple[str, pd.Series]] = {}
    extra = {**pmdarima_series(), **sktime_series()}
    for label, part in (
        ("quarterly", {**quarterly_series(), **more_quarterly()}),
        ("monthly", {**monthly_series(), **more_monthly()}),
        ("weekly", weekly_series()),
        *((label, {name: values}) for name, (label, values) in extra.items()),
    ):
        for name, values in part.items():
            out[name] = (label, values.dropna().astype(float))
    return out


def split(label: str, values: pd.Series, origin: int) -> tuple[pd.Series, np.ndarray]:
    """The training window and the actuals of one origin (0: the last horizon of the series)."""
    _m, horizon, most = PLANS[label]
    end = len(values) - horizon * (origin + 1)
    return values.iloc[max(0, end - most) : end], values.to_numpy(float)[end : end + horizon]


def task(name: str, label: str, values: pd.Series, origin: int) -> dict:
    """One series forecast from one origin: MASE of every model and whether actuals fell inside auto's bands."""
    m, horizon, _most = PLANS[label]
    window, actual = split(label, values, origin)
    train = window.to_numpy(float)
    frame = pd.DataFrame({"unique_id": name, "ds": window.index, "y": train})
    t0 = time.perf_counter()
    result = forecast(frame, horizon, model=list(MODELS), n_jobs=1)
    seconds = time.perf_counter() - t0
    out = result.forecast
    row = {"frequency": label, "series": name, "origin": origin, "chosen": result.picked[name], "seconds": seconds}
    for model in MODELS:
        row[model] = mase(train, actual, out[model].to_numpy(), m)
        for lv in (80, 95):
            inside = (actual >= out[f"{model}-lo-{lv}"].to_numpy()) & (actual <= out[f"{model}-hi-{lv}"].to_numpy())
            row[f"{model}_in{lv}"] = int(inside.sum())
    row["damped_hw"] = mase(train, actual, damped_holt_winters(train, m, horizon), m)
    row["points"] = horizon
    return row


def _run(args: tuple) -> dict:
    from engine.forecasting.models import one_blas_thread

    with one_blas_thread():
        return task(*args)


def run(origins: int, workers: int) -> pd.DataFrame:
    jobs = [(name, label, values, o) for name, (label, values) in collection().items() for o in range(origins)]
    if workers <= 1:
        return pd.DataFrame([_run(j) for j in jobs])
    with ProcessPoolExecutor(workers) as pool:
        return pd.DataFrame(list(pool.map(_run, jobs)))


def report(results: pd.DataFrame) -> bool:
    series = results["series"].nunique()
    counts = results.drop_duplicates("series")["frequency"].value_counts()
    print(
        f"{series} series ({', '.join(f'{n} {k}' for k, n in counts.items())}), {len(results)} forecasts "
        f"({results.groupby('series').size().max()} origins each)\n"
    )
    models = (*MODELS, "damped_hw")
    print(f"{'model':<16} {'mean MASE':>10} {'median':>8} {'cover 95':>9} {'cover 80':>9}")
    points = results["points"].sum()
    for model in sorted(models, key=lambda c: results[c].mean()):
        cover = (
            f"{results[f'{model}_in95'].sum() / points:>9.1%} {results[f'{model}_in80'].sum() / points:>9.1%}"
            if f"{model}_in95" in results
            else f"{'-':>9} {'-':>9}"
        )
        print(f"{model:<16} {results[model].mean():>10.3f} {results[model].median():>8.3f} {cover}")
    print("\nmean MASE by frequency:")
    print(results.groupby("frequency")[list(models)].mean().round(3).to_string())
    per_series = results.groupby("series")[["auto", "seasonal_naive", "damped_hw"]].mean()
    ratio = results["auto"].mean() / results["damped_hw"].mean()
    worse = float((per_series["auto"] > per_series["seasonal_naive"]).mean())
    cover95 = results["auto_in95"].sum() / points
    relative = np.exp(np.mean(np.log(results["auto"] / results["damped_hw"])))
    print(f"\nauto chose: {', '.join(f'{k} {v}' for k, v in results['chosen'].value_counts().items())}")
    print(f"auto / damped Holt-Winters, mean MASE: {ratio:.3f} (geometric mean of per-forecast ratios {relative:.3f})")
    print(f"series where auto is worse than seasonal naive: {worse:.0%} ({int(worse * series)} of {series})")
    print(f"auto 95 % interval coverage: {cover95:.1%}")
    print(f"auto forecast time per task: median {results['seconds'].median():.1f} s")
    checks = {
        "auto mean MASE <= 0.95 x damped Holt-Winters": ratio <= 0.95,
        "auto worse than seasonal naive on <= 10 % of series": worse <= 0.10,
        "auto 95 % intervals cover 90-98 %": 0.90 <= cover95 <= 0.98,
    }
    for text, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    return all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--origins", type=int, default=5, help="forecast origins per series")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes")
    parser.add_argument("--csv", type=Path, default=None, help="write every task's scores here")
    args = parser.parse_args()
    t0 = time.perf_counter()
    results = run(args.origins, args.workers)
    if args.csv:
        results.to_csv(args.csv, index=False)
    passed = report(results)
    print(f"\ntook {time.perf_counter() - t0:.0f} s")
    print("all targets met" if passed else "some targets missed")


if __name__ == "__main__":
    main()
