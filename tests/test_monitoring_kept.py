"""Drift and quality are measured when scores are written and kept; the Model & data page
reads what was kept, says when it was measured, and marks it stale when newer scores exist."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import sqlalchemy as sa

from engine.churn import monitoring, quality, registry, scoring
from engine.core import store
from engine.data import warehouse
from tests.apptest import open_page


def _production(data) -> registry.ModelVersion:
    entry = registry.production("churn", data)
    assert entry is not None
    return entry


def test_scoring_keeps_drift_and_quality_of_its_scores(scored_dir):
    entry = _production(scored_dir)
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    kept = monitoring.stored_drift(wh, scored_dir, entry.version)
    assert kept is not None and not kept.stale
    assert kept.scores_as_of == monitoring.latest_scoring_date(wh)
    assert "Computed at" in kept.note and f"{kept.scores_as_of:%Y-%m-%d}" in kept.note
    fresh = monitoring.drift_report(wh, scored_dir)  # what `engine drift` measures now
    assert kept.report.counts == fresh.counts
    assert np.allclose(kept.report.features["psi"], fresh.features["psi"])
    assert kept.report.score is not None and fresh.score is not None
    assert abs(kept.report.score.psi - fresh.score.psi) < 1e-12
    kept_quality = monitoring.stored_quality(scored_dir, entry.version)
    assert kept_quality is not None
    assert kept_quality.report.metrics["auc"] == quality.version_quality(wh, data_dir=scored_dir).metrics["auc"]


def test_newer_scores_make_kept_drift_stale_until_measured_again(scored_copy):
    entry = _production(scored_copy)
    wh = warehouse.get_warehouse(scored_copy)
    scoring.score(wh, data_dir=scored_copy, monitor=False)  # rescored, drift not measured
    kept = monitoring.stored_drift(wh, scored_copy, entry.version)
    assert kept is not None and kept.stale
    monitoring.measure_drift(wh, scored_copy, entry)
    kept = monitoring.stored_drift(wh, scored_copy, entry.version)
    assert kept is not None and not kept.stale


def test_the_page_shows_kept_drift_without_measuring(scored_dir, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(scored_dir, data)

    def measured(*_args, **_kwargs):
        raise AssertionError("the page measured drift although scoring kept it")

    monkeypatch.setattr(monitoring, "_drift_of", measured)
    at = open_page("model_data", "analyst", data=data, monkeypatch=monkeypatch)
    captions = " ".join(c.value for c in at.caption)
    assert "Computed at" in captions and "for the scores of" in captions
    assert not any("Drift could not be measured" in w.value for w in at.warning)


def test_the_page_measures_once_when_nothing_was_kept(scored_copy, monkeypatch):
    with store.get_engine(scored_copy).begin() as conn:
        conn.execute(sa.delete(store.monitoring_results))
    store.dispose_all()
    at = open_page("model_data", "analyst", data=scored_copy, monkeypatch=monkeypatch)
    assert "Computed at" in " ".join(c.value for c in at.caption)
    wh = warehouse.get_warehouse(scored_copy, read_only=True)
    assert monitoring.stored_drift(wh, scored_copy, _production(scored_copy).version) is not None
    assert monitoring.stored_quality(scored_copy, _production(scored_copy).version) is not None


def test_stale_drift_is_marked_and_an_admin_can_measure_it_again(scored_copy, monkeypatch):
    wh = warehouse.get_warehouse(scored_copy)
    scoring.score(wh, data_dir=scored_copy, monitor=False)
    warehouse.close_all()
    analyst = open_page("model_data", "analyst", data=scored_copy, monkeypatch=monkeypatch)
    assert any("Newer scores exist" in w.value for w in analyst.warning)
    assert "Measure drift now" not in [b.label for b in analyst.button]
    admin = open_page("model_data", "admin", data=scored_copy, monkeypatch=monkeypatch)
    admin.button(key="drift_recompute").click().run()
    assert not admin.exception
    assert not any("Newer scores exist" in w.value for w in admin.warning)


def test_scores_are_written_when_the_drift_reference_cannot_be_had(scored_copy, monkeypatch):
    """Drift is compared while the scores are written, from a reference read before; when that
    reference cannot be had, the scores are still written and the run says why drift is missing."""
    from engine.core.errors import BadInputError

    def no_reference(*_args, **_kwargs):
        raise BadInputError("the training reference is unreadable")

    monkeypatch.setattr(monitoring, "drift_reference", no_reference)
    said: list[str] = []
    wh = warehouse.get_warehouse(scored_copy)
    with wh.transaction() as cur:
        cur.execute("DELETE FROM predictions")
    report = scoring.score(wh, data_dir=scored_copy, progress=lambda _f, message: said.append(message))
    assert wh.scalar("SELECT count(*) FROM predictions") == report.customers > 0
    assert any("monitoring not measured" in m and "unreadable" in m for m in said)


def test_a_kept_frame_missing_a_column_the_model_reads_is_built_again(tmp_path):
    """A drift reference kept before its model's columns were all built (a serving baseline's
    screened-out event types) left two of its seven inputs out of drift for good."""
    path = tmp_path / "reference.parquet"
    pd.DataFrame({"tenure_days": [1.0]}).to_parquet(path)
    built = []

    def build() -> pd.DataFrame:
        built.append(1)
        return pd.DataFrame({"tenure_days": [2.0], "evt_x_count_90d": [3.0]})

    assert list(monitoring._kept(path, build, ("tenure_days",))["tenure_days"]) == [1.0] and not built
    again = monitoring._kept(path, build, ("tenure_days", "evt_x_count_90d"))
    assert list(again.columns) == ["tenure_days", "evt_x_count_90d"] and built == [1]
    assert list(pd.read_parquet(path).columns) == ["tenure_days", "evt_x_count_90d"]  # kept for next time
