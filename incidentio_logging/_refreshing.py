"""Refreshes: which problems this process has fired, and when each was last sent.

Pure: the caller passes the time (the worker's monotonic clock). Once a problem has been
fired, and until it is resolved, its further records are folded into at most one event
per ``refresh_interval``: incident.io already has the alert open, and a fleet of N
processes then sends about N events a minute for it instead of N per window. A problem
not followed here is new: its first event goes before refreshes (see the dispatcher).

At most :data:`MAX_FOLLOWED` problems are followed, as many as the resolve timers keep;
past it the one sent longest ago is forgotten, so its next record goes as a new problem.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from ._resolving import MAX_FIRED

#: Problems followed at once; past it the one sent longest ago is forgotten.
MAX_FOLLOWED = MAX_FIRED


class Refreshes:
    """Fired problems by group key, the one sent longest ago first."""

    def __init__(self, interval: float | None, max_followed: int = MAX_FOLLOWED) -> None:
        #: Seconds between two events of one fired problem; None: every window sends.
        self.interval = interval
        self._max = max_followed
        self._sent: OrderedDict[Hashable, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sent)

    def is_new(self, key: Hashable) -> bool:
        """True when this process has not fired ``key``, or it was resolved since."""
        return key not in self._sent

    def folds(self, key: Hashable, now: float) -> bool:
        """True when a record of ``key`` must wait for the problem's next refresh."""
        last = self._sent.get(key)
        return (self.interval is not None and last is not None
                and now < last + self.interval)

    def sent(self, key: Hashable, now: float) -> Hashable | None:
        """An event of ``key`` was sent at ``now``; the problem forgotten to make room."""
        self._sent.pop(key, None)
        self._sent[key] = now
        if len(self._sent) > self._max:
            return self._sent.popitem(last=False)[0]
        return None

    def forget(self, key: Hashable) -> None:
        """``key`` was resolved: its next record is a new problem again."""
        self._sent.pop(key, None)
