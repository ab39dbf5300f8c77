"""Tree-setting search (`train --tune N`): the defaults are the first trial, the best settings
serve, and the registry keeps the search space, every trial and the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.churn import registry, training, tuning
from engine.churn.model import ChurnModel
from engine.core.errors import BadInputError
from engine.data import warehouse

ROOT = Path(__file__).resolve().parents[1]


def _noisy_rows(n: int = 1200, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "noise": rng.normal(size=n)})
    logit = -2.0 + 1.5 * X["a"] - 1.0 * X["b"] ** 2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_search_starts_from_the_defaults_and_never_reports_worse():
    X, y = _noisy_rows()
    model = ChurnModel(list(X.columns), [], seed=0)
    model.categories_ = {}
    rows = np.arange(len(y))
    splits = [(rows % 3 != k, rows % 3 == k) for k in range(3)]
    found = tuning.search(model, X, y, splits, trials=6, seed=1)
    assert len(found.trials) == 6
    first = found.trials[0]
    assert {k: first[k] for k in tuning.DEFAULTS} == pytest.approx(tuning.DEFAULTS)
    assert found.default_auc == pytest.approx(first["auc"], abs=1e-4)
    assert found.best_auc >= found.default_auc
    assert found.best_auc == pytest.approx(max(t["auc"] for t in found.trials), abs=1e-4)
    for name, (low, high, _kind) in tuning.SPACE.items():
        assert low <= found.best[name] <= high
    record = found.as_params()
    assert set(record) >= {"space", "best", "best_auc", "default_auc", "history", "trials"}
    json.dumps(record)  # the registry stores it as JSON


def test_settings_reach_the_boosters():
    model = tuning.apply(ChurnModel(["a"], []), {**tuning.DEFAULTS, "lambda_l2": 7.5, "feature_fraction": 0.6})
    params = model._params(0, 1.0, rows=1000)
    assert params["lambda_l2"] == 7.5 and params["feature_fraction"] == 0.6


@pytest.mark.parametrize("trials", [0, -3, tuning.MAX_TRIALS + 1])
def test_out_of_range_trials_are_refused_with_the_range(trials):
    with pytest.raises(BadInputError, match=f"between 1 and {tuning.MAX_TRIALS}"):
        tuning.check_trials(trials)


def test_tuned_training_registers_its_search(data_dir_copy, scored_dir):
    wh = warehouse.get_warehouse(data_dir_copy)
    result = training.train(wh, data_dir=data_dir_copy, tune=2)
    entry = registry.get(result.version, data_dir_copy)
    record = entry.params["tuning"]
    assert record["trials"] == 2 and len(record["history"]) == 2
    assert result.metrics["tuning"]["best"] == record["best"]
    model = registry.load(entry, data_dir_copy)
    assert model.num_leaves == record["best"]["num_leaves"]
    assert model.lambda_l2 == pytest.approx(record["best"]["lambda_l2"])
    assert record["history"][0]["num_leaves"] == tuning.DEFAULTS["num_leaves"]  # the defaults come first
    # An untuned run keeps the fixed settings and records no search.
    untuned = registry.production("churn", scored_dir)
    assert untuned is not None and "tuning" not in untuned.params
    assert untuned.params["lambda_l2"] == 1.0 and untuned.params["num_leaves"] == 15


def test_the_cli_refuses_a_bad_trial_count(generated_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad = subprocess.run(
        [sys.executable, "-m", "engine", "--data-dir", str(generated_dir), "train", "--tune", "-2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert bad.returncode != 0 and "between 1 and" in bad.stderr


def test_old_artifacts_load_with_the_settings_they_were_trained_with(tmp_path):
    X, y = _noisy_rows(400)
    model = ChurnModel(list(X.columns), [], n_bags=2)
    model.set_categories(X)
    model.best_iteration_ = 10
    model.boosters_ = model.fit_members(X, y, None, None, np.random.default_rng(0))
    del model.lambda_l2, model.feature_fraction  # as saved before these settings existed
    path = tmp_path / "old.pkl"
    model.save(path)
    loaded = ChurnModel.load(path)
    assert (loaded.lambda_l2, loaded.feature_fraction) == (1.0, 0.8)
