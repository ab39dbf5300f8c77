"""The forecasting models behind `engine.forecasting.auto`: each fits a whole panel of series.

A model looks like an estimator: settings in `__init__`, `fit(panel)` returns self,
learned attributes end in `_`, `predict(horizon, levels)` returns a `PanelForecast`
(point forecasts plus lower/upper bounds per interval level). Calling `predict`
before `fit` raises. `engine.forecasting.frames` turns frames into panels; `engine.forecasting.auto` and
`engine.forecasting.backtest` turn forecasts back into frames.

How each model makes its prediction intervals (Gaussian quantiles throughout):
- naive: analytic random walk, sigma * sqrt(h), sigma = root mean square of one-step changes.
- seasonal_naive: analytic, sigma * sqrt(k + 1) where k is the number of whole seasons
  ahead, sigma = root mean square of changes over one season.
- moving_average: empirical; for each horizon h the root mean square of the errors the
  same average made h steps ahead from every earlier origin in the history (the average
  has no fitted parameters, so those errors are out of sample).
- ets: statsmodels' own intervals for the chosen ETS model (analytic where a formula
  exists, simulated for multiplicative seasonality, fixed seed).
- theta: statsmodels' ThetaModel intervals (those of the simple exponential smoothing
  inside it), on the deseasonalised series when it passes the seasonality screen.
- arima: statsmodels' SARIMAX intervals for the order chosen by AICc.
- combination: per level, the median of its members' (ETS, Theta, ARIMA) bounds, around
  the median of their point forecasts.
- lightgbm: empirical; a calibration model is trained without each series' last h points
  and forecasts them from every origin in that window; the root mean square of those
  out-of-sample errors, scaled to one step (divided by sqrt(steps ahead)) and shrunk
  towards the panel's pooled value, is grown as sigma * sqrt(h).

ETS is chosen per series by AICc among the forms of `ets_candidates`: trend none, additive
or additive damped; season none, additive or multiplicative (for series that pass a
seasonality screen); additive or multiplicative errors (for positive series).

ARIMA is chosen per series by AICc over a small grid: differences d (0-2) by repeated KPSS
tests, one seasonal difference when the series passes the seasonality screen and holds
three seasons (season lengths up to 12 only: longer seasons make state-space fits too slow),
then p + q <= 2 (six orders), then a seasonal AR(1) or MA(1) term on the best. A constant
(a drift after one difference) is part of every candidate with under two differences.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from engine.core.config import model_threads
from engine.core.errors import BadInputError

# Seasonal models need two whole seasons: one to see the pattern, one to confirm it.
SEASONS_NEEDED = 2


@dataclass(frozen=True, eq=False)
class Panel:
    """Several series on one regular time grid, as float arrays (oldest first).

    `positions[i]` is the grid index of series i's first value, so the position in the
    season (`(position + t) % season_length`) lines up across series.
    """

    ids: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    positions: tuple[int, ...]
    season_length: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(v) for v in self.values], dtype=np.int64)

    def window(self, rows: Sequence[int], starts: Sequence[int], ends: Sequence[int]) -> Panel:
        """Series `rows`, each cut to values[start:end] (a fold's training data)."""
        return Panel(
            ids=tuple(self.ids[r] for r in rows),
            values=tuple(self.values[r][s:e] for r, s, e in zip(rows, starts, ends, strict=True)),
            positions=tuple(self.positions[r] + s for r, s in zip(rows, starts, strict=True)),
            season_length=self.season_length,
        )

    def subset(self, rows: Sequence[int]) -> Panel:
        return self.window(rows, [0] * len(rows), [len(self.values[r]) for r in rows])


@dataclass(frozen=True, eq=False)
class PanelForecast:
    """Point forecasts `mean` (series x horizon) and interval bounds per level."""

    mean: np.ndarray
    lower: dict[int, np.ndarray] = field(default_factory=dict)
    upper: dict[int, np.ndarray] = field(default_factory=dict)
    # Per series: a short description of the form actually used (e.g. "ETS(A,Ad,A)").
    forms: tuple[str, ...] = ()


def is_seasonal(n: int, season_length: int) -> bool:
    """Whether a series of n points can carry a seasonal model."""
    return season_length > 1 and n >= SEASONS_NEEDED * season_length


def z_value(level: float) -> float:
    return float(norm.ppf(0.5 + level / 200.0))


def _gaussian(mean: np.ndarray, sigma: np.ndarray, levels: Sequence[int]) -> tuple[dict, dict]:
    """Symmetric bounds mean -/+ z * sigma for each level (sigma has mean's shape)."""
    lower, upper = {}, {}
    for level in levels:
        z = z_value(level)
        lower[level] = mean - z * sigma
        upper[level] = mean + z * sigma
    return lower, upper


def _rms(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.sqrt(np.mean(x**2))) if len(x) else float("nan")


class _Model:
    name = "model"
    # A global model learns from all series of the panel at once.
    is_global = False

    def fit(self, panel: Panel) -> _Model:
        self.panel_ = panel
        return self

    def _check_fitted(self) -> Panel:
        panel = getattr(self, "panel_", None)
        if panel is None:
            raise RuntimeError(f"{type(self).__name__}.predict called before fit")
        return panel

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> PanelForecast:
        raise NotImplementedError


class Naive(_Model):
    """The last value, carried forward."""

    name = "naive"

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> PanelForecast:
        panel = self._check_fitted()
        steps = np.sqrt(np.arange(1, horizon + 1))
        mean = np.array([np.repeat(y[-1], horizon) for y in panel.values], dtype=float).reshape(len(panel), horizon)
        if not levels:
            return PanelForecast(mean, forms=("naive",) * len(panel))
        sigma = np.array([_rms(np.diff(y)) for y in panel.values])[:, None] * steps
        return PanelForecast(mean, *_gaussian(mean, sigma, levels), forms=("naive",) * len(panel))


class SeasonalNaive(_Model):
    """The value one season earlier; the plain naive forecast when under two seasons of data."""

    name = "seasonal_naive"

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> PanelForecast:
        panel = self._check_fitted()
        m = panel.season_length
        k = len(panel)
        mean = np.empty((k, horizon))
        sigma = np.empty((k, horizon))
        forms = []
        ahead = np.arange(horizon)
        for i, y in enumerate(panel.values):
            n = len(y)
            if is_seasonal(n, m):
                mean[i] = y[n - m + ahead % m]
                sigma[i] = _rms(y[m:] - y[:-m]) * np.sqrt(ahead // m + 1)
                forms.append("seasonal naive")
            else:
                mean[i] = y[-1]
                sigma[i] = _rms(np.diff(y)) * np.sqrt(ahead + 1)
                forms.append("naive")
        if not levels:
            return PanelForecast(mean, forms=tuple(forms))
        return PanelForecast(mean, *_gaussian(mean, sigma, levels), forms=tuple(forms))


class MovingAverage(_Model):
    """The mean of the last `window` values (default: one season, or 3 for non-seasonal data)."""

    name = "moving_average"

    def __init__(self, window: int | None = None):
        self.window = window

    def _width(self, m: int, n: int) -> int:
        return max(1, min(self.window or (m if m > 1 else 3), n))

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> PanelForecast:
        panel = self._check_fitted()
        k = len(panel)
        mean = np.empty((k, horizon))
        sigma = np.empty((k, horizon))
        forms = []
        for i, y in enumerate(panel.values):
            w = self._width(panel.season_length, len(y))
            mean[i] = y[-w:].mean()
            forms.append(f"mean of last {w}")
            if levels:
                sigma[i] = self._sigma(y, w, horizon)
        if not levels:
            return PanelForecast(mean, forms=tuple(forms))
        return PanelForecast(mean, *_gaussian(mean, sigma, levels), forms=tuple(forms))

    @staticmethod
    def _sigma(y: np.ndarray, w: int, horizon: int) -> np.ndarray:
        """Per-horizon RMS of the errors this rule made from each earlier origin."""
        n = len(y)
        csum = np.concatenate([[0.0], np.cumsum(y)])
        origins = np.arange(w, n)  # forecast made after seeing y[:o]
        averages = (csum[origins] - csum[origins - w]) / w
        sigma = np.full(horizon, np.nan)
        for j in range(horizon):
            usable = origins + j < n
            if usable.sum() >= 3:
                sigma[j] = _rms(y[origins[usable] + j] - averages[usable])
        known = np.flatnonzero(np.isfinite(sigma))
        if len(known) == 0:  # too short to measure: fall back to the random-walk width
            return _rms(np.diff(y)) * np.sqrt(np.arange(1, horizon + 1))
        last = known[-1]
        tail = np.arange(last + 1, horizon)
        sigma[tail] = sigma[last] * np.sqrt((tail + 1) / (last + 1))
        return np.maximum.accumulate(sigma)  # an interval never narrows further ahead


# -- exponential smoothing ----------------------------------------------------------
# Every form of the classic ETS taxonomy without multiplicative trends: trend none, additive or
# additive damped; season none, additive or multiplicative (only for series that pass the
# seasonality screen); additive or multiplicative errors (multiplicative ones for positive
# series only). Additive errors with a multiplicative season are left out: numerically
# unstable, as in R's forecast::ets. 6 forms a non-seasonal series, 15 a seasonal one.
ETS_TRENDS = ((None, False), ("add", False), ("add", True))


def one_blas_thread():
    """Run BLAS single-threaded: statsmodels' optimiser makes thousands of tiny BLAS calls,
    and waking OpenBLAS threads for each costs far more than the work (5-10x slower ETS
    fits on a busy 2-core machine, measured)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as is
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def ets_label(spec: tuple) -> str:
    error, trend, damped, seasonal = spec
    letter = {"add": "A", "mul": "M", None: "N"}
    return f"ETS({letter[error]},{letter[trend]}{'d' if damped else ''},{letter[seasonal]})"


def looks_seasonal(y: np.ndarray, m: int) -> bool:
    """A cheap screen: positive autocorrelation at lag m of the period-to-period changes.

    Differencing first keeps a trend from masking the seasonal pattern. Series that fail
    the screen are fitted with non-seasonal forms only (fewer fits, less overfitting).
    """
    if not is_seasonal(len(y), m):
        return False
    d = np.diff(y)
    d = d - d.mean()
    denom = float(np.dot(d, d))
    if denom <= 0:
        return False
    r_m = float(np.dot(d[m:], d[:-m])) / denom
    return r_m > 1.645 / np.sqrt(len(d))


def ets_candidates(y: np.ndarray, m: int) -> list[tuple]:
    """The ETS forms (error, trend, damped, season) to compare by AICc for one series."""
    if len(y) < 10:  # too short for statsmodels' heuristic start: few parameters only
        return [("add", None, False, None), ("add", "add", True, None)]
    positive = bool(np.min(y) > 0)
    seasons: list[str | None] = [None]
    if looks_seasonal(y, m) and len(y) >= 10 + 2 * (m // 2):
        seasons += ["add", "mul"] if positive else ["add"]
    errors = ("add", "mul") if positive else ("add",)
    return [
        (error, trend, damped, season)
        for trend, damped in ETS_TRENDS
        for season in seasons
        for error in errors
        if not (error == "add" and season == "mul")
    ]


def _fit_spec(series, spec: tuple, m: int, init: str):
    """(model, params, AICc) for one ETS form, or None when statsmodels cannot fit it."""
    from statsmodels.tools.eval_measures import aicc
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    error, trend, damped, seasonal = spec
    try:
        model = ETSModel(
            series,
            error=error,
            trend=trend,
            damped_trend=damped,
            seasonal=seasonal,
            seasonal_periods=m if seasonal else None,
            initialization_method=init,
        )
        # Parameters only: statsmodels' full results object costs as much again as the fit.
        params = model.fit(disp=False, maxiter=200, return_params=True)
        # The criterion of ETSResults.aicc: free parameters plus the error variance.
        ic = aicc(model.loglike(params), model.nobs, model.k_params + 1)
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
        return None
    return (model, params, ic) if np.isfinite(ic) else None


def fit_ets(y: np.ndarray, m: int):
    """The ETS fit with the lowest AICc, as (results, spec); None if no form can be fitted."""
    import pandas as pd

    series = pd.Series(np.asarray(y, dtype=float))  # statsmodels' prediction needs an index
    init = "heuristic" if len(y) >= 10 else "estimated"
    best: tuple | None = None
    best_spec: tuple | None = None
    for spec in ets_candidates(series.to_numpy(), m):
        fitted = _fit_spec(series, spec, m, init)
        if fitted and (best is None or fitted[2] < best[2]):
            best, best_spec = fitted, spec
    if best is None or best_spec is None:
        return None
    model, params, _ = best
    result = model.smooth(params)
    return (result, best_spec) if np.all(np.isfinite(result.fittedvalues)) else None


def ets_forecast(y: np.ndarray, m: int, horizon: int, levels: Sequence[int]) -> tuple | None:
    """Fit ETS to one series and forecast: (mean, {level: (lo, hi)}, label), or None if no form fits.

    A pure function of its arguments so that worker processes can run it.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fitted = fit_ets(y, m)
        if fitted is None:
            return None
        result, spec = fitted
        n = len(y)
        bounds = {}
        if levels:
            prediction = result.get_prediction(start=n, end=n + horizon - 1, rng=np.random.default_rng(0))
            point = np.asarray(prediction.predicted_mean, dtype=float)
            for lv in levels:
                frame = prediction.summary_frame(alpha=1 - lv / 100)
                bounds[lv] = (frame["pi_lower"].to_numpy(float), frame["pi_upper"].to_numpy(float))
        else:
            point = np.asarray(result.forecast(horizon), dtype=float)
    finite = np.all(np.isfinite(point)) and all(np.all(np.isfinite(np.r_[lo, hi])) for lo, hi in bounds.values())
    return (point, bounds, ets_label(spec)) if finite else None


def _series_chunk(kind: str, values: Sequence[np.ndarray], m: int, horizon: int, levels: Sequence[int]) -> list:
    forecaster = SERIES_FORECASTERS[kind]
    with one_blas_thread():
        return [forecaster(y, m, horizon, levels) for y in values]


# -- Theta ---------------------------------------------------------------------------------
def theta_forecast(y: np.ndarray, m: int, horizon: int, levels: Sequence[int]) -> tuple | None:
    """Theta method (statsmodels ThetaModel, theta = 2) on one series: (mean, bounds, label) or None."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y = np.asarray(y, dtype=float)
    if len(y) < 4:
        return None
    seasonal = looks_seasonal(y, m)
    method = "multiplicative" if seasonal and np.min(y) > 0 else "additive"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            result = ThetaModel(y, period=m if seasonal else 1, deseasonalize=seasonal, method=method).fit()
            point = np.asarray(result.forecast(horizon), dtype=float)
            # ThetaModel.prediction_intervals' own formula (the integrated MA of its SES part),
            # computed once for all levels: the method re-forecasts on every call.
            alpha = float(result.params.iloc[1])
            sigma = np.sqrt((1 + np.arange(horizon) * (1 + (alpha - 1) ** 2)) * float(result.sigma2))
            bounds = {lv: (point - z_value(lv) * sigma, point + z_value(lv) * sigma) for lv in levels}
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            return None
    label = "Theta (seasonally adjusted)" if seasonal else "Theta"
    return (point, bounds, label) if _finite(point, bounds) else None


def _finite(point: np.ndarray, bounds: dict) -> bool:
    return bool(np.all(np.isfinite(point)) and all(np.all(np.isfinite(np.r_[lo, hi])) for lo, hi in bounds.values()))


# -- ARIMA ---------------------------------------------------------------------------------
ARIMA_ORDERS = ((0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (0, 2))  # (p, q): p + q <= 2
ARIMA_SEASONAL = ((1, 0), (0, 1))  # (P, Q), tried on the best (p, q)
ARIMA_MAX_SEASON = 12  # longer seasons (weekly data) get seasonal differences no ARMA terms


def differences(y: np.ndarray, most: int = 2) -> int:
    """How many differences make y look stationary by KPSS (5%), as auto.arima does."""
    from statsmodels.tsa.stattools import kpss

    d = 0
    while d < most and len(y) > 8:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # KPSS warns when its p-value is outside its table
            try:
                p_value = kpss(y, regression="c", nlags="auto")[1]
            except (ValueError, OverflowError, ZeroDivisionError):
                break
        if p_value >= 0.05:
            break
        y = np.diff(y)
        d += 1
    return d


def _fit_arima(y: np.ndarray, order: tuple, seasonal: tuple, trend: str | None):
    """(parameters, AICc) for one SARIMAX order, or None when it cannot be fitted.

    Estimated on the differenced series (statsmodels' simple differencing) with the variance
    concentrated out: 3-4x faster than the full state-space fit and the same estimates to
    the optimiser's tolerance. Orders are compared only at equal differences, so the
    likelihoods stand on the same data.
    """
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    try:
        model = SARIMAX(
            y, order=order, seasonal_order=seasonal, trend=trend, simple_differencing=True, concentrate_scale=True
        )
        # A looser stopping rule than scipy's default: the criterion moves by under 0.5, the
        # forecasts by far less than their intervals, in a third less time.
        result = model.fit(disp=False, method="lbfgs", maxiter=60, factr=1e10, pgtol=1e-4)
    except (ValueError, np.linalg.LinAlgError, ZeroDivisionError, IndexError):
        return None
    ic = float(result.aicc)
    return (np.asarray(result.params), ic) if np.isfinite(ic) else None


def _arima_bands(y: np.ndarray, spec: tuple, trend: str | None, params: np.ndarray, horizon: int, levels):
    """Forecast and bounds of the chosen order on the original scale: the full model run with
    the estimated parameters (one filtering pass, no optimisation)."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    model = SARIMAX(y, order=spec[0], seasonal_order=spec[1], trend=trend, concentrate_scale=True)
    forecast = model.filter(params).get_forecast(horizon)
    point = np.asarray(forecast.predicted_mean, dtype=float)
    bounds = {}
    for lv in levels:
        band = np.asarray(forecast.conf_int(alpha=1 - lv / 100), dtype=float)
        bounds[lv] = (band[:, 0], band[:, 1])
    return point, bounds


def arima_forecast(y: np.ndarray, m: int, horizon: int, levels: Sequence[int]) -> tuple | None:
    """SARIMAX with its order chosen by AICc on one series: (mean, bounds, label) or None."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n < 8:
        return None
    seasonal = 1 < m <= ARIMA_MAX_SEASON and n >= 3 * m and looks_seasonal(y, m)
    big_d = 1 if seasonal else 0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        d = differences(y[m:] - y[:-m] if big_d else y, most=2 - big_d)
        trend = "c" if d + big_d < 2 else None
        base = (0, big_d, 0, m) if seasonal else (0, 0, 0, 0)
        best: tuple | None = None
        spec: tuple = ((0, d, 0), base)
        for p, q in ARIMA_ORDERS:
            fitted = _fit_arima(y, (p, d, q), base, trend)
            if fitted and (best is None or fitted[1] < best[1]):
                best, spec = fitted, ((p, d, q), base)
        if best is not None and seasonal:
            for big_p, big_q in ARIMA_SEASONAL:
                fitted = _fit_arima(y, spec[0], (big_p, big_d, big_q, m), trend)
                if fitted and fitted[1] < best[1]:
                    best, spec = fitted, (spec[0], (big_p, big_d, big_q, m))
        if best is None:
            return None
        try:
            point, bounds = _arima_bands(y, spec, trend, best[0], horizon, levels)
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError, IndexError):
            return None
    (p, d, q), (big_p, big_d, big_q, _) = spec
    label = f"ARIMA({p},{d},{q})" + (f"({big_p},{big_d},{big_q})[{m}]" if seasonal else "")
    return (point, bounds, label) if _finite(point, bounds) else None


SERIES_FORECASTERS = {"ets": ets_forecast, "theta": theta_forecast, "arima": arima_forecast}


_POOLS: dict[int, object] = {}
_POOLS_LOCK = threading.Lock()


def worker_pool(workers: int):
    """A process pool kept for the life of the process (spawned once: fork is unsafe next to
    LightGBM's OpenMP threads and Streamlit's threads)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with _POOLS_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        return _POOLS[workers]


class _PerSeries(_Model):
    """A statistical model fitted series by series (`SERIES_FORECASTERS[name]`).

    Fitting is per series and independent, so it happens in `predict` (where the horizon is
    known), in `n_jobs` worker processes when asked: one call returns finished forecasts.
    A series the model cannot fit gets the naive forecast, and its form says so.
    """

    label = "model"

    def __init__(self, n_jobs: int = 1):
        self.n_jobs = n_jobs

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> PanelForecast:
        panel = self._check_fitted()
        outcomes = self._run(panel, horizon, tuple(levels))
        k = len(panel)
        mean = np.empty((k, horizon))
        lower = {lv: np.empty((k, horizon)) for lv in levels}
        upper = {lv: np.empty((k, horizon)) for lv in levels}
        forms = []
        fallback = Naive().fit(panel).predict(horizon, levels)
        for i, outcome in enumerate(outcomes):
            if outcome is None:  # the model could not be fitted, or it forecast nonsense: use naive and say so
                mean[i] = fallback.mean[i]
                for lv in levels:
                    lower[lv][i], upper[lv][i] = fallback.lower[lv][i], fallback.upper[lv][i]
                forms.append(f"naive ({self.label} could not be fitted)")
                continue
            point, bounds, label = outcome
            mean[i] = point
            for lv, (lo, hi) in bounds.items():
                lower[lv][i], upper[lv][i] = lo, hi
            forms.append(label)
        return PanelForecast(mean, lower, upper, tuple(forms))

    def _run(self, panel: Panel, horizon: int, levels: tuple[int, ...]) -> list:
        m = panel.season_length
        if self.n_jobs <= 1 or len(panel) < 2 * self.n_jobs:
            return _series_chunk(self.name, panel.values, m, horizon, levels)
        # Several small chunks per worker even out series that take longer to fit.
        chunks = np.array_split(np.arange(len(panel)), 4 * self.n_jobs)
        pool = worker_pool(self.n_jobs)
        futures = [
            pool.submit(_series_chunk, self.name, [panel.values[i] for i in c], m, horizon, levels) for c in chunks
        ]
        return [outcome for f in futures for outcome in f.result()]


class ETS(_PerSeries):
    """statsmodels ETSModel per series; additive/multiplicative, damped or not, chosen by AICc."""

    name = "ets"
    label = "ETS"


class Theta(_PerSeries):
    """The Theta method per series (statsmodels ThetaModel), deseasonalised when seasonal."""

    name = "theta"
    label = "Theta"


class ARIMA(_PerSeries):
    """statsmodels SARIMAX per series, order chosen by AICc over a small grid."""

    name = "arima"
    label = "ARIMA"


# -- combination --------------------------------------------------------------------------------
COMBINED = ("ets", "theta", "arima")


def combine(members: Sequence[PanelForecast], levels: Sequence[int]) -> PanelForecast:
    """The median of the members' forecasts, and per level the median of their bounds.

    With three members the median is the middle forecast: one member's bad miss (a trend
    run away, a season missed) never moves the combination.
    """
    mean = np.median(np.stack([f.mean for f in members]), axis=0)
    lower = {lv: np.minimum(np.median(np.stack([f.lower[lv] for f in members]), axis=0), mean) for lv in levels}
    upper = {lv: np.maximum(np.median(np.stack([f.upper[lv] for f in members]), axis=0), mean) for lv in levels}
    forms = tuple("median of " + ", ".join(parts) for parts in zip(*(f.forms for f in members), strict=True))
    return PanelForecast(mean, lower, upper, forms)


class Combination(_Model):
    """The median of ETS, Theta and ARIMA per series (each fitted as on its own)."""

    name = "combination"

    def __init__(self, n_jobs: int = 1):
        self.n_jobs = n_jobs

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> PanelForecast:
        panel = self._check_fitted()
        members = [make_model(name, self.n_jobs).fit(panel).predict(horizon, levels) for name in COMBINED]
        return combine(members, levels)


# -- LightGBM ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Design:
    """Which past values the LightGBM features read, for one season length."""

    season_length: int

    @property
    def lags(self) -> int:
        return min(max(2 * self.season_length, 4), 12)

    @property
    def seasonal_lag(self) -> int:
        m = self.season_length
        return m if m > self.lags else 0

    @property
    def level_window(self) -> int:
        return max(self.season_length, 4)

    @property
    def width(self) -> int:
        """Past levels needed to build one row (one more than the changes read)."""
        return max(self.lags, self.seasonal_lag, self.level_window) + 1


def _nanmean(x: np.ndarray) -> np.ndarray:
    count = np.sum(np.isfinite(x), axis=1)
    total = np.nansum(x, axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _features(levels: np.ndarray, scale: np.ndarray, position: np.ndarray, design: _Design) -> np.ndarray:
    """One row per history window (rows x width past levels, NaN where unknown).

    Features: the last `lags` scaled changes, the change one season back, the gap between
    the last level and the recent mean (scaled), the recent mean change, the season position.
    """
    changes = np.diff(levels, axis=1) / scale[:, None]
    columns = [changes[:, ::-1][:, : design.lags]]
    if design.seasonal_lag:
        columns.append(changes[:, -design.seasonal_lag][:, None])
    recent = levels[:, -design.level_window :]
    columns.append(((levels[:, -1] - _nanmean(recent)) / scale)[:, None])
    columns.append(_nanmean(changes[:, -design.lags :])[:, None])
    m = design.season_length
    columns.append(((position % m) if m > 1 else np.zeros_like(position))[:, None].astype(float))
    return np.hstack(columns)


def _scale(y: np.ndarray) -> float:
    """Typical one-step change: puts every series on one footing for the global model."""
    s = float(np.mean(np.abs(np.diff(y)))) if len(y) > 1 else 0.0
    if not np.isfinite(s) or s <= 0:
        s = float(np.mean(np.abs(y))) if len(y) else 0.0
    return s if np.isfinite(s) and s > 0 else 1.0


def _training_rows(panel: Panel, scales: np.ndarray, design: _Design) -> tuple[np.ndarray, np.ndarray]:
    w = design.width
    xs, ts = [], []
    for y, s, start in zip(panel.values, scales, panel.positions, strict=True):
        n = len(y)
        if n < 3:
            continue
        padded = np.concatenate([np.full(w, np.nan), y])
        windows = np.lib.stride_tricks.sliding_window_view(padded, w)[:n]  # row t: levels before t
        t = np.arange(2, n)  # rows with at least one past change
        xs.append(_features(windows[t], np.full(len(t), s), start + t, design))
        ts.append((y[t] - y[t - 1]) / s)
    if not xs:
        return np.empty((0, 0)), np.empty(0)
    return np.vstack(xs), np.concatenate(ts)


def _recursive(booster, histories: Sequence[np.ndarray], scales: np.ndarray, next_positions: np.ndarray,
               horizon: int, design: _Design) -> np.ndarray:  # fmt: skip
    """Forecast every history `horizon` steps, feeding each prediction back as a lag."""
    w = design.width
    levels = np.full((len(histories), w), np.nan)
    for r, y in enumerate(histories):
        tail = y[-w:]
        levels[r, w - len(tail) :] = tail
    out = np.empty((len(histories), horizon))
    for step in range(horizon):
        x = _features(levels, scales, next_positions + step, design)
        change = booster.predict(x, num_threads=1)
        nxt = levels[:, -1] + change * scales
        out[:, step] = nxt
        levels = np.column_stack([levels[:, 1:], nxt])
    return out


# LightGBM runs single-threaded: on a shared 2-core machine its OpenMP threads spin and
# made training 10x slower than one thread in measurements (0.5 s vs 6.8 s on 25k rows).


CALIBRATION_PRIOR = 20  # pseudo-errors of the pooled size added to each series' own


class LightGBM(_Model):
    """One LightGBM model for all series, forecasting scaled changes recursively."""

    name = "lightgbm"
    is_global = True

    def __init__(
        self,
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        seed: int = 0,
        params: dict | None = None,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.seed = seed
        self.params = params or {}

    def _train(self, panel: Panel):
        import lightgbm as lgb

        design = _Design(panel.season_length)
        scales = np.array([_scale(y) for y in panel.values])
        x, target = _training_rows(panel, scales, design)
        if len(target) < 8:
            return None, scales, design
        params = {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            # Shallow trees on little data (one short series); fuller ones across many series.
            "num_leaves": self.num_leaves if len(target) >= 2000 else min(self.num_leaves, 4),
            "min_data_in_leaf": int(max(3, min(20, len(target) // 50))),
            "lambda_l2": 1.0,
            "verbose": -1,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            **self.params,
        }
        booster = lgb.train(params, lgb.Dataset(x, target, free_raw_data=True), num_boost_round=self.n_estimators)
        return booster, scales, design

    def fit(self, panel: Panel) -> LightGBM:
        self.panel_ = panel
        self.booster_, self.scales_, self.design_ = self._train(panel)
        return self

    def predict(self, horizon: int, levels: Sequence[int] = ()) -> PanelForecast:
        panel = self._check_fitted()
        if self.booster_ is None:  # too little data for trees: say so through the form
            naive = Naive().fit(panel).predict(horizon, levels)
            return PanelForecast(
                naive.mean, naive.lower, naive.upper, ("naive (too little data for LightGBM)",) * len(panel)
            )
        next_positions = np.array([p + len(y) for p, y in zip(panel.positions, panel.values, strict=True)])
        mean = _recursive(self.booster_, panel.values, self.scales_, next_positions, horizon, self.design_)
        forms = ("lightgbm",) * len(panel)
        if not levels:
            return PanelForecast(mean, forms=forms)
        unit_sigma = self._calibrate(panel, horizon)
        steps = np.sqrt(np.arange(1, horizon + 1))
        sigma = (unit_sigma * self.scales_)[:, None] * steps
        return PanelForecast(mean, *_gaussian(mean, sigma, levels), forms=forms)

    def _calibrate(self, panel: Panel, horizon: int) -> np.ndarray:
        """Per series, the one-step-equivalent error size (in units of the series' scale)."""
        k = len(panel)
        lengths = panel.lengths
        held = np.minimum(horizon, lengths // 3)
        rows = [i for i in range(k) if held[i] >= 1 and lengths[i] - held[i] >= 4]
        fallback = np.array([_rms(np.diff(y)) / s for y, s in zip(panel.values, self.scales_, strict=True)])
        if not rows:
            return fallback
        cut = panel.window(rows, [0] * len(rows), [lengths[i] - held[i] for i in rows])
        booster, scales, design = self._train(cut)
        if booster is None:
            return fallback
        histories, hist_scales, positions, owners, origins = [], [], [], [], []
        for r, i in enumerate(rows):
            y = panel.values[i]
            for origin in range(lengths[i] - held[i], lengths[i]):
                histories.append(y[:origin])
                hist_scales.append(scales[r])  # the calibration model's own scale
                positions.append(panel.positions[i] + origin)
                owners.append(i)
                origins.append(origin)
        steps = int(held[rows].max())
        paths = _recursive(booster, histories, np.array(hist_scales), np.array(positions), steps, design)
        errors: dict[int, list[np.ndarray]] = {}
        for path, i, origin in zip(paths, owners, origins, strict=True):
            ahead = np.arange(min(steps, lengths[i] - origin))
            actual = panel.values[i][origin + ahead]
            errors.setdefault(i, []).append((actual - path[ahead]) / np.sqrt(ahead + 1))
        # Mean squared one-step-equivalent error per series, in units of the series' scale.
        squares = {i: np.concatenate(parts) ** 2 / self.scales_[i] ** 2 for i, parts in errors.items()}
        squares = {i: sq[np.isfinite(sq)] for i, sq in squares.items()}
        squares = {i: sq for i, sq in squares.items() if len(sq)}
        if not squares:
            return fallback
        # One series' few (and overlapping) errors give a noisy width; shrink each towards the
        # panel's pooled value, as if it had CALIBRATION_PRIOR errors of the pooled size.
        pooled = float(np.mean(np.concatenate(list(squares.values()))))
        out = fallback.copy()
        for i, sq in squares.items():
            out[i] = np.sqrt((sq.sum() + CALIBRATION_PRIOR * pooled) / (len(sq) + CALIBRATION_PRIOR))
        return out


MODEL_CLASSES: dict[str, type[_Model]] = {
    Naive.name: Naive,
    SeasonalNaive.name: SeasonalNaive,
    MovingAverage.name: MovingAverage,
    ETS.name: ETS,
    Theta.name: Theta,
    ARIMA.name: ARIMA,
    LightGBM.name: LightGBM,
    Combination.name: Combination,
}


MODELS = tuple(MODEL_CLASSES)  # naive, seasonal_naive, moving_average, ets, theta, arima, lightgbm, combination
# The models in words, for explanations people read.
MODEL_WORDS = {
    "naive": "Naive (last value)",
    "seasonal_naive": "Seasonal naive",
    "moving_average": "Moving average",
    "ets": "Exponential smoothing",
    "theta": "Theta",
    "arima": "ARIMA",
    "lightgbm": "Machine learning",
    "combination": "Combination of exponential smoothing, Theta and ARIMA",
    "auto": "Automatic choice",
}
AUTO = "auto"  # per series, the model a backtest finds most accurate (engine.forecasting.auto)
# Preference among equally accurate models: the simpler one.
MODEL_ORDER = {name: rank for rank, name in enumerate((*MODELS, AUTO))}
PARALLEL_FROM = 200  # series; below this, worker start-up costs more than it saves


def check_models(model: str | Sequence[str]) -> tuple[str, ...]:
    """The model names asked for, known and without repeats (BadInputError otherwise)."""
    names = (model,) if isinstance(model, str) else tuple(model)
    known = (*MODELS, AUTO)
    unknown = [m for m in names if m not in known]
    if not names or unknown:
        raise BadInputError(
            f"Unknown model {', '.join(map(repr, unknown)) or '(none)'}; choose from {', '.join(known)}."
        )
    return tuple(dict.fromkeys(names))


def make_model(name: str, n_jobs: int = 1) -> _Model:
    """A fresh model by name; the per-series statistical models fit in `n_jobs` worker processes."""
    cls = MODEL_CLASSES[name]
    return cls(n_jobs=n_jobs) if issubclass(cls, _PerSeries | Combination) else cls()


def fit_predict(
    name: str,
    panel: Panel,
    horizon: int,
    levels: Sequence[int],
    n_jobs: int = 1,
    done: dict[str, PanelForecast] | None = None,
) -> PanelForecast:
    """Fit `name` on `panel` and forecast. `done` holds forecasts already made on this very
    panel (same horizon and levels): the combination is then built from its members'."""
    if name == Combination.name and done is not None and all(m in done for m in COMBINED):
        return combine([done[m] for m in COMBINED], levels)
    return make_model(name, n_jobs).fit(panel).predict(horizon, levels)


def workers(n_jobs: int | None, series: int) -> int:
    """ETS worker processes: as asked, else for PARALLEL_FROM+ series as many as the model-threads
    policy allows (`model_threads`: RADAR_THREADS, default 2, never more than the cores)."""
    if n_jobs is None:
        return model_threads() if series >= PARALLEL_FROM else 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs <= 0:
        raise BadInputError(f"n_jobs must be a whole number of processes above 0, not {n_jobs!r}.")
    return int(n_jobs)
