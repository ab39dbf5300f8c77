"""Rendering AI outputs: the text, its confidence, the review flag and what was checked.

AI calls are never cached or made on a plain rerun: each one is audited, so pages call
them from a button and keep the result in session state under `remember`/`recall`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.shared import cache
from components.shared import format as fmt
from components.shared.markdown import inert
from engine.ai import DISCLAIMER, AiOutput, strip_disclaimer
from engine.core.access import Viewer
from engine.core.errors import RadarError

_STORE = "_radar_ai_results"


def remember(key: tuple, result: AiOutput | list[AiOutput]) -> None:
    """Keep a result for the logged-in user (the session's state is wiped when the user changes)."""
    st.session_state.setdefault(_STORE, {})[(st.session_state.get("username"), *key)] = result


def recall(key: tuple):
    """The result kept for this key, only if the current user made it: never another user's."""
    return st.session_state.get(_STORE, {}).get((st.session_state.get("username"), *key))


def writer_label(result: AiOutput) -> str:
    """Which writer wrote the text, honestly: a model, or the built-in template."""
    if result.llm_provider == "groq":
        return f"Written by an AI model (Groq, `{result.model_used}`)"
    return "Written by the built-in template (no AI model)"


def provenance(result: AiOutput) -> None:
    """Who wrote it, how sure the checks are, and a review warning below 0.5.

    Confidence is the automatic checks' estimate that the text states only what the data
    says and answers what was asked; a template's text is capped at 0.9 (it restates facts
    in fixed sentences and cannot weigh them). See engine/ai/guardrails.py."""
    flags = ", ".join(result.guardrail_flags) or "none"
    st.caption(
        f"{writer_label(result)} · checks' confidence {result.confidence_score:.2f} · "
        f"flags: {flags} · {result.generated_at[:19].replace('T', ' ')} UTC"
    )
    if "provider_error" in result.guardrail_flags:
        st.caption(":orange[The AI provider failed, so the offline writer produced this from the same facts.]")
    if result.needs_review:
        st.warning(
            "**Needs review**: the automatic checks found problems (below). Check it against the account "
            "before using it.",
            icon=":material/rate_review:",
        )
    if result.guardrail_details:
        with st.expander("What the checks found"):
            for d in result.guardrail_details:
                code = d.get("code") or d.get("flag") or ""
                st.markdown(f"- **{inert(code)}**: {inert(str(d.get('detail') or d.get('message') or d))}")


TEMPLATE_NOTE = "⚠️ Written from the warehouse's facts by the built-in template, not an AI model. Review before use."


def review_note(result: AiOutput) -> str:
    """The review warning that fits the writer: the engine's AI disclaimer for a model's text,
    and no "AI-generated" claim for the template's (the caption below names the writer)."""
    return DISCLAIMER if result.llm_provider == "groq" else TEMPLATE_NOTE


def refusal(body: str) -> None:
    """A refusal: a fixed sentence, not generated text, so it carries no "AI-generated" note
    (the caption below names the writer)."""
    st.warning(inert(strip_disclaimer(body)), icon=":material/block:")


def text(body: str, result: AiOutput) -> None:
    """The generated text with its review note set apart; markdown in it is not live (`inert`)."""
    main = body.replace(DISCLAIMER, "").rstrip()
    st.markdown(inert(main))
    st.caption(review_note(result))


# Display names and formats of the portfolio view's columns (display only: CSV keeps raw values).
_PORTFOLIO_LABELS = {
    "customer_id": ("Customer ID", None),
    "name": ("Account", None),
    "plan_tier": ("Plan", None),
    "industry": ("Industry", None),
    "region": ("Region", None),
    "csm_owner": ("Owner (CSM)", None),
    "gtm_stage": ("GTM stage", None),
    "billing_cycle": ("Billing", None),
    "seats": ("Seats", "count"),
    "accounts": ("Accounts", "count"),
    "mrr": ("MRR", "money"),
    "arr": ("ARR", "money"),
    "total_mrr": ("Total MRR", "money"),
    "total_arr": ("Total ARR", "money"),
    "average_mrr": ("Average MRR", "money"),
    "average_arr": ("Average ARR", "money"),
    "revenue_at_risk": ("ARR at risk", "money"),
    "total_revenue_at_risk": ("ARR at risk", "money"),
    "total_mrr_at_risk": ("MRR at risk", "money"),
    "churn_probability": ("Churn probability", "percent"),
    "average_churn_probability": ("Average churn probability", "percent"),
    "ci_low": ("Churn probability (low)", "percent"),
    "ci_high": ("Churn probability (high)", "percent"),
    "risk_score": ("Risk score", "score"),
    "risk_tier": ("Risk tier", None),
    "renewal_date": ("Renewal date", "date"),
    "days_to_renewal": ("Days to renewal", "count"),
    "open_tickets": ("Open tickets", "count"),
    "total_seats": ("Total seats", "count"),
    "average_seats": ("Average seats", "decimal"),
    "open_high_priority_tickets": ("Open high-priority tickets", "count"),
    "events_last_30d": ("Events, last 30 days", "count"),
    "events_prev_30d": ("Events, previous 30 days", "count"),
    "tenure_days": ("Tenure (days)", "count"),
    "signup_date": ("Customer since", "date"),
    "recommended_action": ("Recommended action", None),
    "share_at_risk": ("Share of ARR at risk", "percent"),
    "total_expected_churns": ("Expected churns (90 days)", "decimal"),
    "median_mrr": ("Median MRR", "money"),
    "median_arr": ("Median ARR", "money"),
    "median_revenue_at_risk": ("Median ARR at risk", "money"),
    "median_mrr_at_risk": ("Median MRR at risk", "money"),
    "median_seats": ("Median seats", "decimal"),
    "median_open_tickets": ("Median open tickets", "decimal"),
    "median_churn_probability": ("Median churn probability", "percent"),
    # The book's retention figures (engine.ai.headline).
    "figure": ("Figure", None),
    "rate": ("Rate", "percent"),
    "period_start": ("From", "date"),
    "period_end": ("To", "date"),
    "cohort_customers": ("Customers at the start", "count"),
    "churned_customers": ("Churned", "count"),
    "mrr_lost": ("MRR lost", "money"),
    "rate_90_days_earlier": ("90 days earlier", "percent"),
}


def portfolio_display(frame: pd.DataFrame) -> pd.DataFrame:
    """A portfolio answer as people read it: money as the page's text writes it ("$2.4M", not
    "$2,401,808.06"), probabilities as percent numbers (one decimal), the rest as is. The CSV
    keeps the raw figures; rows come sorted by the answer's SQL."""
    shown = frame.copy()
    grouped = "customer_id" not in frame.columns
    for column in frame.columns:
        kind = _PORTFOLIO_LABELS.get(column, ("", None))[1]
        if kind == "money" and pd.api.types.is_numeric_dtype(frame[column]):
            shown[column] = frame[column].map(fmt.money)
        elif kind == "percent" and pd.api.types.is_numeric_dtype(frame[column]):
            shown[column] = frame[column] * 100
        elif kind is None and pd.api.types.is_string_dtype(frame[column]) and frame[column].isna().any():
            # A missing value read "None": a group of accounts without one is named as the answer
            # names it ("No country"), a list's blank cell is a dash.
            missing = f"No {str(column).replace('_', ' ')}" if grouped else fmt.MISSING
            shown[column] = frame[column].astype(object).where(frame[column].notna(), missing)
    return shown


def portfolio_column_config(frame: pd.DataFrame) -> dict:
    """st.dataframe column_config for `portfolio_display`'s frame: readable names and formats."""
    config = {}
    for column in frame.columns:
        label, kind = _PORTFOLIO_LABELS.get(column, (str(column).replace("_", " ").capitalize(), None))
        if kind == "percent" and pd.api.types.is_numeric_dtype(frame[column]):
            config[column] = st.column_config.NumberColumn(label, format="%.1f%%")
        elif kind in ("count", "decimal", "score") and pd.api.types.is_numeric_dtype(frame[column]):
            config[column] = st.column_config.NumberColumn(label, format="localized" if kind == "count" else "%.2f")
        elif kind == "date":
            config[column] = st.column_config.DateColumn(label, format="MMM D, YYYY")
        else:
            config[column] = st.column_config.TextColumn(label)
    return config


def portfolio_table(frame: pd.DataFrame) -> None:
    """A portfolio answer's table for people: the account's name first, its id last (a long id
    first pushed the figures the answer is about off the screen)."""
    shown = portfolio_display(frame)
    if {"name", "customer_id"} <= set(shown.columns) and shown["name"].astype(str).equals(
        shown["customer_id"].astype(str)
    ):
        shown = shown.drop(columns="customer_id")  # names default to the id: one column says it
    first = [c for c in _PORTFOLIO_FIRST if c in shown.columns]
    last = ["customer_id"] if "customer_id" in shown.columns else []
    order = first + [c for c in shown.columns if c not in (*first, *last)] + last
    st.dataframe(shown, hide_index=True, column_config=portfolio_column_config(shown), column_order=order)


# What portfolio questions are about, next to the account's name (the answer's own sort
# column, ARR at risk, was off the screen at 1440 px).
_PORTFOLIO_FIRST = ("name", "revenue_at_risk", "churn_probability", "risk_tier", "days_to_renewal", "mrr")


def book_briefing(data_dir: str, viewer: Viewer) -> None:
    """The button that writes the AI briefing on the viewer's book, and the briefing once written
    (kept for this user and warehouse snapshot)."""
    key = ("briefing", cache.snapshot_stamp(data_dir))
    if st.button("Write briefing", icon=":material/auto_awesome:", key="ai_briefing_button"):
        try:
            remember(key, cache.ai_briefing(data_dir, viewer))
        except RadarError as exc:
            st.error(str(exc), icon=":material/error:")
    briefing = recall(key)
    if briefing is None:
        book = "the book" if viewer.sees_everyone else "your book"
        st.caption(
            f"3–5 sentences on {book} from the Overview's figures: revenue, what is at risk and where, churn and "
            "retention. Every number is checked against them."
        )
        return
    text(briefing.briefing, briefing)
    provenance(briefing)
