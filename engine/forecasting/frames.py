"""Forecast input: long frames `unique_id, ds, y`, checked, read from files and turned into panels.

A frame holds several series on one regular frequency, inferred from the dates. Every
problem is a `BadInputError` naming the column, series or date and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.core.contracts import Contract
from engine.core.errors import BadInputError
from engine.forecasting.models import Panel

REQUIRED_COLUMNS = ("unique_id", "ds", "y")
MIN_POINTS = 3  # fewer dates cannot show a frequency


# -- frequency -------------------------------------------------------------------------
class Frequency(Contract):
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
        base = check_positive(season_length, "season_length")
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
    if aliases:
        alias = aliases.pop()
    else:
        longest = max(groups, key=lambda u: len(groups[u]))
        guess = _infer_alias(groups[longest][:MIN_POINTS]) if len(groups[longest]) >= MIN_POINTS else None
        if guess is None:
            dates = ", ".join(str(d.date()) for d in groups[longest][:4])
            raise BadInputError(
                f"Cannot tell the frequency of series '{longest}' (dates {dates} ...): dates must be "
                "evenly spaced, one per period, e.g. the first day of every month."
            )
        alias = guess
    for uid, ds in groups.items():
        _check_on_grid(str(uid), ds, alias)
    return frequency_from_alias(alias, season_length)


def _infer_alias(dates: pd.DatetimeIndex) -> str | None:
    """pandas' frequency guess as an alias string (pandas 4 returns offsets; ask for that now)."""
    with pd.option_context("future.infer_freq_returns_offset", True):
        found: Any = pd.infer_freq(dates)
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


LAUNCH_RATIO = 0.25  # a first period under a quarter of the next is the book still starting


def without_launch(history: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """`validate_frame`'s frame without each series' launch: while a never-negative series'
    first value is under LAUNCH_RATIO of the next (MRR 18,085 then 534,035: the month the
    book started), it is left out of the fit, as the models read that jump as growth (a
    12-month MRR forecast doubled the year's trend). At least MIN_POINTS periods stay; the
    notes say what was left out."""
    parts, notes = [], []
    for uid, series in history.groupby("unique_id", sort=False):
        y = series["y"].to_numpy(dtype=float)
        start = 0
        if y.min() >= 0:  # validate_frame leaves no missing y and at least MIN_POINTS of them
            while len(y) - start > MIN_POINTS and y[start] < LAUNCH_RATIO * y[start + 1]:
                start += 1
        parts.append(series.iloc[start:])
        if start:
            first, kept = series["ds"].iloc[0], series["ds"].iloc[start]
            periods, are = ("the first period", "is") if start == 1 else (f"the first {start} periods", "are")
            notes.append(
                f"'{uid}': fitted from {kept:%b %-d, %Y}. {periods.capitalize()} (from {first:%b %-d, %Y}: "
                f"{y[0]:,.0f}, then {y[start]:,.0f}) {are} where the series starts, and would read as growth."
            )
    return pd.concat(parts, ignore_index=True) if parts else history, notes


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


def _not_a_date(value: object) -> bool:
    try:
        pd.Timestamp(value)  # any cell: the point is to find one pandas refuses
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


# -- what the caller asked for -------------------------------------------------------------
def check_positive(value: object, what: str) -> int:
    """A whole number of periods above 0 (BadInputError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise BadInputError(f"{what} must be a whole number of periods above 0, not {value!r}.")
    return int(value)


def check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    """Interval levels as sorted whole percentages between 1 and 99."""
    asked = list(levels)
    whole = all(isinstance(lv, int | float | np.number) and float(lv).is_integer() for lv in asked)
    if not whole or not all(0 < lv < 100 for lv in asked):
        raise BadInputError(f"Interval levels are whole percentages between 1 and 99, e.g. 80 or 95; got {asked}.")
    return tuple(sorted({int(lv) for lv in asked}))


# -- frames to panels ------------------------------------------------------------------------
def panel_of(history: pd.DataFrame, frequency: Frequency) -> Panel:
    """A validated frame's series as a Panel on one date grid."""
    grid = pd.date_range(history["ds"].min(), history["ds"].max(), freq=frequency.alias)
    ids, values, starts = [], [], []
    for uid, group in history.groupby("unique_id", sort=True):
        ids.append(str(uid))
        values.append(group["y"].to_numpy(dtype=float))
        starts.append(int(grid.get_indexer([group["ds"].iloc[0]])[0]))
    return Panel(tuple(ids), tuple(values), tuple(starts), frequency.season_length)


def series_dates(history: pd.DataFrame) -> dict[str, pd.DatetimeIndex]:
    """Each series' dates, oldest first."""
    return {str(uid): pd.DatetimeIndex(ds) for uid, ds in history.groupby("unique_id", sort=True)["ds"]}


def name_some(ids: Sequence[str], limit: int = 3) -> str:
    """A few series named for a note: 'a', 'b', 'c' and 4 more."""
    shown = ", ".join(f"'{u}'" for u in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
