"""The AI outputs as typed contracts: one AiOutput base, JSON round trips, today's keys kept,
one audit writer for every kind, old audit rows and old JSON still read, a stable facts hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import text

from engine import cli
from engine.ai import (
    ActionPlan,
    AiOutput,
    Answer,
    AuditRow,
    Draft,
    PortfolioAnswer,
    Summary,
    ask_customer,
    ask_portfolio,
    draft_message,
    next_best_actions,
    recent_ai_outputs,
    summarize,
)
from engine.core import store
from engine.core.access import SYSTEM, Viewer
from engine.core.contracts import ShapFeature, from_json, to_dict, to_json
from engine.data import health
from engine.data.warehouse import get_warehouse
from tests.test_llm_guardrails import FACTS

pytest_plugins = ("tests.fake_groq",)

SEED_NAMES = {"confidence_score", "guardrail_flags", "scope_exceeded", "generated_at", "model_used", "llm_provider"}
SHARED = {"guardrail_details", "facts_hash", "provider_requests", "audit_id", "needs_review"}
# The keys each output's JSON had before the models (the hand-written as_dict()s).
OLD_KEYS = {
    "summary": {"customer_id", "audience", "summary", "churn_probability", "risk_tier", "top_shap_features"},
    "ask": {"customer_id", "question", "answer", "scope_exceeded", "facts_used"},
    "draft": {"customer_id", "goal", "channel", "tone", "length", "message", "personalization_applied"},
    "actions": {
        "customer_id",
        "actions",
        "revenue_at_risk",
        "warnings",
        "talking_points",
        "narrative",
        "churn_probability",
        "risk_tier",
    },
    "portfolio": {
        "question",
        "answer",
        "sql",
        "sql_display",
        "params",
        "row_count",
        "truncated",
        "scope_exceeded",
        "refused",
        "refusal_reason",
        "interpretation",
        "seconds",
        "columns",
        "rows",
    },
}
AUDIT_KEYS = [
    "id",
    "created_at",
    "username",
    "role",
    "kind",
    "customer_id",
    "provider",
    "model",
    "facts_hash",
    "flags",
    "confidence",
    "scope_exceeded",
    "provider_requests",
    "request",
    "output",
]


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)


@pytest.fixture
def wh(ai_data_dir):
    return get_warehouse(ai_data_dir, read_only=True)


@pytest.fixture
def cid(wh) -> str:
    return wh.scalar("SELECT customer_id FROM predictions ORDER BY churn_probability DESC LIMIT 1")


@pytest.fixture
def outputs(wh, cid) -> dict[str, AiOutput]:
    """One offline output of each of the five writers."""
    return {
        "summary": summarize(wh, cid, "executive", SYSTEM, client=None),
        "ask": ask_customer(wh, cid, "When is the renewal?", SYSTEM, client=None),
        "draft": draft_message(wh, cid, SYSTEM, goal="upsell", channel="sms", client=None),
        "actions": next_best_actions(wh, cid, SYSTEM, client=None),
        "portfolio": ask_portfolio(wh, "Top 5 accounts by revenue at risk", SYSTEM, client=None),
    }


# -- the facts block -----------------------------------------------------------------------
def test_the_facts_hash_of_a_fixed_fact_sheet_never_changes():
    """The audit log compares hashes across releases: the same facts must keep the same hash."""
    assert FACTS.facts_hash() == "71a61b70d75b764103f3224fde54c00a297f0faba7efd82d8573f86a4ae1afb1"
    bare = replace(
        FACTS, prediction=None, drivers=(), compliance_gap_score=float("nan"), renewal_date=None, days_to_renewal=None
    )
    assert bare.facts_hash() == "a8f60e9b3eef5e66d7e8e24b32b85803ee374149c2d710bb22157cd991474360"
    data = FACTS.as_dict()
    assert data["as_of"] == "2026-06-30" and data["tenure_years"] == 3.3 and data["open_pipeline"] == 50400.0
    assert bare.as_dict()["compliance_gap_score"] is None  # NaN is written as null
    json.dumps(data)


# -- one base, today's keys, round trips ---------------------------------------------------------
def test_the_five_writers_return_models_of_one_base(outputs):
    kinds = {kind: type(output) for kind, output in outputs.items()}
    assert kinds == {
        "summary": Summary,
        "ask": Answer,
        "draft": Draft,
        "actions": ActionPlan,
        "portfolio": PortfolioAnswer,
    }
    for kind, output in outputs.items():
        assert isinstance(output, AiOutput) and output.kind == kind
        assert not hasattr(output, "as_dict")


@pytest.mark.parametrize("kind", list(OLD_KEYS))
def test_json_keeps_todays_keys_and_adds_the_seed_names(outputs, kind):
    data = to_dict(outputs[kind])
    # Every output gains the seed names it lacked (scope_exceeded false); a portfolio answer shows
    # its facts_hash (the query's hash, kept in the audit log before).
    assert set(data) == OLD_KEYS[kind] | SEED_NAMES | SHARED
    assert data["needs_review"] is outputs[kind].needs_review
    assert isinstance(data["guardrail_flags"], list) and isinstance(data["audit_id"], int)
    json.dumps(data)


def test_summary_drivers_follow_the_seed_contract(outputs):
    summary = outputs["summary"]
    assert summary.top_shap_features and all(isinstance(d, ShapFeature) for d in summary.top_shap_features)
    first = to_dict(summary)["top_shap_features"][0]
    assert set(first) == {"feature", "value", "shap_impact", "reason"}


def test_portfolio_table_is_rows_and_columns_in_json(outputs):
    answer = outputs["portfolio"]
    data = to_dict(answer)
    assert data["columns"] == list(answer.table.columns) and data["row_count"] == len(answer.table) == 5
    assert len(data["rows"]) == 5 and data["rows"][0]["customer_id"] == answer.table["customer_id"].iloc[0]
    assert "table" not in data
    renewal = data["rows"][0].get("renewal_date")
    assert renewal is None or len(renewal) == 10  # dates as YYYY-MM-DD


@pytest.mark.parametrize("kind", ["summary", "ask", "draft", "actions"])
def test_customer_outputs_round_trip(outputs, kind):
    output = outputs[kind]
    text_ = to_json(output)
    back = from_json(type(output), text_)
    assert to_json(back) == text_
    assert back == output


def test_portfolio_answer_round_trips(outputs, wh):
    refusal = ask_portfolio(wh, "What is the weather today?", SYSTEM, client=None)
    for answer in (outputs["portfolio"], refusal):
        text_ = to_json(answer)
        back = from_json(PortfolioAnswer, text_)
        assert to_json(back) == text_
        for name in PortfolioAnswer.model_fields:
            if name != "table":
                assert getattr(back, name) == getattr(answer, name), name
        assert list(back.table.columns) == list(answer.table.columns) and len(back.table) == len(answer.table)


def test_an_empty_table_keeps_its_columns_through_json():
    answer = PortfolioAnswer(
        question="q",
        answer="No account matches.",
        sql="SELECT name, mrr FROM portfolio WHERE mrr < 0",
        sql_display="SELECT name, mrr FROM portfolio WHERE mrr < 0",
        table=pd.DataFrame(columns=["name", "mrr"]),
        confidence_score=0.9,
        generated_at="2026-06-30T10:00:00+00:00",
        model_used="offline-templates-v1",
        llm_provider="offline",
    )
    back = from_json(PortfolioAnswer, to_json(answer))
    assert list(back.table.columns) == ["name", "mrr"] and back.row_count == 0
    assert to_json(back) == to_json(answer)


# -- JSON written by the old code still reads ---------------------------------------------------
OLD_SUMMARY_JSON = {
    "customer_id": "c-0001",
    "audience": "csm",
    "summary": "Acme Analytics Ltd has a 62 % churn probability.\n\n⚠️ AI-generated. Requires human review.",
    "churn_probability": 0.623,
    "risk_tier": "high",
    "top_shap_features": [
        {"feature": "usage_decay_score", "value": 0.38, "shap_impact": 0.61, "reason": "Usage fell 38 %"}
    ],
    "confidence_score": 0.9,
    "guardrail_flags": [],
    "generated_at": "2026-06-30T10:00:00+00:00",
    "model_used": "offline-templates-v1",
    "llm_provider": "offline",
    "guardrail_details": [],
    "facts_hash": "ab" * 32,
    "provider_requests": 0,
    "audit_id": 7,
    "needs_review": False,
}

OLD_PORTFOLIO_JSON = {
    "question": "Top 2 accounts by MRR",
    "answer": "2 accounts listed, with $9.0K MRR together.\n\n⚠️ AI-generated. Requires human review.",
    "sql": "SELECT name, mrr, renewal_date FROM portfolio ORDER BY mrr DESC LIMIT 2",
    "sql_display": "SELECT name, mrr, renewal_date FROM portfolio ORDER BY mrr DESC LIMIT 2",
    "params": ["2026-06-30"],
    "row_count": 2,
    "truncated": False,
    "scope_exceeded": False,
    "refused": False,
    "refusal_reason": None,
    "interpretation": ["accounts by MRR, highest first"],
    "confidence_score": 0.9,
    "guardrail_flags": [],
    "guardrail_details": [],
    "generated_at": "2026-06-30T10:00:00+00:00",
    "model_used": "offline-templates-v1",
    "llm_provider": "offline",
    "provider_requests": 0,
    "seconds": 0.01,
    "audit_id": 8,
    "columns": ["name", "mrr", "renewal_date"],
    "rows": [
        {"name": "Acme", "mrr": 5000.0, "renewal_date": "2026-08-14T00:00:00.000"},
        {"name": "Globex", "mrr": 4000.0, "renewal_date": None},
    ],
    "needs_review": False,
}


def test_old_json_reads_into_the_models():
    summary = from_json(Summary, OLD_SUMMARY_JSON)
    assert summary.scope_exceeded is False and summary.audit_id == 7
    assert summary.top_shap_features[0].shap_impact == 0.61
    answer = from_json(PortfolioAnswer, json.dumps(OLD_PORTFOLIO_JSON))
    assert list(answer.table.columns) == ["name", "mrr", "renewal_date"] and answer.row_count == 2
    assert answer.table["mrr"].tolist() == [5000.0, 4000.0] and answer.params == ("2026-06-30",)


# -- one audit writer ---------------------------------------------------------------------------
def test_every_kind_is_audited_by_one_writer(ai_data_dir, outputs):
    rows = {r.id: r for r in recent_ai_outputs(ai_data_dir, 50)}
    for kind, output in outputs.items():
        row = rows[output.audit_id]
        assert row.kind == kind and row.username == SYSTEM.username and row.role == SYSTEM.role
        assert row.customer_id == output.audit_customer_id
        assert (row.provider, row.model) == (output.llm_provider, output.model_used)
        assert row.facts_hash == output.facts_hash and len(row.facts_hash) == 64
        assert row.flags == list(output.guardrail_flags) and row.confidence == output.confidence_score
        assert row.scope_exceeded == output.scope_exceeded and row.provider_requests == output.provider_requests
        assert row.request == output.audit_request() and row.output == output.audit_text()


def test_audit_rows_keep_what_each_kind_recorded(ai_data_dir, outputs, cid, wh):
    rows = {r.id: r for r in recent_ai_outputs(ai_data_dir, 50)}
    summary, ask, draft, plan, portfolio = (outputs[k] for k in ("summary", "ask", "draft", "actions", "portfolio"))
    assert rows[summary.audit_id].request == {"audience": "executive"}
    assert rows[summary.audit_id].output == summary.summary and rows[summary.audit_id].customer_id == cid
    assert (
        rows[ask.audit_id].request == {"question": "When is the renewal?"} and rows[ask.audit_id].output == ask.answer
    )
    assert rows[draft.audit_id].request == {"goal": "upsell", "channel": "sms", "tone": "friendly", "length": "medium"}
    assert rows[draft.audit_id].output == draft.message
    lines = [f"{a.priority}. {a.action} Why: {a.reasoning} Due within {a.due_within_days} days." for a in plan.actions]
    assert rows[plan.audit_id].request == {} and rows[plan.audit_id].output == plan.narrative + "\n\n" + "\n".join(
        lines
    )
    row = rows[portfolio.audit_id]
    assert row.customer_id is None and row.output == portfolio.answer
    assert row.request == {"question": "Top 5 accounts by revenue at risk", "sql": portfolio.sql_display}
    as_of = health.data_as_of(wh)
    payload = json.dumps(
        {"sql": portfolio.sql, "params": [str(p) for p in portfolio.params], "as_of": str(as_of)}, sort_keys=True
    )
    assert row.facts_hash == portfolio.facts_hash == hashlib.sha256(payload.encode()).hexdigest()


def test_audit_row_round_trips(ai_data_dir, outputs):
    row = next(r for r in recent_ai_outputs(ai_data_dir, 50) if r.id == outputs["draft"].audit_id)
    text_ = to_json(row)
    assert from_json(AuditRow, text_) == row and to_json(from_json(AuditRow, text_)) == text_
    assert list(to_dict(row)) == AUDIT_KEYS


@pytest.fixture
def old_state(tmp_path):
    """A state DB holding an audit row exactly as the old code stored it (SQLite, naive UTC time)."""
    data = tmp_path / "data"
    data.mkdir()
    engine = store.get_engine(data)
    with engine.begin() as con:
        con.execute(
            text(
                "INSERT INTO ai_audit (id, created_at, username, role, kind, customer_id, provider, model, "
                "facts_hash, flags, confidence, scope_exceeded, provider_requests, request, output) "
                "VALUES (1, '2026-06-30 09:00:00.000000', 'ana.silva', 'csm', 'summary', 'cust-0001', 'offline', "
                "'offline-template', :hash, '[\"ungrounded_number\"]', 0.4, 0, 0, '{\"audience\": \"csm\"}', "
                "'Acme is a growth account.')"
            ),
            {"hash": "cd" * 32},
        )
    yield data
    store.dispose_all()


def test_old_audit_rows_still_read(old_state, capsys):
    (row,) = recent_ai_outputs(old_state, 5)
    assert row.created_at == datetime(2026, 6, 30, 9, 0, tzinfo=UTC)
    assert row.flags == ["ungrounded_number"] and row.request == {"audience": "csm"} and row.scope_exceeded is False
    assert recent_ai_outputs(old_state, 5, needs_review_only=True) == [row]
    assert recent_ai_outputs(old_state, 5, viewer=Viewer("someone.else", "csm")) == []
    # `ai-audit --json` prints the same columns as before, the time with "+00:00".
    assert cli.main(["--data-dir", str(old_state), "ai-audit", "--json"]) == 0
    (printed,) = json.loads(capsys.readouterr().out)
    assert list(printed) == AUDIT_KEYS
    assert printed["created_at"] == "2026-06-30T09:00:00+00:00" and printed["confidence"] == 0.4
    # and the old printout reads back as an AuditRow
    assert from_json(AuditRow, printed) == row


# -- the CLI prints the models ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "model", "args", "code"),
    [
        ("summary", Summary, ["summarize", "{cid}", "--audience", "csm"], 0),
        ("ask", Answer, ["ask", "{cid}", "What is their MRR?"], 0),
        ("draft", Draft, ["draft", "{cid}", "--channel", "email"], 0),
        ("actions", ActionPlan, ["actions", "{cid}"], 0),
        ("portfolio", PortfolioAnswer, ["ask-portfolio", "top 3 accounts by mrr"], 0),
        ("portfolio", PortfolioAnswer, ["ask-portfolio", "what is the weather"], 2),
    ],
)
def test_cli_json_is_the_model(ai_data_dir, cid, capsys, kind, model, args, code):
    argv = ["--data-dir", str(ai_data_dir), *(a.format(cid=cid) for a in args), "--json"]
    assert cli.main(argv) == code
    out = capsys.readouterr().out
    payload = json.loads(out)
    assert OLD_KEYS[kind] | SEED_NAMES | SHARED <= set(payload)
    assert to_json(from_json(model, out)) == out.strip()
