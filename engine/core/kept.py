"""A small, thread-safe, least-recently-used store of computed values, per process.

Callers key what they keep by the published warehouse snapshot (`str(wh.path), wh.generation`,
plus what else the value depends on): a published snapshot never changes, so a value kept
for it stays true, and new data comes with a new generation, hence a new key.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import pandas as pd

V = TypeVar("V")


class Kept(Generic[V]):
    """At most `limit` values; the least recently used goes first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], V]) -> V:
        """The value kept for `key`, else `build()` kept. Built outside the lock: two threads
        asking at once may both build, and the last one's value is kept (the same value)."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = build()
        prime(value)
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.limit:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


def prime(value: Any, depth: int = 2) -> None:
    """Build the lookup tables of every pandas index in `value` before other threads see it.

    A pandas index fills its hash table on first lookup, and two threads doing that first
    lookup at once can see it half-filled: a `.loc` of a label that is there raises KeyError
    (pandas-dev/pandas#21150, #28439). Kept values are read by many sessions at once, so the
    thread that built one does a first lookup in each index while the value is still its own.
    """
    if isinstance(value, pd.DataFrame):
        _fill(value.index)
        _fill(value.columns)
    elif isinstance(value, pd.Series):
        _fill(value.index)
    elif depth <= 0:
        return
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            prime(getattr(value, field.name), depth - 1)
    elif isinstance(value, tuple | list):
        for item in value:
            prime(item, depth - 1)
    elif isinstance(value, dict):
        for item in value.values():
            prime(item, depth - 1)


def _fill(index: pd.Index) -> None:
    if len(index):
        index.get_loc(index[0])  # the first lookup fills the whole table
