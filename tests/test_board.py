"""Risk board, Customer 360 and portfolio risk: scoping, filters, states (engine level)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.accounts import board, customer
from engine.churn import monitoring, registry
from engine.churn import status as churn_status
from engine.core.access import Viewer
from engine.core.contracts import to_dict
from engine.core.errors import BadInputError, NotFoundError
from engine.data import health, warehouse
from engine.portfolio import kpis as portfolio

EXEC = Viewer("exec", "executive")


@pytest.fixture
def wh(scored_dir):
    return warehouse.get_warehouse(scored_dir, read_only=True)


@pytest.fixture
def frame(wh):
    return board.board_frame(wh, EXEC)


def test_board_has_every_active_customer_once_ranked_by_revenue_at_risk(wh, frame):
    latest = wh.scalar("SELECT max(as_of) FROM predictions")
    active = wh.scalar(
        "SELECT count(*) FROM customers WHERE signup_date <= ? AND (churn_date IS NULL OR churn_date > ?)",
        [latest, latest],
    )
    assert len(frame) == active and frame["customer_id"].is_unique
    assert frame["revenue_at_risk"].is_monotonic_decreasing
    expected = frame["churn_probability"] * frame["mrr"] * 12
    assert (frame["revenue_at_risk"] - expected).abs().max() < 1e-6
    assert (frame["ci_low"] <= frame["churn_probability"]).all() and (
        frame["churn_probability"] <= frame["ci_high"]
    ).all()
    assert frame["top_driver"].notna().mean() > 0.9
    assert set(frame["risk_tier"]) <= {"low", "medium", "high", "critical"}


def test_a_csm_sees_only_their_own_book(wh, frame):
    owner = frame["csm_owner"].value_counts().index[0]
    mine = board.board_frame(wh, Viewer(owner, "csm"))
    assert len(mine) == (frame["csm_owner"] == owner).sum() > 0
    assert set(mine["csm_owner"]) == {owner}
    assert board.board_frame(wh, Viewer("nobody.here", "csm")).empty


def test_filters_search_sort_and_pages(frame):
    row = frame.iloc[len(frame) // 2]
    found = board.filter_board(frame, board.BoardFilters(search=row["name"][:8].upper()))
    assert row["customer_id"] in set(found["customer_id"])
    assert len(board.filter_board(frame, board.BoardFilters(search=row["customer_id"]))) == 1
    # A search is plain text, not a pattern.
    assert board.filter_board(frame, board.BoardFilters(search=".*")).empty
    f = board.BoardFilters(tiers=("low",), plans=("growth",), renewal_within_days=90, min_mrr=1000)
    hit = board.filter_board(frame, f)
    assert len(hit) > 0
    assert set(hit["risk_tier"]) == {"low"} and set(hit["plan_tier"]) == {"growth"}
    assert hit["days_to_renewal"].between(0, 90).all() and (hit["mrr"] >= 1000).all()
    page = board.page_of(frame, f, "mrr", descending=False, page=2, page_size=10)
    ordered = hit.sort_values("mrr", kind="stable")
    assert page.total == len(hit) and page.pages == -(-len(hit) // 10)
    assert page.rows["customer_id"].tolist() == ordered["customer_id"].iloc[10:20].tolist()
    assert page.revenue_at_risk == pytest.approx(hit["revenue_at_risk"].sum())
    last = board.page_of(frame, f, page=10_000, page_size=10)
    assert last.page == last.pages and len(last.rows) == len(hit) - 10 * (last.pages - 1)


def test_board_refuses_bad_input(frame):
    with pytest.raises(BadInputError, match="sort"):
        board.sort_board(frame, "drop table")
    with pytest.raises(BadInputError, match="negative"):
        board.filter_board(frame, board.BoardFilters(min_mrr=-1))
    with pytest.raises(BadInputError, match="Page size"):
        board.page_of(frame, page_size=0)


def test_export_has_stable_columns(frame):
    out = board.export_frame(frame.head(3))
    # Warehouse names, as in every other CSV export (issue 12: plan/owner/revenue_at_risk_arr were renamed).
    assert list(out.columns)[:3] == ["customer_id", "name", "plan_tier"]
    assert "revenue_at_risk" in out and "csm_owner" in out and "drivers" not in out


def test_customer_360_for_owner_and_refusal_for_other_csm(wh, frame):
    row = frame.iloc[0]
    owner = Viewer(row["csm_owner"], "csm")
    c = customer.customer_360(wh, owner, row["customer_id"])
    assert c.profile.name == row["name"] and c.prediction.churn_probability == pytest.approx(row["churn_probability"])
    drivers = c.prediction.top_shap_features
    assert drivers and all(d.feature and d.label and d.reason for d in drivers)
    assert set(to_dict(c.components)) == {"usage_decay_score", "compliance_gap_score", "vendor_risk_flags"}
    assert not c.usage_weekly.empty and c.velocity.events_last_30d >= 0
    assert c.mrr_history["month"].is_monotonic_increasing
    contract = to_dict(c)
    for key in (
        "mrr",
        "tenure_days",
        "churn_probability",
        "risk_tier",
        "top_shap_features",
        "events_last_30d",
        "open_ticket_count",
        "gtm_stage",
        "latest_prediction_at",
    ):
        assert key in contract
    assert {"feature", "value", "shap_impact", "reason", "label"} <= set(contract["top_shap_features"][0])
    assert set(contract["confidence_interval"]) == {"lower", "upper", "level"}
    assert contract["risk_score"] == c.prediction.risk_score and contract["model_version"] == c.prediction.model_version
    other = frame.loc[frame["csm_owner"] != row["csm_owner"], "csm_owner"].iloc[0]
    with pytest.raises(customer.NotInBookError) as refused:
        customer.customer_360(wh, Viewer(other, "csm"), row["customer_id"])
    message = str(refused.value)
    assert row["name"] not in message and row["customer_id"] not in message and "%" not in message


def test_unknown_and_malformed_customer_ids(wh):
    with pytest.raises(NotFoundError, match="No customer with id"):
        customer.customer_360(wh, EXEC, "no-such-id")
    with pytest.raises(BadInputError):
        customer.customer_360(wh, EXEC, "   ")
    with pytest.raises(BadInputError):
        customer.customer_360(wh, EXEC, "x" * 500)


def test_customer_search_is_scoped_and_literal(wh, frame):
    owner = frame["csm_owner"].iloc[0]
    hits = customer.search_customers(wh, Viewer(owner, "csm"), "")
    mine = set(wh.df("SELECT customer_id FROM customers WHERE csm_owner = ?", [owner])["customer_id"])
    assert len(hits) > 0 and set(hits["customer_id"]) <= mine
    assert customer.search_customers(wh, EXEC, "%").empty  # a literal percent sign, not a wildcard


def test_risk_summary_and_heatmap_add_up(wh, frame):
    s = portfolio.risk_summary(frame)
    assert s.revenue_at_risk == pytest.approx(frame["revenue_at_risk"].sum())
    assert s.revenue_at_risk_low <= s.revenue_at_risk <= s.revenue_at_risk_high
    assert s.by_tier["accounts"].sum() == len(frame)
    groups = portfolio.customer_groups(wh)
    cells = portfolio.churn_risk_by_plan_industry(frame, groups)
    assert cells["customers"].sum() == len(frame)
    mine = frame.merge(groups, on="customer_id", suffixes=("", "_group"))
    assert (mine["plan_tier"] == mine["plan_tier_group"]).all()  # the demo's groups are its plan tiers
    # A company that loaded no plan tiers or industries still gets its one cell (the grid was empty).
    bare = portfolio.churn_risk_by_plan_industry(
        frame, groups.assign(plan_tier=portfolio.NO_PLAN, industry=portfolio.UNKNOWN)
    )
    assert bare[["plan_tier", "industry"]].values.tolist() == [[portfolio.NO_PLAN, "unknown"]]
    assert bare["customers"].iloc[0] == len(frame)
    assert bare["mean_probability"].iloc[0] == pytest.approx(frame["churn_probability"].mean())
    top = portfolio.top_at_risk(frame, 10)
    assert len(top) == 10 and top["revenue_at_risk"].min() >= frame["revenue_at_risk"].iloc[10]


def test_predicted_vs_realised_uses_only_closed_windows(wh):
    history = monitoring.predicted_vs_realised(wh, EXEC)
    end = health.data_as_of(wh)
    assert len(history) == 3
    assert all(pd.Timestamp(d) + pd.Timedelta(days=90) <= pd.Timestamp(end) for d in history["as_of"])
    assert ((history["realised_rate"] >= 0) & (history["realised_rate"] <= 1)).all()
    # Calibrated on average: predicted and realised rates agree within a few points.
    assert (history["predicted_rate"] - history["realised_rate"]).abs().mean() < 0.05
    owner = wh.scalar("SELECT csm_owner FROM customers LIMIT 1")
    mine = monitoring.predicted_vs_realised(wh, Viewer(owner, "csm"))
    assert (mine["customers"] < history["customers"]).all()


def test_stored_predictions_carry_point_in_time_mrr_and_renewal(wh):
    row = wh.df("SELECT * FROM predictions WHERE as_of = (SELECT min(as_of) FROM predictions) LIMIT 1").iloc[0]
    mrr_then = wh.scalar(
        "SELECT arg_max(mrr, month) FROM mrr_history WHERE customer_id = ? AND month <= ?",
        [row["customer_id"], row["as_of"]],
    )
    assert row["mrr"] == pytest.approx(mrr_then)
    assert json.loads(row["drivers"])


def test_readiness_states(scored_copy, empty_dir):
    wh = warehouse.get_warehouse(scored_copy)
    assert churn_status.model_readiness(wh, scored_copy).ready
    wh.execute("DELETE FROM predictions")
    assert churn_status.model_readiness(wh, scored_copy).status == "not_scored"
    current = registry.production("churn", scored_copy)
    path = registry.artifact(current, scored_copy)
    path.write_bytes(path.read_bytes()[:-10])
    state = churn_status.model_readiness(wh, scored_copy)
    assert not state.ready and state.status == "model_unavailable" and "rollback" in state.message
    empty = churn_status.model_readiness(warehouse.get_warehouse(empty_dir), empty_dir)
    assert not empty.ready and empty.status == "no_model" and "train" in empty.message


def test_an_account_that_churned_after_its_last_score_shows_it_as_history_not_as_a_task(wh):
    scored_then_churned = wh.rows(
        "SELECT c.customer_id, c.churn_date, max(p.as_of) FROM customers c JOIN predictions p USING (customer_id) "
        "WHERE c.churn_date IS NOT NULL GROUP BY ALL ORDER BY 1 LIMIT 1"
    )
    cid, churned, last_scored = scored_then_churned[0]
    assert last_scored < churned  # scoring covers active accounts only
    c = customer.customer_360(wh, EXEC, cid)
    assert c.prediction is not None and c.prediction.as_of == last_scored
    assert c.score_is_history
    assert any("before it churned" in note and "not a current risk or a task" in note for note in c.notes)
    assert c.model_dump(mode="json")["score_is_history"] is True  # the API's 360 says so too
    assert customer.latest_prediction(wh, EXEC, cid).churned_on == churned  # and its churn endpoint
    active = wh.scalar(
        "SELECT customer_id FROM customers WHERE churn_date IS NULL AND customer_id IN (SELECT customer_id FROM predictions) "
        "ORDER BY 1 LIMIT 1"
    )
    assert not customer.customer_360(wh, EXEC, active).score_is_history
    assert customer.latest_prediction(wh, EXEC, active).churned_on is None


def test_a_churned_account_says_it_churned_not_that_scoring_is_late(wh):
    from engine.accounts import peers

    churned = wh.rows(
        "SELECT customer_id, churn_date FROM customers WHERE churn_date IS NOT NULL "
        "AND customer_id NOT IN (SELECT customer_id FROM predictions) LIMIT 1"
    )
    cid, when = churned[0]
    c = customer.customer_360(wh, EXEC, cid)
    assert c.prediction is None
    # The page's banner already says when it churned: the note says why there is no score.
    assert c.notes[0] == "Churn scores are for active accounts, so this churned account has none."
    assert when <= c.as_of
    assert "engine score" not in " ".join(c.notes)
    with pytest.raises(NotFoundError, match=r"^This account was not active on [A-Z][a-z]{2} \d") as refused:
        peers.account_position(wh, EXEC, cid)
    assert cid not in str(refused.value)  # named as "this account", not by its raw id


def test_the_board_filters_by_the_company_s_own_columns(scored_copy, monkeypatch):
    """A company whose accounts carry a country (and one channel for all) had the overview split
    by country but no way to narrow the risk board to one; the CSV left the columns out too."""
    from streamlit.testing.v1 import AppTest

    from components.shared import auth
    from engine.core.access import SYSTEM

    data = warehouse.get_warehouse(scored_copy)
    ids = [r[0] for r in data.rows("SELECT customer_id FROM customers ORDER BY customer_id")]
    rows = [(c, "country", "category", None, ("US", "DE", "IN")[i % 3], None) for i, c in enumerate(ids)]
    rows += [(c, "channel", "category", None, "web", None) for c in ids]
    attrs = pd.DataFrame(rows, columns=["customer_id", "attribute", "kind", "number_value", "text_value", "date_value"])
    with data.transaction() as cur:
        cur.register("_attrs", attrs)
        cur.execute("INSERT INTO customer_attributes SELECT * FROM _attrs")
        cur.unregister("_attrs")
        # Labels keep the company's capitals: "EdTech" read "Edtech" in the industry filter.
        cur.execute("UPDATE customers SET industry = 'EdTech' WHERE industry = 'education'")
    warehouse.close_all()
    wh = warehouse.get_warehouse(scored_copy, read_only=True)
    frame = board.with_attributes(wh, board.board_frame(wh, SYSTEM))
    assert board.attribute_options(frame) == {"country": ["DE", "IN", "US"]}  # one channel tells nothing apart
    german = board.filter_board(frame, board.BoardFilters(attributes=(("country", ("DE",)),)))
    expected = {c for i, c in enumerate(ids) if i % 3 == 1} & set(frame["customer_id"])
    assert set(german["customer_id"]) == expected and len(expected) > 0
    assert "country: DE" in board.describe_filters(board.BoardFilters(attributes=(("country", ("DE",)),)))
    exported = board.export_frame(german)
    assert set(exported["country"]) == {"DE"} and not any(c.startswith("attribute:") for c in exported.columns)
    with pytest.raises(BadInputError):
        board.filter_board(board.board_frame(wh, SYSTEM), board.BoardFilters(attributes=(("country", ("DE",)),)))

    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_copy))
    at = AppTest.from_file("../views/risk_board.py", default_timeout=60)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["analyst"])
    at.run(timeout=60)
    assert not at.exception
    labels = [m.label for m in at.multiselect]
    assert "Country" in labels and "Channel" not in labels
    industries = next(m for m in at.multiselect if m.label == "Industry").options
    assert "EdTech" in industries and "Edtech" not in industries
    at.multiselect(key="bf_attr_country").set_value(["DE"]).run(timeout=60)
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Matching accounts"] == f"{len(expected):,}"


def test_a_board_whose_every_account_churned_says_so_not_that_scores_are_missing(data_dir_copy, monkeypatch):
    """Every account of the book churned before the first scores: the board said "No active
    customer has a churn score yet", as if the next scoring run would fill it."""
    from components.shared import auth
    from tests.apptest import open_page, shown

    wh = warehouse.get_warehouse(data_dir_copy)
    day = health.data_as_of(wh)
    wh.execute("UPDATE customers SET churn_date = least(signup_date + INTERVAL 40 DAY, ?), status = 'churned'", [day])
    last = wh.scalar("SELECT max(churn_date) FROM customers")
    warehouse.close_all()
    for role in ("executive", "csm"):
        at = open_page("risk_board", role, data=data_dir_copy, monkeypatch=monkeypatch)
        message = shown(at.info[0].value)
        assert message.startswith("Every one of") and f"{last:%b %-d, %Y}" in message, (role, message)
        assert "score" not in message and not at.dataframe
    mine = board.empty_book_message(warehouse.get_warehouse(data_dir_copy, read_only=True), auth.TEST_VIEWERS["csm"])
    assert mine.startswith("Every one of your ")


def test_usage_change_and_decay_of_an_account_younger_than_two_months_are_not_measured(wh):
    """A 45-day-old account read '+100%' events and usage decay 0.00 ('no decay') on Customer
    360 and in the AI's facts: its 30 days before were partly before it signed up."""
    from engine.ai import facts, prompts
    from engine.churn import risk

    as_of = health.data_as_of(wh)
    ages = wh.df(
        "SELECT customer_id, date_diff('day', signup_date, ?) AS age FROM customers "
        "WHERE churn_date IS NULL AND signup_date <= ? ORDER BY age",
        [as_of, as_of],
    )
    young = ages[ages["age"] < risk.DECAY_DAYS]["customer_id"].iloc[-1]
    grown = ages[ages["age"] >= risk.DECAY_DAYS]["customer_id"].iloc[0]
    for cid, measured in ((young, False), (grown, True)):
        velocity = customer.customer_360(wh, EXEC, cid).velocity
        usage = facts.load_facts(wh, cid, EXEC).usage
        assert (velocity.usage_decay_score is not None) is measured, cid
        assert (usage.usage_decay_score is not None) is measured, cid
        if not measured:
            assert velocity.change_30d is None and usage.usage_change is None
            sheet = facts.load_facts(wh, cid, EXEC)
            assert "usage decay not measured yet (it compares the last 30 days" in prompts.facts_block(sheet)
