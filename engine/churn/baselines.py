"""The obvious models the churn model must beat: logistic regressions on tenure, on
tenure + usage + MRR, and on tenure + each event type's 90-day count + MRR.

Every training run fits them on exactly the training snapshots the churn model learns
from and judges them on the same out-of-time rows (`training.train`). When the churn model
does not beat the best of them, that baseline is registered and serves instead, so a
baseline has the churn model's interface: `predict` (probability with a 90% interval),
`contributions` (log-odds per feature, for the drivers), `feature_importance`, `save`/`load`.

* Inputs are transformed (log of tenure, event counts and MRR; the usage trend as it is),
  missing values take the training median and, when training saw any, a missing-value
  indicator; then everything is standardised with the training mean and spread.
* The point estimate is one logistic regression on all training rows (unweighted, so its
  probabilities are honest for the training base rate).
* The interval comes from refits on customer-level bootstrap resamples of the training
  rows (a customer's snapshots move together): the 5th and 95th percentiles of their
  log-odds, widened to always contain the point estimate.
* A driver is coefficient x standardised value (its indicator's term included), in log-odds,
  so Customer 360 reads the reasons exactly as for the churn model (`explain.drivers_for_frame`).
"""

from __future__ import annotations

import fnmatch
import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from engine.churn.model import Prediction
from engine.core.errors import BadInputError, ModelUnavailableError
from engine.core.values import sigmoid

FAMILY = "logistic_baseline"  # the registry's params["family"] for a baseline version
BOOTSTRAP_FITS = 30
INTERVAL_LEVEL = 0.90
REGULARISATION_C = 1.0  # mild ridge: standardised inputs, so one setting suits every input


@dataclass(frozen=True)
class Input:
    """One feature a baseline reads and how: `log` = log(1 + max(x, 0)), `raw` as it is.
    A `*` in the name reads every feature it matches (each event type loaded)."""

    feature: str
    transform: str = "raw"


# name -> (what a person reads, inputs). Tenure is in every one: the obvious first guess.
BASELINES: dict[str, tuple[str, tuple[Input, ...]]] = {
    "tenure": ("a tenure baseline", (Input("tenure_days", "log"),)),
    "tenure_usage": (
        "a tenure + usage baseline",
        (
            Input("tenure_days", "log"),
            Input("events_last_30d", "log"),  # usage level
            Input("usage_trend"),  # usage trend (log ratio of the last 30 days to 60-90 days ago)
            Input("mrr", "log"),
        ),
    ),
    # What an analyst fits first on a company's own event log: one count per event type.
    "tenure_events": (
        "a tenure + usage by event type baseline",
        (Input("tenure_days", "log"), Input("evt_*_count_90d", "log"), Input("mrr", "log")),
    ),
}
NAMES = tuple(BASELINES)


def describe(name: str) -> str:
    """'a tenure + usage baseline' for 'tenure_usage'; the name itself when unknown."""
    return BASELINES[name][0] if name in BASELINES else name


def _inputs(name: str, columns: pd.Index) -> list[Input]:
    """The inputs of baseline `name` the data has, a `*` input expanded to its matches (sorted)."""
    out = []
    for i in BASELINES[name][1]:
        if "*" in i.feature:
            out += [Input(c, i.transform) for c in sorted(fnmatch.filter(map(str, columns), i.feature))]
        elif i.feature in columns:
            out.append(i)
    return out


def _transform(values: pd.Series, how: str) -> np.ndarray:
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if how == "log":
        return np.log1p(np.clip(x, 0, None))
    return x


def refit_on_resamples(
    z: np.ndarray,
    y: np.ndarray,
    resamples: Iterable[np.ndarray],
    fit: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]],
    point: tuple[np.ndarray, float],
) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients, intercepts) of `fit` on each resample of rows of the design `z`; a
    resample with one class only is skipped (it says nothing about the spread); the point
    fit alone when none is usable."""
    coefs, intercepts = [], []
    for rows in resamples:
        if len(np.unique(y[rows])) < 2:
            continue
        coef, intercept = fit(z[rows], y[rows])
        coefs.append(coef)
        intercepts.append(intercept)
    if not coefs:
        return point[0][None, :], np.array([point[1]])
    return np.vstack(coefs), np.array(intercepts)


class BaselineModel:
    """A standardised logistic regression on a few obvious features (see module doc)."""

    def __init__(self, name: str, seed: int = 0, bootstrap_fits: int = BOOTSTRAP_FITS):
        if name not in BASELINES:
            raise BadInputError(f"Unknown baseline '{name}'; known: {', '.join(NAMES)}.")
        self.name = name
        self.seed = seed
        self.bootstrap_fits = bootstrap_fits
        self.interval_level = INTERVAL_LEVEL
        self.categorical: list[str] = []  # baselines read numbers only
        self.features: list[str] = []

    # -- design matrix -------------------------------------------------------------
    def _columns(self, frame: pd.DataFrame) -> np.ndarray:
        """Transformed inputs, NaN where missing (rows x inputs)."""
        missing = [i.feature for i in self.inputs_ if i.feature not in frame.columns]
        if missing:
            raise BadInputError(f"Columns missing for the {self.name} baseline: {', '.join(missing)}.")
        return np.column_stack([_transform(frame[i.feature], i.transform) for i in self.inputs_])

    def _design(self, raw: np.ndarray) -> np.ndarray:
        """Standardised inputs plus missing-value indicators (rows x design columns)."""
        missing = np.isnan(raw)
        filled = np.where(missing, self.medians_, raw)
        parts = [filled, missing[:, self.indicated_].astype(np.float64)]
        design = np.column_stack(parts)
        return (design - self.means_) / self.scales_

    # -- fitting -------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y: np.ndarray, groups: np.ndarray | None = None) -> BaselineModel:
        """Fit on training snapshots; `groups` (customer ids) keep a customer's rows together
        in the bootstrap."""
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) < 2:
            raise BadInputError("A baseline needs churned and retained customers in its training rows.")
        # Inputs the data does not have (a table never loaded) are left out, not invented.
        self.inputs_ = _inputs(self.name, frame.columns)
        if not self.inputs_:
            raise BadInputError(f"The {self.name} baseline needs {BASELINES[self.name][1][0].feature}.")
        self.features = [i.feature for i in self.inputs_]
        raw = self._columns(frame)
        missing = np.isnan(raw)
        medians = np.nanmedian(np.where(missing.all(axis=0), 0.0, raw), axis=0) if len(raw) else np.zeros(0)
        self.medians_ = np.where(np.isnan(medians), 0.0, medians)
        self.indicated_ = np.flatnonzero(missing.any(axis=0) & ~missing.all(axis=0))
        self.means_ = np.zeros(raw.shape[1] + len(self.indicated_))
        self.scales_ = np.ones_like(self.means_)
        design = self._design(raw)
        self.means_ = design.mean(axis=0)
        spread = design.std(axis=0)
        self.scales_ = np.where(spread > 1e-12, spread, 1.0)
        z = (design - self.means_) / self.scales_
        self.coef_, self.intercept_ = self._fit_lr(z, y)
        self.base_rate_ = float(y.mean())
        self.train_rows_ = int(len(y))
        self.boot_coef_, self.boot_intercept_ = self._bootstrap(z, y, groups)
        return self

    @staticmethod
    def _fit_lr(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        lr = LogisticRegression(C=REGULARISATION_C, max_iter=1000).fit(z, y)
        return lr.coef_[0].astype(np.float64), float(lr.intercept_[0])

    def _bootstrap(self, z: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        ids = np.asarray(groups) if groups is not None else np.arange(len(y))
        unique, of = np.unique(ids, return_inverse=True)

        def resamples() -> Iterator[np.ndarray]:
            for _ in range(self.bootstrap_fits):
                counts = np.bincount(rng.integers(0, len(unique), len(unique)), minlength=len(unique))
                yield np.repeat(np.arange(len(y)), counts[of])

        return refit_on_resamples(z, y, resamples(), self._fit_lr, (self.coef_, self.intercept_))

    # -- prediction ----------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ModelUnavailableError(f"The {self.name} baseline has not been fitted yet.")

    def _z(self, frame: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return self._design(self._columns(frame))

    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Probability and its bootstrap interval for each row of `frame`."""
        z = self._z(frame)
        logit = z @ self.coef_ + self.intercept_
        boot = z @ self.boot_coef_.T + self.boot_intercept_
        tail = (1 - self.interval_level) / 2 * 100
        low = np.minimum(np.percentile(boot, tail, axis=1), logit)
        high = np.maximum(np.percentile(boot, 100 - tail, axis=1), logit)
        return Prediction(sigmoid(logit), sigmoid(low), sigmoid(high))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.predict(frame).churn_probability

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """Log-odds per feature (coefficient x standardised value, its missing-value
        indicator's term added to it) and the intercept as the last column: rows x
        (features + 1), summing to the model's log-odds like the churn model's SHAP values."""
        z = self._z(frame)
        terms = z * self.coef_
        n = len(self.inputs_)
        out = np.zeros((len(z), n + 1))
        out[:, :n] = terms[:, :n]
        for k, j in enumerate(self.indicated_):
            out[:, j] += terms[:, n + k]
        out[:, n] = self.intercept_
        return out

    def feature_importance(self) -> pd.Series:
        """|coefficient| per feature (inputs are standardised, so they compare), as shares."""
        self._check_fitted()
        n = len(self.inputs_)
        weight = np.abs(self.coef_[:n]).copy()
        for k, j in enumerate(self.indicated_):
            weight[j] += abs(self.coef_[n + k])
        return pd.Series(weight / max(weight.sum(), 1e-12), index=self.features).sort_values(ascending=False)

    def coefficients(self) -> dict[str, float]:
        """Coefficient per standardised input (per unit of its spread in the training rows)."""
        self._check_fitted()
        return {i.feature: float(c) for i, c in zip(self.inputs_, self.coef_, strict=False)}

    # -- persistence ---------------------------------------------------------------
    def save(self, path: Path) -> None:
        self._check_fitted()
        Path(path).write_bytes(pickle.dumps({"family": FAMILY, **self.__dict__}, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def load(cls, path: Path) -> BaselineModel:
        state = pickle.loads(Path(path).read_bytes())
        if state.pop("family", None) != FAMILY:
            raise ModelUnavailableError(f"{path} is not a baseline model artifact.")
        model = cls.__new__(cls)
        model.__dict__.update(state)
        return model


def registry_params(model: BaselineModel, **extra: Any) -> dict[str, Any]:
    """What a baseline's registry row records (`family` tells the registry how to load it)."""
    return {
        "family": FAMILY,
        "baseline": model.name,
        "inputs": [f"{i.transform}({i.feature})" if i.transform != "raw" else i.feature for i in model.inputs_],
        "coefficients": model.coefficients(),
        "intercept": model.intercept_,
        "bootstrap_fits": int(len(model.boot_intercept_)),
        "interval_level": model.interval_level,
        "seed": model.seed,
        "base_rate": model.base_rate_,
        **extra,
    }


class FoldLike(Protocol):
    """A rolling-origin fold (training.Fold): trained on `train_dates`, judged on `valid_date`."""

    @property
    def train_dates(self) -> tuple[date, ...]: ...

    @property
    def valid_date(self) -> date: ...


def fit_all(snaps: pd.DataFrame, seed: int = 0, bootstrap_fits: int = BOOTSTRAP_FITS) -> dict[str, BaselineModel]:
    """Every baseline fitted on the snapshots `snaps` (with `churned`, `customer_id`)."""
    y = snaps["churned"].to_numpy(dtype=int)
    groups = snaps["customer_id"].to_numpy()
    return {name: BaselineModel(name, seed, bootstrap_fits).fit(snaps, y, groups) for name in NAMES}


def out_of_time(snaps: pd.DataFrame, folds: list[FoldLike], rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Each baseline's out-of-time probabilities for `rows` (customer_id, as_of, fold: the
    churn model's out-of-time record), in their order: for every fold, the baselines are
    fitted on that fold's training month ends of `snaps` and predict its later month end,
    exactly as the churn model's fold ensembles did. Columns: one per baseline name."""
    as_of = pd.to_datetime(snaps["as_of"])
    keyed = snaps.assign(as_of=as_of)
    out = pd.DataFrame(index=rows.index, columns=list(NAMES), dtype=float)
    for fold in folds:
        train = keyed[as_of.isin(pd.to_datetime(list(fold.train_dates)))]
        wanted = rows[pd.to_datetime(rows["fold"]) == pd.Timestamp(fold.valid_date)]
        if wanted.empty:
            continue
        features = wanted[["customer_id", "as_of"]].merge(
            keyed, on=["customer_id", "as_of"], how="left", validate="one_to_one"
        )
        # Fold fits judge ranking and calibration only; the serving fit carries the interval.
        for name, model in fit_all(train, seed, bootstrap_fits=0).items():
            out.loc[wanted.index, name] = model.predict(features).churn_probability
    return out


def compare(
    snaps: pd.DataFrame,
    folds: list[FoldLike],
    rows: pd.DataFrame,
    evaluate: Callable[..., dict[str, Any]],
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Every baseline's out-of-time probabilities (`out_of_time`) and metrics (`evaluate`:
    training.evaluate, the churn model's own) on exactly the rows and folds of the churn
    model's record `rows` (with `churned`)."""
    probabilities = out_of_time(snaps, folds, rows, seed)
    y = rows["churned"].to_numpy(dtype=int)
    return probabilities, {name: evaluate(y, probabilities[name].to_numpy(dtype=float)) for name in NAMES}


# The churn model must reach the best baseline's out-of-time AUC less this much to serve: a
# tie within this (well inside the AUC's sampling noise on a few thousand rows) goes to the
# churn model, anything worse and the baseline serves.
BASELINE_TOLERANCE = 0.005
SHOWN = ("auc", "pr_auc", "brier", "top_decile_lift", "rows", "churn_rate", "mean_probability")


def shown(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline metrics kept for a comparison table (no calibration bins)."""
    return {k: metrics[k] for k in SHOWN if k in metrics}


def best(baseline_metrics: dict[str, dict[str, Any]]) -> str:
    """The baseline with the highest out-of-time AUC (the simpler one on a tie)."""
    return max(NAMES, key=lambda n: (baseline_metrics.get(n, {}).get("auc") or 0.0, -NAMES.index(n)))


def model_beats(model_auc: float | None, baseline_auc: float | None) -> bool:
    """Whether the churn model may serve against a baseline (see BASELINE_TOLERANCE)."""
    if baseline_auc is None:
        return True
    return model_auc is not None and model_auc >= baseline_auc - BASELINE_TOLERANCE


def lost_message(name: str, model_auc: float | None, baseline_auc: float | None) -> str:
    """What the app says when a baseline serves, e.g. 'The churn model did not beat a tenure +
    usage baseline out of time (AUC 0.64 vs 0.69), so the baseline serves.'"""
    return (
        f"The churn model did not beat {describe(name)} out of time (AUC {_auc(model_auc)} vs {_auc(baseline_auc)}), "
        "so the baseline serves."
    )


def comparison(metrics: dict[str, Any]) -> str | None:
    """One line for a training run's metrics: each baseline's out-of-time AUC on the model's
    own rows and whether the model beat the best, e.g. 'Baselines on the same out-of-time
    rows: tenure 0.701, tenure + usage 0.690. The churn model beats the best by 0.028.'"""
    judged = metrics.get("baselines") or {}
    if not judged:
        return None
    parts = [f"{describe(n).removeprefix('a ').removesuffix(' baseline')} {_auc(judged[n].get('auc'))}" for n in judged]
    best_name = metrics.get("best_baseline") or best(judged)
    model_auc, best_auc = metrics.get("auc"), judged.get(best_name, {}).get("auc")
    if model_auc is None or best_auc is None:
        verdict = ""
    elif metrics.get("beats_baselines", model_beats(model_auc, best_auc)):
        verdict = (
            f" The churn model's {_auc(model_auc)} beats the best ({_auc(best_auc)}) by {model_auc - best_auc:+.3f}."
        )
    else:
        verdict = f" The churn model's {_auc(model_auc)} does not beat the best ({_auc(best_auc)})."
    return f"Baselines on the same out-of-time rows (AUC): {', '.join(parts)}.{verdict}"


def _auc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
