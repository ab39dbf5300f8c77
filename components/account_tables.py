"""Customer 360's recent tickets and opportunities as static HTML, drawn with the page.

An account has a few dozen rows at most: an interactive grid would load its own bundle and
paint a canvas after the page has appeared. Text from the customer's systems (subjects,
topics, stages, owners) is escaped (`html_charts.esc`) and shows exactly as written.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

import pandas as pd
import streamlit as st

from components.html_charts import esc
from components.html_tables import Column, table_html
from components.shared import format as fmt
from engine.core.renewal import billing_cycle_text

TICKETS_HEIGHT = 260  # px; more tickets scroll
URGENT = frozenset({"high", "urgent"})
NBSP = "\u00a0"


def _day(value: Any) -> str:
    if fmt.is_missing(value):
        return fmt.MISSING
    return pd.Timestamp(value).strftime("%-d %b %Y").replace(" ", NBSP)  # a date never wraps


def _number(value: Any, form: str) -> str:
    if fmt.is_missing(value) or (isinstance(value, float) and not math.isfinite(value)):
        return fmt.MISSING
    return form.format(float(value))


def _one_line(value: Any, missing: str = fmt.MISSING) -> str:
    return missing if fmt.is_missing(value) else " ".join(str(value).split()) or missing


def _ticket(row: Any) -> str:
    """One ticket: its subject, then opened, priority, status, topic and CSAT in a muted line."""
    priority = "" if fmt.is_missing(row.priority) else str(row.priority)
    shown = esc(priority or fmt.MISSING)
    if priority.lower() in URGENT:
        shown = f"<b style='color:#B91C1C'>{shown}</b>"
    facts = [esc(_day(row.opened_at)), shown, esc(_one_line(row.status)), esc(_one_line(row.topic))]
    csat = _number(row.csat, "{:.1f}")
    if csat != fmt.MISSING:
        facts.append(f"CSAT {esc(csat)}")
    return (
        "<div style='padding:0.35rem 0;border-bottom:1px solid #E2E8F0'>"
        f"<div style='color:#1E293B'>{esc(_one_line(row.subject, 'no subject'))}</div>"
        f"<div style='font-size:0.8rem;color:#64748B'>{' · '.join(facts)}</div></div>"
    )


def tickets_html(tickets: pd.DataFrame) -> str:
    """The account's recent tickets, newest first, in a box that scrolls past TICKETS_HEIGHT."""
    items = "".join(_ticket(row) for row in tickets.itertuples(index=False))
    return (
        f"<div data-radar-tickets style='max-height:{TICKETS_HEIGHT}px;overflow-y:auto;font-size:0.9rem;"
        f"line-height:1.35;border-top:1px solid #E2E8F0'>{items}</div>"
    )


OPPORTUNITY_COLUMNS = (
    Column("opportunity_type", "Type"),
    Column("stage", "Stage"),
    Column("amount", "Amount", right=True),
    Column("close_date", "Close date"),
    Column("owner", "Owner"),
)


def opportunities_html(opportunities: pd.DataFrame) -> str:
    """The account's opportunities as a compact table, latest close date first."""
    shown = pd.DataFrame(
        {
            "opportunity_type": opportunities["opportunity_type"].map(_one_line),
            "stage": opportunities["stage"].map(_one_line),
            "amount": [_number(v, "${:,.0f}") for v in opportunities["amount"]],
            "close_date": opportunities["close_date"].map(_day),
            "owner": opportunities["owner"].map(_one_line),
        }
    )
    return table_html(shown, OPPORTUNITY_COLUMNS, "opportunities")


SUBSCRIPTION_COLUMNS = (
    Column("product", "Product"),
    Column("mrr", "MRR", right=True, nowrap=True),
    Column("quantity", "Quantity", right=True),
    Column("billed", "Billed", nowrap=True),
    Column("discount", "Discount", right=True),
    Column("term", "Current term", nowrap=True),
)


def subscriptions_html(subscriptions: pd.DataFrame) -> str:
    """What the account pays for on the data date (`Customer360.subscriptions`), largest first."""
    shown = pd.DataFrame(
        {
            "product": subscriptions["product"].map(_one_line),
            "mrr": [_number(v, "${:,.0f}") for v in subscriptions["mrr"]],
            "quantity": [_number(v, "{:,.0f}") for v in subscriptions["quantity"]],
            "billed": [billing_cycle_text(m) or fmt.MISSING for m in subscriptions["bill_period_months"]],
            "discount": [
                "" if fmt.is_missing(v) or not v else _number(100 * float(v), "{:.0f}%")
                for v in subscriptions["discount"]
            ],
            "term": [
                f"{_day(a)} – {_day(b) if not fmt.is_missing(b) else 'open'}"
                for a, b in zip(subscriptions["start_date"], subscriptions["end_date"], strict=True)
            ],
        }
    )
    # Quantity and discount only when some row has one (many companies bill neither).
    blank = {k: shown[k].isin([fmt.MISSING, ""]).all() for k in ("quantity", "discount")}
    return table_html(shown, tuple(c for c in SUBSCRIPTION_COLUMNS if not blank.get(c.key)), "subscriptions")


def subscriptions_box(subscriptions: pd.DataFrame, as_of: Any) -> None:
    """The running subscriptions and when the current term ends (Customer 360)."""
    if subscriptions.empty:
        st.caption(f"No subscription running on {fmt.day(as_of)}.")
        return
    ends = pd.to_datetime(subscriptions["end_date"]).dropna()
    if len(ends):
        first = ends.min().date()
        days = (first - pd.Timestamp(as_of).date()).days
        st.caption(f"Current term ends **{fmt.day(first)}**, in {fmt.days(days)}.")
    st.markdown(subscriptions_html(subscriptions), unsafe_allow_html=True)


def tickets_table(tickets: pd.DataFrame) -> None:
    if tickets.empty:
        st.caption("No tickets recorded.")
        return
    st.caption("Recent tickets")
    st.markdown(tickets_html(tickets), unsafe_allow_html=True)


def opportunities_table(opportunities: pd.DataFrame) -> None:
    st.markdown(opportunities_html(opportunities), unsafe_allow_html=True)


NOTHING_RAISES = "Nothing raises its risk"


def top_driver_text(top_driver: pd.Series) -> pd.Series:
    """The stored top driver, or plainly that no reason raises the account's risk (stored as
    null, which a table would print as "None")."""
    return top_driver.fillna(NOTHING_RAISES)


TOP_ACCOUNT_COLUMNS = (
    Column("open", "360", link="Open", nowrap=True),
    Column("name", "Account", width="9rem"),
    Column("at_risk", "ARR at risk", right=True, nowrap=True, help="Churn probability × MRR × 12"),
    Column("churn", "Churn (90 d)", right=True, nowrap=True),
    Column("plan_tier", "Plan", nowrap=True),
    Column("csm_owner", "Owner", nowrap=True),
    Column("top_driver", "Top driver"),
)


def top_accounts_html(top: pd.DataFrame) -> str:
    """The overview's accounts with the most ARR at risk, the sorted column right after the
    account; "Open" goes to the account's Customer 360."""
    shown = pd.DataFrame(
        {
            "open": ["customer_360?customer_id=" + quote(str(c), safe="") for c in top["customer_id"]],
            "name": top["name"],
            "at_risk": top["revenue_at_risk"].map(fmt.money),
            "churn": top["churn_probability"].map(fmt.percent),
            "plan_tier": top["plan_tier"],
            "csm_owner": top["csm_owner"],
            "top_driver": top_driver_text(top["top_driver"]),
        }
    )
    # A plan or owner column of dashes only (a company that loaded neither) is left out.
    blank = {k for k in ("plan_tier", "csm_owner") if shown[k].map(fmt.is_missing).all()}
    return table_html(shown, tuple(c for c in TOP_ACCOUNT_COLUMNS if c.key not in blank), "top-at-risk")
