"""Plotly figures for the Forecasts page: history with forecast bands, backtest accuracy,
backtest folds against actuals, and the churn-adjusted MRR outlook."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from components.shared.theme import layout as _layout

HISTORY_COLOR = "#334155"
# One colour per model, stable across charts; the chosen model is drawn first and boldest.
MODEL_COLORS = {
    "auto": "#4F46E5",
    "combination": "#0F766E",
    "ets": "#0EA5E9",
    "theta": "#DB2777",
    "arima": "#CA8A04",
    "lightgbm": "#16A34A",
    "seasonal_naive": "#F97316",
    "moving_average": "#A855F7",
    "naive": "#94A3B8",
}
MODEL_LABELS = {
    "auto": "Automatic choice",
    "combination": "Combination (ETS, Theta, ARIMA)",
    "ets": "Exponential smoothing",
    "theta": "Theta",
    "arima": "ARIMA",
    "lightgbm": "Machine learning (recent months + calendar)",
    "seasonal_naive": "Seasonal naive",
    "moving_average": "Moving average",
    "naive": "Naive (last value)",
}
WINNER_COLOR = "#4F46E5"
OTHER_COLOR = "#CBD5E1"


def model_label(name: str) -> str:
    return MODEL_LABELS.get(name, name)


def short_label(name: str) -> str:
    """A model's name for narrow places (table rows): without the parenthesised detail."""
    return model_label(name).split(" (")[0]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band(fig: go.Figure, ds, lo, hi, color: str, alpha: float, name: str, legend: bool = True) -> None:
    fig.add_trace(
        go.Scatter(
            x=list(ds) + list(ds)[::-1],
            y=list(hi) + list(lo)[::-1],
            fill="toself",
            fillcolor=_rgba(color, alpha),
            line={"width": 0},
            hoverinfo="skip",
            name=name,
            showlegend=legend,
        )
    )


def forecast_chart(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    models: list[str],
    levels: tuple[int, ...],
    unit: str,
    height: int = 420,
    bands: bool = True,
    labels: dict[str, str] | None = None,
) -> go.Figure:
    """One series: its history, each model's forecast, and the first model's bands (widest lightest;
    none when `bands` is False, e.g. for a model whose intervals failed the backtest). `labels`
    name a model otherwise than its usual label (a seasonal naive that fell back to naive)."""
    labels = labels or {}
    fig = go.Figure()
    lead = models[0]
    color = MODEL_COLORS.get(lead, WINNER_COLOR)
    for level, alpha in zip(sorted(levels, reverse=True), (0.12, 0.24, 0.32), strict=False):
        if not bands:
            break
        _band(
            fig,
            forecast["ds"],
            forecast[f"{lead}-lo-{level}"],
            forecast[f"{lead}-hi-{level}"],
            color,
            alpha,
            f"{model_label(lead)} {level}% interval",
        )
    fig.add_trace(
        go.Scatter(
            x=history["ds"],
            y=history["y"],
            mode="lines",
            name="Actual",
            line={"color": HISTORY_COLOR, "width": 2},
            hovertemplate="%{x|%b %d, %Y}<br>%{y:,.0f} " + unit + "<extra>Actual</extra>",
        )
    )
    for i, name in enumerate(models):
        label = labels.get(name, model_label(name))
        fig.add_trace(
            go.Scatter(
                x=forecast["ds"],
                y=forecast[name],
                mode="lines+markers" if i == 0 else "lines",
                name=label,
                line={
                    "color": MODEL_COLORS.get(name, WINNER_COLOR),
                    "width": 3 if i == 0 else 1.5,
                    "dash": "solid" if i == 0 else "dot",
                },
                marker={"size": 5},
                hovertemplate="%{x|%b %d, %Y}<br>%{y:,.0f} " + unit + f"<extra>{label}</extra>",
            )
        )
    fig.update_layout(legend={"orientation": "h", "y": -0.12}, hovermode="x unified")
    fig.update_yaxes(title=unit, rangemode="tozero", gridcolor="#E2E8F0")
    return _layout(fig, height)


def backtest_bars(summary: pd.DataFrame, winner: str, metric: str = "mase", height: int = 300) -> go.Figure:
    """Each model's backtest error on `metric`, lower is better, the winner in colour."""
    ordered_rows = summary.sort_values(metric)
    colors = [WINNER_COLOR if m == winner else OTHER_COLOR for m in ordered_rows["model"]]
    fig = go.Figure(
        go.Bar(
            x=ordered_rows[metric],
            y=[short_label(m) for m in ordered_rows["model"]],
            orientation="h",
            marker_color=colors,
            text=[f"{v:,.3f}" for v in ordered_rows[metric]],
            textposition="auto",
            hovertemplate="%{y}: %{x:,.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    title = "MASE" if metric == "mase" else metric.upper()
    fig.update_xaxes(title=f"{title}, lower is better", gridcolor="#E2E8F0")
    return _layout(fig, height)


def backtest_folds_chart(history: pd.DataFrame, folds: pd.DataFrame, model: str, unit: str, height: int = 320):
    """Actuals against what `model` forecast from each backtest origin (one line per fold)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=history["ds"], y=history["y"], mode="lines", name="Actual", line={"color": HISTORY_COLOR, "width": 2}
        )
    )
    color = MODEL_COLORS.get(model, WINNER_COLOR)
    for i, (cutoff, fold) in enumerate(folds.groupby("cutoff", sort=True)):
        if f"{model}-lo-95" in fold:
            _band(fig, fold["ds"], fold[f"{model}-lo-95"], fold[f"{model}-hi-95"], color, 0.10, "95% interval", i == 0)
        fig.add_trace(
            go.Scatter(
                x=fold["ds"],
                y=fold[model],
                mode="lines+markers",
                name=f"From {pd.Timestamp(cutoff):%b %Y}",
                line={"color": color, "width": 2, "dash": "dot" if i % 2 else "solid"},
                marker={"size": 4},
                hovertemplate="%{x|%b %d, %Y}<br>%{y:,.0f} "
                + unit
                + "<extra>fold from "
                + f"{pd.Timestamp(cutoff):%Y-%m-%d}</extra>",
            )
        )
    fig.update_layout(legend={"orientation": "h", "y": -0.15}, showlegend=True)
    fig.update_yaxes(title=unit, gridcolor="#E2E8F0")
    return _layout(fig, height)


def outlook_chart(history: pd.DataFrame, outlook: pd.DataFrame, level: float, height: int = 380) -> go.Figure:
    """Recent MRR, then the churn-adjusted expectation with its band and the existing book alone."""
    fig = go.Figure()
    _band(fig, outlook["month"], outlook["lo"], outlook["hi"], WINNER_COLOR, 0.15, f"{level:.0%} band")
    lines = (
        (history["ds"], history["y"], "lines", "MRR (actual)", {"color": HISTORY_COLOR, "width": 2}, "Actual"),
        (
            outlook["month"],
            outlook["expected_mrr"],
            "lines+markers",
            "Expected MRR",
            {"color": WINNER_COLOR, "width": 3},
            "Expected",
        ),
        (
            outlook["month"],
            outlook["book_mrr"],
            "lines",
            "Today's accounts only",
            {"color": "#DC2626", "width": 1.5, "dash": "dot"},
            "Today's accounts",
        ),
    )
    for x, y, mode, name, line, short in lines:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode=mode,
                name=name,
                line=line,
                hovertemplate="%{x|%b %Y}<br>$%{y:,.0f}<extra>" + short + "</extra>",
            )
        )
    fig.update_layout(legend={"orientation": "h", "y": -0.12}, hovermode="x unified")
    fig.update_yaxes(title="MRR", tickprefix="$", gridcolor="#E2E8F0")
    return _layout(fig, height)
