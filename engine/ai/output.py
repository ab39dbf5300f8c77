"""The one base of every AI output: summary, answer, portfolio answer, draft and action plan.

`AiOutput` holds what every generated text carries (the seed contract's
`confidence_score`, `guardrail_flags`, `scope_exceeded`, `generated_at`, `model_used`,
`llm_provider`, plus the checks' details, the facts hash, the provider's request count and
the audit id); each writer's model adds its own fields. `engine.ai.audit.record_output`
stores any of them, so the audit row is built in one place.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import computed_field

from engine.ai.guardrails import REVIEW_THRESHOLD
from engine.core.contracts import Contract, ShapFeature


class AiOutput(Contract):
    """One generated text, checked and scored. The text itself lives in the subclass."""

    kind: ClassVar[str]  # the audit log's kind: summary / ask / portfolio / draft / actions

    confidence_score: float  # the checks' estimate that the text states only what the data says
    guardrail_flags: tuple[str, ...] = ()  # distinct flag codes, in the order found
    guardrail_details: tuple[dict[str, Any], ...] = ()  # {code, detail} per occurrence
    scope_exceeded: bool = False  # the data cannot answer what was asked: the text is a refusal
    generated_at: str  # ISO 8601, UTC
    model_used: str
    llm_provider: str  # "groq" or "offline"
    facts_hash: str = ""  # sha256 of what the text was grounded in (the audit log keeps it)
    provider_requests: int = 0  # HTTP requests made to the provider (0 offline)
    audit_id: int | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def needs_review(self) -> bool:
        """Confidence below 0.5: a person must review the text before it is used."""
        return self.confidence_score < REVIEW_THRESHOLD

    @property
    def audit_customer_id(self) -> str | None:
        """The customer the text is about (None for the whole portfolio)."""
        return None

    def audit_request(self) -> dict[str, Any]:
        """What was asked, as the audit log keeps it (audience, question, options)."""
        return {}

    def audit_text(self) -> str:
        """The text the audit log keeps."""
        raise NotImplementedError


class CustomerOutput(AiOutput):
    """An AI output about one customer, grounded in its fact sheet."""

    customer_id: str

    @property
    def audit_customer_id(self) -> str | None:
        return self.customer_id


def shap_features(drivers: tuple[dict, ...]) -> tuple[ShapFeature, ...]:
    """The stored drivers as the seed contract's `top_shap_features`."""
    return tuple(
        ShapFeature(
            feature=str(d.get("feature")),
            value=d.get("value"),
            shap_impact=float(d.get("shap_impact") or 0.0),
            reason=str(d.get("reason") or ""),
        )
        for d in drivers
    )
