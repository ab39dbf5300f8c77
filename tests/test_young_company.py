"""A company five months old, loaded with the documented commands: the app opens, says when
churn scores can start, and shows the rest from the data itself.

fightchurn's ChurnSim `test` configuration (tests/foreign/churnsim.py) writes its exports:
one $9.99 plan, one acquisition channel, ~27 countries, five months of events. Too little
history for a churn model (its 90-day labels need months that have not happened), which a
young customer's first week looks like. Found in the browser: `make run` stopped with an
error, the pages told everyone to run `train` (which refuses), Model & data raised a red
alarm no admin could clear, every account said it would be scored "at the next scoring
run", MRR forecast bands went to -$15K, and the overview split the book into one "No plan"
cell while the company's country column held the split it has.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components.shared import auth
from components.shared.theme import ordered
from engine.accounts import customer
from engine.churn import monitoring, training
from engine.churn import status as churn_status
from engine.core.access import SYSTEM
from engine.core.errors import BadInputError
from engine.core.formatting import label
from engine.data import health, warehouse
from engine.forecasting import auto
from engine.forecasting.series import load_series
from engine.portfolio import kpis as portfolio
from tests.foreign import churnsim
from tests.test_foreign_data import engine, ok

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS, MONTHS, SEED = 200, 5, 5


@pytest.fixture(scope="module")
def young(tmp_path_factory) -> Path:
    exports = churnsim.generate(tmp_path_factory.mktemp("young-exports"), ACCOUNTS, MONTHS, SEED, config="test")
    data = tmp_path_factory.mktemp("young-data")
    for table in ("customers", "subscriptions", "events"):
        ok(engine(data, "ingest", table, str(exports["accounts" if table == "customers" else table])))
    return data


def _ready_on(data: Path) -> date:
    wh = warehouse.get_warehouse(data, read_only=True)
    short = training.history_readiness(wh)
    assert short is not None, "five months must be too little history to train on"
    return short.ready_on


def test_history_needed_is_the_day_training_first_accepts(generated_dir):
    """The promised date is the real one: `snapshot_plan` (what `train` runs) refuses the day
    before it, naming it, and accepts it."""
    wh = warehouse.get_warehouse(generated_dir, read_only=True)
    first = wh.scalar("SELECT min(signup_date) FROM customers")
    needed = training.history_needed(first, first)
    assert needed.labelled == 0 and needed.needed >= 5
    training.snapshot_plan(wh, needed.ready_on)  # accepted on the day
    with pytest.raises(BadInputError) as refused:
        training.snapshot_plan(wh, needed.ready_on - timedelta(days=1))
    assert f"{needed.ready_on:%b %-d, %Y}" in str(refused.value)
    # And for signups on any day of a year, the same holds of the rule itself.
    for offset in range(0, 366, 7):
        start = date(2025, 1, 1) + timedelta(days=offset)
        ready = training.history_needed(start, start).ready_on
        assert training.fold_plan(training._labelled_month_ends(start, ready))
        assert not training.fold_plan(training._labelled_month_ends(start, ready - timedelta(days=1)))


def test_make_run_starts_without_a_model_and_says_when_scores_can_start(young):
    ready = f"{_ready_on(young):%b %-d, %Y}"
    demo = ok(engine(young, "demo"))  # what `make run` runs before starting the app
    assert "Not enough history to train a churn model yet" in demo.stdout
    assert f"training can start once the data reaches {ready}" in demo.stdout
    assert "runs without churn scores" in demo.stdout
    score = engine(young, "score")
    assert score.returncode != 0
    assert "No churn model to score with" in score.stderr and ready in score.stderr
    train = engine(young, "train")
    assert train.returncode != 0 and ready in train.stderr
    info = ok(engine(young, "info")).stdout
    assert ready in info and "engine demo" not in info  # not sent to the demo, nor to `train`


def test_pages_say_why_there_are_no_scores_without_an_alarm(young):
    wh = warehouse.get_warehouse(young, read_only=True)
    readiness = churn_status.model_readiness(wh, young)
    assert not readiness.ready and readiness.status == "no_model"
    assert f"{_ready_on(young):%b %-d, %Y}" in readiness.message
    assert "engine train" not in readiness.message  # it would refuse: nothing an admin can run
    checks = monitoring.trust_checks(None, False, None, None, churn_status.too_young(wh))
    assert [c.status for c in checks] == ["pending"]
    assert [c.status for c in monitoring.trust_checks(None, False, None, None)] == ["act"]
    active = wh.scalar("SELECT customer_id FROM customers WHERE churn_date IS NULL ORDER BY customer_id LIMIT 1")
    c360 = customer.customer_360(wh, SYSTEM, active)
    assert c360.prediction is None
    assert not any("next scoring run" in note for note in c360.notes)


def test_overview_splits_by_country_keeping_the_most_common(young):
    """One plan and one channel leave nothing of 2-12 values; the country column (about 27)
    keeps its 11 most common and groups the rest as Other, and the split adds up to the KPI."""
    wh = warehouse.get_warehouse(young, read_only=True)
    rows_by, columns_by = portfolio.overview_groupings(wh)
    assert (rows_by.key, rows_by.top, columns_by) == ("country", portfolio.MAX_GROUPS - 1, None)
    as_of = portfolio.portfolio_kpis(wh).as_of
    mrr = portfolio.mrr_by_plan(wh, as_of, rows_by)
    groups = set(mrr["plan_tier"])
    assert portfolio.OTHER in groups and len(groups - {portfolio.OTHER, portfolio.UNKNOWN}) == 11
    counts = wh.df(
        "SELECT text_value, count(*) AS n FROM customer_attributes WHERE attribute = 'country' GROUP BY 1"
    ).sort_values(["n", "text_value"], ascending=[False, True])
    assert groups - {portfolio.OTHER, portfolio.UNKNOWN} == set(counts["text_value"].head(11))
    last = mrr[mrr["month"] == mrr["month"].max()]["mrr"].sum()
    assert last == pytest.approx(portfolio.portfolio_kpis(wh, as_of).total_mrr)
    churn = portfolio.churn_by_plan_industry(wh, as_of, 12, (rows_by, columns_by))
    assert churn["customers"].sum() == wh.scalar("SELECT count(*) FROM customers WHERE signup_date <= ?", [as_of])


def test_mrr_forecast_bands_stop_at_zero(young):
    """Five months with a launch ramp give the naive forecast wide bands; revenue below zero
    is not one of its possible futures."""
    wh = warehouse.get_warehouse(young, read_only=True)
    history = load_series(wh, "mrr_total", SYSTEM)
    result = auto.forecast(history, horizon=12)
    bands = result.forecast.filter(like="-lo-")
    assert (bands.to_numpy() >= 0).all()
    falling = history.assign(y=np.linspace(5_000.0, 500.0, len(history)))  # headed for zero
    floored = auto.forecast(falling, horizon=12)
    assert (floored.forecast.filter(like="-lo-").to_numpy() >= 0).all()
    assert any("stop at zero" in note for note in floored.notes)
    # A series that has been negative keeps its negative bands.
    swings = history.assign(y=np.tile([-50.0, 40.0, -30.0, 20.0, -10.0], len(history))[: len(history)])
    assert (auto.forecast(swings, horizon=6).forecast.filter(like="-lo-").to_numpy() < 0).any()


def test_pages_of_a_young_company(young, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(young))
    at = AppTest.from_file(str(ROOT / "views" / "overview.py"), default_timeout=60)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["executive"])
    at.run(timeout=60)
    assert not at.exception and not at.error
    assert any("where the data starts (under 12 months)" in c.value for c in at.caption)
    # Nothing is wrong, so no yellow alarm, and "No churn scores yet" is said once.
    assert not at.warning and any("training can start once" in i.value for i in at.info)
    assert not any("unavailable" in i.value for i in at.info)
    page = AppTest.from_file(str(ROOT / "views" / "model_data.py"), default_timeout=60)
    auth.log_in(page.session_state, auth.TEST_VIEWERS["analyst"])
    page.run(timeout=60)
    assert not page.exception and not page.error  # no red alarm: nothing an admin can do
    assert any("No churn model to judge yet" in i.value for i in page.info)
    forecasts = AppTest.from_file(str(ROOT / "views" / "forecasts.py"), default_timeout=60)
    auth.log_in(forecasts.session_state, auth.TEST_VIEWERS["analyst"])
    forecasts.run(timeout=60)
    assert not forecasts.exception
    said = " ".join(w.value for w in forecasts.warning)
    # 5 complete months, the first (a partial launch month) left out of the fit: 4 to fit on; a
    # backtest fits on 6 and tests 1 (or 12) more.
    assert "4 complete months after its first month, left out as its launch," in said
    assert "A backtest of a 1-month forecast needs 3 more months, one of this 12-month forecast 14 more months." in said


def test_labels_keep_the_company_s_capitals():
    assert [label(v) for v in ("enterprise", "US", "EMEA", "Pro Plus", "")] == [
        "Enterprise",
        "US",
        "EMEA",
        "Pro Plus",
        "",
    ]
    assert ordered(["unknown", "US", "Other", "AU", "growth"], ("starter", "growth")) == [
        "growth",
        "AU",
        "US",
        "Other",
        "unknown",
    ]


def test_ask_ai_refuses_what_needs_scores_and_answers_the_rest(young):
    """Without scores, "ARR at risk by country" answered "$0" per country and a list said "$0 of
    ARR at risk": a figure nobody measured, said as if it were one."""
    from engine.ai import briefing, portfolio_sql

    wh = warehouse.get_warehouse(young)
    ready = f"{_ready_on(young):%b %-d, %Y}"
    for question in ("Which accounts are most at risk?", "ARR at risk by country", "How many accounts are high risk?"):
        answer = portfolio_sql.ask_portfolio(wh, question, SYSTEM, client=None, data_dir=young)
        assert answer.refused or answer.table.empty, question
        assert "No account has a churn score yet" in answer.answer and ready in answer.answer
    listed = portfolio_sql.ask_portfolio(
        wh, "accounts renewing in the next 30 days", SYSTEM, client=None, data_dir=young
    )
    assert "sorted by ARR, highest first" in listed.answer and "at risk" not in listed.answer
    assert not set(portfolio_sql.SCORE_COLUMNS) & set(listed.table.columns)
    assert len(listed.table) > 0
    words, example = portfolio_sql.askable(wh)
    assert "churn probability" not in words and "at risk" not in example
    book = briefing.brief_the_book(wh, SYSTEM, client=None, data_dir=young)
    assert "no churn scores yet" in book.briefing and _ready_on(young).isoformat() in book.briefing
    assert book.guardrail_flags == ()


def test_a_country_code_that_is_an_english_word_is_named_only_as_written(young):
    """ChurnSim's countries include IN: "renewing in the next 30 days" was read as the country IN."""
    from engine.ai import portfolio_parser as parser

    wh = warehouse.get_warehouse(young, read_only=True)
    vocab = parser.vocabulary(wh)
    assert ("country", "IN") in vocab.attribute_values
    as_of = portfolio.portfolio_kpis(wh).as_of
    renewing = parser.parse_question("accounts renewing in the next 30 days", vocab, as_of, SYSTEM)
    assert "country" not in renewing.sql and "IN" not in renewing.params
    india = parser.parse_question("top 5 accounts in IN by MRR", vocab, as_of, SYSTEM)
    assert "country IN (?)" in india.sql and "IN" in india.params
    assert "US" in parser.parse_question("accounts in the US", vocab, as_of, SYSTEM).params
    assert "US" not in parser.parse_question("give us the top 5 accounts by MRR", vocab, as_of, SYSTEM).params


def test_the_api_says_when_scores_can_start(young):
    """A CRM asking for an account's churn score was told scoring had not run since the account
    was added, and to run `score` (which refuses)."""
    from fastapi.testclient import TestClient

    from engine.api.app import create_app
    from engine.auth import keys
    from engine.core import store

    ready = f"{_ready_on(young):%b %-d, %Y}"
    _, secret = keys.create_key("crm", "executive", created_by="tests", data_dir=young)
    headers = {"Authorization": f"Bearer {secret}"}
    wh = warehouse.get_warehouse(young, read_only=True)
    active = wh.scalar("SELECT customer_id FROM customers WHERE churn_date IS NULL ORDER BY customer_id LIMIT 1")
    with TestClient(create_app(young), raise_server_exceptions=False) as client:
        for route in ("churn", "risk-score", "ltv"):
            answer = client.get(f"/v1/customers/{active}/{route}", headers=headers)
            assert answer.status_code == 409 and ready in answer.json()["detail"], route
            assert "engine score" not in answer.json()["detail"]
        not_ready = client.get("/v1/ready")
        assert not_ready.status_code == 503 and ready in not_ready.json()["detail"]
        # An empty page says why: nothing is scored yet, and from when (a CRM sync read a bare empty page).
        page = client.get("/v1/predictions", headers=headers).json()
        assert page["total"] == 0 and ready in page["note"] and "Customer 360" not in page["note"]
        briefing = client.post("/v1/portfolio/briefing", headers=headers, json={})
        assert briefing.status_code == 200 and "no churn scores yet" in briefing.json()["briefing"]
    store.dispose_all()


def _components_page(tenure_days: int, with_signals: bool, stored: bool = True) -> AppTest:
    """The 360's risk score part; `stored=False` is what scoring stores now for a young account
    of a company with a usage log alone: no parts and no score."""

    def page(tenure_days: int, with_signals: bool, stored: bool) -> None:
        from components import account_tools
        from engine.core.contracts import RiskComponents

        parts = RiskComponents(
            usage_decay_score=0.0,
            compliance_gap_score=0.4 if with_signals else None,
            vendor_risk_flags=1.0 if with_signals else None,
        )
        account_tools.risk_components(parts if stored else None, 0.12 if stored else None, tenure_days)

    kwargs = {"tenure_days": tenure_days, "with_signals": with_signals, "stored": stored}
    return AppTest.from_function(page, kwargs=kwargs).run()


def test_usage_decay_of_an_account_younger_than_two_months_is_not_measured():
    """A one-day-old account showed "Risk score 0.00 · Usage decay 0.00" next to a HIGH churn risk:
    decay compares the last 30 days with the 30 before, which it did not have."""
    for young in (_components_page(1, with_signals=False), _components_page(1, with_signals=False, stored=False)):
        assert not young.exception
        said = " ".join(c.value for c in young.caption)
        assert "Usage decay not measured yet" in said and "1 day old" in said
        assert any("not measured yet" in m.value for m in young.markdown) and not young.get("progress")
    with_signals = _components_page(20, with_signals=True)
    assert any("Risk score 0.12" in m.value for m in with_signals.markdown)
    assert [p.proto.text for p in with_signals.get("progress")] == ["Compliance gap 0.40", "Vendor risk flags 1"]
    grown = _components_page(400, with_signals=False)
    assert [p.proto.text for p in grown.get("progress")] == ["Usage decay 0.00"]


def test_the_minimal_customers_file_is_one_book_not_a_no_plan_cell(tmp_path, monkeypatch):
    """Only customer_id and signup_date (the README's minimal file): the overview drew "MRR by plan
    tier" with one "No plan" band and "Churn by plan tier and industry" with one cell."""
    exports = churnsim.generate(tmp_path / "exports", 120, MONTHS, SEED, config="test")
    minimal = tmp_path / "accounts.csv"
    pd.read_csv(exports["accounts"])[["customer_id", "signup_date"]].to_csv(minimal, index=False)
    data = tmp_path / "data"
    ok(engine(data, "ingest", "customers", str(minimal)))
    ok(engine(data, "ingest", "subscriptions", str(exports["subscriptions"])))
    wh = warehouse.get_warehouse(data, read_only=True)
    assert portfolio.overview_groupings(wh) == (portfolio.EVERYONE, None)
    as_of = portfolio.portfolio_kpis(wh).as_of
    assert set(portfolio.mrr_by_plan(wh, as_of, portfolio.EVERYONE)["plan_tier"]) == {portfolio.ALL_ACCOUNTS}
    warehouse.close_all()
    monkeypatch.setenv("RADAR_DATA_DIR", str(data))
    at = AppTest.from_file(str(ROOT / "views" / "overview.py"), default_timeout=60)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["executive"])
    at.run(timeout=60)
    assert not at.exception and not at.error
    headings = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert "#### MRR" in headings and "#### Churn" in headings
    assert not any("plan" in h.lower() for h in headings)
    assert not any("No plan" in m.value for m in at.markdown)


def test_the_risk_board_lists_the_book_before_the_first_scores(young, monkeypatch):
    """Before the first scores the board showed the "no scores" message and nothing else for
    months: a CSM had no list to work from. It now lists the active accounts, largest MRR
    first, with their renewal and the company's columns, under the reason and the date scores
    can start; nothing it shows or exports is a score column of blanks."""
    from engine.accounts import board
    from engine.ai.sql_guard import run_portfolio_sql
    from tests.apptest import open_page

    wh = warehouse.get_warehouse(young, read_only=True)
    assert board.board_frame(wh, SYSTEM).empty  # the briefing, outlook and API read scored rows only
    frame = board.unscored_frame(wh, SYSTEM)
    as_of = wh.scalar("SELECT max(date) FROM usage_daily")
    active = wh.scalar(
        "SELECT count(*) FROM customers WHERE signup_date <= ? AND (churn_date IS NULL OR churn_date > ?)",
        [as_of, as_of],
    )
    assert len(frame) == active and not board.is_scored(frame)
    assert frame["mrr"].is_monotonic_decreasing and frame["mrr"].iloc[0] > 0
    # The renewal and MRR Ask AI answers with for the same accounts.
    view = run_portfolio_sql(
        wh, "SELECT customer_id, mrr, days_to_renewal FROM portfolio", SYSTEM, [], max_rows=10_000
    ).table.set_index("customer_id")
    mine = frame.set_index("customer_id")
    assert (mine["days_to_renewal"] == view.loc[mine.index, "days_to_renewal"]).all()
    assert mine["mrr"].to_numpy() == pytest.approx(view.loc[mine.index, "mrr"].to_numpy())
    exported = board.export_frame(board.with_attributes(wh, frame))
    assert not set(board.SCORE_COLUMNS) & set(exported.columns) and "country" in exported

    page = open_page("risk_board", "executive", data=young, monkeypatch=monkeypatch)
    assert not page.error and not page.warning
    said = " ".join(i.value for i in page.info)
    assert f"training can start once the data reaches {_ready_on(young):%b %-d, %Y}" in said
    assert "listed by MRR" in said
    shown = page.dataframe[0]
    assert len(shown.value) == min(len(frame), 25)
    assert "churn_percent" not in (shown.proto.column_order or [])
    assert [m.label for m in page.metric] == [
        "Matching accounts",
        "MRR of matching accounts",
        "ARR of matching accounts",
    ]
    assert page.metric[0].value == f"{active:,}"
    sort = next(s for s in page.selectbox if s.label == "Sort by")
    assert sort.options == ["MRR", "Days to renewal", "Name"]
    assert not [m for m in page.multiselect if m.label == "Risk tier"]
    country = next(m for m in page.multiselect if m.label == "Country")
    pick = country.options[0]
    country.select(pick).run()
    assert not page.exception
    expected = int((board.with_attributes(wh, frame)[board.ATTRIBUTE_PREFIX + "country"] == pick).sum())
    assert page.metric[0].value == f"{expected:,}"


def test_customer_360_of_a_young_company_waits_in_blue_and_counts_one_day(young, monkeypatch):
    """Customer 360 said "Churn scores unavailable. No churn scores yet. …" in yellow, and an
    account renewing tomorrow "1 days"."""
    from engine.ai.sql_guard import run_portfolio_sql
    from tests.apptest import open_page

    wh = warehouse.get_warehouse(young, read_only=True)
    tomorrow = run_portfolio_sql(
        wh, "SELECT customer_id FROM portfolio WHERE days_to_renewal = 1 ORDER BY customer_id", SYSTEM, [], max_rows=5
    ).table
    assert len(tomorrow), "the fixture has an account renewing tomorrow"
    page = open_page(
        "customer_360", "executive", data=young, monkeypatch=monkeypatch, query={"customer_id": tomorrow.iloc[0, 0]}
    )
    assert not page.warning and not page.error
    said = [i.value for i in page.info]
    assert any("training can start once" in s for s in said) and not any("unavailable" in s for s in said)
    assert sum(s.count("No churn scores yet") for s in said) == 1
    renewal = next(m for m in page.metric if m.label.startswith("Renewal"))
    assert renewal.value == "1 day"
    # No score, so no lifetime value: the box is the revenue, and says when the rest comes.
    headings = [m.value for m in page.markdown if m.value.startswith("####")]
    assert "#### Revenue" in headings and "#### Revenue and lifetime value" not in headings
    assert any("come with the account's churn score" in c.value for c in page.caption)
    # Five months of history: usage since the account signed up, not "the last 26 weeks".
    assert any(h.startswith("#### Product usage (since ") for h in headings), headings
    decay = next(m for m in page.metric if m.label == "Usage decay")
    signup = wh.scalar("SELECT signup_date FROM customers WHERE customer_id = ?", [tomorrow.iloc[0, 0]])
    young_account = (health.data_as_of(wh) - signup).days < 60
    assert (decay.value == "—") is young_account
