"""Hyper-parameter search for the gradient-boosted churn models (`train --tune N`,
`train-table --tune N`).

Optuna's TPE sampler proposes tree settings; each proposal is judged by the mean AUC of one
booster per split, trained on the split's training rows and stopped early on its held-out
rows: the warehouse model's rolling-origin folds (a later month end per fold) or a table's
stratified cross-validation folds. The first trial is always the default settings, so a
search can only keep or improve the defaults on its own yardstick, and the whole history
(search space, every trial, the best settings) goes to the registry with the model.

Why one booster per split and not the bagged ensemble: the ensemble's members are perturbed
around these settings (`ChurnModel.fit_members`), so the search sets the centre they vary
around; a trial then costs one early-stopped fit per split, which keeps 30 trials within a
few minutes on two cores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from engine.churn.model import ChurnModel, churner_weight
from engine.core.errors import BadInputError

MAX_TRIALS = 200  # a bound a scheduler can rely on
# name -> (low, high, kind): "log" floats, "int" integers on a log scale, "float" uniform.
SPACE: dict[str, tuple[float, float, str]] = {
    "learning_rate": (0.02, 0.2, "log"),
    "num_leaves": (4, 63, "int"),
    "min_child_samples": (10, 200, "int"),
    "lambda_l2": (0.001, 30.0, "log"),
    "feature_fraction": (0.4, 1.0, "float"),
}
DEFAULTS: dict[str, float] = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 40,
    "lambda_l2": 1.0,
    "feature_fraction": 0.8,
}

Progress = Callable[[float, str], None]
Split = tuple[np.ndarray, np.ndarray]  # (training rows, held-out rows) as boolean masks or indices


@dataclass
class Tuning:
    """What a search found: the best settings, their score and every trial."""

    best: dict[str, float]
    best_auc: float
    default_auc: float
    trials: list[dict[str, Any]] = field(default_factory=list)

    def as_params(self) -> dict[str, Any]:
        """The registry record: search space, trials, best settings and their mean AUC."""
        return {
            "metric": "mean AUC over held-out splits",
            "trials": len(self.trials),
            "space": {k: {"low": lo, "high": hi, "scale": kind} for k, (lo, hi, kind) in SPACE.items()},
            "best": self.best,
            "best_auc": round(self.best_auc, 4),
            "default_auc": round(self.default_auc, 4),
            "history": self.trials,
        }

    def summary(self) -> str:
        gain = self.best_auc - self.default_auc
        return (
            f"tuned over {len(self.trials)} trials: mean held-out AUC {self.best_auc:.3f} "
            f"({gain:+.3f} vs the default settings)"
        )


def check_trials(trials: int) -> int:
    """`trials` as given, refused with the allowed range when out of it."""
    if not 1 <= int(trials) <= MAX_TRIALS:
        raise BadInputError(f"--tune takes between 1 and {MAX_TRIALS} trials; got {trials}.")
    return int(trials)


def apply(model: ChurnModel, settings: dict[str, float]) -> ChurnModel:
    """Set the searched tree settings on `model` (before it is fitted)."""
    model.learning_rate = float(settings["learning_rate"])
    model.num_leaves = int(settings["num_leaves"])
    model.min_child_samples = int(settings["min_child_samples"])
    model.lambda_l2 = float(settings["lambda_l2"])
    model.feature_fraction = float(settings["feature_fraction"])
    return model


def _propose(trial: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, (low, high, kind) in SPACE.items():
        if kind == "int":
            out[name] = trial.suggest_int(name, int(low), int(high), log=True)
        else:
            out[name] = trial.suggest_float(name, low, high, log=kind == "log")
    return out


def split_auc(model: ChurnModel, X: Any, y: np.ndarray, split: Split) -> float:
    """AUC on the held-out rows of one booster with `model`'s settings, stopped early there."""
    train, valid = split
    rows = X.iloc if isinstance(X, pd.DataFrame) else X  # positions or masks select rows, never columns
    weight = churner_weight(y[train])
    categorical: Any = model.categorical or "auto"
    booster = lgb.train(
        model._params(model.seed, weight, rows=len(y[train])),
        lgb.Dataset(rows[train], y[train], categorical_feature=categorical, free_raw_data=False),
        num_boost_round=model.max_rounds,
        valid_sets=[lgb.Dataset(rows[valid], y[valid], categorical_feature=categorical)],
        callbacks=[lgb.early_stopping(model.early_stopping_rounds, verbose=False)],
    )
    scores = booster.predict(rows[valid], num_iteration=booster.best_iteration, raw_score=True)
    return float(roc_auc_score(y[valid], scores))


def search(
    model: ChurnModel,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: list[Split],
    trials: int,
    seed: int = 0,
    progress: Progress | None = None,
) -> Tuning:
    """Search tree settings for `model` (its features and categories set; `X` its matrix)
    over `trials` proposals, the first being the defaults; returns the best and the history."""
    import optuna

    say = progress or (lambda _f, _m: None)
    trials = check_trials(trials)
    y = np.asarray(y, dtype=int)
    usable = [s for s in splits if len(np.unique(y[s[0]])) == 2 and len(np.unique(y[s[1]])) == 2]
    if not usable:
        raise BadInputError("Tuning needs held-out splits with both churned and retained rows.")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(DEFAULTS)
    history: list[dict[str, Any]] = []
    scores: list[float] = []

    def objective(trial: Any) -> float:
        settings = _propose(trial)
        candidate = apply(_copy_settings(model), settings)
        auc = float(np.mean([split_auc(candidate, X, y, s) for s in usable]))
        scores.append(auc)
        history.append({"trial": trial.number + 1, **_rounded(settings), "auc": round(auc, 4)})
        best = max(h["auc"] for h in history)
        say(
            trial.number / trials, f"tuning: trial {trial.number + 1} of {trials}, mean AUC {auc:.3f} (best {best:.3f})"
        )
        return auc

    study.optimize(objective, n_trials=trials)
    best = dict(study.best_params)
    return Tuning(
        best=_rounded(best),
        best_auc=float(study.best_value),
        default_auc=scores[0],
        trials=history,
    )


def _copy_settings(model: ChurnModel) -> ChurnModel:
    """A fresh unfitted model with `model`'s features, categories and fixed settings."""
    fresh = ChurnModel(
        model.features,
        model.categorical,
        n_bags=model.n_bags,
        max_rounds=model.max_rounds,
        early_stopping_rounds=model.early_stopping_rounds,
        interval_level=model.interval_level,
        seed=model.seed,
    )
    fresh.categories_ = getattr(model, "categories_", {})
    return fresh


def _rounded(settings: dict[str, float]) -> dict[str, float]:
    return {k: (int(v) if SPACE[k][2] == "int" else round(float(v), 5)) for k, v in settings.items()}
