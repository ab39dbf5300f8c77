"""Time-series forecasts and backtests on long frames.

Contract (DESIGN.md): `unique_id, ds, y` in (several series per frame, one regular
frequency inferred from the dates); `unique_id, ds, <model>, <model>-lo-<level>,
<model>-hi-<level>` out. Input is validated on entry and every problem is a
`BadInputError` naming the column, series or date and the fix.

Models (details and how each builds its intervals: `engine.forecasting.models`):
`naive`, `seasonal_naive`, `moving_average`, `ets` (statsmodels, chosen by AICc),
`lightgbm` (one global model, recursive), and `auto`: per series, the model with the
lowest MASE in an expanding-origin backtest on that series' own history (ETS unless
another model is clearly better), refitted on all of it; its intervals are the chosen
model's own, widened where that model's backtest errors were larger. Series shorter than
two seasons get non-seasonal forms, and the result says so.

Entry points: `forecast()` -> `ForecastResult`, `backtest()` -> `BacktestResult`,
`validate_frame()`, `infer_frequency()`, `read_frame_file()`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.errors import BadInputError
from engine.forecasting.models import MODEL_CLASSES, Panel, PanelForecast, is_seasonal, z_value

MODELS = tuple(MODEL_CLASSES)  # naive, seasonal_naive, moving_average, ets, lightgbm
AUTO = "auto"
LEVELS = (80, 95)
REQUIRED_COLUMNS = ("unique_id", "ds", "y")
MIN_POINTS = 3  # fewer dates cannot show a frequency
MIN_TRAIN = 6  # shortest history a backtest fold trains on
AUTO_FOLDS = 5
MIN_BACKTEST_ERRORS = 6  # fewer out-of-sample errors say too little to widen an interval on
AUTO_MARGIN = 0.10  # how much lower (relative) another model's backtest MASE must be to replace ETS
PARALLEL_FROM = 200  # series; below this, worker start-up costs more than it saves
# Preference among equally accurate models: the simpler one.
MODEL_ORDER = {name: rank for rank, name in enumerate((*MODELS, AUTO))}


# -- frequency -------------------------------------------------------------------------
@dataclass(frozen=True)
class Frequency:
    """The regular step of a frame's dates: pandas alias, season length and a word for people."""

    alias: str
    season_length: int
    label: str


# Periods per season by pandas offset prefix (longest prefixes first), with words for people.
_SEASONS = (
    ("SM", 24, "semi-monthly", "half-month"),
    ("BQ", 4, "quarterly", "quarter"),
    ("BY", 1, "yearly", "year"),
    ("BM", 12, "monthly", "month"),
    ("Y", 1, "yearly", "year"),
    ("Q", 4, "quarterly", "quarter"),
    ("M", 12, "monthly", "month"),
    ("W", 52, "weekly", "week"),
    ("D", 7, "daily", "day"),
    ("B", 5, "business-daily", "business day"),
    ("C", 5, "business-daily", "business day"),
    ("h", 24, "hourly", "hour"),
)


def frequency_from_alias(alias: str, season_length: int | None = None) -> Frequency:
    """Frequency for a pandas alias; the season length follows the calendar unless given."""
    offset = pd.tseries.frequencies.to_offset(alias)
    base, label, unit = 1, f"every {offset.freqstr}", offset.freqstr
    for prefix, periods, word, unit_word in _SEASONS:
        if offset.rule_code.startswith(prefix):
            base, label, unit = periods, word, unit_word
            break
    if offset.n > 1:  # e.g. every 2 months: 6 periods a year
        base = base // offset.n if base % offset.n == 0 else 1
        label = f"every {offset.n} {unit}s"
    if season_length is not None:
        base = _check_positive(season_length, "season_length")
    return Frequency(alias=offset.freqstr, season_length=base, label=label)


def infer_frequency(frame: pd.DataFrame, season_length: int | None = None) -> Frequency:
    """The one regular frequency shared by every series of a validated frame.

    Raises BadInputError for gaps, irregular steps or series on different frequencies.
    """
    groups = {uid: pd.DatetimeIndex(g) for uid, g in frame.groupby("unique_id", sort=True)["ds"]}
    found = {uid: _infer_alias(ds) for uid, ds in groups.items() if len(ds) >= MIN_POINTS}
    aliases = {a for a in found.values() if a}
    if len(aliases) > 1:
        example = ", ".join(f"'{u}' is {a}" for u, a in list(found.items())[:4] if a)
        raise BadInputError(
            f"The series are on different frequencies ({example}). Put series with one frequency "
            "(e.g. all monthly) in one file."
        )
    if not aliases:
        longest = max(groups, key=lambda u: len(groups[u]))
        alias = _infer_alias(groups[longest][:MIN_POINTS]) if len(groups[longest]) >= MIN_POINTS else None
        if alias is None:
            dates = ", ".join(str(d.date()) for d in groups[longest][:4])
            raise BadInputError(
                f"Cannot tell the frequency of series '{longest}' (dates {dates} ...): dates must be "
                "evenly spaced, one per period, e.g. the first day of every month."
            )
    else:
        alias = aliases.pop()
    for uid, ds in groups.items():
        _check_on_grid(uid, ds, alias)
    return frequency_from_alias(alias, season_length)


def _infer_alias(dates: pd.DatetimeIndex) -> str | None:
    """pandas' frequency guess as an alias string (pandas 4 returns offsets; ask for that now)."""
    with pd.option_context("future.infer_freq_returns_offset", True):
        found = pd.infer_freq(dates)
    return found.freqstr if found is not None else None


def _check_on_grid(uid: str, ds: pd.DatetimeIndex, alias: str) -> None:
    expected = pd.date_range(ds[0], periods=len(ds), freq=alias)
    if len(ds) and expected[0] != ds[0]:
        raise BadInputError(
            f"Series '{uid}' starts on {ds[0].date()}, which is not on the {alias} grid the other dates "
            "follow; use the same day of the period for every date (e.g. always the 1st of the month)."
        )
    if not expected.equals(ds):
        bad = int(np.argmax(expected != ds))
        raise BadInputError(
            f"Series '{uid}' has irregular dates: after {ds[bad - 1].date()} comes {ds[bad].date()}, "
            f"but the next period is {expected[bad].date()}. Every series needs one row per period with "
            "no gaps; add the missing periods (e.g. y=0 for counts) or drop the series."
        )


# -- validation --------------------------------------------------------------------------
def validate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A clean copy of a long frame: unique_id (str), ds (datetime), y (float), sorted.

    Raises BadInputError on missing columns, unparseable dates, missing or non-numeric
    y, duplicate dates or series too short to show a frequency.
    """
    if not isinstance(frame, pd.DataFrame):
        raise BadInputError("Forecast input must be a table (DataFrame) with columns unique_id, ds, y.")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"Missing column(s) {', '.join(missing)}. Forecast input needs unique_id (series name), ds (date) "
            f"and y (number); found: {', '.join(map(str, frame.columns)) or 'no columns'}. Rename the columns."
        )
    if frame.empty:
        raise BadInputError("The forecast input has no rows.")
    df = frame[list(REQUIRED_COLUMNS)].copy()
    if df["unique_id"].isna().any():
        raise BadInputError(
            f"Column unique_id is empty in {int(df['unique_id'].isna().sum())} row(s); name every series."
        )
    df["unique_id"] = df["unique_id"].astype(str)
    df["ds"] = _parse_dates(df)
    df["y"] = _parse_numbers(df)
    duplicated = df.duplicated(["unique_id", "ds"], keep="first")
    if duplicated.any():
        row = df[duplicated].iloc[0]
        raise BadInputError(
            f"Series '{row['unique_id']}' has {int(duplicated.sum())} duplicate date(s), e.g. {row['ds'].date()} "
            "appears more than once. Keep one row per series and date (sum or average them first)."
        )
    df = df.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    sizes = df.groupby("unique_id", sort=True).size()
    short = sizes[sizes < MIN_POINTS]
    if len(short):
        raise BadInputError(
            f"Series '{short.index[0]}' has {int(short.iloc[0])} point(s); a forecast needs at least {MIN_POINTS} "
            f"dates per series ({len(short)} series too short)."
        )
    return df


def _parse_dates(df: pd.DataFrame) -> pd.Series:
    raw = df["ds"]
    if raw.isna().any():
        where = df.loc[raw.isna(), "unique_id"].iloc[0]
        raise BadInputError(f"Column ds is empty in {int(raw.isna().sum())} row(s) (first in series '{where}').")
    try:
        ds = pd.to_datetime(raw)
    except (ValueError, TypeError, OverflowError):
        bad = next((v for v in raw if _not_a_date(v)), raw.iloc[0])
        raise BadInputError(f"Column ds has a value that is not a date: {bad!r}. Use dates like 2024-01-31.") from None
    if getattr(ds.dt, "tz", None) is not None:
        ds = ds.dt.tz_localize(None)
    return ds


def _not_a_date(value) -> bool:
    try:
        pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return True
    return False


def _parse_numbers(df: pd.DataFrame) -> pd.Series:
    raw = df["y"]
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(float)
    y = pd.to_numeric(raw, errors="coerce")
    not_numbers = y.isna() & raw.notna()
    if not_numbers.any():
        row = df[not_numbers].iloc[0]
        raise BadInputError(
            f"Column y must hold numbers; series '{row['unique_id']}' has {row['y']!r} on {row['ds']} "
            f"({int(not_numbers.sum())} such value(s))."
        )
    y = y.astype(float)
    missing = ~np.isfinite(y.to_numpy())
    if missing.any():
        row = df[missing].iloc[0]
        raise BadInputError(
            f"Column y has {int(missing.sum())} missing or infinite value(s), first in series '{row['unique_id']}' "
            f"on {row['ds']}. Fill them (e.g. 0 for counts, or the previous value) or drop that series."
        )
    return y


def read_frame_file(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame (not yet validated)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"No file at {path}.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path, dtype={"unique_id": str})
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise BadInputError(f"Cannot read {path.name}: {str(exc).splitlines()[0]}") from None
    raise BadInputError(f"{path.name}: use a .csv or .parquet file.")


# -- results -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Out-of-sample accuracy by series and model.

    metrics: unique_id, model, folds, points, mae, rmse, smape (%), wape (%), mase, bias
      (mean forecast minus actual: positive = over-forecast), coverage_<level> (share of
      actuals inside the interval; only when intervals were asked for).
    winner: per series, the model with the lowest MASE (ties: the simpler model).
    folds: unique_id, cutoff (last date the fold trained on), ds, y and the forecast
      columns of the contract, one row per fold and date, for charts.
    """

    metrics: pd.DataFrame
    winner: dict[str, str]
    folds: pd.DataFrame
    horizon: int
    models: tuple[str, ...]
    levels: tuple[int, ...]
    frequency: Frequency
    notes: tuple[str, ...] = ()

    def summary(self) -> pd.DataFrame:
        """Per model, the mean of each metric across series (and how many series it wins)."""
        numeric = self.metrics.drop(columns=["unique_id"]).groupby("model", sort=False).mean(numeric_only=True)
        wins = pd.Series(self.winner).value_counts()
        numeric["wins"] = wins.reindex(numeric.index).fillna(0).astype(int)
        return numeric.reset_index()


@dataclass(frozen=True, eq=False)
class ForecastResult:
    """Forecasts in the contract's wide shape plus what was chosen and why.

    forecast: unique_id, ds, <model>, <model>-lo-<level>, <model>-hi-<level> per model asked.
    chosen: per series, the model behind the first column asked (for "auto": the winner).
    forms: unique_id, model, form: the form each model actually took (e.g. "ETS(A,Ad,A)",
      "naive" for a seasonal naive short of two seasons).
    notes: plain-language remarks (fallbacks, short series, the auto choice).
    selection: for "auto", the backtest the choice was made on.
    """

    forecast: pd.DataFrame
    models: tuple[str, ...]
    chosen: dict[str, str]
    forms: pd.DataFrame
    notes: tuple[str, ...]
    levels: tuple[int, ...]
    frequency: Frequency
    horizon: int
    history: pd.DataFrame
    selection: BacktestResult | None = None

    def simple(self, level: int | None = None, model: str | None = None) -> pd.DataFrame:
        """unique_id, ds, forecast, lo, hi for one model (default: the first) and level (default: the widest)."""
        model = model or self.models[0]
        level = level if level is not None else max(self.levels)
        if model not in self.models or level not in self.levels:
            raise BadInputError(f"This result has models {self.models} and levels {self.levels}.")
        out = self.forecast[["unique_id", "ds", model, f"{model}-lo-{level}", f"{model}-hi-{level}"]]
        return out.set_axis(["unique_id", "ds", "forecast", "lo", "hi"], axis=1).reset_index(drop=True)


# -- public entry points -------------------------------------------------------------------
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
    models = _check_models(model)
    horizon = _check_positive(horizon, "horizon")
    levels = _check_levels(levels)
    folds = _check_positive(folds, "folds")
    history = validate_frame(frame)
    frequency = infer_frequency(history, season_length)
    panel = _panel(history, frequency)
    n_jobs = _workers(n_jobs, len(panel))
    notes = _short_series_notes(panel, models)
    columns: dict[str, np.ndarray] = {}
    forms, chosen, selection = [], {}, None
    for name in models:
        if name == AUTO:
            result, picked, selection, auto_notes = _auto(
                panel, horizon, levels, folds, _series_dates(history), frequency, n_jobs
            )
            notes += auto_notes
        else:
            result = _fit_predict(name, panel, horizon, levels, n_jobs)
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
    models = _check_models(models)
    horizon = _check_positive(horizon, "horizon")
    folds = _check_positive(folds, "folds")
    step = _check_positive(step if step is not None else horizon, "step")
    levels = _check_levels(levels)
    if window not in ("expanding", "rolling"):
        raise BadInputError(f"window must be 'expanding' or 'rolling', not '{window}'.")
    if window_size is not None and (_check_positive(window_size, "window_size") < MIN_TRAIN):
        raise BadInputError(f"window_size must be at least {MIN_TRAIN} periods to train on, not {window_size}.")
    history = validate_frame(frame)
    frequency = infer_frequency(history, season_length)
    panel = _panel(history, frequency)
    need = MIN_TRAIN + horizon + step * (folds - 1)
    lengths = panel.lengths
    if lengths.min() < need:
        short = panel.ids[int(np.argmin(lengths))]
        raise BadInputError(
            f"Series '{short}' has {int(lengths.min())} points, but {folds} fold(s) of horizon {horizon}, "
            f"{step} apart, need at least {need} ({MIN_TRAIN} to train on). Use fewer folds, a shorter "
            "horizon or a smaller step."
        )
    dates = _series_dates(history)
    n_jobs = _workers(n_jobs, len(panel))
    return _backtest_panel(panel, dates, frequency, horizon, folds, step, models, levels, window, window_size, n_jobs)


def fitting_step(points: int, horizon: int, folds: int, season_length: int = 1) -> int:
    """The step between backtest origins for a series of `points` periods.

    Prefers folds that each train on at least two seasons (steps of up to `horizon`); when the
    history is too short for that, steps of one period, so every fold trains on as much as it
    can. Raises BadInputError when even one-period steps leave fewer than MIN_TRAIN points.
    """
    horizon, folds = _check_positive(horizon, "horizon"), _check_positive(folds, "folds")
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


# -- the runner ------------------------------------------------------------------------------
def _check_models(model: str | Sequence[str]) -> tuple[str, ...]:
    names = (model,) if isinstance(model, str) else tuple(model)
    known = (*MODELS, AUTO)
    unknown = [m for m in names if m not in known]
    if not names or unknown:
        raise BadInputError(
            f"Unknown model {', '.join(map(repr, unknown)) or '(none)'}; choose from {', '.join(known)}."
        )
    return tuple(dict.fromkeys(names))


def _check_positive(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise BadInputError(f"{what} must be a whole number of periods above 0, not {value!r}.")
    return int(value)


def _check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    levels = list(levels)
    whole = all(isinstance(lv, int | float | np.number) and float(lv).is_integer() for lv in levels)
    if not whole or not all(0 < lv < 100 for lv in levels):
        raise BadInputError(f"Interval levels are whole percentages between 1 and 99, e.g. 80 or 95; got {levels}.")
    return tuple(sorted({int(lv) for lv in levels}))


def _panel(history: pd.DataFrame, frequency: Frequency) -> Panel:
    grid = pd.date_range(history["ds"].min(), history["ds"].max(), freq=frequency.alias)
    ids, values, starts = [], [], []
    for uid, group in history.groupby("unique_id", sort=True):
        ids.append(str(uid))
        values.append(group["y"].to_numpy(dtype=float))
        starts.append(int(grid.get_indexer([group["ds"].iloc[0]])[0]))
    return Panel(tuple(ids), tuple(values), tuple(starts), frequency.season_length)


def _workers(n_jobs: int | None, series: int) -> int:
    if n_jobs is None:
        return min(2, os.cpu_count() or 1) if series >= PARALLEL_FROM else 1
    return _check_positive(n_jobs, "n_jobs")


def _make(name: str, n_jobs: int = 1):
    return MODEL_CLASSES[name](n_jobs=n_jobs) if name == "ets" else MODEL_CLASSES[name]()


def _fit_predict(name: str, panel: Panel, horizon: int, levels: Sequence[int], n_jobs: int = 1) -> PanelForecast:
    return _make(name, n_jobs).fit(panel).predict(horizon, levels)


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


def _name_some(ids: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(f"'{u}'" for u in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _short_series_notes(panel: Panel, models: Sequence[str]) -> list[str]:
    m = panel.season_length
    seasonal_models = {"seasonal_naive", "ets", "lightgbm", AUTO} & set(models)
    if m <= 1 or not seasonal_models:
        return []
    short = [uid for uid, y in zip(panel.ids, panel.values, strict=True) if not is_seasonal(len(y), m)]
    if not short:
        return []
    return [
        f"{len(short)} series shorter than two seasons ({2 * m} points) ({_name_some(short)}): seasonal models "
        "fell back to non-seasonal forms (seasonal naive became naive; ETS and LightGBM without a seasonal part)."
    ]


def _fallback_notes(forms: list[tuple[str, str, str]]) -> list[str]:
    by_reason: dict[str, list[str]] = {}
    for uid, _model, form in forms:
        if "could not" in form or "too little" in form:
            by_reason.setdefault(form, []).append(uid)
    return [f"{_name_some(ids)}: used {form}." for form, ids in by_reason.items()]


# -- backtesting ------------------------------------------------------------------------------
@dataclass
class _Points:
    """Fold forecasts gathered as flat columns (one entry per series, fold, step)."""

    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **arrays: np.ndarray) -> None:
        for key, values in arrays.items():
            self.columns.setdefault(key, []).append(np.asarray(values).ravel())

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: np.concatenate(v) for k, v in self.columns.items()})


def _mase_scale(train: np.ndarray, m: int) -> float:
    """In-sample mean absolute error of the seasonal naive (naive when under one season + 1)."""
    lag = m if m > 1 and len(train) > m else 1
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag]))) if len(train) > lag else 0.0
    if not scale > 0 and lag > 1:
        scale = float(np.mean(np.abs(np.diff(train))))
    return scale if scale > 0 else 1.0


def _series_dates(history: pd.DataFrame) -> dict[str, pd.DatetimeIndex]:
    return {str(uid): pd.DatetimeIndex(ds) for uid, ds in history.groupby("unique_id", sort=True)["ds"]}


def _backtest_panel(
    panel: Panel,
    dates: dict[str, pd.DatetimeIndex],
    frequency: Frequency,
    horizon: int,
    folds: int,
    step: int,
    models: Sequence[str],
    levels: Sequence[int],
    window: str = "expanding",
    window_size: int | None = None,
    n_jobs: int = 1,
) -> BacktestResult:
    """Run the folds; series too short for a fold simply sit that fold out."""
    lengths = panel.lengths
    points = _Points()
    sat_out: set[str] = set()
    for fold in range(folds):
        back = step * (folds - 1 - fold)
        origins = lengths - horizon - back
        rows = np.flatnonzero(origins >= MIN_TRAIN)
        if len(rows) < len(panel):
            sat_out.update(panel.ids[i] for i in np.flatnonzero(origins < MIN_TRAIN))
        if not len(rows):
            continue
        if window == "rolling":
            size = window_size or (lengths - horizon - step * (folds - 1))
            starts = np.maximum(0, origins - size)[rows]
        else:
            starts = np.zeros(len(rows), dtype=np.int64)
        train = panel.window(rows, starts, origins[rows])
        actual = np.vstack([panel.values[r][origins[r] : origins[r] + horizon] for r in rows])
        scales = np.array([_mase_scale(y, panel.season_length) for y in train.values])
        ids = np.array(train.ids, dtype=object)
        pairs = list(zip(train.ids, rows, strict=True))
        cutoffs = np.array([dates[u][origins[r] - 1] for u, r in pairs])
        ds = np.vstack([dates[u][origins[r] : origins[r] + horizon].to_numpy() for u, r in pairs])
        base = {
            "unique_id": np.repeat(ids, horizon),
            "fold": np.full(len(rows) * horizon, fold),
            "cutoff": np.repeat(cutoffs, horizon),
            "ds": ds,
            "y": actual,
            "scale": np.repeat(scales, horizon),
            "step": np.tile(np.arange(1, horizon + 1), len(rows)),
        }
        for name in models:
            if name == AUTO:
                fold_dates = {u: dates[u][s:] for u, s in zip(train.ids, starts, strict=True)}
                result, _, _, _ = _auto(train, horizon, levels, AUTO_FOLDS, fold_dates, frequency, n_jobs)
            else:
                result = _fit_predict(name, train, horizon, levels, n_jobs)
            arrays = {"model": np.full(len(rows) * horizon, name, dtype=object), "forecast": result.mean}
            for lv in levels:
                arrays[f"lo-{lv}"] = result.lower[lv]
                arrays[f"hi-{lv}"] = result.upper[lv]
            points.add(**base, **arrays)
    if not points.columns:  # every series too short for any fold
        empty = {"unique_id": [], "model": [], "fold": [], "cutoff": [], "ds": [], "y": [], "scale": [], "forecast": []}
        points.add(
            **{k: np.array(v) for k, v in empty.items()},
            **{f"{b}-{lv}": np.array([]) for lv in levels for b in ("lo", "hi")},
        )
    long = points.frame()
    metrics = _metrics(long, levels)
    winner = _winners(metrics)
    return BacktestResult(
        metrics=metrics,
        winner=winner,
        folds=_folds_wide(long, models, levels),
        horizon=horizon,
        models=tuple(models),
        levels=tuple(levels),
        frequency=frequency,
        notes=(f"{_name_some(sorted(sat_out))}: too short for some folds, judged on fewer.",) if sat_out else (),
    )


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


def _auto_choice(metrics: pd.DataFrame) -> dict[str, str]:
    """The lowest-MASE model per series, unless ETS is within AUTO_MARGIN of it."""
    winners = _winners(metrics)
    mase = metrics.set_index(["unique_id", "model"])["mase"]
    out = {}
    for uid, best in winners.items():
        ets = mase.get((uid, "ets"), np.nan)
        out[uid] = "ets" if np.isfinite(ets) and mase[(uid, best)] > (1 - AUTO_MARGIN) * ets else best
    return out


def _winners(metrics: pd.DataFrame) -> dict[str, str]:
    ranked = metrics.assign(_order=metrics["model"].map(MODEL_ORDER), _mase=metrics["mase"].fillna(np.inf)).sort_values(
        ["unique_id", "_mase", "_order"], kind="stable"
    )
    first = ranked.drop_duplicates("unique_id")
    return dict(zip(first["unique_id"], first["model"], strict=True))


def _folds_wide(long: pd.DataFrame, models: Sequence[str], levels: Sequence[int]) -> pd.DataFrame:
    keys = ["unique_id", "cutoff", "ds", "y"]
    out = long.loc[long["model"] == models[0], keys].reset_index(drop=True)
    for name in models:
        part = long.loc[long["model"] == name].reset_index(drop=True)
        out[name] = part["forecast"].to_numpy()
        for lv in sorted(levels, reverse=True):
            out[f"{name}-lo-{lv}"] = part[f"lo-{lv}"].to_numpy()
        for lv in sorted(levels):
            out[f"{name}-hi-{lv}"] = part[f"hi-{lv}"].to_numpy()
    return out.astype({"unique_id": "str"})


# -- automatic choice -------------------------------------------------------------------------
def _auto(
    panel: Panel,
    horizon: int,
    levels: Sequence[int],
    folds: int,
    dates: dict[str, pd.DatetimeIndex],
    frequency: Frequency,
    n_jobs: int = 1,
) -> tuple[PanelForecast, list[str], BacktestResult, list[str]]:
    """Per series, the model with the lowest backtest MASE, refitted on all its data.

    ETS is the default: another model replaces it only with a MASE at least AUTO_MARGIN
    lower, because a few folds rank close models by chance (on the real series of
    bench/forecast.py the plain lowest-MASE pick was less accurate than ETS alone).
    Folds are `horizon` apart and shrink to what each series' length allows; a series
    too short for any fold gets ETS (or naive under 10 points) and a note saying so.
    """
    selection = _backtest_panel(panel, dates, frequency, horizon, folds, horizon, MODELS, (), n_jobs=n_jobs)
    preferred = _auto_choice(selection.metrics)
    notes = []
    picked = []
    untested = []
    for uid, y in zip(panel.ids, panel.values, strict=True):
        if uid in preferred:
            picked.append(preferred[uid])
        else:
            picked.append("ets" if len(y) >= 10 else "naive")
            untested.append(uid)
    if untested:
        notes.append(
            f"{_name_some(untested)}: too short to backtest a {horizon}-period horizon "
            f"(needs {MIN_TRAIN + horizon} points), so auto used ETS (naive under 10 points) without a backtest."
        )
    k = len(panel)
    mean = np.empty((k, horizon))
    lower = {lv: np.empty((k, horizon)) for lv in levels}
    upper = {lv: np.empty((k, horizon)) for lv in levels}
    forms = [""] * k
    for name in dict.fromkeys(picked):
        rows = [i for i, p in enumerate(picked) if p == name]
        model = _make(name, n_jobs)
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
    counts = pd.Series(picked).value_counts()
    notes.append(
        f"auto chose per series by backtest MASE over up to {folds} fold(s) of {horizon} periods "
        f"(ETS unless another model is {AUTO_MARGIN:.0%} more accurate): "
        + ", ".join(f"{name} {n}" for name, n in counts.items())
        + "."
    )
    widened = _widen_by_backtest(selection.folds, panel.ids, picked, mean, lower, upper)
    if widened:
        notes.append(
            f"auto widened the intervals of {widened} series to match the errors their chosen model made in the backtest."
        )
    return PanelForecast(mean, lower, upper, tuple(forms)), picked, selection, notes


def _widen_by_backtest(
    folds: pd.DataFrame, ids: Sequence[str], picked: Sequence[str], mean: np.ndarray, lower: dict, upper: dict
) -> int:
    """Widen each interval to at least mean -/+ z * sigma * sqrt(h), where sigma is the root mean
    square of the chosen model's backtest errors (each divided by sqrt(steps ahead)).

    A model's own interval assumes the model is right; the backtest shows how wrong it was
    out of sample. Needs MIN_BACKTEST_ERRORS errors; returns how many series were widened.
    """
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
