"""Point-in-time features: time safety and definitions."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from engine.churn import features
from engine.data import warehouse

D = date(2026, 3, 31)


def test_rows_after_the_as_of_date_change_no_feature(data_dir_copy):
    wh = warehouse.get_warehouse(data_dir_copy)
    before = features.features_as_of(wh, D)
    assert len(before) > 100
    some = before["customer_id"].head(50).tolist()
    with wh.transaction() as cur:
        cur.register("_ids", pd.DataFrame({"customer_id": some}))
        # Future usage, tickets, MRR changes, risk signals and opportunities for these customers.
        cur.execute(
            "INSERT INTO usage_daily SELECT customer_id, DATE '2026-04-01' + i::INTEGER, 'login', 999, 99, NULL "
            "FROM _ids, range(0, 60) t(i)"
        )
        cur.execute(
            "INSERT INTO support_tickets SELECT 'F-' || customer_id || i, customer_id, "
            "TIMESTAMP '2026-04-01 09:00:00' + i * INTERVAL 1 DAY, NULL, 'urgent', 'bug', 'open', 1, 'x' "
            "FROM _ids, range(0, 5) t(i)"
        )
        cur.execute("INSERT INTO mrr_history SELECT customer_id, DATE '2026-05-01', 1.0, 'contraction' FROM _ids")
        cur.execute("INSERT INTO risk_signals SELECT customer_id, DATE '2026-04-30', 1.0, 9 FROM _ids")
        cur.execute(
            "INSERT INTO gtm_opportunities SELECT 'FO-' || customer_id, customer_id, 'open', 'expansion', "
            "1e6, DATE '2026-04-02', DATE '2026-06-30', 'x' FROM _ids"
        )
        # A churn that happens after D does not make the customer inactive at D.
        cur.execute(
            "UPDATE customers SET status = 'churned', churn_date = DATE '2026-04-15' "
            "WHERE customer_id IN (SELECT customer_id FROM _ids)"
        )
        cur.unregister("_ids")
    after = features.features_as_of(wh, D)
    pd.testing.assert_frame_equal(before, after)
    # ...and the same rows do show up for a later date: the test can fail.
    later = features.features_as_of(wh, date(2026, 4, 10)).set_index("customer_id")
    assert later.loc[some[0], "events_last_7d"] >= 999 * 7


def test_definitions_on_one_customer(data_dir_copy):
    wh = warehouse.get_warehouse(data_dir_copy)
    frame = features.features_as_of(wh, D)
    row = frame.iloc[0]
    cid = row["customer_id"]
    e30 = wh.scalar(
        "SELECT coalesce(sum(events), 0) FROM usage_daily WHERE customer_id = ? AND date > ?::DATE - 30 AND date <= ?",
        [cid, D, D],
    )
    prev = wh.scalar(
        "SELECT coalesce(sum(events), 0) FROM usage_daily WHERE customer_id = ? "
        "AND date > ?::DATE - 60 AND date <= ?::DATE - 30",
        [cid, D, D],
    )
    assert row["events_last_30d"] == e30
    assert row["events_prev_30d"] == prev
    expected_decay = max(0.0, 1 - e30 / prev) if prev else 0.0
    assert np.isclose(row["usage_decay_score"], expected_decay)
    open_now = wh.scalar(
        "SELECT count(*) FROM support_tickets WHERE customer_id = ? AND opened_at < ?::DATE + 1 "
        "AND (closed_at IS NULL OR closed_at >= ?::DATE + 1)",
        [cid, D, D],
    )
    assert row["open_tickets"] == open_now
    assert 0 < row["days_to_renewal"] <= 366
    assert set(frame.columns) == {"customer_id", "as_of", *features.FEATURE_NAMES}
    assert pd.api.types.is_string_dtype(frame["plan_tier"])


def test_single_customer_matches_population(data_dir_copy):
    wh = warehouse.get_warehouse(data_dir_copy)
    frame = features.features_as_of(wh, D)
    one = features.features_as_of(wh, D, frame["customer_id"].iloc[3])
    pd.testing.assert_frame_equal(one.reset_index(drop=True), frame.iloc[[3]].reset_index(drop=True))


def test_only_active_customers_are_described(data_dir_copy):
    wh = warehouse.get_warehouse(data_dir_copy)
    frame = features.features_as_of(wh, D)
    active = wh.scalar(
        "SELECT count(*) FROM customers WHERE signup_date <= ? AND (churn_date IS NULL OR churn_date > ?)", [D, D]
    )
    assert len(frame) == active


def test_active_users_of_an_account_younger_than_four_weeks_are_averaged_over_its_own_days(data_dir_copy):
    """An 8-day-old account with every seat active every day read 29% seat utilisation (its 8
    days of users over 28), and at 35 days 'daily active users 3.5x the four weeks before'."""
    wh = warehouse.get_warehouse(data_dir_copy)
    young, month_old = features.features_as_of(wh, D)["customer_id"].head(2).tolist()
    with wh.transaction() as cur:
        for cid, age in ((young, 7), (month_old, 34)):  # 8 and 35 days as a customer, D included
            cur.execute(
                "UPDATE customers SET signup_date = ?::DATE - ?::INTEGER, seats = 10 WHERE customer_id = ?",
                [D, age, cid],
            )
            cur.execute("DELETE FROM usage_daily WHERE customer_id = ?", [cid])
            cur.execute(
                "INSERT INTO usage_daily SELECT ?, ?::DATE - i::INTEGER, 'login', 5, 10, NULL FROM range(0, ? + 1) t(i)",
                [cid, D, age],
            )
    frame = features.features_as_of(wh, D).set_index("customer_id")
    assert frame.loc[young, "active_users_30d"] == 10 and frame.loc[young, "seat_utilization"] == 1.0
    assert np.isnan(frame.loc[young, "active_users_change"])  # no days before its first four weeks
    assert frame.loc[month_old, "seat_utilization"] == 1.0
    assert frame.loc[month_old, "active_users_change"] == 0.0  # steady: 7 days before against 28 now
