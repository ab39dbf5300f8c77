"""The offline parser: a portfolio question's words to SQL over `portfolio`.

Covers plan, industry, region and owner (values read from the warehouse), risk tier
("at risk" = high or critical), churn threshold, MRR/ARR/revenue-at-risk threshold,
renewal window (this/next quarter or month, Qn, the next N days/weeks/months),
grouping ("by industry"), counts and totals, top-N and sort order. Values are bound as
`?` parameters; column names come from allow-lists. Words it did not use are returned
so the answer can say the question was only partly understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from engine.access import Viewer
from engine.llm import fmt
from engine.warehouse import Warehouse


@dataclass(frozen=True)
class ParsedQuestion:
    sql: str
    params: tuple
    interpretation: tuple[str, ...]  # what the parser understood, in words
    leftovers: tuple[str, ...]  # words it did not use


@dataclass(frozen=True)
class Vocabulary:
    industries: tuple[str, ...]
    regions: tuple[str, ...]
    owners: tuple[str, ...]


def vocabulary(wh: Warehouse) -> Vocabulary:
    """The categorical values a question may name (from the warehouse)."""

    def values(column: str) -> tuple[str, ...]:
        rows = wh.rows(f"SELECT DISTINCT {column} FROM customers WHERE {column} IS NOT NULL ORDER BY 1")  # noqa: S608 - fixed names
        return tuple(str(r[0]) for r in rows)

    return Vocabulary(values("industry"), values("region"), values("csm_owner"))


LIST_COLUMNS = (
    "customer_id, name, plan_tier, industry, region, csm_owner, mrr, churn_probability, risk_tier, "
    "renewal_date, days_to_renewal, revenue_at_risk"
)
AGGREGATES = (
    "count(*) AS customers, coalesce(sum(mrr), 0) AS total_mrr, coalesce(sum(revenue_at_risk), 0) AS revenue_at_risk, "
    "avg(churn_probability) AS avg_churn_probability"
)
GROUP_COLUMNS = {
    "plan": "plan_tier",
    "plans": "plan_tier",
    "plan tier": "plan_tier",
    "industry": "industry",
    "industries": "industry",
    "region": "region",
    "regions": "region",
    "tier": "risk_tier",
    "risk tier": "risk_tier",
    "tiers": "risk_tier",
    "owner": "csm_owner",
    "owners": "csm_owner",
    "csm": "csm_owner",
    "csms": "csm_owner",
    "stage": "gtm_stage",
}
SORT_COLUMNS = {
    "revenue at risk": "revenue_at_risk",
    "arr at risk": "revenue_at_risk",
    "risk": "revenue_at_risk",
    "churn probability": "churn_probability",
    "churn": "churn_probability",
    "probability": "churn_probability",
    "risk score": "risk_score",
    "mrr": "mrr",
    "arr": "arr",
    "revenue": "mrr",
    "seats": "seats",
    "renewal": "renewal_date",
    "tickets": "open_tickets",
}
_COMPARE = (
    r"(?P<op>above|over|greater than|more than|higher than|exceeding|at least|>=|>|below|under|less than|"
    r"lower than|at most|<=|<)"
)
_OPS = {
    "above": ">",
    "over": ">",
    "greater than": ">",
    "more than": ">",
    "higher than": ">",
    "exceeding": ">",
    ">": ">",
    "at least": ">=",
    ">=": ">=",
    "below": "<",
    "under": "<",
    "less than": "<",
    "lower than": "<",
    "<": "<",
    "at most": "<=",
    "<=": "<=",
}
_STOPWORDS_TEXT = (
    "a an the of in on at to for with and or by is are was were be been which what who whose whom where "
    "when how many much show list give me find get all any our my their there that this these those have "
    "has had do does did than then from into per each top accounts account customers customer clients "
    "client companies company please them it its portfolio book total sum number count rows with without "
    "churn probability risk renew renewal renewing renews next quarter month months days day weeks week "
    "mrr arr revenue above over greater more higher exceeding least below under less lower most tier "
    "tiers plan plans industry region owned owner owners csm managed percent pct highest largest biggest "
    "riskiest soonest average avg sorted order ordered rank ranked ranking group grouped broken down "
    "current this within coming q1 q2 q3 q4 at-risk high-risk are is be list "
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def _quarter_bounds(day: date, offset: int) -> tuple[date, date]:
    index = (day.month - 1) // 3 + offset
    year = day.year + index // 4
    first_month = index % 4 * 3 + 1
    start = date(year, first_month, 1)
    end_month_next = date(year + (first_month + 2) // 12, (first_month + 2) % 12 + 1, 1)
    return start, end_month_next - timedelta(days=1)


def _month_bounds(day: date, offset: int) -> tuple[date, date]:
    index = day.month - 1 + offset
    start = date(day.year + index // 12, index % 12 + 1, 1)
    nxt = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, nxt - timedelta(days=1)


def _renewal_window(q: str, as_of: date) -> tuple[date, date, str, str] | None:
    """(start, end, words, matched text) of a renewal window in the question."""
    if not re.search(r"renew|contract|expir", q):
        return None
    m = re.search(r"\b(next|this|current|coming)\s+quarter\b", q)
    if m:
        start, end = _quarter_bounds(as_of, 1 if m.group(1) in ("next", "coming") else 0)
        return (max(start, as_of), end, f"{m.group(1)} quarter", m.group(0))
    m = re.search(r"\bq([1-4])(?:\s+(\d{4}))?\b", q)
    if m:
        year = int(m.group(2)) if m.group(2) else as_of.year
        start, end = _quarter_bounds(date(year, 3 * int(m.group(1)) - 2, 1), 0)
        if not m.group(2) and end < as_of:
            start, end = _quarter_bounds(date(year + 1, start.month, 1), 0)
        return (start, end, f"Q{m.group(1)} {start.year}", m.group(0))
    m = re.search(r"\b(next|this|current|coming)\s+month\b", q)
    if m:
        start, end = _month_bounds(as_of, 1 if m.group(1) in ("next", "coming") else 0)
        return (max(start, as_of), end, f"{m.group(1)} month", m.group(0))
    m = re.search(r"\b(?:next|within|in the next|coming|in)\s+(\d{1,3})\s+(day|week|month)s?\b", q)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        days = n * {"day": 1, "week": 7, "month": 30}[unit]
        return (as_of, as_of + timedelta(days=days), f"next {n} {unit}s", m.group(0))
    if re.search(r"\b(soon|upcoming)\b", q):
        return (as_of, as_of + timedelta(days=90), "next 90 days (soon)", "soon")
    return None


def _number(text: str, suffix: str | None) -> float:
    value = float(text.replace(",", ""))
    return value * {"k": 1e3, "m": 1e6}.get((suffix or "").lower(), 1)


def parse_question(question: str, vocab: Vocabulary, as_of: date, viewer: Viewer) -> ParsedQuestion | None:
    """SQL for a portfolio question from its words, or None when nothing in it maps to the portfolio."""
    q = " " + question.lower().replace("’", "'") + " "
    used: list[str] = []  # matched phrases, removed before finding leftovers
    where: list[str] = []
    params: list = []
    said: list[str] = []

    def take(text: str) -> None:
        used.append(text)

    plans = [p for p in ("starter", "growth", "enterprise") if re.search(rf"\b{p}\b", q)]
    if plans:
        where.append(f"plan_tier IN ({', '.join('?' * len(plans))})")
        params += plans
        said.append(f"plan is {' or '.join(plans)}")
        used.extend(plans)
    industries = [i for i in vocab.industries if re.search(rf"\b{re.escape(i.lower())}s?\b", q)]
    if industries:
        where.append(f"industry IN ({', '.join('?' * len(industries))})")
        params += industries
        said.append(f"industry is {' or '.join(industries)}")
        used.extend(i.lower() for i in industries)
    regions = [r for r in vocab.regions if re.search(rf"\b{re.escape(r.lower())}\b", q)]
    if regions:
        where.append(f"region IN ({', '.join('?' * len(regions))})")
        params += regions
        said.append(f"region is {' or '.join(regions)}")
        used.extend(r.lower() for r in regions)
    owners = []
    for owner in vocab.owners:
        names = {owner.lower(), owner.lower().replace(".", " "), owner.lower().replace("_", " ")}
        hit = next((n for n in names if re.search(rf"\b{re.escape(n)}\b", q)), None)
        if hit:
            owners.append(owner)
            used.append(hit)
    if re.search(r"\bmy (accounts|customers|book|portfolio|clients)\b", q) and not viewer.sees_everyone:
        owners.append(viewer.username)
        take("my")
    if owners:
        where.append(f"csm_owner IN ({', '.join('?' * len(owners))})")
        params += owners
        said.append(f"owner is {' or '.join(owners)}")
    tiers = [
        t
        for t in ("low", "medium", "high", "critical")
        if re.search(
            rf"\b{t}(?:[- ]risk)?\s+(?:risk\s+)?(?:tier|accounts|customers|risk)\b|\btier\s+{t}\b|\b{t}-risk\b", q
        )
    ]
    if re.search(r"(?<!revenue )\bat[- ]risk\b", q) and not tiers:
        tiers = ["high", "critical"]
        take("at risk")
    if tiers:
        where.append(f"risk_tier IN ({', '.join('?' * len(tiers))})")
        params += tiers
        said.append(f"risk tier is {' or '.join(tiers)}")
        used.extend(tiers)
    m = re.search(
        r"\b(?:churn(?: probability| risk| likelihood| chance)?|probability of churn|likelihood)\s*(?:is\s*|of\s*)?"
        + _COMPARE
        + r"\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<pct>%|percent|pct)?",
        q,
    )
    if m:
        value = float(m.group("num"))
        value = value / 100 if m.group("pct") or value > 1 else value
        op = _OPS[m.group("op")]
        where.append(f"churn_probability {op} ?")
        params.append(value)
        said.append(f"churn probability {op} {fmt.pct(value)}")
        take(m.group(0))
    m = re.search(
        r"\b(?P<col>revenue at risk|arr at risk|mrr|arr|revenue|seats|open tickets)\s*(?:is\s*|of\s*)?"
        + _COMPARE
        + r"\s*\$?\s*(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<suf>k|m)?\b",
        q,
    )
    if m:
        column = {"revenue at risk": "revenue_at_risk", "arr at risk": "revenue_at_risk", "revenue": "mrr"}.get(
            m.group("col"), m.group("col").replace(" ", "_")
        )
        value = _number(m.group("num"), m.group("suf"))
        op = _OPS[m.group("op")]
        where.append(f"{column} {op} ?")
        params.append(value)
        said.append(f"{column} {op} {value:,.0f}")
        take(m.group(0))
    window = _renewal_window(q, as_of)
    if window:
        start, end, words, matched = window
        where.append("renewal_date BETWEEN ? AND ?")
        params += [start, end]
        said.append(f"renewal between {start} and {end} ({words})")
        take(matched)

    group = None
    m = re.search(
        r"\b(?:by|per|for each|across|broken down by)\s+(plan tier|risk tier|plans?|industry|industries|regions?|tiers?|owners?|csms?|stage)\b",
        q,
    )
    if m:
        group = GROUP_COLUMNS[m.group(1)]
        take(m.group(0))
    aggregate = bool(re.search(r"\bhow many\b|\bcount\b|\bnumber of\b|\btotal\b|\bsum\b|\baverage\b", q))
    limit = None
    m = re.search(r"\btop\s+(\d{1,4})\b|\b(\d{1,4})\s+(?:largest|biggest|riskiest|highest)\b", q)
    if m:
        limit = int(m.group(1) or m.group(2))
        take(m.group(0))
    order = "revenue_at_risk DESC"
    m = re.search(
        r"\b(?:by|on)\s+(revenue at risk|arr at risk|churn probability|risk score|churn|probability|mrr|arr|revenue|seats|tickets|renewal)\b",
        q,
    )
    if m and not group:
        column = SORT_COLUMNS[m.group(1)]
        order = f"{column} {'ASC' if column == 'renewal_date' else 'DESC'}"
        take(m.group(0))
    elif re.search(r"\b(riskiest|highest churn|most likely to churn)\b", q):
        order = "churn_probability DESC"
    elif re.search(r"\b(largest|biggest)\b", q):
        order = "mrr DESC"
    elif re.search(r"\bsoonest\b", q):
        order = "renewal_date ASC"

    listing = bool(re.search(r"\b(accounts?|customers?|clients?|companies|which|who|show|list)\b", q))
    if not (where or group or aggregate or limit) and not (
        listing and re.search(r"\b(all|every|riskiest|largest|biggest|highest|soonest)\b", q)
    ):
        return None

    condition = " AND ".join(where) if where else "TRUE"
    if group:
        sql = f"SELECT {group}, {AGGREGATES} FROM portfolio WHERE {condition} GROUP BY {group} ORDER BY revenue_at_risk DESC"  # noqa: S608 - allow-listed names, bound values
        said.append(f"grouped by {group}")
    elif aggregate and not limit:
        sql = f"SELECT {AGGREGATES} FROM portfolio WHERE {condition}"  # noqa: S608 - allow-listed names, bound values
        said.append("counted and totalled")
    else:
        sql = f"SELECT {LIST_COLUMNS} FROM portfolio WHERE {condition} ORDER BY {order}"  # noqa: S608 - allow-listed names, bound values
        said.append(f"sorted by {order.lower().replace('_', ' ')}")
        if limit:
            sql += f" LIMIT {int(limit)}"
            said.append(f"first {limit}")

    rest = q
    for phrase in sorted(used, key=len, reverse=True):
        rest = rest.replace(phrase.lower(), " ")
    words = re.findall(r"[a-z][a-z'-]+", rest)
    leftovers = tuple(w for w in words if w not in STOPWORDS and not w.isdigit() and len(w) > 2)
    return ParsedQuestion(sql, tuple(params), tuple(said), leftovers)


def display_sql(sql: str, params: list | tuple) -> str:
    """The SQL with its bound values written in, for people to read (never executed)."""
    if not params or sql.count("?") != len(params):
        return sql
    values = iter(params)

    def literal(_match) -> str:
        value = next(values)
        if isinstance(value, date):
            return f"DATE '{value.isoformat()}'"
        if isinstance(value, (int, float)):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"

    return re.sub(r"\?", literal, sql)
