"""AI summaries of one customer for a CSM (tactical) or an executive (revenue, quantified)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from engine.ai import audit, offline, prompts
from engine.ai.client import AUTO, resolve_client
from engine.ai.facts import load_facts
from engine.ai.guardrails import grounding_from_facts
from engine.ai.output import CustomerOutput, shap_features
from engine.ai.writer import finish, output_fields, write
from engine.core.access import Viewer
from engine.core.contracts import ShapFeature
from engine.core.errors import BadInputError
from engine.data.warehouse import Warehouse

AUDIENCES = ("csm", "executive")
SUMMARY_MAX_TOKENS = 300


class Summary(CustomerOutput):
    """The LLM summary contract: customer_id, audience, summary, churn_probability, risk_tier,
    top_shap_features, and the shared AI fields (`AiOutput`)."""

    kind: ClassVar[str] = "summary"

    audience: str  # csm or executive
    summary: str  # 3-5 sentences, ending with the disclaimer
    churn_probability: float | None
    risk_tier: str | None
    top_shap_features: tuple[ShapFeature, ...]

    def audit_request(self) -> dict[str, Any]:
        return {"audience": self.audience}

    def audit_text(self) -> str:
        return self.summary


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
    p = facts.prediction
    summary = Summary(
        customer_id=facts.customer_id,
        audience=audience,
        summary=done.text,
        churn_probability=p.churn_probability if p else None,
        risk_tier=p.risk_tier if p else None,
        top_shap_features=shap_features(facts.drivers),
        **output_fields(written, done.report, done.generated_at, facts.facts_hash()),
    )
    return audit.record_output(summary, data_dir or wh.data_dir, viewer)
