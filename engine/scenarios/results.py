"""What a scenario run returns: totals, each lever's effect, and the ScenarioResult.

These are contract models: the page reads their fields, `scenario run --json` prints their JSON,
and a saved scenario stores that JSON and reads it back into the same model. The segment
breakdown and the uplift curve are `Table`s (DataFrames in Python, row lists in JSON) with the
columns below.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from pydantic import field_validator

from engine.core.contracts import Contract, Table
from engine.scenarios.plan import Plan

MONTHS_IN_WINDOW = 3  # the 90-day window of a churn probability, in months
MONTHS_IN_YEAR = 12
BREAKDOWN_DIMENSIONS = {"plan_tier": "Plan", "risk_tier": "Risk tier", "region": "Region", "industry": "Industry"}
SEGMENT_COLUMNS = (
    "dimension",
    "segment",
    "accounts",
    "baseline_churned",
    "scenario_churned",
    "baseline_arr_lost",
    "scenario_arr_lost",
    "revenue_retained",
    "cost",
)
UPLIFT_COLUMNS = ("accounts_contacted", "arr_recovered", "cost", "roi")


class Totals(Contract):
    """Expected churn and revenue lost over the scored accounts, with the interval's bounds."""

    accounts: int
    expected_churned: float
    expected_churned_low: float
    expected_churned_high: float
    mrr_lost_90d: float
    mrr_lost_90d_low: float
    mrr_lost_90d_high: float
    arr_lost_12m: float
    arr_lost_12m_low: float
    arr_lost_12m_high: float


class LeverEffect(Contract):
    """What one lever did: whom it reached, what it retained and cost, and what it rests on."""

    lever: str
    label: str
    active: bool
    basis: str  # "model" (re-scored through the churn model) or "assumption"
    assumption: str  # the stated assumption and its value, or what the model re-scores
    assumption_value: float | None
    segment: str
    accounts: int
    revenue_retained: float  # ARR, in the order levers apply (model levers, discount, price, outreach)
    cost: float
    features_changed: tuple[str, ...] = ()


class ScenarioResult(Contract):
    """A plan measured against the baseline: totals, money, per-lever effects, breakdowns, readout."""

    plan: Plan
    baseline: Totals
    scenario: Totals
    revenue_retained: float
    revenue_retained_low: float
    revenue_retained_high: float
    price_revenue: float  # 12-month revenue from the price change on accounts that stay
    cost: float
    net_benefit: float
    roi: float | None
    roi_at: dict[int, float | None]  # outreach ROI if the top k were contacted
    levers: tuple[LeverEffect, ...]
    segments: Table  # SEGMENT_COLUMNS, one row per (dimension, segment)
    uplift: Table  # UPLIFT_COLUMNS, one row per point of the curve; empty without outreach
    readout: str
    as_of: date | None
    scores_model_version: str | None
    model_version: str | None  # the model that re-scored model-based levers (None if none ran)
    conventions: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @field_validator("segments")
    @classmethod
    def _segment_columns(cls, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.reindex(columns=list(SEGMENT_COLUMNS))

    @field_validator("uplift")
    @classmethod
    def _uplift_columns(cls, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.reindex(columns=list(UPLIFT_COLUMNS))  # an empty curve read back keeps its columns
