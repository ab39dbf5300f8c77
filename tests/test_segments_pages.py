"""Behavioural segments where people work: the risk board's Segment column and filter, the
overview's segment breakdown and benchmarks, segment as a scenario filter (engine, CLI, API,
page), and the archetype as a grounded fact of the AI texts. CSMs see only their own book."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from components import segment_overview as seg
from components.shared import auth
from engine import cli, scenarios, segments
from engine.accounts import board, peers
from engine.ai import ask_customer, guardrails, load_facts, next_best_actions, prompts, summarize
from engine.api.app import create_app
from engine.auth import keys
from engine.core import store
from engine.core.access import SYSTEM, Viewer
from engine.core.errors import BadInputError
from engine.data import warehouse
from tests.apptest import open_page

ROOT = Path(__file__).resolve().parents[1]
EXEC = Viewer("exec", "executive")
ANALYST = Viewer("analyst", "analyst")
CSM = auth.TEST_VIEWERS["csm"]  # ana.silva, a CSM of the generated data


@pytest.fixture
def wh(scored_dir):
    return warehouse.get_warehouse(scored_dir, read_only=True)


@pytest.fixture
def frame(wh):
    return board.with_segments(wh, EXEC, board.board_frame(wh, EXEC))


def _busiest_segment(frame: pd.DataFrame, owner: str | None = None) -> str:
    """The most common segment other than the catch-all ones (of one owner's rows)."""
    rows = frame if owner is None else frame[frame["csm_owner"] == owner]
    counts = rows["archetype"].value_counts()
    return str(next(name for name in counts.index if name not in ("Steady core", "Not enough data")))


# -- the board's frame -----------------------------------------------------------------------------
def test_board_rows_carry_the_archetype_the_segments_engine_assigns(wh, frame):
    assigned = segments.segment_of_accounts(wh, EXEC).set_index("customer_id")["archetype"]
    assert frame["archetype"].notna().mean() > 0.95  # scored accounts still active today
    known = frame.dropna(subset=["archetype"])
    assert (known["archetype"] == known["customer_id"].map(assigned)).all()
    assert set(known["archetype"]) <= {a.name for a in segments.ARCHETYPES}
    # Options follow the archetypes' own order; counts are the rows'.
    options = board.filter_options(frame)["segments"]
    order = [a.name for a in segments.ARCHETYPES]
    rated = [o for o in options if o != "Not enough data"]
    assert rated == sorted(rated, key=order.index) and set(options) == set(known["archetype"])
    assert "Not enough data" not in options or options[-1] == "Not enough data"
    assert sum(board.segment_counts(frame).values()) == len(known)


def test_the_segment_filter_narrows_the_rows_and_combines_with_the_others(frame):
    name = _busiest_segment(frame)
    hit = board.filter_board(frame, board.BoardFilters(segments=(name,)))
    assert 0 < len(hit) < len(frame) and set(hit["archetype"]) == {name}
    both = board.filter_board(frame, board.BoardFilters(segments=(name,), tiers=("low",)))
    assert set(both["risk_tier"]) <= {"low"} and set(both["archetype"]) <= {name}
    assert len(both) == ((frame["archetype"] == name) & (frame["risk_tier"] == "low")).sum()
    page = board.page_of(frame, board.BoardFilters(segments=(name,)), page_size=10)
    assert page.total == len(hit) and "archetype" in board.export_frame(page.matching)
    with pytest.raises(BadInputError, match="segments"):
        board.filter_board(frame.drop(columns="archetype"), board.BoardFilters(segments=(name,)))


def test_a_csm_board_carries_only_their_own_accounts_segments(wh, frame):
    mine = board.with_segments(wh, CSM, board.board_frame(wh, CSM))
    assert len(mine) and set(mine["csm_owner"]) == {CSM.username}
    own = frame[frame["csm_owner"] == CSM.username].set_index("customer_id")["archetype"]
    assert mine.set_index("customer_id")["archetype"].equals(own.loc[mine["customer_id"]])
    assert board.segment_counts(mine) == {str(k): int(v) for k, v in own.value_counts().items()}


# -- risk board page -------------------------------------------------------------------------------
def _board_table(at):
    return at.dataframe[0]


def test_board_page_shows_a_segment_column_and_the_filter_narrows_the_rows(scored_dir, frame, monkeypatch):
    at = open_page("risk_board", "analyst", data=scored_dir, monkeypatch=monkeypatch)
    table = _board_table(at)
    order = list(table.proto.column_order)
    assert order.index("archetype") == 8  # right after what a CSM acts on; the first eight fit 1280 px
    assert json.loads(table.proto.columns)["archetype"]["label"] == "Segment"
    picker = next(m for m in at.multiselect if m.label == "Segment")
    assert picker.options == [f"{s} ({n:,})" for s, n in _options_with_counts(frame)]
    name = _busiest_segment(frame)
    picker.select(name).run()
    assert not at.exception and not at.error
    expected = int((frame["archetype"] == name).sum())
    cards = {m.label: m.value for m in at.metric}
    assert cards["Matching accounts"] == f"{expected:,}"
    assert set(_board_table(at).value["archetype"]) == {name}


def _options_with_counts(frame: pd.DataFrame) -> list[tuple[str, int]]:
    counts = board.segment_counts(frame)
    return [(s, counts[s]) for s in board.filter_options(frame)["segments"]]


def test_csm_board_offers_only_the_segments_of_their_book_with_their_counts(scored_dir, wh, monkeypatch):
    at = open_page("risk_board", "csm", data=scored_dir, monkeypatch=monkeypatch)
    mine = board.with_segments(wh, CSM, board.board_frame(wh, CSM))
    picker = next(m for m in at.multiselect if m.label == "Segment")
    assert picker.options == [f"{s} ({n:,})" for s, n in _options_with_counts(mine)]
    assert not any(m.label == "Owner" for m in at.multiselect)
    name = board.filter_options(mine)["segments"][0]
    picker.select(name).run()
    shown = _board_table(at).value
    assert set(shown["csm_owner"]) == {CSM.username} and set(shown["archetype"]) == {name}
    cards = {m.label: m.value for m in at.metric}
    assert cards["Matching accounts"] == f"{int((mine['archetype'] == name).sum()):,}"


# -- overview --------------------------------------------------------------------------------------
def _table(at, name: str) -> list[list[str]]:
    """The overview's HTML table `name` as rows of cell texts, the headings first."""
    found = next(m.value for m in at.markdown if f"data-radar-table='{name}'" in m.value)
    rows = re.findall(r"<tr>(.*?)</tr>", found)
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)] for r in rows
    ]


def test_overview_shows_the_segment_breakdown_and_benchmarks_to_an_executive(scored_dir, wh, monkeypatch):
    at = open_page("overview", "executive", data=scored_dir, monkeypatch=monkeypatch)
    assert "Behavioural segments" in [s.value for s in at.subheader]
    report = segments.book_segments(wh, EXEC)
    breakdown = seg.breakdown_frame(report)
    table = _table(at, "segments")
    shown = [a for a in report.archetypes if a.accounts]
    assert sorted(breakdown["segment"]) == sorted(a.name for a in shown)
    assert breakdown["segment"].iloc[-1] == "Not enough data" or "Not enough data" not in set(breakdown["segment"])
    assert [r[0] for r in table[1:]] == list(breakdown["segment"])  # every segment, in the report's order
    row = breakdown.set_index("segment").loc[shown[0].name]
    assert row["accounts"] == shown[0].accounts and row["arr"] == pytest.approx(shown[0].mrr * 12)
    assert row["churn_rate"] == pytest.approx(shown[0].churn_rate)
    assert breakdown["accounts"].sum() == report.accounts
    first = next(r for r in table[1:] if r[0] == shown[0].name)
    assert first[1] == seg.fmt.count(shown[0].accounts) and first[2] == seg.fmt.money(shown[0].mrr * 12)
    # Benchmarks: the whole book first, then every segment, each with its differences.
    bench = _table(at, "benchmarks-segment")
    head = bench[0]
    assert bench[1][0] == "Whole book" and bench[1][head.index("Churn, 90 d") + 1] == "—"
    expected = peers.segment_benchmarks(wh, EXEC)
    seg_rows = expected.rows[expected.rows["dimension"] == "segment"]
    assert {r[0] for r in bench[2:]} == set(seg_rows["group"])
    first = seg_rows.set_index("group").loc[bench[2][0]]
    assert bench[2][head.index("Churn, 90 d") + 1] == seg.fmt.percent_points(first["churn_rate_90d_vs_book"])
    # By plan, in the next tab.
    assert [t.label for t in at.tabs][-2:] == ["Segments", "Plans"]
    plans = _table(at, "benchmarks-plan-tier")
    assert plans[0][0] == "Plan" and [r[0] for r in plans[2:]] == [
        p.capitalize() for p in ("starter", "growth", "enterprise") if p in set(expected.rows["group"])
    ]
    labels = [b.label for b in at.get("download_button")]
    assert "Segments" in labels and "Segment benchmarks" in labels


def test_the_overview_and_its_segments_stay_closed_to_a_csm(scored_dir, monkeypatch):
    """Not in a CSM's menu, and the page itself refuses a CSM who reaches it (a deep link)."""
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_dir))
    at = AppTest.from_file(str(ROOT / "views" / "overview.py"), default_timeout=120)
    auth.log_in(at.session_state, CSM)
    at.run()
    assert not at.exception and "cannot open this page" in at.error[0].value
    assert "Behavioural segments" not in [s.value for s in at.subheader] and not any(
        "data-radar-table" in m.value for m in at.markdown
    )


def test_benchmark_rows_colour_only_real_differences():
    bench = peers.SegmentBenchmarks(
        as_of="2026-06-30",
        previous_as_of="2026-03-30",
        book=peers.BenchmarkFigures(accounts=100, churn_rate_90d=0.10, nrr_12m=1.0, ltv_12m=1000.0),
        book_previous=peers.BenchmarkFigures(accounts=90, churn_rate_90d=0.12, nrr_12m=1.0, ltv_12m=900.0),
        book_change={"churn_rate_90d": -0.02, "nrr_12m": 0.0, "ltv_12m": 100.0},
        rows=pd.DataFrame(
            [
                {"dimension": "segment", "group": "Contracting", "accounts": 10, "accounts_prev": 8}
                | {"churn_rate_90d": 0.2, "churn_rate_90d_prev": 0.1, "churn_rate_90d_vs_book": 0.1}
                | {"churn_rate_90d_vs_prev": 0.1, "nrr_12m": 1.0, "nrr_12m_prev": 1.0, "nrr_12m_vs_book": 0.0}
                | {"nrr_12m_vs_prev": 0.0, "ltv_12m": 500.0, "ltv_12m_prev": 400.0, "ltv_12m_vs_book": -500.0}
                | {"ltv_12m_vs_prev": 100.0}
            ]
        ),
        scope="the whole book",
    )
    rows = seg.benchmark_rows(bench, "segment")
    assert list(rows["group"]) == ["Whole book", "Contracting"]
    assert rows["churn_rate_90d_vs_prev"].iloc[0] == pytest.approx(-0.02)
    shown, tones = seg.benchmark_display(rows)
    assert shown["churn_rate_90d_vs_book"].iloc[0] == "—"
    assert tones["churn_rate_90d_vs_book"][1] == seg.BAD_TEXT  # more churn than the book: worse
    assert tones["churn_rate_90d_vs_prev"][0] == seg.GOOD_TEXT  # the book churns less than last quarter
    assert tones["nrr_12m_vs_book"][1] == ""  # no difference, no colour
    assert tones["ltv_12m_vs_book"][1] == seg.BAD_TEXT and tones["ltv_12m_vs_prev"][1] == seg.GOOD_TEXT
    table = seg.benchmark_html(rows, "segment")
    assert f"color:{seg.BAD_TEXT}" in table and f"color:{seg.GOOD_TEXT}" in table


# -- scenarios -------------------------------------------------------------------------------------
def test_a_plan_narrowed_to_a_segment_reaches_only_its_accounts(wh, scored_dir, frame):
    name = _busiest_segment(frame)
    members = set(frame.loc[frame["archetype"] == name, "customer_id"])
    plan = scenarios.plan_from_dict(
        {
            "discount": {"percent": 10.0, "segment": {"segments": [name.lower()]}},  # any case
            "outreach": {"top_n": 10_000, "churn_reduction": 20.0, "segment": {"segments": [name]}},
        }
    )
    assert plan.discount.segment.segments == (name,)
    result = scenarios.simulate(wh, plan, ANALYST, scored_dir)
    levers = {e.lever: e for e in result.levers}
    assert levers["discount"].accounts == len(members) and levers["outreach"].accounts == len(members)
    assert name in levers["discount"].segment
    # Only the segment's accounts moved: what was retained is theirs alone.
    base = scenarios.load_baseline(wh, ANALYST, scored_dir).frame
    lost = base.loc[base["customer_id"].isin(members)]
    expected = (lost["churn_probability"] * lost["mrr"] * 12).sum()
    assert result.baseline.arr_lost_12m - result.scenario.arr_lost_12m == pytest.approx(
        expected - expected * (1 - 1.5 * 0.10) * (1 - 0.20), rel=1e-6
    )


def test_an_unknown_segment_is_refused_with_the_known_ones_named():
    with pytest.raises(BadInputError, match=r"Renewal discount: unknown behavioural segment\(s\): 'Whales'") as caught:
        scenarios.plan_from_dict({"discount": {"percent": 5.0, "segment": {"segments": ["Whales"]}}})
    assert "Power users" in str(caught.value) and "Steady core" in str(caught.value)
    with pytest.raises(BadInputError, match="must be a list of names"):
        scenarios.plan_from_dict({"discount": {"segment": {"segments": "Power users"}}})
    # Keys and any case name the same archetype.
    segment = scenarios.Segment(segments=("power_users", "POWER USERS"))
    assert segment.segments == ("Power users",) and "behavioural segment Power users" in segment.describe()


def test_a_pure_run_without_segments_in_the_baseline_says_what_to_do(wh, scored_dir):
    base = scenarios.load_baseline(wh, ANALYST, scored_dir)
    plan = scenarios.plan_from_dict({"discount": {"percent": 5.0, "segment": {"segments": ["Power users"]}}})
    with pytest.raises(BadInputError, match="simulate"):
        scenarios.run(base, plan)


def test_cli_segment_option_narrows_every_lever(scored_dir, frame, capsys):
    name = _busiest_segment(frame)
    count = int((frame["archetype"] == name).sum())
    args = ["--data-dir", str(scored_dir), "scenario", "run", "--discount", "5", "--segment", name, "--json"]
    assert cli.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["plan"]["discount"]["segment"]["segments"] == [name]
    assert next(e for e in result["levers"] if e["lever"] == "discount")["accounts"] == count
    # A lever's own segment= key wins over --segment.
    other = next(s for s in board.filter_options(frame)["segments"] if s != name)
    args[-1:] = ["--discount-segment", f"segment={other}", "--json"]
    assert cli.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["plan"]["discount"]["segment"]["segments"] == [other]
    assert cli.main(["--data-dir", str(scored_dir), "scenario", "run", "--segment", "Whales"]) == 2
    assert "not a behavioural segment" in capsys.readouterr().err


def test_the_api_takes_segments_in_the_plan_body(scored_dir, frame, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(scored_dir, data)
    secret = keys.create_key("analyst-key", "analyst", created_by="tests", data_dir=data)[1]
    headers = {"Authorization": f"Bearer {secret}"}
    name = _busiest_segment(frame)
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    try:
        with TestClient(create_app(data), raise_server_exceptions=False) as client:
            body = {"outreach": {"top_n": 10_000, "churn_reduction": 10, "segment": {"segments": [name]}}}
            result = client.post("/v1/scenarios/run", json=body, headers=headers).json()
            outreach = next(e for e in result["levers"] if e["lever"] == "outreach")
            assert outreach["accounts"] == int((frame["archetype"] == name).sum())
            refused = client.post(
                "/v1/scenarios/run", json={"outreach": {"segment": {"segments": ["Whales"]}}}, headers=headers
            )
            assert refused.status_code == 422 and "unknown behavioural segment" in refused.json()["detail"]
    finally:
        store.dispose_all()


def test_scenario_form_offers_the_segments_of_the_book(scored_dir, frame, monkeypatch):
    data = scored_dir
    at = open_page("scenarios", "analyst", data=data, monkeypatch=monkeypatch)
    picker = at.multiselect(key="sc0_discount_seg_segments")
    assert picker.label == "Behavioural segment"
    assert picker.options == board.filter_options(frame)["segments"]


# -- AI facts --------------------------------------------------------------------------------------
def _scored_active(wh) -> str:
    return wh.scalar(
        "SELECT p.customer_id FROM predictions p JOIN customers c USING (customer_id) "
        "WHERE c.status = 'active' ORDER BY p.churn_probability DESC LIMIT 1"
    )


@pytest.fixture
def no_groq(monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)


def test_the_archetype_and_its_playbook_are_facts(wh, no_groq):
    cid = _scored_active(wh)
    facts = load_facts(wh, cid, SYSTEM)
    assigned = segments.segment_of_accounts(wh, SYSTEM).set_index("customer_id")["archetype"]
    assert facts.segment is not None and facts.segment.archetype == assigned[cid]
    archetype = next(a for a in segments.ARCHETYPES if a.name == facts.segment.archetype)
    assert facts.segment.motion == archetype.playbook.motion and facts.segment.description == archetype.description
    assert facts.as_dict()["segment"]["archetype"] == archetype.name
    block = prompts.facts_block(facts)
    assert f"behavioural segment: {archetype.name}" in block and archetype.playbook.motion in block
    # Figures in the archetype's own words are grounded ("younger than 60 days").
    grounding = guardrails.grounding_from_facts(facts)
    text = f"{facts.name} is in the {archetype.name} segment. {archetype.description} {archetype.playbook.motion}"
    assert guardrails.check(text, grounding).codes == []


@pytest.mark.parametrize("audience", ["csm", "executive"])
def test_an_offline_summary_names_the_accounts_archetype(wh, scored_dir, audience, no_groq):
    cid = _scored_active(wh)
    archetype = load_facts(wh, cid, SYSTEM).segment.archetype
    result = summarize(wh, cid, audience, SYSTEM, client=None, data_dir=scored_dir)
    body = guardrails.strip_disclaimer(result.summary)
    assert archetype in body
    assert not result.guardrail_flags and 3 <= len(guardrails.sentences(body)) <= 5


def test_offline_answers_and_actions_use_the_segment_playbook(wh, scored_dir, no_groq):
    cid = _scored_active(wh)
    segment = load_facts(wh, cid, SYSTEM).segment
    answer = ask_customer(
        wh, cid, "Which segment is this account in, and what is its playbook?", SYSTEM, client=None, data_dir=scored_dir
    )
    assert not answer.scope_exceeded and segment.archetype in answer.answer and not answer.guardrail_flags
    plan = next_best_actions(wh, cid, SYSTEM, client=None, data_dir=scored_dir)
    assert f"{segment.archetype} playbook: {segment.motion}" in plan.talking_points
    assert not plan.guardrail_flags


def test_a_csm_reads_segment_facts_only_for_their_own_accounts(wh, no_groq):
    mine = board.board_frame(wh, CSM)["customer_id"].iloc[0]
    assert load_facts(wh, mine, CSM).segment is not None
    other = wh.scalar(
        "SELECT customer_id FROM customers WHERE csm_owner <> ? AND status = 'active' LIMIT 1", [CSM.username]
    )
    with pytest.raises(Exception, match="not in your book"):
        load_facts(wh, other, CSM)


def test_a_young_accounts_engagement_trend_says_what_it_compares():
    # An 8-day-old account read "rising (high) 263× the 8 weeks before": weeks before it signed up.
    import math
    from datetime import date

    from components import segment_view
    from engine.segments import AccountSegment, AxisReading

    def reading(axis: str, value: float, level: str) -> AxisReading:
        return AxisReading(axis=axis, label=axis, unit="", value=value, level=level, word=level)

    for months, young in ((8 / 30.4375, True), (7.0, False)):
        seg = AccountSegment(
            customer_id="c1",
            as_of=date(2026, 12, 3),
            archetype=None,
            archetype_key=None,
            description=None,
            playbook=None,
            history=(),
            axes=(reading("engagement_trend", math.log(263), "high"), reading("lifecycle", months, "low")),
        )
        value = segment_view.axes_frame(seg, {})["Value"].iloc[0]
        assert value.startswith("263× the 8 weeks before")
        assert ("before signup" in value) is young


def test_axis_values_read_as_written_english():
    # A 22-day-old account's lifecycle read "1 months", and one month end "the last 1 month ends".
    from components import segment_view

    assert [segment_view.axis_value("lifecycle", m) for m in (0.72, 1.2, 0.2, 14.0)] == [
        "1 month",
        "1 month",
        "under 1 month",
        "14 months",
    ]
    assert segment_view.axis_value("lifecycle", 21.0, unit=False) == "21"
    assert segment_view.axis_value("lifecycle", None) == "no value"
