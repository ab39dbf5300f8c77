"""The offline writer: deterministic texts built only from a customer's facts.

Used when no GROQ_API_KEY is set or the provider fails. The same facts always give the
same text, every figure is formatted from a fact (so it passes the guardrails), and
customer-written text is never quoted when it reads like an instruction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.ai import fmt
from engine.ai.facts import FactSheet, Prediction
from engine.ai.guardrails import looks_like_instructions, sentences
from engine.core import formatting
from engine.segments.archetypes import NOT_ENOUGH_DATA

OFFLINE_MODEL = "offline-templates-v1"

REFUSAL = (
    "I can't answer that from this customer's data. I can answer questions about its churn risk and drivers, "
    "revenue, renewal, usage, support tickets, opportunities, owner and plan."
)

RENEWAL_MENTION_DAYS = 90  # a check-in or a talking point names the renewal only this close to it


def renewal_soon(f: FactSheet) -> bool:
    """Whether the renewal is close enough to raise now ("coming up" fits the churn horizon)."""
    return bool(f.renewal_date) and f.days_to_renewal is not None and 0 <= f.days_to_renewal <= RENEWAL_MENTION_DAYS


# -- summaries -------------------------------------------------------------------------
def _renewal_phrase(f: FactSheet) -> str:
    """The renewal in words; '' when the company loaded no renewal dates or billing cycles at all
    ("no renewal date is on record" would say something about this account)."""
    if f.renewal_date is None and "renewal" in f.not_loaded:
        return ""
    if f.renewal_date is None:
        return "no renewal date is on record"
    if f.days_to_renewal is not None and f.days_to_renewal < 0:
        return f"the renewal date {fmt.day(f.renewal_date)} passed {fmt.plural(-f.days_to_renewal, 'day')} ago"
    return f"the renewal is due on {fmt.day(f.renewal_date)}, in {fmt.plural(f.days_to_renewal, 'day')}"


def _about(f: FactSheet, *, region: bool = True) -> str:
    """ " (starter plan, retail, EMEA)" from what is on record; nothing when none of it is (a company
    that loaded no plan tiers, industries or regions is not told "None plan, unknown industry")."""
    known = [
        *([f"{f.plan_tier} plan"] if f.plan_tier else []),
        *([f.industry] if f.industry else []),
        *([f.region] if f.region and region else []),
    ]
    return f" ({', '.join(known)})" if known else ""


def _risk_sentence(f: FactSheet, p: Prediction) -> str:
    return (
        f"{f.name}{_about(f)} has a "
        f"{fmt.pct(p.churn_probability)} churn probability over the next 90 days "
        f"(interval {fmt.pct(p.ci_low)} to {fmt.pct(p.ci_high)}), which puts it in the {p.risk_tier} tier."
    )


def _drivers_sentence(f: FactSheet, limit: int = 2) -> str:
    raising = [fmt.lower_first(fmt.reason_text(d)) for d in f.risk_raising_drivers[:limit]]
    if raising:
        label = "The main risk driver" if len(raising) == 1 else "The main risk drivers"
        return f"{label}: {'; '.join(raising)}."
    lowering = [fmt.lower_first(fmt.reason_text(d)) for d in f.risk_lowering_drivers[:limit]]
    if lowering:
        # The reasons are sentences ("28% of seats are active …"): listed after a colon, not after "by".
        label = "what holds it down" if len(lowering) == 1 else "what holds it down most"
        return f"Nothing in the model pushes the risk up; {label}: {'; '.join(lowering)}."
    return "The model lists no drivers for this score."


def _activity_sentence(f: FactSheet) -> str:
    u, t = f.usage, f.tickets
    tickets = fmt.plural(t.open_tickets, "open ticket")
    if t.open_tickets:
        tickets += f" ({t.open_high_priority} high-priority"
        tickets += f", about {fmt.join_words(list(_safe_topics(f)))})" if _safe_topics(f) else ")"
    with_tickets = "" if "support_tickets" in f.not_loaded else f", with {tickets}"  # none loaded: not "0"
    return (
        f"Usage was {fmt.count(u.events_last_30d)} events in the last 30 days against "
        f"{fmt.count(u.events_prev_30d)} in the previous 30 days{with_tickets}."
    )


def _safe_topics(f: FactSheet) -> tuple[str, ...]:
    return tuple(t.replace("_", " ") for t in f.tickets.open_topics if re.fullmatch(r"[a-z_ ]{1,30}", t))


def _fit(parts: list[str], optional: list[str], high: int = 5) -> str:
    """Join the required sentences and add optional ones while the total stays within `high`."""
    text = " ".join(parts)
    for extra in optional:
        candidate = f"{text} {extra}"
        if len(sentences(candidate)) <= high:
            text = candidate
    return text


def _segment_clause(f: FactSheet) -> str:
    """Where the account sits among the behavioural segments, as the end of a sentence."""
    if f.segment is None:
        return ""
    if f.segment.archetype == NOT_ENOUGH_DATA.name:
        return f"; it has too little history for a behavioural segment yet ({f.segment.archetype})"
    return f"; it is in the {f.segment.archetype} segment"


def _playbook_sentence(f: FactSheet) -> str:
    """The segment playbook's motion ('' without a segment)."""
    if f.segment is None:
        return ""
    return f"The {f.segment.archetype} playbook: {fmt.lower_first(f.segment.motion)}"


def summary(f: FactSheet, audience: str) -> str:
    """3-5 sentences: tactical for a CSM, revenue-first for an executive. Both name the account's
    behavioural segment; the segment's playbook follows when the sentences allow."""
    if f.prediction is None:
        return _summary_without_prediction(f)
    p = f.prediction
    action = f"Recommended next step: {p.recommended_action}" if p.recommended_action else ""
    if audience == "executive":
        parts = [
            f"{f.name} is {formatting.a_or_an(f.plan_tier) if f.plan_tier else 'an'} account worth {fmt.money(f.mrr)} MRR ({fmt.money(f.arr)} ARR).",
            f"The model puts its churn probability at {fmt.pct(p.churn_probability)} over the next 90 days "
            f"(interval {fmt.pct(p.ci_low)} to {fmt.pct(p.ci_high)}, {p.risk_tier} tier), so "
            f"{fmt.money(p.arr_at_risk)} of ARR is at risk.",
            *_renewal_sentence(f),
        ]
        optional = [action, _drivers_sentence(f, 1)]
        if f.open_pipeline:
            optional.append(f"Open pipeline on the account is {fmt.money(f.open_pipeline)}.")
        return _fit(parts, optional)
    risk = _risk_sentence(f, p).rstrip(".") + f"{_segment_clause(f)}."
    renewal = _renewal_phrase(f)
    activity = _activity_sentence(f).rstrip(".") + (f", and {renewal}." if renewal else ".")
    return _fit([risk, _drivers_sentence(f), activity], [x for x in (action, _playbook_sentence(f)) if x])


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _summary_without_prediction(f: FactSheet) -> str:
    state = (
        f"{f.name} churned on {fmt.day(f.churn_date)} after {fmt.plural(f.tenure_days, 'day')} as a customer."
        if f.status != "active"
        else f"{f.name}{_about(f, region=False)} has no churn prediction yet."
    )
    return " ".join(
        [
            state,
            f"Its MRR is {fmt.money(f.mrr)}" + (f" and it is owned by {f.csm_owner}." if f.csm_owner else "."),
            _activity_sentence(f),
            "Run scoring (`.venv/bin/python -m engine score`) to get a churn probability and drivers."
            if f.status == "active"
            else "There is no renewal or risk to manage; a win-back may be worth considering.",
        ]
    )


# -- questions about one customer ------------------------------------------------------
# Topics the facts can answer, with the words that ask for them (checked in order).
TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "churn": ("churn", "likely to leave", "leave", "cancel", "probability", "risk", "at risk", "tier", "score"),
    "drivers": ("why", "driver", "reason", "cause", "explain", "factor", "shap"),
    "revenue": ("mrr", "arr", "revenue", "worth", "pay", "spend", "value", "money", "contract value"),
    "renewal": ("renew", "renewal", "contract", "expire", "expiry", "term"),
    "usage": ("usage", "use ", "using", "events", "active", "adoption", "login", "engagement", "activity", "seat util"),
    "tickets": ("ticket", "support", "csat", "issue", "complain", "problem", "bug", "incident", "satisf"),
    "opportunities": ("opportunit", "pipeline", "expansion", "upsell", "deal", "upgrade"),
    "owner": ("owner", "who owns", "csm", "account manager", "who manages", "responsible"),
    "profile": (
        "plan",
        "industry",
        "region",
        "seats",
        "stage",
        "tenure",
        "how long",
        "since",
        "signed",
        "sign up",
        "signup",
        "joined",
        "billing",
    ),
    "risk_score": ("risk score",),
    "action": ("what should", "next step", "recommend", "what do i do", "action", "how do we", "how can we", "save"),
    "segment": ("segment", "archetype", "playbook", "persona", "behaviour", "behavior", "what kind of account"),
}

# Things the warehouse never holds: answering would mean inventing.
NEVER_IN_FACTS = re.compile(
    r"\b(phone|e-?mail address|email of|address|contact person|ceo|cfo|cto|vp|champion'?s? name|decision[- ]maker|"
    r"competitor|competition|stock|share price|weather|salary|budget|birthday|linkedin|password|"
    r"other customers?|another customer|compare(d)? (to|with)|versus other|benchmark|"
    r"next year|in \d+ years|forecast)\b",
    re.I,
)


def question_topics(question: str) -> list[str]:
    """The fact topics a question asks about, or [] when the facts cannot answer it."""
    q = f" {question.lower()} "
    if NEVER_IN_FACTS.search(q):
        return []
    return [topic for topic, words in TOPIC_WORDS.items() if any(w in q for w in words)]


def answer(f: FactSheet, question: str) -> tuple[str | None, list[str]]:
    """(answer, topics) from the facts; (None, []) when the question is out of scope."""
    topics = question_topics(question)
    if not topics:
        return None, []
    parts = [_ANSWERS[t](f) for t in topics[:3]]
    return " ".join(p for p in parts if p), topics


def _answer_churn(f: FactSheet) -> str:
    p = f.prediction
    if p is None:
        return f"There is no churn prediction for {f.name} (status: {f.status})."
    return (
        f"The churn probability over the next 90 days is {fmt.pct(p.churn_probability)} (interval "
        f"{fmt.pct(p.ci_low)} to {fmt.pct(p.ci_high)}), {p.risk_tier} tier, as of {fmt.day(p.predicted_as_of)}."
    )


def _answer_risk_score(f: FactSheet) -> str:
    p = f.prediction
    if p is None or p.risk_score is None:
        return ""
    # The composite of the Customer 360's risk components, not a second churn probability.
    return f"The risk score is {p.risk_score:.2f} (0 to 1, from usage decay, compliance gap and vendor-risk flags)."


def _answer_drivers(f: FactSheet) -> str:
    if not f.drivers:
        return "The model lists no drivers for this customer."
    return (
        "Top drivers: "
        + "; ".join(
            fmt.reason_text(d) + (" (raises risk)" if (d.get("shap_impact") or 0) > 0 else " (lowers risk)")
            for d in f.drivers[:4]
        )
        + "."
    )


def _answer_revenue(f: FactSheet) -> str:
    text = f"MRR is {fmt.money(f.mrr)} ({fmt.money(f.arr)} ARR)."
    if f.prediction is not None:
        text += f" ARR at risk (churn probability × ARR) is {fmt.money(f.prediction.arr_at_risk)}."
    return text


def _renewal_sentence(f: FactSheet) -> list[str]:
    """The executive summary's renewal-and-segment sentence (none when neither is known)."""
    renewal, segment = _renewal_phrase(f), _segment_clause(f)
    if renewal:
        return [f"{_capital(renewal)}{segment}."]
    return [_capital(segment.removeprefix("; ")) + "."] if segment else []


def _answer_renewal(f: FactSheet) -> str:
    renewal = _renewal_phrase(f)
    if not renewal:
        return (
            f"No renewal dates, billing cycles or subscription terms are loaded, so {f.name}'s renewal is not on "
            "record (an admin loads contract_end_date or billing_cycle with the customers, or subscriptions with "
            "their bill_period_months)."
        )
    billing = f" (billing: {f.billing_cycle})" if f.billing_cycle else ""  # "billing: unknown" told nothing
    return f"For {f.name}, {renewal}{billing}."


def _answer_usage(f: FactSheet) -> str:
    u = f.usage
    change = (
        ""
        if u.usage_change is None
        else f", a change of {'+' if u.usage_change >= 0 else '-'}{fmt.pct(abs(u.usage_change))}"
    )
    last = (
        f" Last activity was on {fmt.day(u.last_activity_date)}."
        if u.last_activity_date
        else " No activity is on record."
    )
    return (
        f"{fmt.count(u.events_last_30d)} events in the last 30 days against {fmt.count(u.events_prev_30d)} in the "
        f"previous 30 days{change}, with {u.active_users_30d:.1f} daily active users on average.{last}"
    )


def _answer_tickets(f: FactSheet) -> str:
    if "support_tickets" in f.not_loaded:
        return "No support tickets are loaded for any account, so there is no support history to report."
    t = f.tickets
    csat = f" CSAT averages {t.csat_avg_90d:.1f} of 5 over the last 90 days." if t.csat_avg_90d else ""
    recent = ""
    quoted = [
        f'"{ticket.subject}" ({ticket.priority}, {ticket.status}, {fmt.day(ticket.opened_on)})'
        for ticket in t.recent[:3]
        if _quotable(ticket.subject)
    ]
    if quoted:
        recent = f" Most recent: {'; '.join(quoted)}."
    return (
        f"{fmt.plural(t.open_tickets, 'ticket')} open ({t.open_high_priority} high-priority) and "
        f"{fmt.plural(t.tickets_90d, 'ticket')} opened in the last 90 days.{csat}{recent}"
    )


def _quotable(subject: str | None) -> bool:
    """Customer-written text is quoted only when short, free of figures and not instruction-like."""
    if not subject:
        return False
    return len(subject) <= 120 and not re.search(r"\d", subject) and not looks_like_instructions(subject)


def _answer_opportunities(f: FactSheet) -> str:
    if "gtm_opportunities" in f.not_loaded:
        return "No opportunities are loaded for any account, so there is no pipeline to report."
    open_opps = [o for o in f.opportunities if o.is_open]
    if not open_opps:
        return "There is no open opportunity on the account."
    listed = "; ".join(
        f"{o.opportunity_type} in {o.stage}, {fmt.money(o.amount)}, closing {fmt.day(o.close_date)}" for o in open_opps
    )
    return f"Open opportunities: {listed}."


def _answer_owner(f: FactSheet) -> str:
    if "csm_owner" in f.not_loaded:
        return "No account owners are loaded for any account, so the account has no owner on record."
    return f"The account is owned by {f.csm_owner or 'nobody'} and is in the {f.gtm_stage or 'unknown'} GTM stage."


def _answer_profile(f: FactSheet) -> str:
    terms = [
        *([fmt.plural(f.seats, "seat")] if f.seats is not None else []),
        *([f"{f.billing_cycle} billing"] if f.billing_cycle else []),
    ]
    plan = f" is on the {f.plan_tier} plan" if f.plan_tier else " has no plan on record"
    place = [x for x in (f.industry, f.region) if x]
    return (
        f"{f.name}{plan}{' (' + ', '.join(terms) + ')' if terms else ''}"
        f"{', in ' + ', '.join(place) if place else ''}, a customer since "
        f"{fmt.day(f.signup_date)} ({fmt.plural(f.tenure_days, 'day')})."
    )


def _answer_action(f: FactSheet) -> str:
    if f.prediction is None or not f.prediction.recommended_action:
        return "There is no model recommendation for this customer."
    return f"The recommended next step: {f.prediction.recommended_action}"


def _answer_segment(f: FactSheet) -> str:
    if f.segment is None:
        return f"{f.name} has no behavioural segment (it is not active, or there is too little data yet)."
    sg = f.segment
    return (
        f"{f.name} is in the {sg.archetype} segment: {fmt.lower_first(sg.description)} "
        f"The playbook: {fmt.lower_first(sg.motion)} Channel: {fmt.lower_first(sg.channel)}."
    )


_ANSWERS = {
    "churn": _answer_churn,
    "drivers": _answer_drivers,
    "revenue": _answer_revenue,
    "renewal": _answer_renewal,
    "usage": _answer_usage,
    "tickets": _answer_tickets,
    "opportunities": _answer_opportunities,
    "owner": _answer_owner,
    "profile": _answer_profile,
    "action": _answer_action,
    "segment": _answer_segment,
    "risk_score": _answer_risk_score,
}


# -- outreach drafts -------------------------------------------------------------------
@dataclass(frozen=True)
class DraftParts:
    subject: str
    opening: str
    body: tuple[str, ...]  # paragraphs, most important first
    ask: str
    personalization: tuple[str, ...]
    hook: str = ""  # one personal line for short channels (SMS, chat)


_GREETINGS = {
    "friendly": ("Hi {team},", "Cheers,"),
    "formal": ("Dear {team},", "Kind regards,"),
    "direct": ("Hello {team},", "Thanks,"),
    "empathetic": ("Hi {team},", "Warm regards,"),
}


def _draft_parts(f: FactSheet, goal: str, tone: str) -> DraftParts:
    t, u = f.tickets, f.usage
    used = ["customer_name", "csm_owner"]
    topics = _safe_topics(f)
    sorry = "I'm sorry for the trouble. " if tone == "empathetic" else ""
    if goal == "resolve_support_issue" and not (t.open_tickets or t.tickets_90d or t.recent):
        # No request on record (none, or no tickets loaded at all): "your recent support
        # requests" would tell the customer about requests they never made.
        return DraftParts(
            "Is everything working for you?",
            "Checking in on how things are working.",
            (
                f"{sorry}I wanted to check in and make sure everything is working as it should for your team.",
                "If anything isn't, tell me and I'll take it to our support team and keep you posted.",
            ),
            "Could we set up a short call this week to go through anything that gets in your way?",
            tuple(used),
            "I want to make sure everything is working as it should for you.",
        )
    if goal == "resolve_support_issue":
        if t.open_tickets:
            about = f" about {fmt.join_words(list(topics))}" if topics else ""
            first = f"{sorry}I can see {fmt.plural(t.open_tickets, 'open support ticket')}{about} on your account, and I want to make sure each one gets resolved quickly."
            used += ["open_tickets", "ticket_topics"] if topics else ["open_tickets"]
        else:
            first = f"{sorry}I wanted to follow up on your recent support requests and make sure everything is working as it should."
            used.append("tickets_90d")
        follow = (
            "I'll coordinate with our support team and keep you updated on progress."
            if t.open_tickets
            else "If anything still isn't working, I'll take it to our support team and keep you posted."
        )
        body: tuple[str, ...] = (first, follow)
        hook = (
            f"I see {fmt.plural(t.open_tickets, 'open support ticket')} on your account and want them resolved quickly."
            if t.open_tickets
            else "I want to make sure your recent support requests are fully resolved."
        )
        return DraftParts(  # "open" only when tickets are open: none may be, with the goal chosen
            "Your open support requests" if t.open_tickets else "Your recent support requests",
            "Following up on your support requests.",
            body,
            "Could we set up a short call this week to go through them together?"
            if t.open_tickets
            else "Could we set up a short call this week to make sure everything is settled?",
            tuple(used),
            hook,
        )
    if goal == "nurture_lead":
        body = (
            f"Your team has been active with {fmt.count(u.events_last_30d)} product events in the last 30 days, and there is more value to unlock{' on the ' + f.plan_tier + ' plan' if f.plan_tier else ''}.",
            "We run short enablement sessions that help teams get more out of reports, dashboards and integrations.",
        )
        used += ["events_last_30d", "plan_tier"]
        hook = f"Your team logged {fmt.count(u.events_last_30d)} product events in the last 30 days."
        return DraftParts(
            "Getting more from your workspace",
            "Checking in on how things are going.",
            body,
            "Would a training session for your team be useful in the coming weeks?",
            tuple(used),
            hook,
        )
    if goal == "upsell":
        on_plan = f" on the {f.plan_tier} plan" if f.plan_tier else ""
        # Seats and plan only when on record: "0 seats on the None plan" was said to a company without them.
        seats = f"currently has {fmt.plural(f.seats, 'seat')}{on_plan}" if f.seats else f"has grown with us{on_plan}"
        body = (
            f"Your team {seats}, and I'd love to understand where you'd like to grow next.",
            "There may be a better fit for how your team works today, including more seats or additional capabilities.",
        )
        used += ["seats", "plan_tier"]
        if any(o.is_open and o.opportunity_type == "expansion" for o in f.opportunities):
            body += ("We already started discussing an expansion; I'd be glad to move that forward.",)
            used.append("open_expansion_opportunity")
        hook = f"Your team {seats}; there may be room to grow."
        return DraftParts(
            "Growing with your team",
            "A quick idea for your team.",
            body,
            "Do you have 20 minutes next week to explore options?",
            tuple(used),
            hook,
        )
    if goal == "win_back":
        body = (
            f"You were with us for {fmt.plural(f.tenure_days, 'day')}, and we'd value hearing what would make the product work better for you.",
            "A lot has improved recently, and I'd like to show you what's new.",
        )
        used.append("tenure_days")
        hook = "A lot has improved since we last worked together."
        return DraftParts(
            "We'd love to reconnect",
            "It's been a while, and I wanted to reach out personally.",
            body,
            "Would you be open to a short conversation?",
            tuple(used),
            hook,
        )
    # A renewal ten months away is no reason to write today.
    renewal = (
        f" Your renewal is coming up on {fmt.spoken_day(f.renewal_date)}, so it's a good moment to review what's working."
        if renewal_soon(f)
        else ""
    )
    if renewal:
        used.append("renewal_date")
    body = (
        f"I wanted to check in and see how things are going for your team.{renewal}",
        "If anything is getting in your way, I'm here to help.",
    )
    hook = (
        f"Your renewal is coming up on {fmt.spoken_day(f.renewal_date)}."
        if renewal
        else "I'd love to hear how things are going."
    )
    return DraftParts("Checking in", "Checking in.", body, "Is there a good time to catch up?", tuple(used), hook)


def draft(f: FactSheet, goal: str, channel: str, tone: str, length: str) -> tuple[str, tuple[str, ...]]:
    """(message, personalization_applied) for one goal and channel; no internal scores are mentioned."""
    parts = _draft_parts(f, goal, tone)
    hello, bye = _GREETINGS.get(tone, _GREETINGS["friendly"])
    # A company that loaded no names has the id as the name: "Hi team,", not "Hi 336 team,".
    team = "team" if not f.name or f.name == f.customer_id else f"{f.name} team"
    sender = fmt.owner_name(f.csm_owner)
    paragraphs = {"short": 1, "medium": 2, "long": 3}[length]
    body = list(parts.body[:paragraphs])
    if channel == "email":
        text = "\n\n".join([f"Subject: {parts.subject}", hello.format(team=team), *body, parts.ask, f"{bye}\n{sender}"])
    elif channel == "sms":
        first = sender.split(" ")[0]
        text = f"Hi {team}, {parts.hook} {parts.ask} - {first}"
        if len(text) > 300:
            text = f"Hi, {parts.hook} {parts.ask} - {first}"
    elif channel == "chat":
        lines = [f"Hi {team}! {parts.hook}", *body[: paragraphs - 1], parts.ask]
        text = "\n".join(lines)
    else:
        points = "\n".join(f"- {p}" for p in parts.body)
        text = "\n".join(
            [
                f"Opening: Hi, this is {sender} from the customer success team. {parts.opening}",
                "Talking points:",
                points,
                f"Question to ask: {parts.ask}",
                "Close: Thank them for their time and confirm the next step and date by email.",
            ]
        )
    return text, parts.personalization


# -- action plan narrative -------------------------------------------------------------
def actions_narrative(f: FactSheet, actions: list, revenue_at_risk: float | None) -> str:
    """Two or three sentences introducing the action plan (figures from the facts only)."""
    first = actions[0] if actions else None
    risk = (
        f"{f.name} carries {fmt.money(revenue_at_risk)} of ARR at risk ({f.prediction.risk_tier} tier)."
        if f.prediction is not None and revenue_at_risk is not None
        else f"{f.name} has no current churn prediction."
    )
    lead = (
        f"Start with: {fmt.lower_first(first.action)}" if first else "No action is needed beyond the regular cadence."
    )
    if first and not lead.endswith("."):
        lead += "."
    others = len(actions) - 1
    verb = "follows" if others == 1 else "follow"
    more = f" {fmt.plural(others, 'further action')} {verb} in priority order." if others > 0 else ""
    return f"{risk} {lead}{more}"
