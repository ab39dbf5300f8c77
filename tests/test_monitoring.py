"""Drift, realised vs predicted, model quality, registry view, data health, dry-run ingest, CLI."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from engine import cli
from engine.churn import monitoring, quality, registry, training
from engine.core.access import SYSTEM
from engine.core.contracts import to_dict
from engine.data import demo as synth
from engine.data import health, warehouse
from engine.data.ingest import IngestError, validate_file

DRIFTED = {"compliance_gap_score", "events_per_seat_30d", "tickets_90d"}


# -- PSI ------------------------------------------------------------------------------------------
def test_psi_is_zero_for_the_same_population_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 5000)
    assert monitoring.psi_numeric(base, base) == pytest.approx(0.0, abs=1e-12)
    assert monitoring.psi_numeric(base, rng.normal(0, 1, 5000)) < monitoring.PSI_WATCH
    assert monitoring.psi_numeric(base, rng.normal(0.8, 1, 5000)) > monitoring.PSI_ACT
    half_missing = np.where(rng.random(5000) < 0.5, np.nan, rng.normal(0, 1, 5000))
    # Missing values are judged apart: the values present look the same, the share missing does not.
    assert monitoring.psi_numeric(base, half_missing) < monitoring.PSI_WATCH
    assert monitoring.drift_status(0.0, 0.5) == "act"
    assert monitoring.drift_status(0.0, 0.06) == "watch"
    assert monitoring.drift_status(0.0, 0.035) == "stable"
    assert monitoring.drift_status(0.25) == "act" and monitoring.drift_status(0.15) == "watch"
    plans = pd.Series(["starter"] * 60 + ["growth"] * 30 + ["enterprise"] * 10)
    assert monitoring.psi_categorical(plans, plans) == pytest.approx(0.0, abs=1e-12)
    assert monitoring.psi_categorical(plans, pd.Series(["starter"] * 20 + ["growth"] * 80)) > monitoring.PSI_ACT


def test_status_thresholds_and_bin_edges_between_values():
    assert [monitoring.drift_status(p) for p in (0.0, 0.099, 0.1, 0.2, 0.2001)] == [
        "stable",
        "stable",
        "watch",
        "watch",
        "act",
    ]
    thirds = np.repeat(np.arange(10) / 3, 50)
    edges = monitoring.numeric_edges(thirds)
    assert len(edges) > 0 and not np.isin(edges, thirds).any()  # cuts fall between observed values


# -- drift on generated data -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def drift_pair(tmp_path_factory):
    """Drift reports for the same company generated stable and with --drift (2,000 customers,
    where the sampling noise of PSI stays well below 0.20)."""
    reports = {}
    for drift in (False, True):
        root = tmp_path_factory.mktemp(f"drift_{drift}")
        wh = warehouse.get_warehouse(root)
        synth.generate(wh, customers=2000, seed=7, end=date(2026, 6, 30), drift=drift)
        train_dates, _, cutoff = training.snapshot_plan(wh)
        # The reference: the last month end before the out-of-time folds (about six months
        # before the end, ahead of the four drifted months), as a model's training data was.
        reports[drift] = monitoring.drift_between(wh, train_dates[-(training.FOLDS + 1)], cutoff)
        warehouse.close_all()
    return reports


def test_drifted_data_is_flagged(drift_pair):
    report = drift_pair[True]
    assert set(report.flagged("act")) >= DRIFTED
    psi = report.features.set_index("feature")["psi"]
    assert (psi[list(DRIFTED)] > monitoring.PSI_ACT).all()
    # Worst first: act before watch before stable, and by PSI within a status.
    severity = report.features["status"].map({s: i for i, s in enumerate(monitoring.STATUS_ORDER)})
    assert severity.is_monotonic_increasing
    for _, group in report.features.groupby("status"):
        assert group["psi"].is_monotonic_decreasing


def test_stable_data_is_not_flagged(drift_pair):
    report = drift_pair[False]
    assert report.flagged("act") == []
    assert report.features["psi"].max() < monitoring.PSI_ACT
    assert not DRIFTED & set(report.flagged("watch"))


def test_drift_report_of_the_production_model(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    entry = registry.production("churn", scored_dir)
    report = monitoring.drift_report(wh, scored_dir)
    assert report.model_version == entry.version
    assert str(report.reference_as_of) == entry.data_window["train_to"]
    assert report.current_as_of == wh.scalar("SELECT max(as_of) FROM predictions")
    assert len(report.features) == len(entry.features)
    shares = report.bins.groupby("feature")[["reference_share", "current_share"]].sum()
    assert np.allclose(shares, 1.0)
    assert report.score is not None and np.isfinite(report.score.psi)
    assert str(report.score.reference_as_of) == entry.data_window["valid_to"]
    # Predicted churn's bins read as percentages ("< 0.152%"), not raw probabilities ("< 0.001522").
    assert report.score.bins["bin"].str.endswith("%").all()
    payload = to_dict(report)
    assert payload["counts"] == report.counts and len(payload["features"]) == len(report.features)


# -- realised vs predicted --------------------------------------------------------------------------
def test_realised_vs_predicted_matches_an_independent_computation(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    report = monitoring.realised_vs_predicted(wh, scored_dir, viewer=SYSTEM)
    by_date = report.by_date
    assert len(by_date) == 3  # the fixture back-scored three closed month ends
    assert by_date["in_sample"].all()  # they fall inside the model's training / calibration window
    last = by_date.iloc[-1]
    rows = wh.df(
        "SELECT p.churn_probability, coalesce(c.churn_date > p.as_of AND c.churn_date <= p.as_of + 90, false) AS y "
        "FROM predictions p JOIN customers c USING (customer_id) WHERE p.as_of = ?",
        [pd.Timestamp(last["as_of"]).date()],
    )
    y = rows["y"].astype(int).to_numpy()
    assert last["customers"] == len(rows) and last["churned"] == y.sum()
    assert last["auc"] == pytest.approx(roc_auc_score(y, rows["churn_probability"]), abs=1e-12)
    assert last["brier"] == pytest.approx(brier_score_loss(y, rows["churn_probability"]), abs=1e-12)
    cal = report.calibration[pd.to_datetime(report.calibration["as_of"]) == pd.Timestamp(last["as_of"])]
    assert cal["rows"].sum() == len(rows)
    assert len(report.pending) == 1  # today's scores are not judged yet
    checks = monitoring.trust_checks(registry.production("churn", scored_dir), True, None, report)
    assert checks[-1].check == "Realised vs predicted"


# -- quality ------------------------------------------------------------------------------------------
def test_quality_reproduces_the_registered_out_of_time_auc(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    entry = registry.production("churn", scored_dir)
    q = quality.version_quality(wh, data_dir=scored_dir)
    assert q.metrics["auc"] == pytest.approx(entry.metrics["auc"], abs=1e-9)
    assert q.rows == entry.metrics["rows"]
    first, last = q.roc.iloc[0], q.roc.iloc[-1]
    assert (first["false_positive_rate"], first["true_positive_rate"]) == (0.0, 0.0)
    assert (last["false_positive_rate"], last["true_positive_rate"]) == (1.0, 1.0)
    assert q.precision_recall["recall"].is_monotonic_increasing
    assert list(q.lift["decile"]) == list(range(1, 11)) and q.lift["customers"].sum() == q.rows
    assert q.lift["cumulative_capture"].iloc[-1] == pytest.approx(1.0)
    assert q.lift["lift"].iloc[0] > 1.5 > q.lift["lift"].iloc[-1]  # the riskiest tenth churns far more
    assert q.importance["mean_abs_shap"].is_monotonic_decreasing
    assert set(q.beeswarm["feature"]) == set(q.importance["feature"].head(quality.BEESWARM_FEATURES))


def test_registry_table_flags_a_changed_artifact_and_diff_shows_changes(scored_copy):
    current = registry.production("churn", scored_copy)
    model = registry.load(current, scored_copy)
    params = dict(current.params, seed=99)
    other = registry.register(
        model, "churn", params, current.features[:-1], current.data_window, current.metrics, scored_copy
    )
    table = quality.registry_table(scored_copy)
    assert list(table["version"]) == [other.version, current.version]
    assert table["hash_ok"].all()
    registry.artifact(other, scored_copy).write_bytes(b"tampered")
    table = quality.registry_table(scored_copy).set_index("version")
    assert table.loc[other.version, "hash_status"] == "changed"
    assert table.loc[current.version, "hash_status"] == "verified"
    diff = quality.diff_versions(current.version, other.version, scored_copy)
    changed = diff.params.set_index("name")["changed"]
    assert changed["seed"] and not changed.drop("seed").any()
    assert diff.features_removed == [current.features[-1]] and diff.features_added == []


# -- data health and dry-run ingest --------------------------------------------------------------------
def test_data_health_counts_and_null_rates(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    report = health.data_health(wh)
    counts = wh.table_counts()
    assert dict(zip(report.tables["table"], report.tables["rows"], strict=True)) == counts
    nulls = report.nulls.set_index(["table", "column"])
    churned = wh.scalar("SELECT count(churn_date) FROM customers")
    assert nulls.loc[("customers", "churn_date"), "nulls"] == counts["customers"] - churned
    assert not report.tables["stale"].any()


def test_data_health_says_which_tables_are_out_of_step_with_the_data(scored_copy):
    """A CRM export newer than the event log (accounts signed up after the last usage day) and
    scores older than the data both read "current"; they now say what is out of step."""
    wh = warehouse.get_warehouse(scored_copy)
    report = health.data_health(wh)
    assert report.tables["note"].isna().all()  # the scored demo is in step
    assert report.as_of_from == "the newest day of product usage or support tickets loaded"
    as_of = report.data_as_of
    wh.execute(
        "INSERT INTO customers (customer_id, name, signup_date, status) VALUES ('late-1', 'Late', ?, 'active')",
        [as_of + pd.Timedelta(days=20)],
    )
    day = wh.rows("SELECT customer_id, event_type FROM usage_daily LIMIT 1")[0]
    wh.execute(
        "INSERT INTO usage_daily (customer_id, date, event_type, events) VALUES (?, ?, ?, 3)",
        [day[0], as_of + pd.Timedelta(days=1), day[1]],
    )
    report = health.data_health(wh)
    shown = health.freshness(report.tables).set_index("table")["state"]
    assert shown["customers"] == (
        f"ahead of the usage: 1 account signed up after {report.data_as_of}, "
        "not scored until usage for their days is loaded"
    )
    assert shown["predictions"] == f"behind the data: scores as of {as_of}; refresh the scores"
    assert shown["usage_daily"] == "current"
    assert set(health.status(wh).out_of_step) == {"customers", "predictions"}  # `info` prints them as notes


def test_data_health_reads_in_words_with_a_dash_for_an_empty_table():
    tables = pd.DataFrame(
        {
            "table": ["customers", "subscriptions", "usage_daily"],
            "rows": [800, 0, 5000],
            "first": [date(2024, 1, 2), None, date(2024, 1, 3)],
            "last": [date(2026, 6, 21), None, date(2026, 6, 1)],
            "days_behind": [9.0, None, 1029.0],
            "stale": [False, False, True],
        }
    )
    shown = health.freshness(tables)
    assert shown["state"].tolist() == ["current", "no rows", f"stale: over {health.STALE_AFTER_DAYS} days behind"]
    assert shown.loc[1, ["first", "last", "days_behind"]].tolist() == ["—", "—", "—"]
    assert shown.loc[0, "first"] == "2024-01-02" and shown.loc[2, "days_behind"] == "1,029"
    assert "stale" not in shown


def test_validate_file_reports_counts_and_writes_nothing(data_dir_copy, tmp_path):
    wh = warehouse.get_warehouse(data_dir_copy)
    existing = wh.df("SELECT * FROM customers LIMIT 2")
    good = tmp_path / "customers.csv"
    frame = existing.assign(seats=existing["seats"] + 1)
    extra = existing.iloc[[0]].assign(customer_id="brand-new")
    pd.concat([frame, extra]).to_csv(good, index=False)
    before = wh.df("SELECT * FROM customers ORDER BY customer_id")
    report = validate_file(wh, "customers", good)
    assert (report.inserted, report.updated, report.unchanged) == (1, 2, 0) and report.checked_only
    assert "Nothing was written" in report.summary()
    pd.testing.assert_frame_equal(wh.df("SELECT * FROM customers ORDER BY customer_id"), before)
    bad = tmp_path / "bad.csv"
    extra.assign(seats=-3).to_csv(bad, index=False)  # plan tiers are free text now; seats still count things
    with pytest.raises(IngestError, match="seats"):
        validate_file(wh, "customers", bad)


# -- CLI ------------------------------------------------------------------------------------------------
def test_cli_drift_and_monitor(scored_copy, capsys):
    assert cli.main(["--data-dir", str(scored_copy), "drift", "--json"]) == 0
    drift = json.loads(capsys.readouterr().out)
    assert drift["thresholds"] == {"watch": 0.1, "act": 0.2} and drift["score"]["psi"] >= 0
    assert cli.main(["--data-dir", str(scored_copy), "monitor", "--json"]) == 0
    monitor = json.loads(capsys.readouterr().out)
    assert len(monitor["by_date"]) == 3 and monitor["by_date"][0]["as_of"].count("-") == 2
    assert cli.main(["--data-dir", str(scored_copy), "drift"]) == 0
    assert "Score drift: PSI" in capsys.readouterr().out
    assert cli.main(["--data-dir", str(scored_copy), "drift", "--version", "churn-v404"]) == 2
    assert "No model version 'churn-v404'" in capsys.readouterr().err


def test_no_out_of_sample_result_yet_is_pending_not_a_warning():
    """A fresh install cannot have judged outcomes yet: that is not something to watch."""

    class NotYetJudged:
        headline = None
        headline_note = "No out-of-sample result yet."

    entry = registry.ModelVersion.model_construct(
        metrics={"auc": 0.9}, data_window={"valid_from": "2026-01-31", "valid_to": "2026-03-31"}
    )
    checks = monitoring.trust_checks(entry, True, None, NotYetJudged())
    realised = [c for c in checks if c.check == "Realised vs predicted"]
    assert [c.status for c in realised] == ["pending"]
    assert all(c.status == "ok" for c in checks if c.check != "Realised vs predicted")


def test_the_large_sample_ks_test_agrees_with_scipy():
    """Past 10,000 rows the KS p-value is Kolmogorov's limit: the same statistic as scipy's,
    and a p-value within a hair of its finite-sample one (with ties, as counts have)."""
    from scipy import stats

    from engine.churn.monitoring import _ks

    rng = np.random.default_rng(3)
    for ref, cur in [
        (rng.normal(size=200_000), rng.normal(0.01, 1, 30_000)),
        (np.round(rng.exponential(3, 200_000)), np.round(rng.exponential(3.1, 30_000))),
    ]:
        ours, theirs = _ks(ref, cur), stats.ks_2samp(ref, cur)
        assert ours.statistic == pytest.approx(float(theirs.statistic), abs=1e-12)
        assert ours.pvalue == pytest.approx(float(theirs.pvalue), rel=0.02, abs=1e-12)
    small = _ks(rng.normal(size=500), rng.normal(size=400))  # small samples keep scipy's exact test
    assert 0 <= small.pvalue <= 1


def _days_since_weekday_activity(weekday: int, customers: int, rng: np.random.Generator) -> np.ndarray:
    """Days since each customer's last activity when scored on `weekday` (0 = Monday): active
    on a working day with chance 0.6, on a weekend day 0.05; a fifth have gone quiet for weeks."""
    days = np.zeros(customers)
    for i in range(customers):
        k = 0
        while rng.random() >= (0.6 if (weekday - k) % 7 < 5 else 0.05):
            k += 1
        days[i] = k + (rng.integers(14, 60) if rng.random() < 0.2 else 0)
    return days


def test_days_since_features_drift_by_weeks_not_by_the_scoring_weekday():
    """Month ends fall on any weekday; a Wednesday's scoring must not look like drift, while
    accounts going quiet for weeks still must."""
    rng = np.random.default_rng(3)
    month_end_weekdays = (1, 3, 6, 1, 4, 0)  # 2026-03-31 .. 2026-08-31
    reference = np.concatenate([_days_since_weekday_activity(w, 600, rng) for w in month_end_weekdays])
    wednesday = _days_since_weekday_activity(2, 600, rng)
    assert monitoring.psi_numeric(reference, wednesday) > monitoring.PSI_ACT  # daily bins: a false alarm
    feature = (monitoring.feats.Feature("evt_api_call_days_since_last", "Days since last api call"),)
    name = feature[0].name

    def status(current: np.ndarray) -> str:
        table, _bins = monitoring.feature_drift(pd.DataFrame({name: reference}), pd.DataFrame({name: current}), feature)
        return str(table.loc[0, "status"])

    assert status(wednesday) == "stable"
    quiet = wednesday.copy()
    quiet[: len(quiet) * 2 // 5] += 21  # two in five accounts three weeks quieter
    assert status(quiet) == "act"


def test_an_empty_ground_truth_is_not_listed_for_a_companys_book():
    """ground_truth is the demo generator's table; a company never loads it, so its "0 rows, no
    rows" line said nothing on the Data page. The demo's filled one is still listed."""
    tables = pd.DataFrame(
        {
            "table": ["customers", "ground_truth"],
            "rows": [800, 0],
            "first": [date(2024, 1, 2), None],
            "last": [date(2026, 6, 21), None],
            "days_behind": [9.0, None],
            "stale": [False, False],
        }
    )
    assert health.freshness(tables)["table"].tolist() == ["customers"]
    demo = tables.assign(rows=[800, 5000], first=[date(2024, 1, 2)] * 2, last=[date(2026, 6, 21)] * 2)
    assert health.freshness(demo)["table"].tolist() == ["customers", "ground_truth"]


def test_score_backfill_back_scores_past_month_ends_for_predicted_vs_realised(scored_copy, capsys):
    """A company that just loaded its history gets predicted vs realised churn at once with
    `score --backfill N` (the demo's `engine demo` did it; a real company had no command)."""
    wh = warehouse.get_warehouse(scored_copy, read_only=True)
    before = {str(d)[:10] for (d,) in wh.rows("SELECT DISTINCT as_of FROM predictions")}
    warehouse.close_all()
    assert cli.main(["--data-dir", str(scored_copy), "score", "--backfill", "99"]) == 2
    assert "--backfill takes 0 to 24 month ends, not 99" in capsys.readouterr().err
    assert cli.main(["--data-dir", str(scored_copy), "score", "--backfill", "5"]) == 0
    out = capsys.readouterr().out
    assert "Back-scored 5 past month ends" in out and "in-sample" in out
    wh = warehouse.get_warehouse(scored_copy, read_only=True)
    after = {str(d)[:10] for (d,) in wh.rows("SELECT DISTINCT as_of FROM predictions")}
    assert len(after - before) == 2  # the fixture back-scored three of the five already
    report = monitoring.realised_vs_predicted(wh, scored_copy, viewer=SYSTEM)
    assert len(report.by_date) == 5 and report.by_date["in_sample"].all()


def test_drift_counts_only_what_the_model_reads_and_tenure_ageing_is_watched_not_an_alarm():
    """A young company's book ages every month (tenure PSI 1.1 on a ChurnSim CRM company): that
    alone turned Model & data red for good. And a serving baseline reading 7 of the data's 36
    columns was judged on drift in all 36."""
    from engine.churn import features as feats

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"tenure_days": rng.uniform(0, 300, 2000), "mrr": rng.uniform(10, 20, 2000)})
    current = pd.DataFrame({"tenure_days": rng.uniform(200, 600, 2000), "mrr": rng.uniform(30, 40, 2000)})
    table, _ = monitoring.feature_drift(reference, current, feats.FEATURES)
    status = table.set_index("feature")["status"]
    assert table.set_index("feature").loc["tenure_days", "psi"] > monitoring.PSI_ACT
    assert (status["tenure_days"], status["mrr"]) == ("watch", "act")

    chosen = feats.FeatureSet(base=("tenure_days", "mrr", "events_last_30d", "usage_trend"))
    assert [f.name for f in monitoring._model_features(chosen, ["tenure_days", "mrr"])] == ["tenure_days", "mrr"]
    assert len(monitoring._model_features(chosen, [])) == 4


def test_the_drift_thresholds_are_labelled_above_the_bars():
    """The 'watch' and 'act' labels sat inside the plot, over the worst feature's bar."""
    import pandas as pd

    from components import ops_charts

    features = pd.DataFrame(
        {
            "psi": [0.3, 0.05],
            "label": ["Days since last meeting", "MRR"],
            "status": ["act", "stable"],
            "test": ["ks", "ks"],
            "p_value": [0.001, 0.5],
        }
    )
    notes = ops_charts.drift_bars(features).layout.annotations
    assert [(a.text, a.yanchor, a.y) for a in notes] == [("watch", "bottom", 1), ("act", "bottom", 1)]
    assert [a.xanchor for a in notes] == ["right", "left"]
