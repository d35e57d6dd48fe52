"""What the caller's thread keeps of a record, and how the worker turns it back into one.

The caller pays for one C-level dict copy, one ``getMessage()`` and one length check: the
message and the top-level extras are frozen as they were at the logging call, while
tracebacks and JSON are left for the worker. The original record is never written to. A
structlog event dict (``msg`` is a dict) is copied instead of rendered; the worker reads
it (``_structured``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

Captured = dict[str, Any]

#: A message longer than this (in characters) is cut at the logging call, so one huge
#: message cannot hold megabytes in the queue.
MAX_MESSAGE_CHARS = 64 * 1024
#: Appended right after a message cut at capture. Fixed, so that the scrubber can still
#: mask a secret (the API token) whose tail the cut removed, right before this marker.
CUT_MARKER = "[cut by incidentio-logging]"
#: A record with a message up to this long and no traceback is light: ``queue_size``
#: bounds those, and they are not charged against ``max_queue_bytes``, so that a normal
#: logging call pays one length check for the byte budget and no more.
LIGHT_CHARS = 1024
#: The byte estimate of a heavy record, on top of its message: the copied attribute dict.
#: A traceback costs a fixed charge more, since its frames (and their locals) cannot be
#: sized cheaply; the real cost of a record with a traceback may be far higher.
RECORD_CHARGE = 1024
TRACEBACK_CHARGE = 16 * 1024
#: Where an event dict (a dict ``msg``) keeps its message, tried in this order: structlog's
#: own ``event``, then ``message`` and ``msg``, the names structlog's ``EventRenamer`` is
#: usually given (JSON log pipelines such as Datadog's and GCP's read ``message``).
MESSAGE_KEYS = ("event", "message", "msg")


class CapturedRecord(logging.LogRecord):
    """A worker-side copy whose message stays what it was when the call was made."""

    message: str

    def getMessage(self) -> str:  # noqa: N802 - the stdlib's name
        return self.message


def capture(record: logging.LogRecord, message: str | None = None) -> Captured:
    """Snapshot ``record`` on the caller's thread, cheaply and without mutating it.

    ``message`` is the record's formatted message, when the caller already has it.
    """
    data = record.__dict__.copy()
    if type(data["msg"]) is dict:
        return _freeze_event_dict(data)
    if message is None:
        try:
            message = record.getMessage()
        except Exception as exc:  # noqa: BLE001 - a broken format call must not reach the app
            message = _unformattable(record, exc)
    if len(message) > MAX_MESSAGE_CHARS:
        _cut(data, message)
    else:
        data["message"] = message
    return data


def _cut(data: Captured, message: str) -> None:
    """Keep the head of an oversized message; let go of the huge template or arguments.

    ``msg`` stays when it is a short template or not a string, so the record still groups
    with its peers; ``args`` are dropped, since only the message is ever sent.
    """
    data["message"] = message[:MAX_MESSAGE_CHARS] + CUT_MARKER
    msg = data.get("msg")
    if isinstance(msg, str) and len(msg) > MAX_MESSAGE_CHARS:
        data["msg"] = data["message"]
    data["args"] = None


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


def message_key(event: dict[Any, Any]) -> str | None:
    """The key of ``event`` that holds its message: the first of :data:`MESSAGE_KEYS` it
    has, or None."""
    for key in MESSAGE_KEYS:
        if key in event:
            return key
    return None


def _freeze_event_dict(data: Captured) -> Captured:
    """Keep structlog's event dict as it was at the call, without ``str()`` of all of it.

    ``exc_info=True`` in it (``log.error(..., exc_info=True)``) names the exception being
    handled on this thread now: it is resolved here, since the worker cannot.
    """
    event = data["msg"] = data["msg"].copy()
    # Its event stands in for the message until the worker reads the dict; the queue's
    # byte budget sizes the record by it.
    key = "event" if "event" in event else message_key(event)  # structlog's, at once
    message = event[key] if key is not None else None
    if type(message) is dict:  # log.error(resp.json()): the worker reads it as the dict
        event[key] = message.copy()
    data["message"] = message if type(message) is str else ""
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
