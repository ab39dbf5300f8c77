"""Risk board: every active account in the viewer's book, ranked by revenue at risk."""

from __future__ import annotations

import streamlit as st

from components import ai
from components.account_tables import top_driver_text
from components.shared import auth, cache, status
from components.shared import format as fmt
from components.shared.markdown import plain
from engine.accounts import board
from engine.churn.spread import MEANING as INTERVAL_MEANING
from engine.core import exports
from engine.core.errors import RadarError

PAGE_SIZES = (25, 50, 100)
# What a CSM acts on comes first and fits at 1280 px with the sidebar open (the widths below);
# the rest is a scroll away.
BOARD_COLUMNS = [
    "open",
    "name",
    "at_risk_text",
    "churn_percent",
    "risk_tier",
    "recommended_action",
    "top_driver",
    "days_to_renewal",
    "archetype",
    "mrr_text",
    "interval",
    "value_text",
    "plan_tier",
    "csm_owner",
]
EMPTY_UNLESS_LOADED = ("days_to_renewal", "plan_tier", "csm_owner")
SCORED_ONLY = (
    "at_risk_text",
    "churn_percent",
    "risk_tier",
    "recommended_action",
    "top_driver",
    "interval",
    "value_text",
)
RENEWAL_WINDOWS = {"Any time": None, "Next 30 days": 30, "Next 60 days": 60, "Next 90 days": 90, "Next 180 days": 180}

viewer = auth.require_viewer("risk_board")
st.title("Risk board")
data_dir = cache.current_data_dir()
status.require_data(data_dir)

try:
    frame = cache.risk_board_frame(data_dir, cache.viewer_key(viewer), cache.snapshot_stamp(data_dir))
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

if frame.empty:
    st.info(
        # inert: it quotes the book's owner as the CRM wrote it
        plain(board.empty_book_message(cache.warehouse(data_dir), viewer)),
        icon=":material/inbox:",
    )
    st.stop()
scored = board.is_scored(frame)
status.scores_or_book(data_dir, scored)  # before the first scores (a young company): the book by MRR


def clear_filters() -> None:
    """Back to every account in the book (runs before the widgets are drawn again)."""
    # Set, not deleted: a deleted key resets the value but the browser kept showing the old text.
    st.session_state["bf_search"] = ""
    for key in ("bf_segments", "bf_tiers", "bf_plans", "bf_industries", "bf_regions", "bf_owners"):
        st.session_state[key] = []
    for key in [k for k in st.session_state if str(k).startswith("bf_attr_")]:
        st.session_state[key] = []
    st.session_state["bf_renewal"] = next(iter(RENEWAL_WINDOWS))
    st.session_state["bf_min_mrr"] = 0


options = board.filter_options(frame)
in_segment = board.segment_counts(frame)  # the viewer's own rows: a CSM counts only their book
with st.container(border=True):
    # Four to a row: at five or six a chosen value showed as "E…" next to the clear and open icons.
    row1 = st.columns([1.1, 1.8, 1.1, 1.1], vertical_alignment="bottom")
    search = row1[0].text_input("Search", placeholder="Name or customer id", icon=":material/search:", key="bf_search")
    segments = row1[1].multiselect(
        "Segment",
        options["segments"],
        format_func=lambda name: f"{name} ({in_segment.get(name, 0):,})",
        help="Behavioural segment (archetype): how the account uses, grows and needs support now",
        placeholder="All",
        key="bf_segments",
    )

    # A column no account has (a company that loaded no plans, regions or owners, or no scores
    # yet) gets no filter.
    def rows_of_four():  # a row is drawn only when a filter needs it (no empty row at the bottom)
        yield from row1[2:]
        while True:
            yield from st.columns(4, vertical_alignment="bottom")

    cells = rows_of_four()

    def choose(label: str, key: str, values: list[str], shown: bool = True, **kwargs) -> tuple[str, ...]:
        if not (values and shown):
            return ()
        return tuple(next(cells).multiselect(label, values, placeholder="All", key=key, **kwargs))

    tiers = choose("Risk tier", "bf_tiers", options["tiers"], format_func=str.capitalize)
    plans = choose("Plan", "bf_plans", options["plans"], format_func=fmt.label)
    industries = choose("Industry", "bf_industries", options["industries"], format_func=fmt.label)
    regions = choose("Region", "bf_regions", options["regions"])
    owners = choose("Owner", "bf_owners", options["owners"], viewer.sees_everyone)  # a CSM's board is their book
    own = tuple(  # the company's own columns (country, channel ...)
        (name, choose(fmt.label(name.replace("_", " ")), f"bf_attr_{name}", values))
        for name, values in board.attribute_options(frame).items()
    )
    renewals = frame["days_to_renewal"].notna().any()
    renewal = next(cells).selectbox("Renewal", list(RENEWAL_WINDOWS), key="bf_renewal") if renewals else "Any time"
    min_mrr = next(cells).number_input("Minimum MRR ($)", min_value=0, value=0, step=500, key="bf_min_mrr")
    sorts = [
        k for k in board.SORTABLE if (renewals or k != "days_to_renewal") and (scored or k in board.UNSCORED_SORTS)
    ]
    sort_by = next(cells).selectbox("Sort by", sorts, format_func=board.SORTABLE.get)
    descending = next(cells).toggle("Highest first", value=True)

filters = board.BoardFilters(
    tiers=tuple(tiers),
    plans=plans,
    industries=industries,
    regions=regions,
    owners=owners,
    segments=tuple(segments),
    attributes=own,
    renewal_within_days=RENEWAL_WINDOWS[renewal],
    min_mrr=float(min_mrr) or None,
    search=search,
)
# A new filter or sort starts again from page 1.
signature = (filters, sort_by, descending, st.session_state.get("board_page_size"))
if st.session_state.get("board_signature") != signature:
    st.session_state["board_signature"] = signature
    st.session_state["board_page"] = 1
page_size = st.session_state.get("board_page_size", PAGE_SIZES[0])
page_number = st.session_state.get("board_page", 1)
try:
    page = board.page_of(frame, filters, sort_by, descending, page_number, page_size)
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

book = "your book" if not viewer.sees_everyone else "the portfolio"
cards = st.columns(4)
cards[0].metric("Matching accounts", fmt.count(page.total), border=True)
if scored:
    st.caption(
        f"{fmt.count(len(frame))} scored accounts in {book} · churn scores as of **{fmt.day(page.as_of)}** "
        f"by model `{page.model_version}` · the 90% interval of each score has its own column"
    )
    cards[1].metric(
        "ARR at risk",
        fmt.money(page.revenue_at_risk),
        help="Sum of churn probability × MRR × 12 over the matching accounts",
        border=True,
    )
    cards[2].metric("MRR of matching accounts", fmt.money(page.mrr), border=True)
    cards[3].metric("High or critical", fmt.count(page.high_or_critical), border=True, help=cache.tier_legend(data_dir))
    st.caption(cache.tier_legend(data_dir))
else:
    st.caption(f"{fmt.count(len(frame))} active accounts in {book} on **{fmt.day(page.as_of)}**, largest MRR first")
    cards[1].metric("MRR of matching accounts", fmt.money(page.mrr), border=True)
    cards[2].metric("ARR of matching accounts", fmt.money(page.mrr * 12), border=True, help="MRR × 12")
if not viewer.can_open("overview"):  # leaders have the briefing on the Overview
    with st.expander("AI briefing on your book", icon=":material/auto_awesome:"):
        ai.book_briefing(data_dir, viewer)

if page.total == 0:
    st.info(
        "No account in "
        + book
        + " matches these filters ("
        + "; ".join(board.describe_filters(filters))
        + "). Widen or clear them to see accounts again.",
        icon=":material/filter_alt_off:",
    )
    st.button("Clear filters", icon=":material/filter_alt_off:", on_click=clear_filters, key="bf_clear")
    st.stop()

rows = page.rows.assign(
    open=lambda d: "customer_360?customer_id=" + d["customer_id"],
    # One decimal, as everywhere else ("67.2%"; the percent preset wrote "67.17%" next to "47%").
    churn_percent=lambda d: d["churn_probability"] * 100,
    interval=lambda d: [f"{lo * 100:.0f}–{hi * 100:.0f}%" for lo, hi in zip(d["ci_low"], d["ci_high"], strict=True)],
    risk_tier=lambda d: d["risk_tier"].str.capitalize(),
    plan_tier=lambda d: d["plan_tier"].map(fmt.label, na_action="ignore"),
    archetype=lambda d: d["archetype"].fillna(fmt.MISSING),
    top_driver=lambda d: top_driver_text(d["top_driver"]),
    mrr_text=lambda d: d["mrr"].map(fmt.money),
    at_risk_text=lambda d: d["revenue_at_risk"].map(fmt.money),
    value_text=lambda d: [
        f"{fmt.money(v)} ({fmt.money(lo)}–{fmt.money(hi)})"
        for v, lo, hi in zip(
            d["expected_revenue_12m"], d["expected_revenue_12m_low"], d["expected_revenue_12m_high"], strict=True
        )
    ],
)
selection = st.dataframe(
    rows,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="board_table",
    # a column no account has a value in (not loaded) is left out
    column_order=[
        c
        for c in BOARD_COLUMNS
        if (c not in EMPTY_UNLESS_LOADED or frame[c].notna().any())
        and (scored or c not in SCORED_ONLY)
        and (viewer.sees_everyone or c != "csm_owner")  # a CSM's board is their own book
    ],
    column_config={
        "open": st.column_config.LinkColumn("360", display_text="Open", width=44, help="Open Customer 360"),
        "name": st.column_config.TextColumn("Account", width=140),
        "at_risk_text": st.column_config.TextColumn("ARR at risk", help="Churn probability × MRR × 12", width=85),
        "churn_percent": st.column_config.ProgressColumn(
            "Churn (90 d)", format="%.1f%%", min_value=0.0, max_value=100.0, width=95
        ),
        "risk_tier": st.column_config.TextColumn("Tier", width=65),
        "recommended_action": st.column_config.TextColumn(
            "Recommended action", width=190, help="Hover a cell for the whole text"
        ),
        "top_driver": st.column_config.TextColumn(
            "Top driver",
            width=145,
            help="The strongest reason raising this account's risk, one a CSM can act on first",
        ),
        "days_to_renewal": st.column_config.NumberColumn(
            "Renewal", format="%d d", width=70, help="Days until the contract renews"
        ),
        "mrr_text": st.column_config.TextColumn("MRR", width="small"),
        "interval": st.column_config.TextColumn(
            "90% interval", width="small", help="The model's 90% interval: " + INTERVAL_MEANING
        ),
        "value_text": st.column_config.TextColumn(
            "LTV, 12 mo",
            help="Expected revenue over the next 12 months from MRR and churn survival (90% range)",
            width="medium",
        ),
        "plan_tier": st.column_config.TextColumn("Plan", width="small"),
        "csm_owner": st.column_config.TextColumn("Owner", width="small"),
        "archetype": st.column_config.TextColumn(
            "Segment", width=150, help="Behavioural segment (archetype) at the data's latest day"
        ),
    },
)

chosen = selection.selection.rows if selection is not None else []
with st.container(horizontal=True, vertical_alignment="center"):
    if chosen:
        picked = page.rows.iloc[chosen[0]]
        if st.button(f"Open Customer 360: {picked['name']}", type="primary", icon=":material/person_search:"):
            st.switch_page("views/customer_360.py", query_params={"customer_id": picked["customer_id"]})
    else:
        st.caption("Select a row (or use its Open link) to see the account's Customer 360.", width="content")
    st.space("stretch")
    st.selectbox(
        "Rows per page",
        PAGE_SIZES,
        key="board_page_size",
        label_visibility="collapsed",
        width=110,
        format_func=lambda n: f"{n} rows",
    )
    st.session_state["board_page"] = page.page  # clamped to the pages there are
    st.number_input(
        "Page", min_value=1, max_value=page.pages, key="board_page", label_visibility="collapsed", width=110
    )
    st.caption(f"page {page.page} of {page.pages}", width="content")
    st.download_button(
        "Download CSV",
        lambda: exports.csv_text(board.export_frame(page.matching)),  # built only when clicked
        file_name=f"risk_board_{page.as_of}.csv",
        mime="text/csv",
        icon=":material/download:",
        help="Every matching account, not only this page",
    )
