"""The book as a whole: the Overview's headline figures, its AI briefing, and a question about the portfolio.

Scoped like the app: a CSM key gets its own book's figures and answers, other keys the whole
book. A portfolio answer is the app's (the same screening, SQL guard, reading and audit log
entry under the key's identity).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from engine.ai import briefing, portfolio_sql
from engine.api.auth import AiWrite, Reader, ScoresRead
from engine.api.models import PortfolioQuestion, contract_json
from engine.portfolio.kpis import PortfolioKpis, portfolio_kpis

router = APIRouter(prefix="/portfolio", tags=["portfolio"])


@router.get(
    "/kpis",
    response_model=PortfolioKpis,
    summary="Active customers, MRR/ARR, 90-day logo and gross revenue churn, 12-month NRR, and 90 days earlier",
)
def kpis(
    caller: ScoresRead,
    wh: Reader,
    as_of: Annotated[date | None, Query(description="figures as of this date (default: data end)")] = None,
) -> Response:
    return contract_json(portfolio_kpis(wh, as_of, caller.viewer))


@router.post(
    "/ask",
    response_model=portfolio_sql.PortfolioAnswer,
    summary="Answer a question about the portfolio with a table and the SQL behind it (or a refusal saying why)",
)
def ask(body: PortfolioQuestion, caller: AiWrite, wh: Reader) -> Response:
    return contract_json(portfolio_sql.ask_portfolio(wh, body.question, caller.viewer, data_dir=caller.data_dir))


@router.post(
    "/briefing",
    response_model=briefing.Briefing,
    summary="AI briefing on the key's book: revenue, what is at risk and where, churn and retention (audited)",
)
def brief(caller: AiWrite, wh: Reader) -> Response:
    return contract_json(briefing.brief_the_book(wh, caller.viewer, data_dir=caller.data_dir))
