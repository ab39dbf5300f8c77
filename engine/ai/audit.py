"""The AI audit log: every generated text with who asked, when, which writer, the facts
hash, the flags and the confidence (table `ai_audit` in engine.core.store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from engine.core.access import Viewer
from engine.core.errors import BadInputError
from engine.core.store import ai_audit, get_engine

KINDS = ("summary", "ask", "portfolio", "draft", "actions")


@dataclass(frozen=True)
class AuditRow:
    id: int
    created_at: datetime
    username: str
    role: str
    kind: str
    customer_id: str | None
    provider: str
    model: str
    facts_hash: str
    flags: list
    confidence: float
    scope_exceeded: bool
    provider_requests: int
    request: dict
    output: str

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["created_at"] = self.created_at.isoformat()
        return data


def record(
    data_dir: str | Path | None,
    viewer: Viewer,
    kind: str,
    *,
    customer_id: str | None,
    provider: str,
    model: str,
    facts_hash: str,
    flags: list[str],
    confidence: float,
    scope_exceeded: bool,
    provider_requests: int,
    request: dict,
    output: str,
) -> int:
    """Store one AI output; returns its audit id."""
    if kind not in KINDS:
        raise BadInputError(f"Unknown AI output kind '{kind}'. Kinds are: {', '.join(KINDS)}.")
    with get_engine(data_dir).begin() as conn:
        result = conn.execute(
            insert(ai_audit).values(
                created_at=datetime.now(UTC),
                username=viewer.username,
                role=viewer.role,
                kind=kind,
                customer_id=customer_id,
                provider=provider,
                model=model,
                facts_hash=facts_hash,
                flags=list(flags),
                confidence=float(confidence),
                scope_exceeded=bool(scope_exceeded),
                provider_requests=int(provider_requests),
                request=request,
                output=output,
            )
        )
        return int(result.inserted_primary_key[0])


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
    from engine.ai.guardrails import REVIEW_THRESHOLD

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


def _row(row) -> AuditRow:
    data = dict(row._mapping)
    moment = data["created_at"]
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they were written in UTC
        data["created_at"] = moment.replace(tzinfo=UTC)
    return AuditRow(**data)
