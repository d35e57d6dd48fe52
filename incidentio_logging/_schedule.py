"""The worker's send schedule: events waiting for their next attempt, first things first.

A failed attempt does not hold the worker: its event waits here with the time it may be
tried again, and the worker goes on draining the queue and closing windows. When several
are due, the first event of a new problem goes before a refresh, and a refresh before a
resolve; among equals, the oldest. A 429 is the API key's rate limit, not one event's:
every event waits as long as its ``Retry-After`` says, and when it ends the order above
decides who goes first.

Pure: the caller passes the time and makes the attempts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from ._delivery import Attempts, Outcome

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
    #: Told how delivery ended, once.
    done: Callable[[Outcome], None]
    #: The records it carries: what close() counts as in flight during an attempt.
    records: int = 0
    not_before: float = 0.0
    order: int = field(default=0)


class Schedule:
    """Events waiting for an attempt; bounded by storm control, which admits them."""

    def __init__(self) -> None:
        self._sends: list[Send] = []
        self._order = itertools.count()
        #: No attempt before this: the endpoint answered 429.
        self.held_until = 0.0

    def __len__(self) -> int:
        return len(self._sends)

    def add(self, send: Send, now: float) -> None:
        """Queue ``send`` for an attempt as soon as the endpoint allows."""
        send.not_before = now
        send.order = next(self._order)
        self._sends.append(send)

    def next_due(self) -> float | None:
        """When the first attempt is due, if any is waiting."""
        if not self._sends:
            return None
        return max(self.held_until, min(send.not_before for send in self._sends))

    def pop_due(self, now: float) -> Send | None:
        """The most urgent event due at ``now``, taken off the schedule."""
        if now < self.held_until:
            return None
        due = [send for send in self._sends if send.not_before <= now]
        if not due:
            return None
        first = min(due, key=lambda send: (send.priority, send.order))
        self._sends.remove(first)
        return first

    def retry(self, send: Send, at: float) -> None:
        """Put ``send`` back, for an attempt at ``at`` or later; keeps its place in line."""
        send.not_before = at
        self._sends.append(send)

    def hold(self, until: float) -> None:
        """A 429: no attempt before ``until``. The events whose retry budget ends first
        are taken off the schedule, each told how it ended."""
        self.held_until = max(self.held_until, until)
        for send in list(self._sends):
            outcome = send.attempts.held_until(self.held_until)
            if outcome is not None:
                self._sends.remove(send)
                send.done(outcome)

    def expire(self, stop_at: float) -> None:
        """Closing: every event whose next attempt could not start before ``stop_at``
        ends now, as out of time."""
        for send in list(self._sends):
            if max(send.not_before, self.held_until) >= stop_at:
                self._sends.remove(send)
                send.done(send.attempts.cut_short())

    def take_all(self) -> list[Send]:
        """Empty the schedule: what it held, for counting as not delivered."""
        sends, self._sends = self._sends, []
        return sends
