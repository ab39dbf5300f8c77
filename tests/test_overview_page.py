"""The portfolio overview page and the app entry, through Streamlit's AppTest; plus the
pure pieces they render with (formatting, KPI cards, figures)."""

from __future__ import annotations

import html
import os
import re
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import html_charts
from components.shared import auth, kpi
from components.shared import format as fmt
from components.shared.theme import PLAN_TIER_COLORS
from engine.data.warehouse import get_warehouse
from engine.portfolio import kpis as portfolio

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "views" / "overview.py")
APP = str(ROOT / "app.py")
CARD_LABELS = ["Active customers", "MRR", "ARR", "Logo churn (90d)", "Revenue churn (90d)", "NRR (12m)"]


def _run(script: str, role: str = "executive") -> AppTest:
    at = AppTest.from_file(script, default_timeout=60)
    auth.log_in(at.session_state, auth.TEST_VIEWERS[role])
    at.run(timeout=60)
    return at


# -- the page --------------------------------------------------------------------------------
def test_overview_shows_kpis_charts_and_date(generated_dir, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(generated_dir))
    at = _run(PAGE)
    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Portfolio overview"
    assert "Jun 30, 2026" in at.caption[0].value
    metrics = {m.label: m for m in at.metric}
    assert list(metrics) == CARD_LABELS
    expected = portfolio.portfolio_kpis(get_warehouse(generated_dir, read_only=True))
    assert metrics["Active customers"].value == f"{expected.active_customers:,}"
    assert metrics["MRR"].value == fmt.money(expected.total_mrr)
    assert metrics["MRR"].value.startswith("$")
    for label in ("Logo churn (90d)", "Revenue churn (90d)", "NRR (12m)"):
        assert metrics[label].value.endswith("%")
        assert metrics[label].delta.endswith(" pp")
    nrr = float(metrics["NRR (12m)"].value.rstrip("%"))
    assert 50 < nrr < 150
    # MRR by plan, churn by plan and industry, and churn by behavioural segment (no scores needed).
    assert [m.value.split("'")[1] for m in at.markdown if m.value.startswith("<div data-radar-chart=")] == [
        "mrr_by_plan",
        "churn_by_plan_industry",
        "segment_churn",
    ]
    headings = [m.value for m in at.markdown if m.value.startswith("####")]
    assert headings[:3] == ["#### AI briefing", "#### MRR by plan tier", "#### Churn by plan tier and industry"]
    assert "#### Segments and plans vs the whole book and last quarter" in headings


def test_overview_runs_again_after_connections_are_closed(generated_dir, monkeypatch):
    """The cached warehouse notices it was closed (conftest closes all between tests)."""
    monkeypatch.setenv("RADAR_DATA_DIR", str(generated_dir))
    at = _run(PAGE)
    assert not at.exception
    assert len(at.metric) == len(CARD_LABELS)


def test_empty_warehouse_shows_how_to_load_data(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(tmp_path / "nothing-here"))
    at = _run(PAGE)
    assert not at.exception
    assert not at.metric
    assert len(at.info) == 1
    message = at.info[0].value
    assert "No customer data yet" in message
    assert "make run" in message and "python -m engine demo" in message


def test_warehouse_error_is_shown_not_raised(tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "warehouse.duckdb").write_text("this is not a DuckDB file")
    monkeypatch.setenv("RADAR_DATA_DIR", str(broken))
    at = _run(PAGE)
    assert not at.exception
    assert len(at.error) == 1
    assert "Warehouse error" in at.error[0].value
    assert not at.metric


# -- the app entry -----------------------------------------------------------------------------
def test_app_opens_on_the_overview(generated_dir, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(generated_dir))
    at = _run(APP)
    assert not at.exception
    assert at.title[0].value == "Portfolio overview"
    assert [m.label for m in at.metric] == CARD_LABELS
    # No churn model in this warehouse: the risk section says how to get one, without a traceback.
    assert any("Churn risk unavailable" in w.value for w in at.warning)


def test_a_csm_cannot_open_the_overview(generated_dir, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(generated_dir))
    at = _run(PAGE, role="csm")
    assert not at.exception and not at.metric
    assert "cannot open this page" in at.error[0].value


def test_app_copies_string_secrets_into_the_environment(generated_dir, monkeypatch):
    # setenv then delenv, so monkeypatch restores "unset" after the app has set them.
    for name in ("RADAR_DATA_DIR", "RADAR_TEST_PLAIN"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    monkeypatch.setenv("RADAR_TEST_PRESET", "from-env")
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["RADAR_DATA_DIR"] = str(generated_dir)
    at.secrets["RADAR_TEST_PLAIN"] = "from-secrets"
    at.secrets["RADAR_TEST_PRESET"] = "from-secrets"
    at.secrets["auth"] = {"cookie_key": "a table, not a string"}
    auth.log_in(at.session_state, auth.TEST_VIEWERS["executive"])
    at.run(timeout=60)
    assert not at.exception
    assert os.environ["RADAR_TEST_PLAIN"] == "from-secrets"
    assert os.environ["RADAR_TEST_PRESET"] == "from-env"  # the environment wins
    assert "auth" not in os.environ
    # RADAR_DATA_DIR came from the secrets, so the page found the generated data.
    assert len(at.metric) == len(CARD_LABELS)


# -- formatting --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "$0"),
        (812, "$812"),
        (812.4, "$812"),
        (999.6, "$1.0K"),
        (45_300, "$45.3K"),
        (-45_300, "-$45.3K"),
        (999_960, "$1.0M"),
        (1_234_567, "$1.2M"),
        (3.4e9, "$3.4B"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_money(value, text):
    assert fmt.money(value) == text


def test_signed_and_percent_formats():
    assert fmt.signed_money(3_400_000) == "+$3.4M"
    assert fmt.signed_money(-1_200) == "-$1.2K"
    assert fmt.signed_money(0.2) == "$0"
    assert fmt.percent(0.253) == "25.3%"
    assert fmt.percent(None) == "—"
    assert fmt.percent_points(0.012) == "+1.2 pp"
    assert fmt.percent_points(-0.0123) == "-1.2 pp"
    assert fmt.percent_points(0.00001) == "0.0 pp"
    assert fmt.count(4123) == "4,123"
    assert fmt.signed_count(270) == "+270"
    assert fmt.signed_count(-12) == "-12"
    assert fmt.signed_count(0) == "0"
    assert fmt.day(date(2026, 4, 1)) == "Apr 1, 2026"


# -- KPI cards and figures ---------------------------------------------------------------------
def test_cards_compare_with_the_previous_period(generated_dir):
    k = portfolio.portfolio_kpis(get_warehouse(generated_dir, read_only=True))
    cards = {c.label: c for c in kpi.portfolio_cards(k)}
    assert cards["Active customers"].delta == fmt.signed_count(k.active_customers - k.previous.active_customers)
    assert cards["Logo churn (90d)"].good == "down"
    assert cards["NRR (12m)"].delta == fmt.percent_points(
        k.net_revenue_retention_12m - k.previous.net_revenue_retention_12m
    )


def test_a_rate_on_a_handful_of_customers_is_not_compared(generated_dir):
    """A company 15 months old: NRR 99.3% read "-31.5 pp" against a cohort of the 5 accounts that
    signed up on its first day. The change is left out, and the help says why."""
    k = portfolio.portfolio_kpis(get_warehouse(generated_dir, read_only=True))
    assert k.comparable("net_revenue_retention_12m") and k.customers_12m_ago >= portfolio.SMALL_COHORT
    young = k.previous.model_copy(update={"customers_12m_ago": 5})
    k = k.model_copy(update={"previous": young})
    cards = {c.label: c for c in kpi.portfolio_cards(k)}
    assert cards["NRR (12m)"].delta == fmt.MISSING and cards["Logo churn (90d)"].delta != fmt.MISSING
    assert "rests on 5 customers, too few" in cards["NRR (12m)"].help
    assert (
        f"MRR today of the {fmt.count(k.customers_12m_ago)} customers active 12 months ago" in cards["NRR (12m)"].help
    )


def test_cards_for_no_data_show_dashes(empty_dir):
    cards = kpi.portfolio_cards(portfolio.portfolio_kpis(get_warehouse(empty_dir)))
    assert [c.value for c in cards] == ["0", "$0", "$0", "—", "—", "—"]


def test_figures_use_the_shared_tier_colours(generated_dir):
    wh = get_warehouse(generated_dir, read_only=True)
    area = html_charts.mrr_area(portfolio.mrr_by_plan(wh))
    for tier, color in PLAN_TIER_COLORS.items():
        assert f"fill='{color}'" in area and f"{tier.capitalize()}</span>" in area
    heat = html_charts.churn_heatmap(portfolio.churn_by_plan_industry(wh))
    assert heat.count("class='rc-cell'") == 3 * 8
    assert [heat.index(t) for t in ("Starter", "Growth", "Enterprise")] == sorted(
        heat.index(t) for t in ("Starter", "Growth", "Enterprise")
    )


def test_figures_accept_empty_results(empty_dir):
    wh = get_warehouse(empty_dir)
    assert "No data" in html_charts.mrr_area(portfolio.mrr_by_plan(wh))
    assert "No data" in html_charts.churn_heatmap(portfolio.churn_by_plan_industry(wh))


# -- layout: every headline number fits (issue 12, item 17) ------------------------------------
def _six_cards() -> None:
    from components.shared import kpi as cards

    cards.kpi_row([cards.Kpi(f"Card {i}", f"${i}68.9M", "+$1.0M") for i in range(6)])


def test_more_than_four_cards_wrap_onto_rows_of_equal_width():
    """Six cards in one row left ~140 px each at 1280 px: '$468.9M' was cut to '$468.…'."""
    at = AppTest.from_function(_six_cards).run()
    assert not at.exception
    assert len(at.metric) == 6
    weights = [c.proto.weight for c in at.columns]
    assert len(weights) == 6 and all(w == pytest.approx(1 / 3) for w in weights)


@pytest.mark.parametrize(
    ("count", "rows"), [(0, []), (1, [1]), (4, [4]), (5, [3, 2]), (6, [3, 3]), (7, [4, 3]), (8, [4, 4]), (9, [3, 3, 3])]
)
def test_rows_of(count, rows):
    assert kpi.rows_of(count) == rows
    assert all(n <= kpi.MAX_PER_ROW for n in rows)


def test_risk_section_short_labels_and_the_sorted_column_first(scored_dir, monkeypatch):
    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_dir))
    at = _run(PAGE)
    assert not at.exception and not at.error
    risk_cards = [m for m in at.metric if m.label not in CARD_LABELS]
    assert [m.label for m in risk_cards] == ["ARR at risk", "Share of ARR", "Expected churns", "Mean churn risk"]
    assert all(m.proto.help for m in risk_cards)  # the long wording lives in the tooltip
    assert all(len(m.label) <= 20 for m in at.metric)
    # The top 10 is sorted by ARR at risk: that column comes right after the account.
    top = next(m.value for m in at.markdown if "data-radar-table='top-at-risk'" in m.value)
    headings = [html.unescape(h) for h in re.findall(r"<th\b[^>]*>(.*?)</th>", top)]
    assert headings[:3] == ["360", "Account", "ARR at risk"]
    assert top.count("<tr>") == 11 and "href='customer&#95;360?customer&#95;id=" in top
    # Plain words on the page; the term itself only in the tooltip.
    captions = [c for c in at.caption if "Per scoring date" in c.value]
    assert captions and "in-sample" not in captions[0].value and "in-sample" in captions[0].proto.help


def test_board_puts_what_a_csm_acts_on_first_and_fits_1280(scored_dir, monkeypatch):
    import json

    monkeypatch.setenv("RADAR_DATA_DIR", str(scored_dir))
    at = _run(str(ROOT / "views" / "risk_board.py"), role="analyst")
    assert not at.exception and not at.error
    board = at.dataframe[0]
    acted_on = ["name", "at_risk_text", "churn_percent", "risk_tier", "recommended_action", "top_driver"]
    order = list(board.proto.column_order)
    assert order[1:8] == [*acted_on, "days_to_renewal"]
    config = json.loads(board.proto.columns)
    widths = [config[c]["width"] for c in order[:8]]
    assert all(isinstance(w, int) for w in widths), widths
    # 1280 px - 240 px sidebar - 2 x 80 px padding = 880 px, less the row-selection column.
    assert sum(widths) + 40 <= 880


def test_the_cards_figures_from_the_shell(scored_dir):
    """`engine kpis` prints the cards' figures (no command gave them before), and --json the contract."""
    import contextlib
    import io
    import json

    from engine.cli import main as cli_main
    from engine.data.warehouse import get_warehouse
    from engine.portfolio.kpis import portfolio_kpis

    k = portfolio_kpis(get_warehouse(scored_dir, read_only=True))
    for flag in ((), ("--json",)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli_main(["--data-dir", str(scored_dir), "kpis", *flag]) == 0
        text = out.getvalue()
        if flag:
            body = json.loads(text)
            assert body["active_customers"] == k.active_customers and body["previous"]["as_of"] == str(k.previous.as_of)
        else:
            assert f"As of {fmt.day(k.as_of)}" in text and fmt.percent(k.net_revenue_retention_12m) in text
            assert f"{fmt.count(k.customers_90d_ago)} customers" in text
