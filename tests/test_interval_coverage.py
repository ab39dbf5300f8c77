"""The 90 % interval claims "how sure the model is about this estimate": it should hold the
probability the customer's recorded facts imply about 9 times in 10. Tested where that
probability is known: real feature rows (statsmodels' Fair affairs survey, a public table,
and the generated warehouse's monthly snapshots) get a true churn probability that is a
function of their observed columns (a gradient-boosted model fitted to their real labels),
labels are drawn from it for 9,000 rows drawn from the table, the churn model is trained on them as usual, and we count how
often its interval holds the known probability on rows it never saw."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from engine.churn import features as feats
from engine.churn import spread, training
from engine.churn.model import ChurnModel
from engine.data import warehouse

REPEATS = 2
ROWS = 9000  # real rows drawn with replacement: 5,400 train, 1,800 stop and calibrate, 1,800 judged


def _known_truth(X: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """A smooth function of the observed columns: a small boosted model on the real labels."""
    params = {"objective": "binary", "num_leaves": 15, "learning_rate": 0.05, "min_child_samples": 40}
    booster = lgb.train({**params, "verbosity": -1, "num_threads": 1}, lgb.Dataset(X, y), 150)
    return booster.predict(X)


def _coverage(X: pd.DataFrame, truth: np.ndarray, seed: int) -> tuple[float, float, ChurnModel]:
    """(coverage of the served interval, of the unwidened spread) on a 20 % holdout."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(truth), ROWS)
    X, truth = X.iloc[rows].reset_index(drop=True), truth[rows]
    y = (rng.random(len(truth)) < truth).astype(int)
    rest, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    train, valid = train_test_split(rest, test_size=0.25, stratify=y[rest], random_state=seed + 1)
    model = ChurnModel(list(X.columns), n_bags=6, seed=seed).fit(X.iloc[train], y[train], X.iloc[valid], y[valid])
    pred = model.predict(X.iloc[test])
    covered = float(np.mean((pred.ci_low <= truth[test]) & (truth[test] <= pred.ci_high)))
    factor, model.spread_factor_ = model.spread_factor_, 1.0
    narrow = model.predict(X.iloc[test])
    model.spread_factor_ = factor
    unwidened = float(np.mean((narrow.ci_low <= truth[test]) & (truth[test] <= narrow.ci_high)))
    return covered, unwidened, model


def _fair() -> tuple[pd.DataFrame, np.ndarray]:
    import statsmodels.api as sm

    data = sm.datasets.fair.load_pandas().data
    return data.drop(columns="affairs"), (data["affairs"] > 0).to_numpy(dtype=int)


def _snapshots(generated_dir) -> tuple[pd.DataFrame, np.ndarray]:
    wh = warehouse.get_warehouse(generated_dir, read_only=True)
    dates, _valid, cutoff = training.snapshot_plan(wh)
    offered = feats.feature_set(wh, cutoff, dates, training.HORIZON_DAYS)
    snaps = feats.labelled_snapshots(wh, dates, training.HORIZON_DAYS, offered)
    numbers = [c for c in offered.names if pd.api.types.is_numeric_dtype(snaps[c])]
    return snaps[numbers].astype("float64"), snaps["churned"].to_numpy(dtype=int)


@pytest.fixture(scope="module")
def coverages(generated_dir) -> dict[str, list[tuple[float, float, ChurnModel]]]:
    out = {}
    for name, (X, y) in {"fair": _fair(), "snapshots": _snapshots(generated_dir)}.items():
        truth = _known_truth(X, y)
        out[name] = [_coverage(X, truth, seed) for seed in range(REPEATS)]
    return out


def test_the_tables_are_real_rows_of_realistic_size(generated_dir):
    assert len(_fair()[1]) > 6000 and len(_snapshots(generated_dir)[1]) > 4000
    assert int(ROWS * 0.6) >= 5000


def test_the_interval_holds_a_known_probability_about_nine_times_in_ten(coverages):
    print({name: [(round(c, 3), round(u, 3)) for c, u, _m in runs] for name, runs in coverages.items()})
    served = [c for runs in coverages.values() for c, _u, _m in runs]
    unwidened = [u for runs in coverages.values() for _c, u, _m in runs]
    # The ensemble's spread alone misses the error its members share (0.36-0.79 here); the
    # self-simulated widening with cross-fitted truths keeps the claim: 0.75-0.97 per run and
    # 0.88 on average over 16 runs (seeds 0-7). With a member's in-sample probability as each
    # simulation's truth it was 0.82 on average over 8 runs: too close to the fit to be recovered
    # with a real estimate's error.
    assert 0.85 <= np.mean(served) <= 0.95, served
    assert np.mean(served) > np.mean(unwidened) + 0.05, (served, unwidened)
    assert min(served) >= 0.7, served


def test_training_records_the_self_simulated_check(coverages):
    for runs in coverages.values():
        for _c, _u, model in runs:
            check = model.spread_check_
            assert 1.0 <= check["interval_spread_factor"] <= 5.0
            assert 0.75 <= check["interval_coverage_self_simulated"] <= 0.97
            assert check["interval_self_simulations"] == spread.SIMULATIONS


def test_the_interval_says_what_it_is_in_the_api_and_the_cli(scored_dir, capsys):
    from engine import cli
    from engine.api.models import PredictionRow
    from engine.churn.spread import MEANING

    assert "how sure the model is" in MEANING and "not a range of outcomes" in MEANING
    assert MEANING in PredictionRow.model_json_schema()["properties"]["ci_low"]["description"]
    assert cli.main(["--data-dir", str(scored_dir), "evaluate"]) == 0
    out = capsys.readouterr().out
    assert "90 % interval: how sure the model is about this estimate" in out
    assert "covers a known probability (self-simulation at training)" in out
