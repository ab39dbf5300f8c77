"""Ask AI's answers about the book's retention: net revenue retention, gross revenue churn and
logo churn, from the same figures as the Overview's cards (`engine.portfolio.portfolio_kpis`).

The portfolio view holds today's active accounts, so "What is our NRR?" or "How many customers
did we lose?" cannot be written as SQL over it; they were refused and pointed to the Overview
(which a CSM cannot open). Here they are answered for the viewer's book (a CSM's own accounts)
over the windows the cards use (12 months for NRR, 90 days for the churn rates), with the
cohort each rate rests on and the window said in the answer. A question that asks for a
breakdown, a listing of accounts or a segment is not answered here: the figures are the book's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pandas as pd

from engine.ai import fmt
from engine.ai.guardrails import Grounding
from engine.ai.portfolio_parser import Vocabulary, normalised
from engine.core.access import Viewer
from engine.core.config import SMALL_COHORT
from engine.portfolio.kpis import NRR_MONTHS, TRAILING_DAYS, PortfolioKpis, months_before, portfolio_kpis

# Which figure a question asks for; the first that matches wins.
_NRR = re.compile(r"\bnrr\b|\bndr\b|net (revenue|dollar|mrr) retention|\bnet retention\b")
_GROSS = re.compile(r"\bgrr\b|gross (revenue|dollar|mrr) (retention|churn)|\b(revenue|mrr|dollar) churn\b")
_LOGO = re.compile(
    r"\blogo churn\b|\b(customer |logo |account )?churn rate\b|\b(customer |logo )?retention rate\b"
    r"|\bhow many (customers|accounts|clients|logos)\b[^?]*\b(churned|left|cancell?ed|lost|lose)\b"
    r"|\b(customers|accounts|clients|logos) (did )?we (lose|lost)\b|\bhave we lost\b"
)
# A breakdown, a list of accounts, or a period other than the cards': not the book's one figure.
_BREAKDOWN = re.compile(r"\b(by|per|each|across|which|list|top|breakdown|broken down|split|compare)\b")
_THRESHOLD = re.compile(r"\d+(\.\d+)?\s*(%|percent|pct)|\b(above|over|below|under|greater|less|more) than\b")
_OTHER_PERIOD = re.compile(
    r"\blast (month|quarter|year|week)\b|\bthis (month|quarter|year)\b|\bq[1-4]\b|\b(19|20)\d\d\b|\bytd\b"
    r"|\b(january|february|march|april|may|june|july|august|september|october|november|december)\b"
)


@dataclass(frozen=True)
class HeadlineAnswer:
    """A retention answer: its sentences, the table, how the question was read, what was assumed."""

    text: str
    table: pd.DataFrame
    reading: str
    assumptions: tuple[str, ...]
    grounding: Grounding


def _figure_asked(q: str) -> str | None:
    for name, pattern in (("nrr", _NRR), ("gross", _GROSS), ("logo", _LOGO)):
        if pattern.search(q):
            return "logo_12m" if name == "logo" and _A_YEAR.search(q) else name
    return None


# Logo churn over a year is answered over the 12 months to the data date (the NRR cohort's).
_A_YEAR = re.compile(r"\b(last|past|this|previous) (12 months|twelve months|year)\b|\byear\b|\b12 months\b|\bannual\b")
# Words that name a calendar period (not the trailing window the answer covers).
_CALENDAR_YEAR = re.compile(r"\b(last|this|previous) year\b|\b(19|20)\d\d\b|\bytd\b")


def _names_a_segment(q: str, vocab: Vocabulary) -> bool:
    """Whether the question names an owner, industry, region or a value of the company's columns."""
    values = (*vocab.owners, *vocab.industries, *vocab.regions, *(v for _, v in vocab.attribute_values))
    return any(re.search(rf"(?<!\w){re.escape(str(v).lower())}(?!\w)", q) for v in values if str(v).strip())


def asks_for_headline(question: str, vocab: Vocabulary) -> str | None:
    """'nrr', 'gross' or 'logo' when the question asks for the book's retention figure; None
    for anything else: a breakdown, a segment or a threshold ("churn rate above 20%" reads as
    the model's churn probability, which the portfolio view answers)."""
    q = normalised(question)
    figure = _figure_asked(q)
    if figure is None or _THRESHOLD.search(q) or _BREAKDOWN.search(q) or _names_a_segment(q, vocab):
        return None
    return figure


def breakdown_refusal(question: str, vocab: Vocabulary, viewer: Viewer) -> str | None:
    """Why a retention question that asks for a breakdown or a segment is not answered, or None
    (pointing a role that opens the Overview to its table of churn and NRR per plan and segment)."""
    q = normalised(question)
    if _figure_asked(q) is None or _THRESHOLD.search(q):
        return None
    if _BREAKDOWN.search(q) or _names_a_segment(q, vocab):
        where = (
            " The Overview compares churn and NRR per behavioural segment and plan with the whole book, below "
            "its charts."
            if viewer.can_open("overview")
            else ""
        )
        return (
            "Ask AI gives net revenue retention, gross revenue churn and logo churn for the whole book, not per "
            f"segment, owner or account. Ask, e.g., 'What is our net revenue retention?'{where}"
        )
    return None


_CHURN_RATE = re.compile(r"\bchurn rates?\b", re.I)


def account_churn_rate(question: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The question as the portfolio reads it, and what was assumed. An account has no churn
    rate of its own: "accounts with a churn rate above 20%" means their churn probability, and
    was refused as a question about accounts that churned."""
    if not (_CHURN_RATE.search(question) and _THRESHOLD.search(normalised(question))):
        return question, ()
    assumed = ("assumed_meaning", "an account's 'churn rate' read as its churn probability over the next 90 days")
    return _CHURN_RATE.sub("churn probability", question), (assumed,)


def headline_answer(wh, question: str, figure: str, viewer: Viewer, as_of: date) -> HeadlineAnswer:
    """The figure `figure` ('nrr', 'gross' or 'logo') of the viewer's book as of `as_of`."""
    kpis = portfolio_kpis(wh, as_of, viewer)
    book = "the whole book" if viewer.sees_everyone else "your book (the accounts you own today)"
    yearly = figure in ("nrr", "logo_12m")
    g = Grounding()
    g.add_number(NRR_MONTHS if yearly else TRAILING_DAYS)  # the window, said in the answer
    text, row = {"nrr": _nrr, "gross": _gross, "logo": _logo, "logo_12m": _logo_12m}[figure](kpis, g)
    table = pd.DataFrame([row])
    assumptions = []
    if (_CALENDAR_YEAR if yearly else _OTHER_PERIOD).search(question.lower()):
        window = f"the {NRR_MONTHS} months" if yearly else f"the {TRAILING_DAYS} days"
        assumptions.append(f"the figure covers {window} to {fmt.day(as_of)}, not a calendar period")
    reading = f"{row['figure'].lower()} of {book} as of {fmt.day(as_of)}"
    return HeadlineAnswer(text, table, reading, tuple(assumptions), g)


def _rate(value: float | None, g: Grounding) -> str:
    g.add_number(value, "fraction")
    return fmt.pct(value, 1)


def _count(value: int, g: Grounding, what: str) -> str:
    g.add_number(value)
    return fmt.plural(value, what)


def _small(cohort: int, g: Grounding) -> str:
    if cohort >= SMALL_COHORT:
        return ""
    g.add_number(cohort)
    return f" It rests on only {fmt.plural(cohort, 'customer')}, so one account moves it by points."


def _before(kpis: PortfolioKpis, rate: str, g: Grounding) -> str:
    prev = kpis.previous
    if prev is None or prev.as_of is None or getattr(prev, rate) is None:
        return ""
    g.dates.add(prev.as_of)
    if not kpis.comparable(rate):
        few = min(kpis.cohort(rate), prev.cohort(rate))
        g.add_number(few)
        g.add_number(SMALL_COHORT)
        return (
            f" It is not compared with {TRAILING_DAYS} days earlier: one of the two rests on {fmt.plural(few, 'customer')}, "
            f"fewer than {SMALL_COHORT}."
        )
    window = f"{NRR_MONTHS} months" if rate == "net_revenue_retention_12m" else f"{TRAILING_DAYS} days"
    return f" Over the {window} to {fmt.day(prev.as_of)} it was {_rate(getattr(prev, rate), g)}."


def _row(figure: str, kpis: PortfolioKpis, rate: str, start: date, **extra) -> dict:
    """The table's one row: an undefined rate is empty, not 0; the rate 90 days earlier only
    when the two rest on enough customers to be compared (as on the Overview's cards)."""
    prev = kpis.previous
    row = {
        "figure": figure,
        "rate": _or_nan(getattr(kpis, rate)),
        "period_start": start,
        "period_end": kpis.as_of,
        "cohort_customers": kpis.cohort(rate),
        **extra,
    }
    if prev is not None and kpis.comparable(rate) and getattr(prev, rate) is not None:
        row["rate_90_days_earlier"] = getattr(prev, rate)
    return row


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _start_12m(kpis: PortfolioKpis, g: Grounding) -> date:
    """The day the 12-month cohort is taken; both ends of the window are facts the answer says."""
    assert kpis.as_of is not None
    start = months_before(kpis.as_of, NRR_MONTHS)
    g.dates.update({start, kpis.as_of})
    return start


def _nrr(kpis: PortfolioKpis, g: Grounding) -> tuple[str, dict]:
    start = _start_12m(kpis, g)
    row = _row("Net revenue retention", kpis, "net_revenue_retention_12m", start)
    n = kpis.customers_12m_ago
    if kpis.net_revenue_retention_12m is None:
        return (
            f"There is no net revenue retention yet: no paying customer was active on {fmt.day(start)}, "
            f"{NRR_MONTHS} months before {fmt.day(kpis.as_of)}.",
            row,
        )
    value = _rate(kpis.net_revenue_retention_12m, g)
    return (
        f"Net revenue retention over the {NRR_MONTHS} months to {fmt.day(kpis.as_of)}: {value}. The "
        f"{_count(n, g, 'customer')} active on {fmt.day(start)} bring {value} of the MRR they brought then "
        "(those who left count as nothing; expansion counts)."
        + _before(kpis, "net_revenue_retention_12m", g)
        + _small(n, g),
        row,
    )


def _start_90d(kpis: PortfolioKpis, g: Grounding) -> date:
    """The day the 90-day cohort is taken; both ends of the window are facts the answer says."""
    assert kpis.as_of is not None and kpis.window_start_90d is not None
    g.dates.update({kpis.window_start_90d, kpis.as_of})
    return kpis.window_start_90d


def _gross(kpis: PortfolioKpis, g: Grounding) -> tuple[str, dict]:
    start = _start_90d(kpis, g)
    row = _row("Gross revenue churn", kpis, "gross_revenue_churn_90d", start, mrr_lost=kpis.mrr_lost_90d)
    if kpis.gross_revenue_churn_90d is None:
        return f"There is no gross revenue churn yet: no paying customer was active on {fmt.day(start)}.", row
    rate = kpis.gross_revenue_churn_90d
    g.add_number(kpis.mrr_lost_90d, "currency")
    g.add_number(1 - rate, "fraction")
    return (
        f"Gross revenue churn over the {TRAILING_DAYS} days to {fmt.day(kpis.as_of)}: {_rate(rate, g)} "
        f"({fmt.money(kpis.mrr_lost_90d)} of MRR lost to churn and contraction by the "
        f"{_count(kpis.customers_90d_ago, g, 'customer')} active on {fmt.day(start)}; expansion does not offset "
        f"it), so {fmt.pct(1 - rate, 1)} gross revenue retention over those {TRAILING_DAYS} days."
        + _before(kpis, "gross_revenue_churn_90d", g)
        + _small(kpis.customers_90d_ago, g),
        row,
    )


def _logo(kpis: PortfolioKpis, g: Grounding) -> tuple[str, dict]:
    start = _start_90d(kpis, g)
    row = _row("Logo churn", kpis, "logo_churn_90d", start, churned_customers=kpis.churned_customers_90d)
    g.add_number(kpis.churned_customers_90d)
    if kpis.logo_churn_90d is None:
        return f"There is no logo churn yet: no customer was active on {fmt.day(start)}.", row
    return (
        f"Logo churn over the {TRAILING_DAYS} days to {fmt.day(kpis.as_of)}: {_rate(kpis.logo_churn_90d, g)}. "
        f"{fmt.count(kpis.churned_customers_90d)} of the "
        f"{_count(kpis.customers_90d_ago, g, 'customer')} active on {fmt.day(start)} churned by "
        f"{fmt.day(kpis.as_of)}." + _before(kpis, "logo_churn_90d", g) + _small(kpis.customers_90d_ago, g),
        row,
    )


def _logo_12m(kpis: PortfolioKpis, g: Grounding) -> tuple[str, dict]:
    """Logo churn over a year: of the customers active 12 months ago, the share that churned since."""
    start = _start_12m(kpis, g)
    rate = kpis.logo_churn_12m
    row = {
        "figure": "Logo churn (12 months)",
        "rate": _or_nan(rate),
        "period_start": start,
        "period_end": kpis.as_of,
        "cohort_customers": kpis.customers_12m_ago,
        "churned_customers": kpis.churned_customers_12m,
    }
    g.add_number(kpis.churned_customers_12m)
    if rate is None:
        return f"There is no logo churn over {NRR_MONTHS} months yet: no customer was active on {fmt.day(start)}.", row
    return (
        f"Logo churn over the {NRR_MONTHS} months to {fmt.day(kpis.as_of)}: {_rate(rate, g)}. "
        f"{fmt.count(kpis.churned_customers_12m)} of the {_count(kpis.customers_12m_ago, g, 'customer')} active on "
        f"{fmt.day(start)} churned by {fmt.day(kpis.as_of)}." + _small(kpis.customers_12m_ago, g),
        row,
    )
