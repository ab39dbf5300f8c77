"""Customer 360's "vs peers" strip and its what-if panel, and the accounts to start from when none is open.

The strip reads `engine.accounts.peers.account_position` (the engine keeps the book-wide
table per snapshot, the page cache the account's row). The what-if panel offers the levers
`engine.accounts.whatif.levers` gives for the account and re-scores only when asked; it is
drawn in a fragment, so opening it or pressing its buttons reruns the panel, not the page.
"""

from __future__ import annotations

import html
import math

import pandas as pd
import streamlit as st

from components.shared import cache, kpi
from components.shared import format as fmt
from components.shared.markdown import plain
from engine.accounts.peers import PeerMetric, PeerPosition
from engine.accounts.whatif import Lever, WhatIfResult
from engine.churn import risk
from engine.core.access import Viewer
from engine.core.contracts import RiskComponents
from engine.core.errors import BadInputError, RadarError


# -- where to start -----------------------------------------------------------------------------
def most_at_risk_links(data_dir: str, viewer: Viewer, page: str, shown: int = 5) -> None:
    """Where a CSM would start when no account is open: links to `page` for the accounts of
    their book (a leader: the whole book) with the most revenue at risk."""
    board = cache.board_frame(data_dir, cache.viewer_key(viewer), cache.snapshot_stamp(data_dir))
    if board.empty:
        return
    st.markdown(f"**Most revenue at risk in {'the book' if viewer.sees_everyone else 'your book'}**")
    for row in board.head(shown).itertuples():
        st.page_link(
            page,
            label=(
                f"{plain(row.name)} · {fmt.money(row.revenue_at_risk)} ARR at risk · "
                f"{fmt.percent(row.churn_probability)} churn · {row.risk_tier}"
            ),
            query_params={"customer_id": row.customer_id},
            icon=":material/person:",
        )


# -- vs peers -----------------------------------------------------------------------------------
SHORT_LABELS = {
    "usage": "Usage",
    "seat_utilisation": "Seat utilisation",
    "tickets_90d": "Tickets, 90 days",
    "csat_90d": "CSAT, 90 days",
    "mrr_growth": "MRR growth, 3 months",
    "churn_probability": "Churn probability",
}
GOOD, BAD, TYPICAL, UNKNOWN = "#15803D", "#B91C1C", "#475569", "#94A3B8"
CLEARLY = 0.6  # better than this share of peers reads "better"; worse than it, "worse"
PER_ROW = 3


def risk_components(parts: RiskComponents | None, score: float | None, tenure_days: int | None = None) -> None:
    """The composite risk score and the parts it was made of; a part whose source the company
    never loaded (risk signals, a usage log) is named as not loaded, not drawn as a zero, and
    usage decay of an account younger than the two months it compares is said to be unmeasured
    (it read 0.00, which said "no decay" of an account one day old)."""
    young = tenure_days is not None and tenure_days < risk.DECAY_DAYS
    if parts is None or score is None:
        if young and parts is None:  # usage decay was its only part: nothing is measured yet
            st.markdown("**Risk score** not measured yet:")
            st.caption(f"Usage decay not measured yet: {risk.decay_unmeasured(tenure_days)}.")
        return
    if young:  # a score stored before scoring left a young account's decay out
        parts = parts.model_copy(update={"usage_decay_score": None})
    measured = any(
        v is not None for v in (parts.usage_decay_score, parts.compliance_gap_score, parts.vendor_risk_flags)
    )
    st.markdown(f"**Risk score {score:.2f}** from its components:" if measured else "**Risk score** not measured yet:")
    bars = (
        ("Usage decay", parts.usage_decay_score, 1.0, "{:.2f}", "a usage log"),
        ("Compliance gap", parts.compliance_gap_score, 1.0, "{:.2f}", "risk signals"),
        ("Vendor risk flags", parts.vendor_risk_flags, 3.0, "{:.0f}", "risk signals"),
    )
    absent = []
    for label, value, full, shown, source in bars:
        if value is None:
            absent.append(f"{label.lower()} ({source})")
            continue
        st.progress(min(1.0, value / full), text=f"{label} {shown.format(value)}")
    if young:
        absent = [a for a in absent if not a.startswith("usage decay")]
        st.caption(f"Usage decay not measured yet: {risk.decay_unmeasured(tenure_days)}.")
    if absent:
        st.caption(f"Not in the score, their data was not loaded: {', '.join(absent)}.")


def peer_value(metric: PeerMetric, value: float | None) -> str:
    """A metric's value in its unit."""
    if value is None or not math.isfinite(value):
        return fmt.MISSING
    if metric.unit in ("probability", "share of seats"):
        return fmt.percent(value)
    if metric.unit == "fraction":
        return f"{value:+.1%}".replace("-", "−")
    if metric.unit == "tickets":
        return fmt.count(value)
    return f"{value:,.1f}"


def standing(metric: PeerMetric) -> tuple[str, str]:
    """(wording, colour) of where the account stands, the right way round for the metric."""
    better = metric.better_than
    if better is None:
        return ("No value" if metric.value is None else "No peers with a value"), UNKNOWN
    # At the ends of the range, "best/worst of its peers" ("Worse than 100% of peers" read oddly).
    if round(better * 100) >= 100:
        return "Best of its peers", GOOD
    if round(better * 100) <= 0:
        return "Worst of its peers", BAD
    if better >= CLEARLY:
        return f"Better than {better:.0%} of peers", GOOD
    if better <= 1 - CLEARLY:
        return f"Worse than {1 - better:.0%} of peers", BAD
    return f"Typical: better than {better:.0%}", TYPICAL


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def peer_cell(metric: PeerMetric) -> str:
    """One metric of the strip as HTML: label, standing (coloured), value against the median."""
    words, colour = standing(metric)
    way = "higher is better" if metric.direction == "good" else "lower is better"
    pct = f"{_ordinal(round(metric.percentile * 100))} percentile · " if metric.percentile is not None else ""
    detail = f"{peer_value(metric, metric.value)} · median {peer_value(metric, metric.peer_median)}"
    tip = (
        f"{metric.label} ({way}). {pct}{metric.peers_with_value} peers with a value. "
        "Percentile: the share of the other accounts in the group with a lower value, ties counting half."
    )
    label = SHORT_LABELS.get(metric.metric, metric.label.split(":")[0])
    if metric.metric == "usage":  # "776.9 · median 71.6" of what: per seat, or per day without seats
        label = f"{label}, {metric.unit}"
    return (
        f"<div title='{html.escape(tip, quote=True)}' style='border-left:4px solid {colour};"
        "padding:0.1rem 0 0.15rem 0.6rem;margin-bottom:0.6rem;line-height:1.3'>"
        f"<div style='font-size:0.85rem;color:#475569'>{html.escape(label)}</div>"
        f"<div data-peer-standing style='font-size:1rem;font-weight:700;color:{colour}'>{html.escape(words)}</div>"
        f"<div style='font-size:0.8rem;color:#64748B'>{html.escape(detail)}</div>"
        f"<div style='font-size:0.75rem;color:#94A3B8'>{html.escape(pct + way)}</div>"
        "</div>"
    )


def group_text(position: PeerPosition) -> str:
    """The peer group as a caption: who, how many, and the level it was widened to."""
    group = position.group
    text = f"Peer group **{plain(group.description)}** ({plain(group.level)}, n = {fmt.count(group.n)})"
    if group.fallback_level > 0:
        text += f" · widened {group.fallback_level} level{'s' if group.fallback_level > 1 else ''}: "
        text += f"finer groups held fewer than {position.min_group_size} accounts"
    return text + f" · as of {fmt.day(position.as_of)}"


def peers_strip(data_dir: str, viewer: Viewer, customer_id: str, stamp: str) -> None:
    """The bordered "vs peers" strip of Customer 360."""
    with st.container(border=True):
        st.markdown(
            "#### vs peers",
            help="Where this account stands among accounts like it (same plan, industry and size band; a "
            "coarser group when that one is small). Colour and wording are turned the right way round: "
            "fewer tickets or a lower churn probability count as better.",
        )
        try:
            position = cache.peer_position(data_dir, cache.viewer_key(viewer), customer_id, stamp)
        except RadarError as exc:
            st.caption(plain(str(exc)))
            return
        st.caption(group_text(position))
        if not position.metrics:
            st.caption("No metric to compare: the warehouse holds no usage, tickets, MRR or scores yet.")
        else:
            metrics = list(position.metrics)
            for n in kpi.rows_of(len(metrics), PER_ROW):  # six side by side wrap to four lines at 1280 px
                for column, metric in zip(st.columns(PER_ROW), metrics[:n], strict=False):
                    column.markdown(peer_cell(metric), unsafe_allow_html=True)
                metrics = metrics[n:]
        for note in position.notes:
            if "compared by" not in note:  # the fallback is already in the group caption
                st.caption(plain(note))


# -- what if ------------------------------------------------------------------------------------
WHAT_IF_ROLES = frozenset({"csm", "analyst", "admin"})  # executives read scores, they do not play with them


def can_what_if(viewer: Viewer) -> bool:
    return viewer.role in WHAT_IF_ROLES


def _step(lever: Lever) -> tuple[float | int, str]:
    """The input's step and format: whole numbers for counts, about a twentieth of the range else."""
    if lever.integer:
        return 1, "%d"
    span = max(lever.high - lever.low, 1e-9)
    exponent = math.floor(math.log10(span / 20))
    return 10.0**exponent, f"%.{max(0, -exponent)}f"


def lever_shown(lever: Lever, value: float | None) -> str:
    if value is None:
        return "none"
    if lever.integer:
        return f"{value:,.0f}"
    return _step(lever)[1] % value


def _bounds(lever: Lever) -> tuple[float | int, float | int, float | int | None]:
    """(min, max, default) for the input. A stored value outside the learnt range stays
    selectable (re-scoring it unchanged is allowed); any other value out there is refused."""
    low: float | int
    high: float | int
    value: float | int | None
    if lever.integer:
        low, high = math.ceil(lever.low), math.floor(lever.high)
        if low > high:  # a range without a whole number inside: the engine refuses what falls outside
            low, high = math.floor(lever.low), math.ceil(lever.high)
        value = None if lever.value is None else round(lever.value)
    else:
        low, high, value = float(lever.low), float(lever.high), lever.value
    if value is not None:
        low, high = min(low, value), max(high, value)
    return low, high, value


def _input_key(customer_id: str, stamp: str, lever: Lever) -> str:
    return f"whatif:{customer_id}:{stamp}:{lever.name}"


def _lever_input(lever: Lever, key: str) -> float | int | None:
    low, high, value = _bounds(lever)
    step, form = _step(lever)
    return st.number_input(
        f"{lever.label} ({lever.unit})",
        min_value=low,
        max_value=high,
        value=value,
        step=step,
        format=form,
        key=key,
        placeholder="none recorded",
        help=f"{lever.description} Stored value: {lever_shown(lever, lever.value)}. The model learnt from "
        f"{lever_shown(lever, lever.low)} to {lever_shown(lever, lever.high)} {lever.unit}; "
        "values outside that range are refused.",
    )


def changes_of(levers: list[Lever], values: dict[str, float | int | None]) -> dict[str, float]:
    """The levers whose input differs from the stored value (by more than the input's rounding)."""
    out = {}
    for lever in levers:
        new = values.get(lever.name)
        if new is None:
            continue
        step, _form = _step(lever)
        if lever.value is not None and abs(float(new) - lever.value) <= float(step) / 2:
            continue
        out[lever.name] = float(new)
    return out


def _reset_inputs(levers: list[Lever], customer_id: str, stamp: str) -> None:
    for lever in levers:
        st.session_state[_input_key(customer_id, stamp, lever)] = _bounds(lever)[2]


def _result_key(customer_id: str) -> str:
    return f"whatif_result:{customer_id}"


@st.fragment
def what_if_panel(data_dir: str, viewer: Viewer, customer_id: str, stamp: str) -> None:
    """The "What if" section: lazily opened, levers in a form, re-scored on "Re-score" only."""
    box = st.expander(
        "What if: change what a CSM can influence and re-score this account",
        icon=":material/tune:",
        key=f"whatif_open:{customer_id}",
        on_change="rerun",
    )
    if not box.open:
        return
    with box:
        try:
            levers = cache.whatif_levers(data_dir, cache.viewer_key(viewer), customer_id, stamp)
        except RadarError as exc:
            st.info(plain(str(exc)), icon=":material/info:")
            return
        if not levers:
            st.caption("The model reads nothing a CSM can change for this account.")
            return
        _form(data_dir, viewer, customer_id, stamp, levers)


def _form(data_dir: str, viewer: Viewer, customer_id: str, stamp: str, levers: list[Lever]) -> None:
    with st.form(f"whatif_form:{customer_id}", border=False):
        inputs, output = st.columns([1, 1.25], gap="large")
        with inputs:
            values = {lever.name: _lever_input(lever, _input_key(customer_id, stamp, lever)) for lever in levers}
            left, right = st.columns(2)
            rescore = left.form_submit_button("Re-score", type="primary", icon=":material/calculate:", width="stretch")
            reset = right.form_submit_button(
                "Reset",
                icon=":material/restart_alt:",
                width="stretch",
                on_click=_reset_inputs,
                args=(levers, customer_id, stamp),
            )
        with output:
            if rescore or reset:
                changes = {} if reset else changes_of(levers, values)
                try:
                    result = cache.whatif_result(
                        data_dir, cache.viewer_key(viewer), customer_id, tuple(sorted(changes.items())), stamp
                    )
                except BadInputError as exc:
                    st.session_state.pop(_result_key(customer_id), None)
                    st.error(plain(str(exc)), icon=":material/block:")
                    return
                except RadarError as exc:
                    st.session_state.pop(_result_key(customer_id), None)
                    st.error(plain(str(exc)), icon=":material/error:")
                    return
                st.session_state[_result_key(customer_id)] = (stamp, result, bool(reset))
            kept = st.session_state.get(_result_key(customer_id))
            if kept is None or kept[0] != stamp:
                st.caption(
                    "Change one or more values and press **Re-score**: the account's own feature row is re-scored "
                    "by the model that wrote its stored score. **Reset** puts the stored values back and shows "
                    "the stored score."
                )
                return
            show_result(kept[1], {lever.name: lever for lever in levers}, reset=kept[2])


def show_result(result: WhatIfResult, levers: dict[str, Lever], reset: bool = False) -> None:
    """Stored and re-scored probability side by side, what was changed and the drivers that moved."""
    stored, new = result.stored_confidence_interval, result.confidence_interval
    left, right = st.columns(2)
    left.metric(
        "Stored score",
        fmt.percent(result.stored_churn_probability),
        delta=f"{result.stored_risk_tier} tier",
        delta_color="off",
        delta_arrow="off",
        border=True,
        help=f"90% interval {fmt.percent(stored.lower)} – {fmt.percent(stored.upper)}, "
        f"{result.stored_risk_tier} tier, scored as of {fmt.day(result.as_of)}",
    )
    right.metric(
        "After reset" if reset else "Re-scored",
        fmt.percent(result.churn_probability),
        delta=fmt.percent_points(result.churn_probability - result.stored_churn_probability),
        delta_color="inverse",
        delta_description=f"{result.risk_tier} tier",
        border=True,
        help=f"90% interval {fmt.percent(new.lower)} – {fmt.percent(new.upper)}, {result.risk_tier} tier, "
        f"model {result.model_version}",
    )
    st.caption(
        f"90% interval: stored {fmt.percent(stored.lower)} – {fmt.percent(stored.upper)} · "
        f"now {fmt.percent(new.lower)} – {fmt.percent(new.upper)} · tier {result.stored_risk_tier} → "
        f"{result.risk_tier}"
    )
    if not result.changes:
        same = result.churn_probability == result.stored_churn_probability
        st.caption(
            "No lever changed: "
            + ("exactly the stored score." if same else "the re-scored value differs from the stored score.")
        )
    else:
        st.caption("Changed: " + "; ".join(_change_text(levers.get(k), k, v) for k, v in result.changes.items()))
    if result.moved_drivers:
        st.markdown("**Drivers that moved** (push on churn, percentage points)")
        st.dataframe(moved_frame(result), hide_index=True, width="stretch")
    elif result.changes:
        st.caption("No driver's push on churn moved by more than 0.01 pp.")
    for note in result.notes:
        st.caption(plain(note))


def _change_text(lever: Lever | None, name: str, value: float) -> str:
    if lever is None:
        return f"{plain(name)} {value:,.4g}"
    return f"{plain(lever.label.split(':')[0])} {lever_shown(lever, lever.value)} → {lever_shown(lever, value)}"


def moved_frame(result: WhatIfResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Driver": [m.label or m.group for m in result.moved_drivers],
            "Before": [fmt.percent_points(m.before_pp / 100) for m in result.moved_drivers],
            "After": [fmt.percent_points(m.after_pp / 100) for m in result.moved_drivers],
            "Change": [fmt.percent_points(m.change_pp / 100) for m in result.moved_drivers],
        }
    )


def first_week_usage(weekly: pd.DataFrame) -> str:
    """One week of usage said in words (a chart of one week is a line at its edge): the total
    and the busiest event types."""
    by_type = weekly.groupby("event_type")["events"].sum().sort_values(ascending=False, kind="stable")
    shown = ", ".join(f"{fmt.count(n)} {str(t).replace('_', ' ')}" for t, n in by_type.head(4).items())
    more = f" and {fmt.plural(len(by_type) - 4, 'other type')}" if len(by_type) > 4 else ""
    return (
        f"Its first week: {fmt.plural(int(by_type.sum()), 'event')} ({shown}{more}). "
        "The weekly chart starts once it has two weeks."
    )
