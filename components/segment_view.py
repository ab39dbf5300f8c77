"""Customer 360's segment panel: the account's archetype with its playbook, its level on each
behavioural axis (with the cuts the book gives), and how both moved over the last month ends.

Reads `engine.segments.account_segment` through the page cache; formatting only.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import streamlit as st

from components.shared import cache
from components.shared import format as fmt
from components.shared.markdown import plain
from engine.accounts.customer import CustomerProfile
from engine.core.access import Viewer
from engine.core.errors import RadarError
from engine.segments import AccountSegment, AxisReading
from engine.segments.archetypes import NOT_ENOUGH_DATA
from engine.segments.axes import BY_KEY, DAYS_PER_MONTH, MIN_TENURE_DAYS, TREND_DAYS

Cuts = dict[str, tuple[float | None, float, int]]  # axis -> (low at most, high above, accounts)


# -- values as people read them ---------------------------------------------------------------
def axis_value(axis: str, value: float | None, unit: bool = True) -> str:
    """An axis value as people read it: a share as a percentage, a log ratio as the % change
    it means; `unit=False` leaves a count's unit off (the cut-offs column repeats none)."""
    if value is None or not math.isfinite(value):
        return "no value"
    if axis == "engagement_trend":  # ln(recent / before)
        ratio = math.exp(value)
        if ratio >= 10:  # a young account against weeks before it signed up: "+135400%" says nothing
            return f"{ratio:,.0f}× the 8 weeks before"
        return f"{ratio - 1:+.0%}".replace("-", "−")
    if axis == "commercial_momentum":
        return f"{value:+.0%}".replace("-", "−")
    if axis == "lifecycle" and unit:
        months = round(value)
        return "under 1 month" if months < 1 else f"{months} month" + ("" if months == 1 else "s")
    if axis == "seat_utilisation":  # the window said: drivers and peers read 30 days and 4 weeks
        return fmt.percent(value, 0) + (" over 12 weeks" if unit else "")
    units = {
        "sentiment": ("{:.1f}", " / 5"),
        "support_intensity": ("{:.1f}", " / month"),
        "lifecycle": ("{:.0f}", ""),
        "feature_breadth": ("{:.0f}", " types"),
        "adoption_depth": ("{:.1f}", " / user-day"),
    }
    number, suffix = units.get(axis, ("{:,.3g}", ""))
    return number.format(value) + (suffix if unit else "")


def level_text(reading: AxisReading) -> str:
    if reading.level is None:
        return "—"
    return reading.word if reading.word == reading.level else f"{reading.word} ({reading.level})"


def cut_text(axis: str, cut: tuple[float | None, float, int] | None) -> str:
    """Where the levels change, in the axis's words: "shallow ≤ 4.5 · deep > 10.5"."""
    if cut is None:
        return "—"
    low, high, _accounts = cut
    words = BY_KEY[axis].words if axis in BY_KEY else ("low", "mid", "high")
    lower = f"{words[0]} ≤ {axis_value(axis, low, unit=False)}" if low is not None else f"no {words[0]} level"
    return f"{lower} · {words[2]} > {axis_value(axis, high, unit=False)}"


def _value_text(reading: AxisReading, tenure_months: float | None) -> str:
    text = axis_value(reading.axis, reading.value)
    young = tenure_months is not None and tenure_months * DAYS_PER_MONTH < TREND_DAYS
    if reading.axis == "engagement_trend" and young and reading.value is not None:
        # "263× the 8 weeks before" of an 8-day-old account compared its use with weeks before it signed up.
        return f"{text} (younger than 16 weeks: the weeks before include time before signup)"
    return text


def axes_frame(seg: AccountSegment, cuts: Cuts) -> pd.DataFrame:
    tenure = next((r.value for r in seg.axes if r.axis == "lifecycle"), None)
    return pd.DataFrame(
        {
            "Axis": [r.label for r in seg.axes],
            "Level": [level_text(r) for r in seg.axes],
            "Value": [_value_text(r, tenure) for r in seg.axes],
            "Cut-offs": [cut_text(r.axis, cuts.get(r.axis)) for r in seg.axes],
        }
    )


def _month(d: date) -> str:
    return pd.Timestamp(d).strftime("%b %Y")


def _word(axis: str, level: str | None) -> str:
    return BY_KEY[axis].word(level) if axis in BY_KEY else str(level)


def history_frame(seg: AccountSegment) -> pd.DataFrame:
    """One row per month end (oldest first, then now): the archetype and the levels that
    changed since the row before."""
    points: list[tuple[str, str, dict[str, str | None]]] = [
        (_month(p.as_of), p.archetype, dict(p.levels)) for p in seg.history
    ]
    if seg.archetype is not None:
        points.append((f"Now ({fmt.day(seg.as_of)})", seg.archetype, {r.axis: r.level for r in seg.axes}))
    rows, before = [], None
    for when, archetype, levels in points:
        if before is None:
            changed = "—"
        else:
            moves = [
                f"{BY_KEY[k].label if k in BY_KEY else k}: {_word(k, before.get(k))} → {_word(k, v)}"
                for k, v in levels.items()
                if k in before and v != before[k] and v is not None and before[k] is not None
            ]
            changed = "; ".join(moves) or "no level changed"
        rows.append({"Month end": when, "Archetype": archetype, "Levels that changed": changed})
        before = levels
    return pd.DataFrame(rows, columns=["Month end", "Archetype", "Levels that changed"])


def not_enough_data_reason(profile: CustomerProfile) -> str:
    """Why an account has no archetype yet, from its tenure (the rule's two conditions)."""
    days = profile.tenure_days
    if days is not None and days < MIN_TENURE_DAYS:
        return (
            f"The account is {days} days old; an archetype is read from at least {MIN_TENURE_DAYS} days of "
            "behaviour, so none is guessed yet."
        )
    return "No product usage is recorded for it yet, so there is no behaviour to read an archetype from."


# -- the panel --------------------------------------------------------------------------------
def segment_panel(data_dir: str, viewer: Viewer, profile: CustomerProfile, stamp: str) -> None:
    """The bordered "Segment" section of Customer 360."""
    with st.container(border=True):
        try:
            seg = cache.account_segment(data_dir, cache.viewer_key(viewer), profile.customer_id, stamp)
        except RadarError as exc:
            st.markdown("#### Segment")
            st.info(str(exc), icon=":material/info:")
            return
        if seg.archetype is None:
            st.markdown("#### Segment")
            st.info(plain(seg.note or "This account has no current segment."), icon=":material/info:")
            _history(seg)
            return
        cuts = cache.segment_cuts(data_dir, seg.as_of, stamp)
        left, right = st.columns([1, 1.4], gap="medium")
        with left:
            _archetype(seg, profile)
        with right:
            _axes(seg, cuts)
        _history(seg)


def _archetype(seg: AccountSegment, profile: CustomerProfile) -> None:
    st.markdown(f"#### Segment: {plain(seg.archetype)}")
    if seg.archetype_key == NOT_ENOUGH_DATA.key:
        st.info(f"**Not enough data.** {not_enough_data_reason(profile)}", icon=":material/hourglass_empty:")
    else:
        st.markdown(plain(seg.description or ""))
    book = seg.playbook
    if book is None:
        return
    st.markdown(f"**Recommended motion:** {plain(book.motion)}")
    st.markdown("\n".join(f"- {plain(point)}" for point in book.talking_points))
    st.caption(f"Channel: **{plain(book.channel)}**")


def _axes(seg: AccountSegment, cuts: Cuts) -> None:
    learned = max((c[2] for c in cuts.values()), default=0)
    st.markdown(
        f"**Behaviour on each axis** · {fmt.day(seg.as_of)}",
        help="Each level is low, mid or high against the cut-offs learned from the whole book on this date "
        f"({fmt.count(learned)} accounts with enough history): about the bottom and top quarter, and the "
        "20% / 80% quantiles with a floor for the trend and momentum axes, so a small move stays steady. "
        "Axes whose data was not loaded are left out.",
    )
    # A static table: its cells wrap, so the cut-offs stay readable in half the page's width.
    st.table(axes_frame(seg, cuts), hide_index=True, border="horizontal")


def _history(seg: AccountSegment) -> None:
    if not seg.history:
        st.caption("No earlier month end to compare with: the account is newer than that.")
        return
    frame = history_frame(seg)
    months = len(seg.history)
    st.markdown("**At the last month end**" if months == 1 else f"**Over the last {months} month ends**")
    st.table(frame, hide_index=True, border="horizontal")
