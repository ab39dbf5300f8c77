"""Portfolio overview: headline KPIs, MRR by plan tier, churn by plan tier x industry."""

from __future__ import annotations

import streamlit as st

from components import cache, charts, kpi
from components import format as fmt
from engine.errors import RadarError

CHURN_WINDOW_MONTHS = 12

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
        "- To try the app with a demo company, run `make run` or `python -m engine demo`.\n"
        "- To use your own data, load it with `python -m engine ingest customers customers.csv`, "
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

stamp = as_of.isoformat()
downloads = (
    ("KPIs", kpis.as_frame(), f"portfolio_kpis_{stamp}.csv"),
    ("MRR by plan tier", mrr, f"mrr_by_plan_{stamp}.csv"),
    ("Churn by plan tier and industry", churn, f"churn_by_plan_industry_{stamp}.csv"),
)
with st.container(horizontal=True, vertical_alignment="center"):
    st.caption("Download the numbers as CSV:", width="content")
    for label, frame, file_name in downloads:
        st.download_button(
            label, frame.to_csv(index=False), file_name=file_name, mime="text/csv", icon=":material/download:"
        )
