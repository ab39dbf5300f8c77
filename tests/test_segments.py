"""Behavioural segments: axes read point-in-time, absent data stays absent, archetypes are
stable on unchanged behaviour, their descriptions and findings match their numbers, churn
differs between them, and every surface (engine, CLI, API) is scoped to the viewer's book."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from engine import segments
from engine.api import ratelimit
from engine.api.app import create_app
from engine.auth import keys, users
from engine.churn.features import month_ends
from engine.cli import main as cli_main
from engine.core import store
from engine.core.access import SYSTEM, Viewer
from engine.core.errors import NotFoundError
from engine.data import warehouse
from engine.segments import archetypes as rules
from engine.segments import axes as ax
from engine.segments import book

D = date(2026, 3, 31)
NOT_ENOUGH = rules.NOT_ENOUGH_DATA.name


def classified(wh, dates: list[date]) -> tuple[pd.DataFrame, dict]:
    """Every active account at each date with values, levels and archetype (no cache: a fresh
    computation, as a write session always gets)."""
    return book._books(wh, dates)


def owner_with_most_accounts(wh) -> str:
    return wh.scalar(
        "SELECT csm_owner FROM customers WHERE churn_date IS NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )


# -- the archetype set ----------------------------------------------------------------------------
def test_archetypes_are_a_small_named_set_with_playbooks():
    names = [a.name for a in segments.ARCHETYPES]
    assert 2 <= len(names) <= 12 and len(set(names)) == len(names)
    assert names[:2] == [NOT_ENOUGH, rules.DORMANT.name] and names[-1] == rules.STEADY_CORE.name
    assert len(segments.AXES) == 8
    for archetype in segments.ARCHETYPES:
        assert archetype.description and archetype.playbook.motion and archetype.playbook.channel
        assert len(archetype.playbook.talking_points) >= 2
        for condition in archetype.conditions:
            assert condition.axis in ax.AXIS_KEYS and set(condition.levels) <= set(segments.LEVELS)
            # the description is generated from the rule: it names every condition's axis and level word
            axis = ax.BY_KEY[condition.axis]
            assert axis.label[1:] in archetype.description
            assert all(axis.word(level) in archetype.description for level in condition.levels)


def test_tied_values_share_a_level():
    """Cuts go by mid-rank: a value most accounts share is the middle level, never half low
    and half mid by where a quantile happens to fall."""
    frame = pd.DataFrame(
        {
            "feature_breadth": [7.0] * 90 + [6.0] * 10,  # nearly everyone uses every event type
            "support_intensity": [0.0] * 40 + list(np.linspace(0.1, 3, 60)),  # many accounts without tickets
            "as_of": D,
        }
    )
    cuts = ax.learn_cuts(frame, ("feature_breadth", "support_intensity"), pd.Series(True, index=frame.index))
    levels = ax.levels(frame, {D: cuts})
    assert set(levels.loc[:89, "feature_breadth"]) == {"mid"} and set(levels.loc[90:, "feature_breadth"]) == {"low"}
    assert set(levels.loc[:39, "support_intensity"]) == {"low"}  # no tickets: light
    assert (levels["support_intensity"] == "high").mean() == pytest.approx(0.25, abs=0.02)
    everyone_alike = ax.learn_cuts(frame.assign(feature_breadth=5.0), ("feature_breadth",), frame["as_of"].notna())
    assert everyone_alike["feature_breadth"].low_at_most is None
    assert set(ax.levels(frame.assign(feature_breadth=5.0), {D: everyone_alike})["feature_breadth"]) == {"mid"}


# -- point in time ---------------------------------------------------------------------------------
def test_axes_and_archetypes_at_a_date_ignore_every_later_row(data_dir_copy):
    """Usage, tickets, MRR, signups, churn dates and predictions after D change nothing at D
    (values, cuts, archetypes, the whole report), and do change a later date (the test can fail)."""
    wh = warehouse.get_warehouse(data_dir_copy)  # a write session: never cached
    first = wh.df("SELECT customer_id FROM customers WHERE signup_date < ? ORDER BY customer_id LIMIT 30", [D])
    with wh.transaction() as cur:
        cur.register("_first", first)
        cur.execute(
            "INSERT INTO support_tickets SELECT 'late-' || customer_id, customer_id, TIMESTAMP '2026-03-30 09:00:00', "
            "NULL, 'high', 'bug', 'open', NULL, 'late' FROM _first"
        )
        cur.unregister("_first")
    before, cuts_before = classified(wh, [D])
    report_before = segments.book_segments(wh, SYSTEM, as_of=D)
    some = before["customer_id"].head(60).tolist()
    with wh.transaction() as cur:
        cur.register("_ids", pd.DataFrame({"customer_id": some}))
        cur.execute(
            "INSERT INTO usage_daily SELECT customer_id, DATE '2026-04-01' + i::INTEGER, 'brand_new_type', 5000, 50, 1.0 "
            "FROM _ids, range(0, 60) t(i)"
        )
        cur.execute(
            "INSERT INTO support_tickets SELECT 'future-' || customer_id || '-' || i, customer_id, "
            "TIMESTAMP '2026-04-02 10:00:00' + i * INTERVAL 1 DAY, TIMESTAMP '2026-04-03 10:00:00' + i * INTERVAL 1 DAY, "
            "'urgent', 'bug', 'closed', 1.0, 'later' FROM _ids, range(0, 12) t(i)"
        )
        cur.execute("INSERT INTO mrr_history SELECT customer_id, DATE '2026-04-01', 99999, 'expansion' FROM _ids")
        # tickets opened before D and still open then, closed after D with a CSAT not known at D
        cur.execute(
            "UPDATE support_tickets SET closed_at = TIMESTAMP '2026-04-05 09:00:00', csat = 1.0, status = 'closed' "
            "WHERE ticket_id LIKE 'late-%'"
        )
        cur.execute("UPDATE customers SET churn_date = DATE '2026-07-15' WHERE customer_id IN (SELECT * FROM _ids)")
        cur.execute(
            "INSERT INTO customers (customer_id, name, plan_tier, seats, signup_date, csm_owner, status) "
            "SELECT 'NEW-' || i, 'New ' || i, 'starter', 5, DATE '2026-04-10', 'ana.silva', 'active' FROM range(0, 40) t(i)"
        )
        cur.execute(
            "INSERT INTO predictions (customer_id, as_of, model_version, churn_probability, ci_low, ci_high, scored_at, mrr) "
            "SELECT customer_id, DATE '2026-05-31', 'later', 0.99, 0.98, 1.0, now(), 1 FROM _ids"
        )
        cur.unregister("_ids")
    after, cuts_after = classified(wh, [D])
    pd.testing.assert_frame_equal(before, after)
    assert cuts_before == cuts_after
    assert segments.book_segments(wh, SYSTEM, as_of=D) == report_before
    later, _ = classified(wh, [date(2026, 5, 31)])
    moved = later.set_index("customer_id").loc[some[0]]
    assert moved["support_intensity"] > before.set_index("customer_id").loc[some[0], "support_intensity"]


def test_one_account_and_several_dates_read_the_same_values_as_the_book(generated_dir):
    wh = warehouse.get_warehouse(generated_dir, read_only=True)
    dates = [date(2026, 1, 31), D]
    together = ax.axis_values(wh, dates)
    for d in dates:
        alone = ax.axis_values(wh, [d])
        pd.testing.assert_frame_equal(together[together["as_of"] == d].reset_index(drop=True), alone)
    one = together[together["as_of"] == D].iloc[10]
    mine = ax.axis_values(wh, [D], one["customer_id"])
    pd.testing.assert_series_equal(mine.iloc[0], one, check_names=False)


# -- enough data, foreign data ------------------------------------------------------------------------
def test_young_or_silent_accounts_get_not_enough_data(data_dir_copy):
    wh = warehouse.get_warehouse(data_dir_copy)
    frame, _ = classified(wh, [D])
    established = frame[(frame["tenure_days"] >= 200) & (frame["archetype"] != NOT_ENOUGH)]
    silent, quiet = established["customer_id"].iloc[:2]
    wh.execute("DELETE FROM usage_daily WHERE customer_id = ?", [silent])
    wh.execute("DELETE FROM usage_daily WHERE customer_id = ? AND date > ?::DATE - 56", [quiet, D])
    frame, _ = classified(wh, [D])
    by_id = frame.set_index("customer_id")
    assert by_id.loc[silent, "archetype"] == NOT_ENOUGH  # never used: nothing to read
    assert by_id.loc[quiet, "archetype"] == rules.DORMANT.name  # used before, nothing in 8 weeks
    assert (frame.loc[frame["archetype"] == rules.DORMANT.name, "events_8w"] == 0).all()
    young = frame[frame["tenure_days"] < ax.MIN_TENURE_DAYS]
    assert len(young) and (young["archetype"] == NOT_ENOUGH).all()
    rest = frame[(frame["tenure_days"] >= ax.MIN_TENURE_DAYS) & frame["has_usage"]]
    assert (rest["archetype"] != NOT_ENOUGH).all()


def test_axes_whose_data_was_not_loaded_are_absent_and_the_rest_still_form(data_dir_copy):
    """A company that exported customers, subscriptions (MRR) and events only, like ChurnSim:
    no seats, no tickets, no CSAT, no pipeline, no risk signals, no scores."""
    wh = warehouse.get_warehouse(data_dir_copy)
    with wh.transaction() as cur:
        for table in ("support_tickets", "gtm_opportunities", "risk_signals", "predictions", "ground_truth"):
            cur.execute(f"DELETE FROM {table}")
        cur.execute("UPDATE customers SET seats = NULL, industry = NULL, region = NULL")
    gone = {"seat_utilisation", "support_intensity", "sentiment"}
    report = segments.book_segments(wh, SYSTEM, as_of=D)
    assert set(report.absent_axes) == gone
    assert {c.axis for c in report.axes} == set(ax.AXIS_KEYS) - gone
    frame = segments.segment_of_accounts(wh, SYSTEM, as_of=D)
    for key in gone:
        assert frame[key].isna().all()  # absent, not "low"
    by_name = {a.name: a for a in report.archetypes}
    for archetype in segments.ARCHETYPES:
        stats = by_name[archetype.name]
        if set(archetype.axes) & gone:
            assert stats.missing_axes and stats.accounts == 0
        else:
            assert not stats.missing_axes
    formed = [a for a in report.archetypes if a.accounts > 0 and a.name != NOT_ENOUGH]
    assert len(formed) >= 5, [a.name for a in formed]
    assert all(a.ltv_12m is None for a in report.archetypes)  # no predictions loaded: no LTV, not zero


# -- meaning ------------------------------------------------------------------------------------------
def test_members_meet_their_archetype_rule_and_claims_hold(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    report = segments.book_segments(wh, SYSTEM)
    frame, calibrations = classified(wh, [report.as_of])
    levels = frame[[f"{k}_level" for k in ax.AXIS_KEYS]].set_axis(list(ax.AXIS_KEYS), axis=1)
    earlier = pd.Series(False, index=frame.index)
    for archetype in segments.ARCHETYPES:
        members = frame["archetype"] == archetype.name
        if archetype.kind == "rule":
            hits = rules.matches(archetype, levels)
            assert hits[members].all(), archetype.name  # every member meets every condition
            assert not (members & earlier).any()  # and none matched an earlier archetype
            earlier |= hits

    # the plain words of the glosses hold on the values
    def values(name: str, key: str) -> pd.Series:
        return frame.loc[frame["archetype"] == name, key]

    assert (values("Contracting", "commercial_momentum") < 0).all()
    assert (values("Expanding", "commercial_momentum") > 0).all()
    for name in ("Quiet and at risk", "Drifting power users", "Cooling off"):
        assert (values(name, "engagement_trend") < 0).all()
    assert (values("New and ramping", "engagement_trend") > 0).all()
    assert values("Quiet and at risk", "seat_utilisation").max() < frame["seat_utilisation"].median(skipna=True)
    # cuts are exposed and are the ones the levels were read with
    exposed = {c.axis: (c.low_at_most, c.high_above) for c in report.axes}
    learned = calibrations[report.as_of].cuts
    assert exposed == {k: (c.low_at_most, c.high_above) for k, c in learned.items()}
    # findings are true of the numbers they come from
    rated = [a for a in report.archetypes if a.churn_rate is not None and a.name != NOT_ENOUGH]
    for a in report.archetypes:
        for finding in a.findings:
            if finding.startswith("Highest 90-day churn"):
                assert a.churn_rate == max(r.churn_rate for r in rated)
            elif finding.startswith("Lowest 90-day churn"):
                assert a.churn_rate == min(r.churn_rate for r in rated)
            elif finding.startswith("Churns more than the book"):
                assert a.churn_rate_interval.lower > report.book_churn_rate
            elif finding.startswith("Churns less than the book"):
                assert a.churn_rate_interval.upper < report.book_churn_rate
            elif "net revenue retention" in finding:
                nrrs = [r.nrr for r in report.archetypes if r.nrr is not None and r.name != NOT_ENOUGH]
                assert a.nrr == (max(nrrs) if finding.startswith("Highest") else min(nrrs))
            else:
                raise AssertionError(f"a finding no test checks: {finding}")


def test_churn_rates_differ_between_archetypes(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    report = segments.book_segments(wh, SYSTEM)
    assert report.outcome_months and all(m <= report.as_of for m in report.outcome_months)
    spread = report.churn_spread()
    assert spread is not None
    low, high = spread
    print(
        f"\nchurn spread {low.name} {low.churn_rate:.3f} [{low.churn_rate_interval.lower:.3f}, "
        f"{low.churn_rate_interval.upper:.3f}] .. {high.name} {high.churn_rate:.3f} "
        f"[{high.churn_rate_interval.lower:.3f}, {high.churn_rate_interval.upper:.3f}]"
    )
    assert high.churn_rate_interval.lower > low.churn_rate_interval.upper  # separated beyond noise
    for a in report.archetypes:
        if a.churn_rate is not None:
            band = a.churn_rate_interval
            assert 0 <= band.lower <= a.churn_rate <= band.upper <= 1 and band.level == 0.9
            assert a.churned <= a.churn_observations


def test_interval_widens_when_an_account_is_seen_at_several_month_ends():
    one_each = pd.DataFrame({"customer_id": [f"c{i}" for i in range(400)], "churned": [1] * 40 + [0] * 360})
    repeated = pd.concat([one_each] * 4, ignore_index=True)  # the same accounts at four month ends
    rate, lo, hi, n, churned = book.clustered_rate(one_each)
    rate4, lo4, hi4, n4, churned4 = book.clustered_rate(repeated)
    assert rate == rate4 == 0.1 and n4 == 4 * n and churned4 == 4 * churned
    assert hi4 - lo4 == pytest.approx(hi - lo, rel=0.05)  # four looks at 400 accounts are not 1,600 accounts
    assert book.wilson(0.0, 50)[0] == 0.0 and book.wilson(0.0, 50)[1] > 0


def test_archetypes_are_stable_when_behaviour_holds(generated_dir):
    """Between consecutive month ends, accounts whose every axis value moved by less than half
    the width of its mid band (the distance between its cuts) keep their archetype."""
    wh = warehouse.get_warehouse(generated_dir, read_only=True)
    ends = month_ends(date(2025, 7, 1), date(2026, 6, 30))
    frame, calibrations = classified(wh, ends)
    kept = total = agreed_all = seen_all = 0
    for first, second in zip(ends, ends[1:], strict=False):
        a = frame[frame["as_of"] == first].set_index("customer_id")
        b = frame[frame["as_of"] == second].set_index("customer_id")
        ids = a.index.intersection(b.index)
        a, b = a.loc[ids], b.loc[ids]
        judged = (a["archetype"] != NOT_ENOUGH) & (b["archetype"] != NOT_ENOUGH)
        steady = judged.copy()
        for key, cut in calibrations[first].cuts.items():
            band = cut.high_above - (cut.low_at_most if cut.low_at_most is not None else cut.high_above)
            moved = (b[key].astype(float) - a[key].astype(float)).abs()
            steady &= (moved <= 0.5 * band) | (a[key].isna() & b[key].isna())
        same = a["archetype"] == b["archetype"]
        kept += int(same[steady].sum())
        total += int(steady.sum())
        agreed_all += int(same[judged].sum())
        seen_all += int(judged.sum())
    print(
        f"\nmonth-to-month: {kept / total:.1%} of {total:,} steady account-months keep their archetype; "
        f"{agreed_all / seen_all:.1%} of all {seen_all:,}"
    )
    assert total >= 500
    assert kept / total >= 0.8


# -- scoping, one account ---------------------------------------------------------------------------
def test_a_csm_sees_the_book_statistics_but_only_their_accounts(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    owner = owner_with_most_accounts(wh)
    csm = Viewer(owner, "csm")
    everyone = segments.book_segments(wh, SYSTEM)
    mine = segments.book_segments(wh, csm)
    assert mine.accounts < everyone.accounts and mine.accounts == sum(a.accounts for a in mine.archetypes)
    for a, b in zip(everyone.archetypes, mine.archetypes, strict=True):
        assert (a.churn_rate, a.nrr, a.ltv_12m) == (b.churn_rate, b.nrr, b.ltv_12m)
        assert b.accounts <= a.accounts
    assert owner in mine.scope
    frame = segments.segment_of_accounts(wh, csm)
    owners = wh.df("SELECT customer_id, csm_owner FROM customers").set_index("customer_id")["csm_owner"]
    assert len(frame) == mine.accounts and (frame["customer_id"].map(owners) == owner).all()
    assert list(frame.columns) == ["customer_id", "archetype", *ax.AXIS_KEYS]
    other = owners[(owners != owner) & owners.index.isin(segments.segment_of_accounts(wh, SYSTEM)["customer_id"])]
    with pytest.raises(NotFoundError):
        segments.account_segment(wh, csm, other.index[0])
    with pytest.raises(NotFoundError):
        segments.account_segment(wh, csm, "no-such-account")


def test_one_account_has_its_archetype_levels_and_history(scored_dir):
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    board = segments.segment_of_accounts(wh, SYSTEM).set_index("customer_id")
    judged = board[board["archetype"] != NOT_ENOUGH]
    cid = judged.index[len(judged) // 2]
    seg = segments.account_segment(wh, SYSTEM, cid)
    assert seg.archetype == board.loc[cid, "archetype"]
    assert seg.playbook == rules.BY_NAME[seg.archetype].playbook and seg.description
    assert [r.axis for r in seg.axes] == list(ax.AXIS_KEYS)  # the scored demo has every axis
    cuts = {c.axis: c for c in segments.axis_cuts(wh)}
    for reading in seg.axes:
        expected = board.loc[cid, reading.axis]
        assert reading.level == (expected if isinstance(expected, str) else None)
        assert (reading.low_at_most, reading.high_above) == (
            cuts[reading.axis].low_at_most,
            cuts[reading.axis].high_above,
        )
    assert 1 <= len(seg.history) <= 6
    dates = [p.as_of for p in seg.history]
    assert dates == sorted(dates) and dates[-1] < seg.as_of
    assert all(p.archetype in rules.NAMES for p in seg.history)
    past, _ = classified(wh, [dates[-1]])
    assert past.set_index("customer_id").loc[cid, "archetype"] == seg.history[-1].archetype
    churned = wh.scalar(
        "SELECT customer_id FROM customers WHERE churn_date IS NOT NULL ORDER BY churn_date DESC LIMIT 1"
    )
    gone = segments.account_segment(wh, SYSTEM, churned)
    assert gone.archetype is None and gone.note


# -- CLI and API --------------------------------------------------------------------------------------
def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(list(args))
    return code, out.getvalue()


def test_cli_prints_the_archetypes_as_json_and_as_a_table(scored_dir):
    code, text = run_cli("--data-dir", str(scored_dir), "segments", "--json")
    assert code == 0
    body = json.loads(text)
    assert len(body["archetypes"]) == len(segments.ARCHETYPES)
    for a in body["archetypes"]:
        assert {"name", "description", "accounts", "churn_rate", "churn_rate_interval", "nrr", "ltv_12m"} <= set(a)
        assert {"motion", "talking_points", "channel"} <= set(a["playbook"])
    assert sum(a["accounts"] for a in body["archetypes"]) == body["accounts"]
    code, text = run_cli("--data-dir", str(scored_dir), "segments", "--as-of", "2026-05-31")
    assert code == 0 and "Segments as of 2026-05-31" in text and "Churn spread:" in text
    assert "Steady core" in text and "Playbook:" in text


@pytest.fixture(scope="module")
def api(scored_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("segments-api") / "data"
    shutil.copytree(scored_dir, data)
    owner = owner_with_most_accounts(warehouse.get_warehouse(data, read_only=True))
    warehouse.close_all()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "BCRYPT_ROUNDS", 4)
        users.add_user(owner, "tide-lantern-42", "csm", data_dir=data)
    secrets = {
        name: keys.create_key(name, role, owner=who, scopes=scopes, created_by="tests", data_dir=data)[1]
        for name, role, who, scopes in (
            ("admin-key", "admin", None, None),
            ("csm-key", "csm", owner, None),
            ("forecasts-only", "analyst", None, ["forecasts:read"]),
        )
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ratelimit.RATE_LIMIT_ENV, "100000")
        with TestClient(create_app(data), raise_server_exceptions=False) as client:
            yield client, {k: {"Authorization": f"Bearer {v}"} for k, v in secrets.items()}, owner, data
    store.dispose_all()


def test_api_serves_segments_scoped_to_the_key(api):
    client, headers, owner, data = api
    everyone = client.get("/v1/segments", headers=headers["admin-key"])
    assert everyone.status_code == 200, everyone.text
    mine = client.get("/v1/segments", headers=headers["csm-key"]).json()
    assert mine["accounts"] < everyone.json()["accounts"]
    assert [a["churn_rate"] for a in mine["archetypes"]] == [a["churn_rate"] for a in everyone.json()["archetypes"]]
    assert client.get("/v1/segments", headers=headers["forecasts-only"]).status_code == 403
    assert client.get("/v1/segments").status_code == 401
    assert client.get("/v1/segments?as_of=2999-01-01", headers=headers["admin-key"]).status_code == 422

    wh = warehouse.get_warehouse(data, read_only=True)
    owners = wh.df("SELECT customer_id, csm_owner FROM customers WHERE churn_date IS NULL")
    own = owners.loc[owners["csm_owner"] == owner, "customer_id"].iloc[0]
    other = owners.loc[owners["csm_owner"] != owner, "customer_id"].iloc[0]
    seg = client.get(f"/v1/customers/{own}/segment", headers=headers["csm-key"])
    assert seg.status_code == 200, seg.text
    body = seg.json()
    assert body["customer_id"] == own and len(body["history"]) <= 6
    assert {"archetype", "axes", "history", "playbook"} <= set(body)
    assert client.get(f"/v1/customers/{other}/segment", headers=headers["csm-key"]).status_code == 404
    assert client.get(f"/v1/customers/{other}/segment?months=2", headers=headers["admin-key"]).json()["history"]
    warehouse.close_all()


def test_kept_answers_equal_fresh_ones(scored_dir):
    """A published snapshot's book and cuts are kept between calls; kept answers are computed ones."""
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    cid = segments.segment_of_accounts(wh, SYSTEM)["customer_id"].iloc[5]
    kept = (segments.segment_of_accounts(wh, SYSTEM), segments.account_segment(wh, SYSTEM, cid))
    book._frames.clear()
    book._calibrations.clear()
    fresh = (segments.segment_of_accounts(wh, SYSTEM), segments.account_segment(wh, SYSTEM, cid))
    pd.testing.assert_frame_equal(kept[0], fresh[0])
    assert kept[1] == fresh[1]


def test_segments_at_several_dates_equal_each_date_alone(scored_dir):
    """The benchmarks classify six dates in one pass; each date's answer is the per-date one,
    for the whole book and for one CSM's."""
    wh = warehouse.get_warehouse(scored_dir, read_only=True)
    dates = [date(2025, 12, 31), date(2026, 1, 15), D]
    for viewer in (SYSTEM, Viewer(owner_with_most_accounts(wh), "csm")):
        together = segments.segments_at_dates(wh, viewer, dates)
        assert sorted(together) == dates
        book._frames.clear()
        for d in dates:
            pd.testing.assert_frame_equal(together[d], segments.segment_of_accounts(wh, viewer, d))
