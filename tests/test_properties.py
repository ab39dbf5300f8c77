"""Properties that hold for any input (hypothesis): the money format people read everywhere, and
the population stability index (PSI) behind the drift report."""

from __future__ import annotations

import math
import re
from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.churn import monitoring
from engine.core import formatting
from engine.core.formatting import MISSING, money, signed_money

MONEY = re.compile(r"^(-?)\$(\d[\d,]*(?:\.\d)?)([KMBT]?)$")
UNIT = {"": Decimal(1), "K": Decimal(10**3), "M": Decimal(10**6), "B": Decimal(10**9), "T": Decimal(10**12)}

any_float = st.floats(allow_nan=True, allow_infinity=True)
amounts = st.floats(allow_nan=False, allow_infinity=False)


def parsed(text: str) -> Decimal:
    """The amount a money text stands for, exactly ('-$45.3K' -> -45300)."""
    match = MONEY.match(text)
    assert match, f"{text!r} is not a money text"
    sign, digits, suffix = match.groups()
    value = Decimal(digits.replace(",", "")) * UNIT[suffix]
    return -value if sign else value


def shown_precision(text: str) -> Decimal:
    """Half the last digit the text shows, in dollars: how far the amount may be from it."""
    suffix = MONEY.match(text).group(3)  # type: ignore[union-attr]
    return Decimal("0.5") if not suffix else Decimal("0.05") * UNIT[suffix]


# -- money -------------------------------------------------------------------------------------
@given(any_float)
def test_money_never_raises_and_a_non_figure_is_a_dash(value):
    text = money(value)
    assert isinstance(text, str) and text
    if math.isfinite(value):
        assert MONEY.match(text), text
    else:
        assert text == MISSING
    assert "nan" not in text.lower() and "inf" not in text.lower()
    assert signed_money(value) == MISSING or signed_money(value).lstrip("+") == text


@given(amounts)
def test_money_keeps_the_sign_and_the_magnitude(value):
    text = money(value)
    shows_zero = parsed(text) == 0
    assert text.startswith("-") == (value < 0 and not shows_zero)
    if not shows_zero:
        assert money(-value) == ("-" + text if value > 0 else text[1:])


@given(amounts)
def test_money_reads_back_to_the_amount_within_what_it_shows(value):
    text = money(value)
    exact = Decimal(value)
    assert abs(parsed(text) - exact) <= shown_precision(text) + Decimal("1e-12") * abs(exact)


@given(amounts, amounts)
def test_a_larger_amount_never_reads_smaller(a, b):
    low, high = sorted((a, b))
    assert parsed(money(low)) <= parsed(money(high))


@given(amounts)
def test_the_same_amount_gives_the_same_text_whatever_its_type(value):
    text = money(value)
    assert money(value) == text
    assert money(np.float64(value)) == text
    if value.is_integer() and abs(value) < 2**63:
        assert money(int(value)) == text and money(np.int64(int(value))) == text


@given(amounts)
def test_signed_money_always_says_which_way(value):
    text = signed_money(value)
    if parsed(money(value)) == 0:
        assert text == "$0"
    else:
        assert text[0] == ("-" if value < 0 else "+") and text.lstrip("+") == money(value)


@given(any_float)
def test_no_figure_format_raises_or_reads_nan(value):
    for format_ in (
        formatting.percent,
        formatting.percent_points,
        formatting.count,
        formatting.signed_count,
        formatting.days,
    ):
        text = format_(value)
        assert isinstance(text, str) and "nan" not in text.lower() and "inf" not in text.lower()


# -- PSI ---------------------------------------------------------------------------------------
# Feature values of any size (bin edges are midpoints, which overflow only past ~1e308), and missing ones.
samples = hnp.arrays(
    np.float64,
    st.integers(0, 300),
    elements=st.one_of(st.floats(-1e300, 1e300, allow_nan=False), st.just(np.nan)),
)
categories = st.lists(
    st.one_of(st.sampled_from(["starter", "growth", "enterprise", "ünïcode", ""]), st.none(), st.booleans())
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(samples, categories))
def test_psi_of_a_sample_against_itself_is_zero(x):
    assert monitoring.psi(x, x.copy()) == 0.0


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.tuples(samples, samples), st.tuples(categories, categories)))
def test_psi_is_never_negative(pair):
    value = monitoring.psi(*pair)
    assert math.isfinite(value) and value >= 0.0


# -- cell values: one reading for ingest and the table model ------------------------------------
@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_a_grouped_number_reads_as_the_number_for_ingest_and_the_table_model(n):
    from engine.core.values import text_to_numbers

    grouped = pd.Series([f"{n:,}"], dtype="str")
    assert text_to_numbers(grouped).iloc[0] == n  # ingest: warehouse columns
    assert text_to_numbers(grouped, symbols=True).iloc[0] == n  # the table model: also $ and %
    assert text_to_numbers(pd.Series([f"${n:,}"], dtype="str"), symbols=True).iloc[0] == n


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_number_text_is_finite_or_missing(x):
    from engine.core.values import text_to_numbers

    value = text_to_numbers(pd.Series([repr(x)], dtype="str")).iloc[0]
    assert pd.isna(value) or (math.isfinite(value) and value == x)
