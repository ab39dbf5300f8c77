"""Batch scoring into `predictions`, and one customer explained on demand."""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.churn import explain, registry, risk, treeshap
from engine.churn import features as feats
from engine.core import config
from engine.core.contracts import ConfidenceInterval, Contract
from engine.core.errors import BadInputError, NotFoundError
from engine.data import health
from engine.data.warehouse import Warehouse

if TYPE_CHECKING:
    from engine.churn.model import ChurnModel, Prediction

Progress = Callable[[float, str], None]
# Rows scored and explained at once: bounds memory (while explaining, a few rows x features
# arrays: 200,000 x 40 x 8 bytes = 64 MB each) and a 100,000-customer book fits one batch.
BATCH = 200_000


class ScoreReport(Contract):
    """A scoring run: the date scored, the model that scored it and how many customers."""

    as_of: date
    model_version: str
    customers: int
    seconds: float
    # Seconds: features, contributions (with the probabilities), drivers, write, drift, quality.
    phases: dict[str, float] = {}


class ChurnPrediction(risk.RiskScore):
    """The churn prediction contract for one customer: probability with its interval, the
    grouped SHAP drivers, the next step, and the risk score with its components."""

    as_of: date
    churn_probability: float
    confidence_interval: ConfidenceInterval
    top_shap_features: list[explain.Driver]
    recommended_action: str
    model_version: str | None = None  # None when the model object was given without its registry row
    scored_at: datetime


def base_rate(model: ChurnModel, version: registry.ModelVersion | None = None) -> float | None:
    """The churn rate of the rows `model` was trained on: saved with the artifact, else in its
    registry row (params, or the training counts every version records); None when unknown."""
    saved = getattr(model, "base_rate_", None)
    if saved is not None:
        return float(saved)
    return registry.base_rate(version) if version is not None else None


def scoring_features(model: ChurnModel) -> feats.FeatureSet | None:
    """The columns to build for `model`: its feature set with screened-out fixed and
    subscription columns kept (the action and risk score read mrr, renewal and usage facts
    whatever the model uses) and whatever the model reads (a serving baseline reads event
    types the churn model screened out), but no other screened-out event type or attribute:
    nothing else reads them, and each event type costs a pass over the usage log (on a
    100,000-customer book, five screened-out types took a third of building features). None
    (every fixed feature) for a model without a feature set."""
    chosen = feats.set_of(model)
    if chosen is None:
        return None
    kept = {*chosen.base, *(f.name for f in feats.SUBSCRIPTION_FEATURES)}
    return replace(chosen, dropped=frozenset(n for n in chosen.dropped if n not in kept))


def _fact(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column the action and the stored prediction read, as floats; missing (NaN) when the
    company loaded nothing it comes from (no contracts or billing cycles: no renewal date)."""
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.Series(frame[name].to_numpy(dtype=float, na_value=np.nan), index=frame.index)


class _Clock:
    """Seconds spent per phase of a scoring run, for the report and the bench."""

    def __init__(self, phases: dict[str, float] | None):
        self.phases = phases if phases is not None else {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + now - self._last, 3)
        self._last = now


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: building every account's drivers and action
    makes hundreds of thousands of dicts, lists and strings (none of them cyclic, all freed by
    reference counting), and each batch of them set off a collection over the whole heap; a
    fifth of the drivers phase on a book of 67,000 accounts."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _explained(model: ChurnModel, frame: pd.DataFrame) -> tuple[Prediction, np.ndarray]:
    """(probability and interval, SHAP values): in one pass over the trees for the churn model;
    a baseline or a table's model (served in its place) answers the two separately."""
    both = getattr(model, "explained", None)
    return both(frame) if both is not None else (model.predict(frame), model.contributions(frame))


def score_features(
    model: ChurnModel,
    frame: pd.DataFrame,
    top_k: int = 5,
    cuts: risk.TierCuts | None = None,
    phases: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Probability, interval, risk, drivers and action for every row of a feature frame; tiers
    by `cuts` (default: the configured thresholds for the model's training base rate).
    `phases`, when given, gathers the seconds spent predicting, explaining and building drivers."""
    clock = _Clock(phases)
    cuts = cuts or risk.tier_cuts(base_rate(model))
    pred, contributions = _explained(model, frame)
    clock.lap("contributions")
    with _collector_paused():
        scored = _scored_frame(model, frame, pred, contributions, top_k, cuts)
    clock.lap("drivers")
    return scored


def score(
    wh: Warehouse,
    as_of: date | None = None,
    data_dir: str | Path | None = None,
    progress: Progress | None = None,
    monitor: bool = True,
    keep_rows: bool = True,
) -> ScoreReport:
    """Score every customer active at `as_of` (default: the data's latest date) with the
    production model and write `predictions` (replacing that as-of date and version); then,
    with `monitor`, measure drift (and the model's quality, once per version) for these scores
    and keep them for the Model & data page (`engine.churn.monitoring.stored_drift`).

    `as_of` after the data's latest day is refused: every day past it would read as
    silence (no logins, no tickets) and make healthy accounts look lost.

    With `keep_rows`, the feature rows just scored replace `scoring_rows` (see `stored_rows`)."""
    say = progress or (lambda _f, _m: None)
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    clock = _Clock(phases)
    source = wh.reading()  # a writer reads the published state while its copy is made
    as_of = check_as_of(source, as_of)
    version, model = registry.load_production("churn", data_dir)
    kept_parts = _kept_tree_parts(version, model, data_dir)
    say(0.05, f"features as of {as_of}")
    frame = feats.features_as_of(source, as_of, feature_set=scoring_features(model))
    if frame.empty:
        raise BadInputError(f"No customer is active on {as_of}; pick a date inside the data.")
    clock.lap("features")
    cuts = risk.tier_cuts(base_rate(model, version))
    parts = []
    # Large batches: explaining groups rows that take the same paths through a tree, and the
    # more rows a batch holds the fewer times each path is explained.
    for start in range(0, len(frame), BATCH):
        chunk = frame.iloc[start : start + BATCH]
        parts.append(score_features(model, chunk, cuts=cuts, phases=phases))
        say(
            0.1 + 0.6 * min(1.0, (start + BATCH) / len(frame)),
            f"scored and explained {min(start + BATCH, len(frame)):,} of {len(frame):,}",
        )
    clock = _Clock(phases)
    if kept_parts is False:
        _keep_tree_parts(version, model, data_dir)
    scored = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    scored.insert(1, "as_of", as_of)
    scored.insert(2, "model_version", version.version)
    scored["scored_at"] = datetime.now(UTC).replace(tzinfo=None)
    from engine.churn import monitoring  # monitoring reads scoring's helpers: imported when used

    probabilities = scored["churn_probability"].to_numpy()
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Drift is numpy and the write is DuckDB: both let go of the GIL, so they share the cores.
        # Its reference is read from the published snapshot (the writer's copy is not open yet).
        drift = (
            monitoring.drift_alongside(pool, wh.reading(), data_dir, version, model, as_of, frame, probabilities)
            if monitor
            else None
        )
        _write(wh, scored, as_of, version.version, frame if keep_rows else None)
        clock.lap("write")
        say(0.75, f"wrote {len(scored):,} predictions")
        if monitor:
            phases.update(
                monitoring.record_after_scoring(wh, data_dir, version, model, as_of, frame, probabilities, say, drift)
            )
    say(1.0, f"scored {len(scored):,} customers")
    return ScoreReport(
        as_of=as_of,
        model_version=version.version,
        customers=len(scored),
        seconds=round(time.perf_counter() - t0, 2),
        phases=phases,
    )


def _scored_frame(
    model: ChurnModel, frame: pd.DataFrame, pred: Prediction, contributions: np.ndarray, top_k: int, cuts: risk.TierCuts
) -> pd.DataFrame:
    """The stored prediction rows: tier, risk components, drivers' JSON and action per account."""
    calibration = (model.platt_a_, model.platt_b_) if hasattr(model, "platt_a_") else None
    drivers, raising, top = explain.stored_drivers(model.features, frame, contributions, top_k, calibration)
    components = risk.risk_components(frame)
    tiers = risk.risk_tier(pred.churn_probability, cuts)
    mrr = _fact(frame, "mrr").to_numpy()
    renewal = _fact(frame, "days_to_renewal").to_numpy()
    expansion = _fact(frame, "open_expansion_opportunity").fillna(0).to_numpy().astype(bool).tolist()
    tenure = _fact(frame, "tenure_days").to_numpy()
    actions = [
        risk.recommended_action(tier, feature, p, m, r, e, t)
        for tier, feature, p, m, r, e, t in zip(
            tiers.tolist(),
            raising,
            pred.churn_probability.tolist(),
            np.nan_to_num(mrr).tolist(),
            renewal.tolist(),
            expansion,
            tenure.tolist(),
            strict=True,
        )
    ]
    scored = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "churn_probability": pred.churn_probability,
            "ci_low": pred.ci_low,
            "ci_high": pred.ci_high,
            "risk_score": components["risk_score"].to_numpy(),
            **{name: components[name].to_numpy(dtype=float) for name in risk.COMPONENTS},
            "risk_tier": tiers,
            # Kept as Python strings: an Arrow string column of 100,000 JSON texts costs
            # seconds to build and DuckDB reads these directly when the scores are written.
            "drivers": pd.Series(drivers, dtype=object),
            "recommended_action": actions,
            "mrr": mrr,
            "days_to_renewal": renewal,
            "top_driver": top,
        }
    )
    return scored


TREE_PARTS_FILE = "tree_parts.pkl"


def _kept_tree_parts(version: registry.ModelVersion, model: ChurnModel, data_dir: str | Path | None) -> bool | None:
    """Give the model's boosters the splits and leaf tables kept beside its artifact (reading
    them is a tenth of building them from LightGBM's dump: seconds on a big model); None for a
    model without trees, False when none are kept for this artifact yet."""
    boosters = getattr(model, "boosters_", None)
    if not boosters:
        return None
    return treeshap.load_kept_parts(boosters, _tree_parts_file(version, data_dir), version.artifact_sha256)


def _keep_tree_parts(version: registry.ModelVersion, model: ChurnModel, data_dir: str | Path | None) -> None:
    """Keep the parts this run built for the next run (only when a batch large enough to
    group rows built them all)."""
    treeshap.keep_parts(model.boosters_, _tree_parts_file(version, data_dir), version.artifact_sha256)


def _tree_parts_file(version: registry.ModelVersion, data_dir: str | Path | None) -> Path:
    return registry.artifact(version, data_dir).parent / TREE_PARTS_FILE


def _write(wh: Warehouse, scored: pd.DataFrame, as_of: date, version: str, rows: pd.DataFrame | None = None) -> None:
    """Replace the scores of `as_of` by `version` with `scored`, in one statement from the frame;
    with `rows` (the feature rows scored), replace `scoring_rows` by them in the same transaction."""
    with wh.transaction() as cur:
        if rows is not None:
            cur.register("_rows", rows)
            # Its columns are the model's own feature set, so the table is rebuilt, not migrated.
            cur.execute(
                "CREATE OR REPLACE TABLE scoring_rows AS SELECT ?::VARCHAR AS model_version, * FROM _rows", [version]
            )
            cur.unregister("_rows")
        cur.execute("DELETE FROM predictions WHERE as_of = ? AND model_version = ?", [as_of, version])
        cur.register("_scored", scored)
        cur.execute(
            "INSERT INTO predictions (customer_id, as_of, model_version, churn_probability, ci_low, ci_high, "
            "risk_score, risk_tier, drivers, recommended_action, scored_at, mrr, days_to_renewal, top_driver, "
            "usage_decay_score, compliance_gap_score, vendor_risk_flags) "
            "SELECT customer_id, as_of, model_version, churn_probability, ci_low, ci_high, risk_score, risk_tier, "
            "drivers, recommended_action, scored_at, mrr, days_to_renewal::INTEGER, top_driver, "
            "usage_decay_score, compliance_gap_score, vendor_risk_flags FROM _scored"
        )
        cur.unregister("_scored")


ROWS_TABLE = "scoring_rows"


def stored_rows(
    wh: Warehouse, customer_id: str, as_of: date, version: str, names: list[str] | None
) -> pd.DataFrame | None:
    """The feature row the latest `score` built for `customer_id` (columns customer_id, as_of and
    `names`, or every column kept when None, as `features.features_as_of` returned them), or None
    when that run did not keep it (another date or version, back-scoring, or a warehouse scored
    before rows were kept). One account's row costs a lookup here instead of a pass over its
    whole usage history."""
    present = [
        r[0]
        for r in wh.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            [ROWS_TABLE],
        )
    ]
    wanted = [c for c in present if c != "model_version"] if names is None else ["customer_id", "as_of", *names]
    if not present or not set(wanted) <= set(present):
        return None
    columns = ", ".join(f'"{name}"' for name in wanted)
    row = wh.df(
        f"SELECT {columns} FROM {ROWS_TABLE} WHERE customer_id = ? AND as_of = ? AND model_version = ?",  # noqa: S608 - names checked against the table
        [customer_id, as_of, version],
    )
    return row if len(row) == 1 else None


def check_as_of(wh: Warehouse, as_of: date | None) -> date:
    """`as_of`, or the data's latest day when None; refused when outside the data's dates."""
    latest = health.data_as_of(wh)
    if latest is None:
        raise BadInputError("The warehouse has no data to score.")
    if as_of is None:
        return latest
    if as_of > latest:
        raise BadInputError(
            f"Cannot score as of {as_of}: the data's latest day is {latest}, so every day after it would look "
            "like silence (no usage, no tickets) and healthy accounts would look at risk. Score as of "
            f"{latest} or earlier (leave out --as-of to use the latest day), or load newer data first."
        )
    earliest = config.earliest_date()
    if as_of < earliest:
        raise BadInputError(
            f"Cannot score as of {as_of}: it is before {earliest}, the earliest date the data may hold "
            "(RADAR_EARLIEST_DATE). Pick a date inside the data."
        )
    return as_of


def explain_customer(
    wh: Warehouse,
    model: ChurnModel,
    customer_id: str,
    as_of: date | None = None,
    top_k: int = 8,
    model_version: str | None = None,
) -> ChurnPrediction:
    """The churn prediction for one customer, computed now from the warehouse as of `as_of`
    (default: the data's latest day); `model_version` names `model` in the result."""
    as_of = as_of or health.data_as_of(wh)
    if as_of is None:
        raise BadInputError("The warehouse has no data to explain a customer from.")
    row = feats.features_as_of(wh, as_of, customer_id, scoring_features(model))
    if row.empty:
        raise NotFoundError(f"Customer '{customer_id}' is not an active customer on {as_of}.")
    scored = score_features(model, row.reset_index(drop=True), top_k).iloc[0]
    return ChurnPrediction(
        customer_id=customer_id,
        as_of=as_of,
        churn_probability=float(scored.churn_probability),
        confidence_interval=ConfidenceInterval(
            lower=float(scored.ci_low), upper=float(scored.ci_high), level=model.interval_level
        ),
        top_shap_features=explain.drivers_from_json(scored.drivers),
        recommended_action=scored.recommended_action,
        risk_tier=scored.risk_tier,
        risk_score=None if pd.isna(scored.risk_score) else float(scored.risk_score),
        components=risk.components_of(scored),
        model_version=model_version,
        scored_at=datetime.now(UTC),
    )


def backfill(
    wh: Warehouse, months: int = 6, data_dir: str | Path | None = None, progress: Progress | None = None
) -> list[ScoreReport]:
    """Score the last `months` month ends whose 90-day outcome is already known, so realised vs
    predicted churn can be shown from day one. The production model may have trained on those
    months, so these are in-sample; later scoring runs add genuinely out-of-sample points."""
    end = health.data_as_of(wh)
    if end is None:
        raise BadInputError("The warehouse has no data to score.")
    closed = end - timedelta(days=90)
    dates = feats.month_ends(closed - timedelta(days=31 * months + 31), closed)[-months:]
    reports = []
    for i, as_of in enumerate(dates):
        if progress:
            progress(i / max(len(dates), 1), f"back-scoring {as_of}")
        # Drift and the kept feature rows are of the latest scores, not of these.
        reports.append(score(wh, as_of=as_of, data_dir=data_dir, monitor=False, keep_rows=False))
    return reports
