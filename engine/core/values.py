"""Reading values people type, and the log-odds maths: one definition each.

Ingest (warehouse tables) and the table model (a labelled CSV) read the same kinds of cells,
so they share what a cell's text is, what counts as missing, the shapes of numbers and
dates, and how text becomes a number. The churn model, its explanations, the scenarios and
the demo generator share one logit and one sigmoid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Cell texts that mean "no value" in number and date columns (compared lower-cased).
NULL_TOKENS = frozenset({"", "null", "none", "nan", "nat", "na", "n/a", "#n/a"})

# Shapes of cell text (for str.fullmatch / re.fullmatch).
THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234,567.89
DECIMAL_COMMA = r"[+-]?\d+,\d+"  # 3,5
ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
SLASH_DATE = r"\d{1,4}[/.]\d{1,2}[/.]\d{1,4}(?:\s.*)?"  # 03/04/2025: ambiguous, refused or flagged
_CURRENCY_PREFIX = r"^([+-]?)\s*[$€£]\s*"
_PERCENT_SUFFIX = r"\s*%$"

# Probabilities are kept this far from 0 and 1 before taking log-odds, so a certain-looking
# score stays finite and a shift in log-odds can still move it.
PROBABILITY_FLOOR = 1e-6


def cell_text(series: pd.Series) -> pd.Series:
    """Any column as stripped text, NA for empty cells: a whole float reads as "3" (as it
    does in a CSV), a yes/no column as "true"/"false"."""
    if pd.api.types.is_bool_dtype(series):
        series = series.map({True: "true", False: "false"})
    elif pd.api.types.is_float_dtype(series):
        finite = series.dropna()
        if len(finite) and bool(np.isfinite(finite).all()) and bool((finite % 1 == 0).all()):
            series = series.astype("Int64")
    text = series.astype("str").str.strip()
    return text.mask(text == "")


def text_to_numbers(
    text: pd.Series, *, thousands: bool = True, decimal_comma: bool = False, symbols: bool = False
) -> pd.Series:
    """Text to float64: NaN where missing, not a number, or not finite.

    `thousands` reads 1,234 as 1234; `decimal_comma` reads 3,5 as 3.5 instead; `symbols`
    also reads $1,200 and 12% as numbers (a labelled table's cells, not warehouse columns).
    """
    s = text
    if symbols:
        s = s.str.replace(_CURRENCY_PREFIX, r"\1", regex=True).str.replace(_PERCENT_SUFFIX, "", regex=True)
    if decimal_comma:
        s = s.where(~s.str.fullmatch(DECIMAL_COMMA).fillna(False).astype(bool), s.str.replace(",", ".", regex=False))
    elif thousands:
        s = s.where(~s.str.fullmatch(THOUSANDS).fillna(False).astype(bool), s.str.replace(",", "", regex=False))
    values = pd.to_numeric(s, errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


def null_tokens_to_na(text: pd.Series) -> pd.Series:
    """Stripped text with the null tokens (any case) and missing cells as NA."""
    return text.mask(text.isna() | text.str.lower().isin(NULL_TOKENS))


def logit(p: np.ndarray | float) -> np.ndarray:
    """Log-odds of probabilities, clipped to [PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]."""
    q = np.clip(np.asarray(p, dtype="float64"), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return np.log(q / (1 - q))


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """The inverse of `logit`: log-odds to probability."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype="float64")))
