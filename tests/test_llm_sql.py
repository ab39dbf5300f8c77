"""Portfolio questions: SQL validation (refusals), scoped read-only execution with row and
time limits, the offline parser, and the answer with its SQL."""

from __future__ import annotations

from datetime import date

import pytest

from engine.accounts import board
from engine.ai import ask_portfolio
from engine.ai.portfolio_parser import Vocabulary, parse_question, vocabulary
from engine.ai.sql_guard import SqlRefused, run_portfolio_sql, validate_sql
from engine.core.access import SYSTEM, Viewer
from engine.core.contracts import to_dict
from engine.core.errors import BadInputError
from engine.data.warehouse import get_warehouse

pytest_plugins = ("tests.fake_groq",)

EMMA = Viewer("emma.rossi", "csm")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DROP TABLE customers", "SELECT"),
        ("INSERT INTO customers (customer_id) VALUES ('x')", "SELECT"),
        ("DELETE FROM predictions", "SELECT"),
        ("UPDATE customers SET name = 'x'", "SELECT"),
        ("ATTACH 'other.db' AS o", "SELECT"),
        ("COPY customers TO 'out.csv'", "SELECT"),
        ("PRAGMA database_list", "SELECT"),
        ("SET threads = 1", "SELECT"),
        ("CALL pragma_version()", "SELECT"),
        ("INSTALL httpfs", "SELECT"),
        ("SELECT * FROM portfolio; DROP TABLE customers", "one statement"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table function"),
        ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "table function"),
        ("SELECT * FROM '/etc/passwd'", "portfolio view"),
        ("SELECT * FROM customers", "portfolio view"),
        ("SELECT * FROM predictions", "portfolio view"),
        ("SELECT * FROM main.customers", "Qualified"),
        ("SELECT * FROM information_schema.tables", "Qualified"),
        ("SELECT * FROM duckdb_settings()", "table function"),
        ("SELECT getenv('HOME') FROM portfolio", "getenv"),
        ("SELECT current_setting('threads')", "current_setting"),
        ("SELECT name FROM portfolio WHERE name = (SELECT read_text('/etc/passwd'))", "read_text"),
        ("DESCRIBE customers", "show"),
        ("SHOW TABLES", "show"),
        ("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r", "recursive"),
        ("WITH customers AS (SELECT * FROM customers) SELECT * FROM customers", "portfolio view"),
        ("SELECT * FROM portfolio AT (VERSION => 1)", "Time travel"),
        ("SELECT $x FROM portfolio", "Named parameters"),
        ("SELECT list_transform([1], x -> x + 1)", "list_transform"),
        ("SELECT lambda x: x + 1", "lambda"),
        ("SELEC name FROM portfolio", "not valid SQL"),
        ("", "no SQL"),
    ],
)
def test_unsafe_sql_is_refused(sql, reason):
    with pytest.raises(SqlRefused, match=f"(?i){reason}"):
        validate_sql(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name, mrr FROM portfolio WHERE plan_tier = 'enterprise' ORDER BY mrr DESC LIMIT 5",
        "SELECT industry, count(*) AS n, sum(revenue_at_risk) FROM portfolio GROUP BY ALL ORDER BY 3 DESC",
        "WITH risky AS (SELECT * FROM portfolio WHERE churn_probability > 0.5) SELECT name FROM risky;",
        "SELECT name FROM portfolio WHERE renewal_date BETWEEN DATE '2026-07-01' AND DATE '2026-09-30'",
        "SELECT name, rank() OVER (ORDER BY mrr DESC) FROM portfolio QUALIFY rank() OVER (ORDER BY mrr DESC) <= 3",
        "SELECT name FROM portfolio WHERE lower(name) LIKE '%tech%' -- trailing comment",
        "SELECT a.name FROM portfolio a JOIN portfolio b ON a.customer_id = b.customer_id WHERE a.mrr > ?",
    ],
)
def test_safe_sql_is_accepted(sql):
    checked = validate_sql(sql)
    assert not checked.sql.endswith(";")
    assert checked.parameters == sql.count("?")


def test_execution_is_scoped_to_the_csm_book(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    everyone = run_portfolio_sql(wh, "SELECT csm_owner, count(*) AS n FROM portfolio GROUP BY 1", SYSTEM)
    assert len(everyone.table) > 1
    mine = run_portfolio_sql(wh, "SELECT csm_owner, count(*) AS n FROM portfolio GROUP BY 1", EMMA)
    assert mine.table["csm_owner"].tolist() == ["emma.rossi"]
    # Even SQL that asks for another owner only sees the CSM's own rows.
    other = run_portfolio_sql(wh, "SELECT * FROM portfolio WHERE csm_owner <> 'emma.rossi'", EMMA)
    assert other.table.empty
    expected = wh.scalar("SELECT count(*) FROM customers WHERE status = 'active' AND csm_owner = 'emma.rossi'")
    assert int(mine.table["n"].iloc[0]) == expected


def test_portfolio_view_matches_the_warehouse(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    result = run_portfolio_sql(wh, "SELECT count(*) AS n, count(churn_probability) AS scored FROM portfolio", SYSTEM)
    active = wh.scalar("SELECT count(*) FROM customers WHERE status = 'active'")
    assert int(result.table["n"].iloc[0]) == active
    assert int(result.table["scored"].iloc[0]) == wh.scalar(
        "SELECT count(DISTINCT customer_id) FROM predictions WHERE as_of = (SELECT max(as_of) FROM predictions)"
    )
    row = run_portfolio_sql(
        wh, "SELECT customer_id, mrr, arr, churn_probability, revenue_at_risk FROM portfolio LIMIT 1", SYSTEM
    ).table.iloc[0]
    assert row["arr"] == pytest.approx(12 * row["mrr"])
    assert row["revenue_at_risk"] == pytest.approx(row["churn_probability"] * row["arr"])


def test_row_limit_truncates(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    result = run_portfolio_sql(wh, "SELECT name FROM portfolio", SYSTEM, max_rows=7)
    assert len(result.table) == 7
    assert result.truncated
    small = run_portfolio_sql(wh, "SELECT name FROM portfolio LIMIT 3", SYSTEM, max_rows=7)
    assert len(small.table) == 3 and not small.truncated


def test_time_limit_interrupts_a_runaway_query(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    runaway = "SELECT count(*) FROM portfolio a, portfolio b, portfolio c, portfolio d"
    with pytest.raises(BadInputError, match="longer than"):
        run_portfolio_sql(wh, runaway, SYSTEM, timeout_s=0.3)
    # The connection is still usable afterwards.
    assert len(run_portfolio_sql(wh, "SELECT name FROM portfolio LIMIT 2", SYSTEM).table) == 2


def test_execution_is_read_only_even_on_a_writable_connection(ai_data_dir):
    wh = get_warehouse(ai_data_dir)  # writable, like the app's
    before = wh.scalar("SELECT count(*) FROM customers")
    with pytest.raises(SqlRefused):
        run_portfolio_sql(wh, "DELETE FROM customers", SYSTEM)
    assert wh.scalar("SELECT count(*) FROM customers") == before


def test_parameter_count_must_match(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    with pytest.raises(SqlRefused, match="parameter"):
        run_portfolio_sql(wh, "SELECT name FROM portfolio WHERE mrr > ?", SYSTEM, [])


VOCAB = Vocabulary(("fintech", "retail"), ("EMEA", "North America"), ("emma.rossi", "ben.okafor"))
AS_OF = date(2026, 6, 30)


def test_parser_reads_the_headline_question():
    parsed = parse_question(
        "Which enterprise fintech accounts renewing next quarter have churn above 50 %?", VOCAB, AS_OF, SYSTEM
    )
    assert "plan_tier IN (?)" in parsed.sql and "industry IN (?)" in parsed.sql
    assert "churn_probability > ?" in parsed.sql and "renewal_date BETWEEN ? AND ?" in parsed.sql
    assert parsed.params == ("enterprise", "fintech", 0.5, date(2026, 7, 1), date(2026, 9, 30))
    assert parsed.leftovers == ()
    validate_sql(parsed.sql)


@pytest.mark.parametrize(
    ("question", "fragments", "params"),
    [
        ("Top 10 accounts by revenue at risk", ["ORDER BY revenue_at_risk DESC", "LIMIT 10"], ()),
        (
            "How many critical accounts in EMEA?",
            ["count(*)", "risk_tier IN (?)", "region IN (?)"],
            ("EMEA", "critical"),
        ),
        ("revenue at risk by industry", ["GROUP BY industry"], ()),
        (
            "growth customers with MRR over $5k owned by emma.rossi",
            ["mrr > ?", "csm_owner IN (?)"],
            ("growth", "emma.rossi", 5000.0),
        ),
        (
            "at-risk accounts renewing in the next 30 days",
            ["risk_tier IN (?, ?)"],
            ("high", "critical", AS_OF, date(2026, 7, 30)),
        ),
        ("retail accounts with ARR below 100k", ["arr < ?"], ("retail", 100000.0)),
        (
            "North America accounts renewing this month sorted by mrr",
            ["ORDER BY mrr DESC"],
            ("North America", AS_OF, AS_OF),
        ),
    ],
)
def test_parser_covers_filters(question, fragments, params):
    parsed = parse_question(question, VOCAB, AS_OF, SYSTEM)
    for fragment in fragments:
        assert fragment in parsed.sql
    assert parsed.params == params
    validate_sql(parsed.sql)


@pytest.mark.parametrize(
    ("question", "start", "end"),
    [
        # Jun 30, 2026 is a Tuesday: next week is Monday Jul 6 to Sunday Jul 12.
        ("Which of my accounts renew next week?", date(2026, 7, 6), date(2026, 7, 12)),
        ("accounts renewing this week", AS_OF, date(2026, 7, 5)),
        ("accounts renewing in the next two weeks", AS_OF, date(2026, 7, 14)),
        ("who renews tomorrow", date(2026, 7, 1), date(2026, 7, 1)),
        ("renewals next year", date(2027, 1, 1), date(2027, 12, 31)),
        ("accounts renewing within ninety days", AS_OF, date(2026, 9, 28)),
    ],
)
def test_renewal_windows_in_weeks_years_and_words(question, start, end):
    """ "Which of my accounts renew next week?" was answered with every account in the book:
    the window was dropped without a word, a confident wrong answer."""
    parsed = parse_question(question, VOCAB, AS_OF, SYSTEM)
    assert "renewal_date BETWEEN ? AND ?" in parsed.sql
    assert parsed.params[-2:] == (start, end)
    validate_sql(parsed.sql)


@pytest.mark.parametrize(
    ("question", "cycle"),
    [
        ("What is the average MRR of accounts on the annual plan?", "annual"),
        ("How many accounts are billed monthly?", "monthly"),
        ("Top 5 quarterly contracts by revenue at risk", "quarterly"),
        ("ARR at risk on semi-annual billing", "semiannual"),
    ],
)
def test_parser_reads_a_billing_cycle_as_a_filter(question, cycle):
    """'average MRR of accounts on the annual plan' answered for every account at confidence 0.90:
    'annual' and 'plan' are words of other readings, so nothing said the filter was dropped."""
    parsed = parse_question(question, VOCAB, AS_OF, SYSTEM)
    assert "billing_cycle = ?" in parsed.sql and cycle in parsed.params
    assert f"on {cycle} billing" in parsed.reading and parsed.leftovers == ()
    validate_sql(parsed.sql)


def test_annual_recurring_revenue_is_no_billing_cycle_and_an_unloaded_cycle_is_said():
    assert (
        "billing_cycle" not in parse_question("What is the total annual recurring revenue?", VOCAB, AS_OF, SYSTEM).sql
    )
    unknown = Vocabulary(VOCAB.industries, VOCAB.regions, VOCAB.owners, billing_known=False)
    parsed = parse_question("average MRR of accounts on the annual plan", unknown, AS_OF, SYSTEM)
    assert "billing_cycle" not in parsed.sql and "on the annual plan" in parsed.leftovers


@pytest.mark.parametrize(
    "question",
    [
        "high or critical risk accounts",
        "How many high and critical accounts in EMEA?",
        "accounts in the high/critical tiers",
        "high risk or critical risk customers",
    ],
)
def test_parser_reads_a_list_of_tiers_as_all_of_them(question):
    # Only the last tier used to reach the filter: "high or critical" answered for critical alone.
    parsed = parse_question(question, VOCAB, AS_OF, SYSTEM)
    assert "risk_tier IN (?, ?)" in parsed.sql
    assert {"high", "critical"} <= set(parsed.params)
    assert not any(word in ("high", "critical", "or", "and") for word in parsed.leftovers)
    validate_sql(parsed.sql)


@pytest.mark.parametrize(
    ("question", "order"),
    [("Which region is the worst?", "DESC"), ("Which plan is the best?", "ASC"), ("which industry is worst", "DESC")],
)
def test_worst_and_best_without_a_measure_are_said_of_churn_risk(question, order):
    """ "Which region is the worst?" answered with the region holding the most accounts."""
    parsed = parse_question(question, VOCAB, AS_OF, SYSTEM)
    assert "avg(churn_probability)" in parsed.sql and parsed.sql.rstrip().endswith(f"{order} NULLS LAST")
    assert "count(*) AS accounts" in parsed.sql  # the group sizes are shown next to it
    counted = parse_question("Which region has the most accounts?", VOCAB, AS_OF, SYSTEM)
    assert "avg(churn_probability)" not in counted.sql


def test_a_list_of_levels_that_is_not_about_tiers_filters_no_tier():
    parsed = parse_question("accounts with high or medium usage", VOCAB, AS_OF, SYSTEM)
    assert parsed is None or "risk_tier" not in parsed.sql


def test_parser_returns_none_for_questions_it_cannot_map():
    assert parse_question("What is the weather in Paris?", VOCAB, AS_OF, SYSTEM) is None


def test_parser_reports_words_it_did_not_use():
    parsed = parse_question("Which accounts have an NPS below 30 and churn over 40%?", VOCAB, AS_OF, SYSTEM)
    assert "nps" in parsed.leftovers


def test_ask_portfolio_offline_answers_with_table_and_sql(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    answer = ask_portfolio(wh, "Top 5 accounts by revenue at risk", SYSTEM, client=None)
    assert answer.row_count == 5 and not answer.scope_exceeded and not answer.refused
    assert answer.table["revenue_at_risk"].is_monotonic_decreasing
    assert "FROM portfolio" in answer.sql and "LIMIT 5" in answer.sql_display
    assert answer.answer.endswith("⚠️ AI-generated. Requires human review.")
    assert answer.llm_provider == "offline" and answer.guardrail_flags == ()
    payload = to_dict(answer)
    assert payload["columns"][0] == "customer_id" and len(payload["rows"]) == 5


def test_ask_portfolio_for_a_csm_lists_only_their_accounts(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    answer = ask_portfolio(wh, "show all accounts by mrr", EMMA, client=None)
    assert answer.row_count > 0
    assert set(answer.table["csm_owner"]) == {"emma.rossi"}


def test_most_at_risk_ranks_every_tier_and_a_csm_is_told_another_book_is_not_theirs(ai_data_dir):
    """'Which of my accounts are most at risk?' was read as the high/critical tier filter: a CSM
    whose riskiest account is medium got "No account matches". And a CSM naming another CSM
    got "0 accounts", which reads as a fact about the other book."""
    wh = get_warehouse(ai_data_dir, read_only=True)
    parsed = parse_question("Which of my accounts are most at risk?", VOCAB, AS_OF, EMMA)
    assert "risk_tier IN" not in parsed.sql and "ORDER BY churn_probability DESC" in parsed.sql
    assert parsed.params == ("emma.rossi",)
    for question in ("Show the riskiest accounts", "Which accounts are at the highest risk?"):
        assert "ORDER BY churn_probability DESC" in parse_question(question, VOCAB, AS_OF, SYSTEM).sql
    money = parse_question("How much ARR is most at risk?", VOCAB, AS_OF, SYSTEM)
    assert "sum(revenue_at_risk)" in money.sql  # money at risk stays the measure
    answer = ask_portfolio(wh, "Which of my accounts are most at risk?", EMMA, client=None)
    assert answer.row_count == len(board.board_frame(wh, EMMA)) > 0

    other = ask_portfolio(wh, "How many accounts does ben.okafor own?", EMMA, client=None)
    assert other.scope_exceeded and other.row_count == 0
    assert "The accounts of ben.okafor are not in your book" in other.answer
    mine = ask_portfolio(wh, "How many accounts does emma.rossi own?", EMMA, client=None)
    assert not mine.scope_exceeded and mine.row_count == 1
    leader = ask_portfolio(wh, "How many accounts does ben.okafor own?", SYSTEM, client=None)
    assert not leader.scope_exceeded


def test_the_portfolio_tab_names_what_the_companys_data_can_answer(ai_data_dir):
    from engine.ai import portfolio_sql

    words, example = portfolio_sql.askable(get_warehouse(ai_data_dir, read_only=True))
    assert words == (
        "plan, industry, region, risk tier, churn probability, renewal date, MRR/ARR, owner or revenue at risk"
    )
    assert example.startswith("Which enterprise fintech accounts")


def test_ask_portfolio_out_of_scope_and_partly_understood(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    weather = ask_portfolio(wh, "What is the weather today?", SYSTEM, client=None)
    assert weather.scope_exceeded and weather.table.empty and weather.sql == ""
    assert weather.guardrail_flags == ()
    nps = ask_portfolio(wh, "Which accounts have an NPS below 30 and churn over 40%?", SYSTEM, client=None)
    assert nps.scope_exceeded and nps.table.empty and nps.sql == ""
    assert "no NPS" in nps.refusal_reason
    vague = ask_portfolio(wh, "Show me enterprise accounts with a purple logo", SYSTEM, client=None)
    assert "question_partly_understood" in vague.guardrail_flags
    assert vague.needs_review  # a word the parser did not use may change the meaning
    for negated in ("Show me accounts excluding fintech", "How many accounts are not at risk?"):
        opposite = ask_portfolio(wh, negated, SYSTEM, client=None)  # read without its negation: not guessed
        assert opposite.scope_exceeded and opposite.table.empty, negated


# -- issue 12 item 10: reading questions right, and saying how they were read ----------
def test_arr_at_risk_is_the_boards_measure_not_a_tier_filter(ai_data_dir):
    from engine.accounts import board as board_mod
    from engine.portfolio import kpis as portfolio

    wh = get_warehouse(ai_data_dir, read_only=True)
    answer = ask_portfolio(wh, "How much ARR is at risk in fintech?", SYSTEM, client=None)
    assert "risk_tier" not in answer.sql
    board = board_mod.board_frame(wh, SYSTEM)
    expected = portfolio.risk_summary(board[board["industry"] == "fintech"])
    assert len(answer.table) == 1
    assert answer.table.iloc[0]["total_revenue_at_risk"] == pytest.approx(expected.revenue_at_risk)
    assert answer.table.iloc[0]["accounts"] == expected.accounts
    assert "I read this as: total ARR at risk of all active accounts in the Fintech industry" in answer.answer
    tiers = ask_portfolio(wh, "How many at-risk accounts are in fintech?", SYSTEM, client=None)
    assert "risk_tier IN" in tiers.sql and "assumed_meaning" in tiers.guardrail_flags


def test_which_csm_has_the_most_revenue_at_risk_is_answered(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    answer = ask_portfolio(wh, "Which CSM has the most revenue at risk?", SYSTEM, client=None)
    assert not answer.scope_exceeded and not answer.refused
    truth = wh.rows(
        "SELECT c.csm_owner, sum(12 * p.mrr * p.churn_probability) AS v FROM predictions p "
        "JOIN customers c USING (customer_id) WHERE p.as_of = (SELECT max(as_of) FROM predictions) "
        "AND c.status = 'active' GROUP BY 1 ORDER BY v DESC LIMIT 1"
    )[0]
    assert answer.table.iloc[0]["csm_owner"] == truth[0]
    assert answer.table.iloc[0]["total_revenue_at_risk"] == pytest.approx(truth[1])
    assert truth[0] in answer.answer


FUTURE_LEVELS = (
    "What will MRR be next quarter?",
    "How much revenue will we have next year?",
    "Will ARR grow next quarter?",
    "What's the MRR outlook?",
    "Expected MRR in 6 months",
    "How many customers will we have next month?",
)
AHEAD_BUT_ANSWERABLE = (  # churn probability looks 90 days ahead; renewal dates are known
    "Which accounts renew next quarter?",
    "ARR at risk next quarter",
    "Which accounts will churn next quarter?",
    "How much ARR will we lose next quarter?",
    "Which accounts will renew in the next 30 days?",
    "Total MRR of enterprise accounts",
)


def test_a_future_revenue_or_customer_count_is_sent_to_the_forecasts_not_answered_with_today():
    """'What will MRR be next quarter?' was answered with today's total MRR, a confident wrong answer."""
    from engine.ai.portfolio_parser import screen_question

    for question in FUTURE_LEVELS:
        assert "Forecasts page" in (screen_question(question) or ""), question
    for question in AHEAD_BUT_ANSWERABLE:
        assert screen_question(question) is None, question


def test_a_grouping_the_portfolio_does_not_hold_is_refused_not_read_as_a_list():
    """'Which channel has the highest churn?' (a company's own account column) was answered with
    every account sorted by churn: another question's answer."""
    from engine.ai.portfolio_parser import screen_question

    for question in ("Which channel has the highest churn?", "which country has the most ARR at risk"):
        assert "cannot be grouped by" in (screen_question(question) or ""), question
    # A company that loaded a channel column asks by it (test_ingest_customers has the answer).
    own = Vocabulary(VOCAB.industries, VOCAB.regions, VOCAB.owners, attributes=(("channel", "category"),))
    assert screen_question("Which channel has the highest churn?", own) is None
    said = screen_question("which country has the most ARR at risk", own) or ""
    assert "cannot be grouped by 'country'" in said and "your own columns channel" in said
    for question in (
        "Which accounts have the highest churn?",
        "Which plan has the most ARR at risk?",
        "Which CSM has the most revenue at risk?",
        "Which industries have the lowest churn?",
        "Which of my accounts has the highest churn?",
        "Which customer has the most seats?",
    ):
        assert screen_question(question) is None, question


def test_a_share_of_accounts_is_not_guessed_but_the_share_of_arr_at_risk_is_answered(ai_data_dir):
    """'What share of accounts are critical?' listed the critical accounts; its whole is not named, so
    the reader says it cannot turn it into a query. The share of ARR at risk has one meaning."""
    wh = get_warehouse(ai_data_dir, read_only=True)
    guessed = ask_portfolio(wh, "What share of accounts are critical?", SYSTEM, client=None)
    assert guessed.table.empty and "can't turn that into a portfolio query" in guessed.answer
    share = ask_portfolio(wh, "What share of ARR is at risk?", SYSTEM, client=None)
    truth = wh.scalar(
        "SELECT sum(churn_probability * 12 * mrr) / sum(12 * mrr) FROM predictions "
        "WHERE as_of = (SELECT max(as_of) FROM predictions)"
    )
    assert float(share.table.iloc[0, 0]) == pytest.approx(truth, rel=1e-6)
    assert share.guardrail_flags == () and "%" in share.answer


@pytest.mark.parametrize(
    "question",
    [
        "Which customers have the highest NPS?",
        "What is our CAC by region?",
        "Average headcount of enterprise customers",
        FUTURE_LEVELS[0],
    ],
)
def test_metrics_the_data_does_not_hold_are_refused_by_name(ai_data_dir, question, fake_groq):
    from engine.ai import GroqClient, LlmSettings

    wh = get_warehouse(ai_data_dir, read_only=True)
    offline = ask_portfolio(wh, question, SYSTEM, client=None)
    assert offline.scope_exceeded and offline.table.empty
    assert "The portfolio data has no" in offline.answer
    # A model that would answer anyway (an invented substitute column) is never asked.
    fake_groq.queue(fake_groq.Reply("```sql\nSELECT name, risk_score FROM portfolio ORDER BY 2 DESC\n```"))
    client = GroqClient(LlmSettings(api_key="t", model="m", base_url=fake_groq.base_url, max_retries=0))
    model = ask_portfolio(wh, question, SYSTEM, client=client)
    assert model.scope_exceeded and not fake_groq.completion_requests


def test_a_model_reading_that_disagrees_with_the_parser_needs_review(ai_data_dir, fake_groq):
    from engine.ai import GroqClient, LlmSettings

    wh = get_warehouse(ai_data_dir, read_only=True)
    client = GroqClient(LlmSettings(api_key="t", model="m", base_url=fake_groq.base_url, max_retries=0))
    fake_groq.queue(
        fake_groq.Reply(
            "-- I read this as: ARR at risk of high and critical fintech accounts\n```sql\nSELECT "
            "sum(revenue_at_risk) FROM portfolio WHERE industry = 'fintech' AND risk_tier IN ('high', 'critical')\n```"
        ),
        fake_groq.Reply(
            "-- I read this as: total ARR at risk of fintech accounts\n```sql\n"
            "SELECT sum(revenue_at_risk) FROM portfolio WHERE industry = 'fintech'\n```"
        ),
    )
    wrong = ask_portfolio(wh, "How much ARR is at risk in fintech?", SYSTEM, client=client)
    assert "readings_disagree" in wrong.guardrail_flags and wrong.needs_review
    assert wrong.answer.startswith("I read this as: ARR at risk of high and critical fintech accounts.")
    right = ask_portfolio(wh, "How much ARR is at risk in fintech?", SYSTEM, client=client)
    assert "readings_disagree" not in right.guardrail_flags and not right.needs_review
    assert right.confidence_score < 1.0  # a model's SQL is never fully trusted


def _not_right(wh, client) -> list:
    from tests.portfolio_questions import evaluate

    return [
        (q.question, o) for q, o, _a in evaluate(wh, client=client, data_dir=None) if o not in ("correct", "refused")
    ]


def test_labelled_question_set_accuracy(ai_data_dir, fake_groq):
    """>= 95 % right (or honestly refused) and no confident wrong answer, offline and with a model."""
    from engine.ai import GroqClient, LlmSettings
    from tests.portfolio_questions import QUESTIONS, evaluate, scripted_model, tally

    assert len(QUESTIONS) >= 60
    wh = get_warehouse(ai_data_dir, read_only=True)
    offline = tally(evaluate(wh, client=None, data_dir=None))
    fake_groq.default = lambda body: fake_groq.Reply(scripted_model(body))
    client = GroqClient(LlmSettings(api_key="t", model="m", base_url=fake_groq.base_url, max_retries=0))
    model = tally(evaluate(wh, client=client, data_dir=None))
    for counts in (offline, model):
        assert counts["confident_wrong"] == 0, (counts, _not_right(wh, client))
        assert (counts["correct"] + counts["refused"]) / len(QUESTIONS) >= 0.95, counts


def test_errors_never_quote_data_outside_a_csm_book(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    sql = "SELECT name FROM portfolio WHERE CAST(name AS INTEGER) = 1"
    with pytest.raises(SqlRefused) as for_csm:
        run_portfolio_sql(wh, sql, EMMA)
    # The raw error quotes a row's value, and which rows are read first is the optimizer's choice.
    names = [r[0] for r in wh.rows("SELECT name FROM customers")]
    assert not any(name in str(for_csm.value) for name in names)
    assert "Conversion" not in str(for_csm.value)
    with pytest.raises(SqlRefused, match="Conversion"):
        run_portfolio_sql(wh, sql, SYSTEM)  # an analyst sees everything anyway: the full reason
    with pytest.raises(SqlRefused, match="Binder Error"):
        run_portfolio_sql(wh, "SELECT no_such_column FROM portfolio", EMMA)


# -- issue 12 item 8: SQL that builds huge values is refused or bounded ------------------
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT repeat(name, 200000) FROM portfolio",
        "SELECT lpad(name, 100000000, 'x') FROM portfolio",
        "SELECT rpad(name, 100000000, 'x') FROM portfolio",
        "SELECT string_agg(name, ',') FROM portfolio",
        "SELECT list(name) FROM portfolio",
        "SELECT array_agg(name) FROM portfolio",
        "SELECT range(100000000)",
        "SELECT generate_series(1, 100000000)",
        "SELECT replace(replace(name, 'a', name), 'a', name) FROM portfolio",
        "SELECT regexp_replace(name, '', name, 'g') FROM portfolio",
        "SELECT format('{:>100000000}', name) FROM portfolio",
        "SELECT printf('%100000000d', seats) FROM portfolio",
    ],
)
def test_value_building_functions_are_refused(sql):
    with pytest.raises(SqlRefused, match="(?i)builds large values|not allowed"):
        validate_sql(sql)


def test_the_question_sql_runs_on_a_bounded_private_connection():
    from engine.ai import sql_guard

    con = sql_guard._private_connection()
    try:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        with pytest.raises(Exception, match="(?i)lock|config"):
            con.execute("SET memory_limit = '64GB'")
    finally:
        con.close()
    assert limit.replace(" ", "").upper().startswith(("488", "512")), limit  # 512MB (DuckDB prints MiB)
    assert int(threads) == 1


def test_hostile_queries_are_bounded(ai_data_dir, monkeypatch):
    from engine.ai import sql_guard

    wh = get_warehouse(ai_data_dir, read_only=True)
    # A cross join that would sort |portfolio|^3 rows: stopped by the time limit (or the memory limit).
    with pytest.raises(BadInputError, match="(?i)longer than|memory"):
        run_portfolio_sql(
            wh,
            "SELECT a.name || b.name || c.name || d.name AS x FROM portfolio a, portfolio b, portfolio c, "
            "portfolio d ORDER BY x",
            SYSTEM,
            timeout_s=0.5,
        )
    # The result is read in chunks and refused past the byte cap.
    monkeypatch.setattr(sql_guard, "MAX_RESULT_BYTES", 2_000)
    with pytest.raises(SqlRefused, match="larger than"):
        run_portfolio_sql(wh, "SELECT name, recommended_action FROM portfolio", SYSTEM)
    monkeypatch.undo()
    # The hostile question of the issue, end to end: refused, nothing built.
    answer = ask_portfolio(wh, "SELECT repeat(name, 200000) FROM portfolio", SYSTEM, client=None)
    assert (answer.refused or answer.scope_exceeded) and answer.table.empty


# -- issue 12 item 9: the prompt lists only what the viewer may see; CLI refusals exit 2 --
def test_a_csm_prompt_lists_no_other_csm(ai_data_dir, fake_groq):
    from engine.ai import GroqClient, LlmSettings

    wh = get_warehouse(ai_data_dir, read_only=True)
    owners = [r[0] for r in wh.rows("SELECT DISTINCT csm_owner FROM customers WHERE csm_owner IS NOT NULL")]
    client = GroqClient(LlmSettings(api_key="t", model="m", base_url=fake_groq.base_url, max_retries=0))
    fake_groq.queue(fake_groq.Reply("-- I read this as: my accounts\n```sql\nSELECT name FROM portfolio\n```"))
    ask_portfolio(wh, "Top 3 accounts by MRR", EMMA, client=client)
    prompt = fake_groq.completion_requests[-1].prompt
    assert "emma.rossi" in prompt
    assert not [o for o in owners if o != "emma.rossi" and o in prompt]
    fake_groq.queue(fake_groq.Reply("-- I read this as: all\n```sql\nSELECT name FROM portfolio\n```"))
    ask_portfolio(wh, "Top 3 accounts by MRR", SYSTEM, client=client)
    assert all(o in fake_groq.completion_requests[-1].prompt for o in owners)  # an analyst may see them all


def test_cli_ask_portfolio_refusal_exits_2_and_still_prints_json(ai_data_dir, capsys):
    import json

    from engine import cli

    base = ["--data-dir", str(ai_data_dir)]
    assert cli.main([*base, "ask-portfolio", "Which customers have the highest NPS?", "--json"]) == 2
    payload = json.loads(capsys.readouterr().out)
    assert payload["scope_exceeded"] is True and payload["rows"] == []
    assert cli.main([*base, "ask-portfolio", "What is the weather in Paris?"]) == 2
    capsys.readouterr()
    assert cli.main([*base, "ask-portfolio", "top 3 accounts by revenue at risk", "--json"]) == 0


def test_the_private_connection_keeps_column_types(ai_data_dir):
    wh = get_warehouse(ai_data_dir, read_only=True)
    days = run_portfolio_sql(
        wh, "SELECT count(*) AS n FROM portfolio WHERE renewal_date BETWEEN as_of AND as_of + 90", SYSTEM
    ).table
    truth = run_portfolio_sql(wh, "SELECT count(*) AS n FROM portfolio WHERE days_to_renewal BETWEEN 0 AND 90", SYSTEM)
    assert int(days.iloc[0]["n"]) == int(truth.table.iloc[0]["n"]) > 0


@pytest.mark.parametrize(
    "question",
    [
        "What percentage of ARR is at risk?",
        "What is the median MRR?",
        "How many accounts will churn in the next 90 days?",
        "Median churn probability by industry",
        "Average seats by plan",
    ],
)
def test_every_column_of_an_answer_has_a_label_and_format_on_the_page(ai_data_dir, question):
    """A share of 0.0399 showed as a bare number under 'Share at risk': each column the reader
    writes is named and formatted on the page."""
    from components import ai as page_ai

    wh = get_warehouse(ai_data_dir, read_only=True)
    answer = ask_portfolio(wh, question, SYSTEM, client=None)
    assert not answer.table.empty
    assert set(answer.table.columns) <= set(page_ai._PORTFOLIO_LABELS) | {"plan_tier", "industry"}, answer.table.columns


def test_a_csms_own_book_is_said_once():
    """'average MRR of all active accounts in your book on annual billing and owned by Dana Whitfield'."""
    parsed = parse_question("What is the average MRR of my accounts?", VOCAB, AS_OF, EMMA)
    assert parsed.reading == "average MRR of all active accounts in your book" and "csm_owner IN (?)" in parsed.sql
    other = parse_question("average MRR of accounts owned by ben.okafor", VOCAB, AS_OF, SYSTEM)
    assert "owned by ben.okafor" in other.reading


def test_the_books_retention_is_answered_as_the_overview_computes_it(ai_data_dir):
    """'What's our net revenue retention?' was refused ('the portfolio data has no revenue
    retention') and 'How many customers churned?' sent a CSM to the Overview, a page their role
    does not open. They are answered from the Overview's own figures for the viewer's book,
    checked here against SQL written by hand over the raw tables."""
    from engine.ai import headline
    from engine.portfolio.kpis import portfolio_kpis
    from tests.portfolio_questions import QUESTIONS, evaluate

    wh = get_warehouse(ai_data_dir, read_only=True)
    asked = [q for q in QUESTIONS if q.category == "retention"]
    assert len(asked) >= 4
    for item, result, answer in evaluate(wh, client=None, data_dir=None, questions=asked):
        assert result == "correct", (item.question, answer.answer, answer.table)
        assert not answer.needs_review and answer.sql == "", item.question
    emma = Viewer("emma.rossi", "csm")
    mine = ask_portfolio(wh, "What is the net revenue retention of my book?", emma, client=None)
    everyone = ask_portfolio(wh, "What is our NRR?", SYSTEM, client=None)
    assert mine.table["cohort_customers"].iloc[0] < everyone.table["cohort_customers"].iloc[0]
    kpis = portfolio_kpis(wh, None, emma)
    assert mine.table["rate"].iloc[0] == pytest.approx(kpis.net_revenue_retention_12m)
    assert "your book" in mine.answer and "whole book" in everyone.answer
    # Another window than the card's is answered for the card's window, said and flagged.
    quarter = ask_portfolio(wh, "How many customers did we lose last quarter?", SYSTEM, client=None)
    assert "90 days to" in quarter.answer and "assumed_meaning" in quarter.guardrail_flags
    # A year's churn is answered over the 12 months to the data date (the NRR cohort), not 90 days.
    year = ask_portfolio(wh, "How many customers did we lose last year?", SYSTEM, client=None)
    k = portfolio_kpis(wh)
    assert "12 months to" in year.answer and year.table["churned_customers"].iloc[0] == k.churned_customers_12m
    assert year.table["rate"].iloc[0] == pytest.approx(k.churned_customers_12m / k.customers_12m_ago)
    assert "assumed_meaning" in year.guardrail_flags  # 'last year' may mean the calendar year: said
    # A breakdown, a segment or another CSM's book is not the book's figure: refused, saying why.
    vocab = vocabulary(wh)
    for question in ("NRR by plan", "Which region has the best net revenue retention?", "logo churn of fintech"):
        assert headline.asks_for_headline(question, vocab) is None, question
        refused = ask_portfolio(wh, question, SYSTEM, client=None)
        assert refused.scope_exceeded and "for the whole book, not per segment" in refused.answer, question
        assert "The Overview compares churn and NRR per behavioural segment" in refused.answer  # a leader's pointer
    told_csm = ask_portfolio(wh, "NRR by plan", emma, client=None).answer
    assert "for the whole book, not per segment" in told_csm and "Overview" not in told_csm
    # Accounts that churned are not in the portfolio; only a role that opens the Overview is sent there.
    listing = "Which accounts churned last month?"
    assert "see the Overview" in ask_portfolio(wh, listing, SYSTEM, client=None).answer
    told = ask_portfolio(wh, listing, emma, client=None).answer
    assert "Overview" not in told and "What is our logo churn?" in told


def test_an_accounts_churn_rate_above_a_threshold_is_its_churn_probability(ai_data_dir):
    """'Which accounts have a churn rate above 20%?' was refused as a question about accounts that
    churned; an account's churn rate can only mean its churn probability, and the answer says so."""
    wh = get_warehouse(ai_data_dir, read_only=True)
    rate = ask_portfolio(wh, "Which accounts have a churn rate above 20%?", SYSTEM, client=None)
    probability = ask_portfolio(wh, "Which accounts have a churn probability above 20%?", SYSTEM, client=None)
    assert not rate.scope_exceeded and rate.sql == probability.sql and rate.params == probability.params
    assert "assumed_meaning" in rate.guardrail_flags
    assert "an account's 'churn rate' read as its churn probability over the next 90 days" in rate.interpretation
    assert rate.question == "Which accounts have a churn rate above 20%?"  # audited as asked
