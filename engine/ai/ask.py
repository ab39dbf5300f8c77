"""Free-text questions about one customer, answered only from its fact sheet.

A question the facts cannot answer gets `scope_exceeded: true` and a fixed refusal,
never an invented answer: questions about things the warehouse never holds (contacts,
competitors, other customers, forecasts beyond the model) are refused before any model
is asked; a model that cannot answer from the facts replies OUT_OF_SCOPE; offline, the
question must map to fact topics by its words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.ai import audit, offline, prompts
from engine.ai.client import AUTO, resolve_client
from engine.ai.facts import load_facts
from engine.ai.guardrails import REVIEW_THRESHOLD, grounding_from_facts
from engine.ai.offline import OFFLINE_MODEL, REFUSAL
from engine.ai.writer import PROVIDER_OFFLINE, Written, finish, write
from engine.core.access import Viewer
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse

MAX_QUESTION_CHARS = 500
ASK_MAX_TOKENS = 250
_NO_ANSWER = "\x00no-answer"  # the offline writer's marker for "out of scope"


@dataclass(frozen=True)
class Answer:
    """The Ask contract: customer_id, question, answer, confidence_score, guardrail_flags,
    scope_exceeded, and the writer's details."""

    customer_id: str
    question: str
    answer: str  # ends with the disclaimer; the fixed refusal when scope_exceeded
    confidence_score: float
    guardrail_flags: tuple[str, ...]
    scope_exceeded: bool
    generated_at: str
    model_used: str
    llm_provider: str
    facts_used: tuple[str, ...] = ()  # fact topics the offline writer answered from
    guardrail_details: tuple[dict, ...] = ()
    facts_hash: str = ""
    provider_requests: int = 0
    audit_id: int | None = None

    @property
    def needs_review(self) -> bool:
        return self.confidence_score < REVIEW_THRESHOLD

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("guardrail_flags", "facts_used"):
            data[key] = list(data[key])
        data["guardrail_details"] = [dict(d) for d in self.guardrail_details]
        data["needs_review"] = self.needs_review
        return data


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
    report = done.report
    audit_id = audit.record(
        data_dir or wh.path.parent,
        viewer,
        "ask",
        customer_id=facts.customer_id,
        provider=written.provider,
        model=written.model,
        facts_hash=facts.facts_hash(),
        flags=report.codes,
        confidence=report.confidence_score,
        scope_exceeded=scope_exceeded,
        provider_requests=written.requests,
        request={"question": question},
        output=done.text,
    )
    return Answer(
        customer_id=facts.customer_id,
        question=question,
        answer=done.text,
        confidence_score=report.confidence_score,
        guardrail_flags=tuple(report.codes),
        scope_exceeded=scope_exceeded,
        generated_at=done.generated_at,
        model_used=written.model,
        llm_provider=written.provider,
        facts_used=tuple(topics),
        guardrail_details=report.details,
        facts_hash=facts.facts_hash(),
        provider_requests=written.requests,
        audit_id=audit_id,
    )
