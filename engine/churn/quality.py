"""How good is a model version, and how do two versions differ.

Quality is measured where the version was judged when it was trained: its out-of-time
month ends (`data_window` valid_from .. valid_to), rebuilt from the warehouse, so the
AUC here equals the one in its registry row while the data has not changed. Curves,
calibration and lift are numbers (frames); the page draws them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import field_validator
from sklearn.metrics import precision_recall_curve, roc_curve

from engine.churn import explain, registry, scoring, training
from engine.churn import features as feats
from engine.churn.model import ChurnModel
from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError, ModelUnavailableError
from engine.data.warehouse import Warehouse

CURVE_POINTS = 400  # enough for a smooth line; the page does not need every threshold
BEESWARM_ROWS = 600
BEESWARM_FEATURES = 12
IMPORTANCE_ROWS = 2000


class QualityReport(Contract):
    """Out-of-time quality of one version.

    roc: false_positive_rate, true_positive_rate, threshold. precision_recall: recall,
    precision, threshold. calibration: bin, mean_predicted, observed_rate, rows.
    lift: decile (1 = riskiest tenth), customers, churned, churn_rate, lift,
    cumulative_capture. importance: feature, label, mean_abs_shap (largest first, over a
    sample of IMPORTANCE_ROWS rows).
    beeswarm: feature, label, shap_impact, value, value_rank (0 = lowest value seen,
    1 = highest; NaN for missing or categorical values), a sample of rows.
    """

    model_version: str
    valid_from: date
    valid_to: date
    rows: int
    churn_rate: float
    metrics: dict[str, Any]
    roc: Table
    precision_recall: Table
    calibration: Table
    lift: Table
    importance: Table
    beeswarm: Table


def _thin(frame: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """At most `points` rows, always keeping the first and last."""
    if len(frame) <= points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def lift_by_decile(y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Customers ranked by predicted risk and cut into tenths (1 = riskiest): churn rate,
    lift over the overall rate, and the share of all churners caught down to that tenth."""
    y = np.asarray(y, dtype=int)
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
    deciles = np.empty(len(y), dtype=int)
    deciles[order] = np.arange(len(y)) * 10 // max(len(y), 1) + 1
    frame = pd.DataFrame({"decile": deciles, "churned": y})
    table = frame.groupby("decile").agg(customers=("churned", "size"), churned=("churned", "sum")).reset_index()
    overall = y.mean() if len(y) else 0.0
    table["churn_rate"] = table["churned"] / table["customers"]
    table["lift"] = table["churn_rate"] / overall if overall > 0 else np.nan
    total = max(int(y.sum()), 1)
    table["cumulative_capture"] = table["churned"].cumsum() / total
    return table


def beeswarm_sample(
    model: ChurnModel, frame: pd.DataFrame, rows: int = BEESWARM_ROWS, top: int = BEESWARM_FEATURES, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(global importance, long table of SHAP values for `rows` rows on the `top` features).

    TreeSHAP costs far more than a prediction, so importance is the mean |SHAP| over a
    random IMPORTANCE_ROWS sample (its ranking is stable at that size); the swarm shows a
    subset of those rows.
    """
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(frame), size=min(IMPORTANCE_ROWS, len(frame)), replace=False))
    frame = frame.iloc[sample].reset_index(drop=True)
    contributions = model.contributions(frame)
    importance = explain.global_importance(model.features, contributions)
    pick = np.sort(rng.choice(len(frame), size=min(rows, len(frame)), replace=False))
    parts = []
    for name in importance["feature"].head(top):
        j = model.features.index(name)
        values = frame[name].iloc[pick]
        if name in model.categorical:
            rank = np.full(len(pick), np.nan)
            shown = values.astype("str").to_numpy()
        else:
            numbers = pd.to_numeric(frame[name], errors="coerce")
            rank = numbers.rank(pct=True).iloc[pick].to_numpy()
            shown = numbers.iloc[pick].to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "feature": name,
                    "label": feats.LABELS.get(name, name),
                    "shap_impact": contributions[pick, j],
                    "value": shown,
                    "value_rank": rank,
                }
            )
        )
    return importance, pd.concat(parts, ignore_index=True)


def _judged(model, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(churned, probability) on the version's out-of-time months: the fold predictions stored
    with the model when it has them (its final fit learnt those months too), else a re-score
    (models trained with the months held out)."""
    record = getattr(model, "out_of_time_", None)
    if record is not None and len(record):
        return record["churned"].to_numpy(dtype=int), record["churn_probability"].to_numpy(dtype=float)
    return frame["churned"].to_numpy(dtype=int), model.predict(frame).churn_probability


def version_quality(
    wh: Warehouse, version: str | None = None, data_dir: str | Path | None = None, seed: int = 0
) -> QualityReport:
    """ROC / PR curves, calibration, lift and SHAP importance of `version` (default production)
    on its own out-of-time month ends."""
    entry = registry.get(version, data_dir) if version else registry.load_production("churn", data_dir)[0]
    if entry.kind != "churn":
        raise BadInputError(
            f"{entry.version} is a {entry.kind} model trained on a file; its quality is in its registry metrics."
        )
    model = registry.load(entry, data_dir)
    valid_from = date.fromisoformat(entry.data_window["valid_from"])
    valid_to = date.fromisoformat(entry.data_window["valid_to"])
    months = feats.month_ends(valid_from, valid_to)
    frame = feats.labelled_snapshots(wh, months, training.HORIZON_DAYS, scoring.scoring_features(model))
    if frame.empty or frame["churned"].nunique() < 2:
        raise ModelUnavailableError(
            f"{entry.version}'s out-of-time months ({valid_from} – {valid_to}) no longer have both churned and "
            "retained customers in the warehouse, so its curves cannot be drawn."
        )
    y, p = _judged(model, frame)
    scored = training.evaluate(y, p)
    fpr, tpr, roc_t = roc_curve(y, p)
    precision, recall, pr_t = precision_recall_curve(y, p)
    roc = _thin(pd.DataFrame({"false_positive_rate": fpr, "true_positive_rate": tpr, "threshold": roc_t}))
    pr = _thin(
        pd.DataFrame({"recall": recall, "precision": precision, "threshold": np.append(pr_t, np.nan)}).iloc[::-1]
    )
    importance, swarm = beeswarm_sample(model, frame, seed=seed)
    metrics = {k: scored.get(k) for k in ("auc", "pr_auc", "brier", "top_decile_lift", "churn_rate", "rows")}
    return QualityReport(
        model_version=entry.version,
        valid_from=valid_from,
        valid_to=valid_to,
        rows=len(y),
        churn_rate=float(y.mean()),
        metrics=metrics,
        roc=roc,
        precision_recall=pr,
        calibration=pd.DataFrame(scored["calibration"]),
        lift=lift_by_decile(y, p),
        importance=importance,
        beeswarm=swarm,
    )


# -- registry view -----------------------------------------------------------------------------------
def registry_table(data_dir: str | Path | None = None, kind: str = "churn") -> pd.DataFrame:
    """One row per version, newest first: stage, metrics, data window, feature count,
    created / promoted times and whether its artifact still matches its hash."""
    rows = []
    for v in registry.versions(kind, data_dir):
        try:
            registry.verify(v, data_dir)
            hash_status = "verified"
        except ModelUnavailableError as exc:
            hash_status = "missing" if "missing" in str(exc) else "changed"
        window = v.data_window or {}
        rows.append(
            {
                "version": v.version,
                "stage": v.stage,
                "auc": v.metrics.get("auc"),
                "pr_auc": v.metrics.get("pr_auc"),
                "brier": v.metrics.get("brier"),
                "top_decile_lift": v.metrics.get("top_decile_lift"),
                "train_from": window.get("train_from"),
                "train_to": window.get("train_to"),
                "valid_from": window.get("valid_from"),
                "valid_to": window.get("valid_to"),
                "features": len(v.features),
                "created_at": v.created_at,
                "promoted_at": v.promoted_at,
                "hash_status": hash_status,
                "hash_ok": hash_status == "verified",
            }
        )
    columns = [
        "version",
        "stage",
        "auc",
        "pr_auc",
        "brier",
        "top_decile_lift",
        "train_from",
        "train_to",
        "valid_from",
        "valid_to",
        "features",
        "created_at",
        "promoted_at",
        "hash_status",
        "hash_ok",
    ]
    return pd.DataFrame(rows, columns=columns)


class VersionDiff(Contract):
    """What changed from version `a` to `b`.

    params / metrics / data_window: name, a, b, changed (metrics also `difference` = b - a).
    features_added / features_removed: names in one and not the other.
    """

    a: str
    b: str
    params: Table
    metrics: Table
    data_window: Table
    features_added: list[str]
    features_removed: list[str]
    features_common: int

    @field_validator("params", "metrics", "data_window", mode="before")
    @classmethod
    def _values_as_given(cls, value: Any) -> Any:
        """Rows read back from JSON keep each value's own type (40 stays 40 next to 0.86)."""
        return pd.DataFrame(value, dtype=object) if isinstance(value, list) else value


def _side_by_side(left: dict[str, Any], right: dict[str, Any]) -> pd.DataFrame:
    names = sorted(set(left) | set(right))
    frame = pd.DataFrame(
        {"name": names, "a": [left.get(n) for n in names], "b": [right.get(n) for n in names]}, dtype=object
    )
    frame["changed"] = [left.get(n) != right.get(n) for n in names]
    return frame


METRIC_KEYS = ("auc", "pr_auc", "brier", "top_decile_lift", "rows", "churn_rate", "mean_probability", "train_rows")


def diff_versions(a: str, b: str, data_dir: str | Path | None = None) -> VersionDiff:
    """Params, headline metrics, data window and feature lists of two versions side by side."""
    left, right = registry.get(a, data_dir), registry.get(b, data_dir)
    metrics_a = {k: left.metrics.get(k) for k in METRIC_KEYS if k in left.metrics}
    metrics_b = {k: right.metrics.get(k) for k in METRIC_KEYS if k in right.metrics}
    metrics = _side_by_side(metrics_a, metrics_b)
    metrics["difference"] = [
        (vb - va) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        for va, vb in zip(metrics["a"], metrics["b"], strict=True)
    ]
    features_a, features_b = list(left.features), list(right.features)
    return VersionDiff(
        a=left.version,
        b=right.version,
        params=_side_by_side(left.params or {}, right.params or {}),
        metrics=metrics,
        data_window=_side_by_side(left.data_window or {}, right.data_window or {}),
        features_added=[f for f in features_b if f not in set(features_a)],
        features_removed=[f for f in features_a if f not in set(features_b)],
        features_common=len(set(features_a) & set(features_b)),
    )


# -- model vs baselines ------------------------------------------------------------------------------
COMPARED = ("auc", "pr_auc", "brier")


def baseline_comparison(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Per training run (newest first), the churn model against the baselines fitted on the same
    rows and judged on the same out-of-time folds: version (the run's churn model), contender
    ("model" or a baseline name, e.g. "tenure"), auc, pr_auc, brier, serves (True for the one the run
    chose) and stage of the version that contender is registered as (None for a baseline that
    was only compared). Runs from before baselines were trained alongside are left out."""
    entries = registry.versions("churn", data_dir)
    stand_ins = {v.params.get("instead_of"): v for v in entries if registry.is_baseline(v)}
    rows = []
    for v in entries:
        compared = v.metrics.get("baselines")
        if registry.is_baseline(v) or not compared:
            continue
        chosen = v.metrics.get("serves", "model")
        stand_in = stand_ins.get(v.version)
        rows.append(_contender(v.version, "model", v.metrics, chosen == "model", v.stage))
        for name, metrics in compared.items():
            stage = stand_in.stage if stand_in is not None and stand_in.params.get("baseline") == name else None
            rows.append(_contender(v.version, name, metrics, chosen == name, stage))
    return pd.DataFrame(rows, columns=["version", "contender", *COMPARED, "serves", "stage"])


def _contender(version: str, name: str, metrics: dict[str, Any], serves: bool, stage: str | None) -> dict[str, Any]:
    return {
        "version": version,
        "contender": name,
        **{k: metrics.get(k) for k in COMPARED},
        "serves": serves,
        "stage": stage,
    }


def baseline_headline(data_dir: str | Path | None = None) -> str | None:
    """The plain sentence when a baseline serves in the churn model's place (None otherwise)."""
    current = registry.production("churn", data_dir)
    if current is None or not registry.is_baseline(current):
        return None
    return current.notes or f"{current.version} is a baseline serving in place of the churn model."
