"""The worker's send schedule: events waiting for their next attempt, first things first.

A failed attempt does not hold the worker: its event waits here with the time it may be
tried again, and the worker goes on draining the queue and closing windows. When several
are due, the first event of a new problem goes before a refresh, and a refresh before a
resolve; among equals, the oldest. A 429 is the API key's rate limit, not one event's:
every event waits as long as its ``Retry-After`` says (even when the event that got the
429 gives up), and when it ends the order above decides who goes first. An event whose
retry budget would end before the pause does ends at once, as ``rate_limited``, so a long
pause does not fill the schedule. What waits is bounded by :data:`MAX_SCHEDULED_BYTES`.

Pure: the caller passes the time and makes the attempts.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from ._delivery import Attempts, Outcome

#: The bodies waiting in the schedule, in bytes, at most; past it a new event is
#: refused (``held_full``). As much as storm control may hold back (``MAX_HELD_BYTES``).
MAX_SCHEDULED_BYTES = 16 * 1024 * 1024

#: Priorities, most urgent first.
NEW_PROBLEM = 0
KNOWN_PROBLEM = 1
RESOLVE = 2


@dataclass(slots=True)
class Send:
    """One event on its way: its exact bytes, its retry state, what to do once it ends."""

    priority: int
    body: bytes
    attempts: Attempts
    #: Told how delivery ended, once, through :meth:`end` (which also keeps it).
    done: Callable[[Outcome], None]
    #: The records it carries: what close() counts as in flight during an attempt.
    records: int = 0
    #: The group an alert event is for, or the deduplication key a resolve is for.
    key: Hashable = None
    not_before: float = 0.0
    order: int = field(default=0)
    #: How delivery ended, once it has (a flush waiting on it reads it).
    outcome: Outcome | None = None

    def end(self, outcome: Outcome) -> None:
        """Delivery ended: keep the outcome and tell :attr:`done`."""
        self.outcome = outcome
        self.done(outcome)


class Schedule:
    """Events waiting for an attempt; bounded by storm control, which admits them, and
    by ``max_bytes`` of bodies."""

    def __init__(self, max_bytes: int = MAX_SCHEDULED_BYTES) -> None:
        self._sends: list[Send] = []
        self._order = itertools.count()
        #: No attempt before this: the endpoint answered 429.
        self.paused_until = 0.0
        self.max_bytes = max_bytes
        self._bytes = 0
        self._keys: Counter[Hashable] = Counter()

    def __len__(self) -> int:
        return len(self._sends)

    def add(self, send: Send, now: float) -> bool:
        """Queue ``send`` for an attempt as soon as the endpoint allows. False, with
        nothing kept, when its body does not fit; ended at once when a 429 pauses the
        schedule past its retry budget."""
        if self._bytes + len(send.body) > self.max_bytes:
            return False
        outcome = send.attempts.rate_limited_past_budget(self.paused_until, now)
        if outcome is not None:
            send.end(outcome)
            return True
        send.not_before = now
        send.order = next(self._order)
        self._put(send)
        return True

    def waiting(self, key: Hashable) -> bool:
        """True while an alert event for the group ``key`` waits here."""
        return key in self._keys

    def mark(self) -> int:
        """A mark after every event scheduled so far, for :meth:`waiting_before`."""
        return next(self._order)

    def scheduled(self) -> list[Send]:
        """The events waiting now."""
        return list(self._sends)

    def waiting_before(self, mark: int) -> bool:
        """True while an event scheduled before ``mark`` waits here."""
        return any(send.order < mark for send in self._sends)

    def cancel(self, priority: int, key: Hashable) -> None:
        """Take the events of ``priority`` for ``key`` off the schedule, unsent and
        untold: something newer made them moot."""
        for send in [s for s in self._sends if s.priority == priority and s.key == key]:
            self._take(send)

    def _put(self, send: Send) -> None:
        self._sends.append(send)
        self._bytes += len(send.body)
        if send.priority != RESOLVE:  # a resolve's key is a deduplication key
            self._keys[send.key] += 1

    def _take(self, send: Send) -> None:
        self._sends.remove(send)
        self._bytes -= len(send.body)
        if send.priority != RESOLVE:
            self._keys[send.key] -= 1
            if not self._keys[send.key]:
                del self._keys[send.key]

    def next_due(self) -> float | None:
        """When the first attempt is due, if any is waiting."""
        if not self._sends:
            return None
        return max(self.paused_until, min(send.not_before for send in self._sends))

    def pop_due(self, now: float) -> Send | None:
        """The most urgent event due at ``now``, taken off the schedule."""
        if now < self.paused_until:
            return None
        due = [send for send in self._sends if send.not_before <= now]
        if not due:
            return None
        first = min(due, key=lambda send: (send.priority, send.order))
        self._take(first)
        return first

    def retry(self, send: Send, at: float) -> None:
        """Put ``send`` back, for an attempt at ``at`` or later; keeps its place in line."""
        send.not_before = at
        self._put(send)

    def pause(self, until: float, now: float) -> None:
        """A 429: no attempt before ``until``. The events whose retry budget ends first
        are taken off the schedule, each told how it ended."""
        self.paused_until = max(self.paused_until, until)
        for send in list(self._sends):
            outcome = send.attempts.rate_limited_past_budget(self.paused_until, now)
            if outcome is not None:
                self._take(send)
                send.end(outcome)

    def expire(self, stop_at: float) -> None:
        """Closing: every event whose next attempt could not start before ``stop_at``
        ends now, as out of time."""
        for send in list(self._sends):
            if max(send.not_before, self.paused_until) >= stop_at:
                self._take(send)
                send.end(send.attempts.cut_short())

    def take_all(self) -> list[Send]:
        """Empty the schedule: what it held, for counting as not delivered."""
        sends, self._sends = self._sends, []
        self._bytes = 0
        self._keys.clear()
        return sends
