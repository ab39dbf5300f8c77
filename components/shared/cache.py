"""Streamlit caches around engine calls, keyed on the data dir (a string), the warehouse
snapshot and the inputs.

Each page run reads one published warehouse snapshot (`pin_snapshot`, called by app.py at
the start of every run): a scheduler's `ingest` / `score` publishing a new one mid-run never
mixes old and new rows on a page, and the next run shows the new state without a restart.
Results are keyed on the snapshot (`snapshot_stamp`), so they refresh as soon as one is
published. `st.cache_data` holds query results for five minutes (book-wide ones, which one
snapshot fixes, for hours), copied per caller; a new snapshot's book-wide reads are computed
in the background as soon as an app run sees it (`warm_up`). Errors
are not cached: a RadarError propagates to the page, which shows it with `st.error`, and
the next run tries again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from components import html_charts
from engine import scenarios
from engine.accounts import board, customer
from engine.churn import monitoring, registry
from engine.churn import status as churn_status
from engine.core import config
from engine.core.access import Viewer
from engine.core.errors import NotFoundError, RadarError
from engine.data import health
from engine.data.warehouse import Warehouse, get_warehouse
from engine.forecasting import series as business
from engine.forecasting.auto import ForecastResult, backtest, forecast
from engine.forecasting.backtest import BacktestResult, fitting_step
from engine.forecasting.frames import infer_frequency
from engine.portfolio import kpis as portfolio
from engine.portfolio import outlook

RESULT_TTL_SECONDS = 300
# What one published snapshot says never changes, so the book-wide reads (seconds of work on a
# big book: segments, benchmarks, the board) are kept until newer snapshots push them out
# (max_entries) or for hours, not recomputed by the first visitor after a quiet spell.
SNAPSHOT_TTL_SECONDS = 6 * 3600


def current_data_dir() -> str:
    """The data dir of this app process (RADAR_DATA_DIR, else ./data), as a cache key."""
    return str(config.data_dir())


PINNED = "_warehouse_snapshot"
_background = threading.local()  # the snapshot a warm-up thread reads (it runs outside any page run)


def pin_snapshot(data_dir: str) -> None:
    """Start of a page run: read the latest published snapshot for the whole run."""
    try:
        st.session_state[PINNED] = get_warehouse(data_dir, read_only=True)
    except RadarError:  # no warehouse yet (or unreadable): pages say so when they ask
        st.session_state.pop(PINNED, None)


def warehouse(data_dir: str) -> Warehouse:
    """The snapshot this run reads: the pinned one (a warm-up thread's own), else (a page run
    without app.py, such as a page test, or a snapshot closed since) the latest published one."""
    in_a_run = get_script_run_ctx(suppress_warning=True) is not None
    pinned = st.session_state.get(PINNED) if in_a_run else getattr(_background, "warehouse", None)
    if isinstance(pinned, Warehouse) and not pinned.closed and pinned.data_dir == Path(data_dir):
        return pinned
    if not in_a_run and pinned is not None:  # results it would keep under its stamp must not read a newer one
        raise RadarError(f"snapshot {pinned.path.name} was closed while its caches were warming")
    return get_warehouse(data_dir, read_only=True)


def snapshot_stamp(data_dir: str) -> str:
    """Which warehouse snapshot this run reads: results keyed on it refresh after any write."""
    try:
        wh = warehouse(data_dir)
    except NotFoundError:  # no warehouse yet; any other error reaches the page, which shows it
        return "none"
    return _stamp(wh)


def _stamp(wh: Warehouse) -> str:
    return f"{wh.path.name}@{wh.generation}"


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False)
def _data_as_of(data_dir: str, stamp: str) -> date | None:
    wh = warehouse(data_dir)
    return None if wh.is_empty() else health.data_as_of(wh)


def data_as_of(data_dir: str) -> date | None:
    """The data's latest day, or None when there is no warehouse or it has no customers."""
    stamp = snapshot_stamp(data_dir)
    return None if stamp == "none" else _data_as_of(data_dir, stamp)


def portfolio_kpis(data_dir: str, as_of: date | None) -> portfolio.PortfolioKpis:
    return _portfolio_kpis(data_dir, as_of, snapshot_stamp(data_dir))


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False)
def _portfolio_kpis(data_dir: str, as_of: date | None, stamp: str) -> portfolio.PortfolioKpis:
    return portfolio.portfolio_kpis(warehouse(data_dir), as_of)


def overview_groupings(data_dir: str) -> tuple[portfolio.Grouping, portfolio.Grouping | None]:
    return _overview_groupings(data_dir, snapshot_stamp(data_dir))


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False)
def _overview_groupings(data_dir: str, stamp: str) -> tuple[portfolio.Grouping, portfolio.Grouping | None]:
    return portfolio.overview_groupings(warehouse(data_dir))


def mrr_by_plan(data_dir: str, as_of: date | None) -> pd.DataFrame:
    return _mrr_by_plan(data_dir, as_of, snapshot_stamp(data_dir))


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False)
def _mrr_by_plan(data_dir: str, as_of: date | None, stamp: str) -> pd.DataFrame:
    return portfolio.mrr_by_plan(warehouse(data_dir), as_of, _overview_groupings(data_dir, stamp)[0])


def churn_by_plan_industry(data_dir: str, as_of: date | None, months: int = 12) -> pd.DataFrame:
    return _churn_by_plan_industry(data_dir, as_of, months, snapshot_stamp(data_dir))


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False)
def _churn_by_plan_industry(data_dir: str, as_of: date | None, months: int, stamp: str) -> pd.DataFrame:
    return portfolio.churn_by_plan_industry(warehouse(data_dir), as_of, months, _overview_groupings(data_dir, stamp))


def customer_groups(data_dir: str) -> pd.DataFrame:
    return _customer_groups(data_dir, snapshot_stamp(data_dir))


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False)
def _customer_groups(data_dir: str, stamp: str) -> pd.DataFrame:
    return portfolio.customer_groups(warehouse(data_dir), _overview_groupings(data_dir, stamp))


# -- churn scores ---------------------------------------------------------------------------
# Results derived from predictions are keyed on a "scores stamp" (latest scoring time and
# count), so a fresh scoring run shows at once; the viewer is passed as (username, role).
READINESS_TTL_SECONDS = 30


def readiness(data_dir: str) -> churn_status.Readiness:
    return _readiness(data_dir, snapshot_stamp(data_dir))


@st.cache_data(ttl=READINESS_TTL_SECONDS, show_spinner=False)
def _readiness(data_dir: str, stamp: str) -> churn_status.Readiness:
    return churn_status.model_readiness(warehouse(data_dir), data_dir)


def lever_reach(data_dir: str) -> dict[str, tuple[str, ...]]:
    """Per model-based scenario lever, the features it changes that the serving model reads."""
    return _lever_reach(data_dir, snapshot_stamp(data_dir))


@st.cache_data(ttl=READINESS_TTL_SECONDS, show_spinner=False)
def _lever_reach(data_dir: str, stamp: str) -> dict[str, tuple[str, ...]]:
    current = registry.production("churn", data_dir)
    return scenarios.lever_reach(current.features if current is not None else ())


def score_status(data_dir: str) -> churn_status.ScoreStatus:
    return _score_status(data_dir, snapshot_stamp(data_dir))


@st.cache_data(ttl=READINESS_TTL_SECONDS, show_spinner=False)
def _score_status(data_dir: str, stamp: str) -> churn_status.ScoreStatus:
    return churn_status.score_status(warehouse(data_dir), data_dir)


@st.cache_data(ttl=READINESS_TTL_SECONDS, show_spinner=False)
def tier_legend(data_dir: str) -> str:
    """The risk-tier thresholds scores are written with (relative to the serving model's base rate)."""
    return churn_status.tier_legend(data_dir)


def _viewer(who: tuple[str, str]) -> Viewer:
    return Viewer(username=who[0], role=who[1])


EVERYONE = "*"


def viewer_key(viewer: Viewer) -> tuple[str, str]:
    """The cache key of what a viewer may read: a CSM's own book, or the whole book for every
    user of a role that sees it (the engine's reads depend on the role and the book only), so
    one leader's visit serves the next. A CSM's key is their book's owner name, which
    `_viewer` turns back into a viewer of that book."""
    return (viewer.book_owner if not viewer.sees_everyone else EVERYONE, viewer.role)


def book_key(who: tuple[str, str]) -> tuple[str, str]:
    """The key of reads that depend on the book alone (the board, segments, benchmarks): a
    CSM's own, or one for the whole book that every leader shares, whatever their role."""
    return (EVERYONE, "executive") if _viewer(who).sees_everyone else who


def board_frame(data_dir: str, who: tuple[str, str], stamp: str) -> pd.DataFrame:
    return _board_frame(data_dir, book_key(who), stamp)


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False, max_entries=64)
def _board_frame(data_dir: str, book: tuple[str, str], stamp: str) -> pd.DataFrame:
    return board.board_frame(warehouse(data_dir), _viewer(book))


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=256)
def customer_360(data_dir: str, who: tuple[str, str], customer_id: str, stamp: str) -> customer.Customer360:
    return customer.customer_360(warehouse(data_dir), _viewer(who), customer_id)


@dataclass(frozen=True)
class CustomerCharts:
    """Customer 360's charts as HTML (`components.html_charts`); None where there is nothing to draw."""

    drivers: str | None
    usage: str | None
    mrr: str | None


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=256)
def customer_charts(data_dir: str, who: tuple[str, str], customer_id: str, stamp: str) -> CustomerCharts:
    """Customer 360's charts, drawn once per account and scoring run. Same key as
    `customer_360`, so the viewer's scope applies unchanged."""
    c360 = customer_360(data_dir, who, customer_id, stamp)
    return CustomerCharts(
        drivers=html_charts.driver_bars(c360.top_shap_features) if c360.top_shap_features else None,
        usage=None if c360.usage_weekly.empty else html_charts.usage_area(c360.usage_weekly),
        mrr=None if c360.mrr_history.empty else html_charts.mrr_steps(c360.mrr_history, c360.profile.churn_date),
    )


def predicted_vs_realised(data_dir: str, who: tuple[str, str], stamp: str) -> pd.DataFrame:
    return _predicted_vs_realised(data_dir, book_key(who), stamp)


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False)
def _predicted_vs_realised(data_dir: str, book: tuple[str, str], stamp: str) -> pd.DataFrame:
    return monitoring.predicted_vs_realised(warehouse(data_dir), _viewer(book))


def search_customers(data_dir: str, viewer: Viewer, text: str) -> pd.DataFrame:
    return customer.search_customers(warehouse(data_dir), viewer, text)


# -- forecasts -------------------------------------------------------------------------------
# Keyed on the data's latest day and the snapshot: a forecast only changes when new data arrives.
def business_series(data_dir: str, who: tuple[str, str], name: str, as_of: date | None) -> pd.DataFrame:
    return _business_series(data_dir, who, name, as_of, snapshot_stamp(data_dir))


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=64)
def _business_series(data_dir: str, who: tuple[str, str], name: str, as_of: date | None, stamp: str) -> pd.DataFrame:
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
def ai_briefing(data_dir: str, viewer: Viewer):
    from engine.ai.briefing import brief_the_book

    return brief_the_book(warehouse(data_dir), viewer, data_dir=data_dir)


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


def ai_suggested_goal(data_dir: str, viewer: Viewer, customer_id: str) -> str:
    """The draft goal that fits the account's recommended next step (the tab's default)."""
    return _ai_suggested_goal(data_dir, viewer_key(viewer), customer_id, snapshot_stamp(data_dir))


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=256)
def _ai_suggested_goal(data_dir: str, who: tuple[str, str], customer_id: str, stamp: str) -> str:
    from engine import ai as llm

    return llm.suggested_goal(warehouse(data_dir), customer_id, _viewer(who))


def ai_actions(data_dir: str, viewer: Viewer, customer_id: str):
    from engine import ai as llm

    return llm.next_best_actions(warehouse(data_dir), customer_id, viewer, data_dir=data_dir)


# -- behavioural segments (risk board column and filter, overview breakdown and benchmarks) ---
# Keyed on the snapshot like the board: a new snapshot gives new segments, and the engine keeps
# the classified book per snapshot, so these are one join or one read once it is warm.
def segmented_board_frame(data_dir: str, who: tuple[str, str], stamp: str) -> pd.DataFrame:
    """The board frame with each account's behavioural segment (the `archetype` column) and the
    company's own category columns (`board.with_attributes`)."""
    return _segmented_board_frame(data_dir, book_key(who), stamp)


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False, max_entries=64)
def _segmented_board_frame(data_dir: str, book: tuple[str, str], stamp: str) -> pd.DataFrame:
    wh = warehouse(data_dir)
    return board.with_attributes(wh, board.with_segments(wh, _viewer(book), _board_frame(data_dir, book, stamp)))


def risk_board_frame(data_dir: str, who: tuple[str, str], stamp: str) -> pd.DataFrame:
    """The risk board's rows: `segmented_board_frame`, or before the first scores the book
    without them (`board.unscored_frame`)."""
    if score_status(data_dir).as_of is not None:  # cached per snapshot: the board reruns on every filter
        return segmented_board_frame(data_dir, who, stamp)
    return _unscored_book(data_dir, book_key(who), stamp)


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False, max_entries=16)
def _unscored_book(data_dir: str, book: tuple[str, str], stamp: str) -> pd.DataFrame:
    wh = warehouse(data_dir)
    return board.with_attributes(wh, board.with_segments(wh, _viewer(book), board.unscored_frame(wh, _viewer(book))))


def segment_report(data_dir: str, who: tuple[str, str], stamp: str):
    """`engine.segments.book_segments` at the data's latest day, for the viewer's book."""
    return _segment_report(data_dir, book_key(who), stamp)


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False, max_entries=16)
def _segment_report(data_dir: str, book: tuple[str, str], stamp: str):
    from engine import segments

    return segments.book_segments(warehouse(data_dir), _viewer(book))


def segment_benchmarks(data_dir: str, who: tuple[str, str], stamp: str):
    """Plans' and segments' churn, NRR and LTV vs the book and last quarter (`engine.accounts.peers`)."""
    return _segment_benchmarks(data_dir, book_key(who), stamp)


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False, max_entries=16)
def _segment_benchmarks(data_dir: str, book: tuple[str, str], stamp: str):
    from engine.accounts import peers

    return peers.segment_benchmarks(warehouse(data_dir), _viewer(book))


# -- Customer 360: the account's segment, its peers and what-if ------------------------------
# Keyed like `customer_360`: the viewer's scope applies in the engine, and a new snapshot
# gives new results. The engine keeps the book-wide tables per snapshot, so a warm call is a
# lookup; these keep the page run from repeating even that.
@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False, max_entries=256)
def account_segment(data_dir: str, who: tuple[str, str], customer_id: str, stamp: str):
    """`engine.segments.account_segment`: archetype, axis readings and the last six month ends."""
    from engine import segments

    return segments.account_segment(warehouse(data_dir), _viewer(who), customer_id)


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False, max_entries=16)
def segment_cuts(data_dir: str, as_of: date, stamp: str) -> dict[str, tuple[float | None, float, int]]:
    """Axis -> (low at most, high above, accounts learned from) at `as_of`: the level cuts the
    whole book gives, the same for every viewer (no account is named). From the engine's
    per-snapshot calibration, which `account_segment` has just used for the same date."""
    from engine import segments

    return {c.axis: (c.low_at_most, c.high_above, c.accounts) for c in segments.axis_cuts(warehouse(data_dir), as_of)}


@st.cache_data(ttl=SNAPSHOT_TTL_SECONDS, show_spinner=False, max_entries=256)
def peer_position(data_dir: str, who: tuple[str, str], customer_id: str, stamp: str):
    """`engine.accounts.peers.account_position` at the data's latest day."""
    from engine.accounts import peers

    return peers.account_position(warehouse(data_dir), _viewer(who), customer_id)


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=256)
def whatif_levers(data_dir: str, who: tuple[str, str], customer_id: str, stamp: str):
    """What a CSM may change for the account, each with its stored value and allowed range."""
    from engine.accounts import whatif

    return whatif.levers(warehouse(data_dir), _viewer(who), customer_id)


@st.cache_data(ttl=RESULT_TTL_SECONDS, show_spinner=False, max_entries=256)
def whatif_result(
    data_dir: str, who: tuple[str, str], customer_id: str, changes: tuple[tuple[str, float], ...], stamp: str
):
    """The account re-scored with `changes` (lever, value) beside its stored score; a refused
    value raises BadInputError (never cached), which the page shows."""
    from engine.accounts import whatif

    return whatif.simulate(warehouse(data_dir), _viewer(who), customer_id, dict(changes))


# -- a new snapshot's book-wide reads, computed before anyone asks ------------------------------
log = logging.getLogger(__name__)
_warmed: set[tuple[str, str]] = set()  # (data dir, snapshot stamp)
_watched: dict[str, threading.Event] = {}  # data dir -> what wakes its watcher
_warmed_lock = threading.Lock()
WATCH_SECONDS = 30.0  # how soon a newly published snapshot starts warming when nobody opens a page
LEADERS = (EVERYONE, "executive")


def warm_up(data_dir: str) -> None:
    """Compute in the background what the overview and Customer 360 read from the whole book
    (segments, benchmarks, the board, the peer tables: tens of seconds on a book of 100,000
    accounts), for each snapshot as it is published, so nobody who opens them waits for it:
    not the first person after a start, nor the first after the nightly `score`. Called by
    app.py on every run; it starts one watcher per data dir and app process and wakes it, and
    only in a served app (the run came from a browser), not in page tests."""
    if not _served():
        return
    with _warmed_lock:
        wake = _watched.get(data_dir)
        if wake is None:
            wake = _watched[data_dir] = threading.Event()
            threading.Thread(target=_watch, args=(data_dir, wake), name="radar-warm-up", daemon=True).start()
    wake.set()  # a run may be the first to see a new snapshot: look now, not at the next poll


def _watch(data_dir: str, wake: threading.Event) -> None:
    while True:
        wake.clear()
        try:
            warm_latest(data_dir)
        except Exception:  # keep watching: the next snapshot may be fine
            log.warning("warming the latest snapshot of %s failed", data_dir, exc_info=True)
        wake.wait(WATCH_SECONDS)


def warm_latest(data_dir: str) -> str | None:
    """Warm the latest published snapshot unless it was already; returns its stamp when warmed now."""
    try:
        latest = get_warehouse(data_dir, read_only=True)
    except NotFoundError:  # no warehouse yet
        return None
    stamp = _stamp(latest)
    with _warmed_lock:
        if (data_dir, stamp) in _warmed:
            return None
        _warmed.add((data_dir, stamp))
    # Handed that snapshot itself: results kept under `stamp` must come from it even if a newer
    # one is published while they compute.
    _warm(data_dir, stamp, latest)
    return stamp


def _served() -> bool:
    try:
        return bool(st.context.headers.get("Host"))
    except Exception:  # no request behind this run (a page test, a bare script)
        return False


def _warm(data_dir: str, stamp: str, pinned: Warehouse) -> None:
    _background.warehouse = pinned
    try:
        as_of = _data_as_of(data_dir, stamp)
        if as_of is None or get_warehouse(data_dir, read_only=True).generation != pinned.generation:
            return  # no data, or a newer snapshot is out already: warm that one instead
        _portfolio_kpis(data_dir, as_of, stamp)
        _mrr_by_plan(data_dir, as_of, stamp)
        book = _board_frame(data_dir, LEADERS, stamp)
        _segment_report(data_dir, LEADERS, stamp)
        _segment_benchmarks(data_dir, LEADERS, stamp)
        _segmented_board_frame(data_dir, LEADERS, stamp)
        _predicted_vs_realised(data_dir, LEADERS, stamp)
        if not book.empty:  # one account builds the book's peer table and its month-end segments
            customer_id = str(book["customer_id"].iloc[0])
            peer_position(data_dir, LEADERS, customer_id, stamp)
            account_segment(data_dir, LEADERS, customer_id, stamp)
    except Exception:  # a page computes it when asked, and shows any error then
        log.warning("warming the caches of snapshot %s failed", stamp, exc_info=True)
    finally:
        _background.warehouse = None
