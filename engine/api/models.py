"""The API's own request and response models; everything else it returns is the engine's
contract for that result (AccountPrediction, Customer360, Ltv, Summary, ...), unchanged."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import Response
from pydantic import BaseModel, Field

# The one-row prediction's contracts are the engine's (engine.churn.serving), re-exported here.
from engine.churn.serving import FeatureSchema as FeatureSchema
from engine.churn.serving import FeatureSpec as FeatureSpec
from engine.churn.serving import PredictResult as PredictResult
from engine.churn.spread import MEANING as INTERVAL_MEANING
from engine.core.contracts import Contract, to_json


class Health(Contract):
    status: Literal["ok"] = "ok"
    version: str


class Ready(Contract):
    """The API can answer scored requests: a warehouse with data and a usable production model."""

    status: Literal["ready"] = "ready"
    model_version: str
    data_as_of: date | None  # the data's latest day
    scored_as_of: date | None  # the latest scoring date


# -- AI requests ------------------------------------------------------------------------------
class SummaryRequest(Contract):
    audience: str = Field("csm", description="csm (tactical) or executive (revenue, quantified)")


class AskRequest(Contract):
    question: str = Field(description="a question about this customer, answered from its facts only")


class PortfolioQuestion(Contract):
    question: str = Field(description="a question about the key's book, e.g. 'Top 10 accounts by revenue at risk'")


class DraftRequest(Contract):
    goal: str = Field(
        "generic_communication",
        description="resolve_support_issue, nurture_lead, upsell, win_back or generic_communication",
    )
    channel: str = Field("email", description="email, sms, chat or phone_script")
    tone: str = Field("friendly", description="friendly, formal, direct or empathetic")
    length: str = Field("medium", description="short, medium or long")


# -- predictions ------------------------------------------------------------------------------
class PredictionRow(Contract):
    """One account's latest score as the risk board exports it (same columns as the CSV export)."""

    customer_id: str
    name: str | None = None
    plan_tier: str | None = None
    industry: str | None = None
    region: str | None = None
    csm_owner: str | None = None
    mrr: float
    churn_probability: float
    ci_low: float = Field(description="Lower end of the 90% interval, " + INTERVAL_MEANING)
    ci_high: float = Field(description="Upper end of the 90% interval (see ci_low).")
    risk_tier: str
    risk_score: float | None = None
    revenue_at_risk: float
    expected_revenue_12m: float | None = None
    expected_revenue_12m_low: float | None = None
    expected_revenue_12m_high: float | None = None
    ltv_12m: float | None = None
    top_driver: str | None = None
    days_to_renewal: int | None = None
    recommended_action: str | None = None
    model_version: str
    as_of: date


class PredictionsPage(Contract):
    """One page of the latest scores, highest churn probability first (then by customer id)."""

    items: list[PredictionRow]
    page: int  # counted from 1
    page_size: int
    total: int  # matching accounts on every page
    pages: int
    as_of: date | None  # the scoring date
    model_version: str | None
    # Why the page is empty: no scores yet (and from when), no match for the filters, or past the last page.
    note: str | None = None


class PredictRequest(Contract):
    """Feature values by name, as the production model reads them (see GET /v1/predict/schema).
    A feature left out (or null) is missing, which the model accepts."""

    features: dict[str, Any] = Field(
        description="feature name -> number (numeric features) or text (categorical features), or null"
    )


class WhatIfRequest(Contract):
    """Levers to change, by name (GET the account's what-if with no changes to list them)."""

    changes: dict[str, float] = Field(
        default_factory=dict,
        description='lever name -> value, e.g. {"events_last_30d": 1200, "discount": 10}; empty re-scores as stored',
    )


class ProblemDetails(Contract):
    """An error (RFC 7807, `application/problem+json`); some problems add members, e.g.
    `errors` (invalid fields), `unknown_features` or `reason`."""

    model_config = Contract.model_config | {"extra": "allow"}

    type: str
    title: str
    status: int
    detail: str
    instance: str


def contract_json(result: BaseModel | list[Any]) -> Response:
    """A result as the engine serialises it (`to_json`, as `--json` prints it), sent without
    FastAPI validating it again: the contract is the response model."""
    return Response(to_json(result, indent=None), media_type="application/json")
