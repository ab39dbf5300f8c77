"""One account: its churn score, risk score, Customer 360, lifetime value, its position among
its peers, and a what-if re-score with changed levers.

Scoped like the app: a CSM key gets 404 for an account outside its book, with the same
answer as for an id that does not exist, so ids of other books are never confirmed.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from engine.accounts import customer, ltv, peers, whatif
from engine.ai.fmt import lower_first
from engine.api.auth import Caller, CustomersRead, Reader, ScoresRead
from engine.api.errors import NotScored, documented
from engine.api.models import WhatIfRequest, contract_json
from engine.churn import risk
from engine.churn import status as churn_status
from engine.churn.risk import RiskScore
from engine.data.health import has_scores
from engine.data.warehouse import Warehouse

router = APIRouter(prefix="/customers", tags=["customers"])

MAX_LTV_MONTHS = 120


def latest_prediction(wh: Warehouse, caller: Caller, customer_id: str) -> customer.AccountPrediction:
    """The account's latest stored score, as Customer 360 reads it (404 outside the key's book,
    409 when the account has none)."""
    found = customer.latest_prediction(wh, caller.viewer, customer_id)
    if found is None:
        raise NotScored(customer_id, why=unscored_book(wh))
    return found


def unscored_book(wh: Warehouse) -> str | None:
    """Why no account has a score, when none has (None when others are scored)."""
    if has_scores(wh):
        return None
    young = churn_status.too_young(wh)
    return lower_first(young) if young else "no account has been scored yet (an admin trains and scores the model)."


@router.get(
    "/{customer_id}/churn",
    response_model=customer.AccountPrediction,
    summary="The latest churn prediction: probability, 90% interval, drivers, next action",
    responses=documented(404, 409),
)
async def churn(customer_id: str, caller: ScoresRead, wh: Reader) -> Response:
    # On the event loop: one indexed lookup of a few rows (~2 ms), the call CRMs make most.
    return contract_json(latest_prediction(wh, caller, customer_id))


@router.get(
    "/{customer_id}/risk-score",
    response_model=RiskScore,
    summary="The composite risk score, its tier and its three components",
    responses=documented(404, 409),
)
async def risk_score(customer_id: str, caller: ScoresRead, wh: Reader) -> Response:
    prediction = latest_prediction(wh, caller, customer_id)
    components, score = prediction.components, prediction.risk_score
    if components is None or score is None:  # a score stored before its parts were kept: the 360 derives them
        view = await run_in_threadpool(customer.customer_360, wh, caller.viewer, prediction.customer_id)
        components, score = view.components, view.risk_score
    if components is None or score is None:
        young = view.tenure_days < risk.DECAY_DAYS
        why = (
            "its one part from the data loaded, usage decay, is not measured yet: "
            f"{risk.decay_unmeasured(view.tenure_days)}."
        )
        raise NotScored(prediction.customer_id, "risk score", why=why if young else None)
    return contract_json(
        RiskScore(
            customer_id=prediction.customer_id,
            risk_score=score,
            risk_tier=prediction.risk_tier,  # stored tiers are the four names, checked by RiskScore
            components=components,
            churned_on=prediction.churned_on,
        )
    )


@router.get(
    "/{customer_id}/360",
    response_model=customer.Customer360,
    summary="Customer 360: profile, latest prediction, usage, support, opportunities, MRR history, LTV",
    responses=documented(404),
)
def customer_360(customer_id: str, caller: CustomersRead, wh: Reader) -> Response:
    return contract_json(customer.customer_360(wh, caller.viewer, customer_id))


@router.get(
    "/{customer_id}/ltv",
    response_model=ltv.Ltv,
    summary="Lifetime value over the next months: paid so far plus expected revenue, with its range",
    responses=documented(404, 409),
)
def lifetime_value(
    customer_id: str,
    caller: CustomersRead,
    wh: Reader,
    horizon_months: Annotated[int, Query(ge=1, le=MAX_LTV_MONTHS, description="months ahead")] = 12,
) -> Response:
    view = customer.customer_360(wh, caller.viewer, customer_id)
    p = view.prediction
    if p is None or view.profile.status != "active":
        raise NotScored(view.customer_id, why=unscored_book(wh) if view.profile.status == "active" else None)
    history = view.mrr_history
    to_date = float(history.loc[pd.to_datetime(history["month"]) <= pd.Timestamp(view.as_of), "mrr"].sum())
    band = p.confidence_interval
    return contract_json(
        ltv.customer_ltv(
            view.customer_id, view.profile.mrr, p.churn_probability, band.lower, band.upper, to_date, horizon_months
        )
    )


@router.get(
    "/{customer_id}/peers",
    response_model=peers.PeerPosition,
    summary="The account's percentile among its peers (plan, industry, size) on usage, support, MRR and churn",
    responses=documented(404, 422),
)
def peer_position(
    customer_id: str,
    caller: CustomersRead,
    wh: Reader,
    as_of: Annotated[date | None, Query(description="the date compared (default: the data's latest day)")] = None,
) -> Response:
    return contract_json(peers.account_position(wh, caller.viewer, customer_id, as_of))


@router.post(
    "/{customer_id}/whatif",
    response_model=whatif.WhatIfResult,
    summary="Re-score the account with changed levers (usage, seats active, open tickets, CSAT, a discount)",
    responses=documented(404, 409, 422, 503),
)
def what_if(customer_id: str, body: WhatIfRequest, caller: ScoresRead, wh: Reader) -> Response:
    latest_prediction(wh, caller, customer_id)  # 404 outside the key's book, 409 without a score
    return contract_json(whatif.simulate(wh, caller.viewer, customer_id, body.changes))
