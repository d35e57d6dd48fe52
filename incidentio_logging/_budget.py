"""Storm control: at most ``max_events_per_minute`` alert events in any 60 seconds.

Pure: the caller passes the time. An error loop in one process then costs incident.io a
fixed number of requests a minute, whatever the loop's rate, and a fleet of N processes
at most N times that, which is how the limit is sized against the API's 1,200 a minute.
"""

from __future__ import annotations

from collections import deque

MINUTE = 60.0


class EventBudget:
    """A sliding one-minute log of the events sent, at most ``per_minute`` long."""

    def __init__(self, per_minute: int) -> None:
        #: The ``max_events_per_minute`` it enforces.
        self.per_minute = per_minute
        self._sent: deque[float] = deque()

    def _forget(self, now: float) -> None:
        sent = self._sent
        while sent and sent[0] <= now - MINUTE:
            sent.popleft()

    def take(self, now: float) -> bool:
        """Spend one event at ``now``; False when the last minute already had them all."""
        self._forget(now)
        if len(self._sent) >= self.per_minute:
            return False
        self._sent.append(now)
        return True

    def free_at(self, now: float) -> float:
        """When the next event may be sent: ``now`` if it may be sent already."""
        self._forget(now)
        if len(self._sent) < self.per_minute:
            return now
        return self._sent[0] + MINUTE
