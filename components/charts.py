"""Plotly figure builders: they take engine results and return figures, nothing else.

Colours are shared so a plan tier or a risk tier looks the same on every page. The overview's
and Customer 360's charts are drawn without Plotly (`components.html_charts`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.shared import format as fmt
from components.shared.theme import (  # noqa: F401 - the shared colours and order, for other chart modules
    CHURN_COLORSCALE,
    EVENT_COLORS,
    LOWERS_COLOR,
    PLAN_TIER_COLORS,
    PLAN_TIER_ORDER,
    RAISES_COLOR,
    RISK_TIER_COLORS,
    RISK_TIER_ORDER,
    ordered,
    tier_colors,
)
from components.shared.theme import layout as _layout


def scoring_days(values) -> list[str]:
    """Scoring dates as categories ('Mar 31, 2026'): on a date axis a month-end bar sits at the
    next month's tick and read as that month."""
    return [fmt.day(pd.Timestamp(v).date()) for v in values]


def predicted_vs_realised(frame: pd.DataFrame, height: int = 300) -> go.Figure:
    """Predicted (mean probability) against realised 90-day churn rate per scoring date."""
    days = scoring_days(frame["as_of"])
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=days,
            y=frame["realised_rate"],
            name="Realised",
            marker_color="#A5B4FC",
            customdata=np.column_stack([frame["churned"], frame["customers"]]),
            hovertemplate="realised %{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,})<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=days,
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
    fig.update_xaxes(showgrid=False, type="category")
    return fig
