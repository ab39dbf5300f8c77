"""Typing and checking every cell of a file against its table's spec, and collecting the
row-level problems (row, column, cell, what is wrong, what to do).

* Values: whitespace is stripped and empty cells are NULL. In number/date columns
  `NULL`, `None`, `NaN`, `NA`, `N/A` (any case) are NULL too; in text columns they are
  kept as text ("NA" may be a region). Enumerated columns (plan_tier, status, ...) are
  matched case-insensitively and stored lower-case. Numbers are plain (`1234.5`,
  `1e3`); `1,234.50` (comma thousands groups) is accepted in comma-separated files only,
  because `1,234` means 1.234 in a `;`-separated European file; decimal commas are
  refused. Integer columns refuse fractions (`1.5`; `3.0` is 3). Month counts
  (billing_cycle, bill_period_months) also read words: monthly 1, quarterly 3,
  semiannual 6, annual/yearly 12, biennial 24 (any case). Dates are ISO
  `YYYY-MM-DD` (a midnight time such as `2024-03-01 00:00:00` is tolerated); timestamps
  are ISO 8601 (`2024-03-01 14:30`, `2024-03-01T14:30:00Z`); a UTC offset is converted
  to UTC and dropped. `mrr_history.month` also takes `YYYY-MM`, and any day of the month
  is normalised to the first (the report says how many were moved).
* Dates must be real: every date and timestamp column refuses values before
  RADAR_EARLIEST_DATE (default 1990-01-01) and, for what records the past (signups,
  churn, usage, events, tickets, MRR months, signals), values after today (UTC) plus one
  day of time-zone tolerance. A single row dated 9999-12-31 would otherwise become the
  data's "today" for every account. Two columns hold plans, not history, and may lie
  ahead, up to 10 years: customers.contract_end_date (a contract runs into the future)
  and gtm_opportunities.close_date (an open deal's expected close). Leave a planned date
  empty when there is none rather than writing a placeholder such as 9999-12-31.
* Keys: a row repeating an earlier row's natural key is refused, naming both rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from engine.core import config
from engine.core.values import (
    DECIMAL_COMMA,
    ISO_TIMESTAMP,
    SLASH_DATE,
    THOUSANDS,
    cell_text,
    null_tokens_to_na,
    text_to_numbers,
)
from engine.data.ingest.report import MAX_LISTED, Problem, cell, show
from engine.data.ingest.specs import DATE, FLOAT, INT, INT32, TEXT, TIMESTAMP, ColumnSpec, TableSpec

ROW = "__row"  # the staged frame's column holding each row's spreadsheet number

_DATE_TEXT = r"\d{4}-\d{2}-\d{2}(?:[ T]00:00(?::00(?:\.0+)?)?)?"
_MONTH_TEXT = r"\d{4}-\d{2}"

Why = tuple[str, str]  # (what is wrong, what to do) about one cell


class RowProblems:
    """Collects problems on rows, counting all but keeping the first MAX_LISTED per kind."""

    def __init__(self, n_rows: int):
        self.items: list[tuple[int, int, str, Problem]] = []
        self.total = 0
        self.bad_rows = np.zeros(n_rows, dtype=bool)

    def rows(self, positions: np.ndarray, order: int, describe: Callable[[int], Problem]) -> None:
        """Problems on rows at 0-based `positions` (sorted); `describe(pos)` says what is wrong
        (its row is filled in here: data row k is row k + 2 of the file)."""
        if len(positions) == 0:
            return
        self.total += len(positions)
        self.bad_rows[positions] = True
        for pos in positions[:MAX_LISTED]:
            row = int(pos) + 2
            problem = describe(int(pos)).model_copy(update={"row": row})
            self.items.append((row, order, problem.text, problem))

    def whole(self, problem: Problem, positions: np.ndarray) -> None:
        """One problem about many rows (at 0-based `positions`), e.g. their unknown customer ids:
        it counts once and is listed first; the rows count as rejected."""
        self.total += 1
        self.bad_rows[positions] = True
        self.items.append((0, -1, problem.text, problem))

    def mask(self, mask: Any, order: int, describe: Callable[[int], Problem]) -> None:
        self.rows(np.flatnonzero(np.asarray(mask, dtype=bool)), order, describe)

    def listed(self) -> list[Problem]:
        """The kept problems by row, then column order, then text."""
        return [item[3] for item in sorted(self.items, key=lambda item: item[:3])[:MAX_LISTED]]

    @property
    def rejected(self) -> int:
        return int(self.bad_rows.sum())


def _flags(matches: pd.Series) -> pd.Series:
    """A regex-match column as plain booleans (NA cells do not match)."""
    return matches.fillna(False).astype(bool)


class Coercer:
    """Turns one file column into typed values, reporting bad cells to `problems`."""

    def __init__(self, problems: RowProblems, thousands_ok: bool):
        self.problems = problems
        self.thousands_ok = thousands_ok
        self.notes: list[str] = []
        self.earliest = config.earliest_date()
        self.latest = config.latest_date()
        self.latest_planned = config.latest_planned_date()

    def __call__(self, col: ColumnSpec, series: pd.Series, order: int) -> tuple[pd.Series, np.ndarray]:
        """(typed values, bad cells) of one column; NULL where a cell is bad."""
        series = series.reset_index(drop=True)
        method = {
            TEXT: self._text,
            INT: self._number,
            FLOAT: self._number,
            DATE: self._date,
            TIMESTAMP: self._timestamp,
        }[col.type]
        values, bad = method(col, series, order)
        bad = np.asarray(bad, dtype=bool)
        if col.required:
            empty = values.isna().to_numpy() & ~bad
            self.problems.mask(
                empty,
                order,
                lambda _p: Problem(
                    column=col.name,
                    message=f"is empty, but every row needs a {col.name}",
                    fix="fill it in, or remove the row",
                ),
            )
        return values, bad

    def _report(self, mask: Any, col: ColumnSpec, order: int, shown: pd.Series, why: Callable[[str], Why]) -> None:
        def describe(pos: int) -> Problem:
            value = str(shown.iat[pos])
            message, fix = why(value)
            return Problem(column=col.name, value=cell(value), message=message, fix=fix)

        self.problems.mask(mask, order, describe)

    def _text(self, col: ColumnSpec, series: pd.Series, order: int) -> tuple[pd.Series, np.ndarray]:
        values = cell_text(series)
        bad = np.zeros(len(values), dtype=bool)
        if col.allowed:
            allowed = col.allowed
            lowered = values.str.lower()
            bad = (values.notna() & ~lowered.isin(allowed)).to_numpy(dtype=bool)
            self._report(
                bad,
                col,
                order,
                values,
                lambda _v: (f"is not an allowed {col.name}", f"use one of: {', '.join(allowed)}"),
            )
            values = lowered.mask(bad)
        return values, bad

    def _number(self, col: ColumnSpec, series: pd.Series, order: int) -> tuple[pd.Series, np.ndarray]:
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = pd.Series(series.to_numpy(dtype="float64", na_value=np.nan))
            shown = values
            bad = ~np.isfinite(values.to_numpy()) & values.notna().to_numpy()
            self._report(
                bad, col, order, shown, lambda _v: ("is not a finite number", "give a number, or leave the cell empty")
            )
        else:
            shown = null_tokens_to_na(cell_text(series))
            values = text_to_numbers(_words_to_numbers(col, shown), thousands=self.thousands_ok)
            finite = np.isfinite(values.to_numpy())
            bad = shown.notna().to_numpy() & ~finite
            self._report(bad, col, order, shown, _not_a_number if col.words is None else _not_a_count_of(col))
        values = values.mask(bad)
        if col.type == INT:
            fraction = (values.notna() & (values % 1 != 0)).to_numpy()
            self._report(
                fraction,
                col,
                order,
                shown,
                lambda _v: ("is not a whole number", f"{col.name} counts things: give a whole number"),
            )
            lo, hi = INT32
            huge = (values.notna() & ((values < lo) | (values > hi))).to_numpy() & ~fraction
            self._report(
                huge,
                col,
                order,
                shown,
                lambda _v: ("is too large for this column", f"give a whole number between {lo:,} and {hi:,}"),
            )
            bad = bad | fraction | huge
            values = values.mask(fraction | huge)
        bad = self._in_bounds(col, values, bad, order, shown)
        values = values.mask(bad)
        if col.type == INT:
            values = values.astype("Int64")
        return values, bad

    def _in_bounds(
        self, col: ColumnSpec, values: pd.Series, bad: np.ndarray, order: int, shown: pd.Series
    ) -> np.ndarray:
        """`bad` plus the values below the column's minimum or above its maximum."""
        hint = f" ({col.hint})" if col.hint else ""
        low_limit, high_limit = col.min_value, col.max_value
        if low_limit is not None:
            low = (values < low_limit).to_numpy(dtype=bool)
            self._report(
                low,
                col,
                order,
                shown,
                lambda _v: (f"is below {low_limit:g}", f"{col.name} cannot be less than {low_limit:g}{hint}"),
            )
            bad = bad | low
        if high_limit is not None:
            high = (values > high_limit).to_numpy(dtype=bool)
            between = (
                f"between {low_limit:g} and {high_limit:g}" if low_limit is not None else f"at most {high_limit:g}"
            )
            self._report(
                high,
                col,
                order,
                shown,
                lambda _v: (f"is above {high_limit:g}", f"{col.name} must be {between}{hint}"),
            )
            bad = bad | high
        return bad

    def _datetimes(self, series: pd.Series) -> tuple[pd.Series | None, pd.Series]:
        """(values, text) for an already-typed datetime column, else (None, text)."""
        if pd.api.types.is_datetime64_any_dtype(series):
            values = series
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert("UTC").dt.tz_localize(None)
            values = values.astype("datetime64[us]")
            return values, values.astype("str")
        return None, null_tokens_to_na(cell_text(series))

    def _date(self, col: ColumnSpec, series: pd.Series, order: int) -> tuple[pd.Series, np.ndarray]:
        typed, text = self._datetimes(series)
        date_only = (f"has a time of day, but {col.name} holds dates", "give the date only (YYYY-MM-DD)")
        if typed is not None:
            timed = (typed.notna() & (typed != typed.dt.normalize())).to_numpy()
            bad = timed
            self._report(timed, col, order, text, lambda _v: date_only)
            values = typed.mask(timed)
        else:
            if col.month:
                short = _flags(text.str.fullmatch(_MONTH_TEXT))
                if short.any():
                    text = text.where(~short, text + "-01")
            shape = _flags(text.str.fullmatch(_DATE_TEXT))
            values = pd.to_datetime(text.str.slice(0, 10).where(shape), format="%Y-%m-%d", errors="coerce")
            values = values.astype("datetime64[us]")
            bad = (text.notna() & values.isna()).to_numpy()
            example = "2024-03-01 or 2024-03" if col.month else "2024-03-15"

            def why(value: str) -> Why:
                if re.fullmatch(_DATE_TEXT, value):
                    return "is not a real calendar date", "check the month and day"
                if re.fullmatch(ISO_TIMESTAMP, value):
                    return date_only
                if re.fullmatch(SLASH_DATE, value):
                    return (
                        "is not in the YYYY-MM-DD format (day/month order is ambiguous)",
                        f"write it as e.g. {example}",
                    )
                return "is not a date", f"write dates as YYYY-MM-DD, e.g. {example}"

            self._report(bad, col, order, text, why)
        values, bad = self._in_range(col, values, np.asarray(bad, dtype=bool), order, text)
        if col.month:
            values = self._first_of_month(col, values)
        return values, bad

    def _first_of_month(self, col: ColumnSpec, values: pd.Series) -> pd.Series:
        """Months moved to their first day; the report notes how many moved."""
        off = values.notna() & (values.dt.day != 1)
        moved = int(off.sum())
        if not moved:
            return values
        self.notes.append(
            f"moved {moved:,} {col.name} value{'s' if moved != 1 else ''} to the first day of their month"
        )
        return values.where(~off, values - pd.to_timedelta(values.dt.day - 1, unit="D"))

    def _in_range(
        self, col: ColumnSpec, values: pd.Series, bad: np.ndarray, order: int, text: pd.Series
    ) -> tuple[pd.Series, np.ndarray]:
        """Refuse dates before the floor and after today (+ tolerance), or after the planning horizon."""
        latest = self.latest_planned if col.planned else self.latest
        floor = pd.Timestamp(self.earliest)
        ceiling = pd.Timestamp(latest) + pd.Timedelta(days=1)  # a timestamp on the latest day is still fine
        present = values.notna().to_numpy() & ~bad
        stamps = values.to_numpy()
        early = present & (stamps < floor.to_datetime64())
        late = present & (stamps >= ceiling.to_datetime64())
        if not (early.any() or late.any()):
            return values, bad
        too_early, too_late = date_limits_text(col, self.earliest, latest)
        self._report(early, col, order, text, lambda _v: too_early)
        self._report(late, col, order, text, lambda _v: too_late)
        out_of_range = early | late
        return values.mask(out_of_range), bad | out_of_range

    def _timestamp(self, col: ColumnSpec, series: pd.Series, order: int) -> tuple[pd.Series, np.ndarray]:
        typed, text = self._datetimes(series)
        if typed is not None:
            return self._in_range(col, typed, np.zeros(len(typed), dtype=bool), order, text)
        shape = _flags(text.str.fullmatch(ISO_TIMESTAMP))
        parsed = pd.to_datetime(text.where(shape), format="ISO8601", utc=True, errors="coerce")
        values = parsed.dt.tz_localize(None).astype("datetime64[us]")
        bad = (text.notna() & values.isna()).to_numpy()

        def why(value: str) -> Why:
            if re.fullmatch(ISO_TIMESTAMP, value):
                return "is not a real date and time", "check the month, day and hour"
            return "is not a date-time", "write ISO 8601 such as 2024-03-15 14:30:00 (or 2024-03-15)"

        self._report(bad, col, order, text, why)
        return self._in_range(col, values, bad, order, text)


def _words_to_numbers(col: ColumnSpec, text: pd.Series) -> pd.Series:
    """The column's words (e.g. "annual" for a billing cycle) as the numbers they stand for."""
    if not col.words:
        return text
    spelled = {word: str(months) for word, months in col.words.items()}
    named = text.str.lower().map(spelled)
    return text.where(named.isna(), named)


def _not_a_count_of(col: ColumnSpec) -> Callable[[str], Why]:
    words = ", ".join(sorted(set(col.words or {}), key=lambda w: ((col.words or {})[w], w))[:6])

    def why(_text: str) -> Why:
        return "is not a number of months", f"give months as a whole number (1, 3, 12, 24 ...) or a word: {words} ..."

    return why


def _not_a_number(text: str) -> Why:
    if re.fullmatch(DECIMAL_COMMA, text) or re.fullmatch(THOUSANDS, text):
        return "is not a number here", "use a dot for decimals and no thousands separators, e.g. 1234.5"
    return "is not a number", "write plain numbers such as 42 or 1234.5"


def date_limits_text(col: ColumnSpec, earliest: Any, latest: Any) -> tuple[Why, Why]:
    """What is wrong with, and what to do about, a date before the floor / after the ceiling of `col`."""
    early = (
        f"is before {earliest}, the earliest date accepted",
        "fix the date (YYYY-MM-DD). If your history really starts earlier, set RADAR_EARLIEST_DATE "
        "(e.g. RADAR_EARLIEST_DATE=1980-01-01) and load again",
    )
    if col.planned:
        late = (
            f"is after {latest}, more than {config.FORWARD_YEARS} years ahead, which looks like a placeholder",
            f"fix the date, or leave {col.name} empty when there is none",
        )
    else:
        late = (
            f"is in the future (after {latest}: today plus {config.FUTURE_TOLERANCE_DAYS} day for time zones), "
            "but this column records what already happened",
            "fix the date (YYYY-MM-DD) or remove the row, and check the source system's clock and date format",
        )
    return early, late


def empty_typed(col: ColumnSpec, n: int) -> pd.Series:
    """`n` NULLs of the column's type."""
    dtype = {TEXT: "str", INT: "Int64", FLOAT: "float64", DATE: "datetime64[us]", TIMESTAMP: "datetime64[us]"}
    return pd.Series([None] * n, dtype=dtype[col.type])


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.date() if value == value.normalize() else value
    return value


def check_duplicates(
    spec: TableSpec,
    frame: pd.DataFrame,
    cell_bad: dict[str, np.ndarray],
    problems: RowProblems,
    order: dict[str, int],
) -> None:
    """Every row repeating an earlier row's natural key (rows with a bad key cell are skipped)."""
    usable = np.ones(len(frame), dtype=bool)
    for key in spec.key:
        usable &= ~cell_bad[key] & frame[key].notna().to_numpy()
    keyed = frame.loc[usable, [*spec.key, ROW]]
    dup = keyed.duplicated(list(spec.key), keep="first")
    if not dup.any():
        return
    first_row = keyed.groupby(list(spec.key), sort=False)[ROW].transform("min")
    later = keyed[dup.to_numpy()]
    firsts = first_row[dup.to_numpy()].to_numpy()
    positions = later[ROW].to_numpy() - 2
    lookup = dict(zip(positions.tolist(), firsts.tolist(), strict=True))
    column = spec.key[-1]

    def describe(pos: int) -> Problem:
        values = ", ".join(f"{k}={show(_plain(frame[k].iat[pos]))}" for k in spec.key)
        return Problem(
            column=column,
            message=f"duplicate key ({values}) also on row {lookup[pos]}",
            fix=f"keep one row per {' + '.join(spec.key)}",
        )

    problems.rows(np.sort(positions), order[column], describe)
