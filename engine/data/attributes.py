"""A customer's custom account attributes (the extra columns of the customers file), as stored
in customer_attributes by engine.data.ingest.customers: one value per attribute, typed by
the attribute's kind (a number, a category's text or a date)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from engine.data.warehouse import Warehouse

AttributeValue = float | str | date | None


def _value(kind: str, number: Any, text: Any, day: Any) -> AttributeValue:
    if kind == "number":
        return None if pd.isna(number) else float(number)
    if kind == "date":
        return None if pd.isna(day) else pd.Timestamp(day).date()
    return None if text is None or pd.isna(text) else str(text)


def attributes_of(wh: Warehouse, customer_id: str) -> dict[str, AttributeValue]:
    """{attribute: value} for one customer, by attribute name; empty when it has none."""
    rows = wh.rows(
        "SELECT attribute, kind, number_value, text_value, date_value FROM customer_attributes "
        "WHERE customer_id = ? ORDER BY attribute",
        [customer_id],
    )
    return {name: _value(kind, number, text, day) for name, kind, number, text, day in rows}


__all__ = ["AttributeValue", "attributes_of"]
