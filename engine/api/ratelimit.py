"""Per-key rate limit: an in-memory token bucket per API key.

Each key may make RADAR_API_RATE_LIMIT requests per minute (default 120), in bursts of up to
that many; tokens come back evenly over the minute. The buckets live in the server process,
so replicas behind a load balancer each allow the limit (the limit guards one process's
capacity, not a billing quota).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable

from engine.core.errors import BadInputError

RATE_LIMIT_ENV = "RADAR_API_RATE_LIMIT"
DEFAULT_PER_MINUTE = 120


def per_minute_from_env() -> int:
    """RADAR_API_RATE_LIMIT: requests per minute per key (a whole number, at least 1)."""
    raw = (os.environ.get(RATE_LIMIT_ENV) or "").strip()
    if not raw:
        return DEFAULT_PER_MINUTE
    if not raw.isdigit() or int(raw) < 1:
        raise BadInputError(
            f"{RATE_LIMIT_ENV} is '{raw}'; set it to the requests per minute each API key may make "
            f"(a whole number, at least 1; default {DEFAULT_PER_MINUTE}), or unset it."
        )
    return int(raw)


class RateLimiter:
    """Token buckets by key name; `take` answers 0 when a request may go ahead, else the
    seconds until it may."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, as of)
        self._lock = threading.Lock()

    def take(self, key: str) -> int:
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.refill_per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.refill_per_second))
