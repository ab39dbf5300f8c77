"""One amount, one text: a figure reads the same on the risk board, in Customer 360, in a
scenario's readout, on the Scenarios page and on the command line (all of them format money
with engine.core.formatting, which components.shared.format re-exports)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.shared import auth
from components.shared import format as fmt
from engine import cli, scenarios
from engine.accounts import board
from engine.core import formatting, store
from engine.core.access import Viewer
from engine.data import warehouse
from tests.apptest import open_page

EXEC = Viewer("exec", "executive")
ANALYST = auth.TEST_VIEWERS["analyst"]
# A plan every place can be given: call the 50 riskiest accounts, cut their churn by a fifth, $250 each.
OUTREACH = {"top_n": 50, "churn_reduction": 20.0, "cost_per_account": 250.0}
OUTREACH_ARGS = ["--outreach-top", "50", "--outreach-reduction", "20", "--outreach-cost", "250"]


@pytest.fixture(scope="module")
def data(scored_dir, tmp_path_factory):
    """A writable copy of the scored data (the CLI and the pages write audit rows and plans)."""
    root = tmp_path_factory.mktemp("formatting") / "data"
    shutil.copytree(scored_dir, root)
    yield root
    store.dispose_all()


@pytest.fixture(scope="module")
def accounts(data):
    """Three accounts to read: the most ARR at risk, a middle one and the least."""
    frame = board.board_frame(warehouse.get_warehouse(data, read_only=True), EXEC)
    warehouse.close_all()
    return frame.iloc[[0, len(frame) // 2, len(frame) - 1]]


def _app(data: Path, role: str, page: str, monkeypatch, query: dict | None = None) -> AppTest:
    return open_page(page, role, data=data, monkeypatch=monkeypatch, query=query)


def _cli(data: Path, capsys, *argv: str) -> str:
    capsys.readouterr()
    assert cli.main(["--data-dir", str(data), *argv]) == 0
    return capsys.readouterr().out


def test_pages_format_with_the_engines_functions():
    """components.shared.format is the engine's formatter, not a copy that could drift."""
    for name in ("money", "signed_money", "percent", "percent_points", "count", "signed_count", "day", "days"):
        assert getattr(fmt, name) is getattr(formatting, name), name
    assert fmt.MISSING == formatting.MISSING


def test_an_accounts_money_reads_the_same_on_the_board_in_customer_360_and_on_the_cli(
    data, accounts, monkeypatch, capsys
):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    board_page = _app(data, "executive", "risk_board", monkeypatch)
    for _, row in accounts.iterrows():
        mrr, at_risk = formatting.money(row["mrr"]), formatting.money(row["revenue_at_risk"])

        board_page.text_input[0].input(row["customer_id"]).run()
        shown = board_page.dataframe[0].value
        assert shown["customer_id"].tolist() == [row["customer_id"]]
        assert (shown["mrr_text"].iloc[0], shown["at_risk_text"].iloc[0]) == (mrr, at_risk)

        c360 = _app(data, "executive", "customer_360", monkeypatch, {"customer_id": row["customer_id"]})
        assert {m.label: m.value for m in c360.metric}["MRR"] == mrr
        assert any(f"ARR at risk {at_risk} " in c.value for c in c360.caption), at_risk

        answer = _cli(data, capsys, "ask", row["customer_id"], "What is the MRR and the ARR at risk?", "--offline")
        assert f"MRR is {mrr} " in answer and f"ARR at risk (churn probability × ARR) is {at_risk}." in answer


@pytest.fixture(scope="module")
def plan_result(data):
    wh = warehouse.get_warehouse(data, read_only=True)
    result = scenarios.simulate(wh, scenarios.plan_from_dict({"outreach": OUTREACH}), ANALYST, data)
    warehouse.close_all()
    return result


def test_a_plans_money_reads_the_same_in_the_readout_on_the_page_and_on_the_cli(data, plan_result, monkeypatch, capsys):
    retained, cost = formatting.money(plan_result.revenue_retained), formatting.money(plan_result.cost)
    assert cost == "$12.5K"  # 50 accounts x $250
    assert f"It retains {retained} ARR" in plan_result.readout and f" for {cost}" in plan_result.readout

    printed = _cli(data, capsys, "scenario", "run", *OUTREACH_ARGS)
    assert f"ARR retained {retained} (" in printed and f", cost {cost}," in printed
    assert plan_result.readout in printed

    page = _app(data, "analyst", "scenarios", monkeypatch)
    page.number_input(key="sc0_outreach_top_n").set_value(OUTREACH["top_n"])
    page.slider(key="sc0_outreach_churn_reduction").set_value(OUTREACH["churn_reduction"])
    page.number_input(key="sc0_outreach_cost_per_account").set_value(OUTREACH["cost_per_account"])
    next(b for b in page.button if b.label == "Run scenario").click().run()
    assert not page.exception, page.exception
    cards = {m.label: m.value for m in page.tabs[0].metric}
    assert (cards["ARR retained"], cards["Cost"]) == (retained, cost)
    assert any(plan_result.readout == i.value for i in page.info)

    saved = _cli(data, capsys, "scenario", "save", "Formatting check", *OUTREACH_ARGS)
    assert f"ARR retained {retained} (" in saved
    listed = _cli(data, capsys, "scenario", "list")
    assert f"retained {retained}, cost {cost}," in listed


def test_the_cli_scenario_table_writes_money_like_the_page(data, plan_result, capsys):
    printed = _cli(data, capsys, "scenario", "run", *OUTREACH_ARGS)
    lost = next(line for line in printed.splitlines() if line.startswith("ARR lost, 12 months"))
    assert formatting.money(plan_result.scenario.arr_lost_12m) in lost
    assert formatting.money(plan_result.baseline.arr_lost_12m) in lost


def test_tenure_reads_in_the_unit_people_use():
    assert [formatting.tenure(d) for d in (1, 26, 90, 400, 1241)] == [
        "1 day",
        "26 days",
        "3 months",
        "13 months",
        "3.4 yrs",
    ]
    assert formatting.tenure(None) == formatting.MISSING


@pytest.mark.parametrize(
    ("word", "said"),
    [
        ("enterprise", "an enterprise"),
        ("growth", "a growth"),
        ("upgrade", "an upgrade"),
        ("user", "a user"),
        ("unicorn", "a unicorn"),
        ("hour", "an hour"),
        ("8-period", "an 8-period"),
        ("18-period", "an 18-period"),
        ("12-period", "a 12-period"),
        ("180-period", "a 180-period"),
    ],
)
def test_indefinite_article_follows_the_sound(word, said):
    # The offline summary once said "a enterprise account".
    assert formatting.a_or_an(word) == said
