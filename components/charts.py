"""Plotly figure builders: they take engine results and return figures, nothing else.

Colours are shared so a plan tier or a risk tier looks the same on every page.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

PLAN_TIER_ORDER = ("starter", "growth", "enterprise")
PLAN_TIER_COLORS = {"starter": "#A5B4FC", "growth": "#6366F1", "enterprise": "#312E81"}
RISK_TIER_ORDER = ("low", "medium", "high", "critical")
RISK_TIER_COLORS = {"low": "#16A34A", "medium": "#EAB308", "high": "#F97316", "critical": "#DC2626"}
# For tiers a loaded warehouse may use beyond the known ones.
EXTRA_COLORS = ("#0EA5E9", "#14B8A6", "#A855F7", "#F43F5E", "#84CC16", "#64748B")
# Light to dark red: more churn reads as more alarming.
CHURN_COLORSCALE = [[0.0, "#FFF7ED"], [0.35, "#FDBA74"], [0.7, "#EA580C"], [1.0, "#7C2D12"]]

# Streamlit's own typeface, so chart text matches the page.
FONT = {"family": "'Source Sans', sans-serif", "size": 13, "color": "#334155"}


def ordered(values, known: tuple[str, ...]) -> list[str]:
    """Known categories in their canonical order, then any others alphabetically."""
    present = set(values)
    return [v for v in known if v in present] + sorted(present - set(known))


def tier_colors(tiers, palette: dict[str, str]) -> dict[str, str]:
    """A colour for every tier: the palette's, else a stable extra colour."""
    extras = iter(EXTRA_COLORS * (len(tiers) // len(EXTRA_COLORS) + 1))
    return {t: palette.get(t) or next(extras) for t in tiers}


def _layout(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        font=FONT,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hoverlabel={"font": {"family": FONT["family"]}},
    )
    return fig


def mrr_area(mrr: pd.DataFrame, height: int = 380) -> go.Figure:
    """Stacked area of monthly MRR by plan tier, from `portfolio.mrr_by_plan`.

    The largest tier (enterprise) sits at the bottom; the legend follows the stack.
    """
    fig = go.Figure()
    tiers = ordered(mrr["plan_tier"].unique(), PLAN_TIER_ORDER)
    colors = tier_colors(tiers, PLAN_TIER_COLORS)
    for tier in reversed(tiers):
        rows = mrr[mrr["plan_tier"] == tier].sort_values("month")
        fig.add_trace(
            go.Scatter(
                x=rows["month"],
                y=rows["mrr"],
                name=tier.capitalize(),
                mode="lines",
                stackgroup="mrr",
                line={"width": 0.8, "color": colors[tier]},
                fillcolor=colors[tier],
                hovertemplate="%{fullData.name}: %{y:$,.0f}<extra></extra>",
            )
        )
    _layout(fig, height)
    fig.update_layout(
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0, "traceorder": "reversed"},
        margin={"t": 32},
    )
    fig.update_xaxes(showgrid=False, hoverformat="%B %Y", tickformat="%b %Y")
    fig.update_yaxes(tickprefix="$", tickformat="~s", gridcolor="#E2E8F0", rangemode="tozero")
    return fig


def churn_heatmap(churn: pd.DataFrame, height: int = 380) -> go.Figure:
    """Heatmap of logo churn rate, plan tier x industry, from `portfolio.churn_by_plan_industry`.

    Cells are labelled in percent; hover shows how many customers each rate rests on.
    Industries run from the highest pooled churn on the left to the lowest.
    """
    pooled = churn.groupby("industry")[["churned", "customers"]].sum()
    industries = (pooled["churned"] / pooled["customers"]).sort_values(ascending=False).index.tolist()
    tiers = ordered(churn["plan_tier"].unique(), PLAN_TIER_ORDER)

    def grid(column: str) -> pd.DataFrame:
        return churn.pivot(index="plan_tier", columns="industry", values=column).reindex(
            index=tiers, columns=industries
        )

    rate, churned, customers = grid("churn_rate"), grid("churned"), grid("customers")
    labels = rate.map(lambda r: "" if pd.isna(r) else f"{r * 100:.0f}%")
    fig = go.Figure(
        go.Heatmap(
            z=rate.to_numpy(),
            x=[i.capitalize() for i in industries],
            y=[t.capitalize() for t in tiers],
            text=labels.to_numpy(),
            texttemplate="%{text}",
            textfont={"size": 13},
            customdata=np.dstack([churned.to_numpy(), customers.to_numpy()]),
            colorscale=CHURN_COLORSCALE,
            zmin=0,
            xgap=2,
            ygap=2,
            colorbar={"tickformat": ".0%", "thickness": 12, "outlinewidth": 0, "title": {"text": "Churn"}},
            hovertemplate="%{y} · %{x}<br>Churn %{z:.1%} (%{customdata[0]:,.0f} of %{customdata[1]:,.0f})"
            "<extra></extra>",
        )
    )
    _layout(fig, height)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(showgrid=False, tickangle=-30)
    return fig
