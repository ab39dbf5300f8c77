"""Charts drawn on the server as plain HTML and inline SVG: bars, heatmaps, areas and lines.

The browser draws them with no chart library. Plotly's bundle (4.7 MB to load and compile)
and its drawing were most of the time Customer 360 and the overview took to appear; these
are part of the page as soon as its text is. Hovering a bar, a cell or a point in time shows
its numbers (the element's tooltip). The plot area stretches to the column's width while the
labels stay HTML at the page's size, so text never scales with the chart.

Builders return an HTML string; `show` puts it on the page. Every chart is one `<div>` with
a `data-radar-chart` attribute naming it (tests and the browser benchmark find charts by it).
Text from the data is escaped, and `$` too, so markdown never reads it as math.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from components.shared.theme import (
    CATCH_ALLS,
    CHURN_COLORSCALE,
    EVENT_COLORS,
    LOWERS_COLOR,
    PLAN_TIER_COLORS,
    PLAN_TIER_ORDER,
    RAISES_COLOR,
    RISK_TIER_COLORS,
    RISK_TIER_ORDER,
    ordered,
    tier_colors,
)
from engine.churn.explain import Driver
from engine.core.formatting import label as group_label

GRID, AXIS, TEXT, MUTED = "#E2E8F0", "#94A3B8", "#334155", "#64748B"
WIDTH = 1000  # the SVG plot area's own width; it stretches to the column (heights are pixels)
GUTTER = 48  # px for the y-axis labels
MINUS = "−"

# One stylesheet per chart (the page may hold a chart alone): a hovered band or cell darkens.
STYLE = (
    "<style>.rc-band{fill:transparent;pointer-events:all}.rc-band:hover{fill:rgba(15,23,42,.07)}"
    ".rc-cell:hover,.rc-row:hover{filter:brightness(.93)}</style>"
)


def show(chart: str | None) -> None:
    """Put a chart on the page (None: nothing to draw)."""
    if chart:
        st.markdown(chart, unsafe_allow_html=True)


# -- text and numbers ----------------------------------------------------------------------------
# Characters markdown or its extensions act on (links, images, math, `:red[...]`, emphasis), and
# line breaks: written as entities, a chart's text shows as written and the chart stays one
# line of markdown (a blank line would end its HTML).
_ENTITIES = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'[]()!:*_`~|$#\\\n\r"})


def esc(text: object) -> str:
    """Text for HTML, attributes included, inert as markdown."""
    return str(text).replace("\r\n", "\n").translate(_ENTITIES)


def short_number(value: float, prefix: str = "") -> str:
    """1,500 as 1.5k, 2,000,000 as 2M (an axis label), with an optional prefix ($)."""
    sign = MINUS if value < 0 else ""
    v = abs(value)
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= size:
            return f"{sign}{prefix}{v / size:.3g}{unit}"
    return f"{sign}{prefix}{v:.3g}" if v else f"{prefix}0"


def short_money(value: float) -> str:
    return short_number(value, "$")


def signed(value: float) -> str:
    """+6.1 or −2.0 (a true minus sign)."""
    return f"{value:+.1f}".replace("-", MINUS)


def whole_percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis ticks (1, 2, 2.5 or 5 times a power of ten) from at most `low` to at least `high`."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    tick = first
    while tick < high + step * (1 - 1e-9):
        ticks.append(round(tick, 12))
        tick += step
    if ticks[-1] < high:  # pragma: no cover - float slack
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def value_axis(high: float, headroom: float = 1.04) -> tuple[list[float], float]:
    """(ticks, top) for values from 0 to `high`: the axis ends just above the data, as a chart
    library's automatic range does, with round ticks below it."""
    top = high * headroom if high > 0 and math.isfinite(high) else 1.0
    return [t for t in nice_ticks(0.0, top) if t <= top], top


def _f(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def scale_color(value: float, high: float, scale: Sequence[Sequence[Any]] = CHURN_COLORSCALE) -> str:
    """The colour of `value` on a 0..`high` scale of (position, hex colour) stops."""
    t = 0.0 if high <= 0 or not math.isfinite(value) else min(max(value / high, 0.0), 1.0)
    for (p0, c0), (p1, c1) in zip(scale, scale[1:], strict=False):
        if t <= p1:
            w = 0.0 if p1 == p0 else (t - p0) / (p1 - p0)
            a, b = _hex_rgb(c0), _hex_rgb(c1)
            return "#" + "".join(f"{round(x + (y - x) * w):02X}" for x, y in zip(a, b, strict=True))
    return str(scale[-1][1])


def _ink(background: str) -> str:
    """Dark text on a light cell, white on a dark one."""
    r, g, b = _hex_rgb(background)
    return "#FFFFFF" if 0.299 * r + 0.587 * g + 0.114 * b < 150 else "#1E293B"


def _chart(name: str, body: str, height: int | None = None) -> str:
    if not re.fullmatch(r"[a-z_]+", name):  # the page's own names, never data
        raise ValueError(f"not a chart name: {name!r}")
    size = f"min-height:{height}px;" if height else ""
    return (
        f"<div data-radar-chart='{name}' style='{size}font-size:12px;color:{TEXT};line-height:1.25;"
        f"margin:0.25rem 0 0.5rem 0'>{STYLE}{body}</div>"
    )


def _legend(items: Sequence[tuple[str, str]], indent: int = GUTTER, lines: Sequence[str] = ()) -> str:
    """A row of colour keys, (label, colour) each; the labels in `lines` get a line, not a box."""
    keys = []
    for label, color in items:
        if label in lines:
            mark = f"<i style='display:inline-block;width:16px;height:2px;background:{color};margin:0 5px 3px 0'></i>"
        else:
            mark = (
                f"<i style='display:inline-block;width:14px;height:10px;border-radius:2px;background:{color};"
                "margin-right:5px;vertical-align:-1px'></i>"
            )
        keys.append(f"<span style='white-space:nowrap'>{mark}{esc(label)}</span>")
    return (
        f"<div style='display:flex;flex-wrap:wrap;gap:2px 14px;margin:0 0 8px {indent}px'>" + "".join(keys) + "</div>"
    )


# -- an x-y frame: y labels in a gutter, a stretching SVG plot, x labels below ---------------------
@dataclass(frozen=True)
class Frame:
    """The plot area: `height` px tall, y from `y_low` (bottom) to `y_high` (top)."""

    height: int
    y_low: float
    y_high: float

    def y(self, value: float) -> float:
        span = self.y_high - self.y_low or 1.0
        return self.height - (value - self.y_low) / span * self.height


def _xy(
    name: str,
    frame: Frame,
    y_ticks: Sequence[float],
    y_label: Callable[[float], str],
    x_labels: Sequence[tuple[float, str]],
    shapes: str,
    bands: str,
    overlay: str = "",
    legend: str = "",
    y_title: str = "",
) -> str:
    """The frame around a plot: gridlines at `y_ticks`, `shapes` and hover `bands` in SVG
    (x from 0 to WIDTH), `overlay` HTML on top (dots, value labels; left in %, top in px),
    `x_labels` as (x in 0..WIDTH, text)."""
    grid = "".join(
        f"<line x1='0' x2='{WIDTH}' y1='{_f(frame.y(t))}' y2='{_f(frame.y(t))}' stroke='{GRID}' "
        "vector-effect='non-scaling-stroke'/>"
        for t in y_ticks
    )
    svg = (
        f"<svg width='100%' height='{frame.height}' viewBox='0 0 {WIDTH} {frame.height}' preserveAspectRatio='none' "
        f"style='position:absolute;left:0;top:0;overflow:visible'>{grid}{shapes}{bands}</svg>"
    )
    ys = "".join(
        f"<span style='position:absolute;right:6px;top:{_f(frame.y(t))}px;transform:translateY(-50%);"
        f"white-space:nowrap;color:{MUTED}'>{esc(y_label(t))}</span>"
        for t in y_ticks
    )
    title = (
        f"<span style='position:absolute;left:0;top:50%;transform:translate(-30%,-50%) rotate(-90deg);"
        f"white-space:nowrap;color:{MUTED}'>{esc(y_title)}</span>"
        if y_title
        else ""
    )
    xs = "".join(_x_label(x, text) for x, text in x_labels)
    return _chart(
        name,
        legend + f"<div style='display:grid;grid-template-columns:{GUTTER}px 1fr'>"
        f"<div style='position:relative;height:{frame.height}px'>{title}{ys}</div>"
        f"<div style='position:relative;height:{frame.height}px'>{svg}{overlay}</div>"
        f"<div></div><div style='position:relative;height:22px'>{xs}</div></div>",
    )


def _x_label(x: float, text: str) -> str:
    share = x / WIDTH * 100
    shift = "-100%" if share > 94 else "0" if share < 3 else "-50%"
    return (
        f"<span style='position:absolute;left:{_f(share)}%;top:5px;transform:translateX({shift});"
        f"white-space:nowrap;color:{MUTED}'>{esc(text)}</span>"
    )


def _dot(x: float, y: float, color: str, size: int = 9, tip: str = "") -> str:
    title = f" title='{esc(tip)}'" if tip else ""
    return (
        f"<span{title} style='position:absolute;left:{_f(x / WIDTH * 100)}%;top:{_f(y)}px;width:{size}px;"
        f"height:{size}px;margin:-{size / 2}px 0 0 -{size / 2}px;border-radius:50%;background:{color};"
        "border:1.5px solid white;box-sizing:border-box'></span>"
    )


def _bands(xs: Sequence[float], tips: Sequence[str], height: int) -> str:
    """Hover bands, one per x (from midpoint to midpoint), each with its tooltip."""
    if not xs:
        return ""
    edges = [0.0] + [(a + b) / 2 for a, b in zip(xs, xs[1:], strict=False)] + [float(WIDTH)]
    if len(xs) == 1:
        edges = [0.0, float(WIDTH)]
    return "".join(
        f"<rect class='rc-band' x='{_f(left)}' y='0' width='{_f(max(right - left, 0.5))}' height='{height}'>"
        f"<title>{esc(tip)}</title></rect>"
        for left, right, tip in zip(edges, edges[1:], tips, strict=False)
    )


def _day(value: Any) -> date:
    return pd.Timestamp(value).date()


def _time_ticks(first: date, last: date, most: int = 6) -> list[date]:
    """Month starts between the two days, every 1, 2, 3, 6, 12 or 24 months so at most `most` show."""
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = next((s for s in (1, 2, 3, 6, 12, 24, 60) if months / s <= most), 120)
    out = []
    year, month = first.year, first.month
    if first.day > 1:  # the first month start on or after the first day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    while (year, month) <= (last.year, last.month):
        index = year * 12 + month - 1
        if index % step == 0:
            out.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


MOST_DAY_LABELS = 6


def _month_label(day: date, form: str, first: bool) -> str:
    """A month tick: 'Jul', with the year only on the first tick and on January ('Jan 2025'), so
    six ticks fit a half-width chart (six 'Jul 2025' labels ran into each other at 1280 px)."""
    if form == "%b %Y" and not first and day.month != 1:
        return f"{day:%b}"
    return day.strftime(form)


class TimeAxis:
    """Days mapped onto 0..WIDTH (first to last, or padded by half a step for bars)."""

    def __init__(self, days: Sequence[date], pad: bool = False):
        self.days = list(days)
        lo, hi = float(min(days).toordinal()), float(max(days).toordinal())
        if pad:
            step = (hi - lo) / max(len(set(days)) - 1, 1) if hi > lo else 30.0
            lo, hi = lo - step / 2, hi + step / 2
        self.lo, self.hi = float(lo), float(hi if hi > lo else lo + 1)

    def x(self, day: date) -> float:
        return (day.toordinal() - self.lo) / (self.hi - self.lo) * WIDTH

    def labels(self, form: str = "%b %Y") -> list[tuple[float, str]]:
        first, last = date.fromordinal(math.ceil(self.lo)), date.fromordinal(math.floor(self.hi))
        months = _time_ticks(first, last)
        if len(months) >= 2:
            return [(self.x(d), _month_label(d, form, i == 0)) for i, d in enumerate(months)]
        # Under two month starts in view (a young account's few weeks): a lone month, or none,
        # would leave the axis without dates, so the data's own days are named instead.
        days = sorted(set(self.days))
        return [(self.x(d), f"{d.day} {d:%b}") for d in days[:: math.ceil(len(days) / MOST_DAY_LABELS)]]


# -- stacked areas over time ------------------------------------------------------------------------
def stacked_area(
    name: str,
    wide: pd.DataFrame,
    colors: dict[str, str],
    value_label: Callable[[float], str],
    tip_value: Callable[[float], str],
    when: Callable[[date], str],
    height: int,
    labels: dict[str, str] | None = None,
    legend_reversed: bool = False,
    opacity: float = 0.5,
) -> str:
    """Series stacked in column order (first at the bottom); `wide` is indexed by day. The areas
    are filled at `opacity` (1: solid, as for shares of one total)."""
    labels = labels or {}
    days = [_day(d) for d in wide.index]
    if not days:
        return _chart(name, f"<div style='color:{MUTED}'>No data.</div>")
    axis = TimeAxis(days)
    values = wide.fillna(0.0).clip(lower=0.0)
    tops = values.cumsum(axis=1)
    ticks, top_value = value_axis(float(tops.iloc[:, -1].max()) if len(tops.columns) else 0.0)
    frame = Frame(height, 0.0, top_value)
    xs = [axis.x(d) for d in days]
    shapes = []
    below = [0.0] * len(days)
    for column in values.columns:
        top = tops[column].tolist()
        upper = " ".join(f"{_f(x)},{_f(frame.y(v))}" for x, v in zip(xs, top, strict=True))
        lower = " ".join(f"{_f(x)},{_f(frame.y(v))}" for x, v in reversed(list(zip(xs, below, strict=True))))
        color = colors[column]
        if len(xs) == 1:  # one day: a thin column
            shapes.append(
                f"<rect x='{_f(xs[0] - 4)}' y='{_f(frame.y(top[0]))}' width='8' "
                f"height='{_f(frame.y(below[0]) - frame.y(top[0]))}' fill='{color}' fill-opacity='{opacity}'/>"
            )
        else:
            shapes.append(
                f"<polygon points='{upper} {lower}' fill='{color}' fill-opacity='{opacity}' stroke='none'/>"
                f"<polyline points='{upper}' fill='none' stroke='{color}' stroke-width='1.2' "
                "vector-effect='non-scaling-stroke'/>"
            )
        below = top
    tips = []
    for i, d in enumerate(days):
        row = values.iloc[i]
        lines = [f"{labels.get(c, c)}: {tip_value(float(row[c]))}" for c in reversed(list(values.columns))]
        tips.append(when(d) + "\n" + "\n".join(lines))
    keys = [(labels.get(c, c), colors[c]) for c in values.columns]
    legend = _legend(list(reversed(keys)) if legend_reversed else keys)
    return _xy(
        name,
        frame,
        ticks,
        value_label,
        axis.labels(),
        "".join(shapes),
        _bands(xs, tips, height),
        legend=legend,
    )


USAGE_TYPES_SHOWN = 6  # more stacked bands than this read as noise; the rest are summed


def usage_area(weekly: pd.DataFrame, height: int = 300) -> str:
    """Weekly events by event type, stacked (`customer.customer_360(...).usage_weekly`). With
    more than USAGE_TYPES_SHOWN types (a company's log may hold dozens), the busiest over the
    period keep their own band and the others are summed into one "N other types" band."""
    weekly = _fewer_event_types(weekly, USAGE_TYPES_SHOWN)
    types = sorted(weekly["event_type"].unique(), key=lambda t: (str(t).startswith(_OTHER_TYPES), str(t)))
    wide = (
        weekly.pivot_table(index="week", columns="event_type", values="events", aggfunc="sum", fill_value=0)
        .reindex(columns=types)
        .sort_index()
    )
    colors = dict(zip(types, EVENT_COLORS * (len(types) // len(EVENT_COLORS) + 1), strict=False))
    colors.update({t: AXIS for t in types if str(t).startswith(_OTHER_TYPES)})
    return stacked_area(
        "usage",
        wide,
        colors,
        short_number,
        lambda v: f"{v:,.0f}",
        lambda d: f"week of {d:%d %b %Y}",
        height,
        labels={t: _event_type_label(t) for t in types},
        legend_reversed=True,  # the top of the stack first
    )


def _event_type_label(event_type: object) -> str:
    text = str(event_type)
    if text.startswith(_OTHER_TYPES):
        return f"{text[len(_OTHER_TYPES) :]} other types"
    return text.replace("_", " ")


_OTHER_TYPES = "\x00other"  # sorts after every real type; shown as "N other types"


def _fewer_event_types(weekly: pd.DataFrame, shown: int) -> pd.DataFrame:
    """`weekly` with at most `shown` bands: the busiest `shown - 1` types and the rest summed."""
    totals = weekly.groupby("event_type")["events"].sum().sort_values(ascending=False, kind="stable")
    if len(totals) <= shown:
        return weekly
    kept = set(totals.index[: shown - 1])
    rest = weekly[~weekly["event_type"].isin(kept)]
    other = rest.groupby("week", as_index=False)["events"].sum()
    other["event_type"] = f"{_OTHER_TYPES}{len(totals) - len(kept)}"
    return pd.concat([weekly[weekly["event_type"].isin(kept)], other], ignore_index=True)


def mrr_area(mrr: pd.DataFrame, height: int = 340) -> str:
    """Monthly MRR by plan tier, stacked, the largest tier (enterprise) at the bottom
    (`portfolio.mrr_by_plan`); the legend follows the stack."""
    tiers = ordered(mrr["plan_tier"].unique(), PLAN_TIER_ORDER)
    wide = (
        mrr.pivot_table(index="month", columns="plan_tier", values="mrr", aggfunc="sum")
        .reindex(columns=list(reversed(tiers)))
        .sort_index()
    )
    return stacked_area(
        "mrr_by_plan",
        wide,
        tier_colors(tiers, PLAN_TIER_COLORS),
        short_money,
        lambda v: f"${v:,.0f}",
        lambda d: f"{d:%B %Y}",
        height,
        labels={t: group_label(t) for t in tiers},
        legend_reversed=True,
        opacity=1.0,
    )


# -- one account's MRR: a step line with expansions and contractions marked ---------------------------
def mrr_steps(history: pd.DataFrame, churn_date: date | None = None, height: int = 240) -> str:
    """MRR by month as a step line; a churned account's line drops to $0 on its churn date (its
    last month's row still carries the MRR it paid, which read as an account still paying)."""
    history = history.sort_values("month")
    last = history.iloc[-1] if len(history) else None
    if churn_date is not None and last is not None and _day(last["month"]) <= churn_date and (last["mrr"] or 0) > 0:
        gone = pd.DataFrame({"month": [pd.Timestamp(churn_date)], "mrr": [0.0], "change_type": ["churn"]})
        history = pd.concat([history.assign(month=pd.to_datetime(history["month"])), gone], ignore_index=True)
    days = [_day(d) for d in history["month"]]
    if not days:
        return _chart("mrr_history", f"<div style='color:{MUTED}'>No MRR recorded.</div>")
    axis = TimeAxis(days)
    mrr = history["mrr"].astype(float).fillna(0.0).tolist()
    ticks, top = value_axis(max(mrr), headroom=1.08)
    frame = Frame(height, 0.0, top)
    xs = [axis.x(d) for d in days]
    points = [f"{_f(xs[0])},{_f(frame.y(mrr[0]))}"]
    for i in range(1, len(xs)):
        points.append(f"{_f(xs[i])},{_f(frame.y(mrr[i - 1]))}")
        points.append(f"{_f(xs[i])},{_f(frame.y(mrr[i]))}")
    if len(xs) == 1:
        points.append(f"{WIDTH},{_f(frame.y(mrr[0]))}")
    line = (
        f"<polyline points='{' '.join(points)}' fill='none' stroke='#4F46E5' stroke-width='2' "
        "vector-effect='non-scaling-stroke'/>"
    )
    kinds = history["change_type"].astype(object).tolist() if "change_type" in history else [None] * len(days)
    marks = {"expansion": LOWERS_COLOR, "contraction": RAISES_COLOR, "churn": RAISES_COLOR}
    dots = "".join(
        _dot(x, frame.y(v), marks[str(k)], tip=f"{k} {d:%b %Y}: ${v:,.0f}")
        for x, v, k, d in zip(xs, mrr, kinds, days, strict=True)
        if str(k) in marks
    )
    tips = [
        f"{d:%b %Y}: ${v:,.0f}" + (f" ({k})" if str(k) in marks else "")
        for d, v, k in zip(days, mrr, kinds, strict=True)
    ]
    return _xy("mrr_history", frame, ticks, short_money, axis.labels(), line, _bands(xs, tips, height), overlay=dots)


# -- predicted vs realised churn per scoring date ------------------------------------------------------
def _scoring_day_labels(days: Sequence[date], xs: Sequence[float], most: int = 8) -> list[tuple[float, str]]:
    """A label under each scoring date's bar ('Mar 31'), at most `most` of them: month ticks put a
    month-end bar next to the next month's name."""
    step = max(1, math.ceil(len(days) / most))
    form = "%b %-d" if len({d.year for d in days}) == 1 else "%b %-d %Y"
    return [(x, d.strftime(form)) for i, (x, d) in enumerate(zip(xs, days, strict=True)) if i % step == 0]


def predicted_vs_realised(frame_in: pd.DataFrame, height: int = 280) -> str:
    """Realised 90-day churn rate (bars) and the mean predicted probability (line) per scoring date."""
    rows = frame_in.sort_values("as_of")
    days = [_day(d) for d in rows["as_of"]]
    if not days:
        return _chart("predicted_vs_realised", f"<div style='color:{MUTED}'>No scoring date to show.</div>")
    axis = TimeAxis(days, pad=True)
    realised = rows["realised_rate"].astype(float).tolist()
    predicted = rows["predicted_rate"].astype(float).tolist()
    high = max([v for v in realised + predicted if math.isfinite(v)] or [0.01])
    ticks, top = value_axis(high, headroom=1.08)
    frame = Frame(height, 0.0, top)
    xs = [axis.x(d) for d in days]
    gap = min((b - a for a, b in zip(xs, xs[1:], strict=False)), default=WIDTH / 2)
    bar = max(gap * 0.7, 2.0)
    shapes = "".join(
        f"<rect x='{_f(x - bar / 2)}' y='{_f(frame.y(v))}' width='{_f(bar)}' height='{_f(height - frame.y(v))}' "
        "fill='#A5B4FC'/>"
        for x, v in zip(xs, realised, strict=True)
        if math.isfinite(v)
    )
    line = " ".join(f"{_f(x)},{_f(frame.y(v))}" for x, v in zip(xs, predicted, strict=True) if math.isfinite(v))
    shapes += (
        f"<polyline points='{line}' fill='none' stroke='#312E81' stroke-width='2' vector-effect='non-scaling-stroke'/>"
    )
    dots = "".join(
        _dot(x, frame.y(v), "#312E81", size=8) for x, v in zip(xs, predicted, strict=True) if math.isfinite(v)
    )
    tips = [
        f"scored {d:%d %b %Y}\nrealised {r:.1%} ({c:,.0f} of {n:,.0f})\npredicted {p:.1%}"
        for d, r, p, c, n in zip(days, realised, predicted, rows["churned"], rows["customers"], strict=True)
    ]
    return _xy(
        "predicted_vs_realised",
        frame,
        ticks,
        whole_percent,
        _scoring_day_labels(days, xs),
        shapes,
        _bands(xs, tips, height),
        overlay=dots,
        legend=_legend([("Realised", "#A5B4FC"), ("Predicted", "#312E81")], lines=("Predicted",)),
    )


# -- vertical bars: accounts per risk tier --------------------------------------------------------------
def risk_tier_bars(by_tier: pd.DataFrame, height: int = 260) -> str:
    """Accounts per risk tier, each tier's ARR and ARR at risk on hover."""
    tiers = ordered(by_tier["risk_tier"], RISK_TIER_ORDER)
    rows = by_tier.set_index("risk_tier").reindex(tiers)
    colors = tier_colors(tiers, RISK_TIER_COLORS)
    counts = rows["accounts"].fillna(0).astype(float).tolist()
    ticks, top = value_axis(max(counts or [0.0]), headroom=1.12)  # room for the count above the tallest bar
    frame = Frame(height, 0.0, top)
    slot = WIDTH / max(len(tiers), 1)
    xs = [slot * (i + 0.5) for i in range(len(tiers))]
    bars = "".join(
        f"<rect x='{_f(x - slot * 0.3)}' y='{_f(frame.y(n))}' width='{_f(slot * 0.6)}' "
        f"height='{_f(height - frame.y(n))}' fill='{colors[t]}'/>"
        for x, n, t in zip(xs, counts, tiers, strict=True)
    )
    labels = "".join(
        f"<span style='position:absolute;left:{_f(x / WIDTH * 100)}%;top:{_f(frame.y(n) - 4)}px;"
        f"transform:translate(-50%,-100%);white-space:nowrap'>{n:,.0f}</span>"
        for x, n in zip(xs, counts, strict=True)
    )
    tips = [
        f"{t.capitalize()}: {n:,.0f} accounts\nARR ${arr:,.0f}\nat risk ${risk:,.0f}"
        for t, n, arr, risk in zip(tiers, counts, rows["arr"].fillna(0), rows["revenue_at_risk"].fillna(0), strict=True)
    ]
    return _xy(
        "risk_tiers",
        frame,
        ticks,
        short_number,
        [(x, t.capitalize()) for x, t in zip(xs, tiers, strict=True)],
        bars,
        _bands(xs, tips, height),
        overlay=labels,
        y_title="accounts",
    )


# -- horizontal bars -----------------------------------------------------------------------------------
ROW_HEIGHT, ROW_GAP, AXIS_HEIGHT, REFERENCE_HEIGHT = 26, 6, 22, 18
CHAR_PX = 6.6  # about the width of a 12 px character, to fit the longest label


def hbars_height(rows: int, reference: bool = False, title: bool = False) -> int:
    """The height in px `hbars` takes for `rows` bars."""
    parts = rows + 1 + int(reference) + int(title)
    return rows * ROW_HEIGHT + AXIS_HEIGHT + REFERENCE_HEIGHT * reference + 18 * title + ROW_GAP * (parts - 1)


@dataclass(frozen=True)
class Bar:
    """One row: its label, value and colour, the tooltip, and an optional interval (low, high)."""

    label: str
    value: float
    color: str
    tip: str
    low: float | None = None
    high: float | None = None


def hbars(
    name: str,
    bars: Sequence[Bar],
    tick_label: Callable[[float], str],
    axis_title: str = "",
    reference: tuple[float, str] | None = None,
    label_width: int | None = None,
) -> str:
    """Horizontal bars from zero (negative ones to the left), in the given order top to bottom,
    with whiskers for intervals and a dashed reference line (value, label) across them. Labels
    get the room the longest needs, up to 220 px (longer ones end in "…", whole on hover)."""
    if label_width is None:
        label_width = int(min(220, max(70, CHAR_PX * max((len(b.label) for b in bars), default=0) + 12)))
    values = [b.value for b in bars] + [b.low for b in bars if b.low is not None]
    values += [b.high for b in bars if b.high is not None] + ([reference[0]] if reference else [])
    finite = [v for v in values if v is not None and math.isfinite(v)]
    ticks = nice_ticks(min([0.0, *finite]), max([0.0, *finite]), count=4)
    lo, hi = ticks[0], ticks[-1]

    def at(value: float) -> float:
        return (value - lo) / (hi - lo) * 100

    zero = at(0.0)
    lines = "".join(
        f"<i style='position:absolute;top:0;bottom:0;left:{_f(at(t))}%;border-left:1px solid "
        f"{AXIS if t == 0 else GRID}'></i>"
        for t in ticks
    )
    ref = (
        f"<i style='position:absolute;top:-3px;bottom:-3px;left:{_f(at(reference[0]))}%;"
        "border-left:1.5px dashed #334155'></i>"
        if reference
        else ""
    )
    rows = []
    for b in bars:
        left, right = sorted((zero, at(b.value)))
        whisker = ""
        if b.low is not None and b.high is not None:
            wl, wr = at(b.low), at(b.high)
            whisker = (
                f"<i style='position:absolute;top:50%;left:{_f(wl)}%;width:{_f(max(wr - wl, 0))}%;"
                "border-top:1.2px solid #475569'></i>"
                f"<i style='position:absolute;top:30%;bottom:30%;left:{_f(wl)}%;border-left:1.2px solid #475569'></i>"
                f"<i style='position:absolute;top:30%;bottom:30%;left:{_f(wr)}%;border-left:1.2px solid #475569'></i>"
            )
        rows.append(
            f"<div style='text-align:right;padding-right:8px;white-space:nowrap;overflow:hidden;"
            f"text-overflow:ellipsis' title='{esc(b.label)}'>{esc(b.label)}</div>"
            f"<div class='rc-row' title='{esc(b.tip)}' style='position:relative;height:{ROW_HEIGHT}px'>{lines}"
            f"<i style='position:absolute;top:3px;bottom:3px;left:{_f(left)}%;width:{_f(max(right - left, 0.3))}%;"
            f"background:{b.color};border-radius:1px'></i>{whisker}{ref}</div>"
        )
    head = ""
    if reference:
        head = (
            f"<div></div><div style='position:relative;height:{REFERENCE_HEIGHT}px'>"
            f"<span style='position:absolute;left:{_f(at(reference[0]))}%;bottom:2px;transform:translateX(-50%);"
            f"white-space:nowrap'>{esc(reference[1])}</span></div>"
        )
    axis = "".join(_x_label(at(t) / 100 * WIDTH, tick_label(t)) for t in ticks)
    title = (
        f"<div></div><div style='text-align:center;color:{MUTED};min-height:18px'>{esc(axis_title)}</div>"
        if axis_title
        else ""
    )
    return _chart(
        name,
        f"<div style='display:grid;grid-template-columns:{label_width}px 1fr;row-gap:{ROW_GAP}px;align-items:center'>"
        + head
        + "".join(rows)
        + f"<div></div><div style='position:relative;height:{AXIS_HEIGHT}px'>{axis}</div>"
        + title
        + "</div>",
    )


def driver_bars(drivers: Sequence[Driver | dict[str, Any]]) -> str:
    """Per driver, how many percentage points of 90-day churn probability it adds (red) or removes
    (green) for this account, the strongest on top; "✦ " marks reasons a CSM can act on, and
    hovering shows the plain-language reason. Drivers stored before `impact_pp` existed show the
    raw SHAP value and say so ("model log-odds")."""
    shown = [d if isinstance(d, Driver) else Driver.model_validate(d) for d in drivers]
    in_points = bool(shown) and all(d.impact_pp is not None for d in shown)

    def size(d: Driver) -> float:
        return float(d.impact_pp) if in_points and d.impact_pp is not None else float(d.shap_impact)

    unit = "pp" if in_points else "log-odds"
    bars = [
        Bar(
            label=("✦ " if d.actionable else "") + (d.label or d.feature.replace("_", " ")),
            value=size(d),
            color=RAISES_COLOR if d.shap_impact > 0 else LOWERS_COLOR,
            tip=f"{d.reason}\n{signed(size(d))} {unit}",
        )
        for d in sorted(shown, key=lambda d: -abs(size(d)))
    ]
    title = (
        "change in 90-day churn risk, percentage points · ✦ you can act on it"
        if in_points
        else "model log-odds, not percentage points · ✦ you can act on it"
    )
    suffix = " pp" if in_points else ""
    return hbars(
        "drivers",
        bars,
        lambda t: f"{t:g}{suffix}".replace("-", MINUS),
        axis_title=title,
    )


# -- heatmaps ------------------------------------------------------------------------------------------
WIDE_COLUMNS = 8  # a heatmap with more columns than this (and fewer rows) is drawn on its side


def heatmap(
    name: str,
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float]],
    tips: Sequence[Sequence[str]],
    legend_title: str,
    cell_height: int = 72,
) -> str:
    """A grid of cells coloured by `values` (rates from 0, NaN for none) with their percent and
    `tips` on hover (both rows x columns); rows top to bottom, column labels below at an angle,
    and a colour bar."""
    if not rows or not columns:
        return _chart(name, f"<div style='color:{MUTED}'>No data.</div>")
    finite = [float(v) for row in values for v in row if pd.notna(v)]
    high = max(finite) if finite and max(finite) > 0 else 0.01  # colours span 0 to the highest cell
    if len(columns) == 1:  # no second split (a company without one): a column of big blocks reads worse than bars
        form = "{:.1%}" if high < 0.1 else "{:.0%}"  # 5.1% and 5.4% are not both "5%"
        bars = [
            Bar(f"{label} · {form.format(float(row[0]))}", float(row[0]), scale_color(float(row[0]), high), tip[0])
            for label, row, tip in zip(rows, values, tips, strict=True)
            if pd.notna(row[0])
        ]
        return hbars(name, bars, whole_percent, axis_title=f"{legend_title}, {columns[0].lower()}")
    if len(columns) > WIDE_COLUMNS and len(rows) < len(columns):
        # Many columns (13 countries) squeezed cells and angled labels into one another: the long
        # split runs down the side instead, in slimmer rows.
        rows, columns = columns, rows
        values = [list(col) for col in zip(*values, strict=True)]
        tips = [list(col) for col in zip(*tips, strict=True)]
        cell_height = 30
    ticks = [t for t in nice_ticks(0.0, high, count=4) if t <= high]
    cells = []
    for label, row, row_tips in zip(rows, values, tips, strict=True):
        cells.append(f"<div style='text-align:right;padding-right:8px;align-self:center'>{esc(label)}</div>")
        for v, tip in zip(row, row_tips, strict=True):
            if pd.isna(v):
                cells.append("<div></div>")
                continue
            color = scale_color(float(v), high)
            cells.append(
                f"<div class='rc-cell' title='{esc(tip)}' style='background:{color};color:{_ink(color)};"
                f"height:{cell_height}px;display:flex;align-items:center;justify-content:center;font-size:13px'>"
                f"{float(v) * 100:.0f}%</div>"
            )
    cells.append("<div></div>")
    for c in columns:
        cells.append(
            "<div style='position:relative;height:74px'><span style='position:absolute;top:6px;right:50%;"
            f"transform-origin:100% 0;transform:rotate(-30deg);white-space:nowrap;color:{MUTED}'>{esc(c)}</span></div>"
        )
    bar_height = cell_height * len(rows) + 2 * max(len(rows) - 1, 0)
    gradient = ", ".join(f"{color} {float(str(p)) * 100:.0f}%" for p, color in CHURN_COLORSCALE)
    marks = "".join(
        f"<span style='position:absolute;left:18px;bottom:{_f(t / high * 100)}%;transform:translateY(50%);"
        f"white-space:nowrap;color:{MUTED}'>{esc(whole_percent(t))}</span>"
        for t in ticks
    )
    colorbar = (
        f"<div style='flex:0 0 56px;padding-left:10px'><div style='margin-bottom:6px;color:{MUTED}'>"
        f"{esc(legend_title)}</div><div style='position:relative;height:{max(bar_height - 22, 40)}px;width:12px;"
        f"background:linear-gradient(to top, {gradient})'>{marks}</div></div>"
    )
    grid = (
        f"<div style='flex:1;min-width:0;display:grid;grid-template-columns:76px repeat({len(columns)}, minmax(0, 1fr));"
        f"gap:2px'>{''.join(cells)}</div>"
    )
    return _chart(name, f"<div style='display:flex;align-items:flex-start'>{grid}{colorbar}</div>")


def _catch_alls_last(groups) -> list[str]:
    """`groups` in their order, "Other" and "unknown" moved to the end: they are not a place to act."""
    listed = list(groups)
    return [g for g in listed if g not in CATCH_ALLS] + [g for g in CATCH_ALLS if g in listed]


def _grid(frame: pd.DataFrame, tiers: list[str], industries: list[str], column: str) -> pd.DataFrame:
    return frame.pivot_table(index="plan_tier", columns="industry", values=column, aggfunc="sum").reindex(
        index=tiers, columns=industries
    )


def _tips(tiers: list[str], industries: list[str], say: Callable[[str, str], str]) -> list[list[str]]:
    return [[f"{group_label(t)} · {group_label(i)}\n{say(t, i)}" for i in industries] for t in tiers]


def churn_heatmap(churn: pd.DataFrame) -> str:
    """Logo churn rate, plan tier x industry (`portfolio.churn_by_plan_industry`): industries from
    the highest pooled churn on the left; hover shows how many customers each rate rests on."""
    pooled = churn.groupby("industry")[["churned", "customers"]].sum()
    industries = _catch_alls_last((pooled["churned"] / pooled["customers"]).sort_values(ascending=False).index)
    tiers = ordered(churn["plan_tier"].unique(), PLAN_TIER_ORDER)
    rate = churn.pivot(index="plan_tier", columns="industry", values="churn_rate").reindex(
        index=tiers, columns=industries
    )
    churned, customers = _grid(churn, tiers, industries, "churned"), _grid(churn, tiers, industries, "customers")
    tips = _tips(
        tiers,
        industries,
        lambda t, i: f"Churn {rate.at[t, i]:.1%} ({churned.at[t, i]:,.0f} of {customers.at[t, i]:,.0f})",
    )
    return _labelled("churn_by_plan_industry", tiers, industries, rate, tips, "Churn", cell_height=88)


def probability_heatmap(cells: pd.DataFrame) -> str:
    """Mean predicted churn probability, plan tier x industry (`portfolio.churn_risk_by_plan_industry`)."""
    tiers = ordered(cells["plan_tier"].unique(), PLAN_TIER_ORDER)
    industries = _catch_alls_last(
        cells.groupby("industry")["mean_probability"].mean().sort_values(ascending=False).index
    )
    grid = cells.pivot(index="plan_tier", columns="industry", values="mean_probability").reindex(
        index=tiers, columns=industries
    )
    counts = _grid(cells, tiers, industries, "customers")
    tips = _tips(
        tiers,
        industries,
        lambda t, i: f"mean churn probability {grid.at[t, i]:.1%}\n{counts.at[t, i]:,.0f} accounts",
    )
    return _labelled("churn_risk_by_plan_industry", tiers, industries, grid, tips, "P(churn)")


def _labelled(
    name: str,
    tiers: list[str],
    industries: list[str],
    values: pd.DataFrame,
    tips: list[list[str]],
    title: str,
    cell_height: int = 72,
) -> str:
    """Tiers and industries capitalised for reading."""
    return heatmap(
        name,
        [group_label(t) for t in tiers],
        [group_label(i) for i in industries],
        values.to_numpy(dtype=float).tolist(),
        tips,
        title,
        cell_height,
    )
