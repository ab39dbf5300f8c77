"""Loading a customers file as companies have it: the minimal file, derived name and status,
billing cycles in months or words, custom attributes (typed, idempotent, free text refused)."""

from __future__ import annotations

from datetime import date

import pytest

from engine.ai.portfolio_parser import vocabulary
from engine.data.attributes import attributes_of
from engine.data.ingest import IngestError, load_file, validate_file
from engine.data.warehouse import get_warehouse
from tests.test_ingest import checksum, write

MINIMAL = "customer_id,signup_date\nA1,2023-01-01\nA2,2023-02-01\n"

WITH_ATTRIBUTES = """\
customer_id,signup_date,churn_date,Acquisition Channel,company_size,First Contract,Contract Type
A1,2023-01-01,,paid,10,2023-01-01,annual
A2,2023-02-01,2024-01-05,organic,"1,200",2023-02-03,monthly
A3,2023-03-01,,paid,,2023-03-01,
"""


def test_a_two_column_file_loads_and_derives_name_and_status(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    report = load_file(wh, "customers", write(tmp_path, "c.csv", MINIMAL))
    assert (report.inserted, report.rejected) == (2, 0)
    assert wh.rows("SELECT customer_id, name, status, plan_tier, churn_date FROM customers ORDER BY 1") == [
        ("A1", "A1", "active", None, None),
        ("A2", "A2", "active", None, None),
    ]
    assert load_file(wh, "customers", write(tmp_path, "c.csv", MINIMAL)).unchanged == 2


def test_status_follows_churn_date_and_a_contradiction_is_a_row_problem(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    text = (
        "customer_id,signup_date,churn_date,status\nA1,2023-01-01,2024-02-01,\nA2,2023-01-01,,\nA3,2023-01-01,,active\n"
    )
    load_file(wh, "customers", write(tmp_path, "c.csv", text))
    assert wh.rows("SELECT customer_id, status FROM customers ORDER BY 1") == [
        ("A1", "churned"),
        ("A2", "active"),
        ("A3", "active"),
    ]
    before = checksum(wh)
    bad = "customer_id,signup_date,churn_date,status\nA4,2023-01-01,2024-02-01,active\n"
    with pytest.raises(IngestError, match="row 2, column status: status is 'active' but churn_date is 2024-02-01"):
        load_file(wh, "customers", write(tmp_path, "bad.csv", bad))
    assert checksum(wh) == before


def test_an_existing_customer_keeps_its_name_and_status_when_the_file_omits_them(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    full = "customer_id,name,signup_date,status,churn_date\nA1,Acme,2023-01-01,churned,2024-01-01\n"
    load_file(wh, "customers", write(tmp_path, "full.csv", full))
    report = load_file(
        wh, "customers", write(tmp_path, "min.csv", "customer_id,signup_date,region\nA1,2023-01-01,EMEA\n")
    )
    assert report.updated == 1
    assert wh.rows("SELECT name, status, churn_date, region FROM customers") == [
        ("Acme", "churned", date(2024, 1, 1), "EMEA")
    ]


@pytest.mark.parametrize(("cell", "months"), [("annual", 12), ("Monthly", 1), ("quarterly", 3), ("24", 24), ("6", 6)])
def test_billing_cycle_is_months_given_as_a_number_or_a_word(cell, months, empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    load_file(
        wh, "customers", write(tmp_path, "c.csv", f"customer_id,signup_date,billing_cycle\nA1,2023-01-01,{cell}\n")
    )
    assert wh.scalar("SELECT billing_cycle FROM customers") == months


def test_an_unknown_billing_word_is_a_row_problem(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    with pytest.raises(IngestError, match="'fortnightly' is not a number of months; give months as a whole number"):
        load_file(
            wh,
            "customers",
            write(tmp_path, "c.csv", "customer_id,signup_date,billing_cycle\nA1,2023-01-01,fortnightly\n"),
        )


def test_plan_tier_is_free_text(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    load_file(wh, "customers", write(tmp_path, "c.csv", "customer_id,signup_date,plan_tier\nA1,2023-01-01,Pro Max\n"))
    assert wh.scalar("SELECT plan_tier FROM customers") == "Pro Max"


def test_extra_columns_are_kept_as_typed_custom_attributes(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    report = load_file(wh, "customers", write(tmp_path, "c.csv", WITH_ATTRIBUTES))
    assert report.ignored_columns == []
    assert (
        "Kept 4 custom attributes: acquisition_channel (category), company_size (number), "
        "first_contract (date), contract_type (category) (10 values stored in customer_attributes)"
    ) in report.summary()
    assert attributes_of(wh, "A2") == {
        "acquisition_channel": "organic",
        "company_size": 1200.0,  # "1,200" in a comma file, read as every number cell is
        "contract_type": "monthly",
        "first_contract": date(2023, 2, 3),
    }
    assert attributes_of(wh, "A3") == {"acquisition_channel": "paid", "first_contract": date(2023, 3, 1)}
    assert attributes_of(wh, "nobody") == {}
    kinds = dict(wh.rows("SELECT DISTINCT attribute, kind FROM customer_attributes"))
    assert kinds == {
        "acquisition_channel": "category",
        "company_size": "number",
        "first_contract": "date",
        "contract_type": "category",
    }


def test_reloading_replaces_attributes_per_customer_and_is_idempotent(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    load_file(wh, "customers", write(tmp_path, "c.csv", WITH_ATTRIBUTES))
    before = checksum(wh)
    again = load_file(wh, "customers", write(tmp_path, "c.csv", WITH_ATTRIBUTES))
    assert checksum(wh) == before
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    # A later file for one customer replaces its values of the attributes it names (empty clears),
    # and leaves other customers and other attributes alone.
    change = "customer_id,signup_date,company_size,Acquisition Channel\nA1,2023-01-01,25,\n"
    load_file(wh, "customers", write(tmp_path, "d.csv", change))
    assert attributes_of(wh, "A1") == {
        "company_size": 25.0,
        "contract_type": "annual",
        "first_contract": date(2023, 1, 1),
    }
    assert attributes_of(wh, "A2")["company_size"] == 1200.0


def test_a_mostly_unique_text_column_is_refused_as_an_attribute(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    rows = "".join(f"A{i},2023-01-01,person{i}@example.com,{'paid' if i % 2 else 'organic'}\n" for i in range(30))
    report = load_file(wh, "customers", write(tmp_path, "c.csv", "customer_id,signup_date,email,channel\n" + rows))
    assert report.inserted == 30
    assert report.ignored_columns == ["email"]
    assert (
        "Did not keep column 'email' as a custom attribute: 30 different values in 30 rows look like free text or ids"
        in report.summary()
    )
    assert "Kept 1 custom attribute: channel (category)" in report.summary()
    assert wh.scalar("SELECT count(DISTINCT attribute) FROM customer_attributes") == 1


def test_attribute_names_that_clash_are_refused_and_nothing_is_written(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    before = checksum(wh)
    text = "customer_id,signup_date,Company Size,company-size\nA1,2023-01-01,1,2\n"
    with pytest.raises(
        IngestError, match="columns 'Company Size' and 'company-size' would both be the custom attribute"
    ):
        load_file(wh, "customers", write(tmp_path, "c.csv", text))
    text = "customer_id,signup_date,Plan Tier\nA1,2023-01-01,pro\n"
    with pytest.raises(IngestError, match=r"--map plan_tier=Plan Tier"):
        load_file(wh, "customers", write(tmp_path, "c.csv", text))
    assert checksum(wh) == before


def test_an_attribute_keeps_its_kind_across_loads(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    load_file(wh, "customers", write(tmp_path, "c.csv", "customer_id,signup_date,size\nA1,2023-01-01,10\n"))
    before = checksum(wh)
    with pytest.raises(IngestError, match="reads as a category, but the custom attribute size already holds number"):
        load_file(wh, "customers", write(tmp_path, "d.csv", "customer_id,signup_date,size\nA2,2023-01-01,big\n"))
    assert checksum(wh) == before


def test_a_bad_file_writes_neither_customers_nor_attributes(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    before = checksum(wh)
    text = "customer_id,signup_date,channel\nA1,2023-01-01,paid\nA2,not a date,organic\n"
    with pytest.raises(IngestError, match="row 3, column signup_date"):
        load_file(wh, "customers", write(tmp_path, "c.csv", text))
    checked = validate_file(
        wh, "customers", write(tmp_path, "ok.csv", "customer_id,signup_date,channel\nA1,2023-01-01,x\n")
    )
    assert checked.checked_only and "Kept 1 custom attribute" in checked.summary()
    assert checksum(wh) == before


def test_customer_360_shows_the_custom_attributes(empty_dir, tmp_path):
    """Extra columns of the customers file come back on the account's Customer 360."""
    from engine.accounts import customer
    from engine.core.access import Viewer

    wh = get_warehouse(empty_dir)
    text = "customer_id,signup_date,acquisition_channel,company_size\nC1,2024-01-01,partner,120\nC2,2024-02-01,web,8\n"
    load_file(wh, "customers", write(tmp_path, "attrs.csv", text))
    c360 = customer.customer_360(wh, Viewer("admin", "admin"), "C1")
    assert c360.attributes == {"acquisition_channel": "partner", "company_size": 120.0}
    # What the company never loaded is said to be not loaded, not shown as "0 tickets" or "no plan".
    assert set(c360.not_loaded) == {
        "plan_tier",
        "industry",
        "region",
        "csm_owner",
        "seats",
        "renewal",
        "support_tickets",
        "gtm_opportunities",
        "subscriptions",
    }


GROUPED = (
    "customer_id,signup_date,churn_date,acquisition_channel,contract_type,country\n"
    "C1,2024-01-01,,partner,annual,FR\n"
    "C2,2024-01-01,2024-05-10,partner,monthly,DE\n"
    "C3,2024-02-01,,web,monthly,FR\n"
    "C4,2024-02-01,2024-06-20,web,monthly,\n"
    "C5,2024-03-01,,,annual,\n"
)
GROUPED_MRR = (
    "customer_id,month,mrr,change_type\n"
    "C1,2024-01-01,100,new\nC2,2024-01-01,50,new\nC3,2024-02-01,30,new\nC4,2024-02-01,20,new\nC5,2024-03-01,10,new\n"
)


def test_the_overview_splits_a_book_without_plans_by_the_companys_own_columns(empty_dir, tmp_path):
    """No plan tier, industry or region loaded: the overview groups by the custom category
    attributes (most filled first), not into one "no plan" x "unknown" cell; the groups add up."""
    from engine.portfolio import kpis as portfolio

    wh = get_warehouse(empty_dir)
    load_file(wh, "customers", write(tmp_path, "g.csv", GROUPED))
    load_file(wh, "mrr_history", write(tmp_path, "m.csv", GROUPED_MRR))
    rows, columns = portfolio.overview_groupings(wh)
    assert (rows.key, columns.key) == ("contract_type", "acquisition_channel")  # 5 values, then 4, then 3
    assert rows.label == "contract type" and rows.attribute
    as_of = date(2024, 7, 31)
    churn = portfolio.churn_by_plan_industry(wh, as_of, 12, (rows, columns))
    cells = {(r.plan_tier, r.industry): (r.customers, r.churned) for r in churn.itertuples()}
    assert cells == {
        ("annual", "partner"): (1, 0),
        ("annual", portfolio.UNKNOWN): (1, 0),
        ("monthly", "partner"): (1, 1),
        ("monthly", "web"): (2, 1),
    }
    mrr = portfolio.mrr_by_plan(wh, as_of, rows)
    last = mrr[mrr["month"] == mrr["month"].max()].set_index("plan_tier")["mrr"].to_dict()
    assert last == {"annual": 110.0, "monthly": 30.0}  # C2 and C4 churned
    groups = portfolio.customer_groups(wh, (rows, None)).set_index("customer_id")
    assert groups.loc["C3"].tolist() == ["monthly", "all accounts"]
    # With plan tiers loaded, plan tier leads again; one grouping alone has no second.
    load_file(wh, "customers", write(tmp_path, "p.csv", "customer_id,signup_date,plan_tier\nC1,2024-01-01,pro\n"))
    assert portfolio.overview_groupings(wh)[0] == portfolio.PLAN


def test_ask_about_the_portfolio_counts_and_values_accounts_as_the_overview_does(empty_dir, tmp_path):
    """A loaded company: an account that signed up this month has no MRR month row yet (rows
    start on the 1st) and one whose last subscription ends tomorrow is 'churned' but still a
    customer on the data date. The Ask-AI portfolio view valued the first at $0 and dropped the
    second, so its totals disagreed with the Overview's; and a plan question over a book with no
    plan tiers answered "None has the highest figure"."""
    from engine.ai import portfolio_sql
    from engine.ai.sql_guard import run_portfolio_sql
    from engine.core.access import Viewer
    from engine.portfolio import kpis as portfolio

    wh = get_warehouse(empty_dir)
    accounts = "customer_id,signup_date\nOLD,2024-01-01\nNEW,2024-06-20\nLEAVING,2024-01-01\n"
    subscriptions = (
        "customer_id,product,start_date,end_date,mrr\n"
        "OLD,basic,2024-01-01,2024-07-01,100\nOLD,basic,2024-07-01,,100\n"  # renewed from tomorrow
        "NEW,basic,2024-06-20,,40\nLEAVING,basic,2024-01-01,2024-07-01,70\n"
    )
    load_file(wh, "customers", write(tmp_path, "a.csv", accounts))
    load_file(wh, "subscriptions", write(tmp_path, "s.csv", subscriptions))
    load_file(
        wh, "usage_daily", write(tmp_path, "u.csv", "customer_id,date,event_type,events\nOLD,2024-06-30,login,1\n")
    )
    as_of = date(2024, 6, 30)
    admin = Viewer("admin", "admin")
    rows = run_portfolio_sql(wh, "SELECT customer_id, mrr FROM portfolio ORDER BY customer_id", admin, as_of=as_of)
    assert dict(rows.table.itertuples(index=False)) == {"LEAVING": 70.0, "NEW": 40.0, "OLD": 100.0}
    kpis = portfolio.portfolio_kpis(wh, as_of)
    assert kpis.active_customers == 3 and kpis.total_mrr == 210.0
    chart = portfolio.mrr_by_plan(wh, as_of)
    assert chart.loc[chart["month"] == chart["month"].max(), "mrr"].sum() == 210.0  # the chart ends on the KPI
    assert portfolio.portfolio_kpis(wh, date(2024, 6, 19)).total_mrr == 170.0  # NEW not yet signed up
    from engine.data import health

    tables = health.data_health(wh).tables.set_index("table")
    assert tables.loc["mrr_history", "last"] > as_of and tables.loc["mrr_history", "days_behind"] == 0  # not -1
    answer = portfolio_sql.ask_portfolio(wh, "Which plan has the most accounts?", admin, client=None)
    assert "No account has a plan tier loaded" in answer.answer


def test_the_offline_writer_says_what_was_not_loaded_instead_of_none_or_zero(empty_dir, tmp_path):
    """A company with accounts and subscriptions only: the built-in writer said "the None plan
    (0 seats, ...)", "0 tickets open", "owned by nobody", and drafted a follow-up on "your recent
    support requests" that were never made."""
    from engine.ai import facts, offline
    from engine.ai.drafts import GOALS
    from engine.core.access import SYSTEM

    wh = get_warehouse(empty_dir)
    load_file(wh, "customers", write(tmp_path, "a.csv", "customer_id,signup_date,channel\nA,2024-01-01,web\n"))
    load_file(
        wh, "subscriptions", write(tmp_path, "s.csv", "customer_id,product,start_date,mrr\nA,basic,2024-01-01,10\n")
    )
    sheet = facts.load_facts(wh, "A", SYSTEM, as_of=date(2024, 6, 30))
    assert {"plan_tier", "support_tickets", "gtm_opportunities", "csm_owner"} <= set(sheet.not_loaded)
    questions = ("Open tickets?", "What plan are they on?", "Who owns it?", "When does it renew?")
    said = {q: offline.answer(sheet, q)[0] or "" for q in questions}
    assert said["Open tickets?"].startswith("No support tickets are loaded")
    assert said["When does it renew?"].startswith("No renewal dates, billing cycles or subscription terms are loaded")
    assert said["What plan are they on?"].startswith("A has no plan on record, a customer since")
    assert said["Who owns it?"].startswith("No account owners are loaded")
    text = " ".join(offline.draft(sheet, goal, "email", "friendly", "medium")[0] for goal in GOALS)
    assert "None" not in text and "0 seats" not in text and "support requests" not in text
    assert "A team" not in text and "Hi team," in text  # no name loaded: the id is no greeting
    for audience in ("csm", "executive"):  # "no renewal date is on record" claimed something of this account
        summary = offline.summary(sheet, audience)
        assert "None" not in summary and "0 open tickets" not in summary and "renewal" not in summary, summary


def test_the_overview_and_the_benchmarks_value_a_mid_month_signup_alike(empty_dir, tmp_path):
    """One MRR definition: an account that signed up mid-month a year ago has no month row on
    that day, so NRR left it out of the denominator and kept it in the numerator (97.8% on a
    ChurnSim book whose flat $10 plans retain 88%). The KPIs and the plan benchmarks value it at
    what its subscription billed, and agree."""
    from engine.accounts import peers
    from engine.core.access import Viewer
    from engine.portfolio import kpis as portfolio

    wh = get_warehouse(empty_dir)
    load_file(
        wh, "customers", write(tmp_path, "a.csv", "customer_id,signup_date\nA,2023-01-01\nB,2023-06-20\nC,2023-06-20\n")
    )
    subscriptions = (
        "customer_id,product,start_date,end_date,mrr\n"
        "A,basic,2023-01-01,,10\nB,basic,2023-06-20,,10\nC,basic,2023-06-20,2024-03-01,10\n"
    )
    load_file(wh, "subscriptions", write(tmp_path, "s.csv", subscriptions))
    load_file(wh, "usage_daily", write(tmp_path, "u.csv", "customer_id,date,event_type,events\nA,2024-06-30,login,1\n"))
    as_of = date(2024, 6, 30)  # a year before: 2023-06-30, when B and C billed but had no month row
    kpi = portfolio.portfolio_kpis(wh, as_of).net_revenue_retention_12m
    book = peers.segment_benchmarks(wh, Viewer("admin", "admin"), as_of).book.nrr_12m
    assert kpi == pytest.approx(20 / 30) and book == pytest.approx(kpi)
    # The segments' axes (their MRR is the start of the segment NRR) value it alike: a
    # "Not enough data" segment of young accounts read an NRR of 178.7% on flat $10 plans.
    from engine.segments import axes

    year_ago = axes.axis_values(wh, [date(2023, 6, 30)]).set_index("customer_id")["mrr"]
    assert year_ago.to_dict() == {"A": 10.0, "B": 10.0, "C": 10.0}


def test_a_missing_column_is_named_with_the_files_own_column_that_looks_like_it(tmp_path):
    """'missing required columns customer_id, signup_date' left the person to find which of
    'account_id, created_at, plan' to map: the refusal names them and the whole --map."""
    from engine.data.ingest import guess_mapping

    wh = get_warehouse(tmp_path / "data")
    path = tmp_path / "accounts.csv"
    path.write_text("account_id,created_at,plan\n1,2025-01-03,pro\n")
    with pytest.raises(IngestError) as caught:
        load_file(wh, "customers", path)
    said = str(caught.value)
    assert "The file's 'account_id' looks like customer_id and 'created_at' like signup_date" in said
    assert "--map customer_id=account_id --map signup_date=created_at" in said
    assert guess_mapping("customers", ["Account ID", "Plan", "customer_since"]) == {
        "customer_id": "Account ID",
        "plan_tier": "Plan",
        "signup_date": "customer_since",
    }
    # A column that is already some table column's own name is never taken for another.
    assert guess_mapping("customers", ["customer_id", "signup_date", "id"]) == {}
    assert guess_mapping("events", ["account", "created_at", "type"]) == {
        "customer_id": "account",
        "timestamp": "created_at",
        "event_type": "type",
    }


def test_ask_ai_groups_and_filters_by_the_companys_own_columns(empty_dir, tmp_path):
    """The Overview split a company's book by its acquisition channel, but Ask AI answered "ARR at
    risk by channel" with the total (flagged 'not used: channel') and refused "Which channel has
    the highest ...". The portfolio view carries the company's category and number columns."""
    from engine.ai import portfolio_sql
    from engine.ai.sql_guard import portfolio_attributes, run_portfolio_sql
    from engine.core.access import Viewer

    wh = get_warehouse(empty_dir)
    accounts = (
        "customer_id,signup_date,csm_owner,channel,company_size,order\n"
        "A,2024-01-01,maya,web,10,x\nB,2024-01-01,maya,partner,200,y\nC,2024-01-01,sam,web,50,x\n"
    )
    subscriptions = "customer_id,product,start_date,end_date,mrr\nA,core,2024-01-01,,100\nB,core,2024-01-01,,300\nC,core,2024-01-01,,50\n"
    load_file(wh, "customers", write(tmp_path, "a.csv", accounts))
    load_file(wh, "subscriptions", write(tmp_path, "s.csv", subscriptions))
    load_file(wh, "usage_daily", write(tmp_path, "u.csv", "customer_id,date,event_type,events\nA,2024-06-30,login,1\n"))
    # A reserved word ("order") is no bare column name: left out rather than breaking every query.
    assert portfolio_attributes(wh) == (("channel", "category"), ("company_size", "number"))
    admin, maya = Viewer("admin", "admin"), Viewer("maya", "csm")
    sql = "SELECT channel, sum(mrr) AS mrr, count(*) AS n FROM portfolio GROUP BY channel ORDER BY channel"
    table = run_portfolio_sql(wh, sql, admin).table
    assert table.to_dict("list") == {"channel": ["partner", "web"], "mrr": [300.0, 150.0], "n": [1, 2]}
    assert run_portfolio_sql(wh, sql, maya).table["n"].sum() == 2  # a CSM's book only, columns joined after
    by_channel = portfolio_sql.ask_portfolio(wh, "How many accounts per channel?", admin, client=None)
    assert "GROUP BY channel" in by_channel.sql and not by_channel.needs_review
    top = portfolio_sql.ask_portfolio(wh, "Which channel has the most MRR?", admin, client=None)
    assert top.answer.startswith("I read this as: the channel with the highest total MRR") and "partner" in top.answer
    web = portfolio_sql.ask_portfolio(wh, "total MRR of web accounts", admin, client=None)
    assert "channel IN (?)" in web.sql and web.table.iloc[0, 0] == 150.0
    size = portfolio_sql.ask_portfolio(wh, "Which company size has the most accounts?", admin, client=None)
    assert "no headcount" not in size.answer  # a column the company loaded is no missing metric
    # A number is grouped by bands cut at its quartiles (30, 50, 125 -> 120), lowest band first,
    # not one group per value (it was flagged 'not used: company size' and answered with the total).
    assert vocabulary(wh).bands == (("company_size", (30.0, 50.0, 120.0)),)
    bands = portfolio_sql.ask_portfolio(wh, "MRR by company size", admin, client=None)
    assert bands.table.to_dict("list") == {
        "company_size": ["under 30", "50 to under 120", "120 or more"],
        "total_mrr": [100.0, 50.0, 300.0],
        "accounts": [1, 1, 1],
    }
    assert "company size in bands: under 30, 30 to under 50, 50 to under 120, 120 or more" in bands.interpretation
    assert not bands.needs_review and "question_partly_understood" not in bands.guardrail_flags
    prompt = portfolio_sql.sql_messages("q", vocabulary(wh), date(2024, 6, 30))[0]["content"]
    assert "channel VARCHAR -- the company's own account attribute; values partner, web" in prompt
    # A CSM's prompt names the values of their own accounts only.
    assert vocabulary(wh, Viewer("sam", "csm")).attribute_values == (("channel", "web"),)
