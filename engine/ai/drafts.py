"""Outreach drafts a CSM sends to a customer, by goal, channel, tone and length.

Customer-facing: besides the usual guardrails, a draft must not reveal internal data
(churn scores, risk tiers, the model); the `internal_data_exposed` flag catches it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from engine.ai import actions, audit, fmt, guardrails, offline, prompts
from engine.ai.client import AUTO, resolve_client
from engine.ai.facts import FactSheet, load_facts
from engine.ai.guardrails import grounding_from_facts
from engine.ai.output import CustomerOutput
from engine.ai.writer import finish, output_fields, write
from engine.core.access import Viewer
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse

GOALS = ("resolve_support_issue", "nurture_lead", "upsell", "win_back", "generic_communication")
CHANNELS = ("email", "sms", "chat", "phone_script")
TONES = ("friendly", "formal", "direct", "empathetic")
LENGTHS = ("short", "medium", "long")
DRAFT_MAX_TOKENS = {"short": 250, "medium": 450, "long": 700}


class Draft(CustomerOutput):
    """An outreach draft: goal, channel, tone, length, the message, the facts it uses, and the
    shared AI fields (`AiOutput`)."""

    kind: ClassVar[str] = "draft"

    goal: str
    channel: str  # email, sms, chat or phone_script
    tone: str
    length: str
    message: str  # ends with the disclaimer (remove it only after a person has reviewed the text)
    personalization_applied: tuple[str, ...]  # which facts the message uses

    def audit_request(self) -> dict[str, Any]:
        return {"goal": self.goal, "channel": self.channel, "tone": self.tone, "length": self.length}

    def audit_text(self) -> str:
        return self.message


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


# The draft goal that serves an account's recommended next step (its category), so the page
# starts from the message the risk board asks for; other steps are a general check-in.
_GOAL_OF_STEP = {"support": "resolve_support_issue", "expansion": "upsell"}


def goal_for(f: FactSheet) -> str:
    """The draft goal that fits the account: win back a churned one, else its lead step's goal."""
    if f.status == "churned":
        return "win_back"
    if f.prediction is None:
        return "generic_communication"
    return _GOAL_OF_STEP.get(actions.lead_step(f, f.prediction).category, "generic_communication")


def suggested_goal(wh: Warehouse, customer_id: str, viewer: Viewer) -> str:
    """`goal_for` the account (NotFoundError outside the viewer's book)."""
    return goal_for(load_facts(wh, customer_id, viewer))


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
    draft = Draft(
        customer_id=facts.customer_id,
        goal=goal,
        channel=channel,
        tone=tone,
        length=length,
        message=done.text,
        personalization_applied=used,
        **output_fields(written, done.report, done.generated_at, facts.facts_hash()),
    )
    return audit.record_output(draft, data_dir or wh.data_dir, viewer)
