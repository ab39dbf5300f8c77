"""The look every chart shares: colours for plan and risk tiers, the page's typeface, margins.

A plan tier or a risk tier has one colour on every page.
"""

from __future__ import annotations

import plotly.graph_objects as go

from engine.portfolio.kpis import NO_PLAN, OTHER, UNKNOWN

PLAN_TIER_ORDER = ("starter", "growth", "enterprise")
PLAN_TIER_COLORS = {"starter": "#A5B4FC", "growth": "#6366F1", "enterprise": "#312E81"}
RISK_TIER_ORDER = ("low", "medium", "high", "critical")
RISK_TIER_COLORS = {"low": "#16A34A", "medium": "#EAB308", "high": "#F97316", "critical": "#DC2626"}
# For tiers a loaded warehouse may use beyond the known ones: as many distinct hues as a chart
# splits by (11 named groups and the catch-alls, see engine.portfolio.kpis), so two groups never
# share one (six made Australia, India and "Unknown" one blue).
EXTRA_COLORS = (
    "#0EA5E9",
    "#14B8A6",
    "#A855F7",
    "#F43F5E",
    "#84CC16",
    "#F59E0B",
    "#6366F1",
    "#EC4899",
    "#10B981",
    "#B45309",
    "#0F766E",
    "#7C3AED",
)
# The catch-alls in greys: what no named group holds reads as the rest, not as one more group.
CATCH_ALL_COLORS = {OTHER: "#64748B", UNKNOWN: "#CBD5E1", NO_PLAN: "#94A3B8"}
# Light to dark red: more churn reads as more alarming.
CHURN_COLORSCALE = [[0.0, "#FFF7ED"], [0.35, "#FDBA74"], [0.7, "#EA580C"], [1.0, "#7C2D12"]]
# Drivers and changes: red raises churn, green lowers it; event types in a fixed order.
RAISES_COLOR, LOWERS_COLOR = "#DC2626", "#16A34A"
EVENT_COLORS = ("#4F46E5", "#0EA5E9", "#14B8A6", "#F59E0B", "#A855F7", "#F43F5E", "#84CC16", "#64748B")

# Streamlit's own typeface, so chart text matches the page.
FONT = {"family": "'Source Sans', sans-serif", "size": 13, "color": "#334155"}


# Groups that hold what no named group does: after every named one.
CATCH_ALLS = (OTHER, UNKNOWN, NO_PLAN)


def ordered(values, known: tuple[str, ...]) -> list[str]:
    """Known categories in their canonical order, then any others alphabetically, then the
    catch-alls ("Other", "unknown", "no plan")."""
    present = set(values)
    rest = sorted(present - set(known) - set(CATCH_ALLS))
    return [v for v in known if v in present] + rest + [v for v in CATCH_ALLS if v in present]


def tier_colors(tiers, palette: dict[str, str]) -> dict[str, str]:
    """A colour for every tier: the palette's, a catch-all's grey, else the next extra colour."""
    extras = iter(EXTRA_COLORS * (len(tiers) // len(EXTRA_COLORS) + 1))
    return {t: palette.get(t) or CATCH_ALL_COLORS.get(t) or next(extras) for t in tiers}


def layout(fig: go.Figure, height: int) -> go.Figure:
    """Height, tight margins, the page font and a transparent background."""
    fig.update_layout(
        height=height,
        margin={"l": 8, "r": 8, "t": 8, "b": 8},
        font=FONT,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hoverlabel={"font": {"family": FONT["family"]}},
    )
    return fig
