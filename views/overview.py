"""Portfolio overview: headline KPIs, MRR by plan tier, churn by plan tier x industry."""

from __future__ import annotations

import streamlit as st

from components import charts
from components.shared import auth, cache, kpi
from components.shared import format as fmt
from engine.core import exports
from engine.core.errors import RadarError
from engine.portfolio import kpis as portfolio

CHURN_WINDOW_MONTHS = 12
TOP_COLUMNS = ["open", "name", "revenue_at_risk", "churn_probability", "plan_tier", "csm_owner", "top_driver"]

viewer = auth.require_viewer("overview")
st.title("Portfolio overview")

data_dir = cache.current_data_dir()
try:
    as_of = cache.data_as_of(data_dir)
    if as_of is not None:
        kpis = cache.portfolio_kpis(data_dir, as_of)
        mrr = cache.mrr_by_plan(data_dir, as_of)
        churn = cache.churn_by_plan_industry(data_dir, as_of, CHURN_WINDOW_MONTHS)
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

if as_of is None:
    st.info(
        f"No customer data yet in `{data_dir}`.\n\n"
        "- To try the app with a demo company, run `make run` or `.venv/bin/python -m engine demo`.\n"
        "- To use your own data, load it with `.venv/bin/python -m engine ingest customers customers.csv`, "
        "then `mrr_history` and the other tables.\n\n"
        "Then reload this page.",
        icon=":material/database:",
    )
    st.stop()

st.caption(f"Data as of **{fmt.day(as_of)}** · changes compare with {fmt.day(kpis.previous.as_of)} (90 days earlier)")
kpi.kpi_row(kpi.portfolio_cards(kpis))

left, right = st.columns([1.1, 1], gap="medium")
with left.container(border=True):
    st.markdown("#### MRR by plan tier")
    st.caption("Monthly recurring revenue of active customers at each month end")
    st.plotly_chart(charts.mrr_area(mrr), config={"displayModeBar": False})
with right.container(border=True):
    st.markdown("#### Churn by plan tier and industry")
    st.caption(f"Logo churn over the last {CHURN_WINDOW_MONTHS} months (hover for customer counts)")
    st.plotly_chart(charts.churn_heatmap(churn), config={"displayModeBar": False})


def churn_risk_section() -> list[tuple[str, object, str]]:
    """Revenue at risk and where it sits; returns extra CSV downloads."""
    ready = cache.readiness(data_dir)
    if not ready.ready:
        st.warning(f"**Churn risk unavailable.** {ready.message}", icon=":material/model_training:")
        return []
    stamp = cache.scores_stamp(data_dir)
    board = cache.board_frame(data_dir, cache.viewer_key(viewer), stamp)
    if board.empty:
        return []
    summary = portfolio.risk_summary(board)
    scored_as_of = fmt.day(board["as_of"].max())
    st.subheader("Churn risk, next 90 days")
    st.caption(f"{fmt.count(summary.accounts)} active accounts scored as of {scored_as_of} by `{ready.model_version}`")
    kpi.kpi_row(
        [
            kpi.Kpi(
                "ARR at risk",
                fmt.money(summary.revenue_at_risk),
                help="Σ churn probability × MRR × 12. Range from the 90 % intervals: "
                f"{fmt.money(summary.revenue_at_risk_low)} – {fmt.money(summary.revenue_at_risk_high)}",
            ),
            kpi.Kpi(
                "Share of ARR",
                fmt.percent(summary.revenue_at_risk / summary.arr if summary.arr else None),
                help=f"ARR at risk as a share of the {fmt.money(summary.arr)} ARR of the scored accounts.",
            ),
            kpi.Kpi(
                "Expected churns",
                fmt.count(round(summary.expected_churned_accounts)),
                help="Accounts expected to churn in the next 90 days: the sum of their churn probabilities.",
            ),
            kpi.Kpi(
                "Mean churn risk",
                fmt.percent(summary.mean_probability),
                help="Mean 90-day churn probability of the scored accounts.",
            ),
        ]
    )
    left, right = st.columns([1, 1.3], gap="medium")
    with left.container(border=True):
        st.markdown("#### Accounts by risk tier")
        st.caption(f"{cache.tier_legend(data_dir)} Hover for each tier's ARR and ARR at risk.")
        st.plotly_chart(charts.risk_tier_bars(summary.by_tier), config={"displayModeBar": False})
    cells = portfolio.churn_risk_by_plan_industry(board)
    with right.container(border=True):
        st.markdown("#### Predicted churn by plan tier and industry")
        st.caption("Mean 90-day churn probability of active accounts")
        st.plotly_chart(charts.probability_heatmap(cells), config={"displayModeBar": False})
    left, right = st.columns([1.3, 1], gap="medium")
    top = portfolio.top_at_risk(board, 10)
    with left.container(border=True):
        st.markdown("#### Top 10 accounts by ARR at risk")
        st.dataframe(
            top.assign(open="customer_360?customer_id=" + top["customer_id"]),
            hide_index=True,
            # The column it is sorted by comes right after the account, so it is never scrolled off.
            column_order=TOP_COLUMNS,
            column_config={
                "open": st.column_config.LinkColumn("360", display_text="Open", width=48),
                "name": st.column_config.TextColumn("Account", width=150),
                "revenue_at_risk": st.column_config.NumberColumn(
                    "ARR at risk", format="dollar", width=95, help="Churn probability × MRR × 12"
                ),
                "churn_probability": st.column_config.NumberColumn("Churn (90 d)", format="percent", width=85),
                "plan_tier": st.column_config.TextColumn("Plan", width=80),
                "csm_owner": st.column_config.TextColumn("Owner", width=110),
                "top_driver": st.column_config.TextColumn("Top driver", width="large"),
            },
        )
    history = cache.predicted_vs_realised(data_dir, cache.viewer_key(viewer), stamp)
    with right.container(border=True):
        st.markdown("#### Predicted vs realised churn")
        if history.empty:
            st.caption("Appears once a scoring date is 90 days old (its outcome is then known).")
        else:
            st.caption(
                "Per scoring date: mean predicted probability against the share that churned within 90 days. "
                "Where the model had already learned a date's outcomes in training, a close match flatters it.",
                help="Such dates are *in-sample*: only dates after the model's training window test it fairly.",
            )
            st.plotly_chart(charts.predicted_vs_realised(history), config={"displayModeBar": False})
    return [("Top accounts at risk", portfolio.export_frame(top), "top_at_risk.csv")]


try:
    risk_downloads = churn_risk_section()
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    risk_downloads = []

stamp = as_of.isoformat()
downloads = (
    ("KPIs", kpis.as_frame(), f"portfolio_kpis_{stamp}.csv"),
    ("MRR by plan tier", mrr, f"mrr_by_plan_{stamp}.csv"),
    ("Churn by plan tier and industry", churn, f"churn_by_plan_industry_{stamp}.csv"),
    *risk_downloads,
)
with st.container(horizontal=True, vertical_alignment="center"):
    st.caption("Download the numbers as CSV:", width="content")
    for label, frame, file_name in downloads:
        st.download_button(
            label, exports.csv_text(frame), file_name=file_name, mime="text/csv", icon=":material/download:"
        )
