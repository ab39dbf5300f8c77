"""Table models chosen by cross-validation among a ridge logistic regression, gradient-boosted
trees and their blend: drivers add up to what is served, the choice follows the folds, saved
models come back the same, and on a public table (statsmodels' ANES 1996) the served model is
never worse than the best single candidate by more than its cross-validation noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.churn import registry
from engine.churn.model import ChurnModel
from engine.churn.table import candidates
from engine.churn.table.train import load_table_model, train_table
from engine.core.errors import BadInputError


def _frame(n: int = 1200, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "f_spend": rng.lognormal(5.5, 1.0, n),  # heavily skewed: read on a log scale
            "f_tickets": rng.poisson(2.0, n).astype(float),
            "f_plan": rng.choice(["basic", "pro", "enterprise"], n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "f_tickets"] = np.nan
    logit = -1.0 + 0.5 * np.nan_to_num(frame["f_tickets"]) - 0.002 * frame["f_spend"] + (frame["f_plan"] == "basic")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_linear_and_blend_drivers_sum_to_the_served_log_odds(tmp_path):
    frame, y = _frame()
    trees = ChurnModel(list(frame.columns), ["f_plan"], n_bags=2)
    trees.fit(frame.iloc[:800], y[:800], frame.iloc[800:1000], y[800:1000])
    linear = candidates.LinearTableModel(list(frame.columns), ["f_plan"]).fit(frame.iloc[:1000], y[:1000])
    rows = frame.iloc[1000:].copy()
    rows.loc[rows.index[0], "f_plan"] = "unseen plan"  # a level training never saw reads as none
    for model in (linear, candidates.BlendTableModel(trees, linear)):
        pred = model.predict(rows)
        assert np.allclose(model.contributions(rows).sum(axis=1), _logit(pred.churn_probability), atol=1e-8)
        assert np.all(pred.ci_low <= pred.churn_probability) and np.all(pred.churn_probability <= pred.ci_high)
        shares = model.feature_importance()
        assert set(shares.index) == set(frame.columns) and shares.sum() == pytest.approx(1.0)
        model.save(tmp_path / "m.pkl")
        again = candidates.load_candidate(tmp_path / "m.pkl")
        assert np.array_equal(again.predict(rows).churn_probability, pred.churn_probability)
    assert "f_spend" in linear.logged_ and "f_tickets" in linear.indicated_


def test_the_choice_is_the_best_mean_fold_auc_and_the_simpler_on_a_tie():
    def scores(linear: float, trees: float, blend: float) -> dict[str, candidates.CandidateScores]:
        values = {candidates.LINEAR: linear, candidates.TREES: trees, candidates.BLEND: blend}
        return {name: candidates.CandidateScores(name, [v - 0.01, v + 0.01], 0.2) for name, v in values.items()}

    assert candidates.choose(scores(0.70, 0.75, 0.74)) == candidates.TREES
    assert candidates.choose(scores(0.76, 0.75, 0.74)) == candidates.LINEAR
    assert candidates.choose(scores(0.75, 0.75, 0.75)) == candidates.LINEAR
    assert candidates.choose(scores(0.70, 0.71, 0.72)) == candidates.BLEND


def test_cross_validation_judges_every_candidate_on_rows_it_did_not_fit():
    frame, y = _frame(900)
    trees = ChurnModel(list(frame.columns), ["f_plan"], n_bags=2)
    trees.set_categories(frame)
    folds = candidates.cv_folds(y, seed=0)
    assert len(folds) == 5
    assert all(not set(train) & set(held) for train, held in folds)
    assert sorted(np.concatenate([held for _t, held in folds]).tolist()) == list(range(len(y)))
    scores = candidates.cross_validate(trees, frame, y, folds)
    assert set(scores) == set(candidates.CANDIDATES)
    for s in scores.values():
        assert len(s.fold_auc) == 5 and 0.6 < s.auc < 0.95 and 0 < s.brier < 0.25


def test_a_public_table_serves_no_worse_than_the_best_single_candidate(tmp_path):
    """statsmodels' ANES 1996 survey (who voted Dole) through the CLI's training path."""
    import statsmodels.api as sm

    data = sm.datasets.anes96.load_pandas().data.drop(columns="logpopul")
    data.insert(0, "respondent", [f"r{i}" for i in range(len(data))])
    path = tmp_path / "anes96.csv"
    data.to_csv(path, index=False)
    result = train_table(path, "respondent", "vote", data_dir=tmp_path / "data", n_bags=2)
    compared = result.metrics["candidates"]
    assert set(compared) == set(candidates.CANDIDATES)
    chosen = result.metrics["chosen"]
    assert compared[chosen]["cv_auc"] == max(c["cv_auc"] for c in compared.values())
    singles = [compared[candidates.LINEAR], compared[candidates.TREES]]
    best = max(singles, key=lambda c: c["holdout_auc"])
    assert compared[chosen]["holdout_auc"] >= best["holdout_auc"] - best["cv_auc_sd"]
    assert result.metrics["auc"] == pytest.approx(compared[chosen]["holdout_auc"], abs=1e-3)
    version, model, _schema = load_table_model(result.version, tmp_path / "data")
    assert version.params["chosen"] == chosen
    assert model.predict(pd.DataFrame(columns=model.features, data=[[np.nan] * len(model.features)])).ci_high[0] <= 1
    assert "cross-validated AUC" in result.summary()


def test_tuned_table_training_records_the_search(tmp_path):
    frame, y = _frame(600)
    frame.insert(0, "account", [f"a{i}" for i in range(len(frame))])
    path = tmp_path / "t.csv"
    frame.assign(churned=y).to_csv(path, index=False)
    result = train_table(path, "account", "churned", data_dir=tmp_path / "d", n_bags=2, tune=2)
    version = registry.get(result.version, tmp_path / "d")
    assert version.params["tuning"]["trials"] == 2 and set(version.params["tuning"]["best"]) == {
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "lambda_l2",
        "feature_fraction",
    }
    assert result.metrics["tuning"]["best_auc"] >= result.metrics["tuning"]["default_auc"]
    with pytest.raises(BadInputError):
        train_table(path, "account", "churned", data_dir=tmp_path / "d", n_bags=2, tune=0 - 5)
