"""Reading values people type, and the log-odds maths: one definition each.

Ingest (warehouse tables) and the table model (a labelled CSV) read the same kinds of cells,
so they share what counts as missing. The churn model, its explanations, the scenarios and
the demo generator share one logit and one sigmoid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Cell texts that mean "no value" in number and date columns (compared lower-cased).
NULL_TOKENS = frozenset({"", "null", "none", "nan", "nat", "na", "n/a", "#n/a"})

# Probabilities are kept this far from 0 and 1 before taking log-odds, so a certain-looking
# score stays finite and a shift in log-odds can still move it.
PROBABILITY_FLOOR = 1e-6


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
