"""The per-process store of computed values (engine/core/kept.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.core.kept import Kept


@dataclass(frozen=True)
class _Book:
    table: pd.DataFrame
    parts: tuple[pd.Series, ...]


def _populated(index: pd.Index) -> bool:
    return index._engine.is_mapping_populated


def test_kept_values_have_their_index_tables_filled_before_other_threads_read_them():
    """A first lookup in a pandas index fills its hash table, and two threads doing it at once
    can see it half-filled (a KeyError for a label that is there): the building thread does it."""
    table = pd.DataFrame({"churn": [0.2, 0.1]}, index=["acct-b", "acct-a"])
    part = pd.Series([1, 2], index=["y", "x"])
    assert not _populated(table.index) and not _populated(part.index)
    kept: Kept[_Book] = Kept(2)
    book = kept.get("snapshot-1", lambda: _Book(table, (part,)))
    assert _populated(book.table.index) and _populated(book.table.columns) and _populated(book.parts[0].index)
    assert kept.get("snapshot-1", lambda: _Book(table.iloc[:0], ())) is book  # kept, not rebuilt


def test_an_empty_frame_and_plain_values_are_kept_as_they_are():
    kept: Kept[object] = Kept(2)
    assert kept.get("empty", pd.DataFrame).empty
    assert kept.get("n", lambda: 3) == 3
    kept.get("third", lambda: "x")
    assert len(kept) == 2  # the least recently used went first
