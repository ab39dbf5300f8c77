"""Outreach drafts a CSM sends to a customer, by goal, channel, tone and length.

Customer-facing: besides the usual guardrails, a draft must not reveal internal data
(churn scores, risk tiers, the model); the `internal_data_exposed` flag catches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.ai import audit, fmt, guardrails, offline, prompts
from engine.ai.client import AUTO, resolve_client
from engine.ai.facts import FactSheet, load_facts
from engine.ai.guardrails import REVIEW_THRESHOLD, grounding_from_facts
from engine.ai.writer import finish, write
from engine.core.access import Viewer
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse

GOALS = ("resolve_support_issue", "nurture_lead", "upsell", "win_back", "generic_communication")
CHANNELS = ("email", "sms", "chat", "phone_script")
TONES = ("friendly", "formal", "direct", "empathetic")
LENGTHS = ("short", "medium", "long")
DRAFT_MAX_TOKENS = {"short": 250, "medium": 450, "long": 700}


@dataclass(frozen=True)
class Draft:
    customer_id: str
    goal: str
    channel: str
    tone: str
    length: str
    message: str  # ends with the disclaimer (remove it only after a person has reviewed the text)
    personalization_applied: tuple[str, ...]  # which facts the message uses
    confidence_score: float
    guardrail_flags: tuple[str, ...]
    generated_at: str
    model_used: str
    llm_provider: str
    guardrail_details: tuple[dict, ...] = ()
    facts_hash: str = ""
    provider_requests: int = 0
    audit_id: int | None = None

    @property
    def needs_review(self) -> bool:
        return self.confidence_score < REVIEW_THRESHOLD

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("guardrail_flags", "personalization_applied"):
            data[key] = list(data[key])
        data["guardrail_details"] = [dict(d) for d in self.guardrail_details]
        data["needs_review"] = self.needs_review
        return data


def _choose(value: str, allowed: tuple[str, ...], what: str) -> str:
    value = (value or "").strip().lower().replace("-", "_").replace(" ", "_")
    if value not in allowed:
        raise BadInputError(f"Unknown {what} '{value}'. Choose one of: {', '.join(allowed)}.")
    return value


def personalization_in(text: str, f: FactSheet) -> tuple[str, ...]:
    """The facts a message visibly uses (looked for in the text, whichever writer wrote it)."""
    lowered = text.lower()

    def says(pattern: str) -> bool:
        return re.search(pattern, lowered) is not None

    checks = {
        "customer_name": f.name.lower() in lowered,
        "csm_owner": bool(f.csm_owner) and fmt.owner_name(f.csm_owner).split(" ")[0].lower() in lowered,
        "renewal_date": bool(f.renewal_date) and fmt.day(f.renewal_date) in text,
        "open_tickets": f.tickets.open_tickets > 0 and says(rf"\b{f.tickets.open_tickets}\s+open\b"),
        "ticket_topics": any(says(rf"\b{re.escape(t.replace('_', ' '))}\b") for t in f.tickets.open_topics),
        "seats": bool(f.seats) and says(rf"\b{re.escape(fmt.count(f.seats))}\s+seats?\b"),
        "plan_tier": f"{f.plan_tier} plan" in lowered,
        "events_last_30d": says(rf"\b{re.escape(fmt.count(f.usage.events_last_30d))}\s+(product\s+)?events\b"),
        "tenure_days": says(rf"\b{re.escape(fmt.count(f.tenure_days))}\s+days\b"),
    }
    return tuple(name for name, used in checks.items() if used)


def draft_message(
    wh: Warehouse,
    customer_id: str,
    viewer: Viewer,
    *,
    goal: str = "generic_communication",
    channel: str = "email",
    tone: str = "friendly",
    length: str = "medium",
    client=AUTO,
    data_dir: str | Path | None = None,
) -> Draft:
    """A message for the customer. goal: one of GOALS; channel: email, sms, chat or
    phone_script; tone: friendly, formal, direct or empathetic; length: short, medium
    or long. Raises NotFoundError outside the viewer's book, BadInputError for an
    unknown option. The output is stored in the AI audit log."""
    goal = _choose(goal, GOALS, "goal")
    channel = _choose(channel, CHANNELS, "channel")
    tone = _choose(tone, TONES, "tone")
    length = _choose(length, LENGTHS, "length")
    facts = load_facts(wh, customer_id, viewer)

    def offline_draft() -> str:
        return offline.draft(facts, goal, channel, tone, length)[0]

    written = write(
        resolve_client(client),
        prompts.draft_messages(facts, goal, channel, tone, length),
        offline_draft,
        DRAFT_MAX_TOKENS[length],
    )
    done = finish(written, grounding_from_facts(facts), customer_facing=True)
    used = personalization_in(guardrails.strip_disclaimer(done.text), facts)
    report = done.report
    audit_id = audit.record(
        data_dir or wh.path.parent,
        viewer,
        "draft",
        customer_id=facts.customer_id,
        provider=written.provider,
        model=written.model,
        facts_hash=facts.facts_hash(),
        flags=report.codes,
        confidence=report.confidence_score,
        scope_exceeded=False,
        provider_requests=written.requests,
        request={"goal": goal, "channel": channel, "tone": tone, "length": length},
        output=done.text,
    )
    return Draft(
        customer_id=facts.customer_id,
        goal=goal,
        channel=channel,
        tone=tone,
        length=length,
        message=done.text,
        personalization_applied=tuple(used),
        confidence_score=report.confidence_score,
        guardrail_flags=tuple(report.codes),
        generated_at=done.generated_at,
        model_used=written.model,
        llm_provider=written.provider,
        guardrail_details=report.details,
        facts_hash=facts.facts_hash(),
        provider_requests=written.requests,
        audit_id=audit_id,
    )
