"""Benchmarks: one account's position among its peers, and plans vs the book and last quarter.

Point-in-time (rows after the date change nothing), the percentile's definition, fallbacks
from small peer groups with the group and n reported, metrics absent without their data,
CSM scoping, the plan benchmarks agreeing with the portfolio KPIs, and the CLI's JSON.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from engine import cli, segments
from engine.accounts import peers
from engine.accounts.customer import NOT_IN_BOOK_MESSAGE
from engine.core.access import SYSTEM, Viewer
from engine.core.errors import BadInputError, NotFoundError
from engine.data import health, warehouse
from engine.portfolio import kpis

METRIC_KEYS = {"usage", "seat_utilisation", "tickets_90d", "csat_90d", "mrr_growth", "churn_probability"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    peers.clear_cache()
    yield
    peers.clear_cache()


def _reader(data_dir) -> warehouse.Warehouse:
    return warehouse.get_warehouse(data_dir, read_only=True)


def _scored_ids(wh, as_of: date, owner: str | None = None) -> list[str]:
    where, params = ("AND c.csm_owner = ?", [owner]) if owner else ("", [])
    return [
        r[0]
        for r in wh.rows(
            "SELECT p.customer_id FROM predictions p JOIN customers c USING (customer_id) "
            f"WHERE p.as_of = ? {where} ORDER BY p.churn_probability DESC, p.customer_id",
            [as_of, *params],
        )
    ]


def _active_count(wh, as_of: date) -> int:
    return wh.scalar(
        "SELECT count(*) FROM customers WHERE signup_date <= ? AND (churn_date IS NULL OR churn_date > ?)",
        [as_of, as_of],
    )


# -- one account ----------------------------------------------------------------------------------
def test_a_position_names_its_group_and_n_and_ranks_every_metric(scored_dir):
    wh = _reader(scored_dir)
    as_of = health.data_as_of(wh)
    cid = _scored_ids(wh, health.latest_scoring_date(wh))[0]
    position = peers.account_position(wh, SYSTEM, cid)
    assert position.as_of == as_of and position.customer_id == cid
    assert {m.metric for m in position.metrics} == METRIC_KEYS
    group = position.group
    assert group.n >= peers.MIN_PEERS or group.level == "whole book"
    assert set(group.keys) <= {"plan_tier", "industry", "size_band"} and group.description
    assert position.size_basis == "seats"
    for m in position.metrics:
        assert m.direction == {"tickets_90d": "bad", "churn_probability": "bad"}.get(m.metric, "good")
        if m.percentile is not None:
            assert 0 <= m.percentile <= 1 and m.peers_with_value <= group.n - 1
            expected = m.percentile if m.direction == "good" else 1 - m.percentile
            assert m.better_than == pytest.approx(expected)
    churn = next(m for m in position.metrics if m.metric == "churn_probability")
    stored = wh.scalar(
        "SELECT churn_probability FROM predictions WHERE customer_id = ? AND as_of = ?",
        [cid, health.latest_scoring_date(wh)],
    )
    assert churn.value == stored


def test_the_percentile_is_the_share_of_peers_lower_with_ties_half(scored_dir):
    wh = _reader(scored_dir)
    as_of = health.data_as_of(wh)
    table = peers._book(wh, as_of).table
    for cid in _scored_ids(wh, health.latest_scoring_date(wh))[::97][:6]:
        position = peers.account_position(wh, SYSTEM, cid)
        keys = position.group.keys
        members = table[np.logical_and.reduce([table[k] == v for k, v in keys.items()])] if keys else table
        assert len(members) == position.group.n
        for m in position.metrics:
            values = members[f"{m.metric}_value"].drop(cid).dropna()
            if m.value is None:
                continue
            lower, ties = (values < m.value).sum(), (values == m.value).sum()
            assert m.percentile == pytest.approx((lower + ties / 2) / len(values))
            assert m.peers_with_value == len(values)
            assert m.peer_median == pytest.approx(members[f"{m.metric}_value"].median())
    tickets = next(m for m in position.metrics if m.metric == "tickets_90d")
    opened = wh.scalar(
        "SELECT count(*) FROM support_tickets WHERE customer_id = ? AND opened_at > ?::DATE - 90 "
        "AND opened_at < ?::DATE + 1",
        [cid, as_of, as_of],
    )
    assert tickets.value == opened


def test_rows_after_the_date_change_nothing(scored_copy):
    wh = _reader(scored_copy)
    scored_on = sorted(r[0] for r in wh.rows("SELECT DISTINCT as_of FROM predictions"))
    day = scored_on[-2]  # a back-scored month end: later scores exist
    ids = _scored_ids(wh, day)[:4] + _scored_ids(wh, day)[-2:]
    before = [peers.account_position(wh, SYSTEM, cid, day) for cid in ids]
    old_snapshot = (wh.path, wh.generation)
    warehouse.close_all()

    writer = warehouse.get_warehouse(scored_copy)
    later = day + timedelta(days=3)
    with writer.transaction() as cur:
        cur.execute("CREATE TEMP TABLE _ids AS SELECT unnest(?::VARCHAR[]) AS customer_id", [ids])
        cur.execute("INSERT INTO usage_daily SELECT customer_id, ?, 'login', 5000, 400, NULL FROM _ids", [later])
        cur.execute(
            "INSERT INTO support_tickets SELECT 'future-' || customer_id, customer_id, ?::TIMESTAMP, NULL, 'urgent', "
            "'bug', 'open', 1.0, 'later' FROM _ids",
            [later],
        )
        cur.execute("INSERT INTO mrr_history SELECT customer_id, ?, 99999.0, 'expansion' FROM _ids", [later])
        cur.execute(
            "INSERT INTO predictions (customer_id, as_of, model_version, churn_probability, ci_low, ci_high, scored_at) "
            "SELECT customer_id, ?, 'future', 0.99, 0.98, 1.0, now() FROM _ids",
            [later],
        )
        cur.execute("UPDATE customers SET churn_date = ? WHERE customer_id = ?", [later, ids[0]])
        cur.execute(
            "INSERT INTO customers (customer_id, name, plan_tier, industry, seats, signup_date, status, csm_owner) "
            "SELECT 'newcomer-' || customer_id, 'New', plan_tier, industry, seats, ?, 'active', csm_owner "
            "FROM customers WHERE customer_id IN (SELECT customer_id FROM _ids)",
            [later],
        )
    warehouse.close_all()

    wh = _reader(scored_copy)
    assert (wh.path, wh.generation) != old_snapshot  # a new snapshot: new figures, not the cached ones
    after = [peers.account_position(wh, SYSTEM, cid, day) for cid in ids]
    assert [p.model_dump() for p in after] == [p.model_dump() for p in before]


def _set_up_small_groups(data_dir) -> tuple[list[str], list[str], date]:
    """Three starter accounts in an industry of their own, and three accounts on a plan of their own."""
    writer = warehouse.get_warehouse(data_dir)
    as_of = health.data_as_of(writer)
    active = writer.df(
        "SELECT customer_id, plan_tier FROM customers WHERE signup_date <= ? AND (churn_date IS NULL OR churn_date > ?) "
        "ORDER BY customer_id",
        [as_of, as_of],
    )
    starters = active.loc[active["plan_tier"] == "starter", "customer_id"].tolist()
    rare_industry, rare_plan = starters[:3], starters[3:6]
    with writer.transaction() as cur:
        cur.execute("UPDATE customers SET industry = 'aerospace' WHERE list_contains(?, customer_id)", [rare_industry])
        cur.execute("UPDATE customers SET plan_tier = 'pilot' WHERE list_contains(?, customer_id)", [rare_plan])
    warehouse.close_all()
    return rare_industry, rare_plan, as_of


def test_small_groups_fall_back_to_coarser_ones_and_say_which(data_dir_copy):
    rare_industry, rare_plan, as_of = _set_up_small_groups(data_dir_copy)
    wh = _reader(data_dir_copy)
    table = peers._book(wh, as_of).table
    for cid in rare_industry:
        position = peers.account_position(wh, SYSTEM, cid)
        group = position.group
        band = table.loc[cid, "size_band"]
        finest = (
            (table["plan_tier"] == "starter") & (table["industry"] == "aerospace") & (table["size_band"] == band)
        ).sum()
        assert finest <= 3
        assert group.level == "plan x size" and group.fallback_level == 1
        assert group.keys == {"plan_tier": "starter", "size_band": band}
        assert group.n == ((table["plan_tier"] == "starter") & (table["size_band"] == band)).sum() >= peers.MIN_PEERS
        assert any("Fewer than 20 accounts" in note and str(group.n) in note for note in position.notes)
    for cid in rare_plan:
        group = peers.account_position(wh, SYSTEM, cid).group
        assert group.level == "whole book" and group.fallback_level == 3 and group.keys == {}
        assert group.n == _active_count(wh, as_of)
    ordinary = table.index[(table["plan_tier"] == "growth") & (table["fallback_level"] == 0)][0]
    assert peers.account_position(wh, SYSTEM, ordinary).group.level == "plan x industry x size"


def test_metrics_whose_data_is_not_loaded_are_absent(data_dir_copy):
    writer = warehouse.get_warehouse(data_dir_copy)
    with writer.transaction() as cur:
        cur.execute("DELETE FROM support_tickets")
        cur.execute("UPDATE customers SET seats = NULL")
    warehouse.close_all()
    wh = _reader(data_dir_copy)
    cid = wh.scalar("SELECT customer_id FROM customers WHERE churn_date IS NULL ORDER BY customer_id LIMIT 1")
    position = peers.account_position(wh, SYSTEM, cid)
    shown = {m.metric for m in position.metrics}
    # No tickets, no seats (so no utilisation; size bands by MRR) and no scores (the copy is unscored).
    assert shown == {"usage", "mrr_growth"}
    assert position.size_basis == "mrr" and position.group.keys.get("size_band", "").startswith("MRR")
    usage = next(m for m in position.metrics if m.metric == "usage")
    assert usage.unit == "events per day"
    assert any("Not compared" in note and "Support tickets" in note and "CSAT" in note for note in position.notes)


def test_a_csm_sees_positions_of_their_own_accounts_only(scored_dir):
    wh = _reader(scored_dir)
    scored_on = health.latest_scoring_date(wh)
    owner, other = [
        r[0]
        for r in wh.rows(
            "SELECT c.csm_owner FROM predictions p JOIN customers c USING (customer_id) WHERE p.as_of = ? "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2",
            [scored_on],
        )
    ]
    csm = Viewer(owner, "csm")
    mine = _scored_ids(wh, scored_on, owner)[0]
    theirs = _scored_ids(wh, scored_on, other)[0]
    assert peers.account_position(wh, csm, mine).customer_id == mine
    for not_mine in (theirs, "no-such-account"):
        with pytest.raises(NotFoundError) as refused:
            peers.account_position(wh, csm, not_mine)
        assert str(refused.value) == NOT_IN_BOOK_MESSAGE
    # The peer statistics are the whole book's: the CSM's position equals the admin's.
    assert peers.account_position(wh, csm, mine) == peers.account_position(wh, SYSTEM, mine)


def test_an_account_not_active_on_the_date_has_no_peers(scored_dir):
    wh = _reader(scored_dir)
    churned = wh.scalar("SELECT customer_id FROM customers WHERE churn_date IS NOT NULL ORDER BY churn_date LIMIT 1")
    with pytest.raises(NotFoundError, match="was not active on"):
        peers.account_position(wh, SYSTEM, churned)


def test_a_date_after_the_data_is_refused(scored_dir):
    wh = _reader(scored_dir)
    cid = _scored_ids(wh, health.latest_scoring_date(wh))[0]
    with pytest.raises(BadInputError, match="after the data's latest day"):
        peers.account_position(wh, SYSTEM, cid, health.data_as_of(wh) + timedelta(days=1))


def test_the_book_table_is_kept_per_snapshot_and_date(scored_dir):
    wh = _reader(scored_dir)
    as_of = health.data_as_of(wh)
    first = peers._book(wh, as_of)
    assert peers._book(wh, as_of) is first
    assert peers._book(wh, as_of - timedelta(days=31)) is not first


# -- plans and segments ---------------------------------------------------------------------------
def test_book_figures_agree_with_the_portfolio_kpis_now_and_last_quarter(scored_dir):
    wh = _reader(scored_dir)
    result = peers.segment_benchmarks(wh, SYSTEM)
    now = kpis.portfolio_kpis(wh, result.as_of)
    before = now.previous
    # "Last quarter" is the date the KPI cards compare with: the overview's whole-book row and its
    # cards show the same change (they once compared with Sep 3 and Sep 4: -0.3 vs -0.2 pp).
    assert result.previous_as_of == before.as_of
    for figures, expected in ((result.book, now), (result.book_previous, before)):
        assert figures.accounts == expected.active_customers
        assert figures.churn_rate_90d == pytest.approx(expected.logo_churn_90d)
        assert figures.nrr_12m == pytest.approx(expected.net_revenue_retention_12m)
    rows = result.rows[result.rows["dimension"] == "plan_tier"]
    assert rows["accounts"].sum() == result.book.accounts
    assert rows["accounts_prev"].sum() == result.book_previous.accounts
    for row in rows.to_dict(orient="records"):
        assert row["churn_rate_90d_vs_book"] == pytest.approx(row["churn_rate_90d"] - result.book.churn_rate_90d)
        assert row["nrr_12m_vs_prev"] == pytest.approx(row["nrr_12m"] - row["nrr_12m_prev"])
        assert row["ltv_12m"] > 0
    assert result.book.ltv_12m is not None and result.book.ltv_12m > 0


def test_behavioural_segments_are_benchmarked_with_their_members_at_each_date(scored_dir):
    wh = _reader(scored_dir)
    result = peers.segment_benchmarks(wh, SYSTEM)
    rows = result.rows[result.rows["dimension"] == "segment"].set_index("group")
    members = segments.segment_of_accounts(wh, SYSTEM, result.as_of)
    named = members[members["archetype"] != "Not enough data"]
    assert len(rows) >= 3 and "Not enough data" not in rows.index
    assert rows["accounts"].to_dict() == named["archetype"].value_counts().to_dict()
    # Churn is read on the accounts each archetype held 90 days before (they were active then).
    day = result.as_of - timedelta(days=90)
    then = segments.segment_of_accounts(wh, SYSTEM, day).set_index("customer_id")["archetype"]
    churned = wh.df(
        "SELECT customer_id, churn_date > ? AND churn_date <= ? AS churned FROM customers",
        [day, result.as_of],
    ).set_index("customer_id")["churned"]
    rate = churned.reindex(then.index).fillna(False).groupby(then).mean()
    for group, row in rows.iterrows():
        if group in rate.index:
            assert row["churn_rate_90d"] == pytest.approx(rate[group])
    assert not result.notes


def test_benchmark_rows_cover_a_csms_book_against_the_whole_book(scored_dir):
    wh = _reader(scored_dir)
    owner = wh.scalar("SELECT csm_owner FROM customers GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
    everyone = peers.segment_benchmarks(wh, SYSTEM)
    mine = peers.segment_benchmarks(wh, Viewer(owner, "csm"))
    # The same figures; float sums may differ in the last bit between reads of a parallel engine
    assert mine.book.model_dump() == pytest.approx(everyone.book.model_dump(), rel=1e-12)
    active = wh.scalar(
        "SELECT count(*) FROM customers WHERE csm_owner = ? AND signup_date <= ? AND (churn_date IS NULL OR churn_date > ?)",
        [owner, mine.as_of, mine.as_of],
    )
    plans = mine.rows[mine.rows["dimension"] == "plan_tier"]
    assert plans["accounts"].sum() == active < everyone.book.accounts
    archetypes = mine.rows[mine.rows["dimension"] == "segment"]
    assert 0 < archetypes["accounts"].sum() <= active
    assert owner in mine.scope


def test_segments_given_by_the_caller_get_rows_of_their_own(scored_dir):
    wh = _reader(scored_dir)
    ids = pd.Series([r[0] for r in wh.rows("SELECT customer_id FROM customers ORDER BY customer_id")])
    halves = pd.DataFrame({"customer_id": ids, "archetype": np.where(np.arange(len(ids)) % 2, "odd", "even")})
    result = peers.segment_benchmarks(wh, SYSTEM, segments_at=lambda _day: halves)
    halves_rows = result.rows[result.rows["dimension"] == "segment"]
    assert list(halves_rows["group"]) == ["even", "odd"]
    assert halves_rows["accounts"].sum() == result.book.accounts


def test_a_difference_resting_on_a_handful_of_accounts_is_left_out(scored_dir):
    """A segment of 2 accounts read "churn 0.0%, -6.6 pp vs the book" in green; a 15-month-old
    company's book NRR "-31.5 pp" on last quarter's cohort of 5 first-day accounts."""
    wh = _reader(scored_dir)
    result = peers.segment_benchmarks(wh, SYSTEM)
    ids = pd.Series([r[0] for r in wh.rows("SELECT customer_id FROM customers ORDER BY customer_id")])
    few = pd.DataFrame({"customer_id": ids, "archetype": ["tiny" if i < 12 else "rest" for i in range(len(ids))]})
    tiny = peers.segment_benchmarks(wh, SYSTEM, segments_at=lambda _day: few)
    row = tiny.rows[(tiny.rows["dimension"] == "segment") & (tiny.rows["group"] == "tiny")].iloc[0]
    assert row["churn_rate_90d"] is not None and row["churn_rate_90d_n"] < peers.SMALL_COHORT
    assert pd.isna(row["churn_rate_90d_vs_book"]) and pd.isna(row["churn_rate_90d_vs_prev"])
    big = result.rows[result.rows["churn_rate_90d_n"] >= peers.SMALL_COHORT]
    assert len(big) and big["churn_rate_90d_vs_book"].notna().all()
    assert result.book_change["churn_rate_90d"] == pytest.approx(
        result.book.churn_rate_90d - result.book_previous.churn_rate_90d
    )


# -- CLI --------------------------------------------------------------------------------------------
def test_peers_and_benchmarks_commands_print_the_contracts(scored_dir, capsys):
    wh = _reader(scored_dir)
    cid = _scored_ids(wh, health.latest_scoring_date(wh))[0]
    warehouse.close_all()
    assert cli.main(["--data-dir", str(scored_dir), "peers", cid, "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["customer_id"] == cid and {"level", "keys", "n", "fallback_level"} <= set(body["group"])
    assert {m["metric"] for m in body["metrics"]} == METRIC_KEYS
    assert {"value", "peer_median", "percentile", "direction"} <= set(body["metrics"][0])
    assert cli.main(["--data-dir", str(scored_dir), "peers", cid]) == 0
    assert "better than" in capsys.readouterr().out
    assert cli.main(["--data-dir", str(scored_dir), "benchmarks", "--json"]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert {"book", "book_previous", "rows", "as_of", "previous_as_of"} <= set(bench)
    assert cli.main(["--data-dir", str(scored_dir), "peers", "no-such-id", "--user", "ana", "--role", "csm"]) == 2
    assert "not in your book" in capsys.readouterr().err


def test_the_usage_cell_names_its_unit():
    """ "Usage 776.9 · median 71.6" on a book without seats: events per day, or per seat."""
    from components.account_tools import peer_cell

    for unit in ("events per day", "events per seat"):
        metric = peers.PeerMetric(
            metric="usage", label="Usage", unit=unit, direction="good", value=776.9, peer_median=71.6,
            percentile=1.0, better_than=1.0, peers_with_value=107,
        )  # fmt: skip
        assert f">Usage, {unit}<" in peer_cell(metric) and "776.9 · median 71.6" in peer_cell(metric)


def test_an_account_younger_than_four_weeks_is_measured_over_its_own_days(data_dir_copy):
    """A 5-day-old account's 12 events read 0.4 a day against a median of 6 ('worse than 94% of
    peers'): its events were spread over 28 days it was not yet a customer for."""
    wh = warehouse.get_warehouse(data_dir_copy)
    as_of = health.data_as_of(wh)
    cid = wh.scalar("SELECT customer_id FROM customers WHERE churn_date IS NULL ORDER BY customer_id LIMIT 1")
    with wh.transaction() as cur:
        cur.execute("UPDATE customers SET signup_date = ?::DATE - 6, seats = 10 WHERE customer_id = ?", [as_of, cid])
        cur.execute("DELETE FROM usage_daily WHERE customer_id = ?", [cid])
        cur.execute(
            "INSERT INTO usage_daily SELECT ?, ?::DATE - i::INTEGER, 'login', 10, 5, NULL FROM range(0, 7) t(i)",
            [cid, as_of],
        )
    found = {m.metric: m.value for m in peers.account_position(wh, SYSTEM, cid, as_of).metrics}
    assert found["usage"] == pytest.approx(70 * 28 / 7 / 10)  # events per seat over four weeks, at its pace
    assert found["seat_utilisation"] == pytest.approx(0.5)  # 5 of 10 seats on an average day of its 7
