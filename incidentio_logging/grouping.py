"""Which records belong together in one alert event.

Pure: a :class:`Window` is fed records and hands back groups; it knows nothing of time,
threads or HTTP. A group keeps at most ``max_batch_size`` records and only counts the
rest, so a flood costs the worker a dict lookup per record, not a serialization.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ._record import safe_repr

KeyFunc = Callable[[logging.LogRecord], str]


def fingerprint(record: logging.LogRecord) -> str:
    """Logger, level, message template and exception type: what makes two errors "the same".

    The template (``record.msg``) is used rather than the formatted message, so that
    ``"order %s failed"`` groups across order ids.
    """
    template = record.msg if isinstance(record.msg, str) else type(record.msg).__qualname__
    exc_type = record.exc_info[0].__qualname__ if record.exc_info and record.exc_info[0] else ""
    return f"{record.name}\x1f{record.levelname}\x1f{template}\x1f{exc_type}"


def whole_window(_record: logging.LogRecord) -> str:
    """``group_by="none"``: every record of a window in one event, as the reference does."""
    return ""


def key_function(group_by: object, on_error: Callable[[Exception], None]) -> KeyFunc:
    """The grouping function for a validated ``group_by`` option.

    A user's function that raises falls back to :func:`fingerprint` for that record, and
    ``on_error`` hears about it.
    """
    if group_by == "fingerprint":
        return fingerprint
    if group_by == "none":
        return whole_window
    user_func: Callable[[logging.LogRecord], object] = group_by  # type: ignore[assignment]

    def user_key(record: logging.LogRecord) -> str:
        try:
            key = user_func(record)
        except Exception as exc:  # noqa: BLE001 - the user's code must not stop the worker
            on_error(exc)
            return fingerprint(record)
        return key if isinstance(key, str) else safe_repr(key, 500)

    return user_key


@dataclass
class Group:
    """The records of one window that share a key."""

    key: str
    records: list[logging.LogRecord] = field(default_factory=list)
    total: int = 0

    @property
    def omitted(self) -> int:
        """Records that arrived beyond ``max_batch_size`` and were only counted."""
        return self.total - len(self.records)


class Window:
    """Collects records into groups until the worker closes it."""

    def __init__(self, key: KeyFunc, max_batch_size: int) -> None:
        self._key = key
        self._max = max_batch_size
        self._groups: dict[str, Group] = {}

    def add(self, record: logging.LogRecord) -> None:
        """Place ``record`` in its group, or only count it when the group is full."""
        key = self._key(record)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key)
        group.total += 1
        if len(group.records) < self._max:
            group.records.append(record)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def take(self) -> list[Group]:
        """Close the window: its groups in order of first arrival, and an empty window."""
        groups = list(self._groups.values())
        self._groups = {}
        return groups
