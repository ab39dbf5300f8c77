"""The overview's behavioural segments: each archetype's size, realised churn (with its interval),
NRR and LTV, and the benchmarks of segments and plans against the whole book and last quarter.

Builders take engine results (`engine.segments.SegmentReport`,
`engine.accounts.peers.SegmentBenchmarks`) and return figures or display frames; the page
lays them out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from components import html_charts
from components.html_tables import Column, table_html
from components.shared import format as fmt
from components.shared.theme import PLAN_TIER_ORDER, ordered
from engine.segments import ARCHETYPES

ABOVE_COLOR, BELOW_COLOR, WITHIN_COLOR = "#DC2626", "#16A34A", "#6366F1"
BOOK_LINE_COLOR = "#334155"
GOOD_TEXT, BAD_TEXT = "#15803D", "#B91C1C"
NOT_ENOUGH_DATA = "Not enough data"
DIMENSIONS = {"segment": "Segments", "plan_tier": "Plans"}

# The benchmark figures: (key, how the value reads, how a difference reads, is higher better).
FIGURES: tuple[tuple[str, Callable[[Any], str], Callable[[Any], str], bool], ...] = (
    ("churn_rate_90d", fmt.percent, fmt.percent_points, False),
    ("nrr_12m", fmt.percent, fmt.percent_points, True),
    ("ltv_12m", fmt.money, fmt.signed_money, True),
)


def shown(report) -> list:
    """The archetypes worth a row: those with accounts in the viewer's book, in the report's order
    (risk patterns first), the accounts too young to classify last."""
    found = [a for a in report.archetypes if a.accounts > 0]
    return [a for a in found if a.name != NOT_ENOUGH_DATA] + [a for a in found if a.name == NOT_ENOUGH_DATA]


# -- segment breakdown ----------------------------------------------------------------------------
def _rated(report) -> list:
    return [a for a in shown(report) if a.churn_rate is not None and a.name != NOT_ENOUGH_DATA]


def chart_height(report) -> int:
    """The churn bars' height in px: a row per rated archetype, the book's label and the axis."""
    return html_charts.hbars_height(len(_rated(report)), reference=True)


def churn_bars(report) -> str:
    """Realised 90-day churn per archetype with its 90% interval, against the whole book's rate
    (a dashed line), the highest on top.

    A bar is red when its whole interval lies above the book's rate, green when below, indigo
    when the interval holds it (no clear difference)."""
    book = report.book_churn_rate

    def color(low: float, high: float) -> str:
        if book is not None and low > book:
            return ABOVE_COLOR
        if book is not None and high < book:
            return BELOW_COLOR
        return WITHIN_COLOR

    bars = [
        html_charts.Bar(
            label=a.name,
            value=float(a.churn_rate),
            color=color(a.churn_rate_interval.lower, a.churn_rate_interval.upper),
            tip=f"{a.name}: {a.churn_rate:.1%} churned within 90 days\n90% interval "
            f"{a.churn_rate_interval.lower:.1%} – {a.churn_rate_interval.upper:.1%}\n"
            f"{a.churn_observations:,} account-months · {a.accounts:,} accounts now",
            low=float(a.churn_rate_interval.lower),
            high=float(a.churn_rate_interval.upper),
        )
        for a in sorted(_rated(report), key=lambda a: -a.churn_rate)
    ]
    reference = (book, f"whole book {fmt.percent(book)}") if book is not None else None
    return html_charts.hbars("segment_churn", bars, html_charts.whole_percent, reference=reference)


def breakdown_frame(report) -> pd.DataFrame:
    """One row per archetype with accounts: what the overview's segment table shows."""
    rows = []
    for a in shown(report):
        band = a.churn_rate_interval
        rows.append(
            {
                "segment": a.name,
                "accounts": a.accounts,
                "share": a.share,
                "arr": a.mrr * 12,
                "churn_rate": a.churn_rate,
                "churn_interval": f"{fmt.percent(band.lower)} – {fmt.percent(band.upper)}" if band else fmt.MISSING,
                "nrr": a.nrr,
                "ltv_12m": a.ltv_12m,
                "motion": a.playbook.motion,
                # As people read them (the page shows these; the numbers above sort and export).
                "arr_text": fmt.money(a.mrr * 12),
                "churn_text": f"{fmt.percent(a.churn_rate)} ({fmt.percent(band.lower)}–{fmt.percent(band.upper)})"
                if band
                else fmt.percent(a.churn_rate),
                "nrr_text": fmt.percent(a.nrr),
                "ltv_text": fmt.money(a.ltv_12m),
            }
        )
    columns = ["segment", "accounts", "share", "arr", "churn_rate", "churn_interval", "nrr", "ltv_12m", "motion"]
    return pd.DataFrame(rows, columns=[*columns, "arr_text", "churn_text", "nrr_text", "ltv_text"])


def export_frame(report) -> pd.DataFrame:
    """Every archetype's figures for a CSV (the contract's field names)."""
    return pd.DataFrame(
        [
            {
                "archetype": a.name,
                "description": a.description,
                "accounts": a.accounts,
                "share": a.share,
                "mrr": a.mrr,
                "churn_rate": a.churn_rate,
                "churn_rate_low": a.churn_rate_interval.lower if a.churn_rate_interval else None,
                "churn_rate_high": a.churn_rate_interval.upper if a.churn_rate_interval else None,
                "churn_observations": a.churn_observations,
                "nrr": a.nrr,
                "ltv_12m": a.ltv_12m,
                "motion": a.playbook.motion,
                "channel": a.playbook.channel,
                "as_of": report.as_of,
            }
            for a in report.archetypes
        ]
    )


# -- benchmarks -----------------------------------------------------------------------------------
def _label(dimension: str, group: str) -> str:
    return fmt.label(group) if dimension == "plan_tier" else group


def benchmark_rows(bench, dimension: str) -> pd.DataFrame:
    """The whole book first, then each group of `dimension` (segment or plan_tier), with the
    raw figures and their differences vs the book and vs last quarter."""
    book = {"group": "Whole book", "accounts": bench.book.accounts, "accounts_prev": bench.book_previous.accounts}
    for key, *_ in FIGURES:
        book |= {key: getattr(bench.book, key), f"{key}_vs_book": None, f"{key}_vs_prev": bench.book_change.get(key)}
    rows = bench.rows
    part = rows[rows["dimension"] == dimension].set_index("group") if len(rows) else pd.DataFrame()
    known = tuple(a.name for a in ARCHETYPES) if dimension == "segment" else PLAN_TIER_ORDER
    groups = [
        {"group": _label(dimension, str(g)), **{k: part.loc[g].get(k) for k in book if k != "group"}}
        for g in ordered(part.index, known)
    ]
    return pd.DataFrame([book, *groups])


BREAKDOWN_COLUMNS = (
    Column("segment", "Segment", width="11rem"),
    Column("accounts_text", "Accounts", right=True, nowrap=True),
    Column("arr_text", "ARR", right=True, nowrap=True),
    Column(
        "churn_text",
        "Churn 90 d, pooled (interval)",
        right=True,
        help="Realised 90-day churn pooled over several past month ends (steadier than one window), with its "
        "90% interval; the table below gives the last 90 days alone",
    ),
    Column(
        "nrr_text",
        "NRR 12 mo, pooled",
        right=True,
        nowrap=True,
        help="MRR 12 months later over MRR then (0 once churned), pooled over the segment's accounts at several "
        "month ends; the table below gives the accounts of one date",
    ),
    Column(
        "ltv_text",
        "Next 12 mo value",
        right=True,
        nowrap=True,
        help="Expected revenue of the next 12 months per account, from its churn score (not counting revenue to "
        "date, which the LTV below adds)",
    ),
    Column("motion", "Playbook"),
)


def breakdown_html(table: pd.DataFrame) -> str:
    """`breakdown_frame` as the overview's segment table."""
    return table_html(table.assign(accounts_text=table["accounts"].map(fmt.count)), BREAKDOWN_COLUMNS, "segments")


# Each benchmark figure's heading and meaning; its two differences follow it.
FIGURE_HEADINGS = {
    "churn_rate_90d": ("Churn, 90 d", "Share of the accounts active 90 days ago that left since"),
    "nrr_12m": ("NRR, 12 mo", "MRR now over MRR 12 months ago of the accounts active then"),
    "ltv_12m": ("LTV", "Revenue to date plus the expected next 12 months, per scored account"),
}


def _benchmark_columns(dimension: str) -> tuple[Column, ...]:
    figures = []
    for key, *_ in FIGURES:
        heading, meaning = FIGURE_HEADINGS[key]
        figures += [
            Column(key, heading, right=True, nowrap=True, help=meaning),
            Column(f"{key}_vs_book", "vs book", right=True, nowrap=True),
            Column(f"{key}_vs_prev", "vs last qtr", right=True, nowrap=True),
        ]
    return (
        Column("group", DIMENSIONS[dimension][:-1], width="9rem"),
        Column("accounts", "Accounts", right=True),
        *figures,
    )


def benchmark_display(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """`benchmark_rows` as text, and the colour of each difference: green where the group does
    better than the book (or than last quarter), red where worse, none where it reads as zero."""
    shown = pd.DataFrame({"group": rows["group"], "accounts": rows["accounts"].map(fmt.count)})
    tones: dict[str, list[str]] = {}
    for key, value_text, delta_text, higher in FIGURES:
        shown[key] = rows[key].map(value_text)
        for column in (f"{key}_vs_book", f"{key}_vs_prev"):
            shown[column] = rows[column].map(delta_text)
            raw = pd.to_numeric(rows[column], errors="coerce")
            tones[column] = [
                "" if pd.isna(x) or _negligible(key, x) else GOOD_TEXT if (x > 0) == higher else BAD_TEXT for x in raw
            ]
    return shown, tones


def benchmark_html(rows: pd.DataFrame, dimension: str) -> str:
    """`benchmark_rows` of `dimension` as the overview's benchmark table."""
    shown, tones = benchmark_display(rows)
    return table_html(shown, _benchmark_columns(dimension), f"benchmarks-{dimension.replace('_', '-')}", tones)


def _negligible(key: str, difference: float) -> bool:
    """A difference that reads as zero once formatted (under 0.05 pp, or under $50) is not coloured."""
    return abs(difference) < (50.0 if key == "ltv_12m" else 0.0005)
