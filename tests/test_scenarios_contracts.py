"""Scenario contracts: every model reads back from its own JSON unchanged, snapshots saved by the
code before the models (`ScenarioResult.as_dict()` through `json_safe`) still open, the CLI's
--json keeps its keys, and a plan's type mistakes get messages a person can act on."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from typing import TypeVar

import pandas as pd
import pytest
from pydantic import BaseModel
from sqlalchemy import insert

from engine import scenarios
from engine.cli import main
from engine.core import store
from engine.core.access import Viewer
from engine.core.contracts import from_json, to_dict, to_json
from engine.core.errors import BadInputError
from engine.data import warehouse

ANALYST = Viewer("analyst", "analyst", "Alex Analyst")
EVERY_LEVER = {
    "outreach": {"top_n": 40, "churn_reduction": 20.0, "cost_per_account": 150.0},
    "discount": {"percent": 10.0, "segment": {"risk_tiers": ["high", "critical"], "renewal_within_days": 90}},
    "adoption": {"usage_increase": 25.0, "cost_per_account": 20.0, "segment": {"plans": ["growth"]}},
    "support": {"resolution_time_cut": 30.0, "open_tickets_cleared": 50.0},
    "price": {"percent": 5.0, "segment": {"plans": ["enterprise"]}},
}

# A snapshot exactly as the code before the contract models stored it in the `result` column
# (a real run's `as_dict()`, with its segment and uplift tables cut to three rows each).
OLD_SNAPSHOT = r"""
{
    "plan": {
        "outreach": {"top_n": 5, "target_by": "revenue_at_risk", "churn_reduction": 20.0, "cost_per_account": 150.0, "segment": {"risk_tiers": [], "plans": [], "industries": [], "regions": [], "owners": [], "renewal_within_days": null, "max_tenure_days": null}},
        "discount": {"percent": 10.0, "elasticity": 1.5, "segment": {"risk_tiers": ["high", "critical"], "plans": [], "industries": [], "regions": [], "owners": [], "renewal_within_days": 90, "max_tenure_days": null}},
        "adoption": {"usage_increase": 25.0, "cost_per_account": 0.0, "segment": {"risk_tiers": [], "plans": ["growth"], "industries": [], "regions": [], "owners": [], "renewal_within_days": null, "max_tenure_days": null}},
        "support": {"resolution_time_cut": 0.0, "open_tickets_cleared": 0.0, "cost_per_account": 0.0, "segment": {"risk_tiers": [], "plans": [], "industries": [], "regions": [], "owners": [], "renewal_within_days": null, "max_tenure_days": null}},
        "price": {"percent": 0.0, "elasticity": 1.0, "segment": {"risk_tiers": [], "plans": [], "industries": [], "regions": [], "owners": [], "renewal_within_days": null, "max_tenure_days": null}}
    },
    "baseline": {"accounts": 537, "expected_churned": 46.209445271075055, "expected_churned_low": 21.243101724176398, "expected_churned_high": 96.89023985593747, "mrr_lost_90d": 743594.556375316, "mrr_lost_90d_low": 321762.33923009504, "mrr_lost_90d_high": 1701362.4116829745, "arr_lost_12m": 2974378.225501264, "arr_lost_12m_low": 1287049.3569203801, "arr_lost_12m_high": 6805449.646731898},
    "scenario": {"accounts": 537, "expected_churned": 41.60121159674772, "expected_churned_low": 18.979535203871094, "expected_churned_high": 88.39787408987833, "mrr_lost_90d": 656588.5142797678, "mrr_lost_90d_low": 283380.07092864695, "mrr_lost_90d_high": 1524474.545130135, "arr_lost_12m": 2626354.057119071, "arr_lost_12m_low": 1133520.2837145878, "arr_lost_12m_high": 6097898.18052054},
    "revenue_retained": 348024.16838219296,
    "revenue_retained_low": 153529.07320579235,
    "revenue_retained_high": 707551.4662113581,
    "price_revenue": 0.0,
    "cost": 128852.79133188385,
    "net_benefit": 219171.3770503091,
    "roi": 1.7009439592642837,
    "roi_at": {"10": 113.57506070215257, "25": 70.5586743253916, "50": 46.60478242477764, "100": 28.381297518254755},
    "levers": [
        {"lever": "adoption", "label": "Adoption push", "active": true, "basis": "model", "assumption": "usage +25% re-scored by the churn model", "assumption_value": 25.0, "segment": "plan growth", "accounts": 232, "revenue_retained": 102261.87366376724, "cost": 0.0, "features_changed": ["events_last_7d", "events_last_30d", "events_last_90d", "events_per_seat_30d", "usage_decay_score", "usage_trend"]},
        {"lever": "support", "label": "Support improvement", "active": false, "basis": "model", "assumption": "resolution time -0%, 0% of open tickets cleared, re-scored by the churn model", "assumption_value": 0.0, "segment": "all scored accounts", "accounts": 0, "revenue_retained": 0.0, "cost": 0.0, "features_changed": ["avg_resolution_hours_90d", "open_tickets"]},
        {"lever": "discount", "label": "Renewal discount", "active": true, "basis": "assumption", "assumption": "churn × (1 - 1.5 × 10%) with the discount (elasticity 1.5)", "assumption_value": 1.5, "segment": "risk tier high, critical; renewing within 90 days", "accounts": 47, "revenue_retained": 121295.41204630397, "cost": 128102.79133188385, "features_changed": []},
        {"lever": "price", "label": "Price change", "active": false, "basis": "assumption", "assumption": "churn × (1 + 1 × +0%) with the price change (elasticity 1)", "assumption_value": 1.0, "segment": "all scored accounts", "accounts": 0, "revenue_retained": 0.0, "cost": 0.0, "features_changed": []},
        {"lever": "outreach", "label": "CS outreach", "active": true, "basis": "assumption", "assumption": "churn of a contacted account -20% (relative)", "assumption_value": 20.0, "segment": "all scored accounts", "accounts": 5, "revenue_retained": 124466.88267212175, "cost": 750.0, "features_changed": []}
    ],
    "segments": [
        {"dimension": "plan_tier", "segment": "enterprise", "accounts": 86, "baseline_churned": 2.824047296050563, "scenario_churned": 2.5179594900696016, "baseline_arr_lost": 1705831.609098887, "scenario_arr_lost": 1532619.5073845075, "revenue_retained": 173212.10171437962, "cost": 62670.16736751},
        {"dimension": "plan_tier", "segment": "growth", "accounts": 232, "baseline_churned": 18.06248433953797, "scenario_churned": 15.415990586706652, "baseline_arr_lost": 1120927.9462468515, "scenario_arr_lost": 955203.9063728654, "revenue_retained": 165724.03987398604, "cost": 55576.50581420951},
        {"dimension": "region", "segment": "APAC", "accounts": 80, "baseline_churned": 7.254954720707591, "scenario_churned": 6.437758212079119, "baseline_arr_lost": 596742.6167643514, "scenario_arr_lost": 505640.8401327629, "revenue_retained": 91101.77663158847, "cost": 41157.09194731978}
    ],
    "uplift": [
        {"accounts_contacted": 1, "arr_recovered": 36218.224242159726, "cost": 150.0, "roi": 240.45482828106483},
        {"accounts_contacted": 2, "arr_recovered": 62593.35765318127, "cost": 300.0, "roi": 207.64452551060424},
        {"accounts_contacted": 3, "arr_recovered": 88838.9424959953, "cost": 450.0, "roi": 196.4198722133229}
    ],
    "readout": "Against the baseline of 46.2 expected churned accounts (21.2-96.9) and $3.0M ARR at risk, this plan expects 41.6 churned accounts and $2.6M ARR lost. It retains $348.0K ARR (range $153.5K to $707.6K) for $128.9K; ROI 170%. CS outreach contributes most: $124.5K of the retained ARR. Outreach ROI by accounts contacted \u2014 top 10: 11,358%, top 25: 7,056%, top 50: 4,660%, top 100: 2,838%. Model-based: Adoption push (features changed and re-scored). Assumptions: Renewal discount (churn × (1 - 1.5 × 10%) with the discount (elasticity 1.5)); CS outreach (churn of a contacted account -20% (relative)).",
    "as_of": "2026-06-30",
    "scores_model_version": "churn-v1",
    "model_version": "churn-v1",
    "conventions": [
        "Baseline: the latest stored churn prediction of every scored account (90-day probability, 90% interval).",
        "Expected churned accounts = sum of churn probabilities.",
        "Revenue lost over 90 days = sum of p × MRR × 3 (a churned account's MRR stops at the start of the window).",
        "ARR lost over 12 months = sum of p × MRR × 12 (annualised run-rate, as 'revenue at risk' on the board).",
        "Revenue retained = baseline ARR lost - scenario ARR lost, valued at current MRR.",
        "Discount cost = discount × MRR × 12 × (1 - scenario p): revenue given up by accounts that stay.",
        "Price revenue = price change × (discounted) MRR × 12 × (1 - scenario p).",
        "ROI = (revenue retained + price revenue - cost) / cost.",
        "Intervals: the same totals on the churn interval's bounds."
    ],
    "notes": []
}
"""
OLD_RESULT_KEYS = set(json.loads(OLD_SNAPSHOT))
OLD_SUMMARY_KEYS = {"id", "name", "tags", "author", "created_at", "cloned_from", "model_version", "data_as_of"}
OLD_SUMMARY_KEYS |= {"revenue_retained", "cost", "roi"}
M = TypeVar("M", bound=BaseModel)


@pytest.fixture(scope="module")
def data(scored_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("scenario_contracts") / "data"
    shutil.copytree(scored_dir, root)
    yield root
    store.dispose_all()


@pytest.fixture(scope="module")
def result(data) -> scenarios.ScenarioResult:
    wh = warehouse.get_warehouse(data, read_only=True)
    made = scenarios.simulate(wh, scenarios.plan_from_dict(EVERY_LEVER), ANALYST, data)
    warehouse.close_all()
    return made


@pytest.fixture(scope="module")
def all_off(data) -> scenarios.ScenarioResult:
    wh = warehouse.get_warehouse(data, read_only=True)
    made = scenarios.simulate(wh, scenarios.Plan(), ANALYST, data)
    warehouse.close_all()
    return made


def round_trip(model: type[M], value: M) -> M:
    """value -> JSON -> model -> JSON gives the same text, and the same fields."""
    text = to_json(value)
    back = from_json(model, text)
    assert to_json(back) == text
    for name in type(value).model_fields:
        before, after = getattr(value, name), getattr(back, name)
        if isinstance(before, pd.DataFrame):
            pd.testing.assert_frame_equal(after, before, check_dtype=False)
        elif not isinstance(before, scenarios.ScenarioResult):  # holds tables; its JSON is compared above
            assert after == before, name
    return back


# -- round trips -------------------------------------------------------------------------------------
def test_a_plan_and_its_levers_round_trip(result):
    round_trip(scenarios.Plan, result.plan)
    for name, cls in scenarios.LEVERS.items():
        round_trip(cls, result.plan.lever(name))
    round_trip(scenarios.Segment, result.plan.discount.segment)
    assert to_dict(result.plan) == to_dict(scenarios.plan_from_dict(EVERY_LEVER))


def test_a_result_round_trips_with_its_tables(result):
    assert all(lever.active for lever in result.levers) and not result.uplift.empty
    back = round_trip(scenarios.ScenarioResult, result)
    assert back.roi_at == result.roi_at and set(back.roi_at) == set(scenarios.ROI_POINTS)
    assert back.as_of == result.as_of and isinstance(back.as_of, date)
    assert list(back.segments.columns) == list(scenarios.SEGMENT_COLUMNS)
    for totals in (result.baseline, result.scenario):
        round_trip(scenarios.Totals, totals)
    for lever in result.levers:
        round_trip(scenarios.LeverEffect, lever)


def test_a_result_with_every_lever_off_keeps_its_empty_curve(all_off):
    back = round_trip(scenarios.ScenarioResult, all_off)
    assert back.uplift.empty and list(back.uplift.columns) == list(scenarios.UPLIFT_COLUMNS)
    assert back.roi is None and back.roi_at == {}


def test_saved_scenarios_and_comparisons_round_trip(data, result, all_off):
    one = scenarios.save("Round trip", result, ANALYST, ["contracts"], data)
    two = scenarios.save("Round trip, off", all_off, ANALYST, ["contracts"], data)
    round_trip(scenarios.SavedScenario, one)
    for listed in scenarios.list_saved(ANALYST, "contracts", data):
        assert listed.result is None
        round_trip(scenarios.SavedScenario, listed)
    run = round_trip(scenarios.SavedRun, scenarios.SavedRun.of(one))
    assert run.saved.id == one.id and run.saved.result is None
    comparison = scenarios.compare([one.id, two.id], ANALYST, "cost", data)
    back = round_trip(scenarios.Comparison, comparison)
    assert back.rank_by == "cost" and back.higher_is_better is False
    assert back.rows["id"].tolist() == [two.id, one.id]
    for metric in scenarios.METRICS.values():
        round_trip(scenarios.Metric, metric)


# -- snapshots saved before the contract models -----------------------------------------------------------
def _store_old(data_dir, payload: dict, name: str) -> int:
    """Insert a row the way the old `save` did: the plan as assumptions, the snapshot as result."""
    row = {
        "name": name,
        "tags": ["old"],
        "author": "analyst",
        "created_at": datetime(2026, 7, 1, 9, 30, tzinfo=UTC),
        "cloned_from": None,
        "assumptions": payload["plan"],
        "result": payload,
        "model_version": payload["model_version"] or payload["scores_model_version"],
        "data_as_of": date.fromisoformat(payload["as_of"]),
        "revenue_retained": payload["revenue_retained"],
        "cost": payload["cost"],
        "roi": payload["roi"],
    }
    with store.get_engine(data_dir).begin() as conn:
        return int(conn.execute(insert(store.scenarios).values(**row)).inserted_primary_key[0])


def _with_later_defaults(snapshot: dict) -> dict:
    """The snapshot with the settings added after it was saved, at their defaults."""
    out = json.loads(json.dumps(snapshot))
    for lever in out["plan"].values():
        lever["segment"].setdefault("segments", [])
    return out


def test_an_old_snapshot_opens_with_the_numbers_it_was_saved_with(tmp_path, capsys):
    old = json.loads(OLD_SNAPSHOT)
    off = {**old, "roi": None, "roi_at": {}, "uplift": [], "notes": ["an old note"]}  # shapes old code wrote
    try:
        first, second = _store_old(tmp_path, old, "Old plan"), _store_old(tmp_path, off, "Old plan, no outreach")
        opened = scenarios.open_saved(first, ANALYST, tmp_path)
        result = opened.opened
        # The model's JSON is the old snapshot, key for key, value for value, plus the settings added
        # since with their defaults (a lever's behavioural segments: none).
        assert to_dict(result) == _with_later_defaults(old)
        assert result.plan.discount.segment.risk_tiers == ("high", "critical")
        assert result.plan.discount.segment.renewal_within_days == 90
        assert result.roi_at == {
            10: old["roi_at"]["10"],
            25: old["roi_at"]["25"],
            50: old["roi_at"]["50"],
            100: old["roi_at"]["100"],
        }
        assert result.levers[0].features_changed == tuple(scenarios.ADOPTION_COLUMNS)
        assert result.as_of == date(2026, 6, 30) and result.baseline.accounts == old["baseline"]["accounts"]
        assert result.segments["accounts"].tolist() == [86, 232, 80]
        assert result.uplift["cost"].tolist() == [150.0, 300.0, 450.0]
        assert opened.plan == result.plan and opened.tags == ("old",)
        no_outreach = scenarios.open_saved(second, ANALYST, tmp_path).opened
        assert no_outreach.uplift.empty and list(no_outreach.uplift.columns) == list(scenarios.UPLIFT_COLUMNS)
        assert no_outreach.roi is None and no_outreach.notes == ("an old note",)
        # ... and reads through the CLI and the comparison as before.
        assert main(["--data-dir", str(tmp_path), "scenario", "show", str(first), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert {k: shown[k] for k in old} == _with_later_defaults(old) and shown["saved"]["name"] == "Old plan"
        assert main(["--data-dir", str(tmp_path), "scenario", "compare", str(first), str(second), "--json"]) == 0
        ranked = json.loads(capsys.readouterr().out)
        assert [r["id"] for r in ranked["rows"]] == [first, second] and ranked["rank_by"] == "net_benefit"
        copy = scenarios.clone(first, ANALYST, data_dir=tmp_path)
        assert to_dict(copy.opened) == _with_later_defaults(old)
    finally:
        store.dispose_all()


# -- the CLI's --json keeps its keys -------------------------------------------------------------------------
def test_cli_json_keeps_the_keys_it_always_had(data, capsys):
    args = ["--data-dir", str(data), "scenario"]
    levers = ["--outreach-top", "10", "--outreach-reduction", "20", "--outreach-cost", "100"]
    assert main([*args, "run", *levers, "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == OLD_RESULT_KEYS
    assert main([*args, "save", "Keys A", "--tag", "keys", *levers, "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert set(saved) == OLD_RESULT_KEYS | {"saved"} and set(saved["saved"]) >= OLD_SUMMARY_KEYS
    assert main([*args, "save", "Keys B", "--tag", "keys", "--discount", "5", "--json"]) == 0
    b_id = json.loads(capsys.readouterr().out)["saved"]["id"]
    assert main([*args, "list", "--tag", "keys", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in listed] == ["Keys B", "Keys A"]
    assert all(set(s) >= OLD_SUMMARY_KEYS for s in listed)
    assert main([*args, "show", str(b_id), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == OLD_RESULT_KEYS | {"saved"}
    assert main([*args, "compare", str(saved["saved"]["id"]), str(b_id), "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert {"rank_by", "higher_is_better", "rows", "notes"} <= set(ranked)
    assert set(ranked["rows"][0]) == {"rank", "id", "name", "author", *scenarios.METRICS}


# -- type mistakes in a plan ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("levers", "message"),
    [
        ({"discount": {"percent": "ten"}}, "Renewal discount: the discount must be a number, not 'ten'."),
        ({"outreach": {"top_n": 5.5}}, "CS outreach: the number of accounts to contact must be a whole number"),
        ({"outreach": {"top_n": True}}, "must be a whole number, not True"),
        ({"price": {"percent": float("nan")}}, "Price change: the price change must be a number, not nan."),
        ({"discount": 10}, "Renewal discount must be a mapping of settings, not int."),
        ({"discount": {"segment": {"plans": "starter"}}}, "The plans of Renewal discount must be a list"),
        ({"adoption": {"segment": {"max_tenure_days": 30.5}}}, "tenure limit of Adoption push must be a whole number"),
        ({"support": {"segment": {"colour": "red"}}}, "Unknown setting(s) for Support improvement segment: colour."),
        ("a plan", "A plan is a mapping of lever name to its settings."),
    ],
)
def test_a_plan_of_the_wrong_types_gets_a_clear_message(levers, message):
    with pytest.raises(BadInputError) as caught:
        scenarios.plan_from_dict(levers)
    assert message in str(caught.value)
