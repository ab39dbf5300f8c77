"""Model & data and Data pages through the app (AppTest): roles, charts, uploads, retrain."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from components import ops
from components.shared import auth
from engine.churn import registry, retrain, status, training
from engine.data import warehouse
from tests.apptest import open_page, shown

ROOT = Path(__file__).resolve().parents[1]

NEW_CUSTOMER = (
    "customer_id,name,plan_tier,industry,region,seats,signup_date,billing_cycle,csm_owner,status\n"
    "upload-1,Uploaded Ltd,growth,software,EMEA,25,2026-05-01,annual,ana.silva,active\n"
)
BAD_CUSTOMERS = (
    "customer_id,name,plan_tier,industry,region,seats,signup_date,billing_cycle,csm_owner,status\n"
    "upload-2,Fine Co,growth,software,EMEA,25,2026-05-01,annual,ana.silva,active\n"
    "upload-3,Broken Co,platinum,software,EMEA,lots,2026-13-01,annual,ana.silva,active\n"
)


def _open(data: Path, role: str, page: str, monkeypatch) -> AppTest:
    return open_page(page, role, data=data, monkeypatch=monkeypatch)


def _labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def _customers(data: Path) -> int:
    wh = warehouse.get_warehouse(data, read_only=True)
    count = wh.scalar("SELECT count(*) FROM customers")
    warehouse.close_all()
    return count


@pytest.mark.parametrize("role", ["executive", "analyst"])
def test_model_page_for_readers_has_no_admin_controls(scored_dir, role, monkeypatch):
    at = _open(scored_dir, role, "model_data", monkeypatch)
    assert at.title[0].value == "Model & data"
    assert [t.label for t in at.tabs] == ["Registry", "Quality", "Drift", "Realised vs predicted"]
    labels = _labels(at)
    assert not {"Promote", "Roll back", "Retrain now"} & set(labels)
    assert any("Only admins" in c.value for c in at.caption)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Serving model"] == registry.production("churn", scored_dir).version
    # ROC, PR, calibration, lift, beeswarm, drift bars, two distributions, accuracy, rates, calibration
    assert len(at.get("plotly_chart")) >= 10
    verdict = (at.success or at.warning or at.error)[0].value
    assert "Input drift" in verdict and "Realised vs predicted" in verdict
    drift = next(d.value for d in at.dataframe if "reference_median" in d.value.columns)
    medians = drift[["reference_median", "current_median"]]
    assert not medians.isin(["None", "nan"]).any().any()  # a category's missing median is a dash
    assert medians.map(lambda v: isinstance(v, str)).all().all()


def test_model_page_for_admin_offers_promote_rollback_retrain(scored_dir, monkeypatch):
    at = _open(scored_dir, "admin", "model_data", monkeypatch)
    assert [t.label for t in at.tabs][-1] == "Retrain"
    assert {"Promote", "Roll back", "Retrain now"} <= set(_labels(at))


@pytest.mark.parametrize(("role", "page"), [("csm", "model_data"), ("csm", "data"), ("analyst", "data")])
def test_roles_that_may_not_open_a_page_are_refused(scored_dir, role, page, monkeypatch):
    """Run the page file directly (a deep link): its own guard refuses, whatever the menu shows."""
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_dir))
    at = AppTest.from_file(str(ROOT / "views" / f"{page}.py"), default_timeout=60)
    auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"Your role ({role}) cannot open this page. Ask an admin if you need access."
    ]
    assert not at.tabs and not at.file_uploader and not at.button and not at.get("plotly_chart")


def test_upload_good_file_loads_and_bad_file_writes_nothing(scored_copy, monkeypatch):
    before = _customers(scored_copy)
    at = _open(scored_copy, "admin", "data", monkeypatch)
    assert at.dataframe  # data health table
    at.file_uploader[0].set_value(("new_customers.csv", NEW_CUSTOMER.encode(), "text/csv"))
    at.run()
    assert not at.exception
    assert any("Preview" in m.value for m in at.markdown)
    at.button(key="check_file").click().run()
    assert any("would insert 1" in shown(i.value) and "Nothing was written" in shown(i.value) for i in at.info)
    assert _customers(scored_copy) == before
    at.button(key="commit_file").click().run()
    assert not at.exception and not at.error
    assert "1 inserted" in shown(at.success[0].value) and "new_customers.csv" in shown(at.success[0].value)
    assert _customers(scored_copy) == before + 1

    at.file_uploader[0].set_value(("bad_customers.csv", BAD_CUSTOMERS.encode(), "text/csv"))
    at.run()
    at.button(key="commit_file").click().run()
    assert not at.exception
    assert "nothing was written" in shown(at.error[0].value)
    problems = at.dataframe[-1].value
    assert set(problems["row"]) == {3}  # only the broken row, spreadsheet numbering
    assert {"seats", "signup_date"} <= set(problems["column"])  # plan_tier is free text: 'platinum' is fine
    assert _customers(scored_copy) == before + 1  # the good row of the bad file was not written either

    # A missing required column points at the mapping pickers on this page, not only the CLI flag.
    at.file_uploader[0].set_value(("no_signup.csv", b"customer_id,joined\nc9,2026-01-05\n", "text/csv"))
    at.run()
    at.button(key="check_file").click().run()
    cells = [str(v) for f in at.dataframe for v in f.value.to_numpy().ravel()]
    said = " ".join([shown(e.value) for e in at.error] + cells)
    assert "signup_date" in said and "under Columns on the Data page" in said
    assert _customers(scored_copy) == before + 1


def test_an_event_log_in_unix_milliseconds_is_read_as_such_and_explained_in_the_pages_words(scored_copy, monkeypatch):
    """The page guesses the unit from the preview (13 digits: milliseconds). Told otherwise, a browser
    user was told "load with --epoch s ... or --epoch ms": the page names its own Timestamps choice,
    and the unit the numbers look like."""
    wh = warehouse.get_warehouse(scored_copy, read_only=True)
    customer, last = wh.rows("SELECT min(customer_id), (SELECT max(date) FROM usage_daily) FROM customers")[0]
    day_after = int(pd.Timestamp(last + pd.Timedelta(days=1)).timestamp() * 1000)  # a day not loaded yet
    log = f"account,ts_ms,action\n{customer},{day_after},login\n".encode()
    at = _open(scored_copy, "admin", "data", monkeypatch)
    at.selectbox(key="load_table").set_value("events").run()
    at.file_uploader[0].set_value(("events.csv", log, "text/csv")).run()
    # The export's own names are picked for the table's columns, and said: nothing to map by hand.
    picked = {c: at.selectbox(key=f"map_events_{c}").value for c in ("customer_id", "timestamp", "event_type")}
    assert picked == {"customer_id": "account", "timestamp": "ts_ms", "event_type": "action"}
    assert any("customer_id ← account, timestamp ← ts_ms, event_type ← action" in c.value for c in at.caption)
    assert at.selectbox(key="event_epoch_ms").value == "ms"  # guessed from the preview
    at.button(key="check_file").click().run()
    assert any("would insert 1" in shown(i.value) for i in at.info) and not at.error

    at.selectbox(key="event_epoch_ms").set_value("text")
    at.button(key="check_file").click().run()
    cells = [str(v) for f in at.dataframe for v in f.value.to_numpy().ravel()]
    said = " ".join([shown(e.value) for e in at.error] + cells)
    assert "it looks like Unix milliseconds" in said and '"Unix milliseconds" under Timestamps' in said
    assert "--epoch" not in said


def test_refresh_scores_from_data_page(scored_copy, monkeypatch):
    at = _open(scored_copy, "admin", "data", monkeypatch)
    scored = status.score_status(warehouse.get_warehouse(scored_copy, read_only=True), scored_copy)
    said = f"{scored.customers:,} customers scored as of {scored.as_of} by {scored.production}"
    assert any(said in c.value for c in at.caption)  # how many and from when, not just the model's name
    at.button(key="refresh_scores").click().run()
    assert not at.exception and not at.error
    assert "Scored" in at.success[0].value


def test_retrain_failure_in_the_page_keeps_production(scored_copy, monkeypatch):
    production = registry.production("churn", scored_copy).version
    monkeypatch.setattr(training, "train", functools.partial(training.train, fail_at="features"))
    at = _open(scored_copy, "admin", "model_data", monkeypatch)
    at.checkbox(key="retrain_force").check()  # the data is unchanged: without it nothing would train
    at.button(key="retrain_start").click().run()
    assert not at.exception
    job = retrain.wait(retrain.latest_job(scored_copy).job_id, timeout=120)
    assert job.state == retrain.FAILED
    at.run()
    assert any("simulated failure" in e.value and production in e.value for e in at.error)
    assert registry.production("churn", scored_copy).version == production


def test_retrain_tab_hands_the_tuning_trials_to_training(scored_copy, monkeypatch):
    asked: dict = {}

    def trainer(*args, **kwargs):
        asked.update(kwargs)
        raise RuntimeError("stopped after reading the settings")

    monkeypatch.setattr(training, "train", trainer)
    at = _open(scored_copy, "admin", "model_data", monkeypatch)
    at.number_input(key="retrain_tune").set_value(5)
    at.button(key="retrain_start").click().run()
    job = retrain.wait(retrain.latest_job(scored_copy).job_id, timeout=120)
    assert asked.get("tune") == 5 and job.state == retrain.FAILED


# -- issue 12, item 18 ---------------------------------------------------------------------------
def _form_button(at: AppTest, label: str):
    return next(b for b in at.get("button") if getattr(b, "label", None) == label)


def test_roll_back_is_disabled_with_one_version_and_says_why(scored_copy, monkeypatch):
    assert len(registry.versions(data_dir=scored_copy)) == 1
    at = _open(scored_copy, "admin", "model_data", monkeypatch)
    production = registry.production("churn", scored_copy).version
    assert _form_button(at, "Roll back").proto.disabled
    assert any(f"{production} is the first version that served" in c.value for c in at.caption)
    assert _form_button(at, "Promote").proto.disabled
    assert any("is the only version" in c.value for c in at.caption)


def test_retrain_on_unchanged_data_says_no_change(scored_copy, monkeypatch):
    before = [v.version for v in registry.versions(data_dir=scored_copy)]
    at = _open(scored_copy, "admin", "model_data", monkeypatch)
    at.button(key="retrain_start").click().run()
    assert not at.exception
    job = retrain.wait(retrain.latest_job(scored_copy).job_id, timeout=120)
    assert job.state == retrain.SUCCEEDED and job.unchanged
    at.run()
    assert any(i.value.startswith("No change") for i in at.info), [i.value for i in at.info]
    assert [v.version for v in registry.versions(data_dir=scored_copy)] == before


def test_leader_pages_use_plain_words_with_the_term_in_a_tooltip(scored_dir, monkeypatch):
    at = _open(scored_dir, "executive", "model_data", monkeypatch)
    labels = [m.label for m in at.metric]
    assert not any("PSI" in label for label in labels)
    drifting = next(m for m in at.metric if m.label == "Features drifting")
    assert "PSI" in drifting.proto.help and "·" not in drifting.value
    shift = next(m for m in at.metric if m.label == "Score shift")
    assert "population stability index" in shift.proto.help
    texts = [c.value for c in at.caption] + [m.value for m in at.markdown]
    assert not any("in-sample" in t or "log-odds" in t for t in texts)
    assert any("in-sample" in (c.proto.help or "") for c in at.caption)
    assert any("log-odds" in (c.proto.help or "") for c in at.caption)


def test_messages_name_a_command_that_runs():
    """`python -m engine` alone needs the venv's python: messages say `.venv/bin/python -m engine`."""
    import ast
    import re

    bare = re.compile(r"(?<![/\w.])python -m engine")
    found = []
    for folder in ("views", "components", "engine"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text())
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
            }
            for node in ast.walk(tree):
                text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
                if id(node) not in docstrings and bare.search(text):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


def test_two_versions_compare_in_readable_names_and_numbers():
    """The comparison printed 0.6050848608282416 next to 'True' under raw registry names."""
    from components import ops

    frame = pd.DataFrame(
        {
            "name": ["auc", "rows", "baseline", "coefficients"],
            "a": [0.6050848608282416, 2039, None, None],
            "b": [0.6358655804480652, 2039, "tenure", {"tenure_days": -0.4601721848607147}],
            "changed": [True, False, True, True],
            "difference": [0.030780719619823538, 0, None, None],
        },
        dtype=object,
    )
    shown = ops.version_diff_table(frame, "churn-v1", "churn-v2")
    assert shown.columns.tolist() == ["", "churn-v1", "churn-v2", "churn-v2 − churn-v1", "changed"]
    assert shown.values.tolist() == [
        ["AUC, out of time", "0.6051", "0.6359", "+0.03078", "changed"],
        ["Judged customer-months", "2,039", "2,039", "0", ""],
        ["baseline", "—", "tenure", "—", "changed"],
        ["coefficients", "—", "tenure_days: -0.4602", "—", "changed"],
    ]


def test_the_baselines_table_says_serves_only_of_the_production_pick():
    """A candidate run's pick read "serves" next to production's own pick: two rows said "serves"."""
    comparison = pd.DataFrame(
        {
            "version": ["churn-v3", "churn-v3", "churn-v2", "churn-v2", "churn-v1"],
            "contender": ["model", "tenure", "model", "tenure", "model"],
            "auc": [0.6, 0.5, 0.7, 0.5, 0.65],
            "pr_auc": [0.1] * 5,
            "brier": [0.04] * 5,
            "serves": [True, False, True, False, True],
            "stage": ["candidate", None, "production", None, "archived"],
        }
    )
    shown = ops.baseline_table(comparison)
    assert shown["serves"].tolist() == ["would serve", "", "serves", "", "chosen"]
    assert "stage" not in shown and shown["contender"].iloc[1] == ops.CONTENDERS["tenure"]
