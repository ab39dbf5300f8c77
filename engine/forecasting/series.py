"""Business time series from the warehouse, as long frames `unique_id, ds, y` for forecasting.

Each series covers complete periods only: a month counts once the data reaches its last
day, a week (Monday to Sunday) once the data reaches its Sunday. Periods with nothing
recorded inside the span are zeros (no tickets that week), never gaps. A viewer narrows
every series to the accounts it may see (a CSM's own book).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from engine.core.access import Viewer
from engine.core.config import earliest_date
from engine.core.errors import BadInputError, NotFoundError
from engine.data.health import data_as_of
from engine.data.warehouse import Warehouse


@dataclass(frozen=True)
class SeriesInfo:
    """What a series is, for pickers and chart labels."""

    name: str
    label: str
    frequency: str  # "monthly" or "weekly"
    unit: str
    description: str


SERIES: dict[str, SeriesInfo] = {
    info.name: info
    for info in (
        SeriesInfo("mrr_total", "Total MRR", "monthly", "MRR", "Sum of monthly recurring revenue, by month."),
        SeriesInfo(
            "mrr_by_plan",
            "MRR by plan tier",
            "monthly",
            "MRR",
            "Monthly recurring revenue per plan tier (one series per tier; tiers add up to the total).",
        ),
        SeriesInfo(
            "active_customers",
            "Active customers",
            "monthly",
            "customers",
            "Customers paying in the month (MRR above zero).",
        ),
        SeriesInfo("usage_weekly", "Weekly product usage", "weekly", "events", "Product events per week (Mon-Sun)."),
        SeriesInfo(
            "tickets_weekly",
            "Weekly support tickets",
            "weekly",
            "tickets",
            "Support tickets opened per week (Mon-Sun).",
        ),
    )
}

# pandas frequency of each kind of period (weeks start on Monday, as DuckDB's date_trunc).
PERIODS = {"monthly": "MS", "weekly": "W-MON"}


def series_options() -> list[tuple[str, str]]:
    """(name, label) pairs for a page's picker, in display order."""
    # The frequency only when the label does not already say it ("Weekly product usage (weekly)").
    return [
        (info.name, info.label if info.frequency in info.label.lower() else f"{info.label} ({info.frequency})")
        for info in SERIES.values()
    ]


def series_info(name: str) -> SeriesInfo:
    if name not in SERIES:
        raise BadInputError(f"Unknown series '{name}'. Choose from: {', '.join(SERIES)}.")
    return SERIES[name]


def load_series(wh: Warehouse, name: str, viewer: Viewer) -> pd.DataFrame:
    """The series `name` as a long frame unique_id, ds, y over complete periods.

    `viewer` (required: `engine.core.access.SYSTEM` for everyone) limits the accounts counted
    to those it may see. Raises
    NotFoundError when the warehouse has no complete period yet.
    """
    info = series_info(name)
    as_of = data_as_of(wh)
    if as_of is None:
        raise NotFoundError(
            "The warehouse has no data yet. Load data with `.venv/bin/python -m engine ingest` or demo data with "
            "`.venv/bin/python -m engine demo`."
        )
    condition, params = viewer.owner_filter("c.csm_owner")
    if info.frequency == "monthly":
        first_open = _month_start(as_of + timedelta(days=1))  # the first month not yet complete
        raw = _monthly(wh, name, condition, params, first_open)
    else:
        last_day = _last_usage_day(wh, as_of) if name == "usage_weekly" else as_of
        first_open = _week_start(last_day + timedelta(days=1))
        raw = _weekly(wh, name, condition, params, first_open)
    frame = _complete(raw, name, PERIODS[info.frequency], first_open)
    if frame.empty:
        raise NotFoundError(f"No complete {info.frequency[:-2]} of {info.label.lower()} in the data yet.")
    return frame


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _last_usage_day(wh: Warehouse, as_of: date) -> date:
    """Usage is recorded daily, so its own last day says how far usage is complete."""
    last = wh.scalar("SELECT max(date) FROM usage_daily WHERE date <= ?", [as_of])
    return min(last, as_of) if last else as_of


# Each query takes the viewer's condition (engine text over the customers alias `c`) and
# binds its values; the only other inputs are the earliest accepted date and the first incomplete
# period, bound as well. Rows dated outside reality (engine.data.health) are left out: the data's latest
# day ignores future dates, and the earliest accepted date cuts off the past.
_MONTHLY_SQL = {
    "mrr_total": (
        "SELECT 'mrr_total' AS unique_id, m.month AS ds, sum(m.mrr) AS y "
        "FROM mrr_history m JOIN customers c ON c.customer_id = m.customer_id "
        "WHERE {condition} AND m.month >= ? AND m.month < ? GROUP BY m.month"
    ),
    "mrr_by_plan": (
        "SELECT c.plan_tier AS unique_id, m.month AS ds, sum(m.mrr) AS y "
        "FROM mrr_history m JOIN customers c ON c.customer_id = m.customer_id "
        "WHERE {condition} AND m.month >= ? AND m.month < ? GROUP BY c.plan_tier, m.month"
    ),
    "active_customers": (
        "SELECT 'active_customers' AS unique_id, m.month AS ds, count(DISTINCT m.customer_id) AS y "
        "FROM mrr_history m JOIN customers c ON c.customer_id = m.customer_id "
        "WHERE {condition} AND m.month >= ? AND m.month < ? AND m.mrr > 0 GROUP BY m.month"
    ),
}
_WEEKLY_SQL = {
    "usage_weekly": (
        "SELECT 'usage_weekly' AS unique_id, date_trunc('week', u.date)::DATE AS ds, sum(u.events) AS y "
        "FROM usage_daily u JOIN customers c ON c.customer_id = u.customer_id "
        "WHERE {condition} AND u.date >= ? AND u.date < ? GROUP BY 2"
    ),
    "tickets_weekly": (
        "SELECT 'tickets_weekly' AS unique_id, date_trunc('week', t.opened_at)::DATE AS ds, count(*) AS y "
        "FROM support_tickets t JOIN customers c ON c.customer_id = t.customer_id "
        "WHERE {condition} AND t.opened_at >= ?::TIMESTAMP AND t.opened_at < ?::TIMESTAMP GROUP BY 2"
    ),
}


def _monthly(wh: Warehouse, name: str, condition: str, params: list, first_open: date) -> pd.DataFrame:
    return wh.df(_MONTHLY_SQL[name].format(condition=condition), [*params, earliest_date(), first_open])


def _weekly(wh: Warehouse, name: str, condition: str, params: list, first_open: date) -> pd.DataFrame:
    return wh.df(_WEEKLY_SQL[name].format(condition=condition), [*params, earliest_date(), first_open])


def _complete(raw: pd.DataFrame, name: str, freq: str, first_open: date) -> pd.DataFrame:
    """One row per period from each series' first period to the last complete one (zeros between)."""
    columns = ["unique_id", "ds", "y"]
    if raw.empty:
        return pd.DataFrame({"unique_id": pd.Series(dtype="str"), "ds": pd.Series(dtype="datetime64[us]"), "y": []})
    raw = raw.assign(ds=pd.to_datetime(raw["ds"]), y=raw["y"].astype(float), unique_id=raw["unique_id"].astype(str))
    last = pd.Timestamp(first_open) - pd.tseries.frequencies.to_offset(freq)  # the last complete period
    parts = []
    for uid, group in raw.groupby("unique_id", sort=True):
        grid = pd.date_range(group["ds"].min(), last, freq=freq)
        y = group.set_index("ds")["y"].reindex(grid, fill_value=0.0)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": grid, "y": y.to_numpy(float)}))
    frame = pd.concat(parts, ignore_index=True) if parts else raw[columns]
    return frame[columns].astype({"unique_id": "str"}).reset_index(drop=True)
