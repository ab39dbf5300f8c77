"""One AI text: ask the provider once (with the client's retry policy) or write offline,
then check it, label it and score it. Shared by summaries, answers, drafts and plans."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.ai import guardrails
from engine.ai.client import ChatClient, ProviderError
from engine.ai.guardrails import Grounding, GuardrailReport
from engine.ai.offline import OFFLINE_MODEL

PROVIDER_GROQ = "groq"
PROVIDER_OFFLINE = "offline"


@dataclass(frozen=True)
class Written:
    text: str
    provider: str  # "groq" or "offline"
    model: str
    requests: int  # HTTP requests made to the provider (0 offline)
    provider_error: str | None  # why the provider's text was not used


def write(client: ChatClient | None, messages: list[dict], offline: Callable[[], str], max_tokens: int) -> Written:
    """The provider's text (one completion), or the offline writer's when there is no
    client, the provider fails, or it returns nothing."""
    if client is None:
        return Written(offline(), PROVIDER_OFFLINE, OFFLINE_MODEL, 0, None)
    try:
        completion = client.complete(messages, max_tokens=max_tokens)
    except ProviderError as exc:
        return Written(offline(), PROVIDER_OFFLINE, OFFLINE_MODEL, exc.requests, str(exc))
    text = completion.text.strip()
    if not text:
        return Written(offline(), PROVIDER_OFFLINE, OFFLINE_MODEL, completion.requests, "the provider returned no text")
    return Written(text, PROVIDER_GROQ, completion.model, completion.requests, None)


@dataclass(frozen=True)
class Finished:
    text: str  # ends with the disclaimer
    report: GuardrailReport
    generated_at: str  # ISO 8601, UTC


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def finish(
    written: Written,
    grounding: Grounding,
    *,
    summary: bool = False,
    customer_facing: bool = False,
    extra_flags: Iterable[tuple[str, str]] = (),
) -> Finished:
    """Guardrails on the text (whichever writer produced it), the disclaimer appended."""
    extra = list(extra_flags)
    if written.provider_error:
        extra.append(("provider_error", f"{written.provider_error}; the offline writer produced this text"))
    body = guardrails.strip_disclaimer(written.text)
    report = guardrails.check(body, grounding, summary=summary, customer_facing=customer_facing, extra_flags=extra)
    if written.provider == PROVIDER_OFFLINE:
        report = report.capped(guardrails.TEMPLATE_CONFIDENCE)
    return Finished(guardrails.with_disclaimer(body), report, now_iso())


def output_fields(written: Written, report: GuardrailReport, generated_at: str, facts_hash: str) -> dict[str, Any]:
    """The shared `AiOutput` fields, filled the same way by every writer."""
    return {
        "confidence_score": report.confidence_score,
        "guardrail_flags": tuple(report.codes),
        "guardrail_details": report.details,
        "generated_at": generated_at,
        "model_used": written.model,
        "llm_provider": written.provider,
        "facts_hash": facts_hash,
        "provider_requests": written.requests,
    }
