"""How figures are written in AI texts and prompts (the guardrails' rounding rules accept these forms)."""

from __future__ import annotations

import re
from datetime import date

from engine.core import formatting


def pct(fraction: float | None, decimals: int | None = None) -> str:
    """0.623 -> '62%', 0.007 -> '0.7%': whole percents from 10% up, one decimal below, where
    rounding would turn 0.7% into '1%' and a 0.3% bound into '0%' (Customer 360 says 0.7%)."""
    if fraction is None:
        return "n/a"
    if decimals is None:
        decimals = 0 if abs(fraction) >= 0.095 else 1
    return f"{fraction * 100:.{decimals}f}%"


def money(amount: float | None) -> str:
    """4200.4 -> '$4.2K': the one money format (engine.core.formatting.money); 'n/a' when missing."""
    if formatting.is_missing(amount):
        return "n/a"
    return formatting.money(amount)


def count(n: float | None) -> str:
    if n is None:
        return "n/a"
    return f"{n:,.0f}"


def day(d: date | None) -> str:
    return d.isoformat() if d else "n/a"


def spoken_day(d: date | None) -> str:
    """A date as a message to a customer writes it: 'March 11, 2027' (ISO is for CSMs and prompts)."""
    return f"{d:%B} {d.day}, {d.year}" if d else "n/a"


def plural(n: float | None, word: str, many: str | None = None) -> str:
    """'1 ticket', '3 tickets' (the count formatted like this module's `count`: 'n/a' when unknown)."""
    return f"{count(n)} {word if n == 1 else many or word + 's'}"


def owner_name(owner: str | None) -> str:
    """How an account's csm_owner reads in a message: 'emma.rossi' and 'emma.rossi@acme.com' ->
    'Emma Rossi'; a name a CRM wrote ('Maya Chen', 'Maya de Vries') stays as it is."""
    text = (owner or "").strip()
    if not text:
        return "your customer success manager"
    if any(ch.isupper() for ch in text) or " " in text:
        return text
    handle = text.split("@", 1)[0]
    return " ".join(part.capitalize() for part in re.split(r"[._\-]+", handle) if part) or text


def reason_text(driver: dict) -> str:
    """A driver's plain-language reason without the trailing ', which raises the risk'."""
    text = str(driver.get("reason") or driver.get("feature") or "")
    for tail in (", which raises the risk", ", which lowers the risk"):
        if text.endswith(tail):
            return text[: -len(tail)]
    return text


def lower_first(text: str) -> str:
    """'Usage fell' -> 'usage fell'; acronyms ('CSAT averages') stay as they are."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def join_words(items: list[str]) -> str:
    """['a'] -> 'a'; ['a', 'b'] -> 'a and b'; ['a', 'b', 'c'] -> 'a, b and c'."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
