"""Streamlit caches around engine calls, keyed on the data dir (a string) and the inputs.

`st.cache_resource` holds the process's warehouse (one DuckDB connection shared by every
session; engine calls take their own cursor). `st.cache_data` holds query results for
five minutes, copied per caller. Errors are not cached: a RadarError propagates to the
page, which shows it with `st.error`, and the next run tries again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import charts
from engine.accounts import board, customer
from engine.churn import monitoring
from engine.churn import status as churn_status
from engine.core import config
from engine.core.access import Viewer
from engine.data import health
from engine.data.warehouse import Warehouse, get_warehouse
from engine.forecasting import series as business
from engine.forecasting.auto import ForecastResult, backtest, forecast
from engine.forecasting.backtest import BacktestResult, fitting_step
from engine.forecasting.frames import infer_frequency
from engine.portfolio import kpis as portfolio
from engine.portfolio import outlook

RESULT_TTL_SECONDS = 300


def current_data_dir() -> str:
    """The data dir of this app process (RADAR_DATA_DIR, else ./data), as a cache key."""
    return str(config.data_dir())


def _still_open(wh: Warehouse) -> bool:
    """False once something closed the connection (engine.data.warehouse.close_all, a reopen).

    Streamlit asks on every access, several times a run: a flag, not a query.
    """
    return not wh.closed


@st.cache_resource(show_spinner=False, validate=_still_open)
def warehouse(data_dir: str) -> Warehouse:
    """The process-wide warehouse for `data_dir` (opened, and migrated, on first use)."""
    return get_warehouse(data_dir, read_only=config.read_only())


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False)
def _data_as_of(data_dir: str) -> date | None:
    wh = warehouse(data_dir)
    return None if wh.is_empty() else health.data_as_of(wh)


def data_as_of(data_dir: str) -> date | None:
    """The data's latest day, or None when the warehouse has no customers.

    "Empty" is not kept: a page asking the user to load data sees it on the next run.
    """
    found = _data_as_of(data_dir)
    if found is None:
        _data_as_of.clear(data_dir)
    return found


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False)
def portfolio_kpis(data_dir: str, as_of: date | None) -> portfolio.PortfolioKpis:
    return portfolio.portfolio_kpis(warehouse(data_dir), as_of)


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False)
def mrr_by_plan(data_dir: str, as_of: date | None) -> pd.DataFrame:
    return portfolio.mrr_by_plan(warehouse(data_dir), as_of)


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False)
def churn_by_plan_industry(data_dir: str, as_of: date | None, months: int = 12) -> pd.DataFrame:
    return portfolio.churn_by_plan_industry(warehouse(data_dir), as_of, months)


# -- churn scores ---------------------------------------------------------------------------
# Results derived from predictions are keyed on a "scores stamp" (latest scoring time and
# count), so a fresh scoring run shows at once; the viewer is passed as (username, role).
READINESS_TTL_SECONDS = 30


@st.cache_data(ttl=READINESS_TTL_SECONDS, show_spinner=False)
def readiness(data_dir: str) -> churn_status.Readiness:
    return churn_status.model_readiness(warehouse(data_dir), data_dir)


@st.cache_data(ttl=READINESS_TTL_SECONDS, show_spinner=False)
def tier_legend(data_dir: str) -> str:
    """The risk-tier thresholds scores are written with (relative to the serving model's base rate)."""
    return churn_status.tier_legend(data_dir)


SCORES_STAMP_TTL_SECONDS = 5


def scores_stamp(data_dir: str) -> str:
    """The latest scoring time and the number of scores: results keyed on it refresh after a run."""
    return _scores_stamp(data_dir, int(time.monotonic() // SCORES_STAMP_TTL_SECONDS))


@st.cache_data(show_spinner=False, max_entries=4)
def _scores_stamp(data_dir: str, _window: int) -> str:
    # Asked on every run of every page: read at most once per few seconds per process.
    latest, rows = warehouse(data_dir).rows("SELECT max(scored_at), count(*) FROM predictions")[0]
    return f"{latest}|{rows}"


def _viewer(who: tuple[str, str]) -> Viewer:
    return Viewer(username=who[0], role=who[1])


def viewer_key(viewer: Viewer) -> tuple[str, str]:
    return (viewer.username, viewer.role)


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=64)
def board_frame(data_dir: str, who: tuple[str, str], stamp: str) -> pd.DataFrame:
    return board.board_frame(warehouse(data_dir), _viewer(who))


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=256)
def customer_360(data_dir: str, who: tuple[str, str], customer_id: str, stamp: str) -> customer.Customer360:
    return customer.customer_360(warehouse(data_dir), _viewer(who), customer_id)


@dataclass(frozen=True)
class CustomerCharts:
    drivers: go.Figure | None
    usage: go.Figure | None
    mrr: go.Figure | None


@st.cache_resource(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=256)
def customer_charts(data_dir: str, who: tuple[str, str], customer_id: str, stamp: str) -> CustomerCharts:
    """Customer 360's figures, built once per account and scoring run and shared read-only.

    Building plotly figures is a third of a warm Customer 360 run; st.plotly_chart only reads
    them. Same key as `customer_360`, so the viewer's scope applies unchanged.
    """
    c360 = customer_360(data_dir, who, customer_id, stamp)
    return CustomerCharts(
        drivers=charts.shap_bars(c360.top_shap_features) if c360.top_shap_features else None,
        usage=None if c360.usage_weekly.empty else charts.usage_area(c360.usage_weekly),
        mrr=None if c360.mrr_history.empty else charts.mrr_steps(c360.mrr_history),
    )


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False)
def predicted_vs_realised(data_dir: str, who: tuple[str, str], stamp: str) -> pd.DataFrame:
    return monitoring.predicted_vs_realised(warehouse(data_dir), _viewer(who))


def search_customers(data_dir: str, viewer: Viewer, text: str) -> pd.DataFrame:
    return customer.search_customers(warehouse(data_dir), viewer, text)


# -- forecasts -------------------------------------------------------------------------------
# Keyed on the data's latest day: a forecast only changes when new data arrives.
@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=64)
def business_series(data_dir: str, who: tuple[str, str], name: str, as_of: date | None) -> pd.DataFrame:
    return business.load_series(warehouse(data_dir), name, _viewer(who))


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=64)
def forecast_run(
    data_dir: str, who: tuple[str, str], name: str, models: tuple[str, ...], horizon: int, as_of: date | None
) -> ForecastResult:
    return forecast(business_series(data_dir, who, name, as_of), horizon, model=models)


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=64)
def backtest_run(
    data_dir: str, who: tuple[str, str], name: str, horizon: int, folds: int, as_of: date | None
) -> BacktestResult:
    history = business_series(data_dir, who, name, as_of)
    season = infer_frequency(history).season_length
    step = fitting_step(int(history.groupby("unique_id").size().min()), horizon, folds, season)
    return backtest(history, horizon, folds=folds, step=step)


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=16)
def mrr_outlook(data_dir: str, who: tuple[str, str], months: int, stamp: str) -> outlook.Outlook:
    return outlook.mrr_outlook(warehouse(data_dir), _viewer(who), months)


# -- AI (never cached: every output is audited, so pages call these from a button) ------------
def ai_summary(data_dir: str, viewer: Viewer, customer_id: str, audience: str):
    from engine import ai as llm

    return llm.summarize(warehouse(data_dir), customer_id, audience, viewer, data_dir=data_dir)


def ai_ask(data_dir: str, viewer: Viewer, customer_id: str, question: str):
    from engine import ai as llm

    return llm.ask_customer(warehouse(data_dir), customer_id, question, viewer, data_dir=data_dir)


def ai_portfolio(data_dir: str, viewer: Viewer, question: str):
    from engine import ai as llm

    return llm.ask_portfolio(warehouse(data_dir), question, viewer, data_dir=data_dir)


def ai_draft(data_dir: str, viewer: Viewer, customer_id: str, goal: str, channel: str, tone: str, length: str):
    from engine import ai as llm

    return llm.draft_message(
        warehouse(data_dir),
        customer_id,
        viewer,
        goal=goal,
        channel=channel,
        tone=tone,
        length=length,
        data_dir=data_dir,
    )


def ai_actions(data_dir: str, viewer: Viewer, customer_id: str):
    from engine import ai as llm

    return llm.next_best_actions(warehouse(data_dir), customer_id, viewer, data_dir=data_dir)
