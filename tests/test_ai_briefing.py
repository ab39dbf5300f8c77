"""The AI briefing on the book: the Overview's figures in 3-5 checked sentences, for the viewer's book."""

from __future__ import annotations

import re

from engine.accounts import board
from engine.ai import DISCLAIMER, GroqClient, LlmSettings, audit, fmt
from engine.ai import guardrails as gr
from engine.ai.briefing import book_facts, brief_the_book
from engine.core.access import SYSTEM, Viewer
from engine.data.warehouse import get_warehouse
from engine.portfolio.kpis import portfolio_kpis
from tests.apptest import open_page

pytest_plugins = ("tests.fake_groq",)


def _sentences(text: str) -> int:
    body = text.replace(DISCLAIMER, "").strip()
    return len(re.findall(r"[.!?](?:\s|$)", body))


def test_the_template_briefs_the_book_from_the_overviews_figures(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    done = brief_the_book(wh, SYSTEM, client=None, data_dir=ai_data_dir)
    k = portfolio_kpis(wh, done.as_of)
    facts = book_facts(wh, SYSTEM)
    text = done.briefing
    assert text.rstrip().endswith(DISCLAIMER) and 3 <= _sentences(text) <= 5, text
    assert done.guardrail_flags == () and done.confidence_score == gr.TEMPLATE_CONFIDENCE, done.guardrail_details
    assert f"{fmt.count(k.active_customers)} active customers" in text and fmt.money(k.total_mrr) in text
    assert fmt.money(facts.revenue_at_risk) in text and facts.exposures[0].name in text
    assert fmt.pct(k.net_revenue_retention_12m, 1) in text
    row = next(r for r in audit.recent(ai_data_dir, 20) if r.id == done.audit_id)
    assert (row.kind, row.customer_id, row.username) == ("briefing", None, SYSTEM.username)


def test_a_csms_briefing_speaks_of_their_book_only(ai_data_dir, fake_groq):
    wh = get_warehouse(ai_data_dir, read_only=True)
    everyone = board.board_frame(wh, SYSTEM)
    owner = everyone.groupby("csm_owner").size().idxmax()
    csm = Viewer(owner, "csm")
    mine = board.board_frame(wh, csm)
    facts = book_facts(wh, csm)
    assert facts.accounts == len(mine) < len(everyone) and facts.book.startswith("your book")
    assert {e.name for e in facts.exposures} <= set(mine["name"])
    assert facts.kpis.active_customers == portfolio_kpis(wh, facts.as_of, csm).active_customers
    # The model's prompt names no account of another book.
    others = everyone[everyone["csm_owner"] != owner].nlargest(3, "revenue_at_risk")["name"]
    fake_groq.queue(fake_groq.Reply("Your book is steady."))
    client = GroqClient(LlmSettings(api_key="t", model="m", base_url=fake_groq.base_url, max_retries=0))
    brief_the_book(wh, csm, client=client, data_dir=ai_data_dir)
    prompt = fake_groq.completion_requests[-1].prompt
    assert facts.exposures[0].name in prompt and not any(name in prompt for name in others)


def test_a_models_invented_figure_is_flagged_and_a_faithful_one_is_not(ai_data_dir, fake_groq):
    wh = get_warehouse(ai_data_dir, read_only=True)
    facts = book_facts(wh, SYSTEM)
    k = facts.kpis
    client = GroqClient(LlmSettings(api_key="t", model="m", base_url=fake_groq.base_url, max_retries=0))
    faithful = (
        f"The book has {fmt.count(k.active_customers)} active customers paying {fmt.money(k.total_mrr)} MRR. "
        f"{fmt.money(facts.revenue_at_risk)} of ARR is at risk over the next 90 days. "
        f"The largest exposure is {facts.exposures[0].name} at {fmt.money(facts.exposures[0].revenue_at_risk)}."
    )
    fake_groq.queue(fake_groq.Reply(faithful), fake_groq.Reply(faithful.replace(fmt.money(k.total_mrr), "$9.9M")))
    good = brief_the_book(wh, SYSTEM, client=client, data_dir=ai_data_dir)
    assert good.llm_provider == "groq" and "ungrounded_number" not in good.guardrail_flags, good.guardrail_details
    bad = brief_the_book(wh, SYSTEM, client=client, data_dir=ai_data_dir)
    assert "ungrounded_number" in bad.guardrail_flags and bad.needs_review


def test_a_name_made_of_digits_does_not_hide_the_digits_of_a_figure():
    """An account named "9" (ChurnSim's ids are its names) masked the 9 of "$3.9K", which then read
    as "$3" and flagged a true figure."""
    g = gr.Grounding()
    g.add_number(3900.0, "currency")
    g.masks.add("9")
    assert gr.check_numbers("Account 9 has $3.9K of ARR at risk; 9's renewal is near.", g) == []


def test_the_overview_writes_the_briefing_on_request(ai_data_dir, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    at = open_page("overview", "executive", data=ai_data_dir, monkeypatch=monkeypatch, timeout=120)
    assert not at.exception and any("3–5 sentences on the book" in c.value for c in at.caption)
    at.button(key="ai_briefing_button").click().run()
    assert not at.exception, at.exception
    written = [m.value for m in at.markdown if "active customers paying" in m.value]
    assert written and "Written by the built-in template" in " ".join(c.value for c in at.caption)


def test_a_csm_reads_the_briefing_on_their_book_from_the_risk_board(ai_data_dir, monkeypatch):
    """A CSM has no Overview: the risk board offers the briefing on their own book; leaders have it
    on the Overview only."""
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    at = open_page("risk_board", "csm", data=ai_data_dir, monkeypatch=monkeypatch, timeout=120)
    assert [e.label for e in at.expander if "briefing" in e.label] == ["AI briefing on your book"]
    at.button(key="ai_briefing_button").click().run()
    assert not at.exception, at.exception
    assert any("your book" in m.value and "active customers paying" in m.value for m in at.markdown)
    leader = open_page("risk_board", "executive", data=ai_data_dir, monkeypatch=monkeypatch, timeout=120)
    assert not [e for e in leader.expander if "briefing" in e.label]


def test_a_small_book_is_briefed_in_good_grammar(ai_data_dir):
    """One exposure and under one expected churn: no "exposures are" over one name, no "about 0 accounts"."""
    import dataclasses

    from engine.ai.briefing import offline_briefing

    facts = book_facts(get_warehouse(ai_data_dir, read_only=True), SYSTEM)
    small = dataclasses.replace(facts, exposures=facts.exposures[:1], expected_churns=0.4)
    text = offline_briefing(small)
    assert "The largest exposure is " in text and "the top reason:" in text and "less than one account" in text
    assert "about 0" not in text
