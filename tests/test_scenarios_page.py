"""Scenarios page through the app (AppTest): analysts build, run, save, clone, delete; executives
read and compare saved plans with no editing controls; CSMs cannot open it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.shared import auth, cache
from engine import scenarios
from engine.core import store
from engine.data import warehouse

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
ANALYST = auth.TEST_VIEWERS["analyst"]
EDIT_BUTTONS = {"Run scenario", "Edit in Build", "Clone", "Delete for good", "Save"}


@pytest.fixture(scope="module")
def data(scored_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("scenario_page") / "data"
    shutil.copytree(scored_dir, root)
    yield root
    store.dispose_all()


@pytest.fixture(scope="module")
def two_saved(data):
    """Two saved plans, made through the engine as an analyst would."""
    wh = warehouse.get_warehouse(data, read_only=True)
    saved = []
    for name, top_n in (("Top 10 calls", 10), ("Top 200 calls", 200)):
        plan = scenarios.plan_from_dict(
            {"outreach": {"top_n": top_n, "churn_reduction": 20.0, "cost_per_account": 200.0}}
        )
        result = scenarios.simulate(wh, plan, ANALYST, data)
        saved.append(scenarios.save(name, result, ANALYST, ["page-test"], data))
    warehouse.close_all()
    return saved


def _page(data: Path, role: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("RADAR_DATA_DIR", str(data))
    at = AppTest.from_file(APP, default_timeout=120)
    auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
    at.run()
    at.switch_page("views/scenarios.py")
    at.run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Scenarios"]
    return at


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_analyst_runs_a_plan_and_saves_it(data, monkeypatch):
    at = _page(data, "analyst", monkeypatch)
    assert [t.label for t in at.tabs] == ["Build", "Saved plans", "Compare"]
    at.number_input(key="sc0_outreach_top_n").set_value(50)
    at.slider(key="sc0_outreach_churn_reduction").set_value(20.0)
    at.number_input(key="sc0_outreach_cost_per_account").set_value(250.0)
    at.slider(key="sc0_adoption_usage_increase").set_value(30.0)
    _button(at, "Run scenario").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    cards = {m.label: m.value for m in at.tabs[0].metric}
    assert {"Expected churns", "ARR lost, 12 months", "ARR retained", "Cost", "ROI"} <= set(cards)
    assert cards["Cost"] == "$12.5K"  # 50 accounts x $250
    assert any("Against the baseline" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) >= 3  # uplift, ROI at top k, segments
    at.text_input[0].input("Page plan")
    at.text_input[1].input("q4, pages")
    _button(at, "Save").click().run()
    assert not at.exception, at.exception
    assert any("Saved as #" in s.value for s in at.success)
    saved = scenarios.list_saved(ANALYST, "pages", data)
    assert [s.name for s in saved] == ["Page plan"]
    assert saved[0].cost == pytest.approx(12_500.0)


def test_the_form_starts_with_every_lever_off(data, monkeypatch):
    at = _page(data, "analyst", monkeypatch)
    assert at.slider(key="sc0_price_percent").value == 0.0
    _button(at, "Run scenario").click().run()
    assert not at.exception and not at.error
    assert any("equals the baseline" in i.value for i in at.info)
    assert {m.label: m.value for m in at.tabs[0].metric}["Cost"] == "$0"


def test_analyst_sees_engine_errors_not_tracebacks(data, monkeypatch):
    at = _page(data, "analyst", monkeypatch)
    at.slider(key="sc0_adoption_usage_increase").set_value(10.0)
    at.number_input(key="sc0_adoption_seg_max_tenure_days").set_value(0)  # nobody is a customer for 0 days
    _button(at, "Run scenario").click().run()
    assert not at.exception
    assert any("matches no scored account" in e.value for e in at.error)


def test_analyst_edits_clones_and_deletes_a_saved_plan(data, two_saved, monkeypatch):
    first = two_saved[0]
    at = _page(data, "analyst", monkeypatch)
    at.selectbox(key="scenario_opened").set_value(first.id).run()
    assert any(first.name == h.value for h in at.subheader)
    _button(at, "Edit in Build").click().run()
    assert not at.exception
    assert at.number_input(key="sc1_outreach_top_n").value == 10
    assert at.slider(key="sc1_outreach_churn_reduction").value == 20.0
    at.button(key="sc_clone").click().run()
    assert not at.exception
    clone = next(s for s in scenarios.list_saved(ANALYST, data_dir=data) if s.cloned_from == first.id)
    assert any(f"Cloned as #{clone.id}" in s.value for s in at.success)
    assert at.selectbox(key="scenario_opened").value == clone.id
    at.button(key="sc_delete").click().run()
    assert not at.exception
    assert any(f"Deleted #{clone.id}" in s.value for s in at.success)
    assert clone.id not in [s.id for s in scenarios.list_saved(ANALYST, data_dir=data)]


def test_executive_reads_and_compares_without_editing_controls(data, two_saved, monkeypatch):
    at = _page(data, "executive", monkeypatch)
    assert [t.label for t in at.tabs] == ["Saved plans", "Compare"]
    assert not EDIT_BUTTONS & {b.label for b in at.button}
    assert not at.get("form")
    names = set(at.dataframe[0].value["Name"])
    assert {s.name for s in two_saved} <= names
    at.multiselect(key="sc_compare_ids").set_value([s.id for s in two_saved])
    at.selectbox(key="sc_rank_by").set_value("roi").run()
    assert not at.exception, at.exception
    assert any("**Top 10 calls** ranks first" in m.value for m in at.markdown)
    figures = [json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")]
    bars = next(f for f in figures if f["type"] == "bar" and f.get("orientation") == "h")
    # Plans are named by their id, as in the picker, with the rank in front (the bars once said #1, #2).
    assert set(bars["y"]) == {f"{rank}. #{s.id} {s.name}" for rank, s in zip((1, 2), two_saved, strict=True)}


def test_csm_cannot_open_the_page(data, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(data))
    at = AppTest.from_file(APP, default_timeout=60)
    auth.log_in(at.session_state, auth.TEST_VIEWERS["csm"])
    at.run()
    at.switch_page("views/scenarios.py").run()  # its link opens (hidden from the menu) on the page's guard
    assert [e.value for e in at.error] == ["Your role (csm) cannot open this page. Ask an admin if you need access."]
    assert not at.metric and not at.main.button
    page = AppTest.from_file(str(ROOT / "views" / "scenarios.py"), default_timeout=60)
    auth.log_in(page.session_state, auth.TEST_VIEWERS["csm"])
    page.run()
    assert [e.value for e in page.error] == ["Your role (csm) cannot open this page. Ask an admin if you need access."]
    assert not page.metric and not page.button


# -- issue 12, item 18 ---------------------------------------------------------------------------
def _fields(at: AppTest) -> dict[str, str]:
    return {t.label: t.value for t in at.text_input if t.label in ("Name", "Tags")}


def test_the_save_form_starts_empty_for_each_new_plan(data, monkeypatch):
    """Tags typed for one plan were still in the form after running the next one."""
    at = _page(data, "analyst", monkeypatch)
    at.number_input(key="sc0_outreach_top_n").set_value(20)
    at.slider(key="sc0_outreach_churn_reduction").set_value(10.0)
    _button(at, "Run scenario").click().run()
    next(t for t in at.text_input if t.label == "Name").input("First plan")
    next(t for t in at.text_input if t.label == "Tags").input("q1, old-tag")
    _button(at, "Save").click().run()
    assert not at.exception and any("Saved as #" in s.value for s in at.success)
    assert _fields(at) == {"Name": "", "Tags": ""}
    next(t for t in at.text_input if t.label == "Tags").input("typed, not saved")
    at.number_input(key="sc0_outreach_top_n").set_value(40)
    _button(at, "Run scenario").click().run()
    assert not at.exception
    assert _fields(at) == {"Name": "", "Tags": ""}


def test_a_high_roi_carries_its_assumptions_and_labels_are_plain(data, monkeypatch):
    at = _page(data, "analyst", monkeypatch)
    labels = [n.label for n in at.number_input]
    assert not any("elasticity" in label.lower() for label in labels)
    assert any("elasticity" in (n.proto.help or "") for n in at.number_input)
    at.number_input(key="sc0_outreach_top_n").set_value(50)
    at.slider(key="sc0_outreach_churn_reduction").set_value(30.0)
    at.number_input(key="sc0_outreach_cost_per_account").set_value(10.0)
    _button(at, "Run scenario").click().run()
    assert not at.exception and not at.error
    cards = {m.label: m for m in at.tabs[0].metric}
    roi = float(cards["ROI"].value.rstrip("%").replace(",", ""))
    assert roi > 1000
    assert "summed" in cards["Revenue lost, 90 days"].proto.help
    warning = next(w.value for w in at.warning if "rests on these assumptions" in w.value)
    assert "CS outreach to 50 accounts cuts each one's churn by 30% (assumed)" in warning
    assert "$10 per account" in warning
    assert "CS outreach to 50 accounts" in cards["ROI"].proto.help


def test_demo_saves_one_sample_plan_the_executive_can_read(scored_dir, tmp_path, monkeypatch):
    from engine import cli

    root = tmp_path / "demo"
    shutil.copytree(scored_dir, root)
    assert cli.main(["--data-dir", str(root), "demo"]) == 0
    assert cli.main(["--data-dir", str(root), "demo"]) == 0  # a second run adds no second sample
    saved = scenarios.list_saved(auth.TEST_VIEWERS["executive"], data_dir=root)
    assert [(s.name, s.tags) for s in saved] == [(scenarios.SAMPLE_NAME, scenarios.SAMPLE_TAGS)]
    assert saved[0].cost > 0 and saved[0].revenue_retained > 0
    at = _page(root, "executive", monkeypatch)
    assert scenarios.SAMPLE_NAME in set(at.dataframe[0].value["Name"])
    assert any("renewal save plan" in h.value for h in at.subheader)
    assert not at.info or all("No saved plans" not in i.value for i in at.info)
    store.dispose_all()


def test_a_lever_the_serving_model_cannot_feel_is_locked_off(data, monkeypatch):
    """A company with no support tickets: the support lever's sliders took 30% and its cost, and the
    run spent the money on a change no score could show. Its controls are now off and locked."""
    real = cache.lever_reach
    monkeypatch.setattr(cache, "lever_reach", lambda data_dir: {**real(data_dir), "support": ()})
    at = _page(data, "analyst", monkeypatch)
    for key in ("support_resolution_time_cut", "support_open_tickets_cleared", "support_cost_per_account"):
        widget = at.number_input(key=f"sc0_{key}") if key.endswith("account") else at.slider(key=f"sc0_{key}")
        assert widget.disabled and widget.value == 0.0
    assert not at.slider(key="sc0_adoption_usage_increase").disabled
    assert any("open tickets" in c.value and "The lever is off." in c.value for c in at.caption)
