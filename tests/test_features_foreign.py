"""Features decided from the data loaded: absent sources, event types, custom attributes,
time safety of the new features, and noise screening of random columns."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from engine.churn import explain, features, screening, training
from engine.data import warehouse

D = date(2026, 3, 31)
CUTOFF = date(2026, 3, 31)


def _add_attributes(wh, seed: int = 3) -> None:
    """A random category and a random number per account (unrelated to churn), a real
    'contract signed' date, and a 'renewal call' date set in the future of D for some."""
    ids = [r[0] for r in wh.rows("SELECT customer_id FROM customers ORDER BY customer_id")]
    rng = np.random.default_rng(seed)
    rows = []
    for i, cid in enumerate(ids):
        rows.append((cid, "Random colour", "category", None, str(rng.choice(["red", "green", "blue", "grey"])), None))
        rows.append((cid, "Lucky number", "number", float(rng.normal()), None, None))
        rows.append((cid, "Rare tag", "category", None, f"tag-{i}", None))  # every level has one account
        when = date(2026, 5, 1) if i % 3 == 0 else date(2024, 1, 1)
        rows.append((cid, "Renewal call", "date", None, None, when))
    frame = pd.DataFrame(rows, columns=["customer_id", "attribute", "kind", "number_value", "text_value", "date_value"])
    with wh.transaction() as cur:
        cur.register("_attrs", frame)
        cur.execute("INSERT INTO customer_attributes SELECT * FROM _attrs")
        cur.unregister("_attrs")


def test_demo_set_keeps_every_fixed_feature_and_adds_event_types(generated_dir):
    wh = warehouse.get_warehouse(generated_dir)
    fs = features.feature_set(wh, CUTOFF)
    assert set(features.FEATURE_NAMES) <= set(fs.names)
    assert fs.event_types, "the demo's event types carry signal"
    frame = features.features_as_of(wh, D, feature_set=fs)
    assert list(frame.columns) == ["customer_id", "as_of", *fs.names]
    one = features.features_as_of(wh, D, frame["customer_id"].iloc[5], feature_set=fs)
    pd.testing.assert_frame_equal(one.reset_index(drop=True), frame.iloc[[5]].reset_index(drop=True))
    login = next(e for e in fs.event_types if e.event_type == "login")
    cid = frame["customer_id"].iloc[0]
    expected = wh.scalar(
        "SELECT coalesce(sum(events), 0) FROM usage_daily WHERE customer_id = ? AND event_type = 'login' "
        "AND date > ?::DATE - 28 AND date <= ?",
        [cid, D, D],
    )
    assert frame.iloc[0][f"evt_{login.key}_count_28d"] == expected
    assert features.LABELS.get(f"evt_{login.key}_count_28d") == "Login events (28 days)"
    assert features.LABELS.get(f"evt_{login.key}_days_since_last") == "Days since last login"


def test_tables_not_loaded_give_absent_features_not_zeros(data_dir_copy):
    wh = warehouse.get_warehouse(data_dir_copy)
    with wh.transaction() as cur:
        for table in ("support_tickets", "gtm_opportunities", "risk_signals"):
            cur.execute(f"DELETE FROM {table}")
        cur.execute("UPDATE customers SET industry = NULL")
    fs = features.feature_set(wh, CUTOFF)
    names = set(fs.names)
    for gone in (
        "tickets_90d",
        "csat_avg_90d",
        "open_expansion_opportunity",
        "gtm_stage",
        "vendor_risk_flags",
        "industry",
    ):
        assert gone not in names
    assert {"tenure_days", "mrr", "events_last_30d", "region"} <= names
    frame = features.features_as_of(wh, D, feature_set=fs)
    assert "tickets_90d" not in frame.columns


def test_custom_attributes_become_features(data_dir_copy):
    wh = warehouse.get_warehouse(data_dir_copy)
    _add_attributes(wh)
    fs = features.feature_set(wh, CUTOFF)
    by_name = {a.attribute: a for a in fs.attributes}
    assert by_name["Random colour"].kind == "category" and set(by_name["Random colour"].levels) == {
        "red",
        "green",
        "blue",
        "grey",
    }
    assert by_name["Lucky number"].kind == "number"
    assert "Rare tag" not in by_name  # no level has enough accounts: nothing to learn from
    assert features.LABELS.get("attr_random_colour") == "Random colour"
    assert features.LABELS.get("attr_renewal_call_days_since") == "Days since renewal call"
    frame = features.features_as_of(wh, D, feature_set=fs).set_index("customer_id")
    assert "attr_random_colour" in fs.categorical
    days = frame["attr_renewal_call_days_since"]
    assert days.isna().any() and (days.dropna() == (D - date(2024, 1, 1)).days).all()


def test_future_rows_change_no_new_feature(data_dir_copy):
    """Features at D use only data up to D: events, values, subscriptions and dated
    attributes after D leave every column at D unchanged."""
    wh = warehouse.get_warehouse(data_dir_copy)
    _add_attributes(wh)
    with wh.transaction() as cur:
        cur.execute(
            "INSERT INTO subscriptions SELECT customer_id, 'core', signup_date, NULL, 100, 5, 1, 0 FROM customers"
        )
    fs = features.feature_set(wh, CUTOFF)
    assert fs.subscriptions and fs.event_types and fs.attributes
    before = features.features_as_of(wh, D, feature_set=fs)
    some = before["customer_id"].head(50).tolist()
    types = [e.event_type for e in fs.event_types]
    with wh.transaction() as cur:
        cur.register("_ids", pd.DataFrame({"customer_id": some}))
        cur.register("_types", pd.DataFrame({"event_type": types}))
        cur.execute(
            "INSERT INTO usage_daily SELECT customer_id, DATE '2026-04-01' + i::INTEGER, event_type, 999, 99, 5.0 "
            "FROM _ids, _types, range(0, 30) t(i)"
        )
        cur.execute(
            "INSERT INTO subscriptions SELECT customer_id, 'addon', DATE '2026-04-02', NULL, 50, 9, 1, 0 FROM _ids"
        )
        cur.execute("UPDATE subscriptions SET end_date = DATE '2026-04-03' WHERE product = 'core'")
        cur.execute(
            "INSERT INTO customer_attributes SELECT customer_id, 'Renewal call', 'date', NULL, NULL, "
            "DATE '2026-04-20' FROM _ids"
        )
        cur.unregister("_ids")
        cur.unregister("_types")
    after = features.features_as_of(wh, D, feature_set=fs)
    pd.testing.assert_frame_equal(before, after)
    later = features.features_as_of(wh, date(2026, 4, 10), feature_set=fs).set_index("customer_id")
    key = fs.event_types[0].key
    assert later.loc[some[0], f"evt_{key}_count_7d"] >= 999 * 7  # the test can fail
    assert later.loc[some[0], "products_active"] == 1  # core ended, addon started


def test_random_columns_do_not_survive_screening_or_drive(data_dir_copy):
    wh = warehouse.get_warehouse(data_dir_copy)
    _add_attributes(wh)
    dates, _valid, cutoff = training.snapshot_plan(wh, CUTOFF)
    folds = training.fold_plan(dates)
    fs = features.feature_set(wh, cutoff, dates)
    snaps = features.labelled_snapshots(wh, dates, training.HORIZON_DAYS, fs)
    snaps["as_of"] = pd.to_datetime(snaps["as_of"])
    result = screening.screen(snaps, folds, fs)
    noise = {"attr_random_colour", "attr_lucky_number"}
    kept = noise & set(result.feature_set.names)
    if not kept:
        return
    fit = training.fit_folds(snaps, folds, feature_set=result.feature_set, n_bags=3)
    from engine.churn import explain

    now = snaps[snaps["as_of"] == snaps["as_of"].max()]
    contributions = fit.model.contributions(now)
    drivers = explain.drivers_for_frame(fit.model.features, now, contributions, k=5)
    top = [d[0].feature if d else None for d in drivers]
    assert np.mean([t in kept for t in top]) <= 0.05


def test_an_account_in_its_first_month_has_the_mrr_its_subscriptions_bill(data_dir_copy):
    """MRR history gets a month's row from the 1st, so an account that started paying on the
    21st has none yet at the month end: its running subscription gives its MRR (in scoring and
    on Customer 360); before the subscription started it has none."""
    from engine.accounts import customer

    wh = warehouse.get_warehouse(data_dir_copy)
    frame = features.features_as_of(wh, D)
    cid = str(frame["customer_id"].iloc[3])
    with wh.transaction() as cur:
        cur.execute("DELETE FROM mrr_history WHERE customer_id = ?", [cid])
        cur.execute("INSERT INTO subscriptions VALUES (?, 'core', DATE '2026-03-21', NULL, 123, 1, 1, 0)", [cid])
    fs = features.feature_set(wh, CUTOFF)
    assert fs.subscriptions
    at = features.features_as_of(wh, D, cid, feature_set=fs)
    assert at["mrr"].iloc[0] == 123
    before = features.features_as_of(wh, date(2026, 3, 20), cid, feature_set=fs)
    assert len(before) == 1 and before["mrr"].isna().all()
    assert customer._profile(wh, cid, D).mrr == 123


def test_a_list_of_features_is_said_as_the_drivers_group_them():
    """Model & data listed 20 raw names ('evt_call_lead_count_7d, evt_call_lead_count_28d, ...') for
    two event types that came and went between versions."""
    names = [f"evt_call_lead_{s}" for s in ("count_7d", "count_28d", "trend_28d")] + ["attr_company_size"]
    assert explain.in_words(names) == "Call lead usage (3 inputs), Company size"
    assert explain.in_words([]) == "none"
