"""Training runs on warehouse snapshots, evaluation, and the promotion gate.

Snapshots are month ends. The label of a snapshot at D is "churned in (D, D + 90]".
`train(cutoff=C)` only uses snapshots whose label window ends by C. The latest three
usable month ends are the out-of-time fold; training snapshots end their label window
before the first of those, so no label the model learns from overlaps what it is
judged on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from engine.churn import baselines, registry
from engine.churn import features as feats
from engine.churn.model import ChurnModel, registry_params
from engine.core.contracts import Versioned
from engine.core.errors import BadInputError
from engine.data import health
from engine.data.warehouse import TABLES, Warehouse

HORIZON_DAYS = 90
VALID_MONTHS = 3
MIN_HISTORY_DAYS = 60  # the first snapshot needs some usage history behind it
PROMOTION_MARGIN = 0.01  # a candidate may be at most this much worse in AUC than production

Progress = Callable[[float, str], None]


class TrainResult(Versioned):
    """A training run: the version it registered, its out-of-time metrics (with the baselines'
    on the same rows, `metrics["baselines"]`) and data window, and whether the promotion gate
    let it serve (with the reason and production's metrics on the same rows); when a baseline
    beat it, `serves` names that baseline and `baseline_version` its registered version."""

    metrics: dict[str, Any]
    data_window: dict[str, Any]
    promoted: bool
    reason: str
    seconds: float
    production_metrics: dict[str, Any] = {}
    serves: str = "model"  # "model", or the baseline that serves instead ("tenure", "tenure_usage")
    baseline_version: str | None = None  # that baseline's registered version


FINGERPRINT_SKIP = frozenset({"predictions"})  # written by scoring; training never reads it


def data_fingerprint(wh: Warehouse, cutoff: date) -> str:
    """A digest of what a training run learns from: every warehouse table's rows (order-free
    sum of row hashes, plus the count), the cutoff and the feature list. Equal fingerprints
    mean a retrain would see identical data (recorded in each version's data window)."""
    digest = hashlib.sha256(f"cutoff={cutoff};features={','.join(feats.FEATURE_NAMES)}".encode())
    for table in sorted(set(TABLES) - FINGERPRINT_SKIP):
        count, total = wh.rows(f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {table} t")[0]  # noqa: S608 - fixed names
        digest.update(f";{table}={count}:{total}".encode())
    return digest.hexdigest()[:16]


def snapshot_plan(wh: Warehouse, cutoff: date | None = None) -> tuple[list[date], list[date], date]:
    """(training month ends, validation month ends, cutoff) for a training run."""
    first = wh.scalar("SELECT min(signup_date) FROM customers")
    last = health.data_as_of(wh)
    if first is None or last is None:
        raise BadInputError(
            "The warehouse has no customers yet. Load data (`.venv/bin/python -m engine ingest`) or "
            "generate demo data (`.venv/bin/python -m engine demo`)."
        )
    cutoff = min(cutoff or last, last)
    usable = feats.month_ends(first + timedelta(days=MIN_HISTORY_DAYS), cutoff - timedelta(days=HORIZON_DAYS))
    if len(usable) < VALID_MONTHS + 3:
        raise BadInputError(
            f"Not enough history to train: {len(usable)} month ends have a closed 90-day label window before "
            f"{cutoff}; at least {VALID_MONTHS + 3} are needed (about 9 months of data)."
        )
    valid = usable[-VALID_MONTHS:]
    train = [d for d in usable if d + timedelta(days=HORIZON_DAYS) <= valid[0]]
    if len(train) < 2:
        raise BadInputError("Not enough history before the validation months to train; load more history.")
    return train, valid, cutoff


def evaluate(
    y: np.ndarray,
    p: np.ndarray,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
    truth: np.ndarray | None = None,
) -> dict:
    """AUC, PR-AUC, Brier, top-decile lift, calibration bins; with `truth`, interval
    coverage of the true probability and the oracle's AUC and Brier."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    out: dict = {
        "rows": int(len(y)),
        "churn_rate": float(y.mean()) if len(y) else 0.0,
        "mean_probability": float(p.mean()) if len(p) else 0.0,
    }
    if len(np.unique(y)) == 2:
        out["auc"] = float(roc_auc_score(y, p))
        out["pr_auc"] = float(average_precision_score(y, p))
    out["brier"] = float(brier_score_loss(y, p)) if len(y) else None
    top = p >= np.quantile(p, 0.9) if len(p) else np.array([], dtype=bool)
    out["top_decile_lift"] = float(y[top].mean() / y.mean()) if len(y) and y.mean() > 0 else None
    bins = pd.DataFrame({"p": p, "y": y, "bin": np.minimum((p * 10).astype(int), 9)})
    out["calibration"] = [
        {
            "bin": f"{b / 10:.1f}-{(b + 1) / 10:.1f}",
            "mean_predicted": float(g.p.mean()),
            "observed_rate": float(g.y.mean()),
            "rows": int(len(g)),
        }
        for b, g in bins.groupby("bin")
    ]
    if lo is not None and hi is not None:
        out["interval_width_median"] = float(np.median(np.asarray(hi) - np.asarray(lo)))
    if truth is not None and len(truth):
        truth = np.asarray(truth, dtype=float)
        if lo is not None and hi is not None:
            out["interval_coverage_of_truth"] = float(np.mean((truth >= lo) & (truth <= hi)))
        out["oracle_brier"] = float(brier_score_loss(y, truth))
        if len(np.unique(y)) == 2:
            out["oracle_auc"] = float(roc_auc_score(y, truth))
            out["auc_vs_oracle"] = out["auc"] / out["oracle_auc"]
    return out


def fit_model(
    train: pd.DataFrame, valid: pd.DataFrame, seed: int = 0, progress: Progress | None = None, n_bags: int = 6
) -> ChurnModel:
    say = progress or (lambda _f, _m: None)
    model = ChurnModel(list(feats.FEATURE_NAMES), list(feats.CATEGORICAL), n_bags=n_bags, seed=seed)
    return model.fit(
        train,
        train["churned"].to_numpy(),
        valid,
        valid["churned"].to_numpy(),
        train_groups=train["customer_id"].to_numpy(),
        valid_groups=valid["customer_id"].to_numpy(),
        train_periods=train["as_of"].to_numpy(),
        progress=lambda step, total, msg: say(0.35 + 0.55 * step / total, msg),
    )


def _truth(wh: Warehouse, frame: pd.DataFrame) -> np.ndarray | None:
    if frame.empty or not wh.scalar("SELECT count(*) FROM ground_truth"):
        return None
    truth = wh.df(
        "SELECT customer_id, as_of, true_churn_prob_90d FROM ground_truth WHERE as_of IN "
        "(SELECT DISTINCT unnest(?::DATE[]))",
        [sorted({str(d) for d in frame["as_of"].dt.date})],
    )
    merged = frame[["customer_id", "as_of"]].merge(
        truth.assign(as_of=pd.to_datetime(truth["as_of"])), on=["customer_id", "as_of"], how="left"
    )
    values = merged["true_churn_prob_90d"].to_numpy(dtype=float)
    return None if np.isnan(values).any() else values


def train(
    wh: Warehouse,
    cutoff: date | None = None,
    data_dir: str | Path | None = None,
    promote: str = "auto",
    seed: int = 0,
    progress: Progress | None = None,
    fail_at: str | None = None,
) -> TrainResult:
    """Train, evaluate out of time, fit the baselines on the same rows, register a candidate;
    promote it when there is no production model or it passes the gate (`promote`: auto /
    never / always).

    Every run also fits the baselines (`engine.churn.baselines`: tenure, and tenure + usage)
    on exactly the training snapshots and judges them on the same out-of-time rows; their
    metrics go into the version's registry row (`metrics["baselines"]`). When the churn
    model does not beat the best of them, that baseline is registered too and is what the
    gate offers to serve (unless `promote="always"`, which forces this run's churn model).

    `fail_at` exists for crash-safety tests: raising inside a run must leave production serving.
    """
    say = progress or (lambda _f, _m: None)
    t0 = time.perf_counter()
    train_dates, valid_dates, cutoff = snapshot_plan(wh, cutoff)
    say(0.05, f"building features for {len(train_dates)} training and {len(valid_dates)} validation month ends")
    train_set = feats.labelled_snapshots(wh, train_dates, HORIZON_DAYS)
    valid_set = feats.labelled_snapshots(wh, valid_dates, HORIZON_DAYS)
    if fail_at == "features":
        raise RuntimeError("simulated failure after feature build")
    model = fit_model(train_set, valid_set, seed=seed, progress=say)
    if fail_at == "fit":
        raise RuntimeError("simulated failure after fitting")
    say(0.92, "evaluating on the out-of-time months")
    pred = model.predict(valid_set)
    metrics = evaluate(valid_set["churned"], pred.churn_probability, pred.ci_low, pred.ci_high, _truth(wh, valid_set))
    metrics["best_iteration"] = model.best_iteration_
    metrics["train_rows"] = int(len(train_set))
    metrics["train_churners"] = int(train_set["churned"].sum())
    say(0.93, "fitting the tenure and tenure + usage baselines on the same rows")
    fitted, judged = baselines.compare(train_set, valid_set, evaluate, seed=seed)
    best = baselines.best(judged)
    beats = baselines.model_beats(metrics.get("auc"), judged[best].get("auc"))
    metrics["baselines"] = {name: baselines.shown(m) for name, m in judged.items()}
    metrics["best_baseline"] = best
    metrics["beats_baselines"] = beats
    metrics["serves"] = "model" if beats or promote == "always" else best
    # Relative risk tiers are multiples of the base rate the model learnt (risk.tier_cuts).
    base_rate = float(train_set["churned"].mean())
    model.base_rate_ = base_rate  # type: ignore[attr-defined]  # saved with the artifact for scoring
    window = {
        "train_from": str(train_dates[0]),
        "train_to": str(train_dates[-1]),
        "valid_from": str(valid_dates[0]),
        "valid_to": str(valid_dates[-1]),
        "cutoff": str(cutoff),
        "horizon_days": HORIZON_DAYS,
        "data_fingerprint": data_fingerprint(wh, cutoff),
    }
    params = registry_params(model, base_rate=base_rate)
    version = registry.register(model, "churn", params, list(feats.FEATURE_NAMES), window, metrics, data_dir)
    say(0.96, f"registered {version.version}")
    stand_in = None
    if metrics["serves"] != "model":
        stand_in = _register_stand_in(fitted[best], judged[best], version, metrics, window, data_dir)
        say(0.97, f"registered {stand_in.version} ({baselines.describe(best)}, which beat {version.version})")
    promoted, reason, production_metrics = _gate(wh, version, valid_set, metrics, data_dir, promote, stand_in)
    say(1.0, reason)
    return TrainResult(
        version=version.version,
        metrics=metrics,
        data_window=window,
        promoted=promoted,
        reason=reason,
        seconds=round(time.perf_counter() - t0, 2),
        production_metrics=production_metrics,
        serves=metrics["serves"],
        baseline_version=stand_in.version if stand_in else None,
    )


def _register_stand_in(
    model: baselines.BaselineModel,
    judged: dict,
    candidate: registry.ModelVersion,
    model_metrics: dict,
    window: dict,
    data_dir: str | Path | None,
) -> registry.ModelVersion:
    """Register the baseline that beat `candidate` as a churn version of its own (so it can be
    promoted, scored with and rolled back like any other), with the same comparison table."""
    message = baselines.lost_message(model.name, model_metrics.get("auc"), judged.get("auc"))
    metrics = {
        **judged,
        "train_rows": model.train_rows_,
        "train_churners": int(round(model.base_rate_ * model.train_rows_)),
        "baselines": model_metrics["baselines"],
        "model": baselines.shown(model_metrics),
        "model_version": candidate.version,
        "best_baseline": model.name,
        "beats_baselines": False,
        "serves": model.name,
    }
    params = baselines.registry_params(model, instead_of=candidate.version)
    return registry.register(model, "churn", params, model.features, window, metrics, data_dir, notes=message)


def _gate(
    wh: Warehouse,
    candidate: registry.ModelVersion,
    valid_set: pd.DataFrame,
    metrics: dict,
    data_dir,
    promote: str,
    stand_in: registry.ModelVersion | None = None,
) -> tuple[bool, str, dict]:
    """Two checks on the same out-of-time rows. First the churn model must beat the best
    baseline (`baselines.model_beats`: its AUC at least the baseline's less
    BASELINE_TOLERANCE); when it does not, `stand_in` (that baseline, registered) is what
    may serve, and the reason says so plainly. Then whichever may serve must not be more
    than PROMOTION_MARGIN worse in AUC than production. `promote="always"` forces the
    churn model past both; `"never"` keeps everything a candidate."""
    lost = ""
    if stand_in is not None:
        lost = stand_in.notes or baselines.lost_message(
            metrics["best_baseline"], metrics.get("auc"), stand_in.metrics.get("auc")
        )
        lost += " "
    if promote == "never":
        kept = f"{stand_in.version} and {candidate.version}" if stand_in else candidate.version
        return False, f"{lost}{kept} kept as {'candidates' if stand_in else 'a candidate'} (--no-promote).", {}
    current = registry.production("churn", data_dir)
    if promote == "always":
        registry.promote(candidate.version, data_dir)
        return True, f"{candidate.version} promoted to production (forced).", {}
    challenger = stand_in or candidate
    if current is None:
        registry.promote(challenger.version, data_dir)
        return True, f"{lost}{challenger.version} promoted to production (first model).", {}
    try:
        prod_model = registry.load(current, data_dir)
        prod_pred = prod_model.predict(valid_set)
        prod_metrics = evaluate(valid_set["churned"], prod_pred.churn_probability)
    except Exception as exc:  # an unusable production model never blocks a good candidate
        registry.promote(challenger.version, data_dir)
        return (
            True,
            f"{lost}{challenger.version} promoted: production {current.version} could not be evaluated ({exc}).",
            {},
        )
    new_auc, old_auc = challenger.metrics.get("auc", 0.0), prod_metrics.get("auc", 0.0)
    if new_auc >= old_auc - PROMOTION_MARGIN:
        registry.promote(challenger.version, data_dir)
        return (
            True,
            (
                f"{lost}{challenger.version} promoted: AUC {new_auc:.3f} vs production {current.version} "
                f"{old_auc:.3f} on the same out-of-time rows (margin {PROMOTION_MARGIN})."
            ),
            prod_metrics,
        )
    return (
        False,
        (
            f"{lost}{challenger.version} stays a candidate: AUC {new_auc:.3f} is more than {PROMOTION_MARGIN} below "
            f"production {current.version} ({old_auc:.3f}) on the same out-of-time rows."
        ),
        prod_metrics,
    )
