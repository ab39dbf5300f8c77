"""Issue 12, items 13-16: one renewal rule, one money format, one set of export names, tiers
and actions a CSM can act on, grouped drivers in percentage points, out-of-sample headlines."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components import html_charts
from components.shared import auth
from components.shared import format as page_fmt
from engine import scenarios
from engine.accounts import board, customer
from engine.ai import actions, facts, sql_guard
from engine.ai import fmt as ai_fmt
from engine.churn import explain, monitoring, risk
from engine.churn import features as feats
from engine.churn import status as churn_status
from engine.core import formatting
from engine.core.access import SYSTEM, Viewer
from engine.core.contracts import to_dict
from engine.data import health, warehouse
from engine.portfolio import kpis as portfolio
from engine.scenarios import cli as cli_scenarios

EXEC = Viewer("exec", "executive")
APP = str(Path(__file__).resolve().parents[1] / "app.py")


# -- 13: one renewal rule ---------------------------------------------------------------------------
@pytest.fixture
def contracts_differ(data_dir_copy):
    """The generated warehouse where every contract end sits 200 days after the billing-cycle
    anniversary (as a loaded CRM might have it): only one renewal rule can give one answer."""
    wh = warehouse.get_warehouse(data_dir_copy)
    with wh.transaction() as cur:
        cur.execute("UPDATE customers SET contract_end_date = contract_end_date + INTERVAL 200 DAY")
    return wh


def test_features_customer_360_fact_sheet_and_portfolio_view_name_one_renewal_date(contracts_differ):
    wh = contracts_differ
    as_of = health.data_as_of(wh)
    features = feats.features_as_of(wh, as_of).set_index("customer_id")["days_to_renewal"]
    view = sql_guard.run_portfolio_sql(
        wh, "SELECT customer_id, renewal_date, days_to_renewal FROM portfolio", SYSTEM, max_rows=10_000
    ).table.set_index("customer_id")
    sample = features.index[:: max(1, len(features) // 25)]
    assert len(sample) >= 20
    for cid in sample:
        expected = features[cid]
        profile = customer.customer_360(wh, SYSTEM, cid).profile
        sheet = facts.load_facts(wh, cid, SYSTEM)
        assert profile.days_to_renewal == expected, cid
        assert sheet.days_to_renewal == expected and sheet.renewal_date == profile.renewal_date, cid
        assert view.loc[cid, "days_to_renewal"] == expected, cid
        assert pd.Timestamp(view.loc[cid, "renewal_date"]).date() == profile.renewal_date, cid


def test_the_board_shows_the_renewal_the_features_computed(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    frame = board.board_frame(wh, EXEC).set_index("customer_id")
    rule = feats.renewal_dates(wh, frame["as_of"].max().date()).set_index("customer_id")
    joined = frame.join(rule.add_suffix("_rule"))
    assert len(joined) == len(frame) > 0
    assert (joined["days_to_renewal"] == joined["days_to_renewal_rule"]).all()


# -- 13: one money format ---------------------------------------------------------------------------
AMOUNTS = (999_960, 718_102.3, 2_600_000, 45_300, 812.4, 0, -45_300, 1_234_567_890)


@pytest.mark.parametrize("amount", AMOUNTS)
def test_an_amount_reads_the_same_on_board_customer_360_scenarios_cli_and_ai(amount):
    expected = formatting.money(amount)
    # Board and Customer 360 format through components.shared.format, the AI through engine.ai.fmt.
    assert page_fmt.money(amount) == expected
    assert ai_fmt.money(amount) == expected
    assert cli_scenarios._money(amount) == expected
    baseline = SimpleNamespace(expected_churned=3.0, arr_lost_12m=amount)
    readout = scenarios.readout_text(baseline, baseline, 0, (0, 0), 0, 0, None, [], {}, False)
    assert f"{expected} ARR at risk" in readout
    assert "1000.0K" not in readout and "1000.0M" not in expected


def test_999960_is_a_million_not_1000_k():
    assert formatting.money(999_960) == "$1.0M"
    assert formatting.money(999_949_999) == "$999.9M"


def test_a_missing_mrr_never_reads_nan_in_an_action():
    for mrr in (float("nan"), None, np.float64("nan"), pd.NA):
        for tier in risk.TIERS:
            text = risk.recommended_action(tier, "usage_decay_score", 0.55, mrr, 20)
            assert "nan" not in text.lower() and "$" not in text, text


def test_every_csv_export_uses_the_warehouse_column_names(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    rows = board.board_frame(wh, EXEC)
    board_csv = board.export_frame(rows)
    overview_csv = portfolio.export_frame(portfolio.top_at_risk(rows, 10))
    view_names = {name for name, _type, _doc in sql_guard.PORTFOLIO_COLUMNS}
    assert list(overview_csv.columns) == list(board_csv.columns)
    for old in ("plan", "owner", "revenue_at_risk_arr"):
        assert old not in board_csv.columns
    shared = {"customer_id", "name", "plan_tier", "industry", "region", "csm_owner", "mrr", "churn_probability"}
    shared |= {"ci_low", "ci_high", "risk_tier", "risk_score", "revenue_at_risk", "days_to_renewal"}
    shared |= {"recommended_action", "as_of"}
    assert shared <= set(board_csv.columns) and shared <= view_names
    # Scenario segments name their dimension by the same column names.
    assert set(scenarios.BREAKDOWN_DIMENSIONS) <= set(board_csv.columns)


# -- 14: tiers and actions -------------------------------------------------------------------------
def test_tiers_come_from_probability_and_more_likely_than_not_is_critical():
    p = np.array([0.0, 0.0999, 0.10, 0.2499, 0.25, 0.4999, 0.50, 0.51, 0.57, 1.0])
    assert list(risk.risk_tier(p)) == [
        "low", "low", "medium", "medium", "high", "high", "critical", "critical", "critical", "critical",
    ]  # fmt: skip
    for cut in risk.TIER_CUTS:
        assert f"{cut * 100:g}%" in risk.TIER_LEGEND
    assert "probability" in risk.TIER_LEGEND


@pytest.mark.parametrize(
    ("tier", "p", "arr_at_risk", "days"),
    [
        ("critical", 0.56, 718_000, 83),  # the #2 account by ARR at risk
        ("high", 0.39, 622_000, 200),  # large ARR at risk, renewal far away
        ("high", 0.30, 20_000, 45),  # renewal inside 90 days
        ("medium", 0.21, 243_000, 10),  # large ARR at risk and renewal in 10 days
    ],
)
def test_large_arr_at_risk_or_a_near_renewal_escalates(tier, p, arr_at_risk, days):
    step = risk.lead_step(tier, "csat_avg_90d", p, arr_at_risk / p / 12, days)
    assert step.category == "escalation"
    assert step.due_within_days <= min(7, days)
    assert "Monitor" not in step.text and "Escalate now" in step.text


def test_due_dates_never_fall_after_the_renewal():
    for tier in risk.TIERS:
        for driver in ("usage_decay_score", "open_tickets", "compliance_gap_score", None):
            for days in (0, 3, 10, 20, 45, 89):
                step = risk.lead_step(tier, driver, 0.3, 2_000, days, True)
                assert 0 <= step.due_within_days <= days, (tier, driver, days, step)


@pytest.fixture(scope="module")
def plans(scored_dir):
    """Fact sheets and action plans for a spread of scored accounts (riskiest and renewing first)."""
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    rows = board.board_frame(wh, EXEC)
    picked = pd.concat(
        [rows.head(15), rows.sort_values("days_to_renewal").head(15), rows.sample(20, random_state=1)]
    ).drop_duplicates("customer_id")
    out = []
    for row in picked.itertuples():
        sheet = facts.load_facts(wh, row.customer_id, SYSTEM)
        out.append((row, sheet, actions.plan_actions(sheet)))
    warehouse.close_all()
    return out


def test_the_actions_plan_starts_with_the_stored_recommended_action(plans):
    for row, _sheet, plan in plans:
        assert plan[0].action in row.recommended_action, (row.customer_id, row.recommended_action, plan[0])


def test_no_step_of_an_actions_plan_is_due_after_the_renewal(plans):
    checked = 0
    for _row, sheet, plan in plans:
        days = sheet.days_to_renewal
        if days is not None and days >= 0:
            checked += 1
            assert all(a.due_within_days <= days for a in plan), (sheet.customer_id, days, plan)
    assert checked >= 10


def test_the_riskiest_account_renewing_soon_is_escalated(plans):
    soon = [(row, plan) for row, sheet, plan in plans if 0 <= (sheet.days_to_renewal or -1) <= 30]
    row, plan = max(soon, key=lambda item: item[0].revenue_at_risk)
    if row.risk_tier in ("high", "critical"):
        assert plan[0].category == "escalation"
    assert all(a.due_within_days <= row.days_to_renewal for a in plan)


# -- 15: drivers a person can use ------------------------------------------------------------------
RENEWAL = ["days_to_renewal", "renewal_within_90d", "open_renewal_opportunity", "billing_cycle"]


def test_renewal_timing_is_one_reason_and_actionable_reasons_come_first():
    features = [*RENEWAL, "usage_decay_score", "open_tickets", "tenure_days", "csat_avg_90d"]
    frame = pd.DataFrame(
        [{"days_to_renewal": 39.0, "renewal_within_90d": 1.0, "open_renewal_opportunity": 1.0,
          "billing_cycle": "annual", "usage_decay_score": 0.4, "open_tickets": 3.0, "tenure_days": 400.0,
          "csat_avg_90d": 3.1}]
    )  # fmt: skip
    shap = np.array([[0.9, 0.8, 0.7, 0.6, 0.3, 0.25, -0.2, 0.1, -2.5]])  # last column: expected value
    drivers = explain.drivers_for_frame(features, frame, shap, k=5, calibration=(1.0, 0.0))[0]
    groups = [d.group for d in drivers]
    assert groups.count("renewal_timing") == 1 and len(set(groups)) == len(groups)
    renewal = next(d for d in drivers if d.group == "renewal_timing")
    assert renewal.shap_impact == pytest.approx(0.9 + 0.8 + 0.7 + 0.6)
    assert renewal.feature == "days_to_renewal" and renewal.value == 39.0 and not renewal.actionable
    flags = [d.actionable for d in drivers]
    assert flags == sorted(flags, reverse=True) and flags[0]  # actionable first
    assert drivers[0].group == "usage_trend"
    total = shap.sum()
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert renewal.impact_pp == pytest.approx((sigmoid(total) - sigmoid(total - 3.0)) * 100)
    d = to_dict(renewal)
    assert {"feature", "value", "shap_impact", "reason", "group", "label", "actionable", "impact_pp"} <= set(d)


def test_stored_drivers_never_repeat_renewal_timing(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    stored = wh.df("SELECT drivers FROM predictions WHERE as_of = (SELECT max(as_of) FROM predictions)")
    for text in stored["drivers"]:
        drivers = json.loads(text)
        assert sum(d["feature"] in RENEWAL for d in drivers) <= 1
        assert len({d["group"] for d in drivers}) == len(drivers)
        flags = [d["actionable"] for d in drivers]
        assert flags == sorted(flags, reverse=True)
        assert all(abs(d["impact_pp"]) <= 100 for d in drivers)


def test_the_driver_chart_speaks_in_percentage_points():
    drivers = [
        {"feature": "usage_trend", "label": "Usage trend", "shap_impact": 0.5, "impact_pp": 6.1, "actionable": True},
        {"feature": "days_to_renewal", "label": "Renewal timing", "shap_impact": -0.2, "impact_pp": -2.0},
    ]
    chart = html_charts.driver_bars(drivers)
    assert "percentage points" in chart
    assert chart.index("Usage trend") < chart.index("Renewal timing")  # the strongest on top
    assert "+6.1 pp" in chart and "−2.0 pp" in chart
    legacy = html_charts.driver_bars([{k: v for k, v in d.items() if k != "impact_pp"} for d in drivers])
    assert "log-odds" in legacy


# -- 16: out-of-sample headline --------------------------------------------------------------------
def _report(in_sample: list[bool]) -> monitoring.RealisedReport:
    dates = pd.to_datetime(["2026-01-31", "2026-02-28", "2026-03-31"][: len(in_sample)])
    by_date = pd.DataFrame(
        {
            "as_of": dates,
            "auc": [0.70, 0.72, 0.889][: len(in_sample)],
            "predicted_rate": 0.05,
            "realised_rate": 0.05,
            "in_sample": in_sample,
        }
    )
    pending = pd.DataFrame({"as_of": [], "customers": [], "known_on": []})
    return monitoring.RealisedReport(data_as_of=None, by_date=by_date, calibration=pd.DataFrame(), pending=pending)


def test_the_realised_headline_is_the_newest_out_of_sample_date():
    report = _report([False, False, True])
    assert report.headline["auc"] == 0.72
    assert _report([True, True, True]).headline is None
    assert "No out-of-sample result yet" in _report([True, True, True]).headline_note
    checks = monitoring.trust_checks(SimpleNamespace(metrics={}, data_window={}), True, None, _report([True] * 3))
    assert "0.889" not in checks[-1].detail and checks[-1].status == "pending"  # not judged yet: no warning


def test_model_page_never_headlines_an_in_sample_auc(scored_dir, monkeypatch):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    report = monitoring.realised_vs_predicted(wh, scored_dir, viewer=SYSTEM)
    warehouse.close_all()
    assert len(report.by_date) and report.by_date["in_sample"].all()
    in_sample_auc = f"{report.by_date['auc'].iloc[-1]:.3f}"
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_dir))
    at = AppTest.from_file(APP, default_timeout=120)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["analyst"])
    at.run()
    at.switch_page("views/model_data.py")
    at.run()
    assert not at.exception, at.exception
    texts = [m.value for m in at.metric] + [str(getattr(k, "value", "")) for k in at.markdown]
    assert not any(in_sample_auc in t and "AUC" in t for t in texts if "in-sample" not in t)
    assert any("No out-of-sample result yet" in c.value for c in at.caption)


def test_tier_legend_is_shown_on_board_and_overview(scored_dir, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_dir))
    for page in ("risk_board", "overview"):
        at = AppTest.from_file(APP, default_timeout=120)
        auth.log_in(at.session_state, auth.TEST_VIEWERS["executive"])
        at.run()
        at.switch_page(f"views/{page}.py")
        at.run()
        assert not at.exception, at.exception
        legend = churn_status.tier_legend(scored_dir)  # the thresholds in use, relative to the base rate
        assert any(legend in c.value for c in at.caption), page
