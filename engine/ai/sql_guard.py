"""Validation and scoped, read-only execution of portfolio SQL, whoever wrote it.

* DuckDB's own parser reads it (`extract_statements` must find exactly one SELECT;
  `json_serialize_sql` gives the syntax tree), so there is no second-guessing of
  quoting, comments or dialect;
* every node of the tree must be of an allowed type (deny by default: table functions
  such as read_csv, SHOW/DESCRIBE, PIVOT, recursive CTEs, lambdas, time travel are
  refused), every table reference must be `portfolio` or a CTE of the query itself in
  scope (never schema-qualified, so a file path or another table cannot be named), and
  every function must be on an allow-list of pure scalar, aggregate and window functions
  (no file, settings, environment or extension functions);
* only positional `?` parameters, as many as are bound.

Functions that build large values from small inputs (repeat, lpad/rpad, replace and
regexp_replace, format/printf, string_agg/list/array_agg, range/generate_series, ...)
are refused by name (`AMPLIFYING_FUNCTIONS`): with them one row could become gigabytes.

It then runs in two steps. The engine's own query builds the viewer's `portfolio` (a
CSM's book only) on a cursor of the warehouse connection, inside `BEGIN TRANSACTION
READ ONLY` that is always rolled back. The question's SQL then runs on a private
in-memory DuckDB connection that holds nothing but that frame, registered as
`portfolio`: `memory_limit` 512MB, one thread, no external access (no files, no
extensions), no spilling to disk, configuration locked. The row limit is applied
outside the query, the result is read in chunks and refused past `MAX_RESULT_BYTES`,
and a timer interrupts the connection after the time limit (covering the fetch, not
only execution). Since only `portfolio` exists there, no query can reach the unscoped
tables, whatever it names; the scope is enforced by the engine, not trusted to the
model's SQL.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from engine.core.access import Viewer
from engine.core.errors import BadInputError
from engine.core.renewal import billing_cycle_label_sql, billing_months_sql, renewal_date_sql
from engine.data import health
from engine.data.warehouse import Warehouse, billing_sql, latest_predictions_sql

MAX_ROWS = 500
TIMEOUT_S = 5.0
MAX_SQL_CHARS = 5000

# name, type, meaning: the only relation a portfolio query may read.
PORTFOLIO_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("customer_id", "VARCHAR", "account id"),
    ("name", "VARCHAR", "account name"),
    ("plan_tier", "VARCHAR", "starter, growth or enterprise"),
    ("industry", "VARCHAR", "industry"),
    ("region", "VARCHAR", "region"),
    ("seats", "INTEGER", "licensed seats"),
    ("csm_owner", "VARCHAR", "the CSM who owns the account, as the CRM names them"),
    ("gtm_stage", "VARCHAR", "onboarding, adoption, expansion or renewal"),
    ("billing_cycle", "VARCHAR", "monthly, quarterly, semiannual, annual, or every N months"),
    ("signup_date", "DATE", "first day as a customer"),
    ("tenure_days", "INTEGER", "days since signup_date"),
    (
        "renewal_date",
        "DATE",
        "next renewal: end of the main subscription's billing period, else signup anniversary by billing cycle, else the contract end",
    ),
    ("days_to_renewal", "INTEGER", "days from as_of to renewal_date"),
    ("mrr", "DOUBLE", "monthly recurring revenue, currency units"),
    ("arr", "DOUBLE", "annual recurring revenue = 12 x mrr"),
    ("churn_probability", "DOUBLE", "probability of churning in the next 90 days, 0 to 1 (0.5 = 50%)"),
    ("ci_low", "DOUBLE", "lower end of the churn probability interval, 0 to 1"),
    ("ci_high", "DOUBLE", "upper end of the churn probability interval, 0 to 1"),
    ("risk_score", "DOUBLE", "composite risk score, 0 to 1"),
    ("risk_tier", "VARCHAR", "low, medium, high or critical"),
    ("revenue_at_risk", "DOUBLE", "churn_probability x arr, currency units per year"),
    ("recommended_action", "VARCHAR", "the model's next step"),
    ("open_tickets", "INTEGER", "support tickets still open"),
    ("open_high_priority_tickets", "INTEGER", "open tickets of high or urgent priority"),
    ("events_last_30d", "INTEGER", "product events in the last 30 days"),
    ("events_prev_30d", "INTEGER", "product events in the 30 days before that"),
    ("as_of", "DATE", "the data date ('today')"),
)
ALLOWED_RELATIONS = frozenset({"portfolio"})

# The body of the `portfolio` CTE. Parameters: the data date, then the viewer filter's.
_PORTFOLIO_BODY = """
    WITH _d AS (SELECT CAST(? AS DATE) AS d),
    _latest AS (
        SELECT customer_id, churn_probability, ci_low, ci_high, risk_score, risk_tier, recommended_action
        FROM (<LATEST>)
    ),
    _mrr AS (
        SELECT m.customer_id, arg_max(m.mrr, m.month) AS mrr
        FROM mrr_history m, _d WHERE m.month <= _d.d GROUP BY m.customer_id
    ),
    -- an account that signed up this month has no month row yet (rows start on the 1st): what
    -- its running subscriptions bill, as scoring, the board and Customer 360 read it
    _billing AS (<BILLING>),
    _tickets AS (
        SELECT customer_id, count(*) AS open_tickets,
               count(*) FILTER (WHERE priority IN ('high', 'urgent')) AS open_high_priority_tickets
        FROM support_tickets WHERE closed_at IS NULL GROUP BY customer_id
    ),
    _usage AS (
        SELECT u.customer_id,
               sum(u.events) FILTER (WHERE u.date > _d.d - 30) AS events_last_30d,
               sum(u.events) FILTER (WHERE u.date <= _d.d - 30) AS events_prev_30d
        FROM usage_daily u, _d WHERE u.date > _d.d - 60 AND u.date <= _d.d GROUP BY u.customer_id
    )
    SELECT c.customer_id, c.name, c.plan_tier, c.industry, c.region, c.seats, c.csm_owner, c.gtm_stage,
           <BILLING_LABEL> AS billing_cycle, c.signup_date, date_diff('day', c.signup_date, _d.d) AS tenure_days,
           <RENEWAL> AS renewal_date, date_diff('day', _d.d, <RENEWAL>) AS days_to_renewal,
           coalesce(m.mrr, b.mrr, 0) AS mrr, 12 * coalesce(m.mrr, b.mrr, 0) AS arr,
           p.churn_probability, p.ci_low, p.ci_high, p.risk_score, p.risk_tier,
           p.churn_probability * 12 * coalesce(m.mrr, b.mrr, 0) AS revenue_at_risk, p.recommended_action,
           coalesce(t.open_tickets, 0) AS open_tickets,
           coalesce(t.open_high_priority_tickets, 0) AS open_high_priority_tickets,
           coalesce(u.events_last_30d, 0) AS events_last_30d, coalesce(u.events_prev_30d, 0) AS events_prev_30d,
           _d.d AS as_of
    FROM customers c
    CROSS JOIN _d
    LEFT JOIN _latest p ON p.customer_id = c.customer_id
    LEFT JOIN _mrr m ON m.customer_id = c.customer_id
    LEFT JOIN _billing b ON b.customer_id = c.customer_id
    LEFT JOIN _tickets t ON t.customer_id = c.customer_id
    LEFT JOIN _usage u ON u.customer_id = c.customer_id
    -- active on the data date by its dates, as the KPIs count (status describes today: an account
    -- whose last subscription ends tomorrow is already 'churned' but still a customer on the date)
    WHERE c.signup_date <= _d.d AND (c.churn_date IS NULL OR c.churn_date > _d.d) AND {owner_condition}
"""
# The renewal date by the one renewal rule (the features, the board and Customer 360 use it too).
# The latest predictions by the one definition every reader uses.
_PORTFOLIO_BODY = (
    _PORTFOLIO_BODY.replace(
        "<RENEWAL>",
        renewal_date_sql("_d.d", "c.signup_date", "c.billing_cycle", "c.contract_end_date", "c.customer_id"),
    )
    .replace("<LATEST>", latest_predictions_sql("as_of = (SELECT max(as_of) FROM predictions)"))
    # The cycle is read once per account and named ('annual'), subscriptions first as the renewal is.
    .replace(
        "<BILLING_LABEL>",
        f"(SELECT {billing_cycle_label_sql('_m')} "  # noqa: S608 - engine-written identifiers only
        f"FROM (SELECT {billing_months_sql('_d.d', 'c.billing_cycle', 'c.customer_id')} AS _m))",
    )
    .replace("<BILLING>", billing_sql("subscriptions, _d", mrr="_d.d"))
)


class SqlRefused(BadInputError):
    """The SQL is not a single safe SELECT over the portfolio view."""


# -- validation ------------------------------------------------------------------------
ALLOWED_NODE_TYPES = frozenset(
    {
        "SELECT_NODE",
        "SET_OPERATION_NODE",
        "BASE_TABLE",
        "JOIN",
        "SUBQUERY",
        "EMPTY",
        "EXPRESSION_LIST",
        "ORDER_MODIFIER",
        "LIMIT_MODIFIER",
        "DISTINCT_MODIFIER",
        "ORDER_DEFAULT",
        "ASCENDING",
        "DESCENDING",
        "COLUMN_REF",
        "VALUE_CONSTANT",
        "VALUE_PARAMETER",
        "FUNCTION",
        "OPERATOR_CAST",
        "OPERATOR_COALESCE",
        "OPERATOR_NOT",
        "OPERATOR_IS_NULL",
        "OPERATOR_IS_NOT_NULL",
        "OPERATOR_IN",
        "OPERATOR_NOT_IN",
        "CONJUNCTION_AND",
        "CONJUNCTION_OR",
        "CASE_EXPR",
        "COMPARE_BETWEEN",
        "COMPARE_NOT_BETWEEN",
        "COMPARE_IN",
        "COMPARE_NOT_IN",
        "COMPARE_EQUAL",
        "COMPARE_NOTEQUAL",
        "COMPARE_LESSTHAN",
        "COMPARE_GREATERTHAN",
        "COMPARE_LESSTHANOREQUALTO",
        "COMPARE_GREATERTHANOREQUALTO",
        "COMPARE_DISTINCT_FROM",
        "COMPARE_NOT_DISTINCT_FROM",
        "STAR",
        "TYPE",
        "ARRAY_EXTRACT",
        "WINDOW_AGGREGATE",
        "WINDOW_ROW_NUMBER",
        "WINDOW_RANK",
        "WINDOW_RANK_DENSE",
        "WINDOW_PERCENT_RANK",
        "WINDOW_CUME_DIST",
        "WINDOW_NTILE",
        "WINDOW_LAG",
        "WINDOW_LEAD",
        "WINDOW_FIRST_VALUE",
        "WINDOW_LAST_VALUE",
        "WINDOW_NTH_VALUE",
    }
)

# Pure functions only: arithmetic and comparison operators, aggregates, windows, text,
# dates and maths. Nothing that reads files, settings, the environment or the catalog.
ALLOWED_FUNCTIONS = frozenset(
    {
        # operators (DuckDB spells LIKE / ILIKE / GLOB as ~~, ~~*, ~~~)
        *("+", "-", "*", "/", "//", "%", "||", "~~", "!~~", "~~*", "!~~*", "~~~", "^", "**"),
        # aggregates
        *("count", "count_star", "sum", "avg", "mean", "min", "max", "median", "mode", "quantile_cont"),
        *("quantile_disc", "quantile", "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp"),
        *("arg_max", "arg_min", "argmax", "argmin", "max_by", "min_by", "any_value", "first", "last"),
        *("bool_and", "bool_or", "count_if", "countif"),
        *("approx_count_distinct", "sum_no_overflow", "fsum", "favg", "product", "corr", "covar_pop"),
        # windows
        *("row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead"),
        *("first_value", "last_value", "nth_value"),
        # maths
        *("round", "floor", "ceil", "ceiling", "abs", "sign", "sqrt", "power", "pow", "ln", "log", "log10"),
        *("log2", "exp", "greatest", "least", "trunc", "mod", "round_even", "even", "isnan", "isfinite"),
        # text
        *("lower", "upper", "lcase", "ucase", "trim", "ltrim", "rtrim", "length", "strlen", "concat"),
        *("concat_ws", "substring", "substr", "left", "right", "contains", "starts_with"),
        *("ends_with", "prefix", "suffix", "position", "strpos", "instr"),
        *("reverse", "split_part", "regexp_matches", "regexp_full_match"),
        *("regexp_extract", "initcap", "like_escape", "ilike_escape"),
        # dates
        *("date_trunc", "datetrunc", "date_part", "datepart", "extract", "date_diff", "datediff"),
        *("date_sub", "datesub", "date_add", "year", "month", "day", "quarter", "week", "weekofyear"),
        *("dayofweek", "dayofmonth", "dayofyear", "isodow", "yearweek", "last_day", "make_date"),
        *("strftime", "strptime", "try_strptime", "current_date", "today", "to_days", "to_weeks"),
        *("to_months", "to_years", "epoch", "monthname", "dayname", "age", "now", "current_timestamp"),
        *("get_current_timestamp", "to_hours", "to_minutes", "date_add"),
        # misc
        *("coalesce", "ifnull", "nullif", "if", "iff", "list_value", "list_extract", "array_extract"),
        *("struct_pack", "row", "hash", "typeof"),
    }
)


# Functions that build large values from small inputs (a string repeated, padded, replaced
# inside itself, formatted to a width, lists or strings aggregated over rows, ranges):
# refused by name with this reason, even if a later edit adds them to the allow-list.
AMPLIFYING_FUNCTIONS = frozenset(
    {
        *("repeat", "lpad", "rpad", "replace", "regexp_replace", "format", "printf", "string_agg"),
        *("group_concat", "listagg", "list", "array_agg", "histogram", "range", "generate_series"),
        *("list_concat", "array_concat", "list_resize", "array_resize", "unnest", "bar", "string_split"),
        *("str_split", "regexp_split_to_array", "string_to_array", "to_json", "json_group_array", "map"),
    }
)
MAX_RESULT_BYTES = 20_000_000  # the answer table in memory, at most
MEMORY_LIMIT = "512MB"  # the private connection that runs a question's SQL
QUERY_THREADS = 1


@dataclass(frozen=True)
class ValidatedSql:
    sql: str  # the single statement, without a trailing semicolon
    parameters: int  # how many positional `?` it binds


_parser_lock = threading.Lock()
_parser: duckdb.DuckDBPyConnection | None = None


def _syntax_tree(sql: str) -> dict:
    """DuckDB's parse of a SELECT as a JSON tree, on a private in-memory connection."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(":memory:")
        raw = _parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
    return json.loads(raw)


def validate_sql(sql: str) -> ValidatedSql:
    """The SQL if it is one safe SELECT over `portfolio` (see the module doc); else SqlRefused
    with a message saying what was refused."""
    text = (sql or "").strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise SqlRefused("There is no SQL to run.")
    if len(text) > MAX_SQL_CHARS:
        raise SqlRefused(f"The SQL is {len(text):,} characters long; the limit is {MAX_SQL_CHARS:,}.")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise SqlRefused(f"This is not valid SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise SqlRefused(f"Only one statement may run; this has {len(statements)}.")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise SqlRefused(f"Only SELECT queries may run; this is a {statements[0].type.name} statement.")
    tree = _syntax_tree(text)
    if tree.get("error"):
        raise SqlRefused(f"This query cannot be checked: {tree.get('error_message', 'parse error')}.")
    if len(tree.get("statements", [])) != 1:
        raise SqlRefused("Only one statement may run.")
    params: set[str] = set()
    _check_node(tree["statements"][0], frozenset(), params)
    if any(not p.isdigit() for p in params):
        raise SqlRefused("Named parameters ($name) are not allowed.")
    return ValidatedSql(text, len(params))


def _check_node(node: Any, scope: frozenset[str], params: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _check_node(item, scope, params)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if isinstance(kind, str) and kind not in ALLOWED_NODE_TYPES:
        raise SqlRefused(f"The query uses {kind.replace('_', ' ').lower()}, which is not allowed here.")
    cte_map = node.get("cte_map")
    if isinstance(cte_map, dict) and cte_map.get("map"):
        inner = set(scope)
        for entry in cte_map["map"]:
            # A CTE body sees the CTEs defined before it, not itself: a self-reference
            # would reach a real table of that name.
            _check_node(entry.get("value"), frozenset(inner), params)
            inner.add(str(entry.get("key", "")).lower())
        scope = frozenset(inner)
        node = {k: v for k, v in node.items() if k != "cte_map"}
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", "")).lower()
        if node.get("schema_name") or node.get("catalog_name"):
            raise SqlRefused(f"Qualified names are not allowed: read from portfolio only (found '{name}').")
        if node.get("at_clause"):
            raise SqlRefused("Time travel (AT ...) is not allowed.")
        if name not in ALLOWED_RELATIONS and name not in scope:
            raise SqlRefused(f"'{name}' cannot be read: questions may only use the portfolio view.")
    if node.get("class") in ("FUNCTION", "WINDOW") and "function_name" in node:
        name = str(node["function_name"]).lower()
        if node.get("schema") or node.get("catalog"):
            raise SqlRefused(f"Qualified function names are not allowed (found '{name}').")
        if name in AMPLIFYING_FUNCTIONS:
            raise SqlRefused(f"The function '{name}' builds large values and is not allowed in portfolio questions.")
        if name not in ALLOWED_FUNCTIONS:
            raise SqlRefused(f"The function '{name}' is not allowed in portfolio questions.")
    if kind == "VALUE_PARAMETER":
        params.add(str(node.get("identifier", "")))
    for value in node.values():
        if isinstance(value, (dict, list)):
            _check_node(value, scope, params)


# -- running ---------------------------------------------------------------------------
@dataclass(frozen=True)
class QueryResult:
    table: pd.DataFrame
    truncated: bool  # more rows matched than `max_rows`
    seconds: float


def _portfolio_sql(viewer: Viewer, attributes: tuple[tuple[str, str], ...] = ()) -> tuple[str, list]:
    """The viewer's portfolio; with `attributes` (`portfolio_attributes`), one more column per
    company attribute, joined by account after the book's filter."""
    condition, owner_params = viewer.owner_filter("c.csm_owner")
    body = _PORTFOLIO_BODY.format(owner_condition=condition)
    if not attributes:
        return body, owner_params
    # Names are checked identifiers (`portfolio_attributes`); the attribute values are bound.
    pivot = ", ".join(
        f"max({'number_value' if kind == 'number' else 'text_value'}) FILTER (WHERE attribute = ?) AS {name}"
        for name, kind in attributes
    )
    sql = (
        f"SELECT p.*, {', '.join('a.' + name for name, _ in attributes)} FROM ({body}) p "  # noqa: S608
        f"LEFT JOIN (SELECT customer_id, {pivot} FROM customer_attributes GROUP BY customer_id) a "
        "ON a.customer_id = p.customer_id"
    )
    return sql, [*owner_params, *(name for name, _ in attributes)]


_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,39}")


def portfolio_attributes(wh: Warehouse) -> tuple[tuple[str, str], ...]:
    """(name, kind) of the company's own account attributes the portfolio view carries as
    columns: categories and numbers (a date attribute is left out), each a plain identifier
    that names no portfolio column and no reserved SQL word ("order"), so SQL names it bare."""
    rows = wh.rows(
        "SELECT attribute, any_value(kind) FROM customer_attributes WHERE kind IN ('category', 'number') "
        "GROUP BY attribute ORDER BY attribute"
    )
    if not rows:
        return ()
    reserved = {r[0] for r in wh.rows("SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'")}
    taken = {name for name, _, _ in PORTFOLIO_COLUMNS} | {"p", "a"}
    return tuple(
        (str(name), str(kind))
        for name, kind in rows
        if _IDENTIFIER.fullmatch(str(name)) and name not in taken and name not in reserved
    )


def _wrapped(sql: str, max_rows: int) -> str:
    # The query sits on its own lines so a trailing -- comment cannot swallow the wrapper.
    return f"SELECT * FROM (\n{sql}\n) AS answer\nLIMIT {int(max_rows) + 1}"  # noqa: S608 - validated SELECT, int limit


def _private_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for one question's SQL: bounded memory, one thread, no files,
    no extensions, no spilling, its configuration locked."""
    con = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": MEMORY_LIMIT,
            "threads": QUERY_THREADS,
            "enable_external_access": False,
            "autoload_known_extensions": False,
            "autoinstall_known_extensions": False,
            "max_temp_directory_size": "0KB",
        },
    )
    con.execute("SET enable_progress_bar = false")
    con.execute("SET lock_configuration = true")
    return con


def _error_for(viewer: Viewer, exc: duckdb.Error) -> str:
    """DuckDB's reason, unless it could quote data outside a CSM's book.

    The scope filter and a query's own conditions may be evaluated in any order, so a
    conversion or overflow error can quote a value from another CSM's account. Binder
    and parser errors name only columns and syntax.
    """
    first = str(exc).splitlines()[0]
    if viewer.sees_everyone or first.startswith(("Binder Error", "Parser Error")):
        return first
    return "DuckDB could not evaluate it (check types and columns against the portfolio view)."


def run_portfolio_sql(
    wh: Warehouse,
    sql: str,
    viewer: Viewer,
    params: list | tuple = (),
    *,
    max_rows: int = MAX_ROWS,
    timeout_s: float = TIMEOUT_S,
    as_of: date | None = None,
) -> QueryResult:
    """Validate and run one SELECT over `portfolio`, scoped to the viewer's book, read-only,
    at most `max_rows` rows and `timeout_s` seconds. Raises SqlRefused (not allowed) or
    BadInputError (too slow, or failed)."""
    checked = validate_sql(sql)
    if checked.parameters != len(params):
        raise SqlRefused(f"The query has {checked.parameters} parameter(s) but {len(params)} value(s) were given.")
    as_of = as_of or health.data_as_of(wh)
    body, owner_params = _portfolio_sql(viewer, portfolio_attributes(wh))
    t0 = time.perf_counter()
    # 1. The viewer's portfolio, by the engine's own SQL, read-only on the warehouse.
    with wh.cursor() as cur:
        cur.execute("BEGIN TRANSACTION READ ONLY")
        try:
            # Arrow keeps the column types (DATE stays DATE, so `as_of + 90` works as on the warehouse).
            portfolio = cur.sql(body, params=[as_of, *owner_params]).to_arrow_table()
        finally:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
    # 2. The question's SQL on a private connection that holds nothing but that frame.
    con = _private_connection()
    done = threading.Event()

    def stop() -> None:
        if not done.is_set():
            con.interrupt()

    timer = threading.Timer(max(0.0, timeout_s - (time.perf_counter() - t0)), stop)
    try:
        con.register("portfolio", portfolio)
        timer.start()
        try:
            result = con.execute(_wrapped(checked.sql, max_rows), list(params))
            frames, size, rows = [], 0, 0
            while rows <= max_rows:
                chunk = result.fetch_df_chunk()
                if chunk is None or chunk.empty:
                    break
                size += int(chunk.memory_usage(index=False, deep=True).sum())
                if size > MAX_RESULT_BYTES:
                    raise SqlRefused(
                        f"The result is larger than {MAX_RESULT_BYTES // 1_000_000} MB; select fewer or shorter columns."
                    )
                frames.append(chunk)
                rows += len(chunk)
            frame = pd.concat(frames, ignore_index=True) if frames else result.df()
        finally:
            done.set()
            timer.cancel()
    except duckdb.InterruptException:
        raise BadInputError(
            f"The query ran longer than {timeout_s:g} s and was stopped. Narrow the question (add filters)."
        ) from None
    except duckdb.OutOfMemoryException:
        raise SqlRefused(
            f"The query needed more than {MEMORY_LIMIT} of memory and was stopped. Narrow the question."
        ) from None
    except duckdb.Error as exc:
        raise SqlRefused(f"The query failed: {_error_for(viewer, exc)}") from None
    finally:
        con.close()
    truncated = len(frame) > max_rows
    return QueryResult(frame.head(max_rows), truncated, round(time.perf_counter() - t0, 3))
