"""Portfolio overview: headline KPIs, MRR by plan tier, churn by plan tier x industry, churn
risk, and behavioural segments with their benchmarks against the book and last quarter."""

from __future__ import annotations

import functools

import streamlit as st

from components import account_tables, ai, html_charts
from components import segment_overview as seg
from components.shared import auth, cache, kpi, status
from components.shared import format as fmt
from components.shared.markdown import plain
from engine.accounts import peers
from engine.core import exports
from engine.core.config import SMALL_COHORT
from engine.core.errors import RadarError
from engine.portfolio import kpis as portfolio

CHURN_WINDOW_MONTHS = 12

viewer = auth.require_viewer("overview")
st.title("Portfolio overview")

data_dir = cache.current_data_dir()
try:
    as_of = cache.data_as_of(data_dir)
    if as_of is not None:
        kpis = cache.portfolio_kpis(data_dir, as_of)
        rows_by, columns_by = cache.overview_groupings(data_dir)  # plan tier x industry, or the company's own
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


def split(what: str, by_columns: bool = True) -> str:
    """ "Churn by plan tier and industry" (`by_columns` False: by the rows' grouping only), or by
    the company's own groups; just `what` when nothing was loaded to split the book by."""
    if rows_by == portfolio.EVERYONE:
        return what
    return f"{what} by {rows_by.label}" + (f" and {columns_by.label}" if columns_by and by_columns else "")


def churn_window() -> str:
    """The churn chart's window as it is: a book younger than the window says since when."""
    start = portfolio.months_before(as_of, CHURN_WINDOW_MONTHS)
    first = mrr["month"].min() if not mrr.empty else None
    if first is not None and first.date() > start:
        return f"since {fmt.day(first.date())}, where the data starts (under {CHURN_WINDOW_MONTHS} months)"
    return f"over the last {CHURN_WINDOW_MONTHS} months"


st.caption(f"Data as of **{fmt.day(as_of)}** · changes compare with {fmt.day(kpis.previous.as_of)} (90 days earlier)")
kpi.kpi_row(kpi.portfolio_cards(kpis))

with st.container(border=True):
    st.markdown("#### AI briefing")
    ai.book_briefing(data_dir, viewer)

left, right = st.columns([1.1, 1], gap="medium")
with left.container(border=True):
    st.markdown(f"#### {plain(split('MRR', by_columns=False))}")
    st.caption("Monthly recurring revenue of active customers at each month end")
    html_charts.show(html_charts.mrr_area(mrr))
with right.container(border=True):
    st.markdown(f"#### {plain(split('Churn'))}")
    st.caption(f"Logo churn {churn_window()} (hover for customer counts)")
    html_charts.show(html_charts.churn_heatmap(churn))


def churn_risk_section() -> list[tuple[str, object, str]]:
    """Revenue at risk and where it sits; returns extra CSV downloads."""
    ready = cache.readiness(data_dir)
    if not ready.ready:
        status.unavailable(ready, "Churn risk unavailable")
        return []
    stamp = cache.snapshot_stamp(data_dir)
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
                help="Σ churn probability × MRR × 12. Range from the 90% intervals: "
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
        html_charts.show(html_charts.risk_tier_bars(summary.by_tier))
    cells = portfolio.churn_risk_by_plan_industry(board, cache.customer_groups(data_dir))
    with right.container(border=True):
        st.markdown(f"#### {plain(split('Predicted churn'))}")
        st.caption("Mean 90-day churn probability of active accounts")
        html_charts.show(html_charts.probability_heatmap(cells))
    top = portfolio.top_at_risk(board, 10)
    with st.container(border=True):  # the whole width: an account's top driver reads on one or two lines
        st.markdown("#### Top 10 accounts by ARR at risk")
        html_charts.show(account_tables.top_accounts_html(top))
    history = cache.predicted_vs_realised(data_dir, cache.viewer_key(viewer), stamp)
    with st.container(border=True):
        st.markdown("#### Predicted vs realised churn")
        if history.empty:
            st.caption(
                "Appears once a scoring date is 90 days old (its outcome is then known). An admin can show it "
                "now by back-scoring past month ends (`engine score --backfill 6`; in-sample, and marked so)."
            )
        else:
            st.caption(
                "Per scoring date: mean predicted probability against the share that churned within 90 days. "
                "Where the model had already learned a date's outcomes in training, a close match flatters it.",
                help="Such dates are *in-sample*: only dates after the model's training window test it fairly.",
            )
            html_charts.show(html_charts.predicted_vs_realised(history))
    return [("Top accounts at risk", portfolio.export_frame(top), "top_at_risk.csv")]


try:
    risk_downloads = churn_risk_section()
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    risk_downloads = []


def segments_section() -> list[tuple[str, object, str]]:
    """Behavioural segments: each archetype's size and outcomes, then segments and plans against
    the whole book and last quarter; returns extra CSV downloads."""
    who, stamp = cache.viewer_key(viewer), cache.snapshot_stamp(data_dir)
    with st.spinner("Reading the behavioural segments..."):
        report = cache.segment_report(data_dir, who, stamp)
    st.subheader("Behavioural segments")
    st.caption(
        f"{fmt.count(report.accounts)} active accounts on {fmt.day(report.as_of)}, grouped by how they use, grow "
        "and need support. Churn is the share of a segment's accounts that left within 90 days, measured at "
        f"{len(report.outcome_months)} past month ends (90% interval)."
        + (f" Not loaded, so not used: {', '.join(report.absent_axes)}." if report.absent_axes else ""),
        help=" ".join(report.conventions),
    )
    table = seg.breakdown_frame(report)
    with st.container(border=True):
        st.markdown("#### Segment breakdown")
        html_charts.show(seg.breakdown_html(table))
    left, right = st.columns([1.15, 1], gap="medium")
    with left.container(border=True):
        st.markdown("#### Churn by segment, 90 days")
        st.caption("Red: above the whole book beyond the interval; green: below it. Hover for the interval.")
        html_charts.show(seg.churn_bars(report))
    with right.container(border=True, height=seg.chart_height(report) + 142):  # as tall as the chart's box
        st.markdown("#### What each segment means")
        for a in seg.shown(report):
            st.markdown(f"**{a.name}** · {a.description}  \n*Playbook:* {a.playbook.motion} ({a.playbook.channel})")

    with st.spinner("Comparing with the book and last quarter..."):
        bench = cache.segment_benchmarks(data_dir, who, stamp)
    # A company that loaded no plan tiers has one plan group, "unknown": no Plans tab to compare.
    plans = set(bench.rows.loc[bench.rows["dimension"] == "plan_tier", "group"]) if len(bench.rows) else set()
    dimensions = {k: v for k, v in seg.DIMENSIONS.items() if k != "plan_tier" or plans - {peers.UNKNOWN}}
    with st.container(border=True):
        title = " and ".join(dimensions.values()).capitalize()  # "Segments and plans"
        st.markdown(f"#### {title} vs the whole book and last quarter")
        st.caption(
            f"On {fmt.day(bench.as_of)} against {fmt.day(bench.previous_as_of)} (90 days earlier, as the cards above): churn is the share of the accounts "
            "active 90 days before that left since; NRR is MRR now over MRR 12 months before of the accounts then; "
            "LTV is revenue to date plus the expected next 12 months per scored account. Green: better than the "
            f"book (or than last quarter); red: worse; — where either side rests on fewer than {SMALL_COHORT} accounts.",
        )
        # Both groupings are on the page: switching tabs needs no rerun. One grouping needs no tab.
        tabs = st.tabs(list(dimensions.values())) if len(dimensions) > 1 else [st.container()]
        for tab, dimension in zip(tabs, dimensions, strict=True):
            with tab:
                html_charts.show(seg.benchmark_html(seg.benchmark_rows(bench, dimension), dimension))
        for note in bench.notes:
            st.caption(note)
    day = report.as_of.isoformat()
    return [
        ("Segments", seg.export_frame(report), f"segments_{day}.csv"),
        ("Segment benchmarks", bench.rows, f"segment_benchmarks_{day}.csv"),
    ]


try:
    segment_downloads = segments_section()
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    segment_downloads = []


def named(frame):
    """A chart's frame with its group columns named for what they hold (channel, say), not plan tier and industry."""
    return frame.rename(columns={"plan_tier": rows_by.key, "industry": columns_by.key if columns_by else "all"})


stamp = as_of.isoformat()
downloads = (
    ("KPIs", kpis.as_frame(), f"portfolio_kpis_{stamp}.csv"),
    (split("MRR", by_columns=False), named(mrr), f"mrr_by_{rows_by.key}_{stamp}.csv"),
    (
        split("Churn"),
        named(churn),
        f"churn_by_{rows_by.key}_{columns_by.key if columns_by else 'all'}_{stamp}.csv",
    ),
    *risk_downloads,
    *segment_downloads,
)
with st.container(horizontal=True, vertical_alignment="center"):
    st.caption("Download the numbers as CSV:", width="content")
    for label, frame, file_name in downloads:
        st.download_button(  # the CSV is written only when the button is clicked
            label,
            functools.partial(exports.csv_text, frame),
            file_name=file_name,
            mime="text/csv",
            icon=":material/download:",
        )
