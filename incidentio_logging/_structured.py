"""Records that arrive structured or preformatted: structlog's event dicts, loguru's lines.

The worker applies :func:`normalize` to each captured record as it takes it from the
queue, before grouping, so that every later step sees a plain record:

- ``msg`` is a dict (structlog's ``ProcessorFormatter.wrap_for_formatter``, or any dict):
  its ``event`` becomes the message and template, and its other keys the record's fields.
  A dict's repr is never the message.
- An extra named like a field the record already sends (``level``, ``logger``,
  ``timestamp``...: structlog's own keys, through ``render_to_log_kwargs``) is kept under
  ``extra`` instead of replacing the record's own.
- loguru's default line (``2026-01-02 10:00:00.000 | ERROR    | shop:pay:12 - ...``)
  loses its prefix, checked against the record's own level, logger, function and line.
- A traceback written into the message text (loguru, structlog's ``ConsoleRenderer``)
  while the record carries the same exception is cut from the text: it is sent once,
  from ``exc_info``, and loguru's ``diagnose`` output (local variables' values) is not
  sent at all.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from ._record import Captured, capture, safe_str
from .serialize import _RENAMES

#: Where an event dict's or an extra's colliding keys go, so both values are kept.
NESTED = "extra"
#: Names the serialized record has of its own without being LogRecord attributes (those
#: cannot be extras: ``makeRecord`` refuses them).
_OWN_FIELDS = frozenset({*_RENAMES.values(), "timestamp"}).difference(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)))
#: Event dict keys that are instructions to logging, not fields.
_DIRECTIVES = frozenset({"event", "exc_info"})
_TRACEBACK = "\nTraceback (most recent call last):"
_LOGURU_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")
_LOGURU_TIME_LEN = 23


def plain(record: logging.LogRecord) -> Captured:
    """``record`` as the worker's grouping sees it: captured, then normalized."""
    return normalize(capture(record))


def normalize(data: Captured) -> Captured:
    """Rewrite a captured record in place into a plain one; returns it. Worker side."""
    if type(data["msg"]) is dict:
        _from_event_dict(data, data["msg"])
    else:
        if type(data.get("extra")) is dict and type(data["msg"]) is str:
            _strip_loguru_prefix(data)  # loguru passes its bound values as ``extra``
        clashing = data.keys() & _OWN_FIELDS
        if clashing:
            _nest(data, {name: data.pop(name) for name in sorted(clashing)})
    if data["exc_info"] and type(data["message"]) is str and _TRACEBACK in data["message"]:
        _traceback_once(data)
    return data


def _from_event_dict(data: Captured, event: dict[Any, Any]) -> None:
    message = event.get("event", "")
    data["msg"] = data["message"] = message if type(message) is str else safe_str(message)
    data["args"] = ()
    if not data["exc_info"]:
        data["exc_info"] = _exc_info(event.get("exc_info"))
    fields: dict[str, Any] = {}
    clashes: dict[str, Any] = {}
    for key, value in event.items():
        if key in _DIRECTIVES:
            continue
        name = key if type(key) is str else safe_str(key)
        if name in data or name in _OWN_FIELDS:
            clashes[name] = value
        else:
            fields[name] = value
    data.update(fields)
    if clashes:
        _nest(data, clashes)


def _exc_info(value: object) -> tuple[Any, ...] | None:
    """``exc_info`` as structlog accepts it: an exception or a tuple (True was resolved by
    the caller's thread, when an exception was being handled)."""
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value
    return None


def _nest(data: Captured, fields: dict[str, Any]) -> None:
    name = NESTED
    while name in data:  # loguru's records already have one: never replace it
        name += "_"
    data[name] = fields


def _strip_loguru_prefix(data: Captured) -> None:
    """loguru's default format, recognised only with this record's own values in it."""
    text: str = data["msg"]
    head = (f" | {data['levelname']!s: <8} | {data['name']}:{data['funcName']}:"
            f"{data['lineno']} - ")
    end = _LOGURU_TIME_LEN + len(head)
    if text.startswith(head, _LOGURU_TIME_LEN) and _LOGURU_TIME.match(text):
        data["msg"] = data["message"] = text[end:]
        data["args"] = ()


def _traceback_once(data: Captured) -> None:
    """Cut the record's own traceback out of its message text."""
    message: str = data["message"]
    exc_info = data["exc_info"]
    exc = exc_info[1] if type(exc_info) is tuple and len(exc_info) == 3 else None
    if exc is None:
        return
    start = message.find(_TRACEBACK)
    try:
        last = traceback.format_exception_only(type(exc), exc)[0].strip()
    except Exception:  # noqa: BLE001 - a hostile __str__: keep the text as it is
        return
    if last not in message[start:]:
        return  # another exception's text: the message's own business
    cut = message[:start].rstrip()
    if not data["args"] and type(data["msg"]) is str:  # the text is its own template
        data["msg"] = cut
    data["message"] = cut
