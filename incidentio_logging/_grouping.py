"""Which records belong together in one alert event, and what waits for its turn.

A :class:`Window` is fed captured records on the worker thread and hands back groups; it
knows no HTTP, and takes the time only from the clock it is given, for a record that has
none. A group keeps at most ``max_batch_size`` records and only counts the rest: a
record only counted is never turned back into a record object, and once a group is full
its flood is counted on the callers' threads by a flood counter (:mod:`._flood`); the
window's :class:`~._flood.Floods`, holding them, is the one object shared with them.

A record the window keeps lets go of its traceback's frames first (they become text, see
:class:`~._serialize.Traceback`), after its key is computed: a ``group_by`` may read them.
Groups that storm control holds back wait in order of when they may be sent, apart from
the window's own groups, so closing a window touches only the groups that are due or new.
What is held back (by storm control, below a threshold, or for a refresh) is bounded by
:class:`~._budget.HeldBudget`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from ._budget import RECORD_OVERHEAD, HeldBudget
from ._flood import FloodCounter, Floods
from ._identity import Fingerprinter, fingerprint_key, label
from ._record import Captured, restore
from ._serialize import ExcInfo, RecordSerializer, Traceback

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
    #: Why the group is held back for a later window instead of being sent:
    #: ``storm_control``, ``below_threshold`` or ``refresh``; empty for a group of this
    #: window only.
    hold_reason: str = ""
    #: Windows whose event for this group storm control held back; the next event says so.
    suppressed: int = 0
    #: The last window whose records storm control held back with this group.
    held_in: int = 0
    #: The kept records' size, as :func:`record_size` estimates it.
    size: int = 0
    #: With a threshold: when this problem's recent records were made, newest last.
    times: deque[float] | None = None
    #: Carried for its refresh: how many of ``records``, and of ``total``, crossed the
    #: threshold already (the first ones); those that joined since are judged again.
    crossed_kept: int = 0
    crossed_total: int = 0

    @property
    def omitted(self) -> int:
        """Records that arrived beyond ``max_batch_size`` and were only counted."""
        return self.total - len(self.records)


STORM_CONTROL = "storm_control"
#: A fired problem's records carried until its next refresh (``refresh_interval``).
REFRESH = "refresh"


def record_size(data: Captured) -> int:
    """A kept record's bytes, estimated cheaply: its texts and a fixed overhead."""
    size = RECORD_OVERHEAD + len(data.get("message") or "")
    exc_info, stack = data.get("exc_info"), data.get("stack_info")
    if isinstance(exc_info, Traceback):
        size += len(exc_info.text) + len(exc_info.message)
    if isinstance(stack, str):
        size += len(stack)
    return size


#: A record's time must be one a date can show (up to 9999-12-31): a timestamp in
#: milliseconds, or NaN, would sink the whole group's event when it is built.
_LATEST = 253_402_300_799.0


def _created(value: object, wall_clock: Callable[[], float]) -> float:
    """A record's time; the clock's for a record made without a usable one."""
    if (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0.0 <= value <= _LATEST):
        return float(value)
    return wall_clock()


#: Stands in for a kept record's arguments once its message is made: still truthy, so
#: the record still reads as ``%``-style, and holds nothing alive.
RELEASED_ARGS = ("<released>",)


def _release(data: Captured) -> None:
    """Let go of what a kept record no longer needs, once its key and message are made.

    Its arguments, and a ``msg`` that is not a string (``log.error(exc)``), can hold
    megabytes, or an exception whose traceback keeps frames and their locals alive,
    while the record waits in a window or under storm control.
    """
    if data.get("args"):
        data["args"] = RELEASED_ARGS
    if type(data.get("msg")) is not str:
        data["msg"] = data.get("message", "")


class Window:
    """Collects records into groups until the worker closes it; keeps what is held back."""

    def __init__(self, key: KeyFunc, max_batch_size: int,
                 recent: Callable[[Hashable], deque[float]] | None = None, *,
                 detach: Callable[[ExcInfo], Traceback] | None = None,
                 wall_clock: Callable[[], float] = time.time,
                 held_budget: HeldBudget | None = None) -> None:
        self._key = key
        self._max = max_batch_size
        #: With a threshold, where each problem keeps its records' times across windows.
        self._recent = recent
        self._detach = detach or RecordSerializer().detach
        self._wall_clock = wall_clock
        self._groups: dict[Hashable, Group] = {}
        #: Groups storm control holds back, oldest first: the order they may be sent in.
        self._waiting: OrderedDict[Hashable, Group] = OrderedDict()
        #: Of those, the new problems' (never sent, or resolved since): they go first.
        self._first: OrderedDict[Hashable, None] = OrderedDict()
        #: How much is held back (storm control, thresholds, refreshes), and its bounds.
        self.held_budget = held_budget or HeldBudget()
        #: The flood counter callers' threads read, and its books.
        self.floods = Floods()
        #: Records refused for want of room to hold them, not yet dropped as held_full.
        self.refused = 0
        #: The open window's number: one more each time a window closes.
        self._number = 0

    def add(self, data: Captured) -> None:
        """Place a captured record in its group, or only count it when the group is full.

        Nothing is changed until everything that can fail has been done, so a record that
        fails here is counted once, by the caller, and nowhere else.
        """
        key = self._key(data)  # first: a group_by may read the traceback's frames
        created = data["created"] = _created(data.get("created"), self._wall_clock)
        group = self._groups.get(key)
        if group is None:
            group = self._waiting.get(key)
        keep = group is None or len(group.records) < self._max
        size = 0
        if keep:
            exc_info = data.get("exc_info")
            if exc_info and not isinstance(exc_info, Traceback) and exc_info[1] is not None:
                data["exc_info"] = self._detach(exc_info)
            _release(data)
            size = record_size(data)
            if group is not None and group.hold_reason and not self.held_budget.grow(size):
                self.refused += 1
                return
        if group is None:
            group = self._groups[key] = Group(key)
            if self._recent is not None:
                group.times = self._recent(key)
        group.total += 1
        group.last_created = created
        if group.times is not None:
            group.times.append(created)
        if group.hold_reason == STORM_CONTROL:
            self._held_again(group)
        if keep:
            group.records.append(restore(data))
            group.size += size
            if len(group.records) == self._max:
                self._count_flood(group)

    def carry(self, group: Group, reason: str) -> bool:
        """Keep ``group`` open into the next window, to be judged again when it closes.

        Its records stay (new ones join them). A full group gets its flood counter
        again. False, with nothing kept, when there is no room to hold it.
        """
        if not self.held_budget.reserve(group.size):
            return False
        group.hold_reason = reason
        self._groups[group.key] = group
        if len(group.records) >= self._max:
            self._count_flood(group)
        return True

    def hold_back(self, group: Group, *, first: bool = False) -> bool:
        """Hold ``group`` back for storm control, after those already waiting (after the
        other new problems', when ``first``: a new problem's first event).

        New records join it while it waits; :meth:`due` hands it back when its turn
        comes. False, with nothing kept, when there is no room to hold it.
        """
        if not self.held_budget.reserve(group.size):
            return False
        group.hold_reason = STORM_CONTROL
        group.suppressed += 1
        group.held_in = self._number - 1  # the window whose event this was
        self._waiting[group.key] = group
        if first:
            self._first[group.key] = None
        if len(group.records) >= self._max:
            self._count_flood(group)
        return True

    def due(self, allow: Callable[[], bool]) -> list[Group]:
        """Groups held back by storm control, for as long as ``allow()``: new problems
        first, then the rest; oldest first among equals."""
        waiting, first, released = self._waiting, self._first, []
        while waiting and allow():
            key = next(iter(first or waiting))
            first.pop(key, None)
            self._fold(self.floods.stop(key))  # its count goes with the event, not after it
            group = waiting.pop(key)
            self.held_budget.release(group.size)
            released.append(group)
        return released

    def _held_again(self, group: Group) -> None:
        # One more window of records that storm control held back.
        if group.held_in != self._number:
            group.held_in = self._number
            group.suppressed += 1

    def _count_flood(self, group: Group) -> None:
        # Only fingerprint grouping can be matched on the caller's thread.
        if isinstance(self._key, Fingerprinter):
            self._fold(self.floods.start(FloodCounter.for_group(group.key, group.records)))

    def _fold(self, closed: list[FloodCounter]) -> None:
        # What closed counters counted joins their groups; without one, it is a stray.
        for old in closed:
            group = self._groups.get(old.key) or self._waiting.get(old.key)
            if group is None:
                self.floods.strays += old.counted
                continue
            group.total += old.counted
            group.last_created = max(group.last_created, old.last_created)
            times = group.times
            if times is not None:  # their own times were not kept: the last one stands in
                times.extend([old.last_created] * min(old.counted, times.maxlen or old.counted))
            if group.hold_reason == STORM_CONTROL:
                self._held_again(group)

    def __bool__(self) -> bool:
        return bool(self._groups or self._waiting)

    def holds_back(self) -> bool:
        """True when storm control or a threshold holds a group back."""
        return bool(self._waiting) or any(group.hold_reason for group in self._groups.values())

    def has_records_of(self, key: Hashable) -> bool:
        """True when the window, or storm control, has records of the group ``key``."""
        return key in self._groups or key in self._waiting

    def take(self) -> list[Group]:
        """Close the window: its groups in order of first arrival. Those storm control
        holds back stay, for :meth:`due`."""
        self._fold(self.floods.renew(self._max))  # still flooding: counted afresh
        groups = list(self._groups.values())
        self._groups = {}
        for group in groups:
            if group.hold_reason:  # carried: judged again now
                self.held_budget.release(group.size)
        self._number += 1
        return groups
