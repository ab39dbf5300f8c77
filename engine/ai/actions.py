"""Next-best actions for one customer: a prioritised plan computed from the facts.

The plan (actions, reasoning, revenue at risk, warnings, talking points) is worked out
by rules from the churn score, drivers, tickets, usage, renewal date and value, so its
figures are the facts' own. A model, when configured, only phrases the short
introduction (`narrative`), which goes through the same guardrails as every AI text.

Priority: the first step is `engine.churn.risk.lead_step` — the same rule that wrote the stored
`recommended_action` the risk board shows (tier, strongest risk driver, ARR at risk and
the renewal date), so board and plan agree on what to do first. The other rules add
steps with an urgency (a high-priority ticket 90, adoption rescue for a high/critical
account 80, renewal within 30 days 75, ...), sorted by urgency, then by how soon they are
due. No step is due after the renewal.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from engine.ai import audit, fmt, offline, prompts
from engine.ai.client import AUTO, resolve_client
from engine.ai.facts import FactSheet, Prediction, load_facts
from engine.ai.guardrails import check, grounding_from_facts, looks_like_instructions
from engine.ai.output import CustomerOutput
from engine.ai.writer import finish, output_fields, write
from engine.churn import explain, risk
from engine.core.access import Viewer
from engine.core.contracts import Contract
from engine.data.warehouse import Warehouse

ACTIONS_MAX_TOKENS = 200
USAGE_DECAY_ALERT = 0.25
INACTIVE_DAYS_ALERT = 14
LOW_CSAT = 3.5
HIGH_COMPLIANCE_GAP = 0.5
WIDE_INTERVAL = 0.4
STALE_PREDICTION_DAYS = 35

Found = list[tuple[int, str, str, str, int]]  # rule-made steps: urgency, category, action, reasoning, due


class NextAction(Contract):
    """One step of the plan."""

    priority: int  # 1 = do first
    category: str  # the lead step's category (engine.churn.risk.lead_step), or a rule-made step's
    action: str
    reasoning: str
    due_within_days: int

    def line(self) -> str:
        """The step as one line (the model's prompt and the audit log)."""
        return f"{self.priority}. {self.action} Why: {self.reasoning} Due within {self.due_within_days} days."


class ActionPlan(CustomerOutput):
    """The next-best actions: the rule-made plan, the model-phrased introduction, and the
    shared AI fields (`AiOutput`)."""

    kind: ClassVar[str] = "actions"

    actions: tuple[NextAction, ...]
    revenue_at_risk: float | None  # churn probability x ARR (None without a prediction)
    warnings: tuple[str, ...]
    talking_points: tuple[str, ...]
    narrative: str  # short introduction, ends with the disclaimer
    churn_probability: float | None = None
    risk_tier: str | None = None

    def audit_text(self) -> str:
        return self.narrative + "\n\n" + "\n".join(a.line() for a in self.actions)


def _top_raising_feature(f: FactSheet) -> str | None:
    raising = f.risk_raising_drivers
    return raising[0].get("feature") if raising else None


def plan_actions(f: FactSheet) -> list[NextAction]:
    """The prioritised actions for one customer (rules in the module doc)."""
    p, t, u = f.prediction, f.tickets, f.usage
    tier = p.risk_tier if p else None
    serious = tier in ("high", "critical")
    days = f.days_to_renewal
    at_risk = f" with {fmt.money(p.arr_at_risk)} of ARR at risk" if p else ""
    top = _top_raising_feature(f)
    found: Found = []

    low_csat = t.csat_avg_90d is not None and t.csat_avg_90d < LOW_CSAT
    csat = f"CSAT averages {t.csat_avg_90d:.1f} of 5" if t.csat_avg_90d is not None else ""
    if t.open_high_priority or t.open_tickets >= 3:
        found.append(
            (
                90 if t.open_high_priority else 70,
                "support",
                "Review the open tickets with support leadership and call the customer with a fix timeline.",
                f"{fmt.plural(t.open_tickets, 'open ticket')} ({t.open_high_priority} high-priority)"
                + (f"; {csat}." if csat else "."),
                3 if t.open_high_priority else 7,
            )
        )
    elif low_csat:
        found.append(
            (
                60,
                "support",
                "Call the customer about their recent support experience and agree what to fix.",
                f"{csat} over the last 90 days.",
                7,
            )
        )
    inactive = u.days_since_last_activity is not None and u.days_since_last_activity >= INACTIVE_DAYS_ALERT
    decaying = u.usage_decay_score is not None and u.usage_decay_score >= USAGE_DECAY_ALERT
    usage_driver = serious and top in risk.USAGE_DRIVERS
    if decaying or inactive or usage_driver:
        if inactive:
            reason = f"No activity for {fmt.plural(u.days_since_last_activity, 'day')}."
        elif decaying:
            reason = (
                f"{fmt.count(u.events_last_30d)} events in the last 30 days against {fmt.count(u.events_prev_30d)} "
                f"in the previous 30 days (usage decay {u.usage_decay_score:.2f})."
            )
        else:
            reason = f"The strongest risk driver: {fmt.lower_first(fmt.reason_text(f.risk_raising_drivers[0]))}."
        found.append(
            (
                80 if serious else 50,
                "adoption",
                "Run a workflow review with the champion and re-onboard inactive users.",
                reason,
                14,
            )
        )
    if days is not None and 0 <= days <= 90:
        renewal_opp = next((o for o in f.opportunities if o.is_open and o.opportunity_type == "renewal"), None)
        if renewal_opp is None:
            found.append(
                (
                    75 if days <= 30 else 55,
                    "renewal",
                    "Open the renewal conversation and confirm the decision-maker.",
                    f"The renewal is on {fmt.day(f.renewal_date)}, in {fmt.plural(days, 'day')}, and no renewal "
                    "opportunity is open.",
                    max(1, min(14, days)),
                )
            )
        else:
            found.append(
                (
                    50,
                    "renewal",
                    f"Move the open renewal opportunity ({renewal_opp.stage}, {fmt.money(renewal_opp.amount)}) to a decision.",
                    f"The renewal is on {fmt.day(f.renewal_date)}, in {fmt.plural(days, 'day')}.",
                    max(1, min(14, days)),
                )
            )
    gap = f.compliance_gap_score or 0.0
    flags = f.vendor_risk_flags or 0
    if gap >= HIGH_COMPLIANCE_GAP or flags >= 1 or (serious and top in risk.COMPLIANCE_DRIVERS):
        found.append(
            (
                60 if serious else 40,
                "compliance",
                "Close the compliance and vendor-risk gaps with their security team; share the trust-center pack.",
                f"Compliance gap score {gap:.2f} and {fmt.plural(flags, 'vendor-risk flag')}.",
                21,
            )
        )
    expansion = next((o for o in f.opportunities if o.is_open and o.opportunity_type == "expansion"), None)
    if expansion is not None and not serious:
        found.append(
            (
                40,
                "expansion",
                f"Progress the open expansion opportunity ({expansion.stage}, {fmt.money(expansion.amount)}).",
                f"The account is in the {tier or 'unscored'} risk tier and an expansion is open.",
                30,
            )
        )
    if p is not None and serious and not found:
        found.append(
            (
                65,
                "health_check",
                "Schedule a success review to find the cause of the risk.",
                f"{fmt.pct(p.churn_probability)} churn probability ({tier} tier){at_risk}.",
                14,
            )
        )
    if not found:
        found.append(
            (
                10,
                "cadence",
                "Keep the regular cadence; look for advocacy or expansion.",
                "No risk signal needs action now." if p else "The customer has no churn prediction yet.",
                30,
            )
        )
    if p is not None:
        found = _lead_first(f, p, found, top, at_risk)
    found = [(u, cat, action, why, risk.due_before_renewal(due, days)) for u, cat, action, why, due in found]
    found.sort(key=lambda item: (-item[0], item[4]))
    return [
        NextAction(priority=i + 1, category=cat, action=action, reasoning=why, due_within_days=due)
        for i, (_u, cat, action, why, due) in enumerate(found)
    ]


LEAD_URGENCY = 1000  # the lead step always comes first


def lead_step(f: FactSheet, p: Prediction) -> risk.Step:
    """The stored recommended action's step for this customer and its prediction."""
    expansion = any(o.is_open and o.opportunity_type == "expansion" for o in f.opportunities)
    return risk.lead_step(
        p.risk_tier, _top_raising_feature(f), p.churn_probability, f.mrr, f.days_to_renewal, expansion, f.tenure_days
    )


def _lead_first(f: FactSheet, p: Prediction, found: Found, top: str | None, at_risk: str) -> Found:
    """Put the lead step first; a rule-made step of the same category gives it its reasoning."""
    lead = lead_step(f, p)
    days = f.days_to_renewal
    same = next((item for item in found if item[1] == lead.category), None)
    if same is not None:
        reasoning = same[3]
    elif lead.category == "escalation":
        reasoning = f"{fmt.pct(p.churn_probability)} churn probability ({p.risk_tier} tier){at_risk}" + (
            f" and the renewal is in {fmt.plural(days, 'day')} ({fmt.day(f.renewal_date)})."
            if days is not None and 0 <= days <= risk.RENEWAL_WINDOW_DAYS
            else "."
        )
    elif top is not None and f.risk_raising_drivers and lead.category in ("adoption", "support", "compliance"):
        reasoning = f"The strongest risk driver: {fmt.lower_first(fmt.reason_text(f.risk_raising_drivers[0]))}."
    elif lead.category == "onboarding":
        reasoning = (
            f"A customer for {fmt.plural(f.tenure_days, 'day')}: too early for its score to say much "
            f"({fmt.pct(p.churn_probability)} churn probability, {p.risk_tier} tier)."
        )
    elif lead.category in ("cadence", "expansion", "monitor"):
        reasoning = f"{fmt.pct(p.churn_probability)} churn probability ({p.risk_tier} tier)."
    else:
        reasoning = f"{fmt.pct(p.churn_probability)} churn probability ({p.risk_tier} tier){at_risk}."
    rest = [item for item in found if item[1] != lead.category and item[1] != "cadence"]
    return [(LEAD_URGENCY, lead.category, lead.action, reasoning, lead.due_within_days), *rest]


def plan_warnings(f: FactSheet) -> list[str]:
    p, t, u = f.prediction, f.tickets, f.usage
    warnings = []
    if p is None and f.status == "churned":
        # Scoring does not run for a churned account: asking for it would send the CSM the wrong way.
        warnings.append(
            f"This customer churned{f' on {fmt.day(f.churn_date)}' if f.churn_date else ''}: "
            "treat these steps as a win-back conversation."
        )
    elif p is None:
        warnings.append("No churn prediction for this customer: run scoring to get one.")
    else:
        if p.ci_high - p.ci_low >= WIDE_INTERVAL:
            warnings.append(
                f"The churn estimate is uncertain: the interval runs from {fmt.pct(p.ci_low)} to {fmt.pct(p.ci_high)}."
            )
        if (f.as_of - p.predicted_as_of).days > STALE_PREDICTION_DAYS:
            warnings.append(f"The prediction is from {fmt.day(p.predicted_as_of)}; rescore for current figures.")
    if f.days_to_renewal is not None and 0 <= f.days_to_renewal <= 30:
        warnings.append(f"The renewal is in {fmt.plural(f.days_to_renewal, 'day')} ({fmt.day(f.renewal_date)}).")
    if t.open_high_priority:
        warnings.append(f"{fmt.plural(t.open_high_priority, 'high-priority ticket')} still open.")
    if t.csat_avg_90d is not None and t.csat_avg_90d < LOW_CSAT:
        warnings.append(f"CSAT averages {t.csat_avg_90d:.1f} of 5 over the last 90 days.")
    if u.days_since_last_activity is not None and u.days_since_last_activity >= INACTIVE_DAYS_ALERT:
        warnings.append(f"No product activity for {fmt.plural(u.days_since_last_activity, 'day')}.")
    if any(looks_like_instructions(ticket.subject) for ticket in t.recent):
        warnings.append("A ticket subject reads like instructions to an AI; it was treated as data and not quoted.")
    return warnings


# A driver can lower the model's risk and still be bad news to say to a customer ("daily active
# users fell 33%"), or be no achievement at all ("no renewal in the next 90 days"): only what
# the customer did (an actionable driver) that does not read as a decline is praised.
_DECLINE = re.compile(r"\b(?:fell|fall|dropped|drop|declin\w*|decreas\w*|down|fewer|lost|less)\b", re.IGNORECASE)


def working_well(f: FactSheet) -> list[dict]:
    """Risk-lowering drivers a CSM can honestly acknowledge to the customer."""
    return [
        d
        for d in f.risk_lowering_drivers
        if d.get("actionable", explain.is_actionable(str(d.get("group") or d.get("feature") or "")))
        and not _DECLINE.search(str(d.get("reason") or ""))
    ]


def plan_talking_points(f: FactSheet) -> list[str]:
    points = [f"Acknowledge what is working: {fmt.lower_first(fmt.reason_text(d))}." for d in working_well(f)[:2]]
    points += [f"Ask about: {fmt.lower_first(fmt.reason_text(d))}." for d in f.risk_raising_drivers[:2]]
    topics = [t.replace("_", " ") for t in f.tickets.open_topics]
    if topics:
        points.append(f"Give an update on the open {fmt.join_words(topics)} tickets.")
    if offline.renewal_soon(f):
        points.append(f"Confirm the plan for the renewal on {fmt.day(f.renewal_date)}.")
    if f.segment is not None:
        # The archetype's playbook: the motion for accounts that behave like this one.
        points.append(f"{f.segment.archetype} playbook: {f.segment.motion}")
    return points


def next_best_actions(
    wh: Warehouse,
    customer_id: str,
    viewer: Viewer,
    *,
    client=AUTO,
    data_dir: str | Path | None = None,
) -> ActionPlan:
    """The prioritised action plan for one customer (see the module doc). Raises
    NotFoundError outside the viewer's book. The output is stored in the AI audit log."""
    facts = load_facts(wh, customer_id, viewer)
    actions = plan_actions(facts)
    warnings = plan_warnings(facts)
    points = plan_talking_points(facts)
    revenue_at_risk = facts.prediction.arr_at_risk if facts.prediction else None
    plan_lines = [a.line() for a in actions]
    written = write(
        resolve_client(client),
        prompts.actions_messages(facts, plan_lines),
        lambda: offline.actions_narrative(facts, actions, revenue_at_risk),
        ACTIONS_MAX_TOKENS,
    )
    grounding = grounding_from_facts(facts)
    grounding.add_number(len(actions), unit="action")
    grounding.add_number(len(actions) - 1, unit="action")
    for a in actions:
        grounding.add_number(a.due_within_days, unit="day")
    done = finish(written, grounding)
    # The rule-made parts are checked too: a bug there must show up as a flag, not as a silent figure.
    structured = "\n".join([*(f"{a.action} {a.reasoning}" for a in actions), *warnings, *points])
    plan_report = check(structured, grounding)
    report = done.report.merged((d["code"], f"plan: {d['detail']}") for d in plan_report.details)
    p = facts.prediction
    plan = ActionPlan(
        customer_id=facts.customer_id,
        actions=tuple(actions),
        revenue_at_risk=revenue_at_risk,
        warnings=tuple(warnings),
        talking_points=tuple(points),
        narrative=done.text,
        churn_probability=p.churn_probability if p else None,
        risk_tier=p.risk_tier if p else None,
        **output_fields(written, report, done.generated_at, facts.facts_hash()),
    )
    return audit.record_output(plan, data_dir or wh.data_dir, viewer)
