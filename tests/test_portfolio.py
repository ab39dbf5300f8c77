"""Portfolio KPIs: hand-computed figures on a tiny warehouse, empty data, time safety,
and an independent pandas recomputation on generated data."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from engine.core.contracts import from_json, to_json
from engine.core.errors import BadInputError
from engine.data import health
from engine.data.warehouse import get_warehouse
from engine.portfolio import kpis as portfolio

AS_OF = date(2026, 6, 30)

# Six customers whose figures on 2026-06-30 are worked out by hand in the tests below.
#   A  starter/retail      since 2025-01-10, MRR 100, expanded to 120 in May 2026 (rows only on change)
#   B  growth/fintech      since 2025-03-01, MRR 200, churned 2026-05-15 (inside the 90-day window)
#   C  enterprise/fintech  since 2025-06-01, MRR 1000, contracted to 800 in June 2026
#   D  starter/retail      since 2026-01-10, MRR 50
#   E  growth/retail       since 2026-05-01, no MRR rows at all
#   F  starter/fintech     2024-01-01 .. churned 2025-01-01, MRR 70
CUSTOMERS = [
    ("A", "starter", "retail", "2025-01-10", None),
    ("B", "growth", "fintech", "2025-03-01", "2026-05-15"),
    ("C", "enterprise", "fintech", "2025-06-01", None),
    ("D", "starter", "retail", "2026-01-10", None),
    ("E", "growth", "retail", "2026-05-01", None),
    ("F", "starter", "fintech", "2024-01-01", "2025-01-01"),
]
MRR_ROWS = [
    ("A", "2025-01-01", 100, "new"),
    ("A", "2026-05-01", 120, "expansion"),
    ("B", "2025-03-01", 200, "new"),
    ("B", "2026-06-01", 0, "churn"),
    ("C", "2025-06-01", 1000, "new"),
    ("C", "2026-06-01", 800, "contraction"),
    ("D", "2026-01-01", 50, "new"),
    ("F", "2024-01-01", 70, "new"),
    ("F", "2025-02-01", 0, "churn"),
]


def _insert_customers(wh, rows) -> None:
    for cid, tier, industry, signup, churn in rows:
        wh.execute(
            "INSERT INTO customers (customer_id, name, plan_tier, industry, signup_date, status, churn_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [cid, f"Customer {cid}", tier, industry, signup, "churned" if churn else "active", churn],
        )


def _insert_mrr(wh, rows) -> None:
    for row in rows:
        wh.execute("INSERT INTO mrr_history VALUES (?, ?, ?, ?)", list(row))


@pytest.fixture
def tiny(empty_dir):
    wh = get_warehouse(empty_dir)
    _insert_customers(wh, CUSTOMERS)
    _insert_mrr(wh, MRR_ROWS)
    return wh


# -- hand-computed figures -----------------------------------------------------------------
def test_kpis_match_hand_computation(tiny):
    k = portfolio.portfolio_kpis(tiny, AS_OF)
    assert k.as_of == AS_OF
    # Active on 06-30: A, C, D, E (B and F churned). MRR: A 120 + C 800 + D 50 + E 0.
    assert k.active_customers == 4
    assert k.total_mrr == 970
    assert k.arr == 970 * 12
    # Cohort on 04-01: A, B, C, D; B churned -> 1 of 4.
    assert k.customers_90d_ago == 4
    assert k.churned_customers_90d == 1
    assert k.logo_churn_90d == pytest.approx(0.25)
    # Their MRR on 04-01: 100 + 200 + 1000 + 50 = 1350. Lost: B 200 (churn) + C 200
    # (contraction); A's expansion does not offset them.
    assert k.mrr_lost_90d == 400
    assert k.gross_revenue_churn_90d == pytest.approx(400 / 1350)
    # Active on 2025-06-30: A 100, B 200, C 1000 = 1300; now A 120, B 0, C 800 = 920.
    assert k.net_revenue_retention_12m == pytest.approx(920 / 1300)
    assert k.customers_12m_ago == 3 and k.cohort("net_revenue_retention_12m") == 3
    assert not k.comparable("logo_churn_90d")  # 4 and 3 customers: no trend to read


def test_previous_period_is_90_days_earlier(tiny):
    prev = portfolio.portfolio_kpis(tiny, AS_OF).previous
    assert prev.as_of == AS_OF - timedelta(days=90) == date(2026, 4, 1)
    assert prev.active_customers == 4  # A, B, C, D
    assert prev.total_mrr == 100 + 200 + 1000 + 50
    # On 2026-01-01 A, B, C were active and none churned by 04-01; no MRR lost.
    assert prev.customers_90d_ago == 3
    assert prev.logo_churn_90d == 0
    assert prev.gross_revenue_churn_90d == 0
    # On 2025-04-01 A (100) and B (200) were active; on 2026-04-01 they pay the same.
    assert prev.net_revenue_retention_12m == pytest.approx(1.0)
    assert prev.previous is None


def test_kpis_as_frame_lists_current_and_previous(tiny):
    frame = portfolio.portfolio_kpis(tiny, AS_OF).as_frame()
    row = frame.set_index("metric").loc["total_mrr"]
    assert (row["current"], row["previous"]) == (970, 1350)


def test_mrr_by_plan_carries_rows_forward_and_ends_at_the_kpi(tiny):
    mrr = portfolio.mrr_by_plan(tiny, AS_OF)
    assert list(mrr.columns) == ["month", "plan_tier", "mrr"]
    by = mrr.assign(month=mrr["month"].dt.date).set_index(["month", "plan_tier"])["mrr"]
    # Every tier in every month from the first MRR row (F, Jan 2024) to June 2026.
    assert mrr["month"].min() == pd.Timestamp("2024-01-01")
    assert mrr["month"].max() == pd.Timestamp("2026-06-01")
    assert len(mrr) == 30 * 3
    june = date(2026, 6, 1)
    assert by[(june, "starter")] == 120 + 50
    assert by[(june, "growth")] == 0  # B churned, E has no MRR
    assert by[(june, "enterprise")] == 800
    assert by.xs(june, level="month").sum() == portfolio.portfolio_kpis(tiny, AS_OF).total_mrr
    # A's 100 carries from Jan 2025 to April 2026 with no rows in between.
    assert by[(date(2025, 12, 1), "starter")] == 100
    # May 2026 is valued on 05-31: B (churned 05-15) is gone, C still pays 1000.
    assert by[(date(2026, 5, 1), "growth")] == 0
    assert by[(date(2026, 5, 1), "enterprise")] == 1000
    # F churned on 2025-01-01, so January 2025 holds only A.
    assert by[(date(2025, 1, 1), "starter")] == 100


def test_churn_by_plan_industry_matches_hand_computation(tiny):
    churn = portfolio.churn_by_plan_industry(tiny, AS_OF, months=12)
    got = {(r.plan_tier, r.industry): (r.customers, r.churned, r.churn_rate) for r in churn.itertuples()}
    # Window (2025-06-30, 2026-06-30]: F churned before it; E signed up inside it.
    assert got == {
        ("starter", "retail"): (2, 0, 0.0),
        ("growth", "fintech"): (1, 1, 1.0),
        ("enterprise", "fintech"): (1, 0, 0.0),
        ("growth", "retail"): (1, 0, 0.0),
    }


def test_churn_window_must_be_positive(tiny):
    with pytest.raises(BadInputError, match="at least one month"):
        portfolio.churn_by_plan_industry(tiny, AS_OF, months=0)


def test_default_as_of_is_the_data_date(tiny):
    assert portfolio.portfolio_kpis(tiny) == portfolio.portfolio_kpis(tiny, health.data_as_of(tiny))


def test_missing_industry_is_reported_as_unknown(tiny):
    _insert_customers(tiny, [("G", "growth", None, "2026-02-01", None)])
    churn = portfolio.churn_by_plan_industry(tiny, AS_OF)
    assert ("growth", "unknown") in set(zip(churn["plan_tier"], churn["industry"], strict=True))


# -- empty warehouse -----------------------------------------------------------------------
def test_empty_warehouse_gives_zeros_not_errors(empty_dir):
    wh = get_warehouse(empty_dir)
    for as_of in (None, AS_OF):
        k = portfolio.portfolio_kpis(wh, as_of)
        assert (k.active_customers, k.total_mrr, k.arr, k.churned_customers_90d, k.mrr_lost_90d) == (0, 0, 0, 0, 0)
        # Undefined ratios are None: "no data" must not read as "lost everything".
        assert k.logo_churn_90d is k.gross_revenue_churn_90d is k.net_revenue_retention_12m is None
        assert portfolio.mrr_by_plan(wh, as_of).empty
        assert list(portfolio.mrr_by_plan(wh, as_of).columns) == ["month", "plan_tier", "mrr"]
        churn = portfolio.churn_by_plan_industry(wh, as_of)
        assert churn.empty
        assert list(churn.columns) == ["plan_tier", "industry", "customers", "churned", "churn_rate"]


def test_customers_without_mrr_rows_count_but_add_no_money(empty_dir):
    wh = get_warehouse(empty_dir)
    _insert_customers(wh, [("X", "starter", "media", "2025-01-01", None)])
    k = portfolio.portfolio_kpis(wh, AS_OF)
    assert (k.active_customers, k.total_mrr) == (1, 0)
    assert k.logo_churn_90d == 0
    assert k.gross_revenue_churn_90d is None and k.net_revenue_retention_12m is None
    assert portfolio.mrr_by_plan(wh, AS_OF).empty  # no MRR rows, no months to show


# -- time safety ---------------------------------------------------------------------------
def test_rows_after_as_of_do_not_change_results(tiny):
    before = (
        portfolio.portfolio_kpis(tiny, AS_OF),
        portfolio.mrr_by_plan(tiny, AS_OF),
        portfolio.churn_by_plan_industry(tiny, AS_OF),
    )
    # The future: a new customer, A expands, C churns, D's MRR row for next month.
    _insert_customers(tiny, [("H", "enterprise", "retail", "2026-07-15", None)])
    _insert_mrr(
        tiny, [("H", "2026-07-01", 5000, "new"), ("A", "2026-07-01", 999, "expansion"), ("D", "2026-08-01", 0, "churn")]
    )
    tiny.execute("UPDATE customers SET churn_date = DATE '2026-07-10', status = 'churned' WHERE customer_id = 'C'")
    after = (
        portfolio.portfolio_kpis(tiny, AS_OF),
        portfolio.mrr_by_plan(tiny, AS_OF),
        portfolio.churn_by_plan_industry(tiny, AS_OF),
    )
    assert after[0] == before[0]
    pd.testing.assert_frame_equal(after[1], before[1])
    pd.testing.assert_frame_equal(after[2], before[2])
    # ...while a later as_of does see them.
    assert portfolio.portfolio_kpis(tiny, date(2026, 7, 31)).total_mrr == 999 + 50 + 5000


# -- generated data: an independent recomputation in pandas ---------------------------------
def _expected(customers: pd.DataFrame, mrr: pd.DataFrame, as_of: date) -> dict:
    """The KPI definitions written again, plainly, in pandas."""
    day = pd.Timestamp(as_of)

    def active(on: pd.Timestamp) -> pd.Series:
        return (customers["signup_date"] <= on) & (customers["churn_date"].isna() | (customers["churn_date"] > on))

    def mrr_on(on: pd.Timestamp) -> pd.Series:
        latest = mrr[mrr["month"] <= on].sort_values("month").groupby("customer_id")["mrr"].last()
        return customers["customer_id"].map(latest).fillna(0.0).where(active(on), 0.0)

    start_90, start_12 = day - pd.Timedelta(days=90), day - pd.DateOffset(months=12)
    now, then_90, then_12 = mrr_on(day), mrr_on(start_90), mrr_on(start_12)
    cohort_90, cohort_12 = active(start_90), active(start_12)
    return {
        "active_customers": int(active(day).sum()),
        "total_mrr": now.sum(),
        "logo_churn_90d": (cohort_90 & ~active(day)).sum() / cohort_90.sum(),
        "gross_revenue_churn_90d": (then_90 - now).clip(lower=0)[cohort_90].sum() / then_90[cohort_90].sum(),
        "net_revenue_retention_12m": now[cohort_12].sum() / then_12[cohort_12].sum(),
    }


@pytest.fixture(scope="module")
def generated_frames(generated_dir):
    wh = get_warehouse(generated_dir, read_only=True)
    customers = wh.df("SELECT customer_id, signup_date, churn_date, status, plan_tier FROM customers")
    mrr = wh.df("SELECT customer_id, month, mrr FROM mrr_history")
    for frame, columns in ((customers, ("signup_date", "churn_date")), (mrr, ("month",))):
        for column in columns:
            frame[column] = pd.to_datetime(frame[column])
    return customers, mrr


@pytest.mark.parametrize("as_of", [date(2026, 6, 30), date(2026, 2, 14), date(2025, 9, 1)])
def test_generated_kpis_match_pandas(generated_dir, generated_frames, as_of):
    k = portfolio.portfolio_kpis(get_warehouse(generated_dir, read_only=True), as_of)
    expected = _expected(*generated_frames, as_of)
    for name, value in expected.items():
        assert getattr(k, name) == pytest.approx(value, rel=1e-9), name


def test_generated_data_sanity(generated_dir, generated_frames):
    wh = get_warehouse(generated_dir, read_only=True)
    k = portfolio.portfolio_kpis(wh)
    customers, _ = generated_frames
    assert k.as_of == date(2026, 6, 30)
    # The generator's data ends on as_of, so today's status column agrees with the dates.
    assert k.active_customers == (customers["status"] == "active").sum()
    assert 0 < k.logo_churn_90d < 0.5
    assert 0 < k.gross_revenue_churn_90d < 0.5
    assert 0.5 < k.net_revenue_retention_12m < 1.5
    assert k.previous.active_customers > 0
    mrr = portfolio.mrr_by_plan(wh)
    assert set(mrr["plan_tier"]) == {"starter", "growth", "enterprise"}
    assert mrr.loc[mrr["month"] == mrr["month"].max(), "mrr"].sum() == pytest.approx(k.total_mrr)
    assert (mrr["mrr"] >= 0).all()
    churn = portfolio.churn_by_plan_industry(wh)
    assert len(churn) == 3 * 8
    assert churn["churn_rate"].between(0, 1).all()
    window_start = pd.Timestamp(portfolio.months_before(k.as_of, 12))
    in_window = (customers["signup_date"] <= pd.Timestamp(k.as_of)) & (
        customers["churn_date"].isna() | (customers["churn_date"] > window_start)
    )
    assert churn["customers"].sum() == in_window.sum()


# -- contracts -----------------------------------------------------------------------------------
def test_kpis_round_trip_with_the_previous_period(tiny, tmp_path):
    k = portfolio.portfolio_kpis(tiny, AS_OF)
    text = to_json(k)
    again = from_json(portfolio.PortfolioKpis, text)
    assert to_json(again) == text and again == k
    assert again.previous.as_of == date(2026, 4, 1) and again.previous.previous is None
    assert json.loads(text)["net_revenue_retention_12m"] == pytest.approx(920 / 1300)
    empty = portfolio.portfolio_kpis(get_warehouse(tmp_path / "no-data"))
    assert from_json(portfolio.PortfolioKpis, to_json(empty)) == empty and empty.logo_churn_90d is None


def test_risk_summary_round_trips_with_its_tier_table():
    board = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "mrr": [100.0, 250.0, 40.0],
            "churn_probability": [0.1, 0.6, 0.3],
            "ci_low": [0.05, 0.5, 0.2],
            "ci_high": [0.2, 0.7, 0.4],
            "risk_tier": ["low", "high", "medium"],
        }
    ).assign(revenue_at_risk=lambda d: d["churn_probability"] * d["mrr"] * 12)
    summary = portfolio.risk_summary(board)
    text = to_json(summary)
    again = from_json(portfolio.RiskSummary, text)
    assert to_json(again) == text
    assert again.revenue_at_risk == pytest.approx(0.1 * 1200 + 0.6 * 3000 + 0.3 * 480)
    assert again.by_tier.set_index("risk_tier")["accounts"].to_dict() == {"high": 1, "low": 1, "medium": 1}


def test_a_company_without_plan_tiers_gets_one_named_group(tiny):
    """plan_tier is optional: a NULL tier matched no tier in the joins (the chart said "No
    data") and broke the heatmap's labels; it is one group named "no plan"."""
    tiny.execute("UPDATE customers SET plan_tier = NULL")
    mrr = portfolio.mrr_by_plan(tiny, AS_OF)
    june = mrr[mrr["month"] == pd.Timestamp("2026-06-01")]
    assert set(mrr["plan_tier"]) == {portfolio.NO_PLAN}
    assert june["mrr"].sum() == portfolio.portfolio_kpis(tiny, AS_OF).total_mrr
    churn = portfolio.churn_by_plan_industry(tiny, AS_OF, months=12)
    assert set(churn["plan_tier"]) == {portfolio.NO_PLAN} and churn["customers"].sum() == 5
