"""Records that arrive structured or preformatted: structlog's event dicts, loguru's lines.

The worker applies :func:`normalize` to each captured record as it takes it from the
queue, before grouping, so that every later step sees a plain record:

- ``msg`` is a dict (structlog's ``ProcessorFormatter.wrap_for_formatter``, or any dict):
  its ``event`` (else ``message``, else ``msg``: :data:`~._record.MESSAGE_KEYS`) becomes
  the message and template, and its other keys the record's fields. A message that is
  itself a dict (``log.error(resp.json())``) is read the same way, its keys taking part as
  fields. A dict without a message has an empty one, and is kept as ``msg`` for the
  fingerprint to read. A dict's repr is never the message.
- An extra named like a field the record already sends (``level``, ``logger``,
  ``timestamp``...: structlog's own keys, through ``render_to_log_kwargs``) is kept under
  ``extra`` instead of replacing the record's own.
- Terminal escape sequences (colours) are removed from the message.
- loguru's default line (``2026-01-02 10:00:00.000 | ERROR    | shop:pay:12 - ...``)
  loses its prefix, checked against the record's own level, logger, function and line.
- structlog's ``ConsoleRenderer`` line (``<timestamp> [error    ] card_declined    [shop]
  amount=5``) loses its timestamp and level when the level is the record's own, the
  logger in brackets when it is the record's own, and the event's padding: it reads
  ``card_declined amount=5``.
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

from ._record import Captured, capture, message_key, safe_str
from ._scrub import strip_escapes
from ._serialize import _RENAMES

#: Where an event dict's or an extra's colliding keys go, so both values are kept.
NESTED = "extra"
#: Names the serialized record has of its own without being LogRecord attributes (those
#: cannot be extras: ``makeRecord`` refuses them).
_RECORD_ATTRIBUTES = vars(logging.LogRecord("", 0, "", 0, "", (), None))
_OWN_FIELDS = frozenset({*_RENAMES.values(), "timestamp"}).difference(_RECORD_ATTRIBUTES)
#: A captured record with no more keys than this (a LogRecord's own and ``message``) has
#: no extras: its keys need no comparing.
_PLAIN_KEYS = len(_RECORD_ATTRIBUTES) + 1
#: The event dict key that is an instruction to logging, not a field.
_DIRECTIVE = "exc_info"
#: Where a traceback written into the text starts: Python's header, or the top of the
#: box rich draws (structlog's ConsoleRenderer with rich installed, showing locals).
_TRACEBACK = re.compile(r"\n(?:Traceback \(most recent call last\):"
                        r"|[╭┌][^\n]*Traceback \(most recent call last\))")
_LOGURU_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")
_LOGURU_TIME_LEN = 23
#: ConsoleRenderer's head: an optional timestamp (digits and separators, whatever its
#: format), then the level in brackets, padded or not.
_CONSOLE_HEAD = re.compile(r"(?:\d[\dTZ:.,+/ -]{0,39} )?\[([a-z]+) *\] ")
_CONSOLE_STARTS = frozenset("0123456789[")
#: ConsoleRenderer pads the event to a column; the run of spaces it leaves.
_PADDING = re.compile(r"  +")
#: How deep a message that is itself a dict is followed.
_MAX_NESTED_MESSAGES = 4


def plain(record: logging.LogRecord) -> Captured:
    """``record`` as the worker's grouping sees it: captured, then normalized."""
    return normalize(capture(record))


def normalize(data: Captured) -> Captured:
    """Rewrite a captured record in place into a plain one; returns it. Worker side."""
    msg = data["msg"]
    if type(msg) is dict:
        _from_event_dict(data, msg)
    else:
        if type(msg) is str:
            # Escapes in a template's arguments only colour the title, which the scrubber
            # cleans: the template is what groups.
            if "\x1b" in msg:
                msg = _strip_escapes(data)
            if type(data.get("extra")) is dict:
                _strip_loguru_prefix(data)  # loguru passes its bound values as ``extra``
            elif not data["args"] and msg[:1] in _CONSOLE_STARTS and "] " in msg:
                _strip_console_prefix(data)
        clashing = data.keys() & _OWN_FIELDS if len(data) > _PLAIN_KEYS else None
        if clashing:
            _nest(data, {name: data.pop(name) for name in sorted(clashing)})
    if (data["exc_info"] and type(data["message"]) is str
            and _TRACEBACK.search(data["message"]) is not None):
        _traceback_once(data)
    return data


def _from_event_dict(data: Captured, event: dict[Any, Any]) -> None:
    fields: dict[str, Any] = {}
    clashes: dict[str, Any] = {}
    message: object = None
    found = False
    source = event
    # A message that is a dict is read as one; its keys win over the outer dict's.
    for _ in range(_MAX_NESTED_MESSAGES):
        key = message_key(source)
        if not data["exc_info"]:
            data["exc_info"] = _exc_info(source.get(_DIRECTIVE))
        _read_fields(data, source, key, fields, clashes)
        if key is None:
            break
        message = source[key]
        if type(message) is not dict:
            found = True
            break
        source = message
    data["args"] = ()
    if found:
        data["msg"] = data["message"] = message if type(message) is str else safe_str(message)
    else:
        # Nothing says what happened: the fingerprint reads what the dict holds instead.
        data["msg"] = {**fields, **clashes}
        data["message"] = ""
    data.update(fields)
    if clashes:
        _nest(data, clashes)


def _read_fields(data: Captured, source: dict[Any, Any], message: str | None,
                 fields: dict[str, Any], clashes: dict[str, Any]) -> None:
    """Sort ``source``'s keys into the record's ``fields`` and the ones that ``clash``."""
    for key, value in source.items():
        if type(key) is str and key in (message, _DIRECTIVE):
            continue
        name = key if type(key) is str else safe_str(key)
        if name in data or name in _OWN_FIELDS:
            clashes[name] = value
        else:
            fields[name] = value


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


def _strip_escapes(data: Captured) -> str:
    """The text without colours, so that it groups and reads plainly; returns ``msg``."""
    msg: str = data["msg"]
    message = data["message"]
    data["msg"] = msg = strip_escapes(msg)
    if type(message) is str:
        data["message"] = strip_escapes(message)
    return msg


def _strip_console_prefix(data: Captured) -> None:
    """structlog's ConsoleRenderer line, recognised only with this record's own level."""
    text: str = data["msg"]
    head = _CONSOLE_HEAD.match(text)
    if head is None or head[1] != str(data["levelname"]).lower():
        return
    rest = text[head.end():]
    # Only the first line is the renderer's; a traceback may follow it.
    line_end = rest.find("\n")
    if line_end == -1:
        line_end = len(rest)
    padding = _PADDING.search(rest, 0, line_end)
    if padding is not None:
        rest = f"{rest[:padding.start()]} {rest[padding.end():]}"
        line_end -= len(padding.group()) - 1
    logger = f" [{data['name']}]"
    at = rest.find(logger, 0, line_end)
    end = at + len(logger)
    if at != -1 and (end == len(rest) or rest[end] in " \n"):
        rest = rest[:at] + rest[end:]
    data["msg"] = data["message"] = rest.rstrip(" ")


def _traceback_once(data: Captured) -> None:
    """Cut the record's own traceback out of its message text."""
    message: str = data["message"]
    exc_info = data["exc_info"]
    exc = exc_info[1] if type(exc_info) is tuple and len(exc_info) == 3 else None
    if exc is None:
        return
    found = _TRACEBACK.search(message)
    if found is None:
        return
    start = found.start()
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
