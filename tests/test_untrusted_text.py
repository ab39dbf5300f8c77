"""Text from customers' data never renders as live markdown (images, links, styles) on any page.

A tester put `![x](//host/beacon.png)` and a link into a customer name and a ticket subject;
the Customer 360 title rendered the image and every viewer's browser fetched the beacon.
Here the same kind of text goes into every free-text column a page shows, and each page,
for each role, must carry it only in escaped form.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.shared import auth
from components.shared.markdown import plain
from engine import scenarios
from engine.accounts import board
from engine.core import store
from engine.core.access import Viewer
from engine.data import warehouse
from tests.test_account_pages import _page as _open

HOSTILE = "Evil ![x](//beacon.example/b.png) [click](https://evil.example/login) :red[boom] $x$"
# What must never reach a markdown element unescaped.
LIVE_MARKUP = ("](//beacon.example", "](https://evil.example", ":red[boom]", "![x]")
# Elements whose payload is data, not markdown (tables, charts): the raw text is expected there.
DATA_ELEMENTS = {"dataframe", "arrow_data_frame", "plotly_chart", "vega_lite_chart", "json", "code"}
# Widgets whose options and values show as plain text (only their label and help are markdown).
PLAIN_VALUE_WIDGETS = {"multiselect", "selectbox", "text_input", "text_area", "number_input", "date_input"}


@pytest.fixture(scope="module")
def hostile_dir(scored_dir, tmp_path_factory) -> tuple[Path, str]:
    """The scored warehouse with hostile text in the CSM's riskiest account and its tickets."""
    root = tmp_path_factory.mktemp("hostile") / "data"
    shutil.copytree(scored_dir, root)
    wh = warehouse.get_warehouse(root)
    csm = auth.TEST_VIEWERS["csm"].username
    frame = board.board_frame(wh, Viewer(csm, "csm"))
    customer_id = str(frame.sort_values("churn_probability", ascending=False)["customer_id"].iloc[0])
    with wh.transaction() as con:
        con.execute(
            "UPDATE customers SET name = ?, industry = ?, region = ? WHERE customer_id = ?",
            [HOSTILE, HOSTILE, HOSTILE, customer_id],
        )
        con.execute(
            "UPDATE support_tickets SET subject = ?, topic = ? WHERE customer_id = ?", [HOSTILE, HOSTILE, customer_id]
        )
        con.execute(
            "UPDATE gtm_opportunities SET stage = ?, owner = ? WHERE customer_id = ?", [HOSTILE, HOSTILE, customer_id]
        )
    # A plan an analyst saved under a hostile name, read by executives on Scenarios.
    analyst = auth.TEST_VIEWERS["analyst"]
    plan = scenarios.plan_from_dict({"outreach": {"top_n": 10, "churn_reduction": 20.0, "cost_per_account": 200.0}})
    scenarios.save(HOSTILE, scenarios.simulate(wh, plan, analyst, root), analyst, ["tag"], root)
    warehouse.close_all()
    store.dispose_all()
    return root, customer_id


def _markdown_payloads(at: AppTest) -> list[str]:
    """The text of every rendered element that Streamlit treats as markdown."""
    found: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", None)
        if kind in PLAIN_VALUE_WIDGETS:
            found.append(f"<{kind}> {proto.label} {proto.help}")
        elif proto is not None and kind not in DATA_ELEMENTS:
            found.append(f"<{kind}> {proto}")
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def _assert_inert(at: AppTest) -> None:
    payloads = _markdown_payloads(at)
    for text in payloads:
        for markup in LIVE_MARKUP:
            assert markup not in text, f"live markup {markup!r} rendered in: {text[:600]}"


def test_plain_escapes_markdown_and_keeps_the_words():
    text = plain(HOSTILE)
    for markup in LIVE_MARKUP:
        assert markup not in text
    assert text.replace("\\", "").replace("\u2060", "") == HOSTILE  # word joiners break autolinks
    assert plain("line one\nline two") == "line one line two"
    assert plain(None) == plain(float("nan")) == "—"


@pytest.mark.parametrize("role", ["csm", "admin"])
def test_customer_360_shows_hostile_text_inert(hostile_dir, role, monkeypatch):
    data, customer_id = hostile_dir
    at = _open(data, role, "customer_360", monkeypatch, {"customer_id": customer_id})
    assert any("Evil" in t.value for t in at.title), "the account's name is its title"
    _assert_inert(at)


def test_customer_360_search_links_are_inert(hostile_dir, monkeypatch):
    data, _ = hostile_dir
    at = _open(data, "csm", "customer_360", monkeypatch)
    at.text_input[0].input("Evil").run()
    assert not at.exception, at.exception
    payloads = " ".join(_markdown_payloads(at))
    assert "Evil" in payloads, "the matching account is offered"
    _assert_inert(at)


@pytest.mark.parametrize(
    ("role", "page"),
    [
        ("csm", "risk_board"),
        ("admin", "risk_board"),
        ("executive", "overview"),
        ("analyst", "scenarios"),
        ("executive", "scenarios"),
        ("analyst", "forecasts"),
        ("admin", "model_data"),
        ("admin", "data"),
    ],
)
def test_pages_show_hostile_text_inert(hostile_dir, role, page, monkeypatch):
    data, _ = hostile_dir
    _assert_inert(_open(data, role, page, monkeypatch))
