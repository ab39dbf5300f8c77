"""The AI layer: grounded texts about customers and the portfolio, checked and audited.

Public API (each returns a pydantic model deriving from `AiOutput`, an
`engine.core.contracts.Contract` whose fields follow DESIGN.md's contracts; each raises
NotFoundError for a customer outside the viewer's book and stores the output in the AI
audit log through `engine.ai.audit.record_output`):

* `summarize(wh, customer_id, audience, viewer)` -> Summary (3-5 sentences, csm/executive)
* `ask_customer(wh, customer_id, question, viewer)` -> Answer (scope_exceeded + refusal when
  the facts cannot answer)
* `ask_portfolio(wh, question, viewer)` -> PortfolioAnswer (table + validated SQL, scoped)
* `draft_message(wh, customer_id, viewer, goal=, channel=, tone=, length=)` -> Draft
* `next_best_actions(wh, customer_id, viewer)` -> ActionPlan
* `recent_ai_outputs(data_dir, limit, viewer=)` -> list[AuditRow]

Every function takes `client=`: AUTO (default: Groq when GROQ_API_KEY is set, else the
offline writer), None (offline), or any ChatClient. Every text ends with `DISCLAIMER`;
`confidence_score` below 0.5 (`needs_review`) means a person must review it first.
"""

from engine.ai.actions import ActionPlan, NextAction, next_best_actions
from engine.ai.ask import Answer, ask_customer
from engine.ai.audit import AuditRow, record_output
from engine.ai.audit import recent as recent_ai_outputs
from engine.ai.client import AUTO, ChatClient, Completion, GroqClient, LlmSettings, ProviderError, default_client
from engine.ai.drafts import CHANNELS, GOALS, LENGTHS, TONES, Draft, draft_message, suggested_goal
from engine.ai.facts import FactSheet, load_facts
from engine.ai.guardrails import DISCLAIMER, REVIEW_THRESHOLD, strip_disclaimer
from engine.ai.output import AiOutput, CustomerOutput
from engine.ai.portfolio_sql import PortfolioAnswer, SqlRefused, ask_portfolio, validate_sql
from engine.ai.summaries import AUDIENCES, Summary, summarize

__all__ = [
    "AUDIENCES",
    "AUTO",
    "CHANNELS",
    "DISCLAIMER",
    "GOALS",
    "LENGTHS",
    "REVIEW_THRESHOLD",
    "TONES",
    "ActionPlan",
    "AiOutput",
    "Answer",
    "AuditRow",
    "ChatClient",
    "Completion",
    "CustomerOutput",
    "Draft",
    "FactSheet",
    "GroqClient",
    "LlmSettings",
    "NextAction",
    "PortfolioAnswer",
    "ProviderError",
    "SqlRefused",
    "Summary",
    "ask_customer",
    "ask_portfolio",
    "default_client",
    "draft_message",
    "strip_disclaimer",
    "suggested_goal",
    "load_facts",
    "next_best_actions",
    "recent_ai_outputs",
    "record_output",
    "summarize",
    "validate_sql",
]
