"""Auto-resolve: which fired alerts have gone quiet for ``resolve_after`` seconds.

Pure: the caller passes the time (the worker's monotonic clock). A timer is kept per
deduplication key the handler has fired, with the title to resolve it under. Firing the
same key again (``dedup="fingerprint"``) starts its quiet period over.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

#: Fired keys followed at once; past it the oldest is given up, unresolved, and reported.
MAX_FIRED = 10_000


@dataclass(slots=True)
class Fired:
    """An alert this handler fired and has not resolved."""

    key: str
    title: str
    group: Hashable
    due: float


class ResolveTimers:
    """Fired alerts in order of when they are due."""

    def __init__(self, after: float | None, *, follow_group: bool,
                 max_fired: int = MAX_FIRED) -> None:
        # None: no alert is ever due; they are kept for close() (resolve_on_close alone).
        self._after = math.inf if after is None else after
        # With dedup="fingerprint", a group's key is its alert's key: records of that
        # group still in the open window mean the problem has not gone quiet.
        self._follow_group = follow_group
        self._max_fired = max_fired
        # Insertion order is due order: every due is "now + after", and now only grows.
        self._fired: dict[str, Fired] = {}

    def __len__(self) -> int:
        return len(self._fired)

    def fired(self, key: str, title: str, group: Hashable, now: float) -> Fired | None:
        """Start (or restart) ``key``'s quiet period; the alert given up to make room, if any."""
        self._fired.pop(key, None)
        self._fired[key] = Fired(key, title, group, now + self._after)
        if len(self._fired) > self._max_fired:
            oldest = next(iter(self._fired))
            return self._fired.pop(oldest)
        return None

    def next_due(self) -> float | None:
        """When the first alert is due, if any."""
        first = next(iter(self._fired.values()), None)
        return first.due if first is not None and first.due != math.inf else None

    def due(self, now: float, busy: Callable[[Hashable], bool]) -> list[Fired]:
        """The alerts quiet for long enough, oldest first.

        One whose group ``busy`` says has records waiting to be sent is not quiet: its
        period starts over now, and the event those records make restarts it again.
        """
        ready = []
        for fired in list(self._fired.values()):
            if fired.due > now:
                break
            if self._follow_group and busy(fired.group):
                self.fired(fired.key, fired.title, fired.group, now)
                continue
            ready.append(fired)
        return ready

    def done(self, key: str) -> None:
        """``key`` was resolved, or given up."""
        self._fired.pop(key, None)

    def pending(self) -> list[Fired]:
        """Every alert fired and not yet resolved, oldest first."""
        return list(self._fired.values())
