"""Real feature rows with a known churn probability, for checking what the 90 % interval
claims (tests/test_interval_coverage.py, bench/interval_coverage.py). The tables are real:
statsmodels' Fair affairs survey (a public table) and a generated warehouse's monthly
snapshots. Their known probability is a function of the observed columns (a small boosted
model fitted to their real labels); labels are drawn from it, the churn model is trained as
usual, and we count how often its interval holds the known probability on rows it never saw."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from engine.churn import features as feats
from engine.churn import training
from engine.churn.model import ChurnModel
from engine.data import warehouse

ROWS = 9000  # real rows drawn with replacement: 60 % train, 20 % stop and calibrate, 20 % judged


def known_truth(X: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """A smooth function of the observed columns: a small boosted model on the real labels."""
    params = {"objective": "binary", "num_leaves": 15, "learning_rate": 0.05, "min_child_samples": 40}
    booster = lgb.train({**params, "verbosity": -1, "num_threads": 1}, lgb.Dataset(X, y), 150)
    return booster.predict(X)


def coverage(X: pd.DataFrame, truth: np.ndarray, seed: int, rows: int = ROWS) -> tuple[float, float, ChurnModel]:
    """(coverage of the served interval, of the unwidened spread, the model) on a 20 % holdout
    of `rows` rows drawn from the table."""
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(truth), rows)
    X, truth = X.iloc[drawn].reset_index(drop=True), truth[drawn]
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


def fair_table() -> tuple[pd.DataFrame, np.ndarray]:
    import statsmodels.api as sm

    data = sm.datasets.fair.load_pandas().data
    return data.drop(columns="affairs"), (data["affairs"] > 0).to_numpy(dtype=int)


def snapshot_table(data_dir: Path) -> tuple[pd.DataFrame, np.ndarray]:
    wh = warehouse.get_warehouse(data_dir, read_only=True)
    dates, _valid, cutoff = training.snapshot_plan(wh)
    offered = feats.feature_set(wh, cutoff, dates, training.HORIZON_DAYS)
    snaps = feats.labelled_snapshots(wh, dates, training.HORIZON_DAYS, offered)
    numbers = [c for c in offered.names if pd.api.types.is_numeric_dtype(snaps[c])]
    return snaps[numbers].astype("float64"), snaps["churned"].to_numpy(dtype=int)
