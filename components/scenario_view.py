"""Scenario results on the page: KPI cards, the readout, lever table, segment and uplift charts,
and the comparison chart. Figure builders take engine results and return figures, nothing else.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import charts
from components.shared import format as fmt
from components.shared import kpi
from engine import scenarios
from engine.core import exports

BASELINE_COLOR, SCENARIO_COLOR, COST_COLOR = "#94A3B8", "#4F46E5", "#F97316"
MONEY = "$%,.0f"  # whole dollars with separators in tables ("$12,719,209"; the dollar preset showed cents)


def roi_text(value: float | None) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value * 100:,.0f}%"


def _range(low: float, high: float, money: bool = True) -> str:
    if money:
        return f"{fmt.money(low)}–{fmt.money(high)}"
    return f"{low:,.1f}–{high:,.1f}"


# -- figures ---------------------------------------------------------------------------------
def segment_bars(segments: pd.DataFrame, dimension: str, height: int = 320) -> go.Figure:
    """ARR lost, baseline vs scenario, per segment of one dimension (plan, risk tier, ...)."""
    rows = segments[segments["dimension"] == dimension]
    known = charts.PLAN_TIER_ORDER if dimension == "plan_tier" else charts.RISK_TIER_ORDER
    order = charts.ordered(rows["segment"], known if dimension in ("plan_tier", "risk_tier") else ())
    rows = rows.set_index("segment").reindex(order)
    labels = [fmt.label(s) if dimension in ("plan_tier", "risk_tier") else str(s) for s in order]
    fig = go.Figure()
    for column, name, color in (
        ("baseline_arr_lost", "Baseline", BASELINE_COLOR),
        ("scenario_arr_lost", "Scenario", SCENARIO_COLOR),
    ):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=rows[column],
                name=name,
                marker_color=color,
                hovertemplate=f"{name} · %{{x}}: %{{y:$,.0f}} ARR lost<extra></extra>",
            )
        )
    charts._layout(fig, height)
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    fig.update_yaxes(tickprefix="$", tickformat="~s", gridcolor="#E2E8F0", title_text="ARR lost, 12 months")
    fig.update_xaxes(showgrid=False)
    return fig


def uplift_curve(uplift: pd.DataFrame, contacted: int, height: int = 340) -> go.Figure:
    """Cumulative ARR recovered and cost against accounts contacted, in the targeting order."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=uplift["accounts_contacted"],
            y=uplift["arr_recovered"],
            name="ARR recovered",
            mode="lines",
            line={"color": SCENARIO_COLOR, "width": 2.5},
            customdata=uplift["roi"],
            hovertemplate="top %{x:,}: %{y:$,.0f} recovered, ROI %{customdata:.0%}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=uplift["accounts_contacted"],
            y=uplift["cost"],
            name="Cost",
            mode="lines",
            line={"color": COST_COLOR, "width": 2, "dash": "dot"},
            hovertemplate="top %{x:,}: %{y:$,.0f} cost<extra></extra>",
        )
    )
    if contacted:
        fig.add_vline(x=contacted, line={"color": "#334155", "dash": "dash", "width": 1})
        fig.add_annotation(
            x=contacted, y=1, yref="paper", text=f"plan: {contacted:,}", showarrow=False, yanchor="bottom"
        )
    charts._layout(fig, height)
    fig.update_layout(
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        margin={"t": 32},
    )
    fig.update_xaxes(title_text="Accounts contacted (highest priority first)", showgrid=False, rangemode="tozero")
    fig.update_yaxes(tickprefix="$", tickformat="~s", gridcolor="#E2E8F0", rangemode="tozero")
    return fig


def roi_bars(roi_at: dict[int, float | None], height: int = 260) -> go.Figure:
    """ROI of contacting the top 10 / 25 / 50 / 100 accounts."""
    points = [(k, v) for k, v in roi_at.items() if v is not None]
    fig = go.Figure(
        go.Bar(
            x=[f"Top {k}" for k, _ in points],
            y=[v for _, v in points],
            marker_color=[charts.LOWERS_COLOR if v >= 0 else charts.RAISES_COLOR for _, v in points],
            text=[roi_text(v) for _, v in points],
            textposition="outside",
            hovertemplate="%{x}: ROI %{y:.0%}<extra></extra>",
        )
    )
    charts._layout(fig, height)
    fig.update_yaxes(tickformat=".0%", gridcolor="#E2E8F0", zeroline=True, zerolinecolor="#94A3B8")
    fig.update_xaxes(showgrid=False)
    return fig


def comparison_bars(comparison: scenarios.Comparison, height: int = 300) -> go.Figure:
    """The compared plans on the ranking metric, best on top."""
    metric = comparison.metric
    rows = comparison.rows.iloc[::-1]
    values = rows[metric.key]
    if metric.kind == "ratio":
        text, axis = [roi_text(v) for v in values], {"tickformat": ".0%"}
    elif metric.kind == "money":
        text, axis = [fmt.money(v) for v in values], {"tickprefix": "$", "tickformat": "~s"}
    else:
        text, axis = [f"{v:,.1f}" for v in values], {}
    fig = go.Figure(
        go.Bar(
            x=values,
            y=[f"{r.rank}. #{r.id} {r.name}" for r in rows.itertuples()],  # plans are #id everywhere else
            orientation="h",
            marker_color=[SCENARIO_COLOR if r == 1 else BASELINE_COLOR for r in rows["rank"]],
            text=text,
            textposition="auto",
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    charts._layout(fig, max(height, 60 * len(rows) + 60))
    fig.update_xaxes(title_text=metric.label, gridcolor="#E2E8F0", **axis)
    fig.update_yaxes(showgrid=False)
    return fig


# -- rendering ------------------------------------------------------------------------------------
HIGH_ROI = 10.0  # above 1,000% an ROI is mostly its assumptions; they are shown next to it


def roi_assumptions(result: scenarios.ScenarioResult) -> list[str]:
    """Each active lever's assumption in plain words: what the ROI rests on."""
    out = []
    for lever in result.levers:
        if not lever.active:
            continue
        s = result.plan.lever(lever.lever)
        accounts = f"{lever.accounts:,} account{'s' if lever.accounts != 1 else ''}"
        if lever.lever == "outreach":
            out.append(
                f"CS outreach to {accounts} cuts each one's churn by {s.churn_reduction:g}% (assumed) "
                f"at {fmt.money(s.cost_per_account)} per account"
            )
        elif lever.lever == "discount":
            out.append(
                f"a {s.percent:g}% renewal discount on {accounts} cuts their churn by "
                f"{s.elasticity * s.percent:g}% (assumed: {s.elasticity:g} × the discount)"
            )
        elif lever.lever == "price":
            out.append(
                f"a {s.percent:+g}% price change on {accounts} moves their churn by "
                f"{s.elasticity * s.percent:+g}% (assumed: {s.elasticity:g} × the change)"
            )
        elif lever.lever == "adoption":
            out.append(
                f"usage up {s.usage_increase:g}% on {accounts}, re-scored by the churn model, "
                f"at {fmt.money(s.cost_per_account)} per account"
            )
        elif lever.lever == "support":
            out.append(
                f"resolution time {s.resolution_time_cut:g}% faster and {s.open_tickets_cleared:g}% of open tickets "
                f"cleared on {accounts}, re-scored by the churn model, at {fmt.money(s.cost_per_account)} per account"
            )
    return out


def result_cards(result: scenarios.ScenarioResult) -> None:
    b, s = result.baseline, result.scenario
    high_roi = result.roi is not None and not pd.isna(result.roi) and result.roi > HIGH_ROI
    assumptions = roi_assumptions(result)
    kpi.kpi_row(
        [
            kpi.Kpi(
                "Expected churns",
                f"{s.expected_churned:,.1f}",
                f"{s.expected_churned - b.expected_churned:+,.1f}",
                good="down",
                help=f"Accounts expected to churn in the next 90 days (the sum of their churn probabilities). "
                f"Baseline {b.expected_churned:,.1f} ({_range(b.expected_churned_low, b.expected_churned_high, False)}); "
                f"scenario range {_range(s.expected_churned_low, s.expected_churned_high, False)}",
            ),
            kpi.Kpi(
                "Revenue lost, 90 days",
                fmt.money(s.mrr_lost_90d),
                fmt.signed_money(s.mrr_lost_90d - b.mrr_lost_90d),
                good="down",
                help=f"Revenue (three months of MRR) expected to be lost to churn over the next 90 days: for each of the "
                f"{fmt.count(b.accounts)} accounts, churn probability × MRR × 3 months, summed. "
                f"Baseline {fmt.money(b.mrr_lost_90d)}; scenario range {_range(s.mrr_lost_90d_low, s.mrr_lost_90d_high)}",
            ),
            kpi.Kpi(
                "ARR lost, 12 months",
                fmt.money(s.arr_lost_12m),
                fmt.signed_money(s.arr_lost_12m - b.arr_lost_12m),
                good="down",
                help=f"Annual revenue of the accounts expected to churn: churn probability × MRR × 12, summed. "
                f"Baseline {fmt.money(b.arr_lost_12m)}; scenario range {_range(s.arr_lost_12m_low, s.arr_lost_12m_high)}",
            ),
            kpi.Kpi(
                "ARR retained",
                fmt.money(result.revenue_retained),
                help=f"Baseline minus scenario ARR lost; range {_range(result.revenue_retained_low, result.revenue_retained_high)}",
            ),
            kpi.Kpi("Cost", fmt.money(result.cost), help="Programme costs plus revenue given up by discounts"),
            kpi.Kpi(
                "ROI",
                roi_text(result.roi),
                "on assumptions below" if high_roi else None,
                good="neutral",
                help="(ARR retained + price revenue − cost) / cost"
                + (f"; price revenue {fmt.money(result.price_revenue)}" if result.price_revenue else "")
                + (". Rests on: " + "; ".join(assumptions) if assumptions else ""),
            ),
        ]
    )
    if high_roi:
        st.warning(
            f"**ROI of {roi_text(result.roi)} rests on these assumptions:** "
            + ("; ".join(assumptions) or "none stated")
            + f". Cost {fmt.money(result.cost)} covers programme costs and discounts given up only; "
            "check the assumptions before quoting the figure.",
            icon=":material/rule:",
        )
    st.caption(
        f"Scores as of **{fmt.day(result.as_of)}** · {fmt.count(b.accounts)} accounts · scored by "
        f"`{result.scores_model_version}`"
        + (f" · model levers re-scored with `{result.model_version}`" if result.model_version else "")
        + f" · 90% range of ARR retained {_range(result.revenue_retained_low, result.revenue_retained_high)}"
    )


def lever_table(result: scenarios.ScenarioResult) -> None:
    rows = pd.DataFrame(
        [
            {
                "Lever": lever.label,
                "On": lever.active,
                "Effect": "Model-based" if lever.basis == "model" else "Assumption",
                "Assumption / what is re-scored": lever.assumption if lever.active else fmt.MISSING,
                "Segment": lever.segment if lever.active else fmt.MISSING,
                "Accounts": lever.accounts,
                "ARR retained": fmt.money(lever.revenue_retained) if lever.active else fmt.MISSING,
                "Cost": fmt.money(lever.cost) if lever.active else fmt.MISSING,
            }
            for lever in result.levers
        ]
    )
    st.dataframe(rows, hide_index=True, width="stretch")


def render_result(result: scenarios.ScenarioResult, key: str) -> None:
    """Everything about one result; `key` keeps widget keys apart when two results show."""
    result_cards(result)
    st.info(result.readout, icon=":material/summarize:")
    for note in result.notes:
        st.warning(note, icon=":material/warning:")
    st.subheader("Levers")
    lever_table(result)
    left, right = st.columns([1.4, 1])
    with left:
        st.subheader("Uplift curve")
        contacted = next((lever.accounts for lever in result.levers if lever.lever == "outreach"), 0)
        if result.uplift.empty:
            st.caption("Turn on CS outreach (accounts, churn reduction or cost) to see the uplift curve.")
        else:
            st.plotly_chart(uplift_curve(result.uplift, contacted), key=f"{key}_uplift")
    with right:
        st.subheader("Outreach ROI at top k")
        if any(v is not None for v in result.roi_at.values()):
            st.plotly_chart(roi_bars(result.roi_at), key=f"{key}_roi")
        else:
            st.caption("ROI needs a cost per account contacted.")
    st.subheader("By segment")
    dimension = st.segmented_control(
        "Break down by",
        list(scenarios.BREAKDOWN_DIMENSIONS),
        format_func=scenarios.BREAKDOWN_DIMENSIONS.get,
        default="plan_tier",
        key=f"{key}_dimension",
    )
    dimension = dimension or "plan_tier"
    st.plotly_chart(segment_bars(result.segments, dimension), key=f"{key}_segments")
    table = result.segments[result.segments["dimension"] == dimension].drop(columns="dimension")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "segment": st.column_config.TextColumn(scenarios.BREAKDOWN_DIMENSIONS[dimension]),
            "accounts": st.column_config.NumberColumn("Accounts", format="%d"),
            "baseline_churned": st.column_config.NumberColumn("Churned, baseline", format="%.1f"),
            "scenario_churned": st.column_config.NumberColumn("Churned, scenario", format="%.1f"),
            "baseline_arr_lost": st.column_config.NumberColumn("ARR lost, baseline", format=MONEY),
            "scenario_arr_lost": st.column_config.NumberColumn("ARR lost, scenario", format=MONEY),
            "revenue_retained": st.column_config.NumberColumn("ARR retained", format=MONEY),
            "cost": st.column_config.NumberColumn("Cost", format=MONEY),
        },
    )
    st.download_button(
        "Download segments CSV",
        lambda: exports.csv_text(result.segments),
        file_name=f"scenario_segments_{result.as_of}.csv",
        mime="text/csv",
        icon=":material/download:",
        key=f"{key}_download",
    )
    with st.expander("Conventions and assumptions"):
        st.markdown("\n".join(f"- {line}" for line in result.conventions))


def saved_table(saved: list[scenarios.SavedScenario]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": s.id,
                "Name": s.name,
                "Tags": ", ".join(s.tags),
                "Author": s.author,
                "Saved": s.created_at.strftime("%Y-%m-%d %H:%M"),
                "Scores as of": fmt.day(s.data_as_of),
                "ARR retained": fmt.money(s.revenue_retained),
                "Cost": fmt.money(s.cost),
                "ROI": roi_text(s.roi),
                "Cloned from": f"#{s.cloned_from}" if s.cloned_from else "",
            }
            for s in saved
        ]
    )


def comparison_table(comparison: scenarios.Comparison) -> None:
    rows = comparison.rows.assign(roi=lambda d: d["roi"].map(roi_text))
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "rank": st.column_config.NumberColumn("Rank", format="%d"),
            "id": st.column_config.NumberColumn("Id", format="%d"),
            "name": "Name",
            "author": "Author",
            "roi": "ROI",
            "net_benefit": st.column_config.NumberColumn("Net benefit", format=MONEY),
            "revenue_retained": st.column_config.NumberColumn("ARR retained", format=MONEY),
            "cost": st.column_config.NumberColumn("Cost", format=MONEY),
            "arr_lost_12m": st.column_config.NumberColumn("ARR lost, 12 mo", format=MONEY),
            "mrr_lost_90d": st.column_config.NumberColumn("Revenue lost, 90 d", format=MONEY),
            "expected_churned": st.column_config.NumberColumn("Expected churns", format="%.1f"),
        },
    )
