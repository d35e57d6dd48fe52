"""Threshold alerts: a problem fires only once ``count`` records arrive within ``window`` s.

Pure: the caller passes the wall-clock time, and a record's time is its ``created``.
Each problem keeps the times of at most ``count`` recent records (that is all a sliding
count needs), and at most :data:`MAX_GROUPS` problems are followed at once, so memory
stays bounded however many distinct problems an application logs.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable

from .grouping import Group

#: Problems followed at once; past it the least recently seen is forgotten.
MAX_GROUPS = 1_000


class Threshold:
    """Decides, per group, whether its problem has crossed the threshold."""

    def __init__(self, count: int, window: float, max_groups: int = MAX_GROUPS) -> None:
        self.count = count
        self.window = window
        #: Problems followed, and groups held, at once.
        self.max_groups = max_groups
        self._times: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def times(self, key: Hashable) -> deque[float]:
        """The record times of problem ``key``, shared by its groups across windows."""
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque(maxlen=self.count)
            if len(self._times) > self.max_groups:
                self._times.popitem(last=False)
        else:
            self._times.move_to_end(key)
        return times

    def crossed(self, group: Group, now: float) -> bool:
        """True when ``count`` of the problem's records are at most ``window`` s old."""
        times = group.times
        if times is None:
            return True
        cutoff = now - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return len(times) >= self.count

    def hold(self, group: Group, now: float, held: int) -> int:
        """Ready ``group``, below the threshold, to wait for more; how many records it lost.

        Its records older than the window go. Records that were only counted (past
        ``max_batch_size``) have no times of their own: they go with the last kept record,
        or when none is left. With ``held`` groups already waiting, at most
        ``max_groups``, it loses them all. A group left with none is not carried on.
        """
        if held >= self.max_groups:
            kept = []
        else:
            cutoff = now - self.window
            kept = [record for record in group.records if record.created >= cutoff]
        if not kept:
            lost, group.total = group.total, 0
        else:
            lost = len(group.records) - len(kept)
            group.total -= lost
        group.records = kept
        return lost

    def forget_quiet(self, now: float) -> None:
        """Stop following problems with no record inside the window."""
        cutoff = now - self.window
        for key in [k for k, times in self._times.items() if not times or times[-1] < cutoff]:
            del self._times[key]
