"""Churn results are contracts: each one survives its own JSON, and what older versions of
Customer Radar persisted (registry rows, stored drivers) still loads."""

from __future__ import annotations

import json
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

from engine.churn import evaluation, explain, monitoring, quality, registry, retrain, risk, scoring
from engine.churn import status as churn_status
from engine.core import store
from engine.core.access import SYSTEM, Viewer
from engine.core.contracts import RiskComponents, from_json, to_dict, to_json
from engine.data import warehouse

SCALARS = (str, int, float, bool, date, datetime, type(None))


def assert_round_trip(result: BaseModel) -> BaseModel:
    """engine result -> JSON -> model -> the same JSON, with equal scalar fields."""
    text = to_json(result)
    again = from_json(type(result), text)
    assert to_json(again) == text
    for name in type(result).model_fields:
        value = getattr(result, name)
        if isinstance(value, SCALARS) and not (isinstance(value, float) and np.isnan(value)):
            assert getattr(again, name) == value, name
    return again


@pytest.fixture
def wh(scored_dir):
    return warehouse.get_warehouse(scored_dir, read_only=True)


def test_model_version_round_trip(scored_dir):
    entry = registry.production("churn", scored_dir)
    again = assert_round_trip(entry)
    assert again == entry
    assert to_dict(entry)["created_at"] == entry.created_at.isoformat()  # as `models --json` always printed


def test_training_evaluation_and_scoring_results_round_trip(scored_copy):
    wh = warehouse.get_warehouse(scored_copy)
    report = scoring.score(wh, data_dir=scored_copy)
    assert_round_trip(report)
    assert set(to_dict(report)) == {"as_of", "model_version", "customers", "seconds", "phases"}
    evaluated = evaluation.evaluate_version(wh, as_of=date(2026, 3, 31), data_dir=scored_copy)
    assert_round_trip(evaluated)
    assert to_dict(evaluated)["as_of"] == "2026-03-31" and "auc" in evaluated.metrics
    # A retrain on unchanged data: a real job status holding a real training result.
    job = retrain.wait(retrain.start_retrain(scored_copy, Viewer("admin", "admin")), timeout=120)
    assert job.state == retrain.SUCCEEDED and job.result is not None
    assert_round_trip(job)
    assert_round_trip(job.result)
    payload = to_dict(job.result)
    assert {"version", "metrics", "data_window", "promoted", "reason", "seconds", "production_metrics"} <= set(payload)
    assert payload["model_version"] == payload["version"] and to_dict(job)["done"] is True


def test_one_customer_prediction_round_trip_and_seed_names(scored_dir, wh):
    entry, model = registry.load_production("churn", scored_dir)
    cid = wh.scalar(
        "SELECT customer_id FROM predictions WHERE as_of = (SELECT max(as_of) FROM predictions) "
        "ORDER BY churn_probability DESC LIMIT 1"
    )
    prediction = scoring.explain_customer(wh, model, cid, model_version=entry.version)
    assert_round_trip(prediction)
    payload = to_dict(prediction)
    assert {"churn_probability", "recommended_action", "model_version", "scored_at", "risk_tier", "risk_score"} <= set(
        payload
    )
    interval = payload["confidence_interval"]
    assert interval["lower"] <= payload["churn_probability"] <= interval["upper"] and interval["level"] == 0.9
    assert set(payload["components"]) == set(risk.COMPONENTS)
    first = payload["top_shap_features"][0]
    assert {"feature", "value", "shap_impact", "reason", "group", "label", "actionable", "impact_pp"} <= set(first)
    assert payload["model_version"] == entry.version
    # The risk score alone is the same contract's other half.
    score = risk.RiskScore(
        customer_id=cid,
        risk_score=prediction.risk_score,
        risk_tier=prediction.risk_tier,
        components=prediction.components,
    )
    assert_round_trip(score)


def test_stored_drivers_of_every_age_still_load(wh):
    stored = wh.scalar("SELECT drivers FROM predictions LIMIT 1")
    drivers = explain.drivers_from_json(stored)
    assert len(drivers) == 5 and json.loads(explain.drivers_json(drivers)) == json.loads(stored)
    # As the code before contracts wrote them (json.dumps of a dict per driver) ...
    old = (
        '[{"feature": "usage_decay_score", "value": 0.42, "shap_impact": 0.512345, "reason": "Usage fell 42 % '
        'versus the previous 30 days, which raises the risk", "group": "usage_trend", "label": "Usage trend", '
        '"actionable": true, "members": ["usage_decay_score", "usage_trend", "active_users_change"], '
        '"impact_pp": 6.123}, {"feature": "csat_avg_90d", "value": null, "shap_impact": -0.1, "reason": "No csat '
        'on record, which lowers the risk", "group": "support_experience", "label": "Support experience", '
        '"actionable": true, "members": ["csat_avg_90d"], "impact_pp": null}]'
    )
    loaded = explain.drivers_from_json(old)
    assert [d.group for d in loaded] == ["usage_trend", "support_experience"] and loaded[1].value is None
    assert json.loads(explain.drivers_json(loaded)) == json.loads(old)
    # ... and before drivers were grouped.
    ungrouped = explain.drivers_from_json('[{"feature": "mrr", "value": 120.0, "shap_impact": 0.2, "reason": "x"}]')
    assert ungrouped[0].shap_impact == 0.2 and ungrouped[0].members == ()


def test_quality_and_version_diff_round_trip(scored_dir, wh):
    report = quality.version_quality(wh, data_dir=scored_dir)
    again = assert_round_trip(report)
    assert list(again.roc.columns) == ["false_positive_rate", "true_positive_rate", "threshold"]
    assert len(again.beeswarm) == len(report.beeswarm)
    entry = registry.production("churn", scored_dir)
    assert_round_trip(quality.diff_versions(entry.version, entry.version, scored_dir))


def test_drift_realised_trust_and_readiness_round_trip(scored_dir, wh):
    drift = monitoring.drift_report(wh, scored_dir)
    again = assert_round_trip(drift)
    assert again.counts == drift.counts and again.thresholds == {"watch": 0.1, "act": 0.2}
    assert again.score is not None and len(again.score.bins) == len(drift.score.bins)
    realised = monitoring.realised_vs_predicted(wh, scored_dir, viewer=SYSTEM)
    back = assert_round_trip(realised)
    assert back.headline_note == realised.headline_note and to_dict(back)["horizon_days"] == 90
    for check in monitoring.trust_checks(registry.production("churn", scored_dir), True, drift, realised):
        assert_round_trip(check)
    assert_round_trip(churn_status.model_readiness(wh, scored_dir))


def test_empty_drift_and_realised_reports_round_trip():
    empty = monitoring.DriftReport(
        model_version=None,
        reference_as_of=date(2026, 1, 31),
        current_as_of=date(2026, 6, 30),
        reference_rows=0,
        current_rows=0,
        features=pd.DataFrame(),
        bins=pd.DataFrame(),
    )
    assert assert_round_trip(empty).counts == {"act": 0, "watch": 0, "stable": 0}
    nothing = monitoring.RealisedReport(
        data_as_of=None, by_date=pd.DataFrame(), calibration=pd.DataFrame(), pending=pd.DataFrame()
    )
    assert assert_round_trip(nothing).headline is None


# -- what older versions persisted ------------------------------------------------------------------
OLD_VERSION_JSON = """{
  "version": "churn-v3",
  "kind": "churn",
  "stage": "archived",
  "created_at": "2026-04-02T10:11:12.345678",
  "promoted_at": null,
  "params": {"n_bags": 6, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 40,
             "interval_level": 0.9, "seed": 0, "pos_weight": 3.1},
  "features": ["mrr", "seats", "usage_decay_score"],
  "data_window": {"train_from": "2024-03-31", "train_to": "2025-06-30", "valid_from": "2025-10-31",
                  "valid_to": "2025-12-31", "cutoff": "2026-03-31", "horizon_days": 90},
  "metrics": {"rows": 2310, "churn_rate": 0.061, "auc": 0.861, "brier": 0.051, "top_decile_lift": 3.9,
              "calibration": [{"bin": "0.0-0.1", "mean_predicted": 0.03, "observed_rate": 0.028, "rows": 2001}]},
  "artifact_path": "models/churn-v3/model.pkl",
  "artifact_sha256": "0000000000000000000000000000000000000000000000000000000000000000",
  "notes": null
}"""


def test_an_old_registry_payload_still_loads():
    entry = from_json(registry.ModelVersion, OLD_VERSION_JSON)
    assert entry.version == "churn-v3" and entry.stage == "archived" and entry.promoted_at is None
    assert entry.created_at == datetime(2026, 4, 2, 10, 11, 12, 345678)
    assert entry.metrics["auc"] == 0.861 and entry.data_window["valid_to"] == "2025-12-31"
    assert to_dict(entry) == json.loads(OLD_VERSION_JSON)  # and it is written back the same


def test_an_old_registry_row_in_the_store_still_loads(empty_dir):
    old = json.loads(OLD_VERSION_JSON)
    row = {
        **old,
        "version": "table-v1",
        "kind": "table",
        "created_at": datetime(2026, 4, 2, 10, 11, 12),
        "data_window": {
            "source": "customers.csv",
            "rows": 1500,
            "schema": {
                "id_column": "account",
                "label_column": "churned",
                "columns": [
                    {"name": "plan", "type": "categorical", "levels": ["basic", "pro"], "feature": "c3_plan"},
                    {"name": "spend", "type": "numeric", "placeholders": ["-"], "note": "'-' read as blank (5 rows)",
                     "feature": "c2_spend"},
                ],
                "dropped": [{"column": "email", "reason": "near-unique text"}],
            },
        },
    }  # fmt: skip
    with store.get_engine(empty_dir).begin() as conn:
        conn.execute(store.model_versions.insert().values(**row))
    try:
        entry = registry.get("table-v1", empty_dir)
        assert entry.kind == "table" and entry.created_at.replace(tzinfo=None) == row["created_at"]
        assert [v.version for v in registry.versions("table", empty_dir)] == ["table-v1"]
    finally:
        store.dispose_all()
    from engine.churn.table import TableSchema

    schema = TableSchema.model_validate(entry.data_window["schema"])
    assert schema.names == ["plan", "spend"] and schema.features == ["c3_plan", "c2_spend"]
    assert schema.columns[1].placeholders == ("-",) and schema.dropped[0].column == "email"
    assert to_dict(schema) == entry.data_window["schema"]


def test_psi_is_public_zero_on_itself_and_never_negative():
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, 3.0, 2000)
    assert monitoring.psi(values, values) == 0.0
    assert monitoring.psi(values, rng.gamma(2.0, 4.0, 2000)) > 0
    plans = pd.Series(["basic", "pro", "pro", "enterprise", None])
    assert monitoring.psi(plans, plans) == 0.0 and monitoring.psi(plans, plans[:2]) > 0
    assert monitoring.psi([], []) == 0.0
    assert monitoring.psi(values, values) == monitoring.psi_numeric(values, values)


def test_risk_score_parts_whose_source_was_not_loaded_are_absent_not_zero():
    full = risk.risk_components(
        pd.DataFrame({"usage_decay_score": [0.4], "compliance_gap_score": [0.5], "vendor_risk_flags": [3]})
    )
    assert full["risk_score"].iloc[0] == pytest.approx(0.5 * 0.4 + 0.3 * 0.5 + 0.2 * 1.0)
    # A company with a usage log and no risk signals: the score is usage decay's, not half of it.
    usage_only = risk.risk_components(pd.DataFrame({"usage_decay_score": [0.4, None]}))
    assert usage_only["risk_score"].tolist() == [0.4, 0.0]  # an account without a value has no decay
    parts = risk.components_of(usage_only.iloc[0])
    assert parts.usage_decay_score == 0.4 and parts.compliance_gap_score is None and parts.vendor_risk_flags is None
    assert_round_trip(parts)


def test_usage_decay_of_an_account_younger_than_two_months_is_not_measured():
    """Usage decay compares the last 30 days with the 30 before; a 12-day-old account's 0.00
    read as "no decay". Its score comes from the parts that are measured, and an account with
    no measured part (a company with a usage log alone) has no risk score rather than 0."""
    frame = pd.DataFrame(
        {
            "usage_decay_score": [0.4, 0.4, 0.4],
            "compliance_gap_score": [0.5, 0.5, 0.5],
            "vendor_risk_flags": [3, 3, 3],
            "tenure_days": [400, 59, 60],
        }
    )
    scored = risk.risk_components(frame)
    assert scored["risk_score"].tolist() == pytest.approx([0.55, (0.3 * 0.5 + 0.2 * 1.0) / 0.5, 0.55])
    assert scored["usage_decay_score"].isna().tolist() == [False, True, False]
    usage_only = risk.risk_components(pd.DataFrame({"usage_decay_score": [0.4, 0.4], "tenure_days": [12, 90]}))
    assert pd.isna(usage_only["risk_score"].iloc[0]) and usage_only["risk_score"].iloc[1] == 0.4
    assert risk.components_of(usage_only.iloc[0]) == RiskComponents()


def test_product_areas_are_not_counted_out_of_the_demos_five():
    """A company's log can hold any number of event types (ChurnSim: 8); "7 of 5" was the demo's count."""
    assert (
        explain.reason("feature_breadth_30d", 7.0, -0.01)
        == "Used 7 product areas in the last 30 days, which lowers the risk"
    )
    assert explain.reason("feature_breadth_30d", 1.0, 0.02).startswith("Used 1 product area in")


def test_a_many_fold_rise_reads_as_a_multiple_not_thousands_of_percent():
    # A month-old account's "Daily active users rose 7400% over the last four weeks" compared it
    # with the weeks before it signed up; a tenfold change or more is said as a multiple.
    import math

    assert explain.reason("active_users_change", 74.0, 0.1).startswith(
        "Daily active users are 75× the four weeks before"
    )
    assert explain.reason("active_users_change", 0.85, 0.1).startswith("Daily active users rose 85% over")
    assert explain.reason("usage_trend", math.log(30), -0.1).startswith("Usage is 30× two months ago")
    assert explain.reason("usage_trend", math.log(0.5), 0.1).startswith("Usage is 50% down on two months ago")


@pytest.mark.parametrize(
    ("feature", "value", "said"),
    [
        ("tenure_days", 1.0, "Customer for 1 day"),
        ("tenure_days", 579.0, "Customer for 579 days"),
        ("tenure_days", 0.0, "Signed up on the day it was scored"),
        ("tickets_90d", 1.0, "1 support ticket in 90 days"),
        ("open_tickets", 2.0, "2 tickets still open"),
        ("events_last_30d", 1.0, "1 product event in the last 30 days"),
        ("events_last_30d", 1234.0, "1,234 product events in the last 30 days"),
        ("opportunities_lost_12m", 1.0, "1 opportunity lost in 12 months"),
        ("opportunities_lost_12m", 3.0, "3 opportunities lost in 12 months"),
        ("feature_breadth_change", -1.0, "Stopped using 1 product area"),
        ("vendor_risk_flags", 1.0, "1 vendor-risk flag open"),
    ],
)
def test_counts_read_in_the_singular_for_one(feature, value, said):
    """ "Customer for 1 days", "1 support tickets": a reason says one thing as one, and a
    brand-new account is not "a customer for 0 days"."""
    assert explain.reason(feature, value, 0.01) == f"{said}, which raises the risk"


def test_an_event_types_reasons_read_as_sentences():
    """ "Create list events are 19700% up on the previous 28 days" and "Create list in the last
    day" (a ChurnSim CRM log): a tenfold change is a multiple, and a recency names the event."""
    import math

    assert explain.reason("evt_create_list_trend_28d", math.log(198), 0.1).startswith(
        "Create list events are 198× the previous 28 days, which raises"
    )
    assert explain.reason("evt_create_list_trend_28d", math.log(0.5), 0.1).startswith(
        "Create list events are 50% down on the previous 28 days"
    )
    assert explain.reason("evt_create_list_days_since_last", 0.0, 0.1).startswith("A create list event in the last day")
    assert explain.reason("evt_create_list_days_since_last", 3.0, 0.1).startswith("No create list event for 3 days")


def test_a_window_longer_than_the_accounts_life_is_said_as_its_life():
    """ "0 like events in the last 90 days" of a 3-day-old account (a ChurnSim book) reads as
    if it had been idle for 90 days: a window count of an account younger than the window is
    said over its life, through the path scoring and Customer 360 use; older accounts keep the window."""
    import numpy as np
    import pandas as pd

    features = ["evt_like_count_90d", "tickets_90d", "evt_post_count_7d", "days_to_renewal", "tenure_days"]
    frame = pd.DataFrame(
        {
            "evt_like_count_90d": [0.0, 0.0, 12.0],
            "tickets_90d": [2.0, 2.0, 1.0],
            "evt_post_count_7d": [0.0, 0.0, 3.0],
            "days_to_renewal": [22.0, 22.0, 22.0],
            "tenure_days": [3.0, 0.0, 400.0],
        }
    )
    contributions = np.tile([0.4, 0.3, 0.2, 0.15, -0.1, -1.0], (3, 1))
    young, newborn, grown = (
        {d.feature: d.reason for d in row} for row in explain.drivers_for_frame(features, frame, contributions)
    )
    assert young["evt_like_count_90d"] == "0 like events in its 3 days as a customer, which raises the risk"
    assert young["tickets_90d"] == "2 support tickets in its 3 days as a customer, which raises the risk"
    assert young["evt_post_count_7d"] == "0 post events in its 3 days as a customer, which raises the risk"
    assert newborn["evt_like_count_90d"] == "0 like events in its first day as a customer, which raises the risk"
    # A renewal is ahead of the account, not a window behind it.
    assert young["days_to_renewal"] == "Renewal in 22 days, which raises the risk"
    assert grown["evt_like_count_90d"] == "12 like events in the last 90 days, which raises the risk"
    assert grown["tickets_90d"] == "1 support ticket in 90 days, which raises the risk"
    assert grown["evt_post_count_7d"] == "3 post events in the last 7 days, which raises the risk"
    stored = explain.stored_drivers(features, frame, contributions)[0][0]
    assert "0 like events in its 3 days as a customer" in stored
    # Seat utilisation is averaged over the account's own days in its four-week window.
    said = explain.reason
    assert said("seat_utilization", 0.9, 0.2, 8.0).startswith("90% of seats are active on an average day of its 8 days")
    assert said("events_per_seat_30d", 4.0, 0.2, 8.0).startswith("4.0 events per seat in its 8 days as a customer")
    assert said("seat_utilization", 0.9, 0.2, 40.0).startswith(
        "90% of seats are active on an average day of the last four"
    )
    assert said("events_per_seat_30d", 4.0, 0.2, 40.0).startswith("4.0 events per seat in 30 days")


def test_a_pooled_category_is_not_read_as_the_value_other():
    """ "Country is other" beside an account whose country is OR: rare levels are pooled as
    "other" for the model, and the reason says so rather than naming a value it does not have."""
    from engine.churn import features as feats

    assert (
        explain.reason("attr_country", feats.OTHER, 0.2)
        == f"{feats.LABELS.get('attr_country', 'attr_country')} is one of the less common ones, which raises the risk"
    )
    assert explain.reason("attr_country", "US", 0.2).endswith("is US, which raises the risk")


def test_a_large_event_value_reads_without_a_decimal_place():
    """ "Lose opportunity value of 46,303.0" (a ChurnSim CRM log): a decimal on a large value is noise."""
    assert explain.reason("evt_lose_opportunity_value_90d", 46303.0, 0.2).startswith(
        "Lose opportunity value of 46,303 in the last 90 days"
    )
    assert explain.reason("evt_lose_opportunity_value_90d", 4.25, 0.2).startswith("Lose opportunity value of 4.2 in")
    assert explain.reason("evt_win_opportunity_value_90d", 0.0, 0.2).startswith("Win opportunity value of 0 in")
