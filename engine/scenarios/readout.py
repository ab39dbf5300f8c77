"""The words around a scenario's numbers: the readout, the conventions, the ROI text.

The readout is a few plain sentences, the same every time for the same numbers; money reads as
everywhere else in the product (engine.core.formatting).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.core import formatting
from engine.scenarios.results import LeverEffect, Totals

CONVENTIONS = (
    "Baseline: the latest stored churn prediction of every scored account (90-day probability, 90% interval).",
    "Expected churned accounts = sum of churn probabilities.",
    "Revenue lost over 90 days = sum of p × MRR × 3 (a churned account's MRR stops at the start of the window).",
    "ARR lost over 12 months = sum of p × MRR × 12 (annualised run-rate, as 'revenue at risk' on the board).",
    "Revenue retained = baseline ARR lost - scenario ARR lost, valued at current MRR.",
    "Discount cost = discount × MRR × 12 × (1 - scenario p): revenue given up by accounts that stay.",
    "Price revenue = price change × (discounted) MRR × 12 × (1 - scenario p).",
    "ROI = (revenue retained + price revenue - cost) / cost.",
    "Intervals: the same totals on the churn interval's bounds.",
)

_money = formatting.money  # the one money format (engine.core.formatting)


def roi_text(roi: float | None) -> str:
    return "not defined (no cost)" if roi is None else f"{roi * 100:,.0f}%"  # as the page's cards write it


def readout_text(
    baseline: Totals,
    scenario: Totals,
    retained: float,
    bounds: tuple[float, float],
    cost: float,
    price: float,
    roi: float | None,
    levers: Sequence[LeverEffect],
    roi_at: dict[int, float | None],
    contacted: int,
) -> str:
    """A few plain sentences, the same every time for the same numbers."""
    active = [lever for lever in levers if lever.active]
    if not active:
        return (
            f"Every lever is off, so the scenario equals the baseline: {baseline.expected_churned:,.1f} accounts "
            f"expected to churn in 90 days and {_money(baseline.arr_lost_12m)} ARR at risk over 12 months."
        )
    low, high = sorted(bounds)
    lines = [
        f"Against the baseline of {baseline.expected_churned:,.1f} expected churned accounts "
        f"({baseline.expected_churned_low:,.1f}-{baseline.expected_churned_high:,.1f}) and "
        f"{_money(baseline.arr_lost_12m)} ARR at risk, this plan expects {scenario.expected_churned:,.1f} churned "
        f"accounts and {_money(scenario.arr_lost_12m)} ARR lost.",
        f"It retains {_money(retained)} ARR (range {_money(low)} to {_money(high)}) for {_money(cost)}"
        + (f", with {_money(price)} from the price change" if price else "")
        + f"; ROI {roi_text(roi)}.",
    ]
    biggest = max(active, key=lambda lever: lever.revenue_retained)
    if biggest.revenue_retained > 0:
        lines.append(f"{biggest.label} contributes most: {_money(biggest.revenue_retained)} of the retained ARR.")
    if contacted:
        points = [f"top {k}: {roi_text(v)}" for k, v in roi_at.items() if v is not None]
        if points:
            lines.append("Outreach ROI by accounts contacted — " + ", ".join(points) + ".")
    model = [lever.label for lever in active if lever.basis == "model"]
    assumed = [f"{lever.label} ({lever.assumption})" for lever in active if lever.basis == "assumption"]
    if model:
        lines.append(f"Model-based: {', '.join(model)} (features changed and re-scored).")
    if assumed:
        lines.append(f"Assumptions: {'; '.join(assumed)}.")
    return " ".join(lines)
