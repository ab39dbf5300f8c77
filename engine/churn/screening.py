"""Noise screening: a feature that does not help out of time is dropped before training.

Units are screened, not single columns: every feature of one event type moves together,
as does each custom attribute, the subscription features and the customer-profile
categories (plan, industry, region) — the columns a company's export may fill with
something unrelated to churn. The fixed usage, revenue, support and renewal features are
curated and always kept.

For each rolling-origin fold (`training.fold_plan`) a LightGBM screening model is trained
on the fold's training month ends (rounds by early stopping on the fold's later month); a unit's importance is the drop in AUC on the fold's
later month end when the unit's columns are shuffled together across rows (permutation
importance, `REPEATS` shuffles), averaged over folds. A unit whose importance does not
exceed `TOLERANCE` is dropped: out of time, the model does as well without it. Rare
categorical levels are pooled before this (`features.choose_attributes`, "other").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from engine.churn.features import SUBSCRIPTION_FEATURES, FeatureSet
from engine.churn.model import ChurnModel, churner_weight

TOLERANCE = 0.002  # AUC points a unit must be worth out of time to stay
REPEATS = 3
# Screening ranks units, it does not serve: a quicker model (faster learning, a sample of the
# training rows) ranks them the same way in a fraction of the time.
SCREEN_ROWS = 30_000
SCREEN_LEARNING_RATE = 0.1
SCREEN_MAX_ROUNDS = 300
SCREENED_PROFILE = ("plan_tier", "industry", "region")


@dataclass(frozen=True)
class Screening:
    """What screening kept and why: `importance` is each unit's mean out-of-time AUC drop."""

    feature_set: FeatureSet
    importance: dict[str, float] = field(default_factory=dict)
    dropped: tuple[str, ...] = ()


def units(fs: FeatureSet) -> dict[str, list[str]]:
    """Screened units -> their feature names (in the set)."""
    subs = {f.name for f in SUBSCRIPTION_FEATURES}
    out: dict[str, list[str]] = {}
    for name, unit in fs.groups.items():
        if unit.startswith("evt_") or name.startswith("attr_") or name in SCREENED_PROFILE:
            out.setdefault(unit, []).append(name)
        elif name in subs:
            out.setdefault("subscriptions", []).append(name)
    return out


def screen(snaps: pd.DataFrame, folds: list, fs: FeatureSet, seed: int = 0, tolerance: float = TOLERANCE) -> Screening:
    """Drop the units of `fs` that do not help out of time on `folds` (each with
    `train_dates` and `valid_date`; `snaps` from `features.labelled_snapshots`, as_of as
    timestamps). Folds whose rows hold one class only are skipped; with none left,
    nothing is dropped."""
    screened = units(fs)
    if not screened:
        return Screening(fs)
    model = ChurnModel(
        list(fs.names),
        list(fs.categorical),
        seed=seed,
        learning_rate=SCREEN_LEARNING_RATE,
        max_rounds=SCREEN_MAX_ROUNDS,
        early_stopping_rounds=30,
    )
    model.set_categories(snaps)
    X = model._matrix(snaps)
    y = snaps["churned"].to_numpy(dtype=int)
    as_of = pd.to_datetime(snaps["as_of"])
    column = {name: j for j, name in enumerate(model.features)}
    rng = np.random.default_rng(seed)
    drops: dict[str, list[float]] = {unit: [] for unit in screened}
    for fold in folds:
        train = _sample(as_of.isin(pd.to_datetime(list(fold.train_dates))).to_numpy(), SCREEN_ROWS, rng)
        valid = (as_of == pd.Timestamp(fold.valid_date)).to_numpy()
        if len(np.unique(y[train])) < 2 or len(np.unique(y[valid])) < 2:
            continue
        rounds = model.stopping_round(X[train], y[train], X[valid], y[valid])
        booster = _screening_booster(model, X[train], y[train], seed, rounds)
        A = model._array(snaps[valid])
        base = roc_auc_score(y[valid], booster.predict(A, raw_score=True))
        for unit, names in screened.items():
            cols = [column[n] for n in names]
            for _ in range(REPEATS):
                shuffled = A.copy()
                shuffled[:, cols] = A[rng.permutation(len(A))][:, cols]
                drops[unit].append(base - roc_auc_score(y[valid], booster.predict(shuffled, raw_score=True)))
    importance = {unit: float(np.mean(d)) for unit, d in drops.items() if d}
    dropped = tuple(sorted(u for u, v in importance.items() if v <= tolerance))
    names = [n for u in dropped for n in screened[u]]
    return Screening(fs.without(names), importance, dropped)


def _sample(mask: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """`mask` with at most `limit` rows left on, chosen at random."""
    rows = np.flatnonzero(mask)
    if len(rows) <= limit:
        return mask
    kept = np.zeros_like(mask)
    kept[rng.choice(rows, size=limit, replace=False)] = True
    return kept


def _screening_booster(model: ChurnModel, X: pd.DataFrame, y: np.ndarray, seed: int, rounds: int) -> lgb.Booster:
    params = model._params(seed, churner_weight(y), len(y))
    data = lgb.Dataset(X, y, categorical_feature=model.categorical or "auto")
    return lgb.train(params, data, num_boost_round=rounds)
