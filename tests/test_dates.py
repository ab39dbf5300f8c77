"""Dates outside reality already in a warehouse (issue 12, item 3): readers ignore them and say so.

Ingestion refuses such dates (tests/test_ingest.py); these tests write them directly, as an
older version or another tool could have, and check that no page or command crashes and
that "data as of" does not move.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine import cli
from engine.churn import monitoring
from engine.core.access import SYSTEM
from engine.data import health, warehouse
from engine.data.warehouse import latest_predictions_sql
from engine.forecasting import series
from tests.apptest import open_page
from tests.conftest import DEMO_END

FAR = "9999-12-31"


def _insert_far_dates(data: Path, scores: bool = True) -> None:
    """One usage row and one ticket dated 9999-12-31, an MRR month in 1899 and (as a scoring run
    as of that date would have written) the latest scores copied to 9999-12-31."""
    wh = warehouse.get_warehouse(data)
    customer = wh.scalar("SELECT customer_id FROM customers WHERE status = 'active' ORDER BY customer_id LIMIT 1")
    wh.execute("INSERT INTO usage_daily VALUES (?, DATE '9999-12-31', 'login', 5, 1, NULL)", [customer])
    wh.execute(
        "INSERT INTO support_tickets (ticket_id, customer_id, opened_at, priority, status) "
        "VALUES ('T-far', ?, TIMESTAMP '9999-12-31 10:00:00', 'low', 'open')",
        [customer],
    )
    wh.execute("INSERT INTO mrr_history VALUES (?, DATE '1899-01-01', 10.0, 'new')", [customer])
    if scores:
        wh.execute(
            "INSERT INTO predictions SELECT * REPLACE (DATE '9999-12-31' AS as_of) FROM predictions "
            "WHERE as_of = (SELECT max(as_of) FROM predictions)"
        )
    warehouse.close_all()


@pytest.fixture
def far_dir(scored_copy) -> Path:
    _insert_far_dates(scored_copy)
    return scored_copy


def test_data_date_series_and_monitoring_ignore_far_dates(far_dir):
    wh = warehouse.get_warehouse(far_dir, read_only=True)
    assert health.data_as_of(wh) == DEMO_END
    assert monitoring.latest_scoring_date(wh) == DEMO_END
    newest = wh.df(latest_predictions_sql("as_of = ?"), [health.latest_scoring_date(wh)])
    assert len(newest) and newest["as_of"].astype(str).eq(str(DEMO_END)).all()
    for name in series.SERIES:
        frame = series.load_series(wh, name, SYSTEM)
        assert frame["ds"].min().year >= 1990 and frame["ds"].max().date() <= DEMO_END
    monitoring.realised_vs_predicted(wh, far_dir, viewer=SYSTEM)  # raised OverflowError on the 9999 scores
    problems = {(p.table, p.column): p for p in health.date_problems(wh)}
    assert set(problems) == {
        ("usage_daily", "date"),
        ("support_tickets", "opened_at"),
        ("mrr_history", "month"),
        ("predictions", "as_of"),
    }
    assert problems[("usage_daily", "date")].rows == 1
    assert str(problems[("usage_daily", "date")].highest) == FAR
    warning = health.out_of_range_warning(wh)
    assert "usage_daily.date has 1 row dated after" in warning and "(9999-12-31)" in warning
    assert "mrr_history.month has 1 row dated before 1990-01-01 (1899-01-01)" in warning
    assert f"taken as {DEMO_END}" in warning and "python -m engine score" in warning


def test_a_healthy_warehouse_has_no_date_warning(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    assert health.date_problems(wh) == [] and health.out_of_range_warning(wh) is None


def _page(data: Path, page: str, monkeypatch) -> AppTest:
    return open_page(page, "admin", data=data, monkeypatch=monkeypatch, timeout=180, check=False)


@pytest.mark.parametrize("page", ["forecasts", "model_data", "data"])
def test_pages_say_what_is_wrong_instead_of_crashing(far_dir, page, monkeypatch):
    at = _page(far_dir, page, monkeypatch)
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert any("dates outside reality" in w and FAR in w for w in warnings), warnings
    if page != "data":
        assert len(at.get("plotly_chart")) >= 2  # the page still works on the plausible data
    assert not any("OverflowError" in e.value for e in at.error)


def test_cli_info_score_and_forecast_on_far_dates(far_dir, capsys):
    assert cli.main(["--data-dir", str(far_dir), "info"]) == 0
    out = capsys.readouterr().out
    assert f"Data as of: {DEMO_END}" in out
    assert "Warning: The warehouse holds dates outside reality" in out and "usage_daily.date" in out

    assert cli.main(["--data-dir", str(far_dir), "score"]) == 0
    captured = capsys.readouterr()
    assert f"as of {DEMO_END} with" in captured.out
    assert "warning: The warehouse holds dates outside reality" in captured.err

    for name in series.SERIES:
        code = cli.main(
            ["--data-dir", str(far_dir), "forecast", "--series", name, "--horizon", "2", "--model", "naive"]
        )
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "dates outside reality" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize("as_of", [FAR, "2026-07-01", "1985-01-01"])
def test_score_as_of_outside_the_data_is_refused(scored_copy, as_of, capsys):
    before = _predictions(scored_copy)
    assert cli.main(["--data-dir", str(scored_copy), "score", "--as-of", as_of]) == 2
    err = capsys.readouterr().err
    assert f"Cannot score as of {as_of}" in err and "Traceback" not in err
    if as_of > str(DEMO_END):
        assert f"the data's latest day is {DEMO_END}" in err and "leave out --as-of" in err
    else:
        assert "before 1990-01-01" in err
    assert _predictions(scored_copy) == before


def test_score_as_of_the_data_date_or_earlier_still_works(scored_copy, capsys):
    assert cli.main(["--data-dir", str(scored_copy), "score", "--as-of", str(DEMO_END)]) == 0
    assert f"as of {DEMO_END}" in capsys.readouterr().out


def _predictions(data: Path) -> int:
    wh = warehouse.get_warehouse(data, read_only=True)
    try:
        return wh.scalar("SELECT count(*) FROM predictions")
    finally:
        warehouse.close_all()
