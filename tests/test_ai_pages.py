"""AI panels in the app (offline writer): Customer 360 summary and the Ask AI page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components import ai
from components.shared import auth
from engine.accounts import board
from engine.ai import DISCLAIMER
from engine.core.access import Viewer
from engine.data import warehouse
from tests.apptest import open_page


@pytest.fixture
def data(scored_copy, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_copy))
    wh = warehouse.get_warehouse(scored_copy, read_only=True)
    frame = board.board_frame(wh, Viewer("exec", "executive"))
    warehouse.close_all()
    csm = auth.TEST_VIEWERS["csm"].username
    return {"mine": frame[frame["csm_owner"] == csm].iloc[0], "theirs": frame[frame["csm_owner"] != csm].iloc[0]}


def auth_dir() -> str:
    import os

    return os.environ["RADAR_DATA_DIR"]


def _open(role: str, page: str, query: dict) -> AppTest:
    return open_page(page, role, query=query, timeout=90)


def test_customer_360_writes_a_checked_summary(data):
    at = _open("csm", "customer_360", {"customer_id": data["mine"]["customer_id"]})
    next(b for b in at.button if b.label == "Write summary").click().run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert data["mine"]["name"] in text
    captions = [c.value for c in at.caption]
    # The template's text is not called "AI-generated": its note names the writer honestly.
    assert ai.TEMPLATE_NOTE in captions and DISCLAIMER not in captions
    assert any("built-in template (no AI model)" in c and "confidence 0.90" in c for c in captions)
    assert not any("confidence 1.00" in c for c in captions)  # a template never claims full confidence


def test_ask_about_an_account_answers_and_refuses(data):
    at = _open("csm", "ai_qa", {"customer_id": data["mine"]["customer_id"]})
    box = next(t for t in at.text_input if t.label == "Your question")
    box.input("What is their MRR?")
    at.button(key="ask_account").click().run()
    assert not at.exception
    assert any("MRR" in m.value for m in at.markdown)
    box = next(t for t in at.text_input if t.label == "Your question")
    box.input("What is the CEO's home phone number?")
    at.button(key="ask_account").click().run()
    refusals = [w.value for w in at.warning]
    assert refusals  # the fixed refusal, which no model wrote: not labelled "AI-generated"
    assert not any("AI-generated" in w for w in refusals)


def test_portfolio_question_shows_table_and_sql(data):
    at = _open("executive", "ai_qa", {})
    box = next(t for t in at.text_input if t.label == "Question")
    box.input("Which enterprise accounts have churn above 20 %?")
    at.button(key="ask_portfolio").click().run()
    assert not at.exception and not at.error
    assert at.dataframe and len(at.dataframe[0].value) > 0
    assert any("SELECT" in c.value.upper() for c in at.code)


def test_a_csm_gets_no_ai_on_another_book(data):
    at = _open("csm", "ai_qa", {"customer_id": data["theirs"]["customer_id"]})
    # Refused on opening, as Customer 360 does, not after a question typed in vain.
    assert "not in your book" in at.error[0].value
    assert not [t for t in at.text_input if t.label == "Your question"]
    assert not [b for b in at.button if b.label == "Draft message"]
    assert data["theirs"]["name"] not in " ".join(m.value for m in at.markdown)


def test_a_draft_starts_from_the_fitting_goal_and_its_copy_holds_no_disclaimer(data):
    from engine import ai as llm

    mine = data["mine"]["customer_id"]
    at = _open("csm", "ai_qa", {"customer_id": mine})
    wh = warehouse.get_warehouse(auth_dir(), read_only=True)
    expected = llm.suggested_goal(wh, mine, auth.TEST_VIEWERS["csm"])
    warehouse.close_all()
    assert at.selectbox(key=f"draft_goal_{mine}").value == expected
    assert any("Drafting to" in m.value and data["mine"]["name"] in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "Draft message").click().run()
    assert not at.exception and not at.error
    message = next(t for t in at.text_area if t.label.startswith("Message")).value
    # The customer gets the reviewed text; the warning is for the CSM, above it.
    assert message and DISCLAIMER not in message and "AI-generated" not in message
    assert any(ai.TEMPLATE_NOTE in w.value for w in at.warning)
    assert at.code[-1].value == message


# -- issue 12 items 4 and 18 ------------------------------------------------------------
def test_ask_ai_opened_from_customer_360_names_the_account(data):
    at = _open("csm", "ai_qa", {"customer_id": data["mine"]["customer_id"]})
    text = " ".join(m.value for m in at.markdown)
    assert "Asking about" in text and data["mine"]["name"].split()[0] in text


def test_portfolio_table_uses_display_names_and_formats_csv_keeps_raw(data):

    at = _open("executive", "ai_qa", {})
    box = next(t for t in at.text_input if t.label == "Question")
    box.input("Top 5 accounts by revenue at risk")
    at.button(key="ask_portfolio").click().run()
    assert not at.exception and not at.error
    frame = at.dataframe[0].value
    assert "revenue_at_risk" in frame.columns  # the column names stay raw (and the CSV's figures with them)
    # Money as the page writes it ($2.4M, not $2,401,808.06), churn as a percent with one decimal.
    assert frame["revenue_at_risk"].str.match(r"^\$[\d.]+[KM]?$").all()
    assert frame["churn_probability"].between(0, 100).all()
    config = ai.portfolio_column_config(frame)
    assert config["revenue_at_risk"]["label"] == "ARR at risk"
    assert config["churn_probability"]["type_config"]["format"] == "%.1f%%"
    assert config["name"]["label"] == "Account" and config["csm_owner"]["label"] == "Owner (CSM)"
    order = at.dataframe[0].proto.column_order
    assert order[:3] == ["name", "revenue_at_risk", "churn_probability"] and order[-1] == "customer_id"
    answer = " ".join(m.value for m in at.markdown)
    assert "I read this as" in answer


def test_markdown_in_ai_text_is_never_live():

    body = "Subject: ![x](//evil.example/beacon.png) see [here](https://evil.example/a) <img src=x>"
    shown = ai.inert(body)
    import re

    assert not re.search(r"(?<!\\)[\[\]()<>!]", shown)  # every markup character is escaped
    assert "\\!\\[x\\]\\(//evil.example/beacon.png\\)" in shown
    assert "https\u2060://" in shown  # a bare URL is broken by a word joiner (tested in a browser)


def test_a_missing_value_in_an_answer_is_named_not_none():
    """ "ARR at risk by country" listed accounts without a country as a grey "None" row: a
    group is named as the answer's text names it, a list's blank cell is a dash."""
    import pandas as pd

    from components import ai
    from engine.core import formatting

    groups = pd.DataFrame(
        {"country": pd.Series(["CA", None], dtype="str"), "total_revenue_at_risk": [79_200.0, 59_900.0]}
    )
    assert ai.portfolio_display(groups)["country"].tolist() == ["CA", "No country"]
    listed = pd.DataFrame(
        {"customer_id": ["1", "2"], "country": pd.Series([None, "US"], dtype="str"), "mrr": [10.0, 20.0]}
    )
    assert ai.portfolio_display(listed)["country"].tolist() == [formatting.MISSING, "US"]
