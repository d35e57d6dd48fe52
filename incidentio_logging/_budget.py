"""Storm control: at most ``max_events_per_minute`` alert events in any 60 seconds, and a
bound on what waits meanwhile.

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


#: Groups held back at once (by storm control, below a threshold, or for a refresh). Past
#: it, a group that would be held back is dropped as ``held_full``.
MAX_HELD_GROUPS = 1_000
#: The records those groups keep, in bytes as estimated by the window: their message and
#: traceback text plus :data:`RECORD_OVERHEAD` each. Past it, a group that would be held
#: back, or a record that would join a group held back, is dropped as ``held_full``.
MAX_HELD_BYTES = 16 * 1024 * 1024
#: What a kept record costs beyond its text: its dict, its fields, the objects in them.
RECORD_OVERHEAD = 1_024


class HeldBudget:
    """How many groups, and how many bytes of records, are held back; and whether more fit."""

    def __init__(self, max_groups: int = MAX_HELD_GROUPS,
                 max_bytes: int = MAX_HELD_BYTES) -> None:
        self.max_groups = max_groups
        self.max_bytes = max_bytes
        self.groups = 0
        self.bytes = 0

    def reserve(self, size: int) -> bool:
        """Take room for one more group of ``size`` bytes; False when it does not fit."""
        if self.groups >= self.max_groups or self.bytes + size > self.max_bytes:
            return False
        self.groups += 1
        self.bytes += size
        return True

    def grow(self, size: int) -> bool:
        """Take room for ``size`` more bytes in a group already held back."""
        if self.bytes + size > self.max_bytes:
            return False
        self.bytes += size
        return True

    def release(self, size: int) -> None:
        """A group of ``size`` bytes is no longer held back."""
        self.groups -= 1
        self.bytes -= size
