"""Which records belong together in one alert event.

Pure: a :class:`Window` is fed captured records and hands back groups; it knows nothing
of time, threads or HTTP. A group keeps at most ``max_batch_size`` records and only
counts the rest. A flood costs the worker a tuple and a dict lookup per record: records
that are only counted are never even turned back into record objects.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from ._identity import Fingerprinter, fingerprint_key, label
from ._record import Captured, restore

KeyFunc = Callable[[Captured], Hashable]


def _whole_window(_data: Captured) -> str:
    return ""


def key_function(group_by: object, on_error: Callable[[Exception], None],
                 in_app: Sequence[str] = ()) -> KeyFunc:
    """The grouping function for a validated ``group_by`` option.

    ``"fingerprint"`` is :class:`~incidentio_logging._identity.Fingerprinter`, with the
    ``in_app`` option. ``"none"`` puts a whole window in one group, as the reference does.
    A user's function gets a record; if it raises, that record is grouped by fingerprint
    and ``on_error`` hears about it.
    """
    fingerprint = Fingerprinter(in_app) if in_app else fingerprint_key
    if group_by == "fingerprint":
        return fingerprint
    if group_by == "none":
        return _whole_window
    user_func: Callable[[logging.LogRecord], object] = group_by  # type: ignore[assignment]

    def user_key(data: Captured) -> Hashable:
        try:
            return label(user_func(restore(data)))
        except Exception as exc:  # noqa: BLE001 - the user's code must not stop the worker
            on_error(exc)
            return fingerprint(data)

    return user_key


@dataclass(slots=True)
class Group:
    """The records of one window that share a key."""

    key: Hashable
    records: list[logging.LogRecord] = field(default_factory=list)
    total: int = 0
    last_created: float = 0.0
    #: Why the group is carried into the next window instead of being sent:
    #: ``storm_control`` or ``below_threshold``; empty for a group of this window only.
    held: str = ""
    #: Windows whose event for this group storm control held back; the next event says so.
    suppressed: int = 0
    #: ``total`` when storm control last held the group back: more means another window.
    held_total: int = 0
    #: With a threshold: when this problem's recent records were made, newest last.
    times: deque[float] | None = None

    @property
    def omitted(self) -> int:
        """Records that arrived beyond ``max_batch_size`` and were only counted."""
        return self.total - len(self.records)


class Overflow:
    """Counts, on the callers' threads, the records of a group that is already full.

    Once a group holds ``max_batch_size`` records, the rest of the window only counts
    them. The caller compares a record with this object's template, logger, level and
    exception type, the fingerprint's parts, and on a match counts it here: no snapshot,
    no queue slot, no work for the worker. A flood therefore cannot fill the queue and
    crowd out the records of another problem.

    ``allow`` lets that many matching records through first, captured as usual: a flood
    that outlives its window is handed on with ``allow=max_batch_size``, so the next
    window gets its samples and the rest are counted at once, instead of queueing until
    the worker has grouped a full batch again.
    """

    __slots__ = ("_closed", "_lock", "allow", "count", "exc_type", "key", "last_created",
                 "levelno", "msg", "name")

    def __init__(self, key: Hashable, msg: object, name: str, levelno: int,
                 exc_type: type[BaseException] | None, *, allow: int = 0) -> None:
        self.key = key
        self.allow = allow
        self.msg = msg
        self.name = name
        self.levelno = levelno
        self.exc_type = exc_type
        self.count = 0
        self.last_created = 0.0
        # Reentrant: a signal handler that logs runs on the thread it interrupted, maybe
        # inside add(); a plain lock would deadlock there.
        self._lock = threading.RLock()
        self._closed = False

    def add(self, record: logging.LogRecord) -> bool:
        """Count ``record`` if it has this group's fingerprint and counting is still open.

        The comparison is :func:`fingerprint_key`'s, on the live record: the same template
        object, logger, level and exception type. False sends the record the usual way.
        """
        if (record.msg is not self.msg or record.name != self.name
                or record.levelno != self.levelno
                or (record.exc_info[0] if record.exc_info else None) is not self.exc_type):
            return False
        with self._lock:
            if self._closed:
                return False
            if self.allow:
                self.allow -= 1
                return False
            self.count += 1
            self.last_created = record.created
            return True

    def handed_on(self, allow: int) -> Overflow:
        """A fresh stand-in for the same problem, for the next window."""
        return Overflow(self.key, self.msg, self.name, self.levelno, self.exc_type,
                        allow=allow)

    def close(self) -> int:
        """Stop counting; how many were counted."""
        with self._lock:
            self._closed = True
            return self.count


class Window:
    """Collects records into groups until the worker closes it."""

    def __init__(self, key: KeyFunc, max_batch_size: int,
                 recent: Callable[[Hashable], deque[float]] | None = None) -> None:
        self._key = key
        self._max = max_batch_size
        #: With a threshold, where each problem keeps its records' times across windows.
        self._recent = recent
        self._groups: dict[Hashable, Group] = {}
        #: The stand-in counting for the group that filled up last. Only fingerprint
        #: grouping has one: it alone can be matched on the caller's thread.
        self.full: Overflow | None = None
        #: Records counted by stand-ins that have since been closed, ever.
        self.counted = 0
        #: Of those, records whose group was not in the window when their stand-in
        #: closed (its samples still queued): the dispatcher counts them as batch_full.
        self.unplaced = 0

    def add(self, data: Captured) -> None:
        """Place a captured record in its group, or only count it when the group is full."""
        key = self._key(data)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key)
            if self._recent is not None:
                group.times = self._recent(key)
        group.total += 1
        group.last_created = data["created"]
        if group.times is not None:
            group.times.append(data["created"])
        records = group.records
        if len(records) < self._max:
            records.append(restore(data))
            if len(records) == self._max:
                self._stand_in(group)

    def carry(self, group: Group, reason: str) -> None:
        """Keep ``group`` open into the next window, held back for ``reason``.

        Its records stay (new ones join them) and its event is sent by a later
        :meth:`take`. A full group gets its stand-in again, so a flood of it is still
        only counted on the callers' threads.
        """
        group.held = reason
        self._groups[group.key] = group
        if len(group.records) >= self._max:
            self._stand_in(group)

    def _stand_in(self, group: Group) -> None:
        # Only fingerprint grouping can be matched on the caller's thread.
        if isinstance(self._key, Fingerprinter):
            first = group.records[0]
            self._retire(Overflow(group.key, first.msg, first.name, first.levelno,
                                  first.exc_info[0] if first.exc_info else None))

    def counting(self) -> int:
        """Records counted by stand-ins so far, including the open one."""
        full = self.full
        return self.counted + (full.count if full is not None else 0)

    def _retire(self, new: Overflow | None) -> None:
        old, self.full = self.full, new
        if old is None:
            return
        counted = old.close()
        if not counted:
            return
        self.counted += counted
        group = self._groups.get(old.key)
        if group is None:
            self.unplaced += counted
            return
        group.total += counted
        group.last_created = max(group.last_created, old.last_created)
        times = group.times
        if times is not None:  # their own times were not kept: the last one stands in
            times.extend([old.last_created] * min(counted, times.maxlen or counted))

    def __bool__(self) -> bool:
        return bool(self._groups)

    def holds(self, key: Hashable) -> bool:
        """True when the open window has records of the group ``key``."""
        return key in self._groups

    def take(self) -> list[Group]:
        """Close the window: its groups in order of first arrival, and an empty window."""
        flood = self.full
        self._retire(None)
        groups = list(self._groups.values())
        self._groups = {}
        if flood is not None and flood.count:  # still flooding: hand it on
            self.full = flood.handed_on(self._max)
        return groups
