"""Scenario engine: baseline identity, monotone outreach, ROI arithmetic, model-based levers that
change only their named features, saved plans that reopen identically, access, bad input, CLI."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from engine import scenarios
from engine.accounts import board
from engine.churn import features as feats
from engine.cli import main
from engine.core import store
from engine.core.access import AccessDenied, Viewer
from engine.core.contracts import to_json
from engine.core.errors import BadInputError, NotFoundError
from engine.data import warehouse

ANALYST = Viewer("analyst", "analyst", "Alex Analyst")
EXECUTIVE = Viewer("exec", "executive", "Erin Executive")
CSM = Viewer("ana.silva", "csm", "Ana Silva")


@pytest.fixture(scope="module")
def data(scored_dir, tmp_path_factory):
    """A private copy of the scored data dir for this module (saved plans write app state)."""
    root = tmp_path_factory.mktemp("scenarios") / "data"
    shutil.copytree(scored_dir, root)
    yield root
    store.dispose_all()


@pytest.fixture
def wh(data):
    return warehouse.get_warehouse(data, read_only=True)


@pytest.fixture(scope="module")
def base(data):
    wh = warehouse.get_warehouse(data, read_only=True)
    loaded = scenarios.load_baseline(wh, ANALYST, data)
    warehouse.close_all()
    return loaded


def plan(**levers) -> scenarios.Plan:
    return scenarios.plan_from_dict(levers)


def run(wh, data, **levers) -> scenarios.ScenarioResult:
    return scenarios.simulate(wh, plan(**levers), ANALYST, data)


# -- baseline ---------------------------------------------------------------------------------------
def test_baseline_is_the_latest_scores(wh, data):
    frame = board.board_frame(wh, ANALYST)
    result = run(wh, data)
    assert result.baseline.accounts == len(frame)
    assert result.baseline.expected_churned == pytest.approx(frame["churn_probability"].sum())
    assert result.baseline.arr_lost_12m == pytest.approx(frame["revenue_at_risk"].sum())
    assert result.baseline.mrr_lost_90d == pytest.approx(result.baseline.arr_lost_12m / 4)
    b = result.baseline
    assert b.expected_churned_low < b.expected_churned < b.expected_churned_high
    assert b.arr_lost_12m_low < b.arr_lost_12m < b.arr_lost_12m_high


@pytest.mark.parametrize(
    "levers",
    [
        {},
        {
            "outreach": {"top_n": 0, "churn_reduction": 30.0, "cost_per_account": 200.0},
            "discount": {"percent": 0.0, "elasticity": 3.0, "segment": {"plans": ["starter"]}},
            "adoption": {"usage_increase": 0.0, "cost_per_account": 0.0},
            "support": {"resolution_time_cut": 0.0, "open_tickets_cleared": 0.0},
            "price": {"percent": 0.0, "elasticity": 2.0},
        },
    ],
)
def test_every_lever_at_zero_equals_the_baseline_exactly(wh, data, levers):
    result = run(wh, data, **levers)
    assert result.scenario == result.baseline
    assert result.revenue_retained == 0 and result.cost == 0 and result.price_revenue == 0
    assert result.roi is None
    assert not any(lever.active for lever in result.levers)
    assert "equals the baseline" in result.readout
    assert (result.segments["baseline_arr_lost"] == result.segments["scenario_arr_lost"]).all()


def test_a_model_lever_with_zero_effect_leaves_every_probability_exactly(wh, data):
    """Cost but no change in features: the model is asked, and nothing moves."""
    result = run(wh, data, adoption={"cost_per_account": 10.0}, support={"cost_per_account": 5.0})
    assert result.scenario == result.baseline
    assert result.cost == pytest.approx(15.0 * result.baseline.accounts)


# -- outreach, uplift and ROI --------------------------------------------------------------------------
def test_contacting_more_accounts_never_retains_less(wh, data):
    others = {"discount": {"percent": 10.0, "segment": {"plans": ["starter"]}}, "adoption": {"usage_increase": 20.0}}
    retained = []
    for top_n in (0, 1, 5, 10, 25, 50, 100, 200, 10_000):
        result = run(wh, data, outreach={"top_n": top_n, "churn_reduction": 15.0, "cost_per_account": 100.0}, **others)
        retained.append(result.revenue_retained)
    assert all(later >= earlier for earlier, later in zip(retained, retained[1:], strict=False))
    assert retained[-1] > retained[0]
    curve = result.uplift["arr_recovered"].to_numpy()
    assert (np.diff(curve) >= 0).all()
    assert result.uplift["accounts_contacted"].iloc[-1] == result.baseline.accounts
    assert any("fewer than the 10,000" in n for n in result.notes)


def test_roi_arithmetic(wh, data):
    frame = board.board_frame(wh, ANALYST)
    top = frame.sort_values("revenue_at_risk", ascending=False, kind="stable").head(20)
    result = run(wh, data, outreach={"top_n": 20, "churn_reduction": 30.0, "cost_per_account": 100.0})
    expected = float((top["churn_probability"] * 0.30 * top["mrr"] * 12).sum())
    assert result.revenue_retained == pytest.approx(expected, rel=1e-9)
    assert result.cost == pytest.approx(2000.0)
    assert result.net_benefit == pytest.approx(expected - 2000.0)
    assert result.roi == pytest.approx((expected - 2000.0) / 2000.0)
    top10 = top.head(10)
    gain10 = float((top10["churn_probability"] * 0.30 * top10["mrr"] * 12).sum())
    assert result.roi_at[10] == pytest.approx((gain10 - 1000.0) / 1000.0)
    row = result.uplift[result.uplift["accounts_contacted"] == 20].iloc[0]
    assert row["arr_recovered"] == pytest.approx(expected) and row["cost"] == pytest.approx(2000.0)
    # Intervals carry the same relative change.
    assert result.revenue_retained_low < result.revenue_retained < result.revenue_retained_high
    contacted = [lever for lever in result.levers if lever.lever == "outreach"][0]
    assert contacted.accounts == 20 and contacted.basis == "assumption" and contacted.assumption_value == 30.0


def test_risk_tier_targeting_calls_the_most_urgent_tier_first(base):
    order = scenarios.target_order(base.frame, scenarios.Outreach(top_n=5, target_by="risk_tier"))
    ranks = base.frame["risk_tier"].map(scenarios.TIER_RANK).to_numpy()[order]
    assert (np.diff(ranks) >= 0).all()


def test_discount_and_price_arithmetic(wh, data, base):
    result = run(
        wh,
        data,
        discount={"percent": 10.0, "elasticity": 2.0, "segment": {"plans": ["starter"]}},
        price={"percent": 5.0, "elasticity": 1.0, "segment": {"plans": ["enterprise"]}},
    )
    frame = base.frame
    p, arr = frame["churn_probability"].to_numpy(), frame["mrr"].to_numpy() * 12
    starter, enterprise = (frame["plan_tier"] == "starter").to_numpy(), (frame["plan_tier"] == "enterprise").to_numpy()
    p1 = np.where(starter, p * 0.8, np.where(enterprise, np.clip(p * 1.05, 0, 1), p))
    assert result.scenario.expected_churned == pytest.approx(p1.sum())
    assert result.cost == pytest.approx(float((0.10 * arr * (1 - p1))[starter].sum()))
    assert result.price_revenue == pytest.approx(float((0.05 * arr * (1 - p1))[enterprise].sum()))
    assert result.net_benefit == pytest.approx(result.revenue_retained + result.price_revenue - result.cost)
    assert result.roi == pytest.approx(result.net_benefit / result.cost)
    by_plan = result.segments[result.segments["dimension"] == "plan_tier"].set_index("segment")
    assert by_plan["accounts"].sum() == result.baseline.accounts
    assert by_plan.loc["growth", "revenue_retained"] == pytest.approx(0.0)
    assert by_plan["revenue_retained"].sum() == pytest.approx(result.revenue_retained)


# -- model-based levers ------------------------------------------------------------------------------------
class _Spy:
    """Records the frames the model is asked about."""

    def __init__(self, model):
        self.model, self.frames = model, []

    def predict(self, frame):
        self.frames.append(frame.copy())
        return self.model.predict(frame)


@pytest.mark.parametrize(
    ("levers", "allowed"),
    [
        ({"adoption": {"usage_increase": 40.0}}, scenarios.ADOPTION_COLUMNS),
        ({"support": {"resolution_time_cut": 50.0, "open_tickets_cleared": 100.0}}, scenarios.SUPPORT_COLUMNS),
    ],
)
def test_model_levers_change_predictions_only_through_their_named_features(wh, data, base, levers, allowed):
    inputs = scenarios.model_inputs(wh, base, data)
    spy = _Spy(inputs.model)
    result = scenarios.run(base, plan(**levers), dataclasses.replace(inputs, model=spy))
    (asked,) = spy.frames
    original = inputs.features.loc[asked.index]
    changed = [c for c in feats.FEATURE_NAMES if not asked[c].equals(original[c])]
    assert changed and set(changed) <= set(allowed)
    # The adoption push also raises each event type's usage (the demo's model reads its event types).
    events = set(scenarios.event_usage_columns(list(inputs.features.columns))) if "adoption" in levers else set()
    moved = {c for c in asked.columns if c.startswith("evt_") and not asked[c].equals(original[c])}
    assert moved <= events and bool(moved) == bool(events)
    assert result.scenario.expected_churned != result.baseline.expected_churned
    (lever,) = [lever for lever in result.levers if lever.active]
    assert lever.basis == "model" and set(lever.features_changed) == set(allowed) | events


def test_a_lever_the_serving_model_cannot_feel_says_so(wh, data, base):
    """A tenure baseline serving (it reads only tenure): the adoption lever changes no score, and
    the run says why rather than reporting a plan that retains nothing as if it had been weighed."""
    inputs = scenarios.model_inputs(wh, base, data)
    tenure_only = dataclasses.replace(inputs, model=_Spy(inputs.model))
    tenure_only.model.features = ("tenure_days",)
    assert scenarios.lever_reach(("tenure_days",)) == {"adoption": (), "support": ()}
    assert scenarios.lever_reach(inputs.model.features)["adoption"]  # the demo's model reads usage
    result = scenarios.run(base, plan(adoption={"usage_increase": 40.0}), tenure_only)
    assert any(n.startswith("Adoption: The serving model reads none of the features") for n in result.notes)
    clean = scenarios.run(base, plan(adoption={"usage_increase": 40.0}), inputs)
    assert not any("reads none" in n for n in clean.notes)


def test_raised_usage_keeps_derived_features_consistent(wh, base, data):
    frame = scenarios.model_inputs(wh, base, data).features
    out = scenarios.raise_usage(frame, 0.5)
    assert np.allclose(out["events_last_30d"], frame["events_last_30d"] * 1.5)
    assert np.allclose(
        out["events_last_90d"] - out["events_last_30d"], frame["events_last_90d"] - frame["events_last_30d"]
    )
    prev = frame["events_prev_30d"]
    decay = np.where(prev > 0, np.maximum(0, 1 - out["events_last_30d"] / prev.where(prev > 0, 1)), 0)
    assert np.allclose(out["usage_decay_score"], decay)
    assert np.allclose(out["events_per_seat_30d"], out["events_last_30d"] / np.maximum(frame["seats"], 1))
    assert (out["usage_trend"] >= frame["usage_trend"] - 1e-12).all()
    # Recomputing the untouched SQL's own formulas on an unchanged frame reproduces it.
    same = scenarios.raise_usage(frame, 0.0)
    for column in scenarios.ADOPTION_COLUMNS:
        assert np.allclose(same[column], frame[column], equal_nan=True), column


def test_raised_usage_moves_each_event_type_and_needs_no_seats_or_tickets():
    """A company's model reads its own event types (a ChurnSim CRM company's serving baseline:
    five evt_*_count_90d): usage +20% moved only the totals, and with no seats or tickets loaded
    the run stopped on KeyError 'seats'."""
    frame = pd.DataFrame(
        {
            "events_last_7d": [10.0, 0.0],
            "events_last_30d": [40.0, 0.0],
            "events_prev_30d": [50.0, 5.0],
            "events_last_90d": [120.0, 5.0],
            "usage_decay_score": [0.2, 1.0],
            "usage_trend": [0.0, -1.0],
            "evt_login_count_7d": [7.0, 0.0],
            "evt_login_count_28d": [28.0, 0.0],
            "evt_login_count_90d": [90.0, 4.0],
            "evt_login_trend_28d": [np.log(29 / 21), np.log(1 / 5)],
            "evt_deal_value_28d": [1000.0, 0.0],
            "evt_deal_value_90d": [3000.0, 0.0],
            "evt_quote_count_90d": [45.0, 0.0],  # its 28 days were screened out
            "evt_quote_days_since_last": [3.0, 60.0],
        }
    )
    out = scenarios.raise_usage(frame, 0.5)
    assert list(out["evt_login_count_7d"]) == [10.5, 0.0] and list(out["evt_login_count_28d"]) == [42.0, 0.0]
    assert list(out["evt_login_count_90d"]) == [104.0, 4.0]  # + the 28 days' gain
    assert np.allclose(out["evt_login_trend_28d"], [np.log(43 / 21), np.log(1 / 5)])  # previous 28 days: 20 and 4
    assert list(out["evt_deal_value_28d"]) == [1500.0, 0.0] and list(out["evt_deal_value_90d"]) == [3500.0, 0.0]
    assert np.allclose(out["evt_quote_count_90d"], [45 + 45 * 28 / 90 * 0.5, 0.0])
    assert list(out["evt_quote_days_since_last"]) == [3.0, 60.0]
    assert "events_per_seat_30d" not in out and "seats" not in out
    assert scenarios.improve_support(frame, 0.3, 0.5).equals(frame)  # no tickets loaded: nothing to change
    reach = scenarios.lever_reach(("tenure_days", "evt_login_count_90d", "evt_quote_days_since_last", "mrr"))
    assert reach == {"adoption": ("evt_login_count_90d",), "support": ()}


def test_model_lever_segment_limits_the_rescored_accounts(wh, data, base):
    inputs = scenarios.model_inputs(wh, base, data)
    spy = _Spy(inputs.model)
    levers = plan(adoption={"usage_increase": 30.0, "segment": {"plans": ["growth"], "max_tenure_days": 400}})
    result = scenarios.run(base, levers, dataclasses.replace(inputs, model=spy))
    wanted = (base.frame["plan_tier"] == "growth") & (base.frame["tenure_days"] <= 400)
    assert len(spy.frames[0]) == int(wanted.sum()) == result.levers[0].accounts
    by_plan = result.segments[result.segments["dimension"] == "plan_tier"].set_index("segment")
    assert by_plan.loc["starter", "revenue_retained"] == 0 and by_plan.loc["enterprise", "revenue_retained"] == 0


# -- saved plans ---------------------------------------------------------------------------------------------
def test_a_saved_scenario_reopens_with_identical_numbers_after_a_restart(wh, data):
    result = run(
        wh,
        data,
        outreach={"top_n": 30, "churn_reduction": 20.0, "cost_per_account": 150.0},
        adoption={"usage_increase": 25.0, "segment": {"plans": ["growth"]}},
        discount={"percent": 5.0},
    )
    saved = scenarios.save("Q3 save plan", result, ANALYST, "q3, Renewals", data)
    assert saved.tags == ("q3", "renewals") and saved.author == "analyst"
    assert saved.model_version == result.model_version and saved.data_as_of == result.as_of
    store.dispose_all()  # as if the app restarted
    scenarios.clear_cache()
    again = scenarios.open_saved(saved.id, EXECUTIVE, data)
    assert to_json(again.opened) == to_json(result)
    assert again.result.baseline == result.baseline and again.result.scenario == result.scenario
    pd.testing.assert_frame_equal(again.result.segments, result.segments, check_dtype=False)
    assert again.plan == result.plan


def test_list_newest_first_with_tags_clone_and_delete(wh, data):
    result = run(wh, data, outreach={"top_n": 10, "churn_reduction": 10.0, "cost_per_account": 50.0})
    first = scenarios.save("First", result, ANALYST, ["alpha"], data)
    second = scenarios.save("Second", result, ANALYST, ["beta"], data)
    listed = scenarios.list_saved(EXECUTIVE, data_dir=data)
    ids = [s.id for s in listed]
    assert ids.index(second.id) < ids.index(first.id)
    assert [s.id for s in scenarios.list_saved(EXECUTIVE, "alpha", data)] == [first.id]
    copy = scenarios.clone(first.id, ANALYST, data_dir=data)
    assert copy.name == "Copy of First" and copy.cloned_from == first.id
    assert to_json(copy.opened) == to_json(first.opened)
    again = scenarios.clone(first.id, ANALYST, data_dir=data)  # a second copy gets the next free name
    assert again.name == "Copy of First (2)"
    scenarios.delete_saved(again.id, ANALYST, data)
    scenarios.delete_saved(copy.id, ANALYST, data)
    with pytest.raises(NotFoundError, match=f"No saved scenario with id {copy.id}"):
        scenarios.open_saved(copy.id, ANALYST, data)
    with pytest.raises(NotFoundError):
        scenarios.delete_saved(copy.id, ANALYST, data)


def test_compare_ranks_by_the_chosen_metric(wh, data):
    small = run(wh, data, outreach={"top_n": 5, "churn_reduction": 20.0, "cost_per_account": 100.0})
    big = run(wh, data, outreach={"top_n": 300, "churn_reduction": 20.0, "cost_per_account": 100.0})
    a = scenarios.save("Small", small, ANALYST, (), data)
    b = scenarios.save("Big", big, ANALYST, (), data)
    by_roi = scenarios.compare([b.id, a.id], EXECUTIVE, "roi", data)
    assert by_roi.rows["id"].tolist() == [a.id, b.id]  # the top accounts pay back best
    by_retained = scenarios.compare([a.id, b.id], EXECUTIVE, "revenue_retained", data)
    assert by_retained.rows["id"].tolist() == [b.id, a.id]
    by_cost = scenarios.compare([a.id, b.id], EXECUTIVE, "cost", data)  # lower is better
    assert by_cost.rows["id"].tolist() == [a.id, b.id]
    assert by_cost.rows["rank"].tolist() == [1, 2]


# -- access and bad input ------------------------------------------------------------------------------------
def test_executives_read_but_cannot_run_save_clone_or_delete(wh, data):
    result = run(wh, data, outreach={"top_n": 3, "churn_reduction": 5.0})
    saved = scenarios.save("Exec can read", result, ANALYST, (), data)
    with pytest.raises(AccessDenied, match="edit scenarios"):
        scenarios.simulate(wh, scenarios.Plan(), EXECUTIVE, data)
    for attempt in (
        lambda: scenarios.save("x", result, EXECUTIVE, (), data),
        lambda: scenarios.clone(saved.id, EXECUTIVE, data_dir=data),
        lambda: scenarios.delete_saved(saved.id, EXECUTIVE, data),
    ):
        with pytest.raises(AccessDenied):
            attempt()
    assert scenarios.open_saved(saved.id, EXECUTIVE, data).name == "Exec can read"
    with pytest.raises(AccessDenied):
        scenarios.list_saved(CSM, data_dir=data)
    with pytest.raises(AccessDenied):
        scenarios.open_saved(saved.id, CSM, data)


@pytest.mark.parametrize(
    ("levers", "message"),
    [
        ({"outreach": {"top_n": -5}}, "number of accounts to contact must be 0 or more"),
        ({"outreach": {"top_n": 5, "churn_reduction": 120.0}}, "between 0% and 100%"),
        ({"discount": {"percent": -1.0}}, "Renewal discount: the discount must be between"),
        ({"adoption": {"usage_increase": 101.0}}, "Adoption push: the usage increase"),
        ({"support": {"open_tickets_cleared": 150.0}}, "share of open tickets cleared"),
        ({"price": {"percent": -150.0}}, "between -100% and 100%"),
        ({"outreach": {"top_n": 5, "cost_per_account": -1.0}}, "cannot be negative"),
        ({"discount": {"percent": 5.0, "elasticity": -1.0}}, "elasticity cannot be negative"),
        ({"outreach": {"top_n": 5, "target_by": "luck"}}, "target by one of"),
        ({"discount": {"percent": 5.0, "segment": {"regions": ["Mars"]}}}, r"segment \(region Mars\) matches no"),
        ({"adoption": {"usage_increase": 5.0, "segment": {"renewal_within_days": -3}}}, "whole number of days"),
        ({"outreach": {"top_n": 5, "churn_reduction": 5.0, "segment": {"plans": ["platinum"]}}}, "matches no scored"),
        ({"teleport": {}}, "Unknown lever"),
        ({"discount": {"pct": 5}}, "Unknown setting"),
    ],
)
def test_bad_input_gets_a_clear_message(wh, data, levers, message):
    with pytest.raises(BadInputError, match=message):
        scenarios.simulate(wh, scenarios.plan_from_dict(levers), ANALYST, data)


def test_bad_saved_ids_names_and_comparisons(wh, data):
    result = run(wh, data)
    with pytest.raises(BadInputError, match="Give the scenario a name"):
        scenarios.save("  ", result, ANALYST, (), data)
    with pytest.raises(NotFoundError, match="No saved scenario with id 9999"):
        scenarios.open_saved(9999, ANALYST, data)
    with pytest.raises(BadInputError, match="not a scenario id"):
        scenarios.open_saved("abc", ANALYST, data)
    one = scenarios.save("One", result, ANALYST, (), data)
    before = len(scenarios.list_saved(ANALYST, data_dir=data))
    with pytest.raises(BadInputError, match=rf"already called 'one' \(#{one.id}\)"):
        scenarios.save(" one ", result, ANALYST, (), data)  # names are told apart regardless of case
    assert len(scenarios.list_saved(ANALYST, data_dir=data)) == before
    with pytest.raises(BadInputError, match="Compare 2 to 5 saved scenarios; got 1"):
        scenarios.compare([one.id], ANALYST, "roi", data)
    with pytest.raises(BadInputError, match="Compare 2 to 5 saved scenarios; got 6"):
        scenarios.compare([1, 2, 3, 4, 5, 6], ANALYST, "roi", data)
    with pytest.raises(BadInputError, match="appear once"):
        scenarios.compare([one.id, one.id], ANALYST, "roi", data)
    with pytest.raises(BadInputError, match="Cannot rank by 'luck'"):
        scenarios.compare([one.id, one.id + 1000], ANALYST, "luck", data)
    with pytest.raises(NotFoundError, match=str(one.id + 1000)):
        scenarios.compare([one.id, one.id + 1000], ANALYST, "roi", data)


# -- CLI --------------------------------------------------------------------------------------------------
def test_cli_run_save_list_show_compare(data, capsys):
    args = ["--data-dir", str(data), "scenario"]
    levers = ["--outreach-top", "25", "--outreach-reduction", "20", "--outreach-cost", "150"]
    assert main([*args, "run", *levers, "--discount", "10", "--discount-segment", "plan=starter", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["plan"]["discount"]["segment"]["plans"] == ["starter"]
    assert payload["levers"][-1]["accounts"] == 25
    assert main([*args, "save", "CLI plan A", "--tag", "cli", *levers]) == 0
    assert "Saved as #" in capsys.readouterr().out
    assert (
        main(
            [
                *args,
                "save",
                "CLI plan B",
                "--tag",
                "cli",
                "--outreach-top",
                "100",
                "--outreach-reduction",
                "20",
                "--outreach-cost",
                "150",
                "--json",
            ]
        )
        == 0
    )
    b_id = json.loads(capsys.readouterr().out)["saved"]["id"]
    assert main([*args, "list", "--tag", "cli", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in listed] == ["CLI plan B", "CLI plan A"]
    a_id = listed[1]["id"]
    assert main([*args, "compare", str(a_id), str(b_id), "--rank-by", "revenue_retained", "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in ranked["rows"]] == [b_id, a_id]
    assert main([*args, "show", str(a_id)]) == 0
    assert "CLI plan A" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--outreach-top", "-3"], "must be 0 or more"),
        (["run", "--discount", "140"], "between 0% and 100%"),
        (["run", "--discount", "5", "--discount-segment", "region=Atlantis"], "matches no scored account"),
        (["run", "--adoption-segment", "colour=red"], "is not KEY=VALUES"),
        (["show", "4242"], "No saved scenario with id 4242"),
        (["delete", "4242"], "No saved scenario with id 4242"),
        (["compare", "1"], "Compare 2 to 5"),
        (["compare", "1", "2", "3", "4", "5", "6"], "Compare 2 to 5"),
        (["compare", "1", "2", "--rank-by", "vibes"], "Cannot rank by 'vibes'"),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(data, capsys, argv, message):
    assert main(["--data-dir", str(data), "scenario", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_scenarios_table_also_builds_on_postgresql():
    """RADAR_STATE_URL may point at PostgreSQL: the table's DDL must compile for it."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    ddl = str(CreateTable(store.scenarios).compile(dialect=postgresql.dialect()))
    assert "CREATE TABLE scenarios" in ddl and "JSON" in ddl and "SERIAL" in ddl
