"""How numbers are written for people, everywhere: pages, exports' captions, the CLI, action
texts, scenario readouts and AI texts. One function per kind of figure, pure (no Streamlit).

* money: compact, `$812`, `$45.3K`, `$1.2M`, `$3.4B`; an amount that rounds up to the next
  unit moves to it (`$999,960` -> `$1.0M`, never `$1000.0K`).
* percent: a fraction as `25.3%`; percent_points: a change as `+1.2 pp`.
* count: `4,123`; day: `Jun 30, 2026`; days: `1 day`, `39 days`.

Missing values (None, NaN) and infinities format as an em dash, so a figure never reads
"nan" or "inf", and no value makes a formatter raise.
"""

from __future__ import annotations

import math
from datetime import date
from numbers import Real

MISSING = "—"
_UNITS = (("K", 1e3), ("M", 1e6), ("B", 1e9), ("T", 1e12))


def is_missing(value: object) -> bool:
    """None, NaN (float or numpy) or pandas NA/NaT."""
    if value is None:
        return True
    if isinstance(value, Real):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")  # pandas.NA / NaT, without importing pandas


def _figure(value: object) -> float | None:
    """The value as a finite float; None when it is missing or infinite (nothing to show)."""
    if is_missing(value):
        return None
    number = float(value)  # type: ignore[arg-type]  # callers pass numbers (int, float, numpy)
    return number if math.isfinite(number) else None


def money(value: float | None, currency: str = "$", decimals: int = 1) -> str:
    """Compact money: $812, $45.3K, $1.2M, $3.4B; negatives as -$45.3K.

    Amounts under 1,000 show whole units. An amount that rounds up to the next unit
    moves to it ($999,960 -> $1.0M, never $1000.0K).
    """
    number = _figure(value)
    if number is None:
        return MISSING
    amount = abs(number)
    sign = "-" if number < 0 and round(amount) else ""
    if round(amount) < 1000:
        return f"{sign}{currency}{round(amount)}"
    for suffix, size in _UNITS[:-1]:
        scaled = round(amount / size, decimals)
        if scaled < 1000:
            return f"{sign}{currency}{scaled:.{decimals}f}{suffix}"
    suffix, size = _UNITS[-1]
    return f"{sign}{currency}{amount / size:,.{decimals}f}{suffix}"


def signed_money(value: float | None, currency: str = "$", decimals: int = 1) -> str:
    """A change in money with an explicit sign: +$45.3K, -$1.2M, $0."""
    if _figure(value) is None:
        return MISSING
    text = money(value, currency, decimals)
    return text if text.startswith("-") or text == f"{currency}0" else f"+{text}"


def percent(value: float | None, decimals: int = 1) -> str:
    """A fraction as a percentage: 0.253 -> '25.3%'."""
    number = _figure(value)
    if number is None or not math.isfinite(number * 100):
        return MISSING
    return f"{number * 100:.{decimals}f}%"


def percent_points(delta: float | None, decimals: int = 1) -> str:
    """A change between two fractions in percentage points: 0.012 -> '+1.2 pp'."""
    number = _figure(delta)
    if number is None or not math.isfinite(number * 100):
        return MISSING
    points = round(number * 100, decimals)
    if points == 0:
        return f"{0:.{decimals}f} pp"
    return f"{points:+.{decimals}f} pp"


def count(value: int | float | None) -> str:
    """A whole number with thousands separators: 4123 -> '4,123'."""
    number = _figure(value)
    if number is None:
        return MISSING
    return f"{round(number):,}"


def plural(n: float | None, word: str, many: str | None = None) -> str:
    """'1 ticket', '3 tickets' (the count formatted like `count`)."""
    return f"{count(n)} {word if n == 1 else many or word + 's'}"


def signed_count(delta: int | float | None) -> str:
    """A change in a count with an explicit sign: '+270', '-12', '0'."""
    number = _figure(delta)
    if number is None:
        return MISSING
    whole = round(number)
    return f"{whole:+,}" if whole else "0"


def day(value: date | None) -> str:
    """A date people read: 'Jun 30, 2026'."""
    if value is None or is_missing(value):
        return MISSING
    return f"{value:%b} {value.day}, {value.year}"


def days(value: float | None) -> str:
    """A number of days: '1 day', '39 days', '1,200 days'."""
    number = _figure(value)
    if number is None:
        return MISSING
    whole = round(number)
    return "1 day" if whole == 1 else f"{whole:,} days"


def tenure(days_: float | None) -> str:
    """How long an account has been a customer, in the unit people use: '26 days' under two
    months, '7 months' under two years, then '3.4 yrs' ('0.1 yrs' said nothing)."""
    number = _figure(days_)
    if number is None:
        return MISSING
    if number < 61:
        return days(number)
    if number < 730:
        months = round(number / 30.4375)
        return "1 month" if months == 1 else f"{months} months"
    return f"{number / 365.25:.1f} yrs"


def label(text: object) -> str:
    """A company's value as a chart or table label: first letter upper case, the rest as written
    ('enterprise' -> 'Enterprise'; 'US', 'EMEA' and 'Pro Plus' stay, where str.capitalize()
    made 'Us', 'Emea' and 'Pro plus')."""
    text = str(text)
    return text[:1].upper() + text[1:]


def a_or_an(word: object) -> str:
    """The word after its indefinite article: 'an enterprise', 'a growth', 'an 8-period', 'an 18-period'
    (by sound for the common cases: a vowel letter, or a number said with a vowel: 8, 11, 18, 80...)."""
    text = str(word)
    lower = text.lower()
    digits = text[: len(text) - len(text.lstrip("0123456789"))]
    if digits:  # eight..., eleven, eighteen, eleven/eighteen thousand
        vowel_sound = digits.startswith("8") or (len(digits) in (2, 5) and digits[:2] in ("11", "18"))
    else:
        vowel_sound = lower[:1] in tuple("aeiou") or lower.startswith(("hour", "honest", "honou"))
        vowel_sound = vowel_sound and not lower.startswith(("uni", "use", "usa", "usu", "ute", "one", "eu", "ure"))
    return f"{'an' if vowel_sound else 'a'} {text}"


def value(item: object) -> str:
    """Any loaded value as text: a date as a day, a whole number with separators, a number
    to two decimals, text as it is; the missing marker when empty."""
    if is_missing(item):
        return MISSING
    if isinstance(item, date):
        return day(item)
    if isinstance(item, bool):
        return "yes" if item else "no"
    if isinstance(item, int | float):
        return count(item) if float(item).is_integer() else f"{float(item):,.2f}"
    return str(item)
