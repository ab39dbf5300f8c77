"""Checks run on every AI text, whichever writer produced it, and the confidence score.

What is checked (each failure adds a flag code; `GuardrailReport.details` says where):

* ``ungrounded_number`` - every number, percentage, currency amount and date in the
  text must match a fact. Rounding rules (a figure matches when the fact, rounded to the
  precision shown, gives it):
    - percentage ``p %``: within 0.5 points of a fraction fact x 100 (0.623 -> "62%"
      or "62.3%"), or of a percentage quoted in a fact's own text; the sign is
      ignored ("fell 16%" matches a change of -0.16);
    - currency ``$X`` with optional K / M / B: within half a unit of the last digit
      shown, scaled ("$50.4K" matches 50,350..50,450; "$50K" 49,500..50,500;
      "$4,200" 4,199.5..4,200.5) of a currency fact (MRR, ARR, revenue at risk,
      opportunity amounts, open pipeline, amounts quoted in fact texts);
    - any other number: within half a unit of the last digit shown of a numeric fact
      ("0.27" matches 0.2689, "2.8" matches 2.8, "1,033" matches 1033); a count must
      match a fact counting the same thing, read from the word after it ("4 open
      tickets" only matches ticket counts, "120 seats" seat counts, "45 days" day
      counts);
    - in context: the ends of "interval A to B %" must be the churn interval's low and
      high ends, and the churn probability a churn sentence states must be the model's
      (0.5 points) - not merely any percentage among the facts;
    - dates: ISO, "July 1, 2026", "1 July 2026" must be a fact date; "July 2026" a
      month holding a fact date; "Q3 2026" a quarter holding one; a bare year must be
      the year of a fact date or a matching number;
    - allowed without a fact, in context only: list markers ("1."), the standard
      windows in "last/previous N days" and "N-day" (7, 30, 60, 90, 365; a window a
      fact's own text uses, like "per seat in 30 days"), "of 5" scales (CSAT, product
      areas), "top N" up to the number of drivers, meeting lengths of 15-60 minutes.
  Figures in customer-written text (ticket subjects) are not facts.
  Names and IDs of the customer, tickets and opportunities are masked first.
* ``churn_probability_mismatch`` - a churn probability stated in a sentence about churn
  must be within 2 points of the model's.
* ``risk_tier_mismatch`` - "<tier> tier" must name the model's tier.
* ``unknown_metric`` - snake_case names that are not features or fact fields, and
  metrics the warehouse does not hold (NPS, health score, LTV, ARPU, ...).
* ``sentence_count`` - summaries must have 3-5 sentences.
* ``prompt_injection`` - instruction-like text (ignore previous instructions, reveal the
  prompt, links to follow) in the output.
* ``instruction_leak`` - fragments of the prompt itself (delimiters, rule text).
* ``internal_data_exposed`` - a customer-facing draft mentions churn scores, risk tiers
  or the model.
* ``link_or_image`` - a markdown link or image, an HTML tag or a URL (also
  protocol-relative ``//host/x.png``) in the output: it may come from customer text and
  would make the reader's browser fetch or follow it. Pages render AI text with such
  markup neutralised (components/ai.py) whatever the flag.
* ``provider_error`` (added by the writer) - the provider failed and the offline writer
  produced the text; informational, it costs no confidence.
* Portfolio questions add ``sql_from_model``, ``no_stated_reading``, ``readings_disagree``
  (the model's figures differ from the offline parser's reading of the same question),
  ``assumed_meaning`` (a word read one way where another reading exists) and
  ``question_partly_understood`` (words the parser did not use: the reading may miss a
  condition, so it alone puts the answer under review).

What confidence means: the automatic checks' estimate that the text states only what
the data says and answers what was asked. It is max(0, 1 - sum of the weights of every
flag occurrence), rounded to two decimals (`FLAG_WEIGHTS`), and for text written by the
built-in templates (no AI model) at most `TEMPLATE_CONFIDENCE` (0.9): a template's
figures are correct by construction, but it restates facts in fixed sentences and cannot
judge what matters for this account or question, so it never claims full confidence. Anything that questions the facts (an ungrounded number, a
wrong churn figure or tier, injection, a leak, internal data in a customer message)
alone drops it below 0.5, the "needs review" line; style issues cost less.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from engine.churn.features import FEATURE_NAMES

DISCLAIMER = "⚠️ AI-generated. Requires human review."
REVIEW_THRESHOLD = 0.5
TEMPLATE_CONFIDENCE = 0.9  # the most a built-in template's text may claim (see the module doc)

FLAG_WEIGHTS: dict[str, float] = {
    "ungrounded_number": 0.55,
    "churn_probability_mismatch": 0.6,
    "risk_tier_mismatch": 0.55,
    "prompt_injection": 0.8,
    "instruction_leak": 0.8,
    "internal_data_exposed": 0.55,
    "unknown_metric": 0.3,
    "sentence_count": 0.15,
    "empty_output": 1.0,
    "sql_from_model": 0.2,
    "question_partly_understood": 0.55,
    "assumed_meaning": 0.1,
    "no_stated_reading": 0.1,
    "readings_disagree": 0.35,
    "link_or_image": 0.55,
    "sql_refused": 0.6,
    "provider_error": 0.0,
}

CHURN_TOLERANCE_POINTS = 2.0
PERCENT_TOLERANCE_POINTS = 0.5
WINDOW_DAYS = {7, 28, 30, 60, 90, 365}  # the windows features are computed over (28: per-event-type usage)
MEETING_MINUTES = {15, 20, 30, 45, 60}

# Metrics people expect but the warehouse does not hold for a customer.
UNKNOWN_METRIC_PHRASES = (
    "nps",
    "net promoter",
    "health score",
    "arpu",
    "cac",
    "ltv",
    "lifetime value",
    "clv",
    "mau",
    "monthly active users",
    "wau",
    "engagement score",
    "sentiment score",
    "adoption score",
    "gross margin",
    "ebitda",
    "payback period",
)
_UNKNOWN_METRIC_RE = re.compile(r"\b(" + "|".join(re.escape(p) for p in UNKNOWN_METRIC_PHRASES) + r")\b", re.I)

# Words of the prompts that must never come back in an answer.
PROMPT_MARKERS = (
    "<facts>",
    "</facts>",
    "<untrusted",
    "</untrusted",
    "untrusted_customer_text",
    "customer radar's assistant",
    "never invent numbers",
    "facts block",
    "reply exactly out_of_scope",
    "system prompt:",
)

_INJECTION_PATTERNS = [
    r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(instructions?|prompts?|rules|guidelines|directions)\b",
    r"\byou are now\b",
    r"\bnew instructions?\b",
    r"\b(reveal|print|show|repeat|output)\b[^.\n]{0,30}\b(system prompt|your prompt|your instructions|the prompt)\b",
    r"\bsystem prompt\b",
    r"\bdeveloper (message|mode)\b",
    r"\bjailbreak\b",
    r"\bdo anything now\b",
    r"\bas an ai (language )?model\b",
    r"\b(i|we) (was|were|have been|am) (instructed|told|asked) to\b",
    r"\b(api[_ ]?key|secret token)\b",
    r"https?://|\bwww\.",
    r"\[/?inst\]|<\|[a-z_]+\|>",
]
_INJECTION_RE = re.compile("|".join(_INJECTION_PATTERNS), re.I)

_INTERNAL_RE = re.compile(
    r"\b(churn|risk tier|risk score|at[- ]risk|shap|churn probability|likelihood to leave|our model|the model|"
    r"critical tier|high tier|risk of leaving)\b",
    re.I,
)

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
MONTHS["sept"] = 9
_MONTH = r"\b(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")(?![A-Za-z])\.?"

_DATE_PATTERNS = [
    ("day", re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")),
    ("day", re.compile(_MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})\b", re.I)),
    ("day", re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r",?\s+(?P<y>\d{4})\b", re.I)),
    ("month", re.compile(r"\b" + _MONTH + r",?\s+(?P<y>\d{4})\b", re.I)),
    ("monthday", re.compile(r"\b" + _MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\b", re.I)),
    ("monthday", re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"\b", re.I)),
    ("quarter", re.compile(r"\bQ(?P<q>[1-4])(?:\s+(?:of\s+)?(?P<y>\d{4}))?\b")),
]

_NUMBER_RE = re.compile(
    r"(?<![\w.,])(?P<neg>[-−–]\s?)?"
    r"(?P<cur>\$|US\$|USD\s?|€|£)?\s?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<mult>[kKmMbB]|thousand|million|billion|bn)(?![A-Za-z]))?"
    r"(?P<pct>\s?(?:%|percent(?:age points?)?\b|per cent\b|pct\b|points?\b|pp\b))?"
    r"(?P<cur2>\s?(?:USD|dollars)\b)?"
    r"(?P<ord>st|nd|rd|th)?"
    r"(?![A-Za-z0-9])"
)
_RANGE_JOIN = re.compile(r"^\s?(?:-|–|—|to|and)\s?$")
_LIST_MARKER = re.compile(r"(?m)^\s*(?:\d{1,2}[.)]|[-*•])\s+")
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_MULT = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9}


@dataclass(frozen=True)
class Figure:
    """A number found in a text."""

    text: str
    value: float
    kind: str  # percent | currency | number
    tolerance: float
    start: int
    end: int
    in_range: bool = False
    range_end: bool = False  # the second figure of "48-75%"


@dataclass(frozen=True)
class DateMention:
    text: str
    kind: str  # day | month | monthday | quarter
    year: int | None
    month: int | None
    day: int | None
    start: int

    def as_day(self) -> date:
        """The calendar day of a `day` mention (it has all three parts); ValueError when impossible."""
        if self.year is None or self.month is None or self.day is None:
            raise ValueError(f"'{self.text}' is not a full date")
        return date(self.year, self.month, self.day)


@dataclass
class Grounding:
    """What a text may state: the facts, by kind. Built by `grounding_from_facts` or by hand."""

    fractions: set[float] = field(default_factory=set)  # 0.62 -> "62%"
    percents: set[float] = field(default_factory=set)  # already in points (quoted in fact texts)
    currency: set[float] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)  # every numeric fact, any kind
    dates: set[date] = field(default_factory=set)
    masks: set[str] = field(default_factory=set)  # names and IDs removed before reading numbers
    phrases: set[str] = field(default_factory=set)  # window phrases quoted by fact texts ("seat in 30 days")
    units: dict[str, set[float]] = field(default_factory=dict)  # "ticket" -> the ticket counts, ...
    known_metrics: set[str] = field(default_factory=set)
    churn_probability: float | None = None
    interval: tuple[float, float] | None = None  # the churn probability's (low, high)
    risk_tier: str | None = None
    drivers_count: int = 0

    def add_number(self, value: float | int | None, kind: str = "number", unit: str | None = None) -> None:
        """A numeric fact; `unit` ("day", "ticket", ...) says what it counts."""
        if value is None or isinstance(value, bool):
            return
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return
        self.numbers.add(value)
        if unit:
            self.units.setdefault(unit, set()).add(abs(value))
        if kind == "fraction":
            self.fractions.add(abs(value))
        elif kind == "currency":
            self.currency.add(abs(value))

    def add_text(self, text: str | None) -> None:
        """Figures quoted in a fact's own words (a driver's reason, the recommended action) are
        facts too; standard windows in them ("the previous 30 days") are not."""
        if not text:
            return
        for mention in find_dates(text)[0]:
            if mention.kind == "day":
                self.dates.add(mention.as_day())
        body = _strip_dates(text)
        for fig in find_figures(body):
            window = fig.value in WINDOW_DAYS and re.match(r"^(-|\s)days?\b", body[fig.end : fig.end + 6])
            if window:
                # "in 90 days" is a window, not a fact: only the same phrase may be quoted back.
                self.phrases.add(_phrase_key(body, fig))
                continue
            if _allowed_in_context(body, fig, self):
                continue
            if fig.kind == "percent":
                self.percents.add(fig.value)
            elif fig.kind == "currency":
                self.currency.add(fig.value)
            self.add_number(fig.value, unit=unit_of(body, fig) if fig.kind == "number" else None)


@dataclass(frozen=True)
class GuardrailReport:
    flags: tuple[str, ...]  # one code per occurrence, in the order found
    details: tuple[dict, ...]  # {code, detail}
    confidence_score: float

    @property
    def codes(self) -> list[str]:
        """Distinct flag codes, in the order first found (the contract's `guardrail_flags`)."""
        return list(dict.fromkeys(self.flags))

    @property
    def needs_review(self) -> bool:
        return self.confidence_score < REVIEW_THRESHOLD

    def capped(self, ceiling: float) -> GuardrailReport:
        """The same report with the confidence at most `ceiling` (a template's text, see the module doc)."""
        return GuardrailReport(self.flags, self.details, min(self.confidence_score, ceiling))

    def merged(self, extra: Iterable[tuple[str, str]]) -> GuardrailReport:
        flags, details = list(self.flags), list(self.details)
        for code, detail in extra:
            flags.append(code)
            details.append({"code": code, "detail": detail})
        # More findings can only lower the confidence: a cap already applied (a template's) stays.
        return GuardrailReport(tuple(flags), tuple(details), min(self.confidence_score, confidence_from_flags(flags)))


def confidence_from_flags(flags: Iterable[str]) -> float:
    """1.0 minus the weight of every flag occurrence, floored at 0 (unknown codes cost 0.3)."""
    penalty = sum(FLAG_WEIGHTS.get(code, 0.3) for code in flags)
    return round(max(0.0, 1.0 - penalty), 2)


# -- disclaimer ------------------------------------------------------------------------
def strip_disclaimer(text: str) -> str:
    """The text without any copy of the disclaimer (a model may have added its own)."""
    cleaned = text.replace(DISCLAIMER, "")
    cleaned = re.sub(r"⚠️?\s*AI[- ]generated\.?\s*Requires human review\.?", "", cleaned, flags=re.I)
    return cleaned.strip()


def with_disclaimer(text: str) -> str:
    """The text ending with exactly one disclaimer."""
    body = strip_disclaimer(text)
    return f"{body}\n\n{DISCLAIMER}" if body else DISCLAIMER


# -- extraction ------------------------------------------------------------------------
def find_dates(text: str) -> tuple[list[DateMention], list[tuple[int, int]]]:
    """Dates in the text and the spans they cover (earlier patterns win overlaps)."""
    found: list[DateMention] = []
    spans: list[tuple[int, int]] = []
    for kind, pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in spans):
                continue
            groups = m.groupdict()
            month = groups.get("m") or groups.get("month")
            if month is not None and not month.isdigit():
                month = MONTHS[month.lower().rstrip(".")]
            mention = DateMention(
                text=m.group(0),
                kind=kind,
                year=int(groups["y"]) if groups.get("y") else None,
                month=int(month) if month is not None else None,
                day=int(groups["d"]) if groups.get("d") else None,
                start=m.start(),
            )
            if kind == "quarter":
                mention = DateMention(m.group(0), kind, mention.year, int(groups["q"]), None, m.start())
            if kind in ("day", "monthday") and not _valid_day(mention):
                continue
            found.append(mention)
            spans.append((m.start(), m.end()))
    return found, spans


def _valid_day(mention: DateMention) -> bool:
    if not (1 <= (mention.month or 0) <= 12 and 1 <= (mention.day or 0) <= 31):
        return False
    if mention.year is None:
        return True
    try:
        mention.as_day()
    except ValueError:
        return False
    return True


def _strip_dates(text: str) -> str:
    _, spans = find_dates(text)
    chars = list(text)
    for s, e in spans:
        for i in range(s, e):
            chars[i] = " "
    return "".join(chars)


def find_figures(text: str) -> list[Figure]:
    """Numbers, percentages and currency amounts in a text whose dates were blanked out."""
    raw = list(_NUMBER_RE.finditer(text))
    figures: list[Figure] = []
    for i, m in enumerate(raw):
        number = m.group("num")
        decimals = len(number.split(".")[1]) if "." in number else 0
        value = float(number.replace(",", ""))
        mult_word = (m.group("mult") or "").lower()
        mult = _MULT.get(mult_word, 1.0)
        currency = bool(m.group("cur") or m.group("cur2"))
        percent = bool(m.group("pct"))
        in_range = range_end = False
        # "48-75%" or "48% to 75%": the first number of a range takes the unit of the second.
        if i + 1 < len(raw):
            nxt = raw[i + 1]
            if _RANGE_JOIN.match(text[m.end() : nxt.start()]):
                in_range = True
                percent = percent or bool(nxt.group("pct"))
        if i > 0 and _RANGE_JOIN.match(text[raw[i - 1].end() : m.start()]):
            in_range = range_end = True
        kind = "percent" if percent else "currency" if currency else "number"
        figures.append(
            Figure(
                text=m.group(0).strip(),
                value=value * mult,
                kind=kind,
                tolerance=0.5 * 10 ** (-decimals) * mult,
                start=m.start(),
                end=m.end(),
                in_range=in_range,
                range_end=range_end,
            )
        )
    return figures


def _mask(text: str, masks: Iterable[str]) -> str:
    # Whole names only: an account named "9" (ids are names in many exports) masked the 9 of
    # "$3.9K", which then read as "$3" and flagged a true figure as ungrounded.
    for item in sorted((m for m in masks if m), key=len, reverse=True):
        pattern = rf"(?<![\w.,$€£]){re.escape(item)}(?![\w]|[.,]\d)"
        text = re.sub(pattern, lambda match: "X" * len(match.group(0)), text, flags=re.I)
    return text


# -- matching --------------------------------------------------------------------------
def _close(value: float, facts: Iterable[float], tolerance: float) -> bool:
    return any(abs(value - f) <= tolerance + 1e-9 for f in facts)


UNITS = {
    "day": "day",
    "days": "day",
    "event": "event",
    "events": "event",
    "ticket": "ticket",
    "tickets": "ticket",
    "seat": "seat",
    "seats": "seat",
    "user": "user",
    "users": "user",
    "response": "response",
    "responses": "response",
    "flag": "flag",
    "flags": "flag",
    "flag(s)": "flag",
    "area": "area",
    "areas": "area",
    "area(s)": "area",
    "hour": "hour",
    "hours": "hour",
    "year": "year",
    "years": "year",
    "action": "action",
    "actions": "action",
    "opportunity": "opportunity",
    "opportunities": "opportunity",
}
# Words that may stand between a count and its unit ("5 open tickets", "41.3 daily active users").
_UNIT_MODIFIERS = {
    "open",
    "high-priority",
    "product",
    "support",
    "daily",
    "active",
    "further",
    "vendor-risk",
    "csat",
    "new",
    "recent",
    "more",
    "licensed",
}


def unit_of(text: str, fig: Figure) -> str | None:
    """What a count counts, from the words right after it ("5 open tickets" -> "ticket")."""
    after = text[fig.end : fig.end + 40]
    scale = re.match(r"\s+of\s+\d+ ", after)  # "uses 2 of 5 product areas": the unit follows the scale
    # Only words right after the figure count ("0.79; 17.2 events" does not make 0.79 an event count).
    lead = re.match(r"(?:[ \t]+[A-Za-z()-]+)+", " " + after[scale.end() :] if scale else after)
    words = lead.group(0).split() if lead else []
    for word in words[:3]:
        word = word.lower()
        if word in UNITS:
            return UNITS[word]
        if word not in _UNIT_MODIFIERS:
            break
    # "(3 high-priority, about billing)": a priority with no noun after it counts tickets.
    return "ticket" if words and words[0].lower() == "high-priority" else None


_INTERVAL_WORDS = re.compile(r"\b(interval|range|between)\b[^.;:()]{0,25}$", re.I)


def _figure_grounded(fig: Figure, g: Grounding, text: str = "") -> bool:
    if fig.kind == "percent":
        tol = max(PERCENT_TOLERANCE_POINTS, fig.tolerance)
        if g.interval and fig.in_range and _INTERVAL_WORDS.search(text[max(0, fig.start - 40) : fig.start]):
            # The ends of "interval 48% to 75%" must be the interval's own, in that order.
            bound = g.interval[1] if fig.range_end else g.interval[0]
            return _close(fig.value, {100 * bound}, tol)
        return _close(fig.value, {100 * f for f in g.fractions}, tol) or _close(fig.value, g.percents, tol)
    if fig.kind == "currency":
        return _close(fig.value, g.currency, max(0.5, fig.tolerance))
    unit = unit_of(text, fig) if text else None
    if unit and unit in g.units:
        # A count of something must match a fact counting the same thing ("9 open tickets" vs 9 seats).
        return _close(fig.value, g.units[unit], fig.tolerance)
    return _close(fig.value, {abs(n) for n in g.numbers}, fig.tolerance)


def _phrase_key(text: str, fig: Figure) -> str:
    """The two words before a figure, the figure and the word after, lower-cased."""
    before = re.findall(r"[A-Za-z-]+", text[max(0, fig.start - 40) : fig.start])[-2:]
    after = re.findall(r"[A-Za-z-]+", text[fig.end : fig.end + 20])[:1]
    return " ".join([*before, fig.text, *after]).lower()


def _allowed_in_context(text: str, fig: Figure, g: Grounding) -> bool:
    """Numbers that carry no fact: standard windows, scales, list sizes, meeting lengths."""
    if fig.kind != "number" or fig.value != int(fig.value):
        return False
    if g.phrases and _phrase_key(text, fig) in g.phrases:
        return True
    n = int(fig.value)
    before = text[max(0, fig.start - 30) : fig.start].lower()
    after = text[fig.end : fig.end + 12].lower()
    if n in WINDOW_DAYS:
        if re.match(r"^-day\b", after):
            return True
        if re.match(r"^\s?days?\b", after):
            # "the last 30 days" describes a window; "the next 90 days" is the model's horizon.
            if re.search(r"\b(last|past|previous|prior|recent|preceding)\s+$", before):
                return True
            if n == 90 and re.search(r"\bnext\s+$", before):
                return True
    if n == 12 and re.match(r"^[-\s]?months?\b", after) and re.search(r"\b(last|past|previous|prior)\s+$", before):
        return True
    if n == 5 and re.search(r"(\bof|\bout of|/)\s*$", before):
        return True
    if n in MEETING_MINUTES and re.match(r"^[-\s]?min(ute)?s?\b", after):
        return True
    return bool(re.search(r"\btop\s+$", before) and 1 <= n <= max(g.drivers_count, 3))


def _date_grounded(mention: DateMention, g: Grounding) -> bool:
    if mention.kind == "day":
        return mention.as_day() in g.dates
    if mention.kind == "month":
        return any(d.year == mention.year and d.month == mention.month for d in g.dates)
    if mention.kind == "monthday":
        return any(d.month == mention.month and d.day == mention.day for d in g.dates)
    quarter = mention.month
    return any((d.month - 1) // 3 + 1 == quarter and (mention.year is None or d.year == mention.year) for d in g.dates)


def _is_year(fig: Figure, g: Grounding) -> bool:
    return (
        fig.kind == "number"
        and fig.tolerance == 0.5
        and 1990 <= fig.value <= 2100
        and "," not in fig.text
        and any(d.year == int(fig.value) for d in g.dates)
    )


# -- the checks ------------------------------------------------------------------------
def sentences(text: str) -> list[str]:
    """Sentences of prose (list items count as one each); decimals and e.g./i.e. do not split."""
    cleaned = re.sub(r"\b(e\.g|i\.e|vs|approx|etc)\.", lambda m: m.group(0).replace(".", ""), text, flags=re.I)
    parts = re.split(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9$\"'(⚠])|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", cleaned)
    return [p.strip() for p in parts if p and p.strip() and re.search(r"\w", p)]


def check_numbers(text: str, g: Grounding) -> list[tuple[str, str]]:
    """(code, detail) for every number or date in `text` that no fact supports."""
    problems = []
    body = _mask(text, g.masks)
    body = _LIST_MARKER.sub(lambda m: " " * len(m.group(0)), body)
    mentions, spans = find_dates(body)
    for mention in mentions:
        if not _date_grounded(mention, g):
            problems.append(("ungrounded_number", f"date '{mention.text}' is not in the facts"))
    chars = list(body)
    for s, e in spans:
        for i in range(s, e):
            chars[i] = " "
    body = "".join(chars)
    # The churn probability a sentence states must be the model's own (to 0.5 points), not any percentage.
    churn = g.churn_probability
    stated = {f.start: f for f in _stated_churn(body)} if churn is not None else {}
    for fig in find_figures(body):
        if fig.start in stated and churn is not None:
            claim = stated[fig.start]
            if abs(claim.value - 100 * churn) <= max(PERCENT_TOLERANCE_POINTS, claim.tolerance) + 1e-9:
                continue
            problems.append(("ungrounded_number", f"'{fig.text}' is not the model's churn probability"))
            continue
        before = body[max(0, fig.start - 30) : fig.start].lower()
        if fig.kind == "number" and re.search(r"\d\s+(out\s+)?of\s+$", before):
            # A denominator ("3.2 of 5", "2 of 5 product areas"): the scales here are out of 5.
            if fig.value == 5:
                continue
        elif fig.kind == "number" and re.search(r"\b(last|past|previous|prior|preceding)\s+$", before):
            # "the last N days" names a window: a standard one, or one a fact text uses.
            if _allowed_in_context(body, fig, g):
                continue
        elif _figure_grounded(fig, g, body) or _is_year(fig, g) or _allowed_in_context(body, fig, g):
            continue
        problems.append(("ungrounded_number", f"'{fig.text}' matches no fact"))
    return problems


_CHURN_SENTENCE = re.compile(r"\bchurn\w*|\bleav(e|es|ing)\b|\bcancel\w*", re.I)
_CHURN_WORDS = re.compile(r"probabilit|chance|likel|risk of|odds|estimate|predict", re.I)
_RANGE_WORDS = re.compile(r"(interval|range|between|band|from|confidence|low end|high end|lower|upper)\W*\w*\W*$", re.I)


def _stated_churn(text: str) -> list[Figure]:
    """The churn probability figures a text states (rules in `check_churn_probability`)."""
    found = []
    # A stop ends a sentence only before a space or the end: "0.3%" stays whole (split at its
    # point, "3% churn probability" read as a second sentence stating 3%).
    for sentence in re.finditer(r"(?:[^.!?\n]|[.!?](?![\s]|$))+(?:[.!?](?=\s|$)|\n|$)", text):
        body = sentence.group(0)
        churn_word = _CHURN_SENTENCE.search(body)
        if not (churn_word and _CHURN_WORDS.search(body)):
            continue
        candidates = []
        for fig in find_figures(_strip_dates(body)):
            if fig.in_range or _RANGE_WORDS.search(body[max(0, fig.start - 25) : fig.start]):
                continue
            if fig.kind == "percent":
                candidates.append(fig)
            elif fig.kind == "number" and 0 < fig.value < 1 and "." in fig.text:
                candidates.append(Figure(fig.text, fig.value * 100, "percent", fig.tolerance * 100, fig.start, fig.end))
        after = [f for f in candidates if f.start > churn_word.start()]
        before = [f for f in candidates if f.start < churn_word.start()]
        stated = after[0] if after else before[-1] if before else None
        if stated is not None:
            shift = sentence.start()
            found.append(
                Figure(stated.text, stated.value, "percent", stated.tolerance, stated.start + shift, stated.end + shift)
            )
    return found


def check_churn_probability(text: str, g: Grounding) -> list[tuple[str, str]]:
    """A churn probability stated in a churn sentence must be within 2 points of the model's.

    In a sentence that speaks of churn (or leaving, cancelling) and of a probability,
    chance or likelihood, the stated figure is the first percentage (or 0.xx decimal)
    after the churn word, else the last one before it; ends of a range or interval are
    skipped (they are the interval, checked as ordinary numbers).
    """
    if g.churn_probability is None:
        return []
    expected = 100 * g.churn_probability
    problems = []
    for fig in _stated_churn(_mask(text, g.masks)):
        if abs(fig.value - expected) > CHURN_TOLERANCE_POINTS + 1e-9:
            problems.append(
                ("churn_probability_mismatch", f"states {fig.value:g}% churn; the model says {expected:.1f}%")
            )
    return problems


_TIER_RE = re.compile(
    r"\b(low|medium|high|critical)(?:[- ]risk)?\s+(?:risk\s+)?tier\b|\btier\W{0,3}(low|medium|high|critical)\b", re.I
)


def check_risk_tier(text: str, g: Grounding) -> list[tuple[str, str]]:
    if not g.risk_tier:
        return []
    problems = []
    for m in _TIER_RE.finditer(text):
        named = (m.group(1) or m.group(2)).lower()
        if named != g.risk_tier.lower():
            problems.append(("risk_tier_mismatch", f"says '{m.group(0)}'; the model's tier is {g.risk_tier}"))
    return problems


def check_metrics(text: str, g: Grounding) -> list[tuple[str, str]]:
    known = set(FEATURE_NAMES) | g.known_metrics
    problems = []
    for name in dict.fromkeys(_SNAKE.findall(_mask(text, g.masks))):
        if name not in known:
            problems.append(("unknown_metric", f"'{name}' is not a known feature or fact"))
    for m in _UNKNOWN_METRIC_RE.finditer(text):
        problems.append(("unknown_metric", f"'{m.group(0)}' is not held in the warehouse"))
    return problems


def check_injection(text: str) -> list[tuple[str, str]]:
    problems = []
    lowered = text.lower()
    for marker in PROMPT_MARKERS:
        if marker in lowered:
            problems.append(("instruction_leak", f"repeats prompt text '{marker}'"))
    for m in _INJECTION_RE.finditer(text):
        problems.append(("prompt_injection", f"instruction-like text '{m.group(0)}'"))
    return problems


_LINK_RE = re.compile(
    r"!?\[[^\]\n]*\]\s*\([^)\n]*\)|!?\[[^\]\n]*\]\s*\[[^\]\n]*\]|<\s*/?\s*[a-z][^>]*>|"
    r"(?<![\w:])//[\w-]+(\.[\w-]+)+|\b[a-z][a-z0-9+.-]*://\S+|\bwww\.\S+|\bdata:[a-z]+/",
    re.I,
)


def check_links(text: str) -> list[tuple[str, str]]:
    """Markdown links and images, HTML tags and URLs in an output (see `link_or_image`)."""
    return [("link_or_image", f"link or markup '{m.group(0)[:60]}'") for m in _LINK_RE.finditer(text)]


def looks_like_instructions(text: str | None) -> bool:
    """True when customer-written text reads like an instruction to a model (never quote it)."""
    if not text:
        return False
    return bool(_INJECTION_RE.search(text) or any(m in text.lower() for m in PROMPT_MARKERS))


def check_sentence_count(text: str, low: int = 3, high: int = 5) -> list[tuple[str, str]]:
    count = len(sentences(text))
    if low <= count <= high:
        return []
    return [("sentence_count", f"{count} sentences; a summary has {low}-{high}")]


def check_customer_facing(text: str) -> list[tuple[str, str]]:
    return [("internal_data_exposed", f"mentions '{m.group(0)}' to the customer") for m in _INTERNAL_RE.finditer(text)]


def check(
    text: str,
    grounding: Grounding,
    *,
    summary: bool = False,
    customer_facing: bool = False,
    extra_flags: Iterable[tuple[str, str]] = (),
) -> GuardrailReport:
    """Run every check on a generated text (without its disclaimer) and score it."""
    body = strip_disclaimer(text)
    problems: list[tuple[str, str]] = list(extra_flags)
    if not body:
        problems.append(("empty_output", "the writer returned no text"))
    else:
        problems += check_numbers(body, grounding)
        problems += check_churn_probability(body, grounding)
        problems += check_risk_tier(body, grounding)
        problems += check_metrics(body, grounding)
        problems += check_injection(body)
        problems += check_links(body)
        if summary:
            problems += check_sentence_count(body)
        if customer_facing:
            problems += check_customer_facing(body)
    flags = tuple(code for code, _ in problems)
    details = tuple({"code": code, "detail": detail} for code, detail in problems)
    return GuardrailReport(flags, details, confidence_from_flags(flags))


# -- grounding from a fact sheet -------------------------------------------------------
FRACTION_FEATURES = {
    "usage_decay_score",
    "seat_utilization",
    "active_users_change",
    "mrr_change_90d",
    "open_expansion_amount_ratio",
    "compliance_gap_score",
    "compliance_gap_change",
}


FEATURE_UNITS = {
    "days_to_renewal": "day",
    "days_since_last_event": "day",
    "tenure_days": "day",
    "events_last_7d": "event",
    "events_last_30d": "event",
    "events_prev_30d": "event",
    "events_last_90d": "event",
    "tickets_30d": "ticket",
    "tickets_90d": "ticket",
    "high_priority_tickets_90d": "ticket",
    "open_tickets": "ticket",
    "seats": "seat",
    "active_users_30d": "user",
    "csat_responses_90d": "response",
    "vendor_risk_flags": "flag",
    "feature_breadth_30d": "area",
    "avg_resolution_hours_90d": "hour",
}


def grounding_from_facts(facts) -> Grounding:
    """Everything a text about this customer may state (see `engine.ai.facts.FactSheet`)."""
    g = Grounding()
    g.masks |= {facts.customer_id, facts.name, facts.csm_owner or ""}
    g.known_metrics |= set(_field_names(facts.as_dict()))
    g.add_number(facts.seats, unit="seat")
    g.add_number(facts.tenure_days, unit="day")
    g.add_number(facts.tenure_years, unit="year")
    g.add_number(facts.days_to_renewal, unit="day")
    g.add_number(facts.vendor_risk_flags, unit="flag")
    for value in (facts.mrr, facts.arr, facts.open_pipeline):
        g.add_number(value, "currency")
    g.add_number(facts.compliance_gap_score, "fraction")
    g.dates |= {d for d in (facts.as_of, facts.signup_date, facts.renewal_date, facts.churn_date) if d}
    if facts.prediction is not None:
        p = facts.prediction
        for value in (p.churn_probability, p.ci_low, p.ci_high, p.risk_score):
            g.add_number(value, "fraction")
        for value in (p.arr_at_risk, p.mrr_at_risk):
            g.add_number(value, "currency")
        g.dates.add(p.predicted_as_of)
        g.add_text(p.recommended_action)
        g.churn_probability = p.churn_probability
        g.interval = (p.ci_low, p.ci_high)
        g.risk_tier = p.risk_tier
    for driver in facts.drivers:
        value = driver.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            feature = driver.get("feature")
            g.add_number(value, "fraction" if feature in FRACTION_FEATURES else "number", FEATURE_UNITS.get(feature))
        g.add_text(driver.get("reason"))
    g.drivers_count = len(facts.drivers)
    u = facts.usage
    g.add_number(u.events_last_30d, unit="event")
    g.add_number(u.events_prev_30d, unit="event")
    g.add_number(u.active_users_30d, unit="user")
    g.add_number(u.days_since_last_activity, unit="day")
    for value in (u.usage_change, u.usage_decay_score):
        g.add_number(value, "fraction")
    if u.last_activity_date:
        g.dates.add(u.last_activity_date)
    t = facts.tickets
    for value in (t.open_tickets, t.open_high_priority, t.tickets_90d, t.high_priority_90d):
        g.add_number(value, unit="ticket")
    g.add_number(t.csat_avg_90d)
    g.add_number(t.csat_responses_90d, unit="response")
    g.add_number(len(t.open_topics))
    for ticket in t.recent:
        # Subjects are customer-written: their figures are not facts (an injected "90% discount" must be caught).
        g.masks.add(ticket.ticket_id)
        g.dates.add(ticket.opened_on)
    segment = getattr(facts, "segment", None)
    if segment is not None:
        # The archetype's description and playbook are fact texts: their figures ("younger than
        # 60 days") may be quoted back.
        for text in (segment.description, segment.motion, segment.channel, *segment.talking_points):
            g.add_text(text)
    open_opps = [o for o in facts.opportunities if o.is_open]
    g.add_number(len(open_opps), unit="opportunity")
    for opp in facts.opportunities:
        g.masks.add(opp.opportunity_id)
        g.add_number(opp.amount, "currency")
        if opp.close_date:
            g.dates.add(opp.close_date)
    return g


def _field_names(data, prefix: str = "") -> Iterable[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from _field_names(value)
    elif isinstance(data, list):
        for item in data:
            yield from _field_names(item)
