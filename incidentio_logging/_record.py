"""What the caller's thread keeps of a record, and how the worker turns it back into one.

The caller pays for one C-level dict copy and one ``getMessage()``: the message and the
top-level extras are frozen as they were at the logging call, while tracebacks and JSON
are left for the worker. The original record is never written to. A structlog event dict
(``msg`` is a dict) is copied instead of rendered; the worker reads it (``_structured``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

Captured = dict[str, Any]


class CapturedRecord(logging.LogRecord):
    """A worker-side copy whose message stays what it was when the call was made."""

    message: str

    def getMessage(self) -> str:  # noqa: N802 - the stdlib's name
        return self.message


def capture(record: logging.LogRecord) -> Captured:
    """Snapshot ``record`` on the caller's thread, cheaply and without mutating it."""
    data = record.__dict__.copy()
    if type(data["msg"]) is dict:
        return _freeze_event_dict(data)
    try:
        data["message"] = record.getMessage()
    except Exception as exc:  # noqa: BLE001 - a broken format call must not reach the app
        data["message"] = _unformattable(record, exc)
    return data


def restore(data: Captured) -> CapturedRecord:
    """Rebuild a record object around a captured dict, without copying it again."""
    record = CapturedRecord.__new__(CapturedRecord)
    record.__dict__ = data
    return record


def safe_str(value: object) -> str:
    """``str`` that never raises."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a hostile __str__ is the case handled here
        return safe_repr(value)


def safe_repr(value: object, limit: int = 200) -> str:
    """``repr`` that never raises and never grows past ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ is exactly the case handled here
        text = f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def _freeze_event_dict(data: Captured) -> Captured:
    """Keep structlog's event dict as it was at the call, without ``str()`` of all of it.

    ``exc_info=True`` in it (``log.error(..., exc_info=True)``) names the exception being
    handled on this thread now: it is resolved here, since the worker cannot.
    """
    event = data["msg"] = data["msg"].copy()
    if event.get("exc_info") is True and not data["exc_info"]:
        info = sys.exc_info()
        if info[0] is not None:
            data["exc_info"] = info
    return data


def _unformattable(record: logging.LogRecord, exc: Exception) -> str:
    return (
        f"{safe_repr(record.msg)} % {safe_repr(record.args)} "
        f"(message could not be formatted: {type(exc).__name__})"
    )
