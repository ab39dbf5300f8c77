"""Customer lifetime value: expected revenue over the next 12 or 24 months from today's MRR
and the churn model's survival, with an interval carried from the churn interval.

Assumptions (stated so a reader can judge them):
* The churn model's 90-day probability p is turned into a constant monthly hazard
  h = 1 - (1 - p)^(1/3); survival to month m is (1 - h)^m.
* MRR stays at today's level while the account survives (no expansion or contraction),
  and a month's revenue is collected when the account is alive at its start.
* The interval uses the churn interval's bounds: the upper churn bound gives the lower LTV
  and vice versa. Its confidence level is the churn interval's (nominally 90%).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import computed_field

from engine.core.contracts import ConfidenceInterval, Contract
from engine.core.errors import BadInputError

HORIZONS = (12, 24)
CONFIDENCE_LEVEL = 0.90


def monthly_hazard(p90: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p90, dtype=float), 0.0, 1.0 - 1e-12)
    return 1.0 - (1.0 - p) ** (1.0 / 3.0)


def expected_revenue(mrr: np.ndarray | float, p90: np.ndarray | float, months: int) -> np.ndarray:
    """Σ_{m=0}^{months-1} MRR × (1 - h)^m: the expected revenue of the next `months` months."""
    if months < 1:
        raise BadInputError(f"The LTV horizon must be at least 1 month (got {months}).")
    keep = 1.0 - monthly_hazard(p90)
    # Geometric sum; when nothing churns it is simply MRR x months.
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(keep < 1.0, (1.0 - keep**months) / (1.0 - keep), float(months))
    return np.asarray(mrr, dtype=float) * factor


class LtvInterval(ConfidenceInterval):
    """The LTV's range from the churn interval's bounds; `level` is that interval's level."""

    level: float = CONFIDENCE_LEVEL

    @computed_field  # type: ignore[prop-decorator]
    @property
    def confidence_level(self) -> float:
        """The name LTV has always used for `level`."""
        return self.level


class Ltv(Contract):
    """A customer's lifetime value over the next `horizon_months`: what they paid so far plus
    what they are expected to pay, with its range."""

    customer_id: str
    forecasted_ltv: float  # revenue to date + expected revenue over the horizon
    confidence_interval: LtvInterval
    current_ltv: float  # revenue received so far
    incremental_ltv: float  # expected revenue over the horizon
    horizon_months: int


def ltv_frame(scored: pd.DataFrame, horizon_months: int = 12) -> pd.DataFrame:
    """LTV columns for a frame with mrr, churn_probability, ci_low, ci_high and (optionally)
    revenue_to_date: incremental_ltv with its bounds, and forecasted_ltv = to date + incremental."""
    mrr = scored["mrr"].fillna(0).to_numpy(dtype=float)
    incremental = expected_revenue(mrr, scored["churn_probability"].to_numpy(dtype=float), horizon_months)
    low = expected_revenue(mrr, scored["ci_high"].to_numpy(dtype=float), horizon_months)
    high = expected_revenue(mrr, scored["ci_low"].to_numpy(dtype=float), horizon_months)
    to_date = (
        scored["revenue_to_date"].fillna(0).to_numpy(dtype=float) if "revenue_to_date" in scored else np.zeros(len(mrr))
    )
    # An account billing since this month has no MRR month yet (a month's MRR is what runs on its
    # first day): its current month is billed, and "to date" counts it ($0 read as never paid).
    to_date = np.where((to_date <= 0) & (mrr > 0), mrr, to_date)
    return pd.DataFrame(
        {
            "customer_id": scored["customer_id"].to_numpy(),
            "horizon_months": horizon_months,
            "current_ltv": to_date,
            "incremental_ltv": incremental,
            "incremental_ltv_low": low,
            "incremental_ltv_high": high,
            "forecasted_ltv": to_date + incremental,
            "ltv_low": to_date + low,
            "ltv_high": to_date + high,
        }
    )


def customer_ltv(
    customer_id: str,
    mrr: float,
    churn_probability: float,
    ci_low: float,
    ci_high: float,
    revenue_to_date: float,
    horizon_months: int = 12,
) -> Ltv:
    row = pd.DataFrame(
        {
            "customer_id": [customer_id],
            "mrr": [mrr],
            "churn_probability": [churn_probability],
            "ci_low": [ci_low],
            "ci_high": [ci_high],
            "revenue_to_date": [revenue_to_date],
        }
    )
    r = ltv_frame(row, horizon_months).iloc[0]
    return Ltv(
        customer_id=customer_id,
        forecasted_ltv=float(r["forecasted_ltv"]),
        confidence_interval=LtvInterval(lower=float(r["ltv_low"]), upper=float(r["ltv_high"])),
        current_ltv=float(r["current_ltv"]),
        incremental_ltv=float(r["incremental_ltv"]),
        horizon_months=horizon_months,
    )
