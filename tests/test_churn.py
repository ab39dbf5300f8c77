"""Churn engine: training, calibration, intervals, registry safety, scoring, CLI."""

from __future__ import annotations

import json
import shutil
from datetime import date

import numpy as np
import pytest

from engine import cli
from engine.churn import registry, scoring, training
from engine.core import store
from engine.core.contracts import to_dict
from engine.core.errors import ModelUnavailableError, NotFoundError
from engine.data import warehouse

CUTOFF = date(2026, 3, 31)


@pytest.fixture(scope="module")
def trained_dir(generated_dir, tmp_path_factory):
    """The generated warehouse with one production model trained with cutoff 2026-03-31."""
    target = tmp_path_factory.mktemp("trained") / "data"
    shutil.copytree(generated_dir, target)
    wh = warehouse.get_warehouse(target)
    result = training.train(wh, cutoff=CUTOFF, data_dir=target, seed=0)
    assert result.promoted
    warehouse.close_all()
    store.dispose_all()
    return target


@pytest.fixture
def trained_copy(trained_dir, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(trained_dir, target)
    yield target
    store.dispose_all()


def test_golden_metrics_at_a_fixed_seed(trained_dir):
    version = registry.production("churn", trained_dir)
    m = version.metrics
    # Out-of-time fold of 800 generated customers, seed 7; tolerances allow library noise.
    assert 0.78 < m["auc"] < 0.95
    assert m["brier"] < 0.08
    assert m["auc_vs_oracle"] > 0.93
    assert abs(m["mean_probability"] - m["churn_rate"]) < 0.03
    assert version.data_window["valid_to"] <= str(date(2025, 12, 31))


def test_out_of_time_evaluation_against_ground_truth(trained_dir):
    wh = warehouse.get_warehouse(trained_dir)
    from engine.churn import evaluation

    result = evaluation.evaluate_version(wh, as_of=CUTOFF, data_dir=trained_dir)
    m = result.metrics
    assert m["rows"] > 300
    assert m["auc"] > 0.93 * m["oracle_auc"]
    assert m["brier"] < m["oracle_brier"] + 0.015
    # A real interval: it moves with the customer and covers the truth far more often than not.
    assert 0.4 < m["interval_coverage_of_truth"] <= 1.0


def test_intervals_are_real_not_a_fixed_band(trained_dir):
    wh = warehouse.get_warehouse(trained_dir)
    _, model = registry.load_production("churn", trained_dir)
    from engine.churn import features

    frame = features.features_as_of(wh, CUTOFF, feature_set=scoring.scoring_features(model))
    pred = model.predict(frame)
    assert np.all(pred.ci_low <= pred.churn_probability) and np.all(pred.churn_probability <= pred.ci_high)
    width = pred.ci_high - pred.ci_low
    relative = width / pred.churn_probability
    assert width.std() > 0.001 and relative.std() > 0.05  # not a constant or proportional band


def test_scoring_writes_idempotent_predictions_with_drivers(trained_copy):
    wh = warehouse.get_warehouse(trained_copy)
    first = scoring.score(wh, as_of=CUTOFF, data_dir=trained_copy)
    again = scoring.score(wh, as_of=CUTOFF, data_dir=trained_copy)
    assert first.customers == again.customers
    assert wh.scalar("SELECT count(*) FROM predictions") == first.customers
    row = wh.df("SELECT * FROM predictions LIMIT 1").iloc[0]
    drivers = json.loads(row["drivers"])
    assert len(drivers) == 5 and {"feature", "value", "shap_impact", "reason"} <= set(drivers[0])
    assert row["risk_tier"] in {"low", "medium", "high", "critical"}
    assert row["recommended_action"]


def test_one_customer_explained_on_demand(trained_copy):
    wh = warehouse.get_warehouse(trained_copy)
    _, model = registry.load_production("churn", trained_copy)
    cid = wh.scalar("SELECT customer_id FROM customers WHERE signup_date < ? AND churn_date IS NULL LIMIT 1", [CUTOFF])
    result = scoring.explain_customer(wh, model, cid, CUTOFF)
    assert set(to_dict(result)) >= {
        "customer_id",
        "churn_probability",
        "confidence_interval",
        "top_shap_features",
        "recommended_action",
        "risk_tier",
        "components",
    }
    shap_sum = sum(d.shap_impact for d in result.top_shap_features)
    assert np.isfinite(shap_sum)
    with pytest.raises(NotFoundError):
        scoring.explain_customer(wh, model, "no-such-customer", CUTOFF)


def test_tampered_artifact_is_refused(trained_copy):
    version = registry.production("churn", trained_copy)
    path = trained_copy / "models" / version.version / "model.pkl"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ModelUnavailableError, match="does not match its registered SHA-256"):
        registry.load_production("churn", trained_copy)
    wh = warehouse.get_warehouse(trained_copy)
    with pytest.raises(ModelUnavailableError):
        scoring.score(wh, as_of=CUTOFF, data_dir=trained_copy)


def test_gate_rollback_and_crash_safety(trained_copy):
    wh = warehouse.get_warehouse(trained_copy)
    first = registry.production("churn", trained_copy)
    with pytest.raises(RuntimeError):
        training.train(wh, cutoff=CUTOFF, data_dir=trained_copy, fail_at="fit")
    assert registry.production("churn", trained_copy).version == first.version
    second = training.train(wh, cutoff=CUTOFF, data_dir=trained_copy, seed=1, promote="always")
    assert registry.production("churn", trained_copy).version == second.version
    back = registry.rollback("churn", trained_copy)
    assert back.version == first.version
    stages = {v.version: v.stage for v in registry.versions(data_dir=trained_copy)}
    assert stages[first.version] == "production" and stages[second.version] == "archived"
    kept = training.train(wh, cutoff=CUTOFF, data_dir=trained_copy, seed=2, promote="never")
    assert not kept.promoted and registry.get(kept.version, trained_copy).stage == "candidate"


def test_cli_json_shapes_and_errors(trained_copy, capsys):
    assert cli.main(["--data-dir", str(trained_copy), "models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["stage"] in {"production", "candidate", "archived"} and "metrics" in listed[0]
    assert cli.main(["--data-dir", str(trained_copy), "evaluate", "--as-of", str(CUTOFF), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"model_version", "as_of", "metrics"} <= set(payload) and "auc" in payload["metrics"]
    assert cli.main(["--data-dir", str(trained_copy), "promote", "churn-v99"]) == 2
    assert "No model version 'churn-v99'" in capsys.readouterr().err
    assert cli.main(["--data-dir", str(trained_copy), "evaluate", "--as-of", "2026-06-15"]) == 2
    assert "not known yet" in capsys.readouterr().err
