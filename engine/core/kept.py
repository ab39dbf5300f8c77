"""A small, thread-safe, least-recently-used store of computed values, per process.

Callers key what they keep by the published warehouse snapshot (`str(wh.path), wh.generation`,
plus what else the value depends on): a published snapshot never changes, so a value kept
for it stays true, and new data comes with a new generation, hence a new key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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
