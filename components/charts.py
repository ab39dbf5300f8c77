"""Plotly figure builders: they take engine results and return figures, nothing else.

Colours are shared so a plan tier or a risk tier looks the same on every page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.shared.theme import (
    CHURN_COLORSCALE,
    PLAN_TIER_COLORS,
    PLAN_TIER_ORDER,
    RISK_TIER_COLORS,
    RISK_TIER_ORDER,
    ordered,
    tier_colors,
)
from components.shared.theme import layout as _layout
from engine.churn.explain import Driver


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


RAISES_COLOR, LOWERS_COLOR = "#DC2626", "#16A34A"
EVENT_COLORS = ("#4F46E5", "#0EA5E9", "#14B8A6", "#F59E0B", "#A855F7", "#F43F5E", "#84CC16", "#64748B")


def shap_bars(drivers: Sequence[Driver | Mapping[str, Any]], height: int | None = None) -> go.Figure:
    """Horizontal bars per driver: how many percentage points of 90-day churn probability
    each reason adds (red) or removes (green) for this account. Reasons a CSM can act on
    are marked with a leading "✦ " (the axis title says so); the strongest reason is on top and hover shows the plain-language reason.

    Takes drivers as models or as their stored JSON objects. Drivers stored before
    `impact_pp` existed fall back to the raw SHAP value and say so on the axis ("model log-odds").
    """
    shown = [d if isinstance(d, Driver) else Driver.model_validate(d) for d in drivers]
    in_points = bool(shown) and all(d.impact_pp is not None for d in shown)

    def size(d: Driver) -> float:
        return float(d.impact_pp) if in_points and d.impact_pp is not None else float(d.shap_impact)

    rows = sorted(shown, key=lambda d: abs(size(d)))

    def name(d: Driver) -> str:
        label = d.label or d.feature.replace("_", " ")
        return f"✦ {label}" if d.actionable else label

    unit = "pp" if in_points else "log-odds"
    fig = go.Figure(
        go.Bar(
            x=[size(d) for d in rows],
            y=[name(d) for d in rows],
            orientation="h",
            marker_color=[RAISES_COLOR if d.shap_impact > 0 else LOWERS_COLOR for d in rows],
            customdata=[d.reason for d in rows],
            hovertemplate="%{customdata}<br>%{x:+.1f} " + unit + "<extra></extra>",
        )
    )
    _layout(fig, height or max(220, 34 * len(rows) + 60))
    title = (
        "change in 90-day churn risk, percentage points · ✦ you can act on it"
        if in_points
        else "model log-odds, not percentage points · ✦ you can act on it"
    )
    fig.update_xaxes(title_text=title, zeroline=True, zerolinecolor="#94A3B8", ticksuffix=" pp" if in_points else "")
    fig.update_yaxes(showgrid=False)
    return fig


def usage_area(weekly: pd.DataFrame, height: int = 320) -> go.Figure:
    """Weekly events by event type, stacked (from `customer.customer_360(...).usage_weekly`)."""
    fig = go.Figure()
    types = sorted(weekly["event_type"].unique()) if len(weekly) else []
    for color, event_type in zip(EVENT_COLORS * 3, types, strict=False):
        rows = weekly[weekly["event_type"] == event_type].sort_values("week")
        fig.add_trace(
            go.Scatter(
                x=rows["week"],
                y=rows["events"],
                name=event_type.replace("_", " "),
                mode="lines",
                stackgroup="usage",
                line={"width": 0.8, "color": color},
                hovertemplate="%{fullData.name}: %{y:,.0f}<extra></extra>",
            )
        )
    _layout(fig, height)
    fig.update_layout(hovermode="x unified", legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    fig.update_xaxes(showgrid=False, hoverformat="week of %d %b %Y")
    fig.update_yaxes(gridcolor="#E2E8F0", rangemode="tozero", tickformat="~s")
    return fig


def mrr_steps(history: pd.DataFrame, height: int = 260) -> go.Figure:
    """One account's MRR by month (step line), expansions and contractions marked."""
    history = history.sort_values("month")
    fig = go.Figure(
        go.Scatter(
            x=history["month"],
            y=history["mrr"],
            mode="lines",
            line={"shape": "hv", "color": "#4F46E5", "width": 2},
            hovertemplate="%{x|%b %Y}: %{y:$,.0f}<extra></extra>",
            name="MRR",
        )
    )
    for change, color in (("expansion", LOWERS_COLOR), ("contraction", RAISES_COLOR)):
        marks = history[history["change_type"] == change]
        if len(marks):
            fig.add_trace(
                go.Scatter(
                    x=marks["month"],
                    y=marks["mrr"],
                    mode="markers",
                    marker={"color": color, "size": 9},
                    name=change,
                    hovertemplate=f"{change} %{{x|%b %Y}}: %{{y:$,.0f}}<extra></extra>",
                )
            )
    _layout(fig, height)
    fig.update_layout(showlegend=False)
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(tickprefix="$", tickformat="~s", gridcolor="#E2E8F0", rangemode="tozero")
    return fig


def risk_tier_bars(by_tier: pd.DataFrame, height: int = 300) -> go.Figure:
    """Accounts per risk tier, with the ARR at risk of each tier on hover."""
    tiers = ordered(by_tier["risk_tier"], RISK_TIER_ORDER)
    rows = by_tier.set_index("risk_tier").reindex(tiers)
    colors = tier_colors(tiers, RISK_TIER_COLORS)
    fig = go.Figure(
        go.Bar(
            x=[t.capitalize() for t in tiers],
            y=rows["accounts"],
            marker_color=[colors[t] for t in tiers],
            text=rows["accounts"].map("{:,.0f}".format),
            textposition="outside",
            customdata=np.column_stack([rows["revenue_at_risk"], rows["arr"]]),
            hovertemplate="%{x}: %{y:,} accounts<br>ARR %{customdata[1]:$,.0f}<br>at risk %{customdata[0]:$,.0f}"
            "<extra></extra>",
        )
    )
    _layout(fig, height)
    fig.update_yaxes(gridcolor="#E2E8F0", rangemode="tozero", title_text="accounts")
    fig.update_xaxes(showgrid=False)
    return fig


def probability_heatmap(cells: pd.DataFrame, height: int = 340) -> go.Figure:
    """Mean predicted churn probability, plan tier x industry (`portfolio.churn_risk_by_plan_industry`)."""
    tiers = ordered(cells["plan_tier"].unique(), PLAN_TIER_ORDER)
    industries = cells.groupby("industry")["mean_probability"].mean().sort_values(ascending=False).index.tolist()
    grid = cells.pivot(index="plan_tier", columns="industry", values="mean_probability").reindex(
        index=tiers, columns=industries
    )
    counts = cells.pivot(index="plan_tier", columns="industry", values="customers").reindex(
        index=tiers, columns=industries
    )
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[i.capitalize() for i in industries],
            y=[t.capitalize() for t in tiers],
            text=grid.map(lambda r: "" if pd.isna(r) else f"{r * 100:.0f}%").to_numpy(),
            texttemplate="%{text}",
            customdata=counts.to_numpy(),
            colorscale=CHURN_COLORSCALE,
            zmin=0,
            xgap=2,
            ygap=2,
            colorbar={"tickformat": ".0%", "thickness": 12, "outlinewidth": 0, "title": {"text": "P(churn)"}},
            hovertemplate="%{y} · %{x}<br>mean churn probability %{z:.1%}<br>%{customdata:,} accounts<extra></extra>",
        )
    )
    _layout(fig, height)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(showgrid=False, tickangle=-30)
    return fig


def predicted_vs_realised(frame: pd.DataFrame, height: int = 300) -> go.Figure:
    """Predicted (mean probability) against realised 90-day churn rate per scoring date."""
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=frame["as_of"],
            y=frame["realised_rate"],
            name="Realised",
            marker_color="#A5B4FC",
            customdata=np.column_stack([frame["churned"], frame["customers"]]),
            hovertemplate="realised %{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,})<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=frame["as_of"],
            y=frame["predicted_rate"],
            name="Predicted",
            mode="lines+markers",
            line={"color": "#312E81", "width": 2},
            hovertemplate="predicted %{y:.1%}<extra></extra>",
        )
    )
    _layout(fig, height)
    fig.update_layout(hovermode="x unified", legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    fig.update_yaxes(tickformat=".0%", gridcolor="#E2E8F0", rangemode="tozero")
    fig.update_xaxes(showgrid=False, hoverformat="scored %d %b %Y")
    return fig
