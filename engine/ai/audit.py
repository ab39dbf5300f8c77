"""The AI audit log: every generated text with who asked, when, which writer, the facts
hash, the flags and the confidence (table `ai_audit` in engine.core.store).

`record_output` stores any AI output (`engine.ai.output.AiOutput`); the row's columns come
from the output's shared fields, its kind, request and text from the output's own model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import field_serializer
from sqlalchemy import Row, insert, select

from engine.ai.guardrails import REVIEW_THRESHOLD
from engine.ai.output import AiOutput
from engine.core.access import Viewer
from engine.core.contracts import Contract
from engine.core.errors import BadInputError
from engine.core.store import ai_audit, get_engine

KINDS = ("summary", "ask", "portfolio", "draft", "actions", "briefing")

OutputT = TypeVar("OutputT", bound=AiOutput)


class AuditRow(Contract):
    """One stored AI output (`ai-audit --json` prints these)."""

    id: int
    created_at: datetime  # UTC
    username: str
    role: str
    kind: str
    customer_id: str | None
    provider: str
    model: str
    facts_hash: str
    flags: list[str]
    confidence: float
    scope_exceeded: bool
    provider_requests: int
    request: dict[str, Any]
    output: str

    @field_serializer("created_at")
    def _iso(self, moment: datetime) -> str:
        return moment.isoformat()  # "+00:00", as the log has always printed it (pydantic would write "Z")


def record_output(output: OutputT, data_dir: str | Path | None, viewer: Viewer) -> OutputT:
    """Store one AI output for `viewer`; the output back with its audit id."""
    if output.kind not in KINDS:
        raise BadInputError(f"Unknown AI output kind '{output.kind}'. Kinds are: {', '.join(KINDS)}.")
    with get_engine(data_dir).begin() as conn:
        result = conn.execute(
            insert(ai_audit).values(
                created_at=datetime.now(UTC),
                username=viewer.username,
                role=viewer.role,
                kind=output.kind,
                customer_id=output.audit_customer_id,
                provider=output.llm_provider,
                model=output.model_used,
                facts_hash=output.facts_hash,
                flags=list(output.guardrail_flags),
                confidence=float(output.confidence_score),
                scope_exceeded=bool(output.scope_exceeded),
                provider_requests=int(output.provider_requests),
                request=output.audit_request(),
                output=output.audit_text(),
            )
        )
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row always has one
        return output.model_copy(update={"audit_id": int(key[0])})


def recent(
    data_dir: str | Path | None = None,
    limit: int = 50,
    *,
    viewer: Viewer | None = None,
    kind: str | None = None,
    customer_id: str | None = None,
    needs_review_only: bool = False,
) -> list[AuditRow]:
    """The newest audit rows first. A CSM viewer sees only the outputs they asked for;
    `needs_review_only` keeps rows whose confidence is below 0.5."""
    if not 1 <= limit <= 10_000:
        raise BadInputError(f"limit must be between 1 and 10,000 (got {limit}).")
    query = select(ai_audit).order_by(ai_audit.c.created_at.desc(), ai_audit.c.id.desc()).limit(limit)
    if viewer is not None and not viewer.sees_everyone:
        query = query.where(ai_audit.c.username == viewer.username)
    if kind:
        query = query.where(ai_audit.c.kind == kind)
    if customer_id:
        query = query.where(ai_audit.c.customer_id == customer_id)
    if needs_review_only:
        query = query.where(ai_audit.c.confidence < REVIEW_THRESHOLD)
    with get_engine(data_dir).connect() as conn:
        rows = conn.execute(query).all()
    return [_row(r) for r in rows]


def _row(row: Row[Any]) -> AuditRow:
    data = dict(row._mapping)
    moment = data["created_at"]
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they were written in UTC
        data["created_at"] = moment.replace(tzinfo=UTC)
    return AuditRow(**data)
