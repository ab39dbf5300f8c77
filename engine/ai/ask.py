"""Free-text questions about one customer, answered only from its fact sheet.

A question the facts cannot answer gets `scope_exceeded: true` and a fixed refusal,
never an invented answer: questions about things the warehouse never holds (contacts,
competitors, other customers, forecasts beyond the model) are refused before any model
is asked; a model that cannot answer from the facts replies OUT_OF_SCOPE; offline, the
question must map to fact topics by its words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from engine.ai import audit, offline, prompts
from engine.ai.client import AUTO, resolve_client
from engine.ai.facts import load_facts
from engine.ai.guardrails import grounding_from_facts
from engine.ai.offline import OFFLINE_MODEL, REFUSAL
from engine.ai.output import CustomerOutput
from engine.ai.writer import PROVIDER_OFFLINE, Written, finish, output_fields, write
from engine.core.access import Viewer
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse

MAX_QUESTION_CHARS = 500
ASK_MAX_TOKENS = 250
_NO_ANSWER = "\x00no-answer"  # the offline writer's marker for "out of scope"


class Answer(CustomerOutput):
    """The Ask contract: customer_id, question, answer, scope_exceeded, the fact topics it
    used, and the shared AI fields (`AiOutput`)."""

    kind: ClassVar[str] = "ask"

    question: str
    answer: str  # ends with the disclaimer; the fixed refusal when scope_exceeded
    facts_used: tuple[str, ...] = ()  # fact topics the offline writer answered from

    def audit_request(self) -> dict[str, Any]:
        return {"question": self.question}

    def audit_text(self) -> str:
        return self.answer


def _clean_question(question: str) -> str:
    question = " ".join(str(question or "").split())
    if not question:
        raise BadInputError("Type a question about this customer, e.g. 'Why is the churn risk high?'.")
    if len(question) > MAX_QUESTION_CHARS:
        raise BadInputError(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
    return question


def ask_customer(
    wh: Warehouse,
    customer_id: str,
    question: str,
    viewer: Viewer,
    *,
    client=AUTO,
    data_dir: str | Path | None = None,
) -> Answer:
    """Answer `question` about one customer from its facts only (see the module doc).

    Raises NotFoundError outside the viewer's book and BadInputError for an empty or
    over-long question. The output is stored in the AI audit log.
    """
    question = _clean_question(question)
    facts = load_facts(wh, customer_id, viewer)
    topics: list[str] = []

    def offline_answer() -> str:
        nonlocal topics
        text, topics = offline.answer(facts, question)
        return text if text is not None else _NO_ANSWER

    if offline.NEVER_IN_FACTS.search(question):
        written = Written(_NO_ANSWER, PROVIDER_OFFLINE, OFFLINE_MODEL, 0, None)
    else:
        written = write(resolve_client(client), prompts.ask_messages(facts, question), offline_answer, ASK_MAX_TOKENS)
    scope_exceeded = written.text == _NO_ANSWER or prompts.OUT_OF_SCOPE in written.text
    if scope_exceeded:
        written = Written(REFUSAL, written.provider, written.model, written.requests, written.provider_error)
        topics = []
    done = finish(written, grounding_from_facts(facts))
    answer = Answer(
        customer_id=facts.customer_id,
        question=question,
        answer=done.text,
        scope_exceeded=scope_exceeded,
        facts_used=tuple(topics),
        **output_fields(written, done.report, done.generated_at, facts.facts_hash()),
    )
    return audit.record_output(answer, data_dir or wh.data_dir, viewer)
