"""Customer 360's recent tickets and opportunities as static HTML, drawn with the page.

An account has a few dozen rows at most: an interactive grid would load its own bundle and
paint a canvas after the page has appeared. Text from the customer's systems (subjects,
topics, stages, owners) is escaped (`html_charts.esc`) and shows exactly as written.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from components.html_charts import esc
from components.shared import format as fmt

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


OPPORTUNITY_COLUMNS = (  # (heading, column, right-aligned)
    ("Type", "opportunity_type", False),
    ("Stage", "stage", False),
    ("Amount", "amount", True),
    ("Close date", "close_date", False),
    ("Owner", "owner", False),
)


def _opportunity_cell(column: str, value: Any) -> str:
    if column == "amount":
        return _number(value, "${:,.0f}")
    if column == "close_date":
        return _day(value)
    return _one_line(value)


def opportunities_html(opportunities: pd.DataFrame) -> str:
    """The account's opportunities as a compact table, latest close date first."""
    cell = (
        "padding:0.3rem 0.6rem 0.3rem 0;border:none;border-bottom:1px solid #E2E8F0;vertical-align:top;background:none"
    )
    head = "".join(
        f"<th style='{cell};font-weight:400;color:#64748B;text-align:{'right' if right else 'left'}'>{esc(h)}</th>"
        for h, _c, right in OPPORTUNITY_COLUMNS
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td style='{cell};text-align:{'right' if right else 'left'};overflow-wrap:anywhere'>"
            f"{esc(_opportunity_cell(column, getattr(row, column)))}</td>"
            for _h, column, right in OPPORTUNITY_COLUMNS
        )
        + "</tr>"
        for row in opportunities.itertuples(index=False)
    )
    return (
        "<div data-radar-opportunities style='font-size:0.875rem;line-height:1.35'>"
        "<table style='width:100%;border-collapse:collapse;border:none;margin:0'>"
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def tickets_table(tickets: pd.DataFrame) -> None:
    if tickets.empty:
        st.caption("No tickets recorded.")
        return
    st.caption("Recent tickets")
    st.markdown(tickets_html(tickets), unsafe_allow_html=True)


def opportunities_table(opportunities: pd.DataFrame) -> None:
    st.markdown(opportunities_html(opportunities), unsafe_allow_html=True)
