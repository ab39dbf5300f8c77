"""Ask AI: questions about one account, questions about the portfolio, outreach drafts and
next-best actions. Everything is grounded in the warehouse, checked and audited."""

from __future__ import annotations

import streamlit as st

from components import account_tools, ai
from components.shared import auth, cache
from components.shared import format as fmt
from engine import ai as llm
from engine.accounts import customer
from engine.ai import portfolio_sql
from engine.core import exports
from engine.core.errors import RadarError

viewer = auth.require_viewer("ai_qa")
data_dir = cache.current_data_dir()
st.title("Ask AI")
st.caption(
    "Answers come only from the warehouse's facts; figures are checked against them and anything the data "
    "cannot answer is refused. Every output is labelled, scored for confidence and kept in the audit log."
)


def choose_account() -> tuple[str | None, str]:
    """The account the customer tabs work on (id and name): from the link, or picked from the viewer's book."""
    linked = st.query_params.get("customer_id", "").strip()
    text = st.text_input(
        "Account", value="", placeholder="Search your accounts by name or id", icon=":material/search:"
    )
    if text.strip():
        found = cache.search_customers(data_dir, viewer, text)
        if found.empty:
            st.info("No account in your book matches that.", icon=":material/search_off:")
            return None, ""
        names = {r.customer_id: str(r.name) for r in found.itertuples()}
        labels = {r.customer_id: f"{r.name} · {r.plan_tier} · {r.status}" for r in found.itertuples()}
        chosen = st.selectbox("Matching accounts", list(labels), format_func=labels.get)
        st.query_params["customer_id"] = chosen
        return chosen, names[chosen]
    if not linked:
        return None, ""
    # Opened from a Customer 360: say which account the questions are about.
    found = cache.search_customers(data_dir, viewer, linked)
    match = found[found["customer_id"] == linked] if not found.empty else found
    if match.empty:  # said at once, as Customer 360 does, and the same for an id that does not exist
        st.error(customer.NOT_IN_BOOK_MESSAGE, icon=":material/lock:")
        return None, ""
    row = match.iloc[0]
    st.markdown(f"Asking about **{ai.inert(str(row['name']))}** · {ai.inert(str(row['plan_tier']))} · `{linked}`")
    return linked, str(row["name"])


def show_error(exc: RadarError) -> None:
    st.error(str(exc), icon=":material/error:")


customer_tab, portfolio_tab, draft_tab, actions_tab = st.tabs(
    ["Ask about an account", "Ask about the portfolio", "Draft outreach", "Next-best actions"]
)

with portfolio_tab:
    askable, example = portfolio_sql.askable(cache.warehouse(data_dir))
    st.markdown(
        f"Ask about accounts by {askable}, or about the book's net revenue retention and churn."
        + (" You see your own book only." if not viewer.sees_everyone else "")
    )
    with st.form("portfolio_question"):
        question = st.text_input("Question", placeholder=example)
        asked = st.form_submit_button("Ask", icon=":material/send:", key="ask_portfolio")
    if asked:
        try:
            ai.remember(("portfolio",), cache.ai_portfolio(data_dir, viewer, question))
        except RadarError as exc:
            show_error(exc)
    answer = ai.recall(("portfolio",))
    if answer is not None:
        if answer.refused or answer.scope_exceeded:
            ai.refusal(answer.refusal_reason or answer.answer)
        else:
            ai.text(answer.answer, answer)
            if len(answer.interpretation) > 1:
                st.caption(ai.inert("; ".join(answer.interpretation[1:])))
            ai.portfolio_table(answer.table)
            if answer.truncated:
                st.caption(f"Showing the first {fmt.count(len(answer.table))} rows.")
            st.download_button(
                "Download CSV",
                exports.csv_text(answer.table),
                file_name="portfolio_answer.csv",
                mime="text/csv",
                icon=":material/download:",
            )
        if answer.sql_display:
            with st.expander("The SQL behind the answer"):
                st.code(answer.sql_display, language="sql")
        ai.provenance(answer)

with customer_tab:
    account, account_name = choose_account()
    if account is None:
        st.caption("Pick an account (or open this page from a Customer 360) to ask about it.")
        account_tools.most_at_risk_links(data_dir, viewer, "views/ai_qa.py")
    else:
        history_key = ("chat", account)
        history = ai.recall(history_key) or []
        for turn in history:
            with st.chat_message("user"):
                st.markdown(ai.inert(turn.question))
            with st.chat_message("assistant", avatar=":material/radar:"):
                if turn.scope_exceeded:
                    ai.refusal(turn.answer)
                else:
                    ai.text(turn.answer, turn)
                ai.provenance(turn)
        with st.form("ask_customer", clear_on_submit=True):
            question = st.text_input("Your question", placeholder="Why is this account at risk?")
            asked = st.form_submit_button("Ask", icon=":material/send:", key="ask_account")
        if asked:
            try:
                ai.remember(history_key, [*history, cache.ai_ask(data_dir, viewer, account, question)])
                st.rerun()
            except RadarError as exc:
                show_error(exc)

with draft_tab:
    if account is None:
        st.caption("Pick an account on the first tab to draft a message to it.")
    else:
        st.markdown(f"Drafting to **{ai.inert(account_name)}** · `{account}`")
        cols = st.columns(4)
        suggested = cache.ai_suggested_goal(data_dir, viewer, account)
        goal = cols[0].selectbox(
            "Goal",
            llm.GOALS,
            index=llm.GOALS.index(suggested),
            format_func=lambda g: g.replace("_", " ").capitalize(),
            help="Starts at the goal that fits the account's recommended next step.",
            key=f"draft_goal_{account}",
        )
        channel = cols[1].selectbox("Channel", llm.CHANNELS, format_func=lambda c: c.replace("_", " "))
        tone = cols[2].selectbox("Tone", llm.TONES)
        length = cols[3].selectbox("Length", llm.LENGTHS, index=1)
        key = ("draft", account, goal, channel, tone, length)
        if st.button("Draft message", icon=":material/edit_note:"):
            try:
                ai.remember(key, cache.ai_draft(data_dir, viewer, account, goal, channel, tone, length))
            except RadarError as exc:
                show_error(exc)
        draft = ai.recall(key)
        if draft is not None:
            # The disclaimer is for the reader here, not the customer: it stays out of the text to send.
            st.warning(f"{ai.review_note(draft)} Read every line before sending.", icon=":material/rate_review:")
            edited = st.text_area(
                "Message (edit before sending)",
                value=llm.strip_disclaimer(draft.message),
                height=260,
                key=f"draft_{hash(key)}",
            )
            st.caption("Copy it with the icon on the block below; it follows your edits above.")
            st.code(edited, language=None, wrap_lines=True)
            if draft.personalization_applied:
                st.caption("Personalised with: " + ", ".join(draft.personalization_applied))
            ai.provenance(draft)

with actions_tab:
    if account is None:
        st.caption("Pick an account on the first tab to plan its next-best actions.")
    else:
        st.markdown(f"Next-best actions for **{ai.inert(account_name)}** · `{account}`")
        key = ("actions", account)
        if st.button("Plan next-best actions", icon=":material/checklist:"):
            try:
                ai.remember(key, cache.ai_actions(data_dir, viewer, account))
            except RadarError as exc:
                show_error(exc)
        plan = ai.recall(key)
        if plan is not None:
            if plan.revenue_at_risk is not None:
                st.metric("ARR at risk", fmt.money(plan.revenue_at_risk), border=True)
            ai.text(plan.narrative, plan)
            for a in plan.actions:
                with st.container(border=True):
                    st.markdown(f"**{a.priority}. {a.action}**")
                    st.caption(f"{a.category.replace('_', ' ')} · within {a.due_within_days} days · {a.reasoning}")
            if plan.warnings:
                st.markdown("**Warnings**")
                for w in plan.warnings:
                    st.markdown(f"- {w}")
            if plan.talking_points:
                st.markdown("**Talking points**")
                for t in plan.talking_points:
                    st.markdown(f"- {t}")
            ai.provenance(plan)
