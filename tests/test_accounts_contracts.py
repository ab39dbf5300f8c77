"""Account contracts read back from their own JSON: Customer 360, its prediction, the board page.

Drivers stored by older scoring runs (before drivers were grouped) still load."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from engine.accounts import board, customer
from engine.core.access import Viewer
from engine.core.contracts import from_json, to_dict, to_json
from engine.data import warehouse

EXEC = Viewer("exec", "executive")


def _round_trip(model, cls):
    text = to_json(model)
    again = from_json(cls, text)
    assert to_json(again) == text
    return again


@pytest.fixture
def wh(scored_dir):
    return warehouse.get_warehouse(scored_dir, read_only=True)


def test_customer_360_round_trips_with_the_seed_contract_names(wh):
    row = board.board_frame(wh, EXEC).iloc[0]
    c360 = customer.customer_360(wh, EXEC, row["customer_id"])
    again = _round_trip(c360, customer.Customer360)
    assert again.profile == c360.profile and again.prediction == c360.prediction
    assert again.velocity == c360.velocity and again.support == c360.support and again.ltv == c360.ltv
    assert again.components == c360.components and again.notes == c360.notes
    assert len(again.tickets) == len(c360.tickets) and len(again.usage_weekly) == len(c360.usage_weekly)
    payload = json.loads(to_json(c360))
    prediction = payload["prediction"]
    assert prediction["churn_probability"] == pytest.approx(row["churn_probability"])
    assert prediction["confidence_interval"] == {"lower": row["ci_low"], "upper": row["ci_high"], "level": 0.9}
    assert (prediction["ci_low"], prediction["ci_high"]) == (row["ci_low"], row["ci_high"])
    assert prediction["risk_tier"] == row["risk_tier"] and prediction["risk_score"] == pytest.approx(row["risk_score"])
    assert set(prediction["components"]) == {"compliance_gap_score", "vendor_risk_flags", "usage_decay_score"}
    assert prediction["recommended_action"] == row["recommended_action"]
    assert prediction["model_version"] == row["model_version"]
    assert all({"feature", "value", "shap_impact", "reason"} <= set(d) for d in prediction["top_shap_features"])
    # The seed contract's flat Customer 360 keys next to the nested parts.
    assert payload["churn_probability"] == prediction["churn_probability"]
    assert payload["top_shap_features"] == prediction["top_shap_features"]
    assert payload["open_ticket_count"] == payload["support"]["open_tickets"]
    assert payload["ltv"][0]["horizon_months"] == 12 and payload["profile"]["name"] == row["name"]
    # The demo bills through mrr_history only: no subscriptions to list, and it says so.
    assert payload["subscriptions"] == [] and "subscriptions" in payload["not_loaded"]


def test_an_unscored_account_round_trips_without_a_prediction(wh):
    never_scored = wh.scalar(
        "SELECT customer_id FROM customers WHERE status = 'churned' "
        "AND customer_id NOT IN (SELECT customer_id FROM predictions) ORDER BY customer_id LIMIT 1"
    )
    c360 = customer.customer_360(wh, EXEC, never_scored)
    again = _round_trip(c360, customer.Customer360)
    assert again.prediction is None and again.ltv == () and again.notes == c360.notes
    contract = to_dict(c360)
    assert contract["churn_probability"] is None and contract["top_shap_features"] == []
    assert contract["profile"]["status"] == "churned" and contract["mrr"] == 0.0


def test_drivers_stored_by_the_first_scoring_runs_still_load(scored_copy):
    wh = warehouse.get_warehouse(scored_copy)
    customer_id = board.board_frame(wh, EXEC).iloc[0]["customer_id"]
    old = [
        {"feature": "usage_trend", "value": -0.42, "shap_impact": 0.31, "reason": "Usage fell 42 %"},
        {"feature": "open_tickets", "value": None, "shap_impact": -0.05, "reason": "No open tickets"},
    ]
    wh.execute("UPDATE predictions SET drivers = ? WHERE customer_id = ?", [json.dumps(old), customer_id])
    drivers = customer.customer_360(wh, EXEC, customer_id).prediction.top_shap_features
    assert [(d.feature, d.value, d.shap_impact, d.reason) for d in drivers] == [
        (o["feature"], o["value"], o["shap_impact"], o["reason"]) for o in old
    ]
    assert all(d.label and d.impact_pp is None for d in drivers)  # labelled for people, no points yet


def test_board_page_round_trips_without_every_matching_row(wh):
    frame = board.board_frame(wh, EXEC)
    filters = board.BoardFilters(tiers=("high", "critical"), min_mrr=100.0)
    assert _round_trip(filters, board.BoardFilters) == filters
    page = board.page_of(frame, filters, "mrr", page=2, page_size=10)
    payload = json.loads(to_json(page))
    assert "matching" not in payload and len(payload["rows"]) == 10
    assert payload["high_or_critical"] == payload["total"] == len(page.matching)
    again = _round_trip(page, board.BoardPage)
    assert (again.total, again.page, again.pages, again.as_of) == (page.total, page.page, page.pages, page.as_of)
    assert again.rows["customer_id"].tolist() == page.rows["customer_id"].tolist()


def test_the_usage_chart_holds_whole_weeks_ending_on_the_data_date(wh):
    """Calendar weeks cut the last one short: the chart fell off a cliff on every data date but a
    Sunday (a company's Monday data date showed one day of usage as its last week)."""
    cid = wh.scalar("SELECT customer_id FROM usage_daily GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    c360 = customer.customer_360(wh, Viewer("admin", "admin"), cid)
    weeks = sorted({pd.Timestamp(w).date() for w in c360.usage_weekly["week"]})
    assert len(weeks) == customer.USAGE_WEEKS
    assert weeks[-1] == c360.as_of - timedelta(days=6)  # the last week ends on the data date
    assert all((b - a).days == 7 for a, b in zip(weeks, weeks[1:], strict=False))
    daily = wh.scalar(
        "SELECT sum(events) FROM usage_daily WHERE customer_id = ? AND date > ? AND date <= ?",
        [cid, c360.as_of - timedelta(days=7), c360.as_of],
    )
    last = pd.to_datetime(c360.usage_weekly["week"]).dt.date == weeks[-1]
    assert c360.usage_weekly.loc[last, "events"].sum() == daily
