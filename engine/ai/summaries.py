"""AI summaries of one customer for a CSM (tactical) or an executive (revenue, quantified)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.ai import audit, offline, prompts
from engine.ai.client import AUTO, resolve_client
from engine.ai.facts import load_facts
from engine.ai.guardrails import REVIEW_THRESHOLD, grounding_from_facts
from engine.ai.writer import finish, write
from engine.core.access import Viewer
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse

AUDIENCES = ("csm", "executive")
SUMMARY_MAX_TOKENS = 300


@dataclass(frozen=True)
class Summary:
    """The LLM summary contract, plus the guardrail details and audit id."""

    customer_id: str
    audience: str
    summary: str  # 3-5 sentences, ending with the disclaimer
    churn_probability: float | None
    risk_tier: str | None
    top_shap_features: tuple[dict, ...]
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
        """Confidence below 0.5: a person must review the text before it is used."""
        return self.confidence_score < REVIEW_THRESHOLD

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["top_shap_features"] = [dict(d) for d in self.top_shap_features]
        data["guardrail_flags"] = list(self.guardrail_flags)
        data["guardrail_details"] = [dict(d) for d in self.guardrail_details]
        data["needs_review"] = self.needs_review
        return data


def summarize(
    wh: Warehouse,
    customer_id: str,
    audience: str,
    viewer: Viewer,
    *,
    client=AUTO,
    data_dir: str | Path | None = None,
) -> Summary:
    """A 3-5 sentence summary of one customer for `audience` ("csm" or "executive").

    `client`: AUTO (Groq when GROQ_API_KEY is set, else offline), None (offline) or a
    ChatClient. Raises NotFoundError for a customer outside the viewer's book and
    BadInputError for an unknown audience. The output is stored in the AI audit log.
    """
    if audience not in AUDIENCES:
        raise BadInputError(f"Unknown audience '{audience}'. Choose one of: {', '.join(AUDIENCES)}.")
    facts = load_facts(wh, customer_id, viewer)
    written = write(
        resolve_client(client),
        prompts.summary_messages(facts, audience),
        lambda: offline.summary(facts, audience),
        SUMMARY_MAX_TOKENS,
    )
    done = finish(written, grounding_from_facts(facts), summary=True)
    report = done.report
    p = facts.prediction
    audit_id = audit.record(
        data_dir or wh.path.parent,
        viewer,
        "summary",
        customer_id=facts.customer_id,
        provider=written.provider,
        model=written.model,
        facts_hash=facts.facts_hash(),
        flags=report.codes,
        confidence=report.confidence_score,
        scope_exceeded=False,
        provider_requests=written.requests,
        request={"audience": audience},
        output=done.text,
    )
    return Summary(
        customer_id=facts.customer_id,
        audience=audience,
        summary=done.text,
        churn_probability=p.churn_probability if p else None,
        risk_tier=p.risk_tier if p else None,
        top_shap_features=tuple(
            {k: d.get(k) for k in ("feature", "value", "shap_impact", "reason")} for d in facts.drivers
        ),
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
