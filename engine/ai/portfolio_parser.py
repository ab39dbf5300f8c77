"""The offline parser: a portfolio question's words to SQL over `portfolio`, and its reading in words.

A question is read in three steps:

1. `screen_question` refuses, before any SQL is written (by the parser or a model),
   questions about things the portfolio does not hold (NPS, CAC, headcount, LTV, margin,
   contact details, churned accounts' history) and text that reads like instructions or
   SQL. The refusal names what is missing.
2. Filters: plan, industry, region and owner (values read from the warehouse), "my
   accounts", risk tier, churn-probability threshold, MRR/ARR/seats threshold and a
   renewal window (this/next quarter or month, Qn, the next N days/weeks/months). The
   matched words are removed from the question.
3. What is asked, from the rest: a measure (ARR at risk, MRR, ARR, seats, open tickets,
   churn probability, or a count of accounts) and a shape - one figure (total, count,
   average), one figure per group ("by industry", "per CSM"), the group with the most
   ("which CSM has the most revenue at risk"), or a list of accounts (top N, sorted).

"ARR at risk" (also "revenue at risk", "how much ... at risk") is the measure the Risk
board and Overview show: churn probability x ARR, summed over the accounts - it is not a
filter. "At-risk accounts" / "accounts at risk" is the board's tier filter (high or
critical). Values are bound as `?` parameters; column names come from allow-lists.

`ParsedQuestion.reading` states the interpretation in words ("total ARR at risk of all
active accounts in the Fintech industry"); `assumptions` lists the choices made where the
words allowed more than one reading and `leftovers` the words not used: both lower the
answer's confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from engine.ai import fmt
from engine.ai.guardrails import looks_like_instructions
from engine.ai.sql_guard import portfolio_attributes
from engine.core.access import Viewer
from engine.core.renewal import CYCLE_WORDS, billing_cycle_text
from engine.data import health
from engine.data.warehouse import Warehouse


@dataclass(frozen=True)
class ParsedQuestion:
    sql: str
    params: tuple
    interpretation: tuple[str, ...]  # the reading, then definitions and assumptions, in words
    leftovers: tuple[str, ...]  # words it did not use
    reading: str = ""  # "total ARR at risk of all active accounts in the Fintech industry"
    assumptions: tuple[str, ...] = ()  # choices made where the words allow another reading
    shape: str = "list"  # value | groups | top | list
    measure: str = "count"  # a key of MEASURES
    group: str | None = None  # the grouping column


@dataclass(frozen=True)
class Vocabulary:
    industries: tuple[str, ...]
    regions: tuple[str, ...]
    owners: tuple[str, ...]
    billing_known: bool = True  # some account has a billing cycle (customers file or subscriptions)
    # The company's own account columns in the portfolio view (`sql_guard.portfolio_attributes`):
    # (name, kind), and each category's values (name, value).
    attributes: tuple[tuple[str, str], ...] = ()
    attribute_values: tuple[tuple[str, str], ...] = ()
    # Each number column's band edges (`number_bands`): "by company size" groups by band, not
    # by each of its hundreds of values.
    bands: tuple[tuple[str, tuple[float, ...]], ...] = ()
    scored: bool = True  # some account has a churn score (lists sort by ARR at risk, else by ARR)

    def attribute_words(self, kinds: tuple[str, ...] = ("category", "number")) -> dict[str, str]:
        """{words a question may use: column} for the attributes of `kinds` ("acquisition
        channel", "acquisition channels", "acquisition_channel")."""
        words: dict[str, str] = {}
        for name, kind in self.attributes:
            if kind not in kinds:
                continue
            said = name.replace("_", " ")
            words.update({said: name, f"{said}s": name, name: name})
        return words


def vocabulary(wh: Warehouse, viewer: Viewer | None = None) -> Vocabulary:
    """The categorical values a question may name (from the warehouse). With a viewer that
    does not see everyone, owners are only the viewer (a CSM's prompt must not list the others)."""

    def values(column: str) -> tuple[str, ...]:
        rows = wh.rows(f"SELECT DISTINCT {column} FROM customers WHERE {column} IS NOT NULL ORDER BY 1")  # noqa: S608 - fixed names
        return tuple(str(r[0]) for r in rows)

    owners = values("csm_owner")
    if viewer is not None and not viewer.sees_everyone:
        owners = tuple(o for o in owners if o == viewer.book_owner)
    billing = wh.scalar(
        "SELECT (SELECT count(billing_cycle) FROM customers) "
        "+ (SELECT count(*) FROM (SELECT 1 FROM subscriptions WHERE bill_period_months >= 1 LIMIT 1))"
    )
    attributes = portfolio_attributes(wh)
    categories = {name for name, kind in attributes if kind == "category"}
    # A CSM's prompt names only the values of their own book's accounts.
    book, book_params = viewer.owner_filter("c.csm_owner") if viewer is not None else ("TRUE", [])
    named = wh.rows(
        "SELECT a.attribute, a.text_value FROM customer_attributes a JOIN customers c ON c.customer_id = a.customer_id "  # noqa: S608 - engine-written filter
        f"WHERE a.kind = 'category' AND a.text_value IS NOT NULL AND {book} GROUP BY a.attribute, a.text_value "
        "QUALIFY count(*) OVER (PARTITION BY a.attribute) <= ? ORDER BY 1, 2",
        [*book_params, MAX_ATTRIBUTE_VALUES],
    )
    attribute_values = tuple((str(n), str(v)) for n, v in named if n in categories)
    numbers = number_bands(wh)
    bands = tuple((name, numbers.get(name, ())) for name, kind in attributes if kind == "number")
    scored = health.has_scores(wh)
    return Vocabulary(
        values("industry"), values("region"), owners, bool(billing), attributes, attribute_values, bands, scored
    )


def number_bands(wh: Warehouse) -> dict[str, tuple[float, ...]]:
    """Per number column, edges that cut it into about four bands of accounts: its quartiles
    over every account, rounded to two significant figures (50, 200, 1,000 read better than
    47.25), without repeats. Empty when every account has about the same value. One query
    for every column."""
    rows = wh.rows(
        "SELECT attribute, quantile_cont(number_value, [0.25, 0.5, 0.75]), min(number_value), max(number_value) "
        "FROM customer_attributes WHERE kind = 'number' AND number_value IS NOT NULL GROUP BY attribute"
    )
    bands = {}
    for attribute, quartiles, low, high in rows:
        edges = sorted({float(f"{float(q):.2g}") for q in quartiles})
        bands[str(attribute)] = tuple(e for e in edges if float(low) < e <= float(high))
    return bands


def band_sql(column: str, edges: tuple[float, ...]) -> tuple[str, tuple[str, ...]]:
    """A CASE naming each account's band of `column` ("under 50", "50 to under 200", ...,
    "1,000 or more"), and the band names in order. `column` is a checked identifier."""
    names = [f"under {_edge(edges[0])}"]
    names += [f"{_edge(a)} to under {_edge(b)}" for a, b in zip(edges, edges[1:], strict=False)]
    names.append(f"{_edge(edges[-1])} or more")
    whens = " ".join(f"WHEN {column} < {edge!r} THEN '{name}'" for edge, name in zip(edges, names, strict=False))
    return f"CASE {whens} WHEN {column} IS NOT NULL THEN '{names[-1]}' END", tuple(names)


def _edge(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2g}"


MAX_ATTRIBUTE_VALUES = 50  # a category with more values is grouped by, not named value by value


LIST_COLUMNS = (
    "customer_id, name, plan_tier, industry, region, csm_owner, mrr, arr, churn_probability, risk_tier, "
    "renewal_date, days_to_renewal, revenue_at_risk, seats, open_tickets"
)

# key: (SQL of the per-account value, the words for it, kind for formatting)
MEASURES: dict[str, tuple[str, str, str]] = {
    "revenue_at_risk": ("revenue_at_risk", "ARR at risk", "money"),
    "mrr_at_risk": ("revenue_at_risk / 12", "MRR at risk", "money"),
    "mrr": ("mrr", "MRR", "money"),
    "arr": ("arr", "ARR", "money"),
    "seats": ("seats", "seats", "count"),
    "open_tickets": ("open_tickets", "open tickets", "count"),
    "churn_probability": ("churn_probability", "churn probability", "fraction"),
    "count": ("*", "number of accounts", "count"),
    "share_at_risk": (
        "sum(revenue_at_risk) / nullif(sum(arr), 0)",
        "share of ARR at risk (ARR at risk ÷ ARR)",
        "fraction",
    ),
    # "How many accounts will churn?": the sum of the 90-day churn probabilities (the Overview's
    # "Expected churns"), not the number of accounts.
    "expected_churns": ("churn_probability", "expected number of churns in the next 90 days", "estimate"),
}
# A billing cycle named as such: "annual plan", "monthly billing", "billed quarterly" (never "annual
# recurring revenue": a noun of billing must follow, or "billed" come first).
_BILLED = re.compile(
    r"\b(?:on (?:an? |the )?)?(?P<before>monthly|quarterly|semi-?annual|half-yearly|annual|yearly|biennial)\s+"
    r"(?:billing|billed|plans?|contracts?|subscriptions?|terms?|cycles?)\b"
    r"|\b(?:billed|paying|pay)\s+(?P<after>monthly|quarterly|semi-?annually|annually|yearly)\b"
)
_NEGATION = re.compile(r"\bnot\b|n't\b|\bnon[- ]|\bexcept\b|\bexcluding\b|\bother than\b|\bwithout\b", re.I)
_SHARE = re.compile(
    r"\b(what|which) (percentage|share|proportion|fraction|percent)\b|\b(percentage|share|proportion|fraction) of\b"
    r"|\bwhat % of\b",
    re.I,
)
EXPECTED_CHURNS = re.compile(
    r"\bhow many\b[^?]*\b(will|going to|likely to|expected to|might|could|would)\b[^?]*\b(churn|leave|cancel)\w*"
    r"|\bexpected (number of )?(churns|churners|churned accounts|cancell?ations)\b",
    re.I,
)
# The churn probability's horizon: a count of churns for another period cannot be read from it.
_NINETY_DAYS = re.compile(r"\b(90|ninety) days\b|\b(3|three) months\b|\b(13|thirteen) weeks\b|\bquarter\b", re.I)
_A_PERIOD = re.compile(
    r"\b(this|next|coming|current) (week|month|quarter|year)\b|\b(in|within|over) (the )?(next |coming )?\d+ "
    r"(days?|weeks?|months?|years?)\b|\bby (the )?end of\b|\b(this|next) (fiscal )?year\b|\bq[1-4]\b",
    re.I,
)
RISK_DEFINITION = (
    "ARR at risk = churn probability (next 90 days) × ARR, summed over the accounts - the figure the "
    "Overview and Risk board show"
)
DIMENSIONS = {
    "plan tier": "plan_tier",
    "plan": "plan_tier",
    "plans": "plan_tier",
    "industry": "industry",
    "industries": "industry",
    "vertical": "industry",
    "region": "region",
    "regions": "region",
    "risk tier": "risk_tier",
    "tier": "risk_tier",
    "tiers": "risk_tier",
    "owner": "csm_owner",
    "owners": "csm_owner",
    "csm": "csm_owner",
    "csms": "csm_owner",
    "account manager": "csm_owner",
    "stage": "gtm_stage",
    "billing cycle": "billing_cycle",
}
DIMENSION_WORDS = {
    "plan_tier": "plan",
    "industry": "industry",
    "region": "region",
    "risk_tier": "risk tier",
    "csm_owner": "owner (CSM)",
    "gtm_stage": "GTM stage",
    "billing_cycle": "billing cycle",
}
_DIM = r"(plan tier|risk tier|account manager|billing cycle|plans?|industry|industries|vertical|regions?|tiers?|owners?|csms?|stage)"

_COMPARE = (
    r"(?P<op>above|over|greater than|more than|higher than|exceeding|at least|>=|>|below|under|less than|"
    r"fewer than|lower than|at most|<=|<)"
)
_CHURN_NAMES = r"(?:churn(?: probability| risk| likelihood| chance)?|probability of churn)"
_COLUMN_NAMES = r"revenue at risk|arr at risk|mrr|arr|revenue|seats|open tickets|tickets"
_COLUMN = rf"(?P<col>{_COLUMN_NAMES})"
_COLUMNS = {
    "revenue at risk": "revenue_at_risk",
    "arr at risk": "revenue_at_risk",
    "revenue": "mrr",
    "tickets": "open_tickets",
}
_AMOUNT = r"\$?\s*(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<suf>k|m)?"


def _churn_value(number: float, percent: bool) -> float:
    """A churn threshold as a probability: "50%", "50" and "0.5" all mean 0.5."""
    return number / 100 if percent or number > 1 else number


def _shown(column: str, value: float) -> str:
    """A filter's value as the reading states it."""
    if column == "churn_probability":
        return fmt.pct(value)
    return fmt.count(value) if column in ("seats", "open_tickets") else f"${value:,.0f}"


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
    "fewer than": "<",
    "lower than": "<",
    "<": "<",
    "at most": "<=",
    "<=": "<=",
}
_OP_WORDS = {">": "above", ">=": "at least", "<": "below", "<=": "at most"}

_STOPWORDS_TEXT = (
    "a an the of in on at to for with and or by is are was were be been which what who whose whom where "
    "when how many much show list give me find get all any our my their there that this these those have "
    "has had do does did than then from into per each top accounts account customers customer clients "
    "client companies company please them it its portfolio book total sum number count rows with without "
    "churn probability risk renew renewal renewing renews next quarter month months days day weeks week "
    "mrr arr revenue above over greater more higher exceeding least below under less lower most tier "
    "tiers plan plans industry region owned owner owners csm managed percent pct highest largest biggest "
    "riskiest soonest average avg sorted order ordered rank ranked ranking group grouped broken down "
    "current this within coming q1 q2 q3 q4 at-risk high-risk are is be list we us you your currently "
    "right now today up due bring brings bringing generate generates manage manages managing handle handles "
    "break split across overall combined typical mean value amount figure figures whole entire active "
    "tell see can could would should will let know want need sitting sits sit lowest smallest least fewest "
    "best worst likely likeliest chance chances likelihood contract contracts expire expiring seats seat "
    "open tickets ticket recurring annual monthly dollars money much also just only both either one ones "
    "account's customers' so far exposed exposure what's whats who's there's own owns owning holds hold"
)
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

FORECASTS = "forecasts (see the Forecasts page)"
# What the portfolio does not hold: refused with the name of the missing thing.
UNSUPPORTED = (
    (r"\bnps\b|net promoter", "NPS (net promoter score)"),
    (r"\bcac\b|acquisition cost", "customer acquisition cost (CAC)"),
    (r"head ?count|employees?\b|employee count|staff|company size|workforce", "headcount (employees)"),
    (r"health ?scores?", "a health score (the portfolio has churn probability and risk score)"),
    (r"\bltv\b|\bclv\b|life ?time value", "lifetime value (see Customer 360 for one account's LTV)"),
    (
        r"\bnrr\b|\bgrr\b|\bndr\b|net (revenue|dollar) retention|gross revenue retention|retention rate",
        "revenue retention (NRR/GRR)",
    ),
    (r"gross margin|\bmargins?\b|profit|profitab|ebitda|\bcosts?\b", "margins, costs or profit"),
    (r"\bcsat\b|satisfaction|sentiment", "CSAT or sentiment (tickets are on each Customer 360)"),
    (r"\barpu\b|\bmau\b|\bwau\b|\bdau\b|engagement score|adoption score", "that usage metric"),
    (
        r"e-?mails?\b|phone|passwords?|contact (details|person|people|names?)|\bcontacts\b|address(es)?\b",
        "contact details or credentials",
    ),
    (
        r"\bchurned\b|\bcancell?ed\b|have left|who left|\blost (customers|accounts|clients)\b|churn rate|"
        r"\blast (year|quarter|month)\b",
        "accounts that churned (the portfolio holds today's active accounts; ask for the book's logo churn or "
        "net revenue retention, e.g. 'What is our logo churn?', or see the Overview)",
    ),
    (r"forecast|predict(ed)? (revenue|mrr|arr)|next year's|budget", FORECASTS),
    (
        r"\b(added|signed up|sign-?ups?|joined|onboarded|acquired|new (customers|accounts|logos|clients))\b",
        "signup dates (the Overview shows the change in active customers)",
    ),
)
_UNSUPPORTED = [(re.compile(p, re.I), what) for p, what in UNSUPPORTED]
# Pointers to pages, said only to a viewer whose role opens them (a CSM has no Overview).
_POINTERS = (
    (re.compile(r",? or see the Overview\)"), ")", "overview"),
    (re.compile(r" \(the Overview shows [^)]*\)"), "", "overview"),
    (re.compile(r" \(see the Forecasts page\)"), "", "forecasts"),
)


def _pointers_for(text: str, viewer: Viewer | None) -> str:
    for pattern, replacement, page in _POINTERS:
        if viewer is not None and not viewer.can_open(page):
            text = pattern.sub(replacement, text)
    return text


# A future level of revenue or of the customer count ("What will MRR be next quarter?") is a
# forecast: answering with today's total would be a confident wrong answer. Questions about
# risk, churn, losses or renewals ahead are answered: churn probability already looks 90 days ahead.
_LEVEL = r"(mrr|arr|revenue|customer count|number of (customers|accounts))"
_FUTURE_LEVEL = re.compile(
    rf"\b{_LEVEL}\b[^?]*\b(will|going to|gonna)\b[^?]*\b(be|reach|grow|look|end up|hit|have|make)\b"
    rf"|\b(will|going to)\b[^?]*\b{_LEVEL}\b[^?]*\b(be|reach|grow|look|end up|hit)\b"
    r"|\bhow many (customers|accounts|clients)\b[^?]*\bwill\b[^?]*\b(have|be)\b"
    rf"|\b(projected|projection|expected|future|outlook)\b[^?]*\b{_LEVEL}\b|\b{_LEVEL} (outlook|projection|growth)\b"
    rf"|\b{_LEVEL}\b[^?]*\b(in|by|at the end of|for) (the )?(next|coming|\d+) (quarter|month|year)s?\b"
    rf"|\b{_LEVEL} next (quarter|month|year)\b",
    re.I,
)
_ABOUT_RISK = re.compile(r"\b(risk|churn\w*|los[et]\w*|renew\w*|expir\w*|at-risk)\b", re.I)
_HOSTILE = re.compile(
    r";|--|/\*|\b(drop|delete|truncate|alter|insert|attach|detach|pragma|install|grant|vacuum|checkpoint)\b|"
    r"\bupdate\s+\w+\s+set\b|\bselect\b.+\bfrom\b|[a-z_]\(|\bsystem prompt\b|\bprompt\b|\binstructions?\b",
    re.I,
)


# "Which channel has the highest churn?": a grouping the portfolio view does not hold (a company's
# own account columns are not in it) was read as a list of accounts, answering another question.
_WHICH_GROUP = re.compile(
    r"\bwhich (?P<word>[a-z][a-z_-]*) (?:has|have|is|are|had|shows?|sees?|brings?|carr(?:y|ies)|holds?)\b[^?]*"
    r"\b(?:most|highest|largest|biggest|greatest|top|lowest|least|fewest|smallest|worst|best)\b"
)
_NOT_GROUPS = re.compile(
    r"(accounts?|customers?|clients?|compan(?:y|ies)|ones?|of|one|logos?|" + _DIM.strip("()") + ")"
)


def screen_question(question: str, vocab: Vocabulary | None = None, viewer: Viewer | None = None) -> str | None:
    """Why the question cannot be answered from the portfolio, or None when it may be tried
    (`vocab` names the company's own columns it may group by; `viewer`'s role decides which
    pages the reason may point to)."""
    q = question.lower().replace("’", "'")
    group = _WHICH_GROUP.search(q)
    own = vocab.attribute_words() if vocab is not None else {}
    if group and not _NOT_GROUPS.fullmatch(group.group("word")) and group.group("word") not in own:
        categories = [n.replace("_", " ") for n, kind in (vocab.attributes if vocab else ()) if kind == "category"]
        return (
            f"The portfolio data cannot be grouped by '{group.group('word')}': it groups accounts by plan, industry, "
            "region, owner (CSM), risk tier, billing cycle or GTM stage"
            + (f", or by your own columns {', '.join(categories)}." if categories else ".")
            + " Account columns loaded with the customers file are asked about by their own names."
        )
    if looks_like_instructions(question) or _HOSTILE.search(q):
        return (
            "That reads like instructions or SQL, not a question about the portfolio, so it was not run. Ask in "
            "plain words, e.g. 'Top 10 accounts by revenue at risk'."
        )
    if EXPECTED_CHURNS.search(q) and _A_PERIOD.search(q) and not _NINETY_DAYS.search(q):
        return (
            "Churn probabilities cover the next 90 days only, so the number of accounts expected to churn can be "
            "given for that period and no other. Ask, e.g., 'How many accounts will churn in the next 90 days?'"
        )
    for words in sorted(own, key=len, reverse=True):  # a column the company loaded is no missing metric
        q = re.sub(rf"\b{re.escape(words)}\b", " ", q)
    future = _FUTURE_LEVEL.search(q) and not _ABOUT_RISK.search(q)
    for pattern, what in [*_UNSUPPORTED, *(((_FUTURE_LEVEL, FORECASTS),) if future else ())]:
        if pattern.search(q):
            return (
                f"The portfolio data has no {_pointers_for(what, viewer)}. It holds, per active account: plan, industry, region, owner, "
                "seats, renewal date, MRR/ARR, churn probability, risk tier, ARR at risk, open tickets and product "
                "usage"
                + (
                    f", and your own columns {', '.join(n.replace('_', ' ') for n, _ in vocab.attributes)}."
                    if vocab is not None and vocab.attributes
                    else "."
                )
            )
    return None


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


# "the next two weeks": numbers people write as words.
_COUNT_WORDS = dict(
    zip(
        ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"],
        range(1, 13),
        strict=True,
    )
)
_COUNT_WORDS |= {"fourteen": 14, "thirty": 30, "sixty": 60, "ninety": 90}


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
    m = re.search(r"\b(next|this|current|coming)\s+week\b", q)
    if m:  # calendar weeks, Monday to Sunday, as months and quarters are calendar ones
        monday = as_of - timedelta(days=as_of.weekday()) + timedelta(days=7 if m.group(1) in ("next", "coming") else 0)
        return (max(monday, as_of), monday + timedelta(days=6), f"{m.group(1)} week", m.group(0))
    m = re.search(r"\b(next|this|current|coming)\s+year\b", q)
    if m:
        year = as_of.year + (1 if m.group(1) in ("next", "coming") else 0)
        return (max(date(year, 1, 1), as_of), date(year, 12, 31), f"{m.group(1)} year", m.group(0))
    if re.search(r"\btomorrow\b", q):  # a renewal falls after the data date: "today" has none by the rule
        day = as_of + timedelta(days=1)
        return (day, day, "tomorrow", "tomorrow")
    m = re.search(
        rf"\b(?:next|within|in the next|coming|in)\s+(\d{{1,3}}|{'|'.join(_COUNT_WORDS)})\s+(day|week|month)s?\b", q
    )
    if m:
        n, unit = _COUNT_WORDS.get(m.group(1)) or int(m.group(1)), m.group(2)
        days = n * {"day": 1, "week": 7, "month": 30}[unit]
        return (as_of, as_of + timedelta(days=days), f"next {n} {unit}s", m.group(0))
    if re.search(r"\b(soon|upcoming)\b", q):
        return (as_of, as_of + timedelta(days=90), "next 90 days (soon)", "soon")
    return None


def _number(text: str, suffix: str | None) -> float:
    value = float(text.replace(",", ""))
    return value * {"k": 1e3, "m": 1e6}.get((suffix or "").lower(), 1)


_MONEY_AT_RISK = re.compile(
    r"\b(arr|revenue|mrr|money|dollars|recurring revenue)\s+(?:is\s+|are\s+|that is\s+|currently\s+)?"
    r"(?:at[- ]risk|in danger)\b|\bat[- ]risk\s+(arr|revenue|mrr)\b|\bhow much\b[^?]*\bat[- ]risk\b|"
    r"\b(revenue|arr) exposure\b|\bexposed (arr|revenue)\b"
)


def _measure(rest: str) -> tuple[str | None, str]:
    """The measure the remaining words ask about, and the words that named it."""
    candidates = (
        (
            "churn_probability",
            r"\bchurn (probability|risk|likelihood|chance)\b|\bprobability of churn(ing)?\b|"
            r"\blikelihood (of|to) churn\b|\bchance of churn(ing)?\b"
            # "Which plan has the highest churn?": churn alone is the model's churn probability
            # (a past churn rate is refused before this; "how many will churn" is read earlier).
            r"|\bchurn\b(?!\s*rate)",
        ),
        ("arr", r"\barr\b|\bannual recurring revenue\b|\bannual revenue\b"),
        ("mrr", r"\bmrr\b|\bmonthly recurring revenue\b|\brevenue\b|\bmonthly revenue\b"),
        ("seats", r"\bseats?\b|\blicen[cs]es\b"),
        ("open_tickets", r"\b(open )?tickets\b"),
    )
    found = []
    for key, pattern in candidates:
        m = re.search(pattern, rest)
        if m:
            found.append((m.start(), key, m.group(0)))
    if not found:
        return None, ""
    found.sort()
    return found[0][1], found[0][2]


_TIER = r"(?:low|medium|high|critical)(?:[- ]risk)?"
_TIER_LIST = rf"(?P<names>{_TIER}(?:\s*(?:,|/|&|\bor\b|\band\b)\s*{_TIER})+)"


def normalised(question: str) -> str:
    """The question in lower case, single-spaced, without question marks, padded with spaces."""
    return " " + " ".join(question.lower().replace("’", "'").replace("?", " ").split()) + " "


def owners_named(question: str, vocab: Vocabulary) -> list[tuple[str, str]]:
    """The owners (CSMs) a question names, each with the words that named it."""
    q = normalised(question)
    found = []
    for owner in vocab.owners:
        spellings = {owner.lower(), owner.lower().replace(".", " "), owner.lower().replace("_", " ")}
        hit = next((n for n in spellings if re.search(rf"\b{re.escape(n)}\b", q)), None)
        if hit:
            found.append((owner, hit))
    return found


def other_books(question: str, vocab: Vocabulary, viewer: Viewer) -> str | None:
    """Why a CSM's question about another CSM's accounts is not answered (their scope would
    answer "0 accounts", which reads as a fact about the other book), or None."""
    if viewer.sees_everyone:
        return None
    others = [owner for owner, _ in owners_named(question, vocab) if owner != viewer.book_owner]
    if not others:
        return None
    return (
        f"The accounts of {' and '.join(others)} are not in your book: as a CSM you see only your own accounts. "
        "Ask about 'my accounts', or ask a leader for the whole portfolio."
    )


_MOST_AT_RISK = re.compile(
    r"\b(?:(?:are|is) )?(?:the )?most at[- ]risk\b|\b(?:are|is) (?:the )?riskiest\b|\b(?:the )?riskiest\b"
    r"|\bat (?:the )?(?:highest|greatest|most) risk\b"
)


# English words a company's value may also be (country codes IN, NO, IT, AT, BE, IS, ME, US, ...).
_COMMON_WORDS = STOPWORDS | frozenset(("no", "am", "as", "go", "he", "if"))  # the rest are stopwords


def names_value(value: str, q: str, question: str) -> bool:
    """Whether the question names a category value. One that is also a common English word is
    named only as the company writes it ("accounts in IN"), so "renewing in the next 30 days"
    is not read as the country IN (it was, and the answer was India's renewals)."""
    if value.lower() in _COMMON_WORDS:
        return value != value.lower() and re.search(rf"\b{re.escape(value)}\b", question) is not None
    return re.search(rf"\b{re.escape(value.lower())}\b", q) is not None


def parse_question(question: str, vocab: Vocabulary, as_of: date, viewer: Viewer) -> ParsedQuestion | None:
    """SQL for a portfolio question from its words, or None when nothing in it maps to the portfolio."""
    q = normalised(question)
    used: list[str] = []  # matched phrases, removed before reading the measure and finding leftovers
    where: list[str] = []
    params: list = []
    scope: list[str] = []  # "in the Fintech industry", ...
    assumptions: list[str] = []
    unheld: list[str] = []  # phrases naming data the company never loaded

    def cut(text: str) -> None:
        used.append(text)

    def rest() -> str:
        text = q
        for phrase in sorted(used, key=len, reverse=True):
            text = text.replace(phrase, " ")
        return text

    if _NEGATION.search(q):
        return None  # "not at risk", "excluding EMEA": read without the negation, the answer is the opposite
    # "Which of my accounts are most at risk?" ranks by churn probability: read as the at-risk tier
    # filter it answered "No account matches" for a book whose riskiest account is medium.
    if _MOST_AT_RISK.search(q) and not _MONEY_AT_RISK.search(q):  # "how much ARR is most at risk": money
        q = _MOST_AT_RISK.sub(" with the highest churn probability ", q)
        assumptions.append("'most at risk' read as the highest churn probability, whatever the risk tier")
    # -- what the money-at-risk words mean (a measure, not a filter) ------------------
    money_at_risk = _MONEY_AT_RISK.search(q)
    mrr_at_risk = bool(money_at_risk and re.search(r"\bmrr\s+(?:is\s+)?at[- ]risk|at[- ]risk\s+mrr", q))
    if money_at_risk:
        cut(money_at_risk.group(0) if not money_at_risk.group(0).startswith("how much") else "at risk")
        q_tiers = q.replace(money_at_risk.group(0), " ")
    else:
        q_tiers = q

    # -- filters -------------------------------------------------------------------------
    plans = [p for p in ("starter", "growth", "enterprise") if re.search(rf"\b{p}\b", q)]
    if plans:
        where.append(f"plan_tier IN ({', '.join('?' * len(plans))})")
        params += plans
        scope.append(f"on the {' or '.join(plans)} plan")
        used.extend(f"{p} plan" for p in plans)
        used.extend(plans)
    cycle = _BILLED.search(q)
    if cycle:  # "on the annual plan", "billed monthly": the billing cycle, not a plan tier
        word = (cycle.group("before") or cycle.group("after")).replace("annually", "annual")
        label = billing_cycle_text(CYCLE_WORDS.get(word))
        if label and vocab.billing_known:
            where.append("billing_cycle = ?")
            params.append(label)
            scope.append(f"on {label} billing")
            cut(cycle.group(0))
        elif label:
            unheld.append(cycle.group(0).strip())  # no billing cycle loaded: said, not silently dropped
    industries = [i for i in vocab.industries if re.search(rf"\b{re.escape(i.lower())}s?\b", q)]
    if industries:
        where.append(f"industry IN ({', '.join('?' * len(industries))})")
        params += industries
        names = " or ".join(i.capitalize() for i in industries)
        scope.append(f"in the {names} {'industries' if len(industries) > 1 else 'industry'}")
        used.extend(i.lower() + "s" for i in industries)
        used.extend(i.lower() for i in industries)
    regions = [r for r in vocab.regions if names_value(r, q, question)]
    if regions:
        where.append(f"region IN ({', '.join('?' * len(regions))})")
        params += regions
        scope.append(f"in {' or '.join(regions)}")
        used.extend(r.lower() for r in regions)
    chosen: dict[str, list[str]] = {}
    for name, level in vocab.attribute_values:  # "web accounts", "accounts in Germany"
        if len(level) > 1 and names_value(level, q, question):
            chosen.setdefault(name, []).append(level)
            used.append(level.lower())
    for name, values_ in chosen.items():
        where.append(f"{name} IN ({', '.join('?' * len(values_))})")
        params += values_
        scope.append(f"with {name.replace('_', ' ')} {' or '.join(values_)}")
    owners = []
    for owner, hit in owners_named(q, vocab):
        owners.append(owner)
        used.append(hit)
    mine = re.search(r"\b(?:of |in |for )?my (own )?(accounts|customers|book|portfolio|clients)\b|\bi own\b", q)
    if mine:
        cut(mine.group(0))
        if viewer.sees_everyone:
            assumptions.append("'my' read as every account: your role sees the whole portfolio")
        else:
            owners.append(viewer.book_owner)
    if owners:
        where.append(f"csm_owner IN ({', '.join('?' * len(owners))})")
        params += owners
        if owners != [viewer.book_owner] or viewer.sees_everyone:  # "in your book" says it already
            scope.append(f"owned by {' or '.join(owners)}")
    tiers = []
    # A list of tiers before the noun ("high or critical risk accounts", "high/critical tier"):
    # read as one, or only the last one met the noun and the others went unused.
    # Only before a noun of tiers or accounts, or after "are"/"is": "high or medium usage" is not a tier.
    listed = re.search(
        rf"\b{_TIER_LIST}\s*(?:risk\s+)?(?:tiers?|accounts?|customers?|clients?)\b", q_tiers
    ) or re.search(rf"\b(?:are|is)\s+{_TIER_LIST}\b", q_tiers)
    if listed:
        tiers = [t for t in ("low", "medium", "high", "critical") if re.search(rf"\b{t}\b", listed.group("names"))]
        cut(listed.group(0).replace("accounts", "").replace("customers", "").strip())
    for t in ("low", "medium", "high", "critical"):
        if t in tiers:
            continue
        m = re.search(
            rf"\b{t}(?:[- ]risk)?\s+(?:risk\s+)?(?:tier|accounts?|customers?|clients?)\b|\btier\s+{t}\b|"
            rf"\b{t}[- ]risk\b|\b(?:are|is)\s+{t}\b",
            q_tiers,
        )
        if m:
            tiers.append(t)
            cut(m.group(0).replace("accounts", "").replace("customers", "").strip())
    at_risk = re.search(r"\bat[- ]risk\b", q_tiers)
    if at_risk and not tiers:
        tiers = ["high", "critical"]
        cut(at_risk.group(0))
        assumptions.append("'at risk' accounts read as the high and critical risk tiers, as on the Risk board")
    if tiers:
        where.append(f"risk_tier IN ({', '.join('?' * len(tiers))})")
        params += tiers
        scope.append(f"in the {' or '.join(tiers)} risk tier")
    # A range: "churn between 20% and 50%", "MRR between $1k and $5k" (both ends included).
    ends_words = (
        r"between\s*\$?\s*(?P<lo>\d[\d,]*(?:\.\d+)?)\s*(?P<lo_suf>k|m|%|percent)?\s*(?:and|-|to)\s*"
        r"\$?\s*(?P<hi>\d[\d,]*(?:\.\d+)?)\s*(?P<hi_suf>k|m|%|percent)?"
    )
    named_column = rf"(?P<col>{_CHURN_NAMES}|{_COLUMN_NAMES})"
    between = re.search(rf"\b{named_column}\s*(?:is\s*|of\s*)?{ends_words}", q) or re.search(
        rf"\b{ends_words}\s+(?:in |of )?{named_column}\b", q
    )
    if between:
        named = between.group("col")
        churn = re.fullmatch(_CHURN_NAMES, named) is not None
        column = "churn_probability" if churn else _COLUMNS.get(named, named.replace(" ", "_"))
        ends = []
        for side in ("lo", "hi"):
            suffix = (between.group(f"{side}_suf") or "").lower()
            value = _number(between.group(side), suffix if suffix in ("k", "m") else None)
            ends.append(_churn_value(value, suffix in ("%", "percent")) if churn else value)
        low, high = sorted(ends)
        where.append(f"{column} BETWEEN ? AND ?")
        params += [low, high]
        scope.append(f"with {MEASURES[column][1]} between {_shown(column, low)} and {_shown(column, high)}")
        cut(between.group(0))
    # The churn filter, its words first ("churn above 50%") or its number ("more than 50% churn probability").
    churn_words = rf"(?:{_CHURN_NAMES}|likelihood)"
    churn_number = r"(?P<num>\d+(?:\.\d+)?)\s*(?P<pct>%|percent|pct)?"
    m = re.search(rf"\b{churn_words}\s*(?:is\s*|of\s*)?{_COMPARE}\s*{churn_number}", q) or re.search(
        rf"{_COMPARE}\s*{churn_number}\s*{churn_words}\b", q
    )
    if m:
        value = _churn_value(float(m.group("num")), bool(m.group("pct")))
        op = _OPS[m.group("op")]
        where.append(f"churn_probability {op} ?")
        params.append(value)
        scope.append(f"with churn probability {_OP_WORDS[op]} {_shown('churn_probability', value)}")
        cut(m.group(0))
    # A comparison on a column, the column first ("seats above 100") or the number ("more than 100 seats").
    m = re.search(rf"\b{_COLUMN}\s*(?:is\s*|of\s*)?{_COMPARE}\s*{_AMOUNT}\b", q) or re.search(
        rf"{_COMPARE}\s*{_AMOUNT}\s+(?:in |of )?{_COLUMN}\b", q
    )
    if m:
        column = _COLUMNS.get(m.group("col"), m.group("col").replace(" ", "_"))
        value = _number(m.group("num"), m.group("suf"))
        op = _OPS[m.group("op")]
        where.append(f"{column} {op} ?")
        params.append(value)
        scope.append(f"with {MEASURES[column][1]} {_OP_WORDS[op]} {_shown(column, value)}")
        cut(m.group(0))
    tickets = re.search(r"\b(with|have|has|having) (any )?open tickets\b", q)
    if tickets and not any(c.startswith("open_tickets") for c in where):
        where.append("open_tickets > 0")
        scope.append("with open tickets")
        cut(tickets.group(0))
    window = _renewal_window(q, as_of)
    if window:
        start, end, words, matched = window
        where.append("renewal_date BETWEEN ? AND ?")
        params += [start, end]
        scope.append(f"renewing between {start.isoformat()} and {end.isoformat()} ({words})")
        cut(matched)
        for phrase in ("up for renewal", "renewing", "renewal", "renew", "renews", "expiring", "expire"):
            cut(f" {phrase} ")

    # -- shape and measure ---------------------------------------------------------------
    r = rest()
    superlative = re.search(
        r"\b(most|highest|largest|biggest|greatest|top|lowest|least|fewest|smallest|worst|best)\b", r
    )
    banded = {name: edges for name, edges in vocab.bands if edges}
    # A number is grouped by band; a number with no bands (one value) is not grouped by.
    own = {w: c for w, c in vocab.attribute_words().items() if c in banded or (c, "category") in vocab.attributes}
    group, ranking, phrases = _grouping(r, _DIM, DIMENSIONS, superlative)
    if group is None and own:  # the company's own columns: "by acquisition channel", "which country ..."
        names = "(" + "|".join(re.escape(w) for w in sorted(own, key=len, reverse=True)) + ")"
        group, ranking, phrases = _grouping(r, names, own, superlative)
    for phrase in phrases:
        cut(phrase)
    r = rest()
    limit = None
    m = re.search(
        r"\btop\s+(\d{1,4})\b|\b(\d{1,4})\s+(?:largest|biggest|riskiest|highest|lowest|smallest|most)\b|"
        r"\bwhich\s+(\d{1,4})\b|\b(?:the|show|list)\s+(\d{1,4})\b|^\s*(\d{1,4})\s",
        r,
    )
    single = re.search(r"\b(biggest|largest|smallest|riskiest|top|most valuable)\s+(account|customer|client)\b(?!s)", r)
    if single and not m:
        limit = 1
        cut(single.group(2))
    if m:
        limit = int(next(g for g in m.groups() if g))
        cut(re.sub(r"(largest|biggest|riskiest|highest|lowest|smallest|most)", "", m.group(0)).strip())
    r = rest()
    measure: str | None
    expected_churns = EXPECTED_CHURNS.search(q)
    if money_at_risk:
        measure, measure_words = ("mrr_at_risk" if mrr_at_risk else "revenue_at_risk"), ""
    elif expected_churns:
        measure, measure_words = "expected_churns", ""
        cut(expected_churns.group(0))
        for phrase in ("in the next 90 days", "over the next 90 days", "next 90 days", "next quarter", "this quarter"):
            cut(phrase)
    else:
        measure, measure_words = _measure(r)
    if group and ranking and measure is None and superlative and superlative.group(1) in ("worst", "best"):
        # "Which region is the worst?" named no measure and got the region with the most accounts:
        # worst and best are said of churn risk (the highest and the lowest average).
        measure, ranking = "churn_probability", "DESC" if superlative.group(1) == "worst" else "ASC"
    share = _SHARE.search(q)
    if share:
        if measure != "revenue_at_risk":
            return None  # a share of accounts needs its whole named: not guessed
        measure, measure_words = "share_at_risk", ""
        cut(share.group(0))
    count_words = re.search(r"\bhow many\b|\bnumber of\b|\bcount\b|\bmost (accounts|customers|clients)\b", r)
    if measure in (None, "churn_probability") and count_words and not re.search(r"\baverage|\bmean\b", r):
        measure = "count"
    avg_words = re.search(r"\baverage\b|\bavg\b|\bmean\b|\btypical\b|\bper (account|customer|client)\b", r)
    sum_words = re.search(r"\btotal\b|\bsum\b|\bhow much\b|\boverall\b|\bcombined\b|\bbring in\b", r)
    list_words = re.search(r"\b(list|show|which|who|name|names|sorted|ordered|ranked|sort)\b", r) or (
        measure in (None, "count", "churn_probability") and re.search(r"\b(accounts|customers|clients|companies)\b", r)
    )
    if measure_words:
        cut(measure_words)
    median_words = re.search(r"\bmedian\b", r)
    if median_words and measure not in (None, "count", "expected_churns", "share_at_risk"):
        agg = "median"
        cut(median_words.group(0))
    elif measure == "share_at_risk":
        agg = "ratio"
    elif measure == "churn_probability" or avg_words and measure not in (None, "count"):
        agg = "avg"
    elif measure in (None, "count"):
        agg = "count"
        measure = "count"
    else:
        agg = "sum"

    if group:
        shape = "top" if ranking else "groups"
    elif limit or (
        list_words
        and not (count_words or avg_words or sum_words or median_words or agg == "ratio")
        and not (money_at_risk and not list_words)
    ):
        shape = "list"
    elif count_words or avg_words or sum_words or median_words or measure != "count":
        shape = "value"
    else:
        shape = "list"
    if shape == "list" and not (
        where or limit or re.search(r"\b(all|every|riskiest|largest|biggest|highest|soonest|lowest|smallest|most)\b", q)
    ):
        return None
    if shape == "value" and measure == "count" and not (where or count_words):
        return None

    # -- SQL and its reading ---------------------------------------------------------------
    condition = " AND ".join(where) if where else "TRUE"
    population = "all active accounts" + ("" if viewer.sees_everyone else " in your book")
    if scope:
        population += " " + fmt.join_words(scope)
    expr, words, _kind = MEASURES[measure]
    how = {"avg": "average", "median": "median", "sum": "total"}.get(agg, "")
    value_sql = "count(*)" if measure == "count" else expr if agg == "ratio" else f"{agg}({expr})"
    name = "accounts" if measure == "count" else measure if agg == "ratio" else f"{how}_{measure}"
    measure_words = "the number" if measure == "count" else words if agg == "ratio" else f"{how} {words}"
    if measure == "expected_churns":
        measure_words = f"the {words} (the sum of churn probabilities)"
    interpretation: list[str] = []
    if group:
        extra = "" if measure == "count" else ", count(*) AS accounts"
        order = f"{name} {ranking or 'DESC'}"
        selected, grouped_by = group, group
        if group in banded:  # bands in their own order, lowest first, unless a top band is asked for
            selected, band_names = band_sql(group, banded[group])
            selected, grouped_by = f"{selected} AS {group}", "1"
            order = order if ranking else f"min({group})"
            interpretation.append(f"{group.replace('_', ' ')} in bands: {', '.join(band_names)}")
        sql = (
            f"SELECT {selected}, {value_sql} AS {name}{extra} FROM portfolio WHERE {condition} "  # noqa: S608 - allow-listed names, engine-written bands, bound values
            f"GROUP BY {grouped_by} ORDER BY {order} NULLS LAST"
        )
        dim = DIMENSION_WORDS.get(group, group.replace("_", " "))
        if ranking:
            most = "lowest" if ranking == "ASC" else "highest"
            reading = f"the {dim} with the {most} {measure_words if measure != 'count' else 'number of accounts'} among {population}"
        else:
            reading = (
                f"{measure_words if measure != 'count' else 'the number of accounts'} per {dim}, over {population}"
            )
    elif shape == "value":
        extra = (
            ", count(*) AS accounts"
            if measure != "count"
            else ", sum(arr) AS total_arr, sum(revenue_at_risk) AS total_revenue_at_risk"
        )
        sql = f"SELECT {value_sql} AS {name}{extra} FROM portfolio WHERE {condition}"  # noqa: S608 - allow-listed names, bound values
        reading = f"{measure_words} of {population}" if measure != "count" else f"the number of {population}"
    else:
        sort, direction, sort_words = _list_order(r, measure, vocab.scored)
        sql = f"SELECT {LIST_COLUMNS} FROM portfolio WHERE {condition} ORDER BY {sort} {direction} NULLS LAST"  # noqa: S608 - allow-listed names, bound values
        if limit:
            sql += f" LIMIT {int(limit)}"
        reading = (f"the {limit} " if limit and limit > 1 else "the one " if limit else "") + population.replace(
            "all active accounts", "active account" if limit == 1 else "active accounts", 1
        )
        reading += f", sorted by {sort_words}"
    if measure in ("revenue_at_risk", "mrr_at_risk") or "revenue_at_risk" in sql and shape != "list":
        interpretation.append(RISK_DEFINITION)
    if measure_words and measure == "mrr" and re.search(r"\brevenue\b", q) and not re.search(r"\bmrr\b|monthly", q):
        assumptions.append("'revenue' read as MRR (monthly recurring revenue)")
    leftovers = (
        *unheld,
        *(w for w in re.findall(r"[a-z][a-z'.-]+", rest()) if w.strip(".'") not in STOPWORDS and len(w) > 2),
    )
    return ParsedQuestion(
        sql=sql,
        params=tuple(params),
        interpretation=(reading, *interpretation, *assumptions),
        leftovers=leftovers,
        reading=reading,
        assumptions=tuple(assumptions),
        shape=shape if not group else ("top" if ranking else "groups"),
        measure=measure,
        group=group,
    )


def _grouping(
    text: str, words: str, columns: dict[str, str], superlative: re.Match[str] | None
) -> tuple[str | None, str | None, list[str]]:
    """(column, ranking, phrases used) of "which <words> ... most" (a top group) or "by/per
    <words>" (every group) in `text`; `words` is a regex group of the names in `columns`."""
    m = re.search(rf"\bwhich\s+{words}\b", text)
    if m and superlative:
        ranking = "ASC" if superlative.group(1) in ("lowest", "least", "fewest", "smallest") else "DESC"
        return columns[m.group(1)], ranking, [m.group(0), superlative.group(0)]
    m = re.search(rf"\b(?:by|per|for each|each|across|broken down by|split by|grouped by)\s+{words}\b", text)
    return (columns[m.group(1)], None, [m.group(0)]) if m else (None, None, [])


def _list_order(rest: str, measure: str | None, scored: bool = True) -> tuple[str, str, str]:
    """(column, direction, words) a list of accounts is sorted by: ARR at risk unless the words
    say otherwise, or ARR when no account has a churn score yet."""
    sorts = (
        (r"revenue at risk|arr at risk|\brisk\b", "revenue_at_risk", "ARR at risk"),
        (r"churn probability|churn|probability|riskiest|likel", "churn_probability", "churn probability"),
        (r"risk score", "risk_score", "risk score"),
        (r"\barr\b", "arr", "ARR"),
        (r"\bmrr\b|revenue|largest|biggest|smallest", "mrr", "MRR"),
        (r"seats?", "seats", "seats"),
        (r"tickets?", "open_tickets", "open tickets"),
        (r"renewal|soonest", "renewal_date", "renewal date"),
    )
    targets = []
    m = re.search(
        r"\b(?:by|on)\s+(revenue at risk|arr at risk|churn probability|risk score|churn|probability|"
        r"mrr|arr|revenue|seats|tickets|renewal)\b",
        rest,
    )
    if m:
        targets.append(m.group(1))
    m = re.search(r"\b(highest|most|largest|biggest|lowest|least|smallest|fewest)\s+([a-z ]{3,25})", rest)
    if m:
        targets += [m.group(2), m.group(1)]
    targets += [
        w
        for w in ("riskiest", "likeliest", "largest", "biggest", "smallest", "soonest")
        if re.search(rf"\b{w}\b", rest)
    ]
    if measure not in (None, "count"):
        targets.append({"churn_probability": "churn", "arr": "arr", "mrr": "mrr", "seats": "seats"}.get(measure, ""))
    column, words = ("revenue_at_risk", "ARR at risk") if scored else ("arr", "ARR")
    chosen = next(
        ((col, w) for target in targets if target for pattern, col, w in sorts if re.search(pattern, target)), None
    )
    if chosen:
        column, words = chosen
    ascending = column == "renewal_date" or bool(re.search(r"\b(lowest|least|smallest|fewest)\b", rest))
    return (
        column,
        "ASC" if ascending else "DESC",
        f"{words}, {'lowest' if ascending else 'highest'} first"
        if column != "renewal_date"
        else "renewal date, soonest first",
    )


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
