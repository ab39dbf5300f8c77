"""KPI cards: a row of bordered `st.metric`s with formatted values and deltas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import streamlit as st

from components.shared import format as fmt
from engine.portfolio.kpis import NRR_MONTHS, PortfolioKpis, months_before

RATES = ("logo_churn_90d", "gross_revenue_churn_90d", "net_revenue_retention_12m")

# Which way is good: "up" (customers, MRR), "down" (churn), or "neutral".
Good = Literal["up", "down", "neutral"]
_DELTA_COLOR = {"up": "normal", "down": "inverse", "neutral": "off"}
MAX_PER_ROW = 4  # cards per row; four fit "$468.9M" at 1280 px with the sidebar open


@dataclass(frozen=True)
class Kpi:
    """One card: the label, the formatted value, and the formatted change with its sign."""

    label: str
    value: str
    delta: str | None = None
    good: Good = "up"
    help: str | None = None


def _is_flat(delta: str) -> bool:
    """A formatted change with no non-zero digit ('0', '$0', '0.0 pp') is no change."""
    return not any(ch in "123456789" for ch in delta)


def rows_of(count: int, per_row: int = MAX_PER_ROW) -> list[int]:
    """How many cards go on each row: at most `per_row`, rows as even as possible (6 -> 3 + 3)."""
    if count <= 0:
        return []
    rows = -(-count // per_row)
    width = -(-count // rows)
    return [min(width, count - i * width) for i in range(rows)]


def kpi_row(cards: Sequence[Kpi], delta_description: str | None = None, per_row: int = MAX_PER_ROW) -> None:
    """Render the cards in rows of at most `per_row` equal-width columns; `delta_description`
    is a muted note after each delta.

    A headline number must never be cut off: at 1280 px with the sidebar open a row of six
    cards leaves each about 140 px, less than "$468.9M" in the metric font. So more than
    `per_row` cards wrap onto a second row (6 -> 3 + 3); a short row keeps the same widths.
    """
    cards = list(cards)
    counts = rows_of(len(cards), per_row)
    width = max(counts, default=0)
    start = 0
    for n in counts:
        for column, card in zip(st.columns(width), cards[start : start + n], strict=False):
            _card(column, card, delta_description)
        start += n


def _card(column, card: Kpi, delta_description: str | None) -> None:
    has_delta = card.delta is not None and card.delta != fmt.MISSING
    # Streamlit reads any unsigned text as a rise; a flat change (or a neutral note) is grey, no arrow.
    flat = has_delta and (_is_flat(card.delta) or card.good == "neutral")
    column.metric(
        card.label,
        card.value,
        delta=card.delta if has_delta else None,
        delta_color="off" if flat else _DELTA_COLOR[card.good],
        delta_arrow="off" if flat else "auto",
        delta_description=delta_description if has_delta else None,
        help=card.help,
        border=True,
    )


def portfolio_cards(kpis: PortfolioKpis) -> list[Kpi]:
    """The overview's six cards from `engine.portfolio.kpis.portfolio_kpis` (deltas vs `previous`)."""
    prev = kpis.previous

    def delta(name: str) -> float | None:
        now, then = getattr(kpis, name), getattr(prev, name, None)
        if name in RATES and not kpis.comparable(name):
            return None  # a rate on a handful of customers is no trend
        return None if now is None or then is None else now - then

    def uncompared(name: str) -> str:
        """Why a rate has no change shown, when the cause is a small cohort."""
        if prev is None or getattr(prev, name) is None or kpis.comparable(name):
            return ""
        small = min((kpis, prev), key=lambda k: k.cohort(name))
        return (
            f" Not compared with {fmt.day(prev.as_of)}: the figure on {fmt.day(small.as_of)} rests on "
            f"{fmt.count(small.cohort(name))} customers, too few for a change to mean anything."
        )

    as_of, start = fmt.day(kpis.as_of), fmt.day(kpis.window_start_90d)
    customers, mrr, arr = delta("active_customers"), delta("total_mrr"), delta("arr")
    logo, revenue, nrr = delta("logo_churn_90d"), delta("gross_revenue_churn_90d"), delta("net_revenue_retention_12m")
    return [
        Kpi(
            "Active customers",
            fmt.count(kpis.active_customers),
            fmt.signed_count(customers),
            help=f"Customers signed up by {as_of} and not churned on that day.",
        ),
        Kpi(
            "MRR",
            fmt.money(kpis.total_mrr),
            fmt.signed_money(mrr),
            help="Monthly recurring revenue of the active customers (their latest MRR record).",
        ),
        Kpi(
            "ARR",
            fmt.money(kpis.arr),
            fmt.signed_money(arr),
            help="Annual run rate: 12 x MRR.",
        ),
        Kpi(
            "Logo churn (90d)",
            fmt.percent(kpis.logo_churn_90d),
            fmt.percent_points(logo),
            good="down",
            help=f"{fmt.count(kpis.churned_customers_90d)} of the {fmt.count(kpis.customers_90d_ago)} customers "
            f"active on {start} churned by {as_of}." + uncompared("logo_churn_90d"),
        ),
        Kpi(
            "Revenue churn (90d)",
            fmt.percent(kpis.gross_revenue_churn_90d),
            fmt.percent_points(revenue),
            good="down",
            help=f"Gross revenue churn: {fmt.money(kpis.mrr_lost_90d)} of the MRR those customers paid on {start} was lost to churn "
            "and contraction (expansion not netted)." + uncompared("gross_revenue_churn_90d"),
        ),
        Kpi(
            "NRR (12m)",
            fmt.percent(kpis.net_revenue_retention_12m),
            fmt.percent_points(nrr),
            help=f"Net revenue retention: MRR today of the {fmt.count(kpis.customers_12m_ago)} customers active "
            f"12 months ago ({fmt.day(months_before(kpis.as_of, NRR_MONTHS)) if kpis.as_of else '—'}), over their "
            "MRR then (churn, contraction and expansion included)." + uncompared("net_revenue_retention_12m"),
        ),
    ]
