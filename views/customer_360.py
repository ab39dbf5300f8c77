"""Customer 360 (`?customer_id=`): why an account is at risk and what to do about it."""

from __future__ import annotations

import streamlit as st

from components import account_tables, account_tools, ai, charts, html_charts, segment_view
from components.shared import auth, cache, status
from components.shared import format as fmt
from components.shared.markdown import plain
from engine.accounts.customer import USAGE_WEEKS, NotInBookError
from engine.churn import risk
from engine.churn.spread import MEANING as INTERVAL_MEANING
from engine.core.errors import NotFoundError, RadarError
from engine.core.renewal import billed_words

viewer = auth.require_viewer("customer_360")
data_dir = cache.current_data_dir()
customer_id = st.query_params.get("customer_id", "").strip()
NOT_LOADED = "{what} are not loaded for any account, so there is nothing to show here (an admin loads `{table}` on the Data page)."


def pick_account() -> None:
    """No id in the link: let the user find an account in their book."""
    st.title("Customer 360")
    text = st.text_input("Find an account", placeholder="Name or customer id", icon=":material/search:")
    if not text.strip():
        st.caption("Type part of a name or id, or open an account from the risk board.")
        account_tools.most_at_risk_links(data_dir, viewer, "views/customer_360.py")
        st.stop()
    found = cache.search_customers(data_dir, viewer, text)
    if found.empty:
        st.info("No account in your book matches that.", icon=":material/search_off:")
        st.stop()
    for row in found.itertuples():
        st.page_link(
            "views/customer_360.py",
            label=f"{plain(row.name)} · {plain(row.plan_tier)} · {row.status}",
            query_params={"customer_id": row.customer_id},
            icon=":material/person:",
        )
    st.stop()


if not customer_id:
    pick_account()

stamp = cache.snapshot_stamp(data_dir)

try:
    c360 = cache.customer_360(data_dir, cache.viewer_key(viewer), customer_id, stamp)
except NotInBookError as exc:
    st.title("Customer 360")
    st.error(str(exc), icon=":material/lock:")
    st.page_link("views/risk_board.py", label="Back to your risk board", icon=":material/arrow_back:")
    st.stop()
except NotFoundError as exc:
    st.title("Customer 360")
    st.error(str(exc), icon=":material/person_off:")
    st.page_link("views/risk_board.py", label="Back to the risk board", icon=":material/arrow_back:")
    st.stop()
except RadarError as exc:
    st.title("Customer 360")
    st.error(str(exc), icon=":material/error:")
    st.stop()

p, pred = c360.profile, c360.prediction
figures = cache.customer_charts(data_dir, cache.viewer_key(viewer), customer_id, stamp)
missing = set(c360.not_loaded)  # what the company never loaded is left out, not called "unknown"
st.title(plain(p.name))
st.caption(
    " · ".join(
        [
            *([plain(p.customer_id)] if p.customer_id != p.name else []),
            *([f"{plain(p.plan_tier, 'no')} plan"] if "plan_tier" not in missing else []),
            *([plain(p.industry, "industry unknown")] if "industry" not in missing else []),
            *([plain(p.region, "region unknown")] if "region" not in missing else []),
            *([f"owner **{plain(p.csm_owner, 'unassigned')}**"] if "csm_owner" not in missing else []),
            f"data as of {fmt.day(c360.as_of)}",
        ]
    )
)
if p.status != "active":
    st.warning(f"This account churned on {fmt.day(p.churn_date)}.", icon=":material/person_off:")

header = iter(st.columns(4))
next(header).metric("MRR", fmt.money(p.mrr), border=True, help=f"ARR {fmt.money(p.arr)}")
next(header).metric("Tenure", fmt.tenure(p.tenure_days), border=True, help=f"since {fmt.day(p.signup_date)}")
if "renewal" not in missing:
    next(header).metric(
        f"Renewal {fmt.day(p.renewal_date)}" if p.renewal_date else "Renewal",
        fmt.days(p.days_to_renewal) if p.renewal_date else "—",
        border=True,
        help=plain(billed_words(p.billing_cycle)) if p.billing_cycle else None,
    )
if "seats" not in missing:
    next(header).metric("Seats", fmt.count(p.seats), border=True)
known = [
    *([f"GTM stage **{plain(str(p.gtm_stage).replace('_', ' '))}**"] if p.gtm_stage else []),
    *([plain(billed_words(p.billing_cycle))] if p.billing_cycle else []),
]
if known:  # a company that loaded neither has nothing to say here, not "unknown" twice
    st.caption(" · ".join(known))
if c360.attributes:  # the company's own account columns (acquisition channel, company size ...)
    st.caption(
        " · ".join(f"{plain(k.replace('_', ' '))}: **{plain(fmt.value(v))}**" for k, v in c360.attributes.items())
    )

for note in c360.notes:
    st.info(plain(note), icon=":material/info:")
ready = cache.readiness(data_dir)
if not ready.ready:
    status.unavailable(ready)

if pred is not None and ready.ready:
    risk_col, action_col = st.columns([1, 1.4], gap="medium")
    history = c360.score_is_history  # churned since: what the model said then, not a task now
    with risk_col.container(border=True):
        st.markdown("#### Churn risk when last scored" if history else "#### Churn risk (next 90 days)")
        tier = pred.risk_tier
        color = charts.RISK_TIER_COLORS.get(tier, "#64748B")
        st.markdown(
            f"<span style='font-size:2.4rem;font-weight:700'>{fmt.percent(pred.churn_probability)}</span> "
            f"<span style='background:{color};color:white;border-radius:0.5rem;padding:0.15rem 0.6rem;"
            f"font-weight:600'>{tier.upper()}</span>",
            unsafe_allow_html=True,
        )
        at_risk = "" if history else f"ARR at risk {fmt.money(pred.revenue_at_risk)} · "
        st.caption(
            f"90% interval {fmt.percent(pred.ci_low)} – {fmt.percent(pred.ci_high)} · "
            f"{at_risk}model `{pred.model_version}`, scored as of {fmt.day(pred.as_of)}",
            help="The 90% interval is " + INTERVAL_MEANING,
        )
        st.caption(cache.tier_legend(data_dir))
        account_tools.risk_components(c360.components, pred.risk_score, c360.tenure_days)
    with action_col.container(border=True):
        st.markdown("#### Recommended action")
        if history:
            st.caption(
                f"None now: the account churned on {fmt.day(p.churn_date)}. On {fmt.day(pred.as_of)} the model "
                f"recommended: {plain(pred.recommended_action, 'nothing')}"
            )
        else:
            st.info(plain(pred.recommended_action), icon=":material/task_alt:")
        st.markdown("#### Why: the drivers behind the score")
        if pred.top_shap_features:
            html_charts.show(figures.drivers)
            # Stored actionable first (the chart is by size): said in two groups, so the order reads as meant.
            can_act = [d for d in pred.top_shap_features if d.actionable]
            rest = [d for d in pred.top_shap_features if not d.actionable]
            for heading, group in (("✦ You can act on", can_act), ("Also in the score", rest)):
                if group and can_act:
                    st.markdown(f"**{heading}**")
                for d in group:
                    arrow = ":red[▲]" if d.shap_impact > 0 else ":green[▼]"
                    st.markdown(f"{arrow} {plain(d.reason)}")
        else:
            st.caption("No drivers were stored with this score.")

account_tools.peers_strip(data_dir, viewer, c360.customer_id, stamp)
segment_view.segment_panel(data_dir, viewer, p, stamp)
if account_tools.can_what_if(viewer) and pred is not None and ready.ready and not c360.score_is_history:
    account_tools.what_if_panel(data_dir, viewer, c360.customer_id, stamp)

usage_col, support_col = st.columns([1.4, 1], gap="medium")
with usage_col.container(border=True):
    v = c360.velocity
    young = p.tenure_days < USAGE_WEEKS * 7  # "last 26 weeks" of a 5-day-old account
    st.markdown(f"#### Product usage ({f'since {fmt.day(p.signup_date)}' if young else f'last {USAGE_WEEKS} weeks'})")
    m = st.columns(3)
    m[0].metric(
        "Events, last 30 days",
        fmt.count(v.events_last_30d),
        delta=fmt.percent(v.change_30d) if v.change_30d is not None else None,
        help="Change versus the 30 days before",
    )
    m[1].metric(
        "Usage decay",
        f"{v.usage_decay_score:.2f}" if v.usage_decay_score is not None else "—",
        help="max(0, 1 − last 30 days / previous 30 days)"
        + ("" if v.usage_decay_score is not None else f". Not measured yet: {risk.decay_unmeasured(p.tenure_days)}."),
    )
    m[2].metric(  # a bare number: "12 days ago" was cut off in a third of this half-width box at 1280 px
        "Days since used",
        fmt.count(v.days_since_last_event) if v.days_since_last_event is not None else "never",
        help="Days since the account's last product event",
    )
    if c360.usage_weekly.empty:
        st.caption(f"No product usage recorded in the last {USAGE_WEEKS} weeks.")
    elif c360.usage_weekly["week"].nunique() < 2:  # one week is a sliver at the chart's edge, not a trend
        st.caption(account_tools.first_week_usage(c360.usage_weekly))
    else:
        html_charts.show(figures.usage)
with support_col.container(border=True):
    s = c360.support
    st.markdown("#### Support health")
    if "support_tickets" in missing:
        st.caption(NOT_LOADED.format(what="Support tickets", table="support_tickets"))
    else:
        m = st.columns(3)
        m[0].metric("Open tickets", fmt.count(s.open_tickets), help=f"{s.open_high_priority} high priority")
        m[1].metric("Tickets, 90 days", fmt.count(s.tickets_90d))
        m[2].metric("CSAT (90 d)", f"{s.csat_avg_90d:.1f}" if s.csat_avg_90d is not None else "—")
        if s.avg_resolution_hours_90d is not None:
            st.caption(f"Average resolution time over 90 days: {s.avg_resolution_hours_90d:.0f} hours")
        account_tables.tickets_table(c360.tickets)

mrr_col, opp_col = st.columns([1, 1], gap="medium")
with mrr_col.container(border=True):
    # Lifetime value weighs MRR by churn survival: without a score there is none to show.
    st.markdown("#### Revenue and lifetime value" if c360.ltv else "#### Revenue")
    if not c360.ltv and p.status == "active":
        st.caption("Expected revenue and lifetime value come with the account's churn score.")
    if c360.ltv:
        cols = st.columns(len(c360.ltv) + 1)
        cols[0].metric(
            "Revenue to date",
            fmt.money(c360.ltv[0].current_ltv),
            help="MRR summed over every month billed so far, the current month included.",
        )
        for col, value in zip(cols[1:], c360.ltv, strict=True):
            band = value.confidence_interval
            col.metric(
                f"Next {value.horizon_months} months",
                fmt.money(value.incremental_ltv),
                help=f"Expected revenue if MRR holds, weighted by churn survival; "
                f"{band.level:.0%} range {fmt.money(band.lower - value.current_ltv)} – "
                f"{fmt.money(band.upper - value.current_ltv)}. Lifetime value at "
                f"{value.horizon_months} months: {fmt.money(value.forecasted_ltv)}.",
            )
    if c360.mrr_history.empty:
        st.caption("No MRR recorded.")
    else:
        html_charts.show(figures.mrr)
if "subscriptions" not in missing:
    with opp_col.container(border=True):
        st.markdown("#### Subscriptions")
        account_tables.subscriptions_box(c360.subscriptions, c360.as_of)
with opp_col.container(border=True):
    st.markdown("#### Opportunities")
    if "gtm_opportunities" in missing:
        st.caption(NOT_LOADED.format(what="Opportunities", table="gtm_opportunities"))
    elif c360.opportunities.empty:
        st.caption("No opportunities recorded.")
    else:
        account_tables.opportunities_table(c360.opportunities)

with st.container(border=True):
    st.markdown("#### AI summary")
    audience = st.segmented_control(
        "Audience",
        ["csm", "executive"],
        default="executive" if viewer.role == "executive" else "csm",
        format_func={"csm": "For the CSM (tactical)", "executive": "For an executive (revenue)"}.get,
        key="ai_audience",
    )
    key = ("summary", c360.customer_id, audience, stamp)
    if st.button("Write summary", icon=":material/auto_awesome:", key="ai_summary_button"):
        try:
            ai.remember(key, cache.ai_summary(data_dir, viewer, c360.customer_id, audience or "csm"))
        except RadarError as exc:
            st.error(str(exc), icon=":material/error:")
    summary = ai.recall(key)
    if summary is None:
        st.caption("A 3–5 sentence summary grounded in this account's figures; every number is checked.")
    else:
        ai.text(summary.summary, summary)
        ai.provenance(summary)
    st.page_link(
        "views/ai_qa.py",
        label="Ask a question, draft outreach or plan next actions",
        query_params={"customer_id": c360.customer_id},
        icon=":material/forum:",
    )
