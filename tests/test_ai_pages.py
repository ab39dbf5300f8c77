"""AI panels in the app (offline writer): Customer 360 summary and the Ask AI page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import auth
from engine import board, warehouse
from engine.access import Viewer
from engine.llm import DISCLAIMER

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


@pytest.fixture
def data(scored_copy, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_copy))
    wh = warehouse.get_warehouse(scored_copy, read_only=True)
    frame = board.board_frame(wh, Viewer("exec", "executive"))
    warehouse.close_all()
    csm = auth.TEST_VIEWERS["csm"].username
    return {"mine": frame[frame["csm_owner"] == csm].iloc[0], "theirs": frame[frame["csm_owner"] != csm].iloc[0]}


def _open(role: str, page: str, query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def test_customer_360_writes_a_checked_summary(data, steady_navigation):
    at = _open("csm", "customer_360", {"customer_id": data["mine"]["customer_id"]})
    next(b for b in at.button if b.label == "Write summary").click().run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert data["mine"]["name"] in text
    captions = [c.value for c in at.caption]
    assert DISCLAIMER in captions
    assert any("offline writer" in c and "confidence" in c for c in captions)


def test_ask_about_an_account_answers_and_refuses(data, steady_navigation):
    at = _open("csm", "ai_qa", {"customer_id": data["mine"]["customer_id"]})
    box = next(t for t in at.text_input if t.label == "Your question")
    box.input("What is their MRR?")
    at.button(key="ask_account").click().run()
    assert not at.exception
    assert any("MRR" in m.value for m in at.markdown)
    box = next(t for t in at.text_input if t.label == "Your question")
    box.input("What is the CEO's home phone number?")
    at.button(key="ask_account").click().run()
    assert any(w.value for w in at.warning)  # the fixed refusal


def test_portfolio_question_shows_table_and_sql(data, steady_navigation):
    at = _open("executive", "ai_qa", {})
    box = next(t for t in at.text_input if t.label == "Question")
    box.input("Which enterprise accounts have churn above 20 %?")
    at.button(key="ask_portfolio").click().run()
    assert not at.exception and not at.error
    assert at.dataframe and len(at.dataframe[0].value) > 0
    assert any("SELECT" in c.value.upper() for c in at.code)


def test_a_csm_gets_no_ai_on_another_book(data, steady_navigation):
    at = _open("csm", "ai_qa", {"customer_id": data["theirs"]["customer_id"]})
    box = next(t for t in at.text_input if t.label == "Your question")
    box.input("Why is this account at risk?")
    at.button(key="ask_account").click().run()
    assert "not in your book" in at.error[0].value
    assert data["theirs"]["name"] not in " ".join(m.value for m in at.markdown)
