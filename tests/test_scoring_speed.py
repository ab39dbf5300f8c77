"""Batch explaining stays exact: the contributions scoring stores are TreeSHAP of the served
log-odds (the ensemble's mean), whatever shortcut computes them, and the drivers' JSON is the
one the `Driver` models write."""

from __future__ import annotations

import copy

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap

from engine.churn import explain, leaftables, treeshap
from engine.churn.model import ChurnModel

pytestmark = pytest.mark.filterwarnings("ignore:LightGBM binary classifier:UserWarning")

FEATURES = ["events_last_30d", "usage_decay_score", "tickets_90d", "mrr", "days_to_renewal", "plan_tier"]


def _data(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(rows)],
            "events_last_30d": rng.poisson(20, rows).astype(float),
            "usage_decay_score": rng.uniform(-0.5, 1, rows).round(2),
            "tickets_90d": rng.poisson(2, rows).astype(float),
            "mrr": rng.lognormal(6, 1, rows),
            "days_to_renewal": rng.integers(0, 365, rows).astype(float),
            "plan_tier": rng.choice(["basic", "pro", "enterprise"], rows),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "days_to_renewal"] = np.nan  # missing: sent the default way
    frame.loc[rng.random(rows) < 0.1, "events_last_30d"] = 0.0  # exact zeros
    frame.loc[rng.random(rows) < 0.05, "plan_tier"] = None
    logit = -2 + 1.5 * frame["usage_decay_score"] - 0.05 * frame["events_last_30d"] + 0.3 * frame["tickets_90d"]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


@pytest.fixture(scope="module")
def model() -> ChurnModel:
    frame, y = _data(4000, 0)
    m = ChurnModel(FEATURES, categorical=["plan_tier"], n_bags=3)
    m.set_categories(frame)
    X = m._matrix(frame)
    m.boosters_ = [
        lgb.train(
            {**m._params(seed, 1.0, len(X)), "num_leaves": leaves},
            lgb.Dataset(X, y, categorical_feature=["plan_tier"]),
            num_boost_round=25,
        )
        for seed, leaves in ((1, 7), (2, 15), (3, 23))
    ]
    m.platt_a_, m.platt_b_, m.z_ = 0.9, -0.1, 1.645
    return m


def _tree_explainer(model: ChurnModel, frame: pd.DataFrame) -> np.ndarray:
    """shap.TreeExplainer on each member, averaged: the SHAP values of the ensemble's log-odds."""
    X = model._array(frame)
    parts = []
    for booster in model.boosters_:
        explainer = shap.TreeExplainer(booster)
        values = np.asarray(explainer.shap_values(X))
        values = values[-1] if values.ndim == 3 else values
        base = np.ravel(explainer.expected_value)[-1]
        parts.append(np.column_stack([values, np.full(len(X), base)]))
    return np.mean(parts, axis=0)


@pytest.mark.parametrize("rows", [300, 6000])  # one call for few rows, grouped paths for many
def test_contributions_are_tree_shap_of_the_ensemble_log_odds(model, rows):
    frame, _ = _data(rows, 1)
    contributions = model.contributions(frame)
    assert np.abs(contributions - _tree_explainer(model, frame)).max() < 1e-6
    # SHAP adds up: the features' values plus the base value are the served mean log-odds.
    raw = model.raw_by_member(model.boosters_, model._array(frame), model.prior_).mean(axis=1)
    assert np.allclose(contributions.sum(axis=1), raw, atol=1e-9)


@pytest.mark.parametrize("rows", [300, 6000])
@pytest.mark.parametrize("with_prior", [False, True])
def test_one_pass_gives_the_served_probability_and_its_shap_values(model, rows, with_prior):
    """Batch scoring takes each member's log-odds from its SHAP values (they add up to it)
    instead of walking the trees again: the same probability, interval and values."""
    from engine.churn.prior import Prior

    frame, _ = _data(rows, 5)
    if with_prior:  # boosted from a prior on a column: its linear part joins both sides
        prior = Prior("days_to_renewal", FEATURES.index("days_to_renewal"), -0.3, -1.0, 4.0, 5.0)
        model = copy.copy(model)
        model.prior_ = prior
    pred, contributions = model.explained(frame)
    alone = model.predict(frame)
    for name in ("churn_probability", "ci_low", "ci_high"):
        assert np.abs(getattr(pred, name) - getattr(alone, name)).max() < 1e-12
    assert np.abs(contributions - model.contributions(frame)).max() < 1e-12


def test_grouped_paths_match_one_pred_contrib_call(model):
    frame, _ = _data(5000, 2)
    X = model._array(frame)
    direct = np.mean([b.predict(X, pred_contrib=True) for b in model.boosters_], axis=0)
    assert np.abs(treeshap.ensemble_contributions(model.boosters_, X) - direct).max() < 1e-12


def test_stored_drivers_carry_the_tree_explainer_values(model):
    frame, _ = _data(3000, 3)
    reference = _tree_explainer(model, frame)
    texts, raising, reasons = explain.stored_drivers(
        model.features, frame, model.contributions(frame), 5, (model.platt_a_, model.platt_b_)
    )
    for i in range(0, len(frame), 97):
        for driver in explain.drivers_from_json(texts[i]):
            members = [model.features.index(name) for name in driver.members]
            assert abs(driver.shap_impact - reference[i, members].sum()) < 1e-6
        first = next((d for d in explain.drivers_from_json(texts[i]) if d.shap_impact > 0), None)
        assert raising[i] == (first.feature if first else None)
        assert reasons[i] == (first.reason if first else None)


def test_stored_json_is_what_the_driver_models_write(model):
    frame, _ = _data(2500, 4)
    contributions = model.contributions(frame)
    calibration = (model.platt_a_, model.platt_b_)
    texts, _raising, _reasons = explain.stored_drivers(model.features, frame, contributions, 5, calibration)
    objects = explain.drivers_for_frame(model.features, frame, contributions, 5, calibration)
    assert texts == [explain.drivers_json(row) for row in objects]


def test_model_threads_never_exceed_the_cap_or_the_cores(monkeypatch):
    """More LightGBM threads than free cores spin against each other (a 25 s fit took over
    10 minutes that way): small jobs get one thread, RADAR_THREADS caps the rest."""
    import os

    from engine.core.config import model_threads

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("RADAR_THREADS", raising=False)
    assert model_threads(100, small=500) == 1
    assert model_threads(10_000, small=500) == min(2, cores)
    assert model_threads() == min(2, cores)
    monkeypatch.setenv("RADAR_THREADS", "1")
    assert model_threads(10_000_000) == 1
    monkeypatch.setenv("RADAR_THREADS", "64")
    assert model_threads(10_000_000) == cores
    monkeypatch.setenv("RADAR_THREADS", "many")
    assert model_threads(10_000_000) == min(2, cores)
    m = ChurnModel(FEATURES, categorical=["plan_tier"])
    assert m._params(0, 1.0, rows=5_400)["num_threads"] == 1


def test_model_threads_wait_passively_unless_told_otherwise():
    """Spinning OpenMP threads next to a busy core made `train` 8 times slower: the engine asks
    for passive waiting before LightGBM loads OpenMP, and a setting already made wins."""
    import os
    import subprocess
    import sys

    probe = "import engine, lightgbm, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "ACTIVE"


def _edge_rows(booster: lgb.Booster, X: np.ndarray) -> np.ndarray:
    """Rows at every threshold the booster uses (and just past it), with NaNs, exact zeros,
    negative, unseen and fractional categories: where a decision rule could be got wrong."""
    rng = np.random.default_rng(9)
    rows = [X[rng.integers(0, len(X), 400)]]
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            stack += [node["left_child"], node["right_child"]]
            if node["decision_type"] == "<=":
                row = X[rng.integers(0, len(X), 2)].copy()
                row[0, node["split_feature"]] = float(node["threshold"])
                row[1, node["split_feature"]] = np.nextafter(float(node["threshold"]), np.inf)
                rows.append(row)
    odd = X[rng.integers(0, len(X), 6)].copy()
    odd[:, 5] = [np.nan, -1.0, 99.0, 1.5, 0.0, -0.5]  # plan_tier: missing, negative, unseen, fractional
    odd[:, 0] = [0.0, np.nan, 1e-36, -0.0, np.nan, 0.0]  # events: zeros, missing, below LightGBM's zero
    rows.append(odd)
    return np.vstack(rows)


@pytest.mark.parametrize(
    "settings",
    [
        {},  # missing values learn a default way
        {"zero_as_missing": True},
        {"use_missing": False},
        {"num_leaves": 80, "min_child_samples": 5},  # more splits than the tables hold: LightGBM's walk
    ],
)
def test_leaf_tables_equal_lightgbm_tree_shap_tree_by_tree(settings):
    frame, y = _data(3000, 5)
    m = ChurnModel(FEATURES, categorical=["plan_tier"])
    m.set_categories(frame)
    X = m._array(frame)
    params = {**m._params(4, 1.0, len(X)), "num_leaves": 31, "max_cat_to_onehot": 1, **settings}
    booster = lgb.train(params, lgb.Dataset(X, y, categorical_feature=[5]), num_boost_round=20)
    rows = _edge_rows(booster, X)
    parts = treeshap.tree_parts(booster)
    assert any(table is None for _splits, table in parts) == ("num_leaves" in settings)
    for t, (_splits, table) in enumerate(parts):
        if table is None:
            continue
        expected = booster.predict(rows, pred_contrib=True, start_iteration=t, num_iteration=1).T
        ours = np.zeros_like(expected)
        ours[table.features] = leaftables.contributions(table, rows)
        ours[-1] = table.expected
        assert np.abs(ours - expected).max() < 1e-12, f"tree {t}"
    whole = treeshap.ensemble_contributions([booster], rows[np.arange(len(rows)) % len(rows)].repeat(2, axis=0))
    direct = booster.predict(rows.repeat(2, axis=0), pred_contrib=True)
    assert np.abs(whole - direct).max() < 1e-12


def test_a_tree_with_a_path_of_too_many_features_is_left_to_lightgbm(monkeypatch):
    """A leaf's table has 2^d rows: a tree with a path over more features than the cap gets
    no tables, and its values still come out exact (from LightGBM's own walk)."""
    frame, y = _data(3000, 6)
    m = ChurnModel(FEATURES, categorical=["plan_tier"])
    m.set_categories(frame)
    X = m._array(frame)
    booster = lgb.train(
        {**m._params(5, 1.0, len(X)), "num_leaves": 15}, lgb.Dataset(X, y, categorical_feature=[5]), num_boost_round=10
    )
    widest = [
        max(len(p.features) for _value, p in leaftables.walk(tree["tree_structure"])[1])
        for tree in booster.dump_model()["tree_info"]
    ]
    cap = min(widest)
    assert max(widest) > cap  # some trees fit under the cap, some do not
    monkeypatch.setattr(leaftables, "MAX_PATH_FEATURES", cap)
    tables = [table for _splits, table in treeshap.tree_parts(booster)]
    assert [t is None for t in tables] == [w > cap for w in widest]
    direct = booster.predict(X, pred_contrib=True)
    assert np.abs(treeshap.ensemble_contributions([booster], X) - direct).max() < 1e-12


def test_kept_tree_parts_are_read_only_for_the_same_model(model, tmp_path):
    """Parts kept for one artifact give the same values when read back; another artifact's
    parts, a damaged file or parts for fewer trees are refused (and then built afresh)."""
    frame, _ = _data(4000, 6)
    X = model._array(frame)
    built = treeshap.ensemble_contributions(model.boosters_, X)
    path = tmp_path / "tree_parts.pkl"
    assert treeshap.keep_parts(model.boosters_, path, "sha-a")

    def fresh() -> list[lgb.Booster]:
        return [lgb.Booster(model_str=b.model_to_string()) for b in model.boosters_]

    read = fresh()
    assert treeshap.load_kept_parts(read, path, "sha-a")
    assert np.abs(treeshap.ensemble_contributions(read, X) - built).max() == 0
    assert not treeshap.load_kept_parts(fresh(), path, "sha-b")
    assert not treeshap.load_kept_parts(fresh()[:2], path, "sha-a")
    shorter = [lgb.Booster(model_str=b.model_to_string(num_iteration=10)) for b in model.boosters_]
    assert not treeshap.load_kept_parts(shorter, path, "sha-a")
    path.write_bytes(path.read_bytes()[:1000])
    assert not treeshap.load_kept_parts(fresh(), path, "sha-a")
    assert not treeshap.load_kept_parts(fresh(), tmp_path / "none.pkl", "sha-a")
    # Boosters that explained no large batch have no parts to keep.
    assert not treeshap.keep_parts(fresh(), tmp_path / "other.pkl", "sha-a")
