"""The generator: determinism, plausibility, ground-truth calibration, drift."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from engine.data import demo as synth
from engine.data import warehouse

END = date(2026, 6, 30)


def _snapshot(wh) -> dict[str, pd.DataFrame]:
    return {
        "customers": wh.df("SELECT * FROM customers ORDER BY customer_id"),
        "mrr": wh.df("SELECT * FROM mrr_history ORDER BY customer_id, month"),
        "usage": wh.df("SELECT customer_id, sum(events) e, count(*) n FROM usage_daily GROUP BY 1 ORDER BY 1"),
        "tickets": wh.df("SELECT * FROM support_tickets ORDER BY ticket_id"),
        "truth": wh.df("SELECT * FROM ground_truth ORDER BY customer_id, as_of"),
    }


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    frames = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        wh = warehouse.get_warehouse(tmp_path / name)
        synth.generate(wh, customers=150, seed=seed, end=END)
        frames.append(_snapshot(wh))
    for key in frames[0]:
        pd.testing.assert_frame_equal(frames[0][key], frames[1][key])
    assert not frames[0]["customers"]["customer_id"].equals(frames[2]["customers"]["customer_id"])


def test_every_table_is_filled_and_plausible(generated_dir):
    wh = warehouse.get_warehouse(generated_dir)
    counts = wh.table_counts()
    optional = ("predictions", "subscriptions", "customer_attributes")  # scored later; inputs the demo does not need
    assert all(counts[t] > 0 for t in warehouse.TABLES if t not in optional)
    cust = wh.df("SELECT * FROM customers")
    assert cust["customer_id"].is_unique and cust["name"].is_unique
    mix = cust["plan_tier"].value_counts(normalize=True)
    assert 0.40 < mix["starter"] < 0.60 and 0.25 < mix["growth"] < 0.45 and 0.08 < mix["enterprise"] < 0.22
    churned = (cust["status"] == "churned").mean()
    assert 0.15 < churned < 0.50  # three years of a B2B SaaS book
    assert 6 <= cust["csm_owner"].nunique() <= 10
    assert (cust.loc[cust.status == "churned", "churn_date"] > cust.loc[cust.status == "churned", "signup_date"]).all()
    assert cust.loc[cust.status == "active", "churn_date"].isna().all()
    assert cust["signup_date"].min() >= pd.Timestamp("2023-06-01") and cust["signup_date"].max() <= pd.Timestamp(END)
    assert set(cust["billing_cycle"]) == {1, 12}  # months: monthly and annual
    # No activity after the end date or after a churn.
    assert wh.scalar("SELECT max(date) FROM usage_daily") <= END
    assert (
        wh.scalar(
            "SELECT count(*) FROM usage_daily u JOIN customers c USING (customer_id) "
            "WHERE c.churn_date IS NOT NULL AND u.date >= c.churn_date"
        )
        == 0
    )
    # Weekly seasonality: weekdays busier than weekends.
    by_dow = wh.df("SELECT isodow(date) d, sum(events) e FROM usage_daily GROUP BY 1 ORDER BY 1")["e"].to_numpy()
    assert by_dow[:5].min() > 2 * by_dow[5:].max()
    # Expansion and contraction both happen; MRR is never negative.
    kinds = set(wh.df("SELECT DISTINCT change_type FROM mrr_history")["change_type"])
    assert kinds == {"new", "flat", "expansion", "contraction", "churn"}
    assert wh.scalar("SELECT min(mrr) FROM mrr_history") >= 0


def test_no_single_column_gives_churn_away(generated_dir):
    """Health signals are informative but noisy: no single observable separates churners."""
    wh = warehouse.get_warehouse(generated_dir)
    frame = wh.df("""
        SELECT g.true_churn_prob_90d p, r.compliance_gap_score gap, r.vendor_risk_flags flags,
               coalesce(c.churn_date > g.as_of AND c.churn_date <= g.as_of + 90, false) AS churned
        FROM ground_truth g JOIN customers c USING (customer_id)
        JOIN risk_signals r ON r.customer_id = g.customer_id AND r.as_of = g.as_of
        WHERE g.as_of <= DATE '2026-03-31'
    """)
    from sklearn.metrics import roc_auc_score

    auc_truth = roc_auc_score(frame["churned"], frame["p"])
    auc_gap = roc_auc_score(frame["churned"], frame["gap"])
    assert 0.55 < auc_gap < auc_truth < 0.97


def test_ground_truth_is_calibrated(tmp_path):
    wh = warehouse.get_warehouse(tmp_path)
    synth.generate(wh, customers=3000, seed=11, end=END)
    frame = wh.df(
        """
        SELECT g.true_churn_prob_90d AS p,
               coalesce(c.churn_date > g.as_of AND c.churn_date <= g.as_of + 90, false)::INT AS churned
        FROM ground_truth g JOIN customers c USING (customer_id)
        WHERE g.as_of + 90 <= ?  -- only windows the data has closed
    """,
        [END],
    )
    assert len(frame) > 20_000
    assert abs(frame["p"].mean() - frame["churned"].mean()) < 0.006
    frame["bin"] = pd.cut(frame["p"], [0, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0], include_lowest=True)
    bins = frame.groupby("bin", observed=True).agg(p=("p", "mean"), rate=("churned", "mean"), n=("p", "size"))
    for _, row in bins.iterrows():
        tolerance = 3 * np.sqrt(row.p * (1 - row.p) / row.n) + 0.01
        assert abs(row.p - row.rate) < tolerance, bins


def test_drift_shifts_recent_behaviour_only(tmp_path):
    def report_share(wh, after: bool) -> float:
        window = "date >= DATE '2026-03-15'" if after else "date < DATE '2026-02-01'"
        sql = "SELECT sum(events) FILTER (WHERE event_type = 'report_view') / sum(events) FROM usage_daily WHERE "
        return wh.scalar(sql + window)

    stable = warehouse.get_warehouse(tmp_path / "stable")
    synth.generate(stable, customers=400, seed=5, end=END)
    drifted = warehouse.get_warehouse(tmp_path / "drift")
    synth.generate(drifted, customers=400, seed=5, end=END, drift=True)
    assert report_share(drifted, after=True) < 0.7 * report_share(stable, after=True)
    assert report_share(drifted, after=False) == pytest.approx(report_share(stable, after=False), rel=0.02)
    assert (
        drifted.scalar("SELECT avg(compliance_gap_score) FROM risk_signals WHERE as_of >= DATE '2026-04-01'")
        > stable.scalar("SELECT avg(compliance_gap_score) FROM risk_signals WHERE as_of >= DATE '2026-04-01'") + 0.08
    )


def test_bad_arguments_are_refused(tmp_path):
    from engine.core.errors import BadInputError

    wh = warehouse.get_warehouse(tmp_path)
    with pytest.raises(BadInputError, match="at least 1"):
        synth.generate(wh, customers=0)
    with pytest.raises(BadInputError, match="is in the future"):
        synth.generate(wh, customers=10, end=date.today() + timedelta(days=30))
    assert wh.is_empty()


# -- a data end inside a month (issue 12, item 11) ------------------------------------------------
MID_END = date(2026, 6, 1)  # the worst case: the month the data ends in has one day


@pytest.fixture(scope="module")
def mid_month(tmp_path_factory):
    root = tmp_path_factory.mktemp("mid_month")
    wh = warehouse.get_warehouse(root)
    synth.generate(wh, customers=1500, seed=7, end=MID_END)
    warehouse.close_all()
    return root


def _daily_tickets(wh) -> pd.Series:
    frame = wh.df(
        "SELECT opened_at::DATE AS day, count(*) AS n FROM support_tickets WHERE opened_at::DATE > ? "
        "GROUP BY 1 ORDER BY 1",
        [MID_END - pd.Timedelta(days=60)],
    )
    return frame.set_index(pd.to_datetime(frame["day"]))["n"]


def test_tickets_opened_on_the_last_day_look_like_any_other_day(mid_month):
    wh = warehouse.get_warehouse(mid_month, read_only=True)
    daily = _daily_tickets(wh)
    last = int(daily.get(pd.Timestamp(MID_END), 0))
    median = float(daily.iloc[-29:-1].median())  # the 28 days before the last
    assert median >= 5
    assert last <= 3 * median + 5, f"{last} tickets opened on the last day vs a daily median of {median}"
    # No account's newest ticket is pinned to the last day more than chance allows.
    newest = wh.df("SELECT customer_id, max(opened_at)::DATE AS day FROM support_tickets GROUP BY 1")
    assert (pd.to_datetime(newest["day"]) == pd.Timestamp(MID_END)).mean() < 0.10


def test_open_tickets_match_typical_resolution_times(mid_month):
    """Little's law: tickets open at the end ~ tickets opened per day x days a ticket stays open."""
    wh = warehouse.get_warehouse(mid_month, read_only=True)
    daily = _daily_tickets(wh)
    per_day = float(daily.iloc[-29:-1].mean())
    days_open = wh.scalar(
        "SELECT avg(epoch(closed_at - opened_at)) / 86400 FROM support_tickets WHERE closed_at IS NOT NULL "
        "AND opened_at < ?",
        [MID_END - pd.Timedelta(days=30)],
    )
    expected = per_day * days_open
    still_open = wh.scalar("SELECT count(*) FROM support_tickets WHERE status = 'open'")
    assert 0.4 * expected <= still_open <= 2.0 * expected + 5, (still_open, expected)
    oldest = wh.scalar("SELECT min(opened_at)::DATE FROM support_tickets WHERE status = 'open'")
    assert oldest >= MID_END - pd.Timedelta(days=30)


def test_a_fresh_healthy_company_shows_no_ticket_drift_at_its_data_end(mid_month):
    """The month before vs the data end: nothing changed in the world, so tickets must not drift."""
    from engine.churn import monitoring

    wh = warehouse.get_warehouse(mid_month, read_only=True)
    report = monitoring.drift_between(wh, date(2026, 4, 30), MID_END)
    status = report.features.set_index("feature")["status"]
    for feature in ("open_tickets", "tickets_30d", "tickets_90d", "high_priority_tickets_90d"):
        if feature in status:
            assert status[feature] != "act", report.features.set_index("feature").loc[feature].to_dict()
