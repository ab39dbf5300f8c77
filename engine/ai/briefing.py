"""An AI briefing on the whole book, for the executive who opens the Overview.

Summaries existed per account only; an executive had the Overview's cards and charts but no
plain-language account of the book. The briefing is 3 to 5 sentences built from the same
figures the Overview shows: customers and MRR/ARR, ARR at risk over the next 90 days and
the expected churns, the largest exposures by name, and the trailing churn and net revenue
retention with their change when both periods rest on enough customers. It is scoped to the
viewer's book (a CSM's own accounts), written by Groq when a key is set and by a template
otherwise, checked against those figures (every number must be one of them), and audited.

The prompt names up to `TOP_ACCOUNTS` accounts of the viewer's own book, nothing else of
any account; names are cleaned as every prompt's free text is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from engine.accounts.board import board_frame
from engine.ai import audit, fmt
from engine.ai.client import AUTO, resolve_client
from engine.ai.guardrails import Grounding
from engine.ai.output import AiOutput
from engine.ai.prompts import RULES, clean
from engine.ai.writer import finish, output_fields, write
from engine.core.access import Viewer
from engine.core.errors import NotFoundError
from engine.core.formatting import is_missing
from engine.data.health import data_as_of, has_scores
from engine.data.warehouse import Warehouse
from engine.portfolio.kpis import NRR_MONTHS, TRAILING_DAYS, PortfolioKpis, portfolio_kpis, risk_summary

TOP_ACCOUNTS = 3
BRIEFING_MAX_TOKENS = 350


class Briefing(AiOutput):
    """The book briefing: the text (ending with the disclaimer), the day it speaks of, and the
    shared AI fields."""

    kind: ClassVar[str] = "briefing"

    briefing: str
    as_of: date

    def audit_request(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat()}

    def audit_text(self) -> str:
        return self.briefing


@dataclass(frozen=True)
class Exposure:
    """One of the largest ARR-at-risk accounts."""

    name: str
    revenue_at_risk: float
    churn_probability: float
    top_driver: str | None


@dataclass(frozen=True)
class BookFacts:
    """What a briefing may say, as the Overview shows it."""

    as_of: date
    book: str  # "the book" or "your book"
    kpis: PortfolioKpis
    accounts: int  # scored active accounts
    arr: float  # their ARR
    revenue_at_risk: float
    expected_churns: float
    exposures: tuple[Exposure, ...]
    # No account scored yet (a book too young to train on): the briefing says so, and from
    # which data date a model can be trained when that is known.
    unscored: bool = False
    scores_from: date | None = None

    def grounding(self) -> Grounding:
        """Every figure the text may state, in the forms it may state them."""
        g = Grounding()
        k = self.kpis
        for value in (k.active_customers, self.accounts, TRAILING_DAYS, NRR_MONTHS, len(self.exposures)):
            g.add_number(value)
        g.add_number(round(self.expected_churns))
        g.add_number(round(self.expected_churns, 1))
        for money in (k.total_mrr, k.arr, self.arr, self.revenue_at_risk):
            g.add_number(money, "currency")
        if self.arr:
            g.add_number(self.revenue_at_risk / self.arr, "fraction")
        for rate in _RATES:
            for figures in (k, k.previous if k.comparable(rate) else None):
                if figures is not None:
                    g.add_number(getattr(figures, rate), "fraction")
        for e in self.exposures:
            g.add_number(e.revenue_at_risk, "currency")
            g.add_number(e.churn_probability, "fraction")
            g.masks.add(e.name)
            g.add_text(e.top_driver)
        g.dates.add(self.as_of)
        if self.scores_from is not None:
            g.dates.add(self.scores_from)
        return g

    def facts_hash(self) -> str:
        payload = json.dumps(self.lines(), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def lines(self) -> list[str]:
        """The facts as the prompt gives them, figures written as the text should quote them."""
        k = self.kpis
        lines = [
            f"book: {self.book}; data as of {fmt.day(self.as_of)}",
            f"active customers: {fmt.count(k.active_customers)}; MRR {fmt.money(k.total_mrr)}; ARR {fmt.money(k.arr)}",
            _no_scores_line(self.scores_from)
            if self.unscored
            else f"scored accounts: {fmt.count(self.accounts)} with ARR {fmt.money(self.arr)}; ARR at risk over the next "
            f"{TRAILING_DAYS} days (churn probability x ARR): {fmt.money(self.revenue_at_risk)}"
            + (f" ({fmt.pct(self.revenue_at_risk / self.arr, 1)} of ARR)" if self.arr else "")
            + f"; accounts expected to churn in the next {TRAILING_DAYS} days: {self.expected_churns:.1f}",
        ]
        for label, rate in zip(_RATE_LABELS, _RATES, strict=True):
            value = getattr(k, rate)
            if value is None:
                lines.append(f"{label}: not defined yet (no customers at the start of the window)")
                continue
            before = (
                f"; 90 days earlier {fmt.pct(getattr(k.previous, rate), 1)}"
                if k.previous is not None and k.comparable(rate) and getattr(k.previous, rate) is not None
                else "; not compared with 90 days earlier (too few customers in one of the two)"
            )
            lines.append(f"{label}: {fmt.pct(value, 1)} over {fmt.plural(k.cohort(rate), 'customer')}{before}")
        if self.exposures:
            lines.append("largest ARR at risk (account: ARR at risk, churn probability, top reason):")
            for e in self.exposures:
                reason = clean(e.top_driver, 200) if e.top_driver else "none recorded"
                lines.append(
                    f"  {clean(e.name)}: {fmt.money(e.revenue_at_risk)}, {fmt.pct(e.churn_probability, 1)}, {reason}"
                )
        return lines


_RATES = ("logo_churn_90d", "gross_revenue_churn_90d", "net_revenue_retention_12m")
_RATE_LABELS = (
    f"logo churn over the last {TRAILING_DAYS} days",
    f"gross revenue churn over the last {TRAILING_DAYS} days",
    f"net revenue retention over the last {NRR_MONTHS} months",
)


def _no_scores_line(scores_from: date | None) -> str:
    when = (
        f"the data is too young to train a churn model on; one can be trained once it reaches {fmt.day(scores_from)}"
        if scores_from is not None
        else "no churn model has scored the accounts yet"
    )
    return f"churn scores: none yet, so no ARR at risk is measured ({when})"


def _unscored_facts(wh: Warehouse, viewer: Viewer) -> BookFacts:
    """A book no model has scored yet: its revenue and retention, and when scores can start."""
    from engine.churn.training import history_readiness  # LightGBM loads only on this path

    as_of = data_as_of(wh)
    if as_of is None:
        raise NotFoundError("The warehouse has no data yet, so there is nothing to brief on.")
    short = history_readiness(wh)
    book = "the whole book" if viewer.sees_everyone else "your book (the accounts you own)"
    kpis = portfolio_kpis(wh, as_of, viewer)
    return BookFacts(as_of, book, kpis, 0, 0.0, 0.0, 0.0, (), True, short.ready_on if short else None)


def book_facts(wh: Warehouse, viewer: Viewer) -> BookFacts:
    """The viewer's book as the Overview shows it (before the first scores, without risk).
    Raises NotFoundError when the viewer's book has no scored account while others have."""
    board = board_frame(wh, viewer)
    if board.empty and not has_scores(wh):
        return _unscored_facts(wh, viewer)
    if board.empty:
        raise NotFoundError("No account of your book has a churn score yet, so there is nothing to brief on.")
    as_of = pd.Timestamp(board["as_of"].max()).date()
    risk = risk_summary(board)
    top = board.nlargest(TOP_ACCOUNTS, "revenue_at_risk")
    exposures = tuple(
        Exposure(
            str(r.name),
            float(r.revenue_at_risk),
            float(r.churn_probability),
            None if is_missing(r.top_driver) else str(r.top_driver),
        )
        for r in top.itertuples()
        if r.revenue_at_risk > 0
    )
    return BookFacts(
        as_of=as_of,
        book="the whole book" if viewer.sees_everyone else "your book (the accounts you own)",
        kpis=portfolio_kpis(wh, as_of, viewer),
        accounts=risk.accounts,
        arr=risk.arr,
        revenue_at_risk=risk.revenue_at_risk,
        expected_churns=risk.expected_churned_accounts,
        exposures=exposures,
    )


def briefing_messages(facts: BookFacts) -> list[dict]:
    task = (
        "Write a briefing of exactly 3 to 5 sentences of plain prose for an executive: revenue first (MRR/ARR and "
        "the ARR at risk), then where the risk sits (the largest exposures by name and their reason), then the "
        "trend (churn and net revenue retention, and their change only where the facts give one). No lists, no "
        "headings, no advice beyond what the figures show."
    )
    facts_text = "\n".join(facts.lines())
    return [
        {"role": "system", "content": RULES},
        {"role": "user", "content": f"<facts>\n{facts_text}\n</facts>\n\nTask: {task}"},
    ]


def offline_briefing(facts: BookFacts) -> str:
    """The template's briefing: the same facts in 3 to 5 sentences."""
    k = facts.kpis
    sentences = [
        f"As of {fmt.day(facts.as_of)}, {facts.book} has {fmt.plural(k.active_customers, 'active customer')} paying "
        f"{fmt.money(k.total_mrr)} MRR ({fmt.money(k.arr)} ARR)."
    ]
    if facts.unscored:
        sentences.append(
            "There are no churn scores yet, so no ARR at risk is measured"
            + (
                f": the data is too young to train a churn model on, which can be done once it reaches "
                f"{fmt.day(facts.scores_from)}."
                if facts.scores_from is not None
                else "."
            )
        )
        sentences.append(_trend(k))
        return " ".join(s for s in sentences if s)
    share = f" ({fmt.pct(facts.revenue_at_risk / facts.arr, 1)} of the scored ARR)" if facts.arr else ""
    expected = round(facts.expected_churns)
    how_many = (
        f"about {expected:,} accounts"
        if expected >= 2
        else "about one account"
        if expected == 1
        else "less than one account"
    )
    sentences.append(
        f"{fmt.money(facts.revenue_at_risk)} of ARR is at risk over the next {TRAILING_DAYS} days{share}, with "
        f"{how_many} expected to churn."
    )
    if facts.exposures:
        named = [f"{e.name} ({fmt.money(e.revenue_at_risk)})" for e in facts.exposures]
        first = facts.exposures[0]
        several = len(named) > 1
        reason = (
            f"; the top reason{' behind the first' if several else ''}: {fmt.lower_first(first.top_driver.rstrip('.'))}"
            if first.top_driver
            else ""
        )
        largest = "The largest exposures are" if several else "The largest exposure is"
        sentences.append(f"{largest} {fmt.join_words(named)}{reason}.")
    sentences.append(_trend(k))
    return " ".join(s for s in sentences if s)


def _trend(k: PortfolioKpis) -> str:
    parts = []
    for label, rate in (("logo churn", "logo_churn_90d"), ("gross revenue churn", "gross_revenue_churn_90d")):
        value = getattr(k, rate)
        if value is None:
            continue
        said = f"{label} was {fmt.pct(value, 1)}"
        prev = k.previous
        if prev is not None and k.comparable(rate) and getattr(prev, rate) is not None:
            said += f" (against {fmt.pct(getattr(prev, rate), 1)} in the {TRAILING_DAYS} days before)"
        parts.append(said)
    text = f"Over the last {TRAILING_DAYS} days {fmt.join_words(parts)}." if parts else ""
    if k.net_revenue_retention_12m is not None:
        text += f" Net revenue retention over {NRR_MONTHS} months is {fmt.pct(k.net_revenue_retention_12m, 1)}."
    return text.strip()


def brief_the_book(wh: Warehouse, viewer: Viewer, *, client=AUTO, data_dir: str | Path | None = None) -> Briefing:
    """A 3-5 sentence briefing on the viewer's book (a CSM: their own), checked and audited.

    `client`: AUTO (Groq when GROQ_API_KEY is set, else the template), None (the template) or
    a ChatClient. Before the first scores it speaks of revenue and retention and says when scores can start."""
    facts = book_facts(wh, viewer)
    written = write(
        resolve_client(client), briefing_messages(facts), lambda: offline_briefing(facts), BRIEFING_MAX_TOKENS
    )
    done = finish(written, facts.grounding(), summary=True)
    briefing = Briefing(
        briefing=done.text,
        as_of=facts.as_of,
        **output_fields(written, done.report, done.generated_at, facts.facts_hash()),
    )
    return audit.record_output(briefing, data_dir or wh.data_dir, viewer)
