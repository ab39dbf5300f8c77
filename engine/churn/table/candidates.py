"""The models a table model is chosen from: gradient-boosted trees (`ChurnModel`, optionally
tuned), a regularised logistic regression (`LinearTableModel`) and their blend
(`BlendTableModel`), chosen by stratified cross-validation on the rows the test holdout
never sees (`cross_validate`).

Why these three: on a flat customer table an analyst's first model is a logistic
regression, and on small or mostly linear tables it is hard to beat; trees find
thresholds and interactions it cannot; averaging the two log-odds often beats both. Each
offers what scoring uses of a `ChurnModel`: `predict` (probability with its 90% interval),
`contributions` (log-odds per feature plus the expected value, summing to the served
log-odds), `feature_importance`, `save`; `load_candidate` reads a saved linear or blend model.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from engine.churn.baselines import refit_on_resamples
from engine.churn.model import ChurnModel, Prediction, churner_weight
from engine.core.errors import BadInputError, ModelUnavailableError
from engine.core.values import sigmoid

LINEAR, TREES, BLEND = "logistic regression", "gradient-boosted trees", "blend"
CANDIDATES = (LINEAR, TREES, BLEND)  # on an exact tie the simpler one, first here, is chosen
LINEAR_FAMILY, BLEND_FAMILY = "table_logistic", "table_blend"
FAMILIES = (LINEAR_FAMILY, BLEND_FAMILY)
CV_FOLDS = 5
C_GRID = (0.01, 0.1, 1.0, 10.0)  # inverse ridge strength on standardised inputs
BOOTSTRAP_FITS = 30
BLEND_WEIGHT = 0.5  # fixed, not fitted: a weight chosen on the same folds would flatter the blend
SKEWED = 2.0  # a numeric column this skewed is read on a signed log scale


# -- the logistic regression --------------------------------------------------------------------
class LinearTableModel:
    """A ridge logistic regression on the table's columns: numbers (a signed log when heavily
    skewed) with the training median for blanks plus a blank indicator, categories one-hot
    (unseen or blank: all zero), everything standardised. Strength chosen by inner
    cross-validated log loss; the interval is the 5th-95th percentile of refits on bootstrap
    resamples, widened to contain the point estimate."""

    family = LINEAR_FAMILY

    def __init__(
        self, features: list[str], categorical: list[str], seed: int = 0, bootstrap_fits: int = BOOTSTRAP_FITS
    ):
        self.features = list(features)
        self.categorical = list(categorical)
        self.seed = seed
        self.bootstrap_fits = bootstrap_fits
        self.interval_level = 0.90

    # design matrix
    def _numbers(self, frame: pd.DataFrame, col: str) -> np.ndarray:
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.sign(x) * np.log1p(np.abs(x)) if col in self.logged_ else x

    def _raw_design(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
        """(design columns, the feature each column belongs to), before standardising."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise BadInputError(f"Columns missing for the table model: {', '.join(missing)}.")
        columns, owner = [], []
        for j, col in enumerate(self.features):
            if col in self.categorical:
                text = frame[col].astype("str").where(frame[col].notna(), None).to_numpy(dtype=object)
                for level in self.levels_[col]:
                    columns.append((text == level).astype(np.float64))
                    owner.append(j)
                continue
            x = self._numbers(frame, col)
            blank = np.isnan(x)
            columns.append(np.where(blank, self.medians_[col], x))
            owner.append(j)
            if col in self.indicated_:
                columns.append(blank.astype(np.float64))
                owner.append(j)
        return (np.column_stack(columns) if columns else np.zeros((len(frame), 0))), owner

    def _design(self, frame: pd.DataFrame) -> np.ndarray:
        raw, _ = self._raw_design(frame)
        return (raw - self.means_) / self.scales_

    def _learn_columns(self, frame: pd.DataFrame) -> None:
        self.levels_ = {c: sorted(frame[c].dropna().astype("str").unique().tolist())[:200] for c in self.categorical}
        self.logged_, self.medians_, self.indicated_ = set(), {}, set()
        for col in self.features:
            if col in self.categorical:
                continue
            x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            seen = x[~np.isnan(x)]
            if len(seen) > 2 and abs(float(pd.Series(seen).skew())) > SKEWED:
                self.logged_.add(col)
            values = self._numbers(frame, col)
            seen = values[~np.isnan(values)]
            self.medians_[col] = float(np.median(seen)) if len(seen) else 0.0
            if 0 < np.isnan(values).sum() < len(values):
                self.indicated_.add(col)

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> LinearTableModel:
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) < 2:
            raise BadInputError("A logistic regression needs churned and retained customers in its training rows.")
        self._learn_columns(frame)
        raw, self.owner_ = self._raw_design(frame)
        self.means_ = raw.mean(axis=0)
        spread = raw.std(axis=0)
        self.scales_ = np.where(spread > 1e-12, spread, 1.0)
        z = (raw - self.means_) / self.scales_
        self.C_ = _choose_strength(z, y, self.seed)
        self.coef_, self.intercept_ = _fit(z, y, self.C_)
        self.boot_coef_, self.boot_intercept_ = self._bootstrap(z, y)
        return self

    def _bootstrap(self, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        resamples = (rng.integers(0, len(y), len(y)) for _ in range(self.bootstrap_fits))
        return refit_on_resamples(z, y, resamples, lambda zz, yy: _fit(zz, yy, self.C_), (self.coef_, self.intercept_))

    # prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ModelUnavailableError("The table's logistic regression has not been fitted yet.")

    def logits(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(log-odds, interval low, interval high) in log-odds."""
        self._check_fitted()
        z = self._design(frame)
        logit = z @ self.coef_ + self.intercept_
        boot = z @ self.boot_coef_.T + self.boot_intercept_
        tail = (1 - self.interval_level) / 2 * 100
        low = np.minimum(np.percentile(boot, tail, axis=1), logit)
        high = np.maximum(np.percentile(boot, 100 - tail, axis=1), logit)
        return logit, low, high

    def predict(self, frame: pd.DataFrame) -> Prediction:
        logit, low, high = self.logits(frame)
        return Prediction(sigmoid(logit), sigmoid(low), sigmoid(high))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict(frame).churn_probability

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """Coefficient x standardised value summed per column (its one-hot levels and blank
        indicator together), the intercept last: rows x (features + 1), summing to the log-odds."""
        self._check_fitted()
        terms = self._design(frame) * self.coef_
        out = np.zeros((len(frame), len(self.features) + 1))
        np.add.at(out.T, np.asarray(self.owner_, dtype=int), terms.T)
        out[:, -1] = self.intercept_
        return out

    def feature_importance(self) -> pd.Series:
        """|coefficient| summed per column (inputs are standardised, so they compare), as shares."""
        self._check_fitted()
        weight = np.zeros(len(self.features))
        np.add.at(weight, np.asarray(self.owner_, dtype=int), np.abs(self.coef_))
        return pd.Series(weight / max(weight.sum(), 1e-12), index=self.features).sort_values(ascending=False)

    def save(self, path: Path) -> None:
        self._check_fitted()
        Path(path).write_bytes(pickle.dumps(_state(self), protocol=pickle.HIGHEST_PROTOCOL))


def _fit(z: np.ndarray, y: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    lr = LogisticRegression(C=C, max_iter=2000).fit(z, y)
    return lr.coef_[0].astype(np.float64), float(lr.intercept_[0])


def _choose_strength(z: np.ndarray, y: np.ndarray, seed: int) -> float:
    """The ridge strength with the lowest 3-fold log loss on the training rows."""
    folds = list(StratifiedKFold(3, shuffle=True, random_state=seed).split(z, y))
    losses = []
    for C in C_GRID:
        loss = 0.0
        for train, held in folds:
            coef, intercept = _fit(z[train], y[train], C)
            p = np.clip(sigmoid(z[held] @ coef + intercept), 1e-9, 1 - 1e-9)
            loss -= float(np.sum(y[held] * np.log(p) + (1 - y[held]) * np.log(1 - p)))
        losses.append(loss)
    return float(C_GRID[int(np.argmin(losses))])


# -- the blend --------------------------------------------------------------------------------------
class BlendTableModel:
    """The mean of the trees' calibrated log-odds and the regression's: its drivers are the
    same mean of the two models' per-feature log-odds (exact, both are additive), and its
    interval bounds the same mean of theirs (as if the two errors moved together, the
    cautious reading)."""

    family = BLEND_FAMILY

    def __init__(self, trees: ChurnModel, linear: LinearTableModel, weight: float = BLEND_WEIGHT):
        self.trees, self.linear, self.weight = trees, linear, weight
        self.features = list(trees.features)
        self.categorical = list(trees.categorical)
        self.interval_level = trees.interval_level

    def predict(self, frame: pd.DataFrame) -> Prediction:
        w = self.weight
        trees = _tree_logits(self.trees, frame)
        linear = self.linear.logits(frame)
        logit, low, high = (w * t + (1 - w) * s for t, s in zip(trees, linear, strict=True))
        return Prediction(sigmoid(logit), sigmoid(low), sigmoid(high))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict(frame).churn_probability

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        trees = self.trees.contributions(frame) * self.trees.platt_a_
        trees[:, -1] += self.trees.platt_b_
        return self.weight * trees + (1 - self.weight) * self.linear.contributions(frame)

    def feature_importance(self) -> pd.Series:
        mixed = self.weight * self.trees.feature_importance() + (1 - self.weight) * self.linear.feature_importance()
        return (mixed / max(float(mixed.sum()), 1e-12)).sort_values(ascending=False)

    def save(self, path: Path) -> None:
        Path(path).write_bytes(pickle.dumps(_state(self), protocol=pickle.HIGHEST_PROTOCOL))


def _tree_logits(model: ChurnModel, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred = model.predict(frame)
    return tuple(_logit(p) for p in (pred.churn_probability, pred.ci_low, pred.ci_high))  # type: ignore[return-value]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


# -- persistence ------------------------------------------------------------------------------------
def _state(model: LinearTableModel | BlendTableModel) -> dict[str, Any]:
    if isinstance(model, LinearTableModel):
        return {"family": LINEAR_FAMILY, **model.__dict__}
    state = {k: v for k, v in model.__dict__.items() if k not in ("trees", "linear")}
    return {"family": BLEND_FAMILY, **state, "trees": model.trees.state(), "linear": _state(model.linear)}


def _from_state(state: dict[str, Any]) -> LinearTableModel | BlendTableModel:
    state = dict(state)
    family = state.pop("family", None)
    if family == LINEAR_FAMILY:
        linear = LinearTableModel.__new__(LinearTableModel)
        linear.__dict__.update(state)
        return linear
    if family == BLEND_FAMILY:
        trees = ChurnModel.from_state(state.pop("trees"))
        inner = _from_state(state.pop("linear"))
        blend = BlendTableModel.__new__(BlendTableModel)
        blend.__dict__.update({**state, "trees": trees, "linear": inner})
        return blend
    raise ModelUnavailableError("The artifact is not a table logistic regression or blend.")


def load_candidate(path: Path) -> LinearTableModel | BlendTableModel:
    """A saved logistic regression or blend table model."""
    return _from_state(pickle.loads(Path(path).read_bytes()))


# -- choosing by cross-validation -------------------------------------------------------------------
@dataclass
class CandidateScores:
    """One candidate's cross-validated AUC (per fold, mean, spread) and Brier score."""

    name: str
    fold_auc: list[float]
    brier: float

    @property
    def auc(self) -> float:
        return float(np.mean(self.fold_auc))

    @property
    def auc_sd(self) -> float:
        return float(np.std(self.fold_auc, ddof=1)) if len(self.fold_auc) > 1 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cv_auc": round(self.auc, 4),
            "cv_auc_sd": round(self.auc_sd, 4),
            "cv_fold_auc": [round(a, 4) for a in self.fold_auc],
            "cv_brier": round(self.brier, 4),
        }


def cv_folds(y: np.ndarray, seed: int, folds: int = CV_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (training, held-out) row positions; fewer folds when the rarer class is scarce."""
    rarer = int(min(np.sum(y == 1), np.sum(y == 0)))
    k = max(2, min(folds, rarer // 10))
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def _fold_tree_logits(
    model: ChurnModel, X: pd.DataFrame, y: np.ndarray, train: np.ndarray, held: np.ndarray
) -> np.ndarray:
    """Calibrated log-odds on `held` of one booster with `model`'s settings, stopped early and
    Platt-scaled on a fifth of `train` (never on the held-out rows it is judged on)."""
    fit, stop = train_test_split(train, test_size=0.2, stratify=y[train], random_state=model.seed)
    M = model._matrix(X)
    categorical: Any = model.categorical or "auto"
    booster = lgb.train(
        model._params(model.seed, churner_weight(y[fit]), rows=len(fit)),
        lgb.Dataset(M.iloc[fit], y[fit], categorical_feature=categorical, free_raw_data=False),
        num_boost_round=model.max_rounds,
        valid_sets=[lgb.Dataset(M.iloc[stop], y[stop], categorical_feature=categorical)],
        callbacks=[lgb.early_stopping(model.early_stopping_rounds, verbose=False)],
    )
    raw_stop = np.asarray(booster.predict(M.iloc[stop], num_iteration=booster.best_iteration, raw_score=True))
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(raw_stop.reshape(-1, 1), y[stop])
    raw_held = np.asarray(booster.predict(M.iloc[held], num_iteration=booster.best_iteration, raw_score=True))
    return raw_held * float(platt.coef_[0, 0]) + float(platt.intercept_[0])


def cross_validate(
    trees: ChurnModel, X: pd.DataFrame, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, CandidateScores]:
    """Each candidate's held-out AUC per fold and pooled Brier score. `trees` is unfitted,
    with its categories set (`set_categories`) and its (tuned) settings."""
    y = np.asarray(y, dtype=int)
    out_of_fold = {name: np.full(len(y), np.nan) for name in CANDIDATES}
    fold_auc: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for train, held in folds:
        linear = LinearTableModel(trees.features, trees.categorical, trees.seed, bootstrap_fits=0)
        linear_logit = linear.fit(X.iloc[train], y[train]).logits(X.iloc[held])[0]
        tree_logit = _fold_tree_logits(trees, X, y, train, held)
        logits = {
            LINEAR: linear_logit,
            TREES: tree_logit,
            BLEND: BLEND_WEIGHT * tree_logit + (1 - BLEND_WEIGHT) * linear_logit,
        }
        for name, logit in logits.items():
            out_of_fold[name][held] = sigmoid(logit)
            fold_auc[name].append(float(roc_auc_score(y[held], logit)))
    return {
        name: CandidateScores(name, fold_auc[name], float(brier_score_loss(y, out_of_fold[name])))
        for name in CANDIDATES
    }


def choose(scores: dict[str, CandidateScores]) -> str:
    """The candidate with the highest mean cross-validated AUC (the simpler one on a tie)."""
    return max(CANDIDATES, key=lambda n: (round(scores[n].auc, 6), -CANDIDATES.index(n)))
