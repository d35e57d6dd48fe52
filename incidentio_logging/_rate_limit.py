"""A sliding-window request limit per key, as incident.io enforces per API key.

The local receiver uses it to rehearse a fleet that shares one key's budget. It is pure:
time comes from an injected clock, so a test can step through a window.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class SlidingWindowLimiter:
    """At most ``limit`` admitted requests per key in any ``window`` seconds.

    A refused request is not counted: a client that retries too early is refused again
    but does not push its own admission further out.
    """

    def __init__(self, limit: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        if not window > 0:
            raise ValueError(f"window must be positive, got {window!r}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()  # the receiver answers on one thread per request
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, key: str) -> float | None:
        """Admit a request for ``key`` (None), or say how many seconds until one would be."""
        now = self._clock()
        with self._lock:
            times = self._admitted.setdefault(key, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) < self.limit:
                times.append(now)
                return None
            return times[0] + self.window - now


def retry_after(limiter: SlidingWindowLimiter, wait: float,
                now_wall: dt.datetime) -> tuple[str, dict[str, Any]]:
    """incident.io's ``Retry-After`` header and ``rate_limit`` body object for a 429.

    The header is whole seconds, rounded up so that a client that honours it is then
    admitted; the body's ``retry_after`` is the same moment as an RFC 3339 time.
    """
    seconds = max(1, math.ceil(wait))
    at = (now_wall + dt.timedelta(seconds=seconds)).replace(microsecond=0)
    return str(seconds), {"name": "api_key", "limit": limiter.limit, "remaining": 0,
                          "retry_after": at.isoformat().replace("+00:00", "Z")}
