"""Judge a registered model on a past date whose 90-day outcome window has closed."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from engine.churn import features as feats
from engine.churn import registry, scoring, training
from engine.core.contracts import Contract
from engine.core.errors import BadInputError
from engine.data import health
from engine.data.warehouse import Warehouse


class EvaluationResult(Contract):
    """How a model did on customers active at a past date whose 90-day outcome is known:
    `metrics` as `training.evaluate` reports them (auc, pr_auc, brier, calibration, ...)."""

    model_version: str
    as_of: date
    metrics: dict[str, Any]


def evaluate_version(
    wh: Warehouse, version: str | None = None, as_of: date | None = None, data_dir: str | Path | None = None
) -> EvaluationResult:
    """Metrics of `version` (default production) for customers active at `as_of`
    (default: the latest month end whose 90 days have passed). With ground truth
    (generated data), also interval coverage of the true probability and oracle scores;
    with the training record, the interval's coverage of a known probability."""
    if version:
        entry = registry.get(version, data_dir)
        model = registry.load(entry, data_dir)
    else:
        entry, model = registry.load_production("churn", data_dir)
    last = health.data_as_of(wh)
    if last is None:
        raise BadInputError("The warehouse has no data.")
    closed = last - timedelta(days=training.HORIZON_DAYS)
    if as_of is None:
        ends = feats.month_ends(closed - timedelta(days=40), closed)
        as_of = ends[-1] if ends else closed
    if as_of > closed:
        raise BadInputError(
            f"The 90-day outcome after {as_of} is not known yet (data ends {last}); pick a date on or before {closed}."
        )
    # The model's own columns: a model trained on a data-driven feature set needs exactly them.
    snaps = feats.labelled_snapshots(wh, [as_of], training.HORIZON_DAYS, feature_set=scoring.scoring_features(model))
    if snaps.empty:
        raise BadInputError(f"No customer was active on {as_of}.")
    snaps["as_of"] = pd.to_datetime(snaps["as_of"])
    pred = model.predict(snaps)
    truth = training._truth(wh, snaps)
    metrics = training.evaluate(snaps["churned"], pred.churn_probability, pred.ci_low, pred.ci_high, truth)
    # What the interval claims, as checked when the model was trained (`spread.measure`): how often
    # it held a known probability the features imply. Kept next to the generator's latent truth,
    # which the features never fully see, so no interval of an estimate can be held to it.
    for key in ("interval_coverage_self_simulated", "interval_spread_factor"):
        if entry.metrics.get(key) is not None:
            metrics[key] = entry.metrics[key]
    return EvaluationResult(model_version=entry.version, as_of=as_of, metrics=metrics)
