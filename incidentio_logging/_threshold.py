"""Threshold alerts: a problem fires only once ``count`` records arrive within ``window`` s.

The window is measured between the records' own times (their ``created``), never from
when the worker ships a window: windows close every ``flush_interval``, and a count taken
back from each closing would cut up to that much off the configured window.

Pure: the caller passes the wall-clock time, used only to let the records waiting below
the threshold age out.
Each problem keeps the times of at most ``count`` recent records (that is all a sliding
count needs), and at most :data:`MAX_GROUPS` problems are followed at once, so memory
stays bounded however many distinct problems an application logs.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable

from ._grouping import STORM_CONTROL, Group, record_size

#: Problems followed at once; past it the least recently seen is forgotten.
MAX_GROUPS = 1_000


class RecentTimes(deque[float]):
    """When a problem's last ``count`` records were made, oldest first; notes a crossing.

    Checked as each time arrives, not when a window ships: a burst that crossed the
    threshold still counts after later records have pushed its oldest time out.
    """

    def __init__(self, count: int, window: float) -> None:
        super().__init__(maxlen=count)
        self._window = window
        #: ``count`` records fell within ``window`` since the problem last fired.
        self.crossing = False

    def append(self, created: float) -> None:
        """Add a record's time, newest last."""
        super().append(created)
        self._check()

    def extend(self, times: Iterable[float]) -> None:
        """Add several records' times, newest last."""
        super().extend(times)
        self._check()

    def _check(self) -> None:
        if len(self) == self.maxlen and self[-1] - self[0] <= self._window:
            self.crossing = True


class Threshold:
    """Decides, per group, whether its problem has crossed the threshold."""

    def __init__(self, count: int, window: float, max_groups: int = MAX_GROUPS) -> None:
        self.count = count
        self.window = window
        #: Problems followed, and groups carried below the threshold, at once.
        self.max_groups = max_groups
        self._times: OrderedDict[Hashable, RecentTimes] = OrderedDict()

    def times(self, key: Hashable) -> RecentTimes:
        """The record times of problem ``key``, shared by its groups across windows."""
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = RecentTimes(self.count, self.window)
            if len(self._times) > self.max_groups:
                self._times.popitem(last=False)
        else:
            self._times.move_to_end(key)
        return times

    def crossed(self, group: Group) -> bool:
        """True when ``count`` of the problem's records were made at most ``window`` s
        apart since a group of it last fired, or was last judged; asked once per group per
        window.

        A group that storm control holds back has crossed already (the threshold is asked
        first), and stays crossed until it is sent. One waiting for its refresh has not:
        the records that joined it since are judged like any others.
        """
        times = group.times
        if not isinstance(times, RecentTimes) or group.hold_reason == STORM_CONTROL:
            return True
        crossing, times.crossing = times.crossing, False
        return crossing

    def drop_stale(self, group: Group, now: float, carried: int) -> int:
        """Drop from ``group``, below the threshold, the records that may not wait for
        more; how many records it dropped.

        Only its records that have not crossed the threshold are judged (the first
        ``crossed_kept`` of a group waiting for its refresh did). Those older than the
        window go. Records that were only counted (past ``max_batch_size``) have no times
        of their own: they go with the last kept record, or when none is left. With
        ``carried`` groups already waiting below the threshold, at most ``max_groups``,
        they all go.
        """
        waiting = group.records[group.crossed_kept:]
        if carried >= self.max_groups:
            kept = []
        else:
            cutoff = now - self.window
            kept = [record for record in waiting if record.created >= cutoff]
        dropped = group.total - group.crossed_total if not kept else len(waiting) - len(kept)
        group.total -= dropped
        group.records = group.records[:group.crossed_kept] + kept
        group.size = sum(record_size(record.__dict__) for record in group.records)
        return dropped

    def split(self, group: Group) -> Group:
        """Take out of ``group`` its records that have not crossed the threshold, as a
        group of their own (maybe empty); ``group`` keeps those that did, to be sent."""
        rest = Group(group.key, group.records[group.crossed_kept:],
                     group.total - group.crossed_total, group.last_created, times=group.times)
        rest.size = sum(record_size(record.__dict__) for record in rest.records)
        group.records, group.total = group.records[:group.crossed_kept], group.crossed_total
        group.size -= rest.size
        group.crossed_kept = group.crossed_total = 0
        return rest

    def forget_quiet(self, now: float) -> None:
        """Stop following problems with no record inside the window."""
        cutoff = now - self.window
        for key in [k for k, times in self._times.items() if not times or times[-1] < cutoff]:
            del self._times[key]
