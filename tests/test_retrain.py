"""Background retrain: one job at a time, admin only, the promotion gate, crash safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.churn import registry, retrain, training
from engine.core.access import AccessDenied, Viewer
from engine.data import warehouse

ADMIN = Viewer("admin", "admin")
ANALYST = Viewer("analyst", "analyst")


def _stub_trainer(release: threading.Event, calls: list):
    """A trainer that reports progress and waits for the test before finishing."""

    def train(wh, data_dir=None, promote="auto", progress=None, **options):
        calls.append(options)
        progress(0.5, "halfway")
        assert release.wait(30), "the test never released the stub trainer"
        return training.TrainResult(
            version="stub-v1",
            metrics={"auc": 0.8},
            data_window={},
            promoted=False,
            reason="stub kept as a candidate",
            seconds=0.0,
        )

    return train


def test_a_second_click_joins_the_running_job(scored_copy):
    release, calls = threading.Event(), []
    trainer = _stub_trainer(release, calls)
    first = retrain.start_retrain(scored_copy, ADMIN, trainer=trainer, force=True)
    second = retrain.start_retrain(scored_copy, ADMIN, trainer=trainer, force=True)
    assert second == first
    status = retrain.job_status(first)
    assert status.state in (retrain.QUEUED, retrain.RUNNING) and not status.done
    release.set()
    done = retrain.wait(first, timeout=30)
    assert done.state == retrain.SUCCEEDED and done.result.version == "stub-v1"
    assert "halfway" in done.messages and len(calls) == 1
    third = retrain.start_retrain(scored_copy, ADMIN, trainer=trainer, force=True)
    assert third != first
    retrain.wait(third, timeout=30)
    assert retrain.latest_job(scored_copy).job_id == third


def test_only_admins_retrain_promote_roll_back_or_rescore(scored_copy):
    before = registry.versions(data_dir=scored_copy)
    with pytest.raises(AccessDenied, match="not allowed to retrain"):
        retrain.start_retrain(scored_copy, ANALYST)
    with pytest.raises(AccessDenied):
        retrain.promote(before[0].version, ANALYST, scored_copy)
    with pytest.raises(AccessDenied):
        retrain.rollback(ANALYST, scored_copy)
    with pytest.raises(AccessDenied):
        retrain.refresh_scores(Viewer("exec", "executive"), scored_copy)
    assert registry.versions(data_dir=scored_copy) == before


@pytest.mark.parametrize("stage", ["features", "fit"])
def test_a_crash_midway_leaves_production_serving(scored_copy, stage):
    production = registry.production("churn", scored_copy)
    versions = [v.version for v in registry.versions(data_dir=scored_copy)]
    wh = warehouse.get_warehouse(scored_copy)
    scores = wh.scalar("SELECT count(*) FROM predictions")
    job = retrain.wait(retrain.start_retrain(scored_copy, ADMIN, fail_at=stage), timeout=300)
    assert job.state == retrain.FAILED and "simulated failure" in job.error
    assert job.production_before == production.version
    assert registry.production("churn", scored_copy).version == production.version
    assert [v.version for v in registry.versions(data_dir=scored_copy)] == versions
    assert wh.scalar("SELECT count(*) FROM predictions") == scores
    registry.load_production("churn", scored_copy)  # still verifies and loads


def test_the_gate_keeps_a_worse_candidate_out_of_production(scored_copy, monkeypatch):
    """A candidate trained on shuffled labels (AUC near 0.5) must stay a candidate. The run builds
    every month end in one call (rolling-origin folds), so its out-of-time record is shuffled too;
    production trained on the same months, so each is judged on its own out-of-time record."""
    production = registry.production("churn", scored_copy)
    real = training.feats.labelled_snapshots
    calls = []

    def shuffled_training_labels(wh, dates, horizon_days=90, *feature_set):
        frame = real(wh, dates, horizon_days, *feature_set)
        calls.append(len(dates))
        if len(calls) == 1:  # the first call builds every month end the run learns from
            frame["churned"] = np.random.default_rng(0).permutation(frame["churned"].to_numpy())
        return frame

    monkeypatch.setattr(training.feats, "labelled_snapshots", shuffled_training_labels)
    job = retrain.wait(retrain.start_retrain(scored_copy, ADMIN, force=True), timeout=300)
    assert job.state == retrain.SUCCEEDED, job.error
    result = job.result
    assert not result.promoted
    assert "stays a candidate" in result.reason and str(training.PROMOTION_MARGIN) in result.reason
    assert result.metrics["auc"] < result.production_metrics["auc"] - training.PROMOTION_MARGIN
    assert registry.get(result.version, scored_copy).stage == "candidate"
    assert registry.production("churn", scored_copy).version == production.version


# -- no change (issue 12, item 18) ----------------------------------------------------------------
def test_a_retrain_on_unchanged_data_trains_nothing(scored_copy):
    production = registry.production("churn", scored_copy)
    assert production.data_window["data_fingerprint"]
    versions = [v.version for v in registry.versions(data_dir=scored_copy)]
    calls = []

    def trainer(*args, **kwargs):
        calls.append(kwargs)
        raise AssertionError("nothing should be trained on unchanged data")

    job = retrain.wait(retrain.start_retrain(scored_copy, ADMIN, trainer=trainer), timeout=120)
    assert job.state == retrain.SUCCEEDED, job.error
    assert job.unchanged and not job.result.promoted and not calls
    assert job.result.reason.startswith("No change") and production.version in job.result.reason
    assert job.result.version == production.version
    assert [v.version for v in registry.versions(data_dir=scored_copy)] == versions
    assert registry.production("churn", scored_copy).promoted_at == production.promoted_at


def test_changed_data_or_force_trains_again(scored_copy):
    wh = warehouse.get_warehouse(scored_copy)
    assert retrain.unchanged_since(wh, scored_copy) is not None
    release, calls = threading.Event(), []
    release.set()
    forced = retrain.wait(
        retrain.start_retrain(scored_copy, ADMIN, trainer=_stub_trainer(release, calls), force=True), 60
    )
    assert forced.state == retrain.SUCCEEDED and not forced.unchanged and len(calls) == 1
    wh.execute(
        "UPDATE support_tickets SET csat = coalesce(csat, 3) + 1 WHERE ticket_id = (SELECT min(ticket_id) FROM support_tickets)"
    )
    assert retrain.unchanged_since(wh, scored_copy) is None
    again = retrain.wait(retrain.start_retrain(scored_copy, ADMIN, trainer=_stub_trainer(release, calls)), 60)
    assert again.state == retrain.SUCCEEDED and not again.unchanged and len(calls) == 2


def test_the_fingerprint_ignores_scores_but_not_rows(scored_copy):
    wh = warehouse.get_warehouse(scored_copy)
    cutoff = training.snapshot_plan(wh)[2]
    before = training.data_fingerprint(wh, cutoff)
    wh.execute("DELETE FROM predictions WHERE as_of = (SELECT min(as_of) FROM predictions)")
    assert training.data_fingerprint(wh, cutoff) == before  # scoring output is not training data
    wh.execute("DELETE FROM usage_daily WHERE date = (SELECT max(date) FROM usage_daily)")
    assert training.data_fingerprint(wh, cutoff) != before
