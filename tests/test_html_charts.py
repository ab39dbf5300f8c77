"""The charts and small tables Customer 360 and the overview draw as HTML: every figure is in
them, text from the data stays inert, and each is one line of markdown."""

from __future__ import annotations

import html
import re
from datetime import date

import pandas as pd
import pytest

from components import account_tables, html_charts
from components.shared.theme import PLAN_TIER_COLORS, RISK_TIER_COLORS

HOSTILE = "Evil ![x](//beacon.example/b.png) [click](https://evil.example) :red[boom] $x$ <b>"
LIVE = ("![x]", "](//beacon", "](https://evil", ":red[", "$x$", "<b>")


def _one_line_and_inert(chart: str) -> None:
    assert "\n" not in chart and "\r" not in chart, "a line break would end the markdown's HTML block"
    for markup in LIVE:
        assert markup not in chart


def _tips(chart: str) -> list[str]:
    found = re.findall(r"<title>(.*?)</title>", chart) + re.findall(r"title='([^']*)'", chart)
    return [html.unescape(t) for t in found]


def test_text_is_escaped_inert_and_reads_back_as_written():
    escaped = html_charts.esc(HOSTILE + "\nline two")
    _one_line_and_inert(escaped)
    assert html.unescape(escaped) == HOSTILE + "\nline two"


@pytest.mark.parametrize(("low", "high"), [(0, 7.3), (0, 0.32), (-2.7, 1.1), (0, 830e6), (0, 0), (5, 5)])
def test_ticks_are_round_and_cover_the_range(low, high):
    ticks = html_charts.nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high and 2 <= len(ticks) <= 8
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1
    ticks, top = html_charts.value_axis(high)
    assert all(t <= top for t in ticks) and (top >= high)


def test_short_numbers_read_like_axis_labels():
    assert [html_charts.short_money(v) for v in (0, 500, 1500, 2_000_000, 830e6)] == [
        "$0",
        "$500",
        "$1.5k",
        "$2M",
        "$830M",
    ]
    assert html_charts.short_number(-2500) == "−2.5k"


def test_driver_bars_strongest_first_with_reason_and_signed_points():
    drivers = [
        {"feature": "seats", "label": "Seats", "shap_impact": 0.1, "impact_pp": 0.4, "reason": "165 seats"},
        {
            "feature": "usage_trend",
            "label": "Product usage",
            "shap_impact": -0.9,
            "impact_pp": -2.5,
            "actionable": True,
            "reason": f"a 90-day drop {HOSTILE}",
        },
    ]
    chart = html_charts.driver_bars(drivers)
    _one_line_and_inert(chart)
    assert chart.index("✦ Product usage") < chart.index("Seats")
    tips = _tips(chart)
    assert f"a 90-day drop {HOSTILE}\n−2.5 pp" in tips and "165 seats\n+0.4 pp" in tips
    assert html_charts.RAISES_COLOR in chart and html_charts.LOWERS_COLOR in chart


def test_usage_area_stacks_every_event_type_with_a_tooltip_per_week():
    weeks = pd.to_datetime(["2026-05-04", "2026-05-11", "2026-05-18"])
    weekly = pd.DataFrame(
        {
            "week": list(weeks) * 2,
            "event_type": ["login"] * 3 + [HOSTILE] * 3,
            "events": [10, 20, 30, 1, 2, 3],
        }
    ).drop(index=[5])  # a type silent one week counts zero there
    chart = html_charts.usage_area(weekly)
    _one_line_and_inert(chart)
    tips = [t for t in _tips(chart) if t.startswith("week of")]
    assert tips == [  # the top of the stack first
        f"week of 04 May 2026\nlogin: 10\n{HOSTILE}: 1",
        f"week of 11 May 2026\nlogin: 20\n{HOSTILE}: 2",
        f"week of 18 May 2026\nlogin: 30\n{HOSTILE}: 0",
    ]
    assert chart.count("<polygon") == 2
    one_week = html_charts.usage_area(weekly[weekly["week"] == weeks[0]])
    assert one_week.count("<rect x=") >= 2  # a single week still shows


def test_usage_area_keeps_the_busiest_types_and_sums_the_rest_into_one_band():
    """A company's log holds dozens of event types (a ChurnSim CRM: 25): 25 stacked bands were
    unreadable. The five busiest keep theirs; the other types are summed, week by week."""
    weeks = pd.to_datetime(["2026-05-04", "2026-05-11"])
    types = [f"type_{k}" for k in range(9)]
    weekly = pd.DataFrame(
        [
            {"week": w, "event_type": t, "events": (9 - k) * 10 + i}
            for i, w in enumerate(weeks)
            for k, t in enumerate(types)
        ]
    ).drop(index=[17])  # type_8 silent in the second week
    chart = html_charts.usage_area(weekly)
    _one_line_and_inert(chart)
    assert chart.count("<polygon") == 6
    tips = [t for t in _tips(chart) if t.startswith("week of")]
    assert "4 other types: 100" in tips[0]  # 40 + 30 + 20 + 10
    assert "4 other types: 93" in tips[1]  # 41 + 31 + 21, type_8 silent
    assert "type 0: 90" in tips[0] and "type 5" not in chart
    assert html_charts.usage_area(weekly[weekly["event_type"].isin(types[:6])]).count("<polygon") == 6


def test_mrr_area_is_solid_enterprise_at_the_bottom():
    months = pd.to_datetime(["2026-04-30", "2026-05-31"])
    mrr = pd.DataFrame(
        {"month": list(months) * 3, "plan_tier": ["starter"] * 2 + ["growth"] * 2 + ["enterprise"] * 2, "mrr": 100.0}
    )
    chart = html_charts.mrr_area(mrr)
    fills = re.findall(r"<polygon points='[^']*' fill='([^']*)' fill-opacity='1.0'", chart)
    assert fills == [PLAN_TIER_COLORS["enterprise"], PLAN_TIER_COLORS["growth"], PLAN_TIER_COLORS["starter"]]
    assert "April 2026\nStarter: $100\nGrowth: $100\nEnterprise: $100" in _tips(chart)


def test_mrr_steps_mark_expansions_and_contractions():
    history = pd.DataFrame(
        {
            "month": pd.to_datetime(["2025-01-31", "2025-02-28", "2025-03-31"]),
            "mrr": [1000.0, 1500.0, 1200.0],
            "change_type": [None, "expansion", "contraction"],
        }
    )
    chart = html_charts.mrr_steps(history)
    tips = _tips(chart)
    assert "expansion Feb 2025: $1,500" in tips and "contraction Mar 2025: $1,200" in tips
    assert "Jan 2025: $1,000" in tips


def test_a_churned_accounts_mrr_drops_to_zero_on_its_churn_date():
    from datetime import date

    history = pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-10-01", "2026-11-01", "2026-12-01"]),
            "mrr": [4730.0] * 3,
            "change_type": ["new", "flat", "flat"],
        }
    )
    tips = _tips(html_charts.mrr_steps(history, churn_date=date(2026, 12, 2)))
    assert "churn Dec 2026: $0" in tips  # the last month's row alone read as still paying
    assert "churn" not in " ".join(_tips(html_charts.mrr_steps(history)))


def test_risk_tier_bars_count_and_explain_each_tier():
    by_tier = pd.DataFrame(
        {
            "risk_tier": ["critical", "low"],
            "accounts": [12, 900],
            "arr": [120_000.0, 9e6],
            "revenue_at_risk": [60_000.0, 1e5],
        }
    )
    chart = html_charts.risk_tier_bars(by_tier)
    assert chart.index(">Low<") < chart.index(">Critical<")
    assert RISK_TIER_COLORS["critical"] in chart and ">900<" in chart
    assert "Critical: 12 accounts\nARR $120,000\nat risk $60,000" in _tips(chart)


def test_bars_with_intervals_and_a_reference_line():
    bars = [
        html_charts.Bar("A", 0.2, "#DC2626", "a", low=0.15, high=0.25),
        html_charts.Bar(HOSTILE, 0.05, "#16A34A", "b", low=0.04, high=0.06),
    ]
    chart = html_charts.hbars("t", bars, html_charts.whole_percent, reference=(0.1, "whole book 10.0%"))
    _one_line_and_inert(chart)
    assert "whole book 10.0%" in chart and chart.count("class='rc-row'") == 2
    assert html_charts.hbars_height(2, reference=True) == 2 * 26 + 22 + 18 + 3 * 6


def test_heatmap_cells_colour_from_zero_to_the_highest():
    churn = pd.DataFrame(
        {
            "plan_tier": ["starter", "starter", "growth"],
            "industry": [HOSTILE, "media", "media"],
            "churned": [3, 1, 0],
            "customers": [10, 10, 10],
            "churn_rate": [0.3, 0.1, 0.0],
        }
    )
    chart = html_charts.churn_heatmap(churn)
    _one_line_and_inert(chart)
    assert chart.count("class='rc-cell'") == 3  # growth x the hostile industry has no customers
    assert f"background:{html_charts.scale_color(0.3, 0.3)}" in chart
    assert html_charts.scale_color(0.0, 0.3) == "#FFF7ED" and html_charts.scale_color(0.3, 0.3) == "#7C2D12"
    assert any(t.startswith("Starter · Media\nChurn 10.0% (1 of 10)") for t in _tips(chart))
    assert "No data" in html_charts.heatmap("x", [], [], [], [], "Churn")


def test_predicted_vs_realised_per_scoring_date():
    frame = pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2026-01-31", "2026-02-28"]),
            "predicted_rate": [0.05, 0.06],
            "realised_rate": [0.04, 0.07],
            "churned": [40, 70],
            "customers": [1000, 1000],
        }
    )
    chart = html_charts.predicted_vs_realised(frame)
    assert "scored 31 Jan 2026\nrealised 4.0% (40 of 1,000)\npredicted 5.0%" in _tips(chart)
    assert "No scoring date" in html_charts.predicted_vs_realised(frame.iloc[:0])


def test_time_ticks_are_month_starts_at_most_six():
    ticks = html_charts._time_ticks(date(2023, 7, 31), date(2026, 6, 30))
    assert 2 <= len(ticks) <= 6 and all(t.day == 1 for t in ticks)


def _x_labels(chart: str) -> list[str]:
    """The time axis' labels (the value axis' are numbers)."""
    found = [html.unescape(t) for t in re.findall(r"white-space:nowrap;color:[^']*'>([^<]*)</span>", chart)]
    return [t for t in found if re.search(r"[A-Za-z]", t)]


def test_a_few_weeks_of_usage_still_have_dates_on_the_time_axis():
    """A young account's usage spans no two month starts: its weeks are named instead of none."""
    weeks = pd.to_datetime(["2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"])
    weekly = pd.DataFrame({"week": weeks, "event_type": "login", "events": [3, 5, 8, 13]})
    assert _x_labels(html_charts.usage_area(weekly)) == ["9 Nov", "16 Nov", "23 Nov", "30 Nov"]
    many = pd.DataFrame({"week": pd.date_range("2026-10-03", periods=9, freq="7D"), "event_type": "login", "events": 1})
    labels = _x_labels(html_charts.usage_area(many))  # 3 Oct - 28 Nov: one month start only
    assert labels[0] == "3 Oct" and 2 <= len(labels) <= html_charts.MOST_DAY_LABELS
    long = pd.DataFrame(
        {"week": pd.date_range("2026-06-01", periods=26, freq="7D"), "event_type": "login", "events": 1}
    )
    assert _x_labels(html_charts.usage_area(long))[:2] == ["Jun 2026", "Jul"]  # months, the year once


def test_month_ticks_name_the_year_on_the_first_and_on_january_only():
    """Six 'Jul 2025' labels ran into each other on a half-width chart at 1280 px."""
    months = pd.date_range("2024-06-30", "2025-11-30", freq="ME")
    mrr = pd.DataFrame({"month": months, "plan_tier": "basic", "mrr": 100.0})
    assert _x_labels(html_charts.mrr_area(mrr)) == ["Jul 2024", "Oct", "Jan 2025", "Apr", "Jul", "Oct"]


def test_tickets_and_opportunities_show_every_field_inert():
    tickets = pd.DataFrame(
        {
            "opened_at": pd.to_datetime(["2026-05-04 10:00", "2026-04-01 09:30"]),
            "priority": ["urgent", "low"],
            "status": ["open", "closed"],
            "subject": [HOSTILE, None],
            "topic": ["billing", "access"],
            "csat": [None, 4.0],
        }
    )
    shown = account_tables.tickets_html(tickets)
    _one_line_and_inert(shown)
    text = html.unescape(re.sub(r"<[^>]+>", "|", shown))
    assert HOSTILE in text and "no subject" in text
    assert "4\u00a0May\u00a02026" in text and "CSAT 4.0" in text and "#B91C1C'>urgent" in shown
    opportunities = pd.DataFrame(
        {
            "opportunity_type": ["expansion"],
            "stage": [HOSTILE],
            "amount": [11875.0],
            "close_date": pd.to_datetime(["2026-04-01"]),
            "owner": ["noah.dubois"],
        }
    )
    table = account_tables.opportunities_html(opportunities)
    _one_line_and_inert(table)
    assert "&#36;11,875" in table and "1\u00a0Apr\u00a02026" in table and "noah.dubois" in table


def test_scoring_dates_are_labelled_as_their_own_day_not_the_next_month():
    # A month-end bar sat next to the next month's tick: Mar 31 read as "Apr 2026".
    from components import charts

    frame = pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2026-03-31", "2026-04-30", "2026-05-31"]),
            "realised_rate": [0.07, 0.074, 0.06],
            "predicted_rate": [0.068, 0.07, 0.065],
            "churned": [70, 74, 60],
            "customers": [1000, 1000, 1000],
        }
    )
    svg = html_charts.predicted_vs_realised(frame)
    assert "Mar 31" in svg and "May 31" in svg and "Jun" not in svg
    assert list(charts.predicted_vs_realised(frame).data[0].x) == ["Mar 31, 2026", "Apr 30, 2026", "May 31, 2026"]


def test_a_heatmap_with_one_column_is_drawn_as_bars():
    """A company with channels but no second split had one column of big blocks over 'All accounts'."""
    chart = html_charts.heatmap(
        "x", ["Web", "Appstore"], ["All accounts"], [[0.13], [0.06]], [["Web\\nChurn 13%"], ["A\\nChurn 6%"]], "Churn"
    )
    _one_line_and_inert(chart)
    assert "class='rc-cell'" not in chart and chart.count("class='rc-row'") == 2
    assert "Web · 13%" in chart and "Appstore · 6%" in chart and "Churn, all accounts" in chart
    assert f"background:{html_charts.scale_color(0.13, 0.13)}" in chart
    low = html_charts.heatmap("y", ["Web", "App"], ["All accounts"], [[0.054], [0.051]], [["w"], ["a"]], "P(churn)")
    assert "Web · 5.4%" in low and "App · 5.1%" in low


def test_every_group_of_a_split_has_its_own_colour():
    """A company split by country (11 named and the catch-alls) drew Australia, India and
    "Unknown" in one blue: every group gets its own colour, and the catch-alls greys."""
    from components.shared.theme import CATCH_ALL_COLORS, PLAN_TIER_COLORS, tier_colors
    from engine.portfolio.kpis import OTHER, UNKNOWN

    groups = ["AU", "BR", "CA", "CN", "DE", "FR", "IN", "JP", "KR", "MX", "US", OTHER, UNKNOWN]
    colors = tier_colors(groups, PLAN_TIER_COLORS)
    assert len(set(colors.values())) == len(groups)
    assert colors[OTHER] == CATCH_ALL_COLORS[OTHER] and colors[UNKNOWN] == CATCH_ALL_COLORS[UNKNOWN]
    assert tier_colors(["growth", "custom"], PLAN_TIER_COLORS)["growth"] == PLAN_TIER_COLORS["growth"]


def test_a_heatmap_split_by_many_values_runs_down_the_side_with_catch_alls_last():
    """Channel x 13 countries squeezed 30 px cells and angled labels into one another, with
    "Other" first (it had the highest churn): the countries run down the side, the catch-alls
    last, and each tip still names its own cell."""
    from engine.portfolio.kpis import OTHER, UNKNOWN

    countries = ["AU", "BR", "CA", "CN", "DE", "FR", "IN", "JP", "KR", "MX", "US", OTHER, UNKNOWN]
    rows = [
        {"plan_tier": channel, "industry": country, "churned": c, "customers": 20, "churn_rate": c / 20}
        for channel, base in (("web", 1), ("app", 2))
        for c, country in enumerate(countries, start=base)
    ]
    rows[11]["churned"], rows[11]["churn_rate"] = 19, 0.95  # web x Other: the highest churn
    chart = html_charts.churn_heatmap(pd.DataFrame(rows))
    _one_line_and_inert(chart)
    assert "repeat(2, minmax(0, 1fr))" in chart  # two channel columns, countries as rows
    labels = re.findall(r"text-align:right;padding-right:8px;align-self:center'>([^<]+)<", chart)
    assert labels[-2:] == ["Other", "Unknown"] and len(labels) == 13
    assert any(t.startswith("Web · Other\nChurn 95.0% (19 of 20)") for t in _tips(chart))
    few = html_charts.churn_heatmap(pd.DataFrame([r for r in rows if r["industry"] in countries[:4]]))
    assert "repeat(4, minmax(0, 1fr))" in few  # a few columns stay across
