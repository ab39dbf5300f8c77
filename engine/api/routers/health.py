"""Liveness and readiness probes (no key needed: a load balancer calls them)."""

from __future__ import annotations

from fastapi import APIRouter, Request

import engine
from engine.api.errors import Problem, documented
from engine.api.models import Health, Ready
from engine.churn import status as churn_status
from engine.core.errors import NotFoundError
from engine.data import health
from engine.data.warehouse import get_warehouse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
def liveness() -> Health:
    return Health(version=engine.__version__)


def _not_ready(reason: str, detail: str) -> Problem:
    return Problem(503, detail, title="Not ready", reason=reason)


@router.get(
    "/ready",
    response_model=Ready,
    summary="Readiness: a warehouse with data and a usable production model",
    responses=documented(503),
)
def readiness(request: Request) -> Ready:
    data_dir = request.app.state.data_dir
    try:
        wh = get_warehouse(data_dir, read_only=True)
    except NotFoundError as exc:
        raise _not_ready("no_warehouse", str(exc)) from exc
    if wh.is_empty():
        raise _not_ready(
            "no_data",
            "The warehouse has no customers yet. Load data with `.venv/bin/python -m engine ingest` "
            "or demo data with `.venv/bin/python -m engine demo`.",
        )
    model = churn_status.model_readiness(wh, data_dir)
    if not model.ready or model.model_version is None:
        raise _not_ready(model.status, model.message)
    return Ready(
        model_version=model.model_version,
        data_as_of=health.data_as_of(wh),
        scored_as_of=health.latest_scoring_date(wh),
    )
