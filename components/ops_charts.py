"""Plotly figures for model quality, drift and realised-vs-predicted: results in, figures out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.charts import scoring_days
from components.shared.theme import layout as _layout
from engine.churn.monitoring import PSI_ACT, PSI_WATCH

INK = "#312E81"
SOFT = "#A5B4FC"
GRID = "#E2E8F0"
DIAGONAL = {"color": "#94A3B8", "dash": "dot", "width": 1}
STATUS_COLORS = {"stable": "#16A34A", "watch": "#EAB308", "act": "#DC2626", "ok": "#16A34A"}
# Low feature values blue, high red (the SHAP convention), missing / categorical grey.
VALUE_SCALE = [[0.0, "#2563EB"], [0.5, "#A855F7"], [1.0, "#DC2626"]]


def _axes(fig: go.Figure, x_title: str, y_title: str, square: bool = False) -> go.Figure:
    fig.update_xaxes(title=x_title, gridcolor=GRID, zeroline=False)
    fig.update_yaxes(title=y_title, gridcolor=GRID, zeroline=False)
    if square:
        fig.update_xaxes(range=[0, 1])
        fig.update_yaxes(range=[0, 1.02])
    return fig


def roc_curve(roc: pd.DataFrame, auc: float | None, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=DIAGONAL, name="Chance", hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=roc["false_positive_rate"],
            y=roc["true_positive_rate"],
            mode="lines",
            line={"color": INK, "width": 2},
            name=f"AUC {auc:.3f}" if auc is not None else "ROC",
            customdata=roc["threshold"],
            hovertemplate="flag above %{customdata:.1%}: catch %{y:.0%} of churners, "
            "%{x:.0%} of stayers flagged<extra></extra>",
        )
    )
    _layout(fig, height)
    fig.update_layout(legend={"x": 0.55, "y": 0.08})
    return _axes(fig, "Stayers flagged (false positive rate)", "Churners caught (true positive rate)", True)


def precision_recall(pr: pd.DataFrame, base_rate: float, pr_auc: float | None, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[base_rate, base_rate], mode="lines", line=DIAGONAL, name="Churn rate", hoverinfo="skip")
    )
    fig.add_trace(
        go.Scatter(
            x=pr["recall"],
            y=pr["precision"],
            mode="lines",
            line={"color": INK, "width": 2},
            name=f"PR-AUC {pr_auc:.3f}" if pr_auc is not None else "Precision-recall",
            hovertemplate="catch %{x:.0%} of churners with %{y:.0%} of flags right<extra></extra>",
        )
    )
    _layout(fig, height)
    fig.update_layout(legend={"x": 0.55, "y": 0.95})
    return _axes(fig, "Churners caught (recall)", "Flags that churned (precision)", True)


def calibration(bins: pd.DataFrame, height: int = 320) -> go.Figure:
    """Observed churn rate against mean predicted probability per probability band."""
    fig = go.Figure()
    top = float(max(bins["mean_predicted"].max(), bins["observed_rate"].max(), 0.05)) if len(bins) else 1.0
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", line=DIAGONAL, name="Perfect", hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=bins["mean_predicted"],
            y=bins["observed_rate"],
            mode="lines+markers",
            marker={"size": np.clip(np.sqrt(bins["rows"].astype(float)) * 1.5, 6, 30), "color": INK},
            line={"color": INK, "width": 1.5},
            name="Model",
            customdata=np.column_stack([bins["bin"], bins["rows"]]),
            hovertemplate="band %{customdata[0]}: predicted %{x:.1%}, observed %{y:.1%} "
            "(%{customdata[1]:,} customers)<extra></extra>",
        )
    )
    _layout(fig, height)
    fig.update_layout(showlegend=False)
    _axes(fig, "Predicted churn probability", "Observed churn rate")
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(tickformat=".0%")
    return fig


def lift(table: pd.DataFrame, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=table["decile"],
            y=table["lift"],
            marker_color=INK,
            name="Lift",
            customdata=np.column_stack([table["churn_rate"], table["cumulative_capture"]]),
            hovertemplate="tenth %{x}: churn rate %{customdata[0]:.1%}, lift %{y:.1f}×; "
            "%{customdata[1]:.0%} of churners in tenths 1–%{x}<extra></extra>",
        )
    )
    fig.add_hline(y=1, line=DIAGONAL)
    _layout(fig, height)
    fig.update_layout(showlegend=False)
    _axes(fig, "Risk tenth (1 = highest predicted risk)", "Lift over the average churn rate")
    fig.update_xaxes(dtick=1)
    return fig


def beeswarm(swarm: pd.DataFrame, height: int | None = None) -> go.Figure:
    """SHAP impact per customer for the top features (largest mean |SHAP| on top),
    coloured by the feature's value (blue low, red high)."""
    order = swarm.groupby("label", sort=False)["shap_impact"].apply(lambda s: s.abs().mean()).sort_values()
    position = {label: i for i, label in enumerate(order.index)}
    rng = np.random.default_rng(0)
    y = swarm["label"].map(position).to_numpy(dtype=float) + rng.uniform(-0.32, 0.32, len(swarm))
    value_text = [
        "missing" if pd.isna(v) else (f"{v:,.3g}" if isinstance(v, (int, float, np.floating)) else str(v))
        for v in swarm["value"]
    ]
    known = swarm["value_rank"].notna().to_numpy()
    fig = go.Figure()
    for mask, colored in ((~known, False), (known, True)):
        if not mask.any():
            continue
        marker = {"size": 5, "opacity": 0.75}
        if colored:
            marker |= {
                "color": swarm["value_rank"][mask],
                "colorscale": VALUE_SCALE,
                "cmin": 0,
                "cmax": 1,
                "colorbar": {
                    "title": "Value",
                    "tickvals": [0, 1],
                    "ticktext": ["low", "high"],
                    "thickness": 10,
                    "len": 0.6,
                },
            }
        else:
            marker |= {"color": "#94A3B8"}
        fig.add_trace(
            go.Scatter(
                x=swarm["shap_impact"][mask],
                y=y[mask],
                mode="markers",
                marker=marker,
                showlegend=False,
                customdata=np.column_stack([swarm["label"][mask], np.array(value_text, dtype=object)[mask]]),
                hovertemplate="%{customdata[0]} = %{customdata[1]}: %{x:+.2f} push on churn risk<extra></extra>",
            )
        )
    fig.add_vline(x=0, line=DIAGONAL)
    _layout(fig, height or max(320, 34 * len(position) + 60))
    fig.update_yaxes(tickvals=list(position.values()), ticktext=list(position.keys()), showgrid=False)
    fig.update_xaxes(title="Push on churn risk (right = raises it)", gridcolor=GRID)
    return fig


def drift_bars(features: pd.DataFrame, top: int = 20, height: int | None = None) -> go.Figure:
    """PSI per feature, worst at the top, coloured by status, with the two thresholds."""
    shown = features.head(top).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=shown["psi"],
            y=shown["label"],
            orientation="h",
            marker_color=[STATUS_COLORS[s] for s in shown["status"]],
            customdata=np.column_stack([shown["status"], shown["test"], shown["p_value"]]),
            hovertemplate="%{y}: shift %{x:.3f} (%{customdata[0]}); %{customdata[1]} p = %{customdata[2]:.2g}"
            "<extra></extra>",
        )
    )
    # Labelled above the plot, "watch" to the left of its line and "act" to the right of its
    # own: inside, they ran over the worst feature's bar and into each other.
    for threshold, label, side in ((PSI_WATCH, "watch", "right"), (PSI_ACT, "act", "left")):
        fig.add_vline(
            x=threshold,
            line={"color": "#64748B", "dash": "dash", "width": 1},
            annotation_text=label,
            annotation_position="top",
            annotation_yanchor="bottom",
            annotation_xanchor=side,
            annotation_font={"color": "#64748B", "size": 11},
        )
    _layout(fig, height or max(300, 24 * len(shown) + 60))
    fig.update_layout(margin={"t": 28})
    fig.update_xaxes(title="Shift since training (PSI)", gridcolor=GRID)
    fig.update_yaxes(showgrid=False)
    return fig


def distribution(bins: pd.DataFrame, reference_label: str, current_label: str, height: int = 300) -> go.Figure:
    """Share of customers per bin, training reference vs now."""
    fig = go.Figure()
    for column, name, color in (
        ("reference_share", reference_label, SOFT),
        ("current_share", current_label, INK),
    ):
        fig.add_trace(
            go.Bar(
                x=bins["bin"],
                y=bins[column],
                name=name,
                marker_color=color,
                hovertemplate="%{x}: %{y:.1%}<extra>" + name + "</extra>",
            )
        )
    _layout(fig, height)
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    fig.update_yaxes(tickformat=".0%", gridcolor=GRID, title="Share of customers")
    fig.update_xaxes(showgrid=False, tickangle=-30, type="category")
    return fig


def realised_over_time(by_date: pd.DataFrame, height: int = 320) -> go.Figure:
    """AUC (left axis) and Brier score (right axis) per scoring date; hollow markers are in-sample."""
    fig = go.Figure()
    symbols = ["circle-open" if s else "circle" for s in by_date["in_sample"]]
    fig.add_trace(
        go.Scatter(
            x=scoring_days(by_date["as_of"]),
            y=by_date["auc"],
            name="AUC",
            mode="lines+markers",
            marker={"symbol": symbols, "size": 10, "color": INK},
            line={"color": INK},
            hovertemplate="scored %{x}: AUC %{y:.3f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=scoring_days(by_date["as_of"]),
            y=by_date["brier"],
            name="Brier (right)",
            mode="lines+markers",
            yaxis="y2",
            marker={"symbol": symbols, "size": 10, "color": "#F97316"},
            line={"color": "#F97316", "dash": "dot"},
            hovertemplate="scored %{x}: Brier %{y:.4f}<extra></extra>",
        )
    )
    _layout(fig, height)
    fig.update_layout(
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        # Its ticks line up with the AUC grid, so they fall on odd values: three decimals read cleanly.
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "title": "Brier (lower is better)",
            "tickformat": ".3f",
        },
        margin={"t": 32},
    )
    fig.update_yaxes(title="AUC (higher is better)", gridcolor=GRID, selector={"anchor": "x"})
    fig.update_xaxes(showgrid=False, type="category")
    return fig
