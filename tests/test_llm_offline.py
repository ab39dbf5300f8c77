"""The AI layer with no API key: facts, summaries, questions, drafts, action plans, CSM
scoping, the audit log and the CLI, on the shared scored warehouse."""

from __future__ import annotations

import json

import pytest

from engine import cli
from engine.ai import (
    CHANNELS,
    DISCLAIMER,
    GOALS,
    ask_customer,
    draft_message,
    load_facts,
    next_best_actions,
    recent_ai_outputs,
    summarize,
)
from engine.ai import guardrails as gr
from engine.ai.offline import REFUSAL
from engine.core.access import SYSTEM, Viewer
from engine.core.contracts import to_dict
from engine.core.errors import BadInputError, NotFoundError
from engine.data.warehouse import get_warehouse

pytest_plugins = ("tests.fake_groq",)


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)


@pytest.fixture
def wh(ai_data_dir):
    return get_warehouse(ai_data_dir, read_only=True)


def _riskiest(wh, owner: str | None = None) -> str:
    sql = (
        "SELECT p.customer_id FROM predictions p JOIN customers c USING (customer_id) "
        "WHERE (? IS NULL OR c.csm_owner = ?) ORDER BY p.churn_probability DESC LIMIT 1"
    )
    return wh.scalar(sql, [owner, owner])


def _owner_of(wh, customer_id: str) -> str:
    return wh.scalar("SELECT csm_owner FROM customers WHERE customer_id = ?", [customer_id])


def test_fact_sheet_matches_the_warehouse(wh):
    cid = _riskiest(wh)
    facts = load_facts(wh, cid, SYSTEM)
    pred = wh.rows(
        "SELECT churn_probability, risk_tier FROM predictions WHERE customer_id = ? ORDER BY as_of DESC LIMIT 1", [cid]
    )[0]
    assert facts.prediction.churn_probability == pytest.approx(pred[0])
    assert facts.prediction.risk_tier == pred[1]
    mrr = wh.scalar("SELECT arg_max(mrr, month) FROM mrr_history WHERE customer_id = ?", [cid])
    assert facts.mrr == pytest.approx(mrr) and facts.arr == pytest.approx(12 * mrr)
    assert facts.prediction.arr_at_risk == pytest.approx(pred[0] * 12 * mrr, abs=0.01)
    open_tickets = wh.scalar("SELECT count(*) FROM support_tickets WHERE customer_id = ? AND closed_at IS NULL", [cid])
    assert facts.tickets.open_tickets == open_tickets
    assert facts.drivers and {"feature", "value", "shap_impact", "reason"} <= set(facts.drivers[0])
    assert len(facts.facts_hash()) == 64
    assert facts.facts_hash() == load_facts(wh, cid, SYSTEM).facts_hash()


def test_csm_gets_an_error_that_leaks_nothing_for_another_book(wh):
    cid = _riskiest(wh)
    owner = _owner_of(wh, cid)
    other = Viewer("someone.else" if owner != "someone.else" else "x.y", "csm")
    name = wh.scalar("SELECT name FROM customers WHERE customer_id = ?", [cid])
    for call in (
        lambda: summarize(wh, cid, "csm", other, client=None),
        lambda: ask_customer(wh, cid, "What is the MRR?", other, client=None),
        lambda: draft_message(wh, cid, other, client=None),
        lambda: next_best_actions(wh, cid, other, client=None),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        message = str(caught.value)
        assert "not in your book" in message
        assert name not in message and "%" not in message
    # A missing account reads the same to a CSM: existence is not revealed either.
    with pytest.raises(NotFoundError, match="not in your book"):
        summarize(wh, "no-such-customer", "csm", other, client=None)
    # The owner gets the summary.
    assert summarize(wh, cid, "csm", Viewer(owner, "csm"), client=None).customer_id == cid


@pytest.mark.parametrize("audience", ["csm", "executive"])
def test_offline_summary_follows_the_contract(wh, audience):
    cid = _riskiest(wh)
    result = summarize(wh, cid, audience, SYSTEM, client=None)
    data = to_dict(result)
    for key in (
        "customer_id",
        "audience",
        "summary",
        "churn_probability",
        "risk_tier",
        "top_shap_features",
        "confidence_score",
        "guardrail_flags",
        "generated_at",
        "model_used",
        "llm_provider",
    ):
        assert key in data
    assert data["llm_provider"] == "offline" and data["model_used"].startswith("offline")
    assert data["summary"].endswith(DISCLAIMER)
    body = gr.strip_disclaimer(data["summary"])
    assert 3 <= len(gr.sentences(body)) <= 5
    assert data["guardrail_flags"] == [] and data["confidence_score"] == 0.9  # a template: capped, never 1.00
    assert f"{result.churn_probability * 100:.0f}%" in body
    if audience == "executive":
        assert "ARR" in body and "$" in body
    json.dumps(data)  # JSON-ready


def test_offline_summaries_pass_their_own_guardrails_across_the_portfolio(wh):
    """False flags on grounded text: every offline summary, for 40 accounts and both audiences."""
    ids = [r[0] for r in wh.rows("SELECT customer_id FROM predictions ORDER BY customer_id LIMIT 40")]
    flagged = []
    for cid in ids:
        for audience in ("csm", "executive"):
            result = summarize(wh, cid, audience, SYSTEM, client=None)
            if result.guardrail_flags:
                flagged.append((cid, audience, result.guardrail_details))
    assert flagged == []


def test_churned_customer_gets_a_summary_without_a_score(wh):
    cid = wh.scalar("SELECT customer_id FROM customers WHERE status = 'churned' LIMIT 1")
    result = summarize(wh, cid, "csm", SYSTEM, client=None)
    assert result.churn_probability is None and result.risk_tier is None
    assert "churned on" in result.summary
    assert result.guardrail_flags == ()


def test_an_account_scored_before_it_churned_gets_no_risk_or_next_step(scored_dir):
    wh = get_warehouse(scored_dir, read_only=True)  # scored at past month ends too
    cid = wh.scalar(
        "SELECT customer_id FROM customers WHERE churn_date IS NOT NULL "
        "AND customer_id IN (SELECT customer_id FROM predictions) ORDER BY 1 LIMIT 1"
    )
    for audience in ("csm", "executive"):
        result = summarize(wh, cid, audience, SYSTEM, client=None)
        assert result.churn_probability is None and result.risk_tier is None
        assert "churned on" in result.summary and "Recommended next step" not in result.summary
        assert result.guardrail_flags == ()


def test_unknown_audience_is_bad_input(wh):
    with pytest.raises(BadInputError, match="audience"):
        summarize(wh, _riskiest(wh), "board", SYSTEM, client=None)


@pytest.mark.parametrize(
    ("question", "topic", "expected_text"),
    [
        ("Why is the churn risk so high?", "drivers", "Top drivers"),
        ("What is their MRR?", "revenue", "MRR is $"),
        ("When is the renewal?", "renewal", "renewal"),
        ("How many support tickets are open?", "tickets", "open"),
        ("Is usage going down?", "usage", "events in the last 30 days"),
        ("What should I do next?", "action", "recommended next step"),
        ("When did they sign up?", "profile", "a customer since"),  # was refused
        ("What's their risk score?", "risk_score", "The risk score is"),  # was the churn probability alone
    ],
)
def test_offline_answers_from_facts(wh, question, topic, expected_text):
    result = ask_customer(wh, _riskiest(wh), question, SYSTEM, client=None)
    assert not result.scope_exceeded
    assert topic in result.facts_used
    assert expected_text.lower() in result.answer.lower()
    assert result.answer.endswith(DISCLAIMER)
    assert result.guardrail_flags == ()


@pytest.mark.parametrize(
    "question",
    [
        "What is the CEO's phone number?",
        "Who are their competitors?",
        "What will their revenue be next year?",
        "How do they compare with other customers?",
        "What's the weather like in their office?",
    ],
)
def test_questions_the_facts_cannot_answer_are_refused(wh, question):
    result = ask_customer(wh, _riskiest(wh), question, SYSTEM, client=None)
    assert result.scope_exceeded
    assert gr.strip_disclaimer(result.answer) == REFUSAL
    assert result.facts_used == ()
    assert to_dict(result)["scope_exceeded"] is True


def test_empty_question_is_bad_input(wh):
    with pytest.raises(BadInputError):
        ask_customer(wh, _riskiest(wh), "   ", SYSTEM, client=None)


@pytest.mark.parametrize("goal", GOALS)
@pytest.mark.parametrize("channel", CHANNELS)
def test_offline_drafts_for_every_goal_and_channel(wh, goal, channel):
    result = draft_message(wh, _riskiest(wh), SYSTEM, goal=goal, channel=channel, client=None)
    body = gr.strip_disclaimer(result.message)
    assert result.message.endswith(DISCLAIMER)
    assert result.guardrail_flags == (), result.guardrail_details
    assert "churn" not in body.lower() and "%" not in body
    assert "customer_name" in result.personalization_applied or channel == "phone_script"
    if channel == "sms":
        assert len(body) <= 320
    if channel == "email":
        assert body.startswith("Subject: ")


def test_a_score_held_down_only_lists_its_reasons_after_a_colon(wh):
    # "it is held down by 28% of seats are active on an average day …" read as broken English.
    import dataclasses

    from engine.ai import offline

    facts = load_facts(wh, _riskiest(wh), SYSTEM)
    calm = dataclasses.replace(
        facts, drivers=tuple(dict(d, shap_impact=-abs(d.get("shap_impact") or 0.1)) for d in facts.drivers)
    )
    sentence = offline._drivers_sentence(calm)
    assert (
        sentence.startswith("Nothing in the model pushes the risk up; what holds it down")
        and "held down by" not in sentence
    )


def test_a_support_follow_up_says_open_only_when_tickets_are_open(wh):
    # "Subject: Your open support requests" went to an account whose tickets were all closed.
    latest = "SELECT p.customer_id FROM predictions p WHERE p.as_of = (SELECT max(as_of) FROM predictions)"
    open_ids = "SELECT customer_id FROM support_tickets WHERE closed_at IS NULL"
    closed_only = wh.scalar(f"{latest} AND p.customer_id NOT IN ({open_ids}) ORDER BY 1 LIMIT 1")
    with_open = wh.scalar(f"{latest} AND p.customer_id IN ({open_ids}) ORDER BY 1 LIMIT 1")
    calm = draft_message(wh, closed_only, SYSTEM, goal="resolve_support_issue", client=None).message
    assert "open support" not in calm.lower() and calm.startswith("Subject: Your recent support requests")
    busy = draft_message(wh, with_open, SYSTEM, goal="resolve_support_issue", client=None).message
    assert busy.startswith("Subject: Your open support requests") and "open support ticket" in busy


def test_draft_options_are_validated(wh):
    with pytest.raises(BadInputError, match="goal"):
        draft_message(wh, _riskiest(wh), SYSTEM, goal="threaten", client=None)
    with pytest.raises(BadInputError, match="channel"):
        draft_message(wh, _riskiest(wh), SYSTEM, channel="fax", client=None)


def test_offline_action_plans_pass_their_own_guardrails_at_both_ends_of_the_book(wh):
    """A plan for a 0.3% account was flagged by its own checks ("3% churn"): the least and the
    most at risk accounts' plans, written by the template, carry no flag."""
    latest = "SELECT customer_id, churn_probability FROM predictions WHERE as_of = (SELECT max(as_of) FROM predictions)"
    least = wh.rows(f"{latest} ORDER BY churn_probability, customer_id LIMIT 8")
    most = wh.rows(f"{latest} ORDER BY churn_probability DESC, customer_id LIMIT 4")
    assert least[0][1] < 0.01  # decimals under one percent are on the page
    flagged = []
    for cid, _p in [*least, *most]:
        plan = next_best_actions(wh, cid, SYSTEM, client=None)
        if plan.guardrail_flags:
            flagged.append((cid, plan.guardrail_details))
        assert plan.confidence_score <= gr.TEMPLATE_CONFIDENCE  # merging the plan's checks kept the cap (was 1.00)
        facts = load_facts(wh, cid, SYSTEM)
        renewal_point = any("renewal on" in p for p in plan.talking_points)
        assert renewal_point == (facts.days_to_renewal is not None and 0 <= facts.days_to_renewal <= 90), cid
        if len(plan.actions) == 2:
            assert "1 further action follows" in plan.narrative
    assert flagged == []


def test_action_plan_is_prioritised_and_grounded(wh):
    cid = _riskiest(wh)
    plan = next_best_actions(wh, cid, SYSTEM, client=None)
    facts = load_facts(wh, cid, SYSTEM)
    assert [a.priority for a in plan.actions] == list(range(1, len(plan.actions) + 1))
    assert plan.revenue_at_risk == pytest.approx(facts.prediction.arr_at_risk)
    assert plan.guardrail_flags == (), plan.guardrail_details
    assert plan.narrative.endswith(DISCLAIMER)
    assert all(a.reasoning and a.due_within_days > 0 for a in plan.actions)
    if facts.prediction.risk_tier in ("high", "critical") and 0 <= (facts.days_to_renewal or -1) <= 60:
        assert plan.actions[0].category == "escalation"
    data = to_dict(plan)
    assert data["actions"][0]["priority"] == 1 and "talking_points" in data and "warnings" in data


def test_every_output_is_audited(ai_data_dir, wh):
    cid = _riskiest(wh)
    owner = _owner_of(wh, cid)
    csm = Viewer(owner, "csm")
    summary = summarize(wh, cid, "executive", csm, client=None)
    answer = ask_customer(wh, cid, "Who is the CEO?", csm, client=None)
    rows = recent_ai_outputs(ai_data_dir, 5, viewer=csm)
    by_id = {r.id: r for r in rows}
    row = by_id[summary.audit_id]
    assert row.kind == "summary" and row.username == owner and row.role == "csm"
    assert row.customer_id == cid and row.provider == "offline" and row.facts_hash == summary.facts_hash
    assert row.confidence == summary.confidence_score and row.output == summary.summary
    assert row.request == {"audience": "executive"}
    refused = by_id[answer.audit_id]
    assert refused.scope_exceeded and refused.kind == "ask"
    # A CSM's audit view holds only their own outputs; an admin sees everyone's.
    assert {r.username for r in rows} == {owner}
    assert recent_ai_outputs(ai_data_dir, 1, kind="ask")[0].id == answer.audit_id


def test_cli_commands(ai_data_dir, wh, capsys):
    cid = _riskiest(wh)
    base = ["--data-dir", str(ai_data_dir)]
    assert cli.main([*base, "summarize", cid, "--audience", "executive", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["audience"] == "executive" and payload["llm_provider"] == "offline"
    assert cli.main([*base, "ask", cid, "What is the weather?", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scope_exceeded"] is True
    assert cli.main([*base, "ask-portfolio", "top 3 accounts by revenue at risk", "--json"]) == 0
    portfolio = json.loads(capsys.readouterr().out)
    assert len(portfolio["rows"]) == 3 and "FROM portfolio" in portfolio["sql"]
    assert cli.main([*base, "draft", cid, "--goal", "upsell", "--channel", "sms", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["channel"] == "sms"
    assert cli.main([*base, "actions", cid]) == 0
    assert "1. [" in capsys.readouterr().out
    assert cli.main([*base, "ai-audit", "--limit", "3"]) == 0
    assert capsys.readouterr().out.count("\n") == 3


def test_cli_unknown_customer_is_a_clear_error(ai_data_dir, capsys):
    code = cli.main(["--data-dir", str(ai_data_dir), "summarize", "no-such-id"])
    err = capsys.readouterr().err
    assert code == 2
    assert "does not exist" in err and "Traceback" not in err


def test_cli_csm_scope(ai_data_dir, wh, capsys):
    cid = _riskiest(wh)
    code = cli.main(["--data-dir", str(ai_data_dir), "summarize", cid, "--user", "not.the.owner", "--role", "csm"])
    assert code == 2
    assert "not in your book" in capsys.readouterr().err


def test_the_suggested_draft_goal_follows_the_recommended_step(wh):
    from engine.ai import suggested_goal
    from engine.ai.drafts import goal_for

    ids = [r[0] for r in wh.rows("SELECT DISTINCT customer_id FROM predictions ORDER BY customer_id LIMIT 150")]
    seen = set()
    for cid in ids:
        facts = load_facts(wh, cid, SYSTEM)
        goal = suggested_goal(wh, cid, SYSTEM)
        assert goal == goal_for(facts) and goal in GOALS
        step = facts.prediction.recommended_action or ""
        if facts.status == "churned":
            assert goal == "win_back"
        elif "Review open and high-priority tickets" in step:  # the support recovery step
            assert goal == "resolve_support_issue"
        elif "Progress the open expansion" in step:
            assert goal == "upsell"
        else:
            assert goal == "generic_communication", step
        seen.add(goal)
    assert len(seen) >= 2  # accounts do not all get one goal
    with pytest.raises(NotFoundError):
        suggested_goal(wh, cid, Viewer("nobody", "csm"))


def test_talking_points_praise_only_what_the_customer_did_well(wh):
    import dataclasses

    from engine.ai.actions import plan_talking_points

    facts = load_facts(wh, _riskiest(wh), SYSTEM)
    lowering = (
        {
            "feature": "dau_trend",
            "shap_impact": -0.4,
            "actionable": True,
            "group": "usage_trend",
            "reason": "Daily active users fell 33 % over the last four weeks, which lowers the risk",
        },
        {
            "feature": "days_to_renewal",
            "shap_impact": -0.3,
            "actionable": False,
            "group": "renewal",
            "reason": "No renewal in the next 90 days, which lowers the risk",
        },
        {
            "feature": "csat_avg_90d",
            "shap_impact": -0.2,
            "actionable": True,
            "group": "support",
            "reason": "CSAT averages 4.8 over 90 days, which lowers the risk",
        },
    )
    points = plan_talking_points(dataclasses.replace(facts, drivers=lowering))
    praised = [p for p in points if p.startswith("Acknowledge what is working")]
    # A fall in usage and the renewal's timing lowered the model's risk, but neither is praise.
    assert praised == ["Acknowledge what is working: CSAT averages 4.8 over 90 days."]


def test_a_small_churn_probability_keeps_its_decimal_and_passes_the_checks(wh):
    # "1% (interval 0% to 2%)" next to Customer 360's 0.7% (0.3%-1.5%): rounding made a bound 0.
    from engine.ai import fmt

    cid = wh.scalar(
        "SELECT customer_id FROM predictions WHERE as_of = (SELECT max(as_of) FROM predictions) "
        "ORDER BY churn_probability LIMIT 1"
    )
    p = load_facts(wh, cid, SYSTEM).prediction
    assert p.churn_probability < 0.095
    answer = ask_customer(wh, cid, "What is the churn probability?", SYSTEM, client=None)
    assert f"is {fmt.pct(p.churn_probability)} (interval {fmt.pct(p.ci_low)} to {fmt.pct(p.ci_high)})" in answer.answer
    assert "." in fmt.pct(p.churn_probability) and answer.guardrail_flags == ()
    assert fmt.pct(0.623) == "62%" and fmt.pct(0.007) == "0.7%"


def test_a_draft_writes_the_renewal_date_as_a_customer_reads_it(wh):
    import re

    from engine.ai import fmt

    cid = wh.scalar(
        "SELECT p.customer_id FROM predictions p JOIN customers c USING (customer_id) "
        "WHERE p.as_of = (SELECT max(as_of) FROM predictions) AND p.days_to_renewal BETWEEN 1 AND 90 "
        "AND c.status = 'active' ORDER BY p.churn_probability LIMIT 1"
    )
    facts = load_facts(wh, cid, SYSTEM)
    draft = draft_message(wh, cid, SYSTEM, goal="generic_communication", client=None)
    assert f"renewal is coming up on {fmt.spoken_day(facts.renewal_date)}" in draft.message
    assert not re.search(r"\d{4}-\d{2}-\d{2}", draft.message)  # no ISO date in a customer's email
    assert draft.guardrail_flags == ()


def test_a_check_in_does_not_call_a_renewal_months_away_coming_up(wh):
    # "Your renewal is coming up on October 15, 2027" was written 315 days before it.
    cid = wh.scalar(
        "SELECT p.customer_id FROM predictions p JOIN customers c USING (customer_id) "
        "WHERE p.as_of = (SELECT max(as_of) FROM predictions) AND p.days_to_renewal > 200 "
        "AND c.status = 'active' ORDER BY p.churn_probability LIMIT 1"
    )
    assert cid is not None
    draft = draft_message(wh, cid, SYSTEM, goal="generic_communication", client=None)
    assert "renewal" not in draft.message.lower() and "renewal_date" not in draft.personalization_applied
    assert draft.guardrail_flags == ()


def test_a_churned_customers_plan_warns_of_a_win_back_not_of_missing_scores(wh):
    from engine.ai.actions import plan_warnings

    cid = wh.scalar(
        "SELECT customer_id FROM customers c WHERE status = 'churned' AND churn_date IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.customer_id = c.customer_id) LIMIT 1"
    )
    facts = load_facts(wh, cid, SYSTEM)
    warnings = plan_warnings(facts)
    assert warnings[0].startswith(f"This customer churned on {facts.churn_date.isoformat()}")
    assert not any("run scoring" in w for w in warnings)
