"""Risk board and Customer 360 pages for every role, through the app and AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.shared import auth
from engine.accounts import board
from engine.churn import registry
from engine.core.access import Viewer
from engine.data import warehouse
from tests.apptest import open_page


@pytest.fixture(scope="module")
def accounts(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    frame = board.board_frame(wh, Viewer("exec", "executive"))
    warehouse.close_all()
    csm = auth.TEST_VIEWERS["csm"].username
    mine = frame[frame["csm_owner"] == csm]
    theirs = frame[frame["csm_owner"] != csm]
    assert len(mine) > 0, "the test CSM must own accounts in the generated data"
    return {"all": frame, "mine": mine, "theirs": theirs}


def _page(data: Path, role: str, page: str, monkeypatch, query: dict | None = None) -> AppTest:
    return open_page(page, role, data=data, monkeypatch=monkeypatch, query=query, timeout=90)


@pytest.mark.parametrize("role", ["csm", "executive", "analyst", "admin"])
def test_risk_board_for_every_role(scored_dir, accounts, role, monkeypatch):
    at = _page(scored_dir, role, "risk_board", monkeypatch)
    assert at.title[0].value == "Risk board"
    metrics = {m.label: m.value for m in at.metric}
    expected = accounts["mine"] if role == "csm" else accounts["all"]
    assert metrics["Matching accounts"] == f"{len(expected):,}"
    table = at.dataframe[0].value
    owners = set(expected.loc[expected["customer_id"].isin(table["customer_id"]), "csm_owner"])
    assert len(table) == min(25, len(expected))
    if role == "csm":
        assert owners == {auth.TEST_VIEWERS["csm"].username}
        assert "Owner" not in [m.label for m in at.multiselect]
    else:
        assert "Owner" in [m.label for m in at.multiselect]


def test_risk_board_filters_and_search(scored_dir, accounts, monkeypatch):
    at = _page(scored_dir, "executive", "risk_board", monkeypatch)
    target = accounts["all"].iloc[5]
    at.text_input[0].input(target["customer_id"]).run()
    assert not at.exception
    assert at.dataframe[0].value["customer_id"].tolist() == [target["customer_id"]]
    at.text_input[0].input("").run()
    tier_box = next(m for m in at.multiselect if m.label == "Risk tier")
    tier_box.set_value(["low"]).run()
    assert set(at.dataframe[0].value["risk_tier"]) == {"Low"}


def test_risk_board_says_which_filters_leave_nothing_and_clears_them(scored_dir, accounts, monkeypatch):
    at = _page(scored_dir, "executive", "risk_board", monkeypatch)
    everyone = len(at.dataframe[0].value)
    next(m for m in at.multiselect if m.label == "Risk tier").set_value(["critical"]).run()
    at.number_input(key="bf_min_mrr").set_value(10_000_000).run()
    assert not at.exception and not at.dataframe  # no bare empty grid
    hint = at.info[0].value
    assert "matches these filters" in hint and "tier: critical" in hint and "MRR at least $10,000,000" in hint
    at.button(key="bf_clear").click().run()
    assert not at.info or "matches these filters" not in at.info[0].value
    assert len(at.dataframe[0].value) == everyone
    assert at.number_input(key="bf_min_mrr").value == 0


@pytest.mark.parametrize("role", ["csm", "executive", "analyst", "admin"])
def test_customer_360_for_every_role(scored_dir, accounts, role, monkeypatch):
    row = accounts["mine"].iloc[0]
    at = _page(scored_dir, role, "customer_360", monkeypatch, {"customer_id": row["customer_id"]})
    assert not at.error
    assert at.title[0].value == row["name"]
    labels = [m.label for m in at.metric]
    assert "MRR" in labels and "Next 12 months" in labels
    assert any("Churn risk" in m.value for m in at.markdown)
    charts = [m.value for m in at.markdown if "data-radar-chart" in m.value]
    assert len(charts) >= 3  # drivers, usage, MRR history


@pytest.mark.parametrize(("role", "page"), [("csm", "customer_360"), ("executive", "customer_360"), ("csm", "ai_qa")])
def test_account_pages_without_an_account_offer_the_most_revenue_at_risk(scored_dir, accounts, role, page, monkeypatch):
    at = _page(scored_dir, role, page, monkeypatch)
    assert not at.exception
    book = accounts["mine"] if role == "csm" else accounts["all"]
    links = [link.proto.label for link in at.get("page_link")]
    expected = book.sort_values("revenue_at_risk", ascending=False, kind="stable")["name"].head(5).tolist()
    assert [label.split(" · ")[0] for label in links] == expected
    if role == "csm":
        assert not any(name in " ".join(links) for name in accounts["theirs"]["name"])


def test_csm_deep_link_to_another_book_leaks_nothing(scored_dir, accounts, monkeypatch):
    other = accounts["theirs"].iloc[0]
    at = _page(scored_dir, "csm", "customer_360", monkeypatch, {"customer_id": other["customer_id"]})
    assert "not in your book" in at.error[0].value
    shown = " ".join([e.value for e in at.error] + [m.value for m in at.markdown] + [t.value for t in at.title])
    assert other["name"] not in shown and not at.metric


def test_unknown_customer_says_not_found(scored_dir, monkeypatch):
    at = _page(scored_dir, "executive", "customer_360", monkeypatch, {"customer_id": "no-such-account"})
    assert "No customer with id" in at.error[0].value


def test_pages_say_how_to_fix_a_missing_model(scored_copy, accounts, monkeypatch):
    current = registry.production("churn", scored_copy)
    registry.artifact(current, scored_copy).write_bytes(b"tampered")
    at = _page(scored_copy, "executive", "risk_board", monkeypatch)
    assert "Churn scores unavailable" in at.warning[0].value and "rollback" in at.warning[0].value
    assert not at.dataframe
    row = accounts["all"].iloc[0]
    at = _page(scored_copy, "executive", "customer_360", monkeypatch, {"customer_id": row["customer_id"]})
    assert any("Churn scores unavailable" in w.value for w in at.warning)
    assert not any("Churn risk" in m.value for m in at.markdown)


def test_customer_360_lists_reasons_to_act_on_apart_from_the_rest(scored_dir, accounts, monkeypatch):
    from engine.accounts import customer

    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    csm = auth.TEST_VIEWERS["csm"]
    found = None
    for cid in accounts["mine"]["customer_id"]:
        drivers = customer.customer_360(wh, csm, cid).prediction.top_shap_features
        if any(d.actionable for d in drivers) and not all(d.actionable for d in drivers):
            found = cid, drivers
            break
    warehouse.close_all()
    assert found, "some account of the test CSM has reasons of both kinds"
    cid, drivers = found
    at = _page(scored_dir, "csm", "customer_360", monkeypatch, {"customer_id": cid})
    texts = [m.value for m in at.markdown]
    act, rest = texts.index("**✦ You can act on**"), texts.index("**Also in the score**")
    listed = [t for t in texts[act:] if t.startswith((":red[▲]", ":green[▼]"))]
    # The stored order (actionable first) under headings that say why it differs from the chart's.
    assert len(listed) == len(drivers)
    assert all(texts.index(t) < rest for t in listed[: sum(d.actionable for d in drivers)])


def test_the_board_says_so_when_nothing_raises_an_accounts_risk(scored_copy, monkeypatch):
    """A score whose drivers all lower the risk stores no top driver: the board says that in
    words, not "None"."""
    from components.account_tables import NOTHING_RAISES

    wh = warehouse.get_warehouse(scored_copy)
    customer_id = wh.scalar(
        "SELECT customer_id FROM predictions WHERE as_of = (SELECT max(as_of) FROM predictions) "
        "ORDER BY churn_probability DESC LIMIT 1"
    )
    with wh.transaction() as cur:
        cur.execute("UPDATE predictions SET top_driver = NULL WHERE customer_id = ?", [customer_id])
    warehouse.close_all()
    at = _page(scored_copy, "executive", "risk_board", monkeypatch)
    at.text_input[0].input(customer_id).run()
    assert not at.exception
    assert at.dataframe[0].value["top_driver"].tolist() == [NOTHING_RAISES]


def test_one_week_of_usage_is_said_in_words_not_drawn_as_a_sliver():
    """A 5-day-old account's usage chart was one hairline at the left edge of a 26-week axis."""
    import pandas as pd

    from components import account_tools

    weekly = pd.DataFrame(
        {
            "week": pd.to_datetime(["2025-11-24"] * 6),
            "event_type": ["add_lead", "disqualify_opportunity", "a", "b", "c", "d"],
            "events": [6, 5, 1, 1, 1, 1],
        }
    )
    assert account_tools.first_week_usage(weekly) == (
        "Its first week: 15 events (6 add lead, 5 disqualify opportunity, 1 a, 1 b and 2 other types). "
        "The weekly chart starts once it has two weeks."
    )
