"""Behavioural segments: the book's archetypes with their churn, NRR, LTV and playbook, and one
account's archetype, axis levels and recent history.

Scoped like the app: level cuts and archetype statistics describe the whole book, account
counts are the key's book, and a CSM key gets 404 for an account outside its book.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from engine import segments
from engine.api.auth import Reader, ScoresRead
from engine.api.errors import documented
from engine.api.models import contract_json

router = APIRouter(tags=["segments"])

MAX_HISTORY_MONTHS = 24


@router.get(
    "/segments",
    response_model=segments.SegmentReport,
    summary="Archetypes of the book: accounts, realised churn with its interval, NRR, LTV, playbook; the axis cuts",
    responses=documented(400, 404),
)
def book_segments(
    caller: ScoresRead,
    wh: Reader,
    as_of: Annotated[date | None, Query(description="segment the book as of this date (default: data end)")] = None,
) -> Response:
    return contract_json(segments.book_segments(wh, caller.viewer, as_of=as_of))


@router.get(
    "/customers/{customer_id}/segment",
    response_model=segments.AccountSegment,
    tags=["customers"],
    summary="One account's archetype, axis values and levels, and its archetype at the last month ends",
    responses=documented(404),
)
def account_segment(
    customer_id: str,
    caller: ScoresRead,
    wh: Reader,
    months: Annotated[int, Query(ge=0, le=MAX_HISTORY_MONTHS, description="month ends of history before today")] = 6,
) -> Response:
    return contract_json(segments.account_segment(wh, caller.viewer, customer_id, months=months))
