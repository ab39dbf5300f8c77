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
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from engine.churn import baselines, registry
from engine.churn import features as feats
from engine.churn.model import ChurnModel, registry_params
from engine.core.contracts import Contract, Versioned
from engine.core.errors import BadInputError
from engine.data import health
from engine.data.warehouse import TABLES, Warehouse

HORIZON_DAYS = 90
VALID_MONTHS = 3  # the out-of-time month ends: the last FOLDS closed month ends
FOLDS = VALID_MONTHS
MIN_FOLD_TRAIN_DATES = 2
MIN_HISTORY_DAYS = 60  # the first snapshot needs some usage history behind it
# The most recent closed month ends a run learns from: a year of snapshots holds every tenure
# the book has while keeping a run to a minute; older behaviour says less about next quarter.
MAX_TRAIN_MONTHS = 12
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
    serves: str = "model"  # "model", or the baseline that serves instead (baselines.NAMES)
    baseline_version: str | None = None  # that baseline's registered version


FINGERPRINT_SKIP = frozenset({"predictions"})  # written by scoring; training never reads it


def data_fingerprint(wh: Warehouse, cutoff: date, features: list[str] | tuple[str, ...] | None = None) -> str:
    """A digest of what a training run learns from: every warehouse table's rows (order-free
    sum of row hashes, plus the count), the cutoff and the feature list (default the fixed
    features; pass the run's `FeatureSet.names`). Equal fingerprints mean a retrain would
    see identical data (recorded in each version's data window)."""
    names = feats.FEATURE_NAMES if features is None else features
    digest = hashlib.sha256(f"cutoff={cutoff};features={','.join(names)}".encode())
    for table in sorted(set(TABLES) - FINGERPRINT_SKIP):
        count, total = wh.rows(f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {table} t")[0]  # noqa: S608 - fixed names
        digest.update(f";{table}={count}:{total}".encode())
    return digest.hexdigest()[:16]


def snapshot_plan(wh: Warehouse, cutoff: date | None = None) -> tuple[list[date], list[date], date]:
    """(training month ends, out-of-time month ends, cutoff) for a training run.

    Training month ends are the month ends (MIN_HISTORY_DAYS after the first signup) whose
    90-day label window closes by the cutoff, the latest MAX_TRAIN_MONTHS of them; the final
    model learns from all of those. The
    out-of-time month ends are the last FOLDS of them: each serves once as the later month
    of a rolling-origin fold (`fold_plan`), never as a held-out block missing from training.
    """
    first = wh.scalar("SELECT min(signup_date) FROM customers")
    last = health.data_as_of(wh)
    if first is None or last is None:
        raise BadInputError(
            "The warehouse has no customers yet. Load data (`.venv/bin/python -m engine ingest`) or "
            "generate demo data (`.venv/bin/python -m engine demo`)."
        )
    cutoff = min(cutoff or last, last)
    usable = _labelled_month_ends(first, cutoff)
    folds = fold_plan(usable)
    if not folds:
        raise BadInputError(history_needed(first, cutoff).text)
    return usable, [f.valid_date for f in folds], cutoff


def _labelled_month_ends(first_signup: date, cutoff: date) -> list[date]:
    """The month ends a run at `cutoff` learns from: MIN_HISTORY_DAYS after the first signup,
    with their 90-day label window closed by the cutoff, the latest MAX_TRAIN_MONTHS."""
    start = first_signup + timedelta(days=MIN_HISTORY_DAYS)
    return feats.month_ends(start, cutoff - timedelta(days=HORIZON_DAYS))[-MAX_TRAIN_MONTHS:]


class HistoryNeeded(Contract):
    """Why a young book cannot train yet, and the data date from which it can."""

    first_signup: date
    data_to: date
    labelled: int  # month ends with a closed 90-day label window now
    needed: int  # month ends the first rolling-origin fold needs
    ready_on: date  # the first data date a run can train on

    @property
    def text(self) -> str:
        return (
            f"Not enough history to train a churn model yet. It learns from month ends whose next "
            f"{HORIZON_DAYS} days are in the data, judged on later ones: data from {self.first_signup:%b %-d, %Y} "
            f"to {self.data_to:%b %-d, %Y} has {self.labelled} such month end{'s' * (self.labelled != 1)} "
            f"and it needs {self.needed}, so training can start once the data reaches {self.ready_on:%b %-d, %Y}."
        )


def history_needed(first_signup: date, data_to: date) -> HistoryNeeded:
    """How many labelled month ends a run needs and when the data will hold them: the first
    month end M at which `fold_plan` has a fold, ready once the data reaches M + 90 days."""
    month_end = first_signup + timedelta(days=MIN_HISTORY_DAYS)
    for _ in range(12 * 10):
        month_end = feats.month_ends(month_end, month_end + timedelta(days=31))[0]
        ready_on = month_end + timedelta(days=HORIZON_DAYS)
        dates = _labelled_month_ends(first_signup, ready_on)
        if fold_plan(dates):
            break
        month_end += timedelta(days=1)
    labelled = len(_labelled_month_ends(first_signup, data_to))
    return HistoryNeeded(
        first_signup=first_signup, data_to=data_to, labelled=labelled, needed=len(dates), ready_on=ready_on
    )


def history_readiness(wh: Warehouse) -> HistoryNeeded | None:
    """None when the warehouse holds enough history to train (or no customers: a different
    problem, said by `snapshot_plan`); otherwise what is missing and from when a run can train."""
    first = wh.scalar("SELECT min(signup_date) FROM customers")
    last = health.data_as_of(wh)
    if first is None or last is None or fold_plan(_labelled_month_ends(first, last)):
        return None
    return history_needed(first, last)


@dataclass(frozen=True)
class Fold:
    """One rolling-origin fold: a model trained on `train_dates` is judged on `valid_date`.
    Every training month end's label window closes by `valid_date` (the label gap), so
    nothing the fold learns from happened after the month it is judged on."""

    train_dates: tuple[date, ...]
    valid_date: date


def fold_plan(dates: list[date], folds: int | None = None, horizon_days: int = HORIZON_DAYS) -> list[Fold]:
    """The rolling-origin folds over labelled month ends `dates` (ascending): each of the last
    `folds` (default FOLDS) month ends is the out-of-time month once, trained on the month
    ends whose label closed by it. Folds with fewer than MIN_FOLD_TRAIN_DATES training
    month ends are left out (an empty list: too little history)."""
    k = FOLDS if folds is None else folds
    out = []
    for valid in sorted(dates)[-k:]:
        train = tuple(d for d in sorted(dates) if d + timedelta(days=horizon_days) <= valid)
        if len(train) >= MIN_FOLD_TRAIN_DATES:
            out.append(Fold(train, valid))
    return out


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


@dataclass
class FoldFit:
    """The final model (trained on every row of `snaps`) and its honest out-of-time record:
    `out_of_time` holds, for every row of every fold's later month end, customer_id, as_of,
    fold (the valid date), churned, churn_probability, ci_low and ci_high, predicted by an
    ensemble trained on that fold's training month ends only and calibrated on the OTHER
    folds (cross-fitted Platt). Baselines fitted on the same `folds` are comparable row for row."""

    model: ChurnModel
    out_of_time: pd.DataFrame
    folds: list[Fold]
    fold_rounds: list[int] = field(default_factory=list)


def fit_folds(
    snaps: pd.DataFrame,
    folds: list[Fold],
    seed: int = 0,
    progress: Progress | None = None,
    n_bags: int = 6,
    feature_set: feats.FeatureSet | None = None,
    tune: int = 0,
) -> FoldFit:
    """Fit by rolling-origin folds: the number of boosting rounds is the median of each
    fold's early-stopping round (AUC on its later month end); an ensemble per fold predicts
    its later month end (the out-of-time record); Platt calibration is fitted on all those
    out-of-time predictions; the final ensemble learns from every row of `snaps` (all closed
    month ends). `snaps` from `features.labelled_snapshots(..., feature_set)`.

    `tune` > 0: first search the tree settings over that many trials on the same folds
    (`tuning.search`); the record is then slightly optimistic for that choice, as for any
    setting chosen on the folds that judge it."""
    say = progress or (lambda _f, _m: None)
    fs = feature_set or feats.DEFAULT_SET
    model = ChurnModel(list(fs.names), list(fs.categorical), n_bags=n_bags, seed=seed)
    snaps = snaps.reset_index(drop=True)
    y = snaps["churned"].to_numpy(dtype=int)
    if len(np.unique(y)) < 2:
        raise BadInputError(
            "The training data has only one class (no churners, or only churners); "
            "a churn model needs both. Use a longer history or another cutoff."
        )
    model.set_categories(snaps)
    X = model._matrix(snaps)
    as_of = pd.to_datetime(snaps["as_of"])
    groups, periods = snaps["customer_id"].to_numpy(), as_of.to_numpy()
    usable = []
    for fold in folds:
        train = as_of.isin(pd.to_datetime(list(fold.train_dates))).to_numpy()
        valid = (as_of == pd.Timestamp(fold.valid_date)).to_numpy()
        if len(np.unique(y[train])) == 2 and len(np.unique(y[valid])) == 2:
            usable.append((fold, train, valid))
    if not usable:
        raise BadInputError(
            "No out-of-time month has both churned and retained customers; use a longer history or another cutoff."
        )
    start = 0.35
    if tune:
        from engine.churn import tuning

        found = tuning.search(
            model, X, y, [(t, v) for _f, t, v in usable], tune, seed, lambda f, m: say(0.35 + 0.3 * f, m)
        )
        tuning.apply(model, found.best)
        model.tuning_ = found.as_params()  # type: ignore[attr-defined]
        start = 0.65
    steps = len(usable) * 2 + 2

    def step(i: float, message: str) -> None:
        say(start + (0.9 - start) * i / steps, message)

    rounds, starts = [], []
    for i, (fold, train, valid) in enumerate(usable):
        step(i, f"finding the number of boosting rounds on {fold.valid_date}")
        starts.append(model.fit_prior(X[train], y[train]))  # each fold's prior from its own rows
        rounds.append(model.stopping_round(X[train], y[train], X[valid], y[valid], starts[-1]))
    model.best_iteration_ = int(np.median(rounds))
    rng = np.random.default_rng(seed)
    raws, rows = [], []
    for i, (fold, train, valid) in enumerate(usable):
        step(len(usable) + i, f"out-of-time ensemble for {fold.valid_date}")
        members = model.fit_members(X[train], y[train], groups[train], periods[train], rng, prior=starts[i])
        raws.append(model.raw_by_member(members, X[valid], starts[i]))
        rows.append(np.flatnonzero(valid))
    pooled = np.vstack(raws)
    y_oot = np.concatenate([y[r] for r in rows])
    model.calibrate(pooled, y_oot)
    step(steps - 2, "checking the interval by self-simulation on the latest month")
    _fold, train, valid = usable[-1]
    model.check_spread(X[train], y[train], groups[train], periods[train], X[valid], starts[-1], rng)
    step(steps - 1.5, "training the final ensemble on every closed month end")
    model.prior_ = model.fit_prior(X, y)
    model.boosters_ = model.fit_members(X, y, groups, periods, rng, prior=model.prior_)
    model.feature_set_ = fs  # scoring builds exactly these columns
    parts = []
    for k, (fold, _train, _valid) in enumerate(usable):
        pred = model.probabilities(raws[k], _cross_platt(raws, [y[r] for r in rows], k, model))
        part = snaps.loc[rows[k], ["customer_id", "as_of", "churned"]].copy()
        part.insert(2, "fold", fold.valid_date)
        part["churn_probability"], part["ci_low"], part["ci_high"] = pred.churn_probability, pred.ci_low, pred.ci_high
        parts.append(part)
    oot = pd.concat(parts, ignore_index=True)
    oot["as_of"] = pd.to_datetime(oot["as_of"])
    return FoldFit(model, oot, [u[0] for u in usable], rounds)


def _cross_platt(raws: list[np.ndarray], ys: list[np.ndarray], k: int, model: ChurnModel) -> tuple[float, float]:
    """Platt (a, b) fitted on every fold but k (k's own rows never calibrate k's record);
    the pooled calibration when the other folds hold one class only."""
    from sklearn.linear_model import LogisticRegression

    others = [i for i in range(len(raws)) if i != k]
    y = np.concatenate([ys[i] for i in others]) if others else np.array([], dtype=int)
    if len(np.unique(y)) < 2:
        return model.platt_a_, model.platt_b_
    mean = np.concatenate([raws[i].mean(axis=1) for i in others])
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(mean.reshape(-1, 1), y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


@dataclass
class HistoryFit:
    """Everything a training run needs from the data plan (see `fit_on_history`)."""

    fit: FoldFit
    snapshots: pd.DataFrame  # every closed month end, every feature the data offered
    feature_set: feats.FeatureSet  # after screening: what the model uses
    screening: Any
    train_dates: list[date]
    cutoff: date
    metrics: dict[str, Any]


def fit_on_history(
    wh: Warehouse,
    cutoff: date | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    n_bags: int = 6,
    tune: int = 0,
) -> HistoryFit:
    """The training data plan end to end: every closed month end (`snapshot_plan`), the
    rolling-origin folds (`fold_plan`), the feature set the data supports
    (`features.feature_set`), noise screening on the folds (`screening.screen`), the fit
    (`fit_folds`) and the out-of-time metrics of the pooled fold predictions (`evaluate`,
    with ground truth when there is one).

    For `train()`: register `h.fit.model` with `h.feature_set.names`, use `h.metrics` as
    the candidate's out-of-time metrics and `h.fit.out_of_time` / `h.fit.folds` /
    `h.snapshots` to fit and judge baselines on exactly the same folds and rows.
    Note: event-type ranking and screening read the labels of the fold months too, so the
    record is slightly optimistic for those choices (the fixed features involve no choice).
    """
    from engine.churn import screening

    say = progress or (lambda _f, _m: None)
    dates, _valid, cutoff = snapshot_plan(wh, cutoff)
    folds = fold_plan(dates)
    say(0.05, f"choosing features from the data loaded up to {cutoff}")
    offered = feats.feature_set(wh, cutoff, dates, HORIZON_DAYS)
    say(0.1, f"building features for {len(dates)} month ends")
    snaps = feats.labelled_snapshots(wh, dates, HORIZON_DAYS, offered)
    snaps["as_of"] = pd.to_datetime(snaps["as_of"])
    say(0.3, "screening features out of time")
    screened = screening.screen(snaps, folds, offered, seed=seed)
    fit = fit_folds(snaps, folds, seed=seed, progress=say, n_bags=n_bags, feature_set=screened.feature_set, tune=tune)
    oot = fit.out_of_time
    metrics = evaluate(oot["churned"], oot["churn_probability"], oot["ci_low"], oot["ci_high"], _truth(wh, oot))
    metrics["best_iteration"] = fit.model.best_iteration_
    metrics.update(getattr(fit.model, "spread_check_", {}))
    metrics["train_rows"] = int(len(snaps))
    metrics["train_churners"] = int(snaps["churned"].sum())
    metrics["folds"] = [str(f.valid_date) for f in fit.folds]
    metrics["screened_out"] = list(screened.dropped)
    tuned = getattr(fit.model, "tuning_", None)
    if tuned:
        metrics["tuning"] = {k: tuned[k] for k in ("trials", "best", "best_auc", "default_auc")}
    return HistoryFit(fit, snaps, screened.feature_set, screened, dates, cutoff, metrics)


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
    tune: int = 0,
) -> TrainResult:
    """Train, evaluate out of time, fit the baselines on the same rows, register a candidate;
    promote it when there is no production model or it passes the gate (`promote`: auto /
    never / always).

    Every run also fits the baselines (`engine.churn.baselines`: tenure, and tenure + usage)
    on exactly the training snapshots and judges them on the same out-of-time rows; their
    metrics go into the version's registry row (`metrics["baselines"]`). When the churn
    model does not beat the best of them, that baseline is registered too and is what the
    gate offers to serve (unless `promote="always"`, which forces this run's churn model).

    `tune` > 0 searches the tree settings first over that many trials (`tuning.search`); the
    search space, every trial and the best settings go to the version's registry params.

    `fail_at` exists for crash-safety tests: raising inside a run must leave production serving.
    """
    say = progress or (lambda _f, _m: None)
    t0 = time.perf_counter()
    if fail_at == "features":
        snapshot_plan(wh, cutoff)  # the same refusal a real run gives on too little history
        raise RuntimeError("simulated failure after feature build")
    if tune:
        from engine.churn.tuning import check_trials

        check_trials(tune)
    history = fit_on_history(wh, cutoff, seed=seed, progress=say, tune=tune)
    model, metrics, folds = history.fit.model, history.metrics, history.fit.folds
    if fail_at == "fit":
        raise RuntimeError("simulated failure after fitting")
    say(0.92, "fitting the tenure and tenure + usage baselines on the same folds and rows")
    record = history.fit.out_of_time
    probabilities, judged = baselines.compare(history.snapshots, list(folds), record, evaluate, seed=seed)
    best = baselines.best(judged)
    beats = baselines.model_beats(metrics.get("auc"), judged[best].get("auc"))
    metrics["baselines"] = {name: baselines.shown(m) for name, m in judged.items()}
    metrics["best_baseline"] = best
    metrics["beats_baselines"] = beats
    metrics["serves"] = "model" if beats or promote == "always" else best
    # Relative risk tiers are multiples of the base rate the model learnt (risk.tier_cuts).
    base_rate = float(history.snapshots["churned"].mean())
    model.base_rate_ = base_rate  # type: ignore[attr-defined]  # saved with the artifact for scoring
    # What-if levers stay inside the values the model learnt from (every column built, used or not).
    ranges = feature_ranges(history.snapshots)
    model.feature_ranges_ = ranges  # type: ignore[attr-defined]
    # The out-of-time record travels with the model: the final model learns every month, so its
    # quality curves must come from these fold predictions, not from re-scoring those months.
    model.out_of_time_ = record[["customer_id", "as_of", "churned", "churn_probability"]].copy()  # type: ignore[attr-defined]
    names = list(history.feature_set.names)
    window = {
        "train_from": str(history.train_dates[0]),
        "train_to": str(history.train_dates[-1]),
        "valid_from": str(folds[0].valid_date),
        "valid_to": str(folds[-1].valid_date),
        "cutoff": str(history.cutoff),
        "horizon_days": HORIZON_DAYS,
        # The chosen features follow from the data and cutoff, so the data alone is fingerprinted:
        # `retrain.unchanged_since` must recognise unchanged data before choosing any features.
        "data_fingerprint": data_fingerprint(wh, history.cutoff),
    }
    search = getattr(model, "tuning_", None)
    tuned = {"tuning": search} if search else {}
    params = registry_params(model, base_rate=base_rate, **tuned)
    version = registry.register(model, "churn", params, names, window, metrics, data_dir)
    say(0.96, f"registered {version.version}")
    stand_in = None
    if metrics["serves"] != "model":
        serving = baselines.fit_all(history.snapshots, seed=seed)[best]
        serving.feature_ranges_ = ranges  # type: ignore[attr-defined]
        # Scoring builds the columns of the data's feature set (the event types a baseline reads).
        serving.feature_set_ = history.feature_set  # type: ignore[attr-defined]
        stand_in = _register_stand_in(serving, judged[best], version, metrics, window, data_dir)
        say(0.97, f"registered {stand_in.version} ({baselines.describe(best)}, which beat {version.version})")
    valid_set = _rows_of(history.snapshots, record)
    valid_set["challenger_probability"] = (
        record["churn_probability"].to_numpy(dtype=float) if stand_in is None else probabilities[best].to_numpy()
    )
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


def feature_ranges(snapshots: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """(lowest, highest) value of every numeric feature column over the training snapshots."""
    out = {}
    for name in snapshots.columns:
        if name in ("customer_id", "as_of", "churned") or not pd.api.types.is_numeric_dtype(snapshots[name]):
            continue
        values = snapshots[name].to_numpy(dtype=float, na_value=np.nan)
        if not np.isnan(values).all():
            out[str(name)] = (float(np.nanmin(values)), float(np.nanmax(values)))
    return out


def _rows_of(snaps: pd.DataFrame, out_of_time: pd.DataFrame) -> pd.DataFrame:
    """The feature rows of the out-of-time record, in its order (production is judged on them)."""
    keys = out_of_time[["customer_id", "as_of"]]
    return keys.merge(snaps.assign(as_of=pd.to_datetime(snaps["as_of"])), on=["customer_id", "as_of"], how="left")


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
    """Two checks. First the churn model must beat the best baseline on the same out-of-time
    rows and folds (`baselines.model_beats`: its AUC at least the baseline's less
    BASELINE_TOLERANCE, decided in `train`); when it does not, `stand_in` (that baseline,
    registered) is what may serve, and the reason says so plainly. Then whichever may serve
    must not be more than PROMOTION_MARGIN worse in AUC than production: on the out-of-time
    rows of `valid_set` production never trained on (its `challenger_probability` column
    holds the challenger's out-of-time probabilities), or, when production trained on all of
    them, each on its own registered out-of-time record. `promote="always"` forces the
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
    unseen = _unseen_by(current, valid_set)
    try:
        prod_model = registry.load(current, data_dir)
        unseen = _with_inputs_of(wh, prod_model, unseen)
        prod_pred = prod_model.predict(unseen) if len(unseen) else None
    except Exception as exc:  # an unusable production model never blocks a good candidate
        registry.promote(challenger.version, data_dir)
        return (
            True,
            f"{lost}{challenger.version} promoted: production {current.version} could not be evaluated ({exc}).",
            {},
        )
    if prod_pred is not None and unseen["churned"].nunique() == 2:
        prod_metrics = evaluate(unseen["churned"], prod_pred.churn_probability)
        challenger_auc = evaluate(unseen["churned"], unseen["challenger_probability"]).get("auc", 0.0)
        where = f"on the {len(unseen):,} out-of-time rows {current.version} never trained on"
    else:  # production learnt every out-of-time month: each is judged on its own out-of-time record
        prod_metrics = {k: current.metrics.get(k) for k in ("auc", "pr_auc", "brier") if k in current.metrics}
        challenger_auc = challenger.metrics.get("auc", 0.0)
        where = f"each on its own out-of-time record ({current.version} trained on all of this run's months)"
    new_auc, old_auc = challenger_auc or 0.0, prod_metrics.get("auc") or 0.0
    if new_auc >= old_auc - PROMOTION_MARGIN:
        registry.promote(challenger.version, data_dir)
        return (
            True,
            (
                f"{lost}{challenger.version} promoted: AUC {new_auc:.3f} vs production {current.version} "
                f"{old_auc:.3f} {where} (margin {PROMOTION_MARGIN})."
            ),
            prod_metrics,
        )
    return (
        False,
        (
            f"{lost}{challenger.version} stays a candidate: AUC {new_auc:.3f} is more than {PROMOTION_MARGIN} below "
            f"production {current.version} ({old_auc:.3f}) {where}."
        ),
        prod_metrics,
    )


def _with_inputs_of(wh: Warehouse, model: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with the columns `model` reads that this run did not build, built for the same
    accounts and month ends (each from data up to its month end). Production chose its event
    types on older data: when this run chose others, the gate could not judge it ("Columns
    missing for the churn model") and promoted the challenger unjudged."""
    missing = [name for name in getattr(model, "features", ()) or () if name not in rows.columns]
    if not missing or rows.empty:
        return rows
    parts = []
    for as_of, group in rows.groupby("as_of", sort=False):
        built = feats.features_as_of(wh, pd.Timestamp(as_of).date(), feature_set=feats.set_of(model))
        kept = [name for name in missing if name in built.columns]
        parts.append(group.merge(built[["customer_id", *kept]], on="customer_id", how="left"))
    return pd.concat(parts, ignore_index=True)


def _unseen_by(current: registry.ModelVersion, rows: pd.DataFrame) -> pd.DataFrame:
    """The out-of-time rows whose month end is after every month `current` trained on."""
    trained_to = (current.data_window or {}).get("train_to")
    if not trained_to:
        return rows
    return rows[pd.to_datetime(rows["as_of"]) > pd.Timestamp(trained_to)].reset_index(drop=True)
