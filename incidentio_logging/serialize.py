"""Records to strict, bounded, scrubbed JSON.

python-json-logger decides which fields a record contributes; :func:`to_jsonable` then
makes whatever the application put in ``extra`` safe to send: no NaN, no cycles, no
non-string keys, no unbounded strings, no secrets under secret-looking keys, and no
exception from an object's ``__repr__``.
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
import functools
import json
import logging
import math
import re
import socket
from collections.abc import Hashable, Mapping
from types import TracebackType
from typing import Any, NamedTuple

from pythonjsonlogger.json import JsonFormatter

from ._record import safe_repr, safe_str

MAX_STRING = 16_384
MAX_ITEMS = 100
MAX_DEPTH = 6
MAX_RECORD_BYTES = 64 * 1024
SCRUBBED = "[scrubbed]"

_SECRET_WORDS = (r"passw(or)?d|secret|token|api[-_]?key|authorization|cookie|session"  # noqa: S105 - key names
                 r"|credential|private[-_]?key")
SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
_FIELDS = ["levelname", "name", "message", "module", "funcName", "lineno", "pathname",
           "process", "threadName"]
_RENAMES = {"levelname": "level", "name": "logger", "funcName": "function", "lineno": "line",
            "pathname": "path", "threadName": "thread"}


def secret_key_pattern(extra: tuple[str, ...] = ()) -> re.Pattern[str]:
    """The built-in secret-looking key words plus ``extra`` ones, matched anywhere in a key."""
    if not extra:
        return SECRET_KEY
    words = "|".join(re.escape(word) for word in extra)
    return re.compile(f"{_SECRET_WORDS}|{words}", re.IGNORECASE)


def to_jsonable(  # noqa: PLR0912 - one branch per kind of value
    value: object, _depth: int = 0, _seen: frozenset[int] = frozenset(),
    secret: re.Pattern[str] = SECRET_KEY,
) -> Any:
    """Return a JSON-safe, bounded copy of ``value``; never raises.

    Values under keys that ``secret`` finds are replaced, at any depth.
    """
    kind = type(value)
    if value is None or kind is bool:
        return value
    if kind is str:
        return _text(value)  # type: ignore[arg-type]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return _integer(int(value))
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, str):
        return _text(str.__str__(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _text(bytes(value[: MAX_STRING]).decode("utf-8", "replace"))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, _depth + 1, _seen, secret)
    if isinstance(value, BaseException):
        return _text(f"{type(value).__name__}: {safe_str(value)}")
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        if id(value) in _seen:
            return "<cycle>"
        if _depth >= MAX_DEPTH:
            return f"<{type(value).__name__} nested too deep>"
        seen = _seen | {id(value)}
        if isinstance(value, Mapping):
            return _mapping(value, _depth, seen, secret)
        return _sequence(value, _depth, seen, secret)
    if _is_request(value):
        # Its repr carries the query string, and its attributes cookies, headers, bodies.
        return f"<{type(value).__name__}>"
    return _text(safe_repr(value, 1000))


def _is_request(value: object) -> bool:
    """An HTTP request object (Django, Flask/Werkzeug, Starlette...) or a socket."""
    if isinstance(value, socket.socket):
        return True
    try:
        return hasattr(value, "method") and any(
            hasattr(value, name) for name in ("META", "environ", "headers", "scope"))
    except Exception:  # noqa: BLE001 - a hostile __getattr__; treat it as one to be safe
        return True


def _mapping(value: Mapping[Any, Any], depth: int, seen: frozenset[int],
             secret: re.Pattern[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    try:
        items = list(value.items())
    except Exception:  # noqa: BLE001 - a broken mapping becomes a note, not a crash
        return {"<error>": f"unreadable {type(value).__name__}"}
    for index, (key, item) in enumerate(items):
        if index >= MAX_ITEMS:
            result["<truncated>"] = f"{len(items) - MAX_ITEMS} more items"
            break
        name = key if isinstance(key, str) else safe_str(key)
        name = _text(name)
        result[name] = (SCRUBBED if secret.search(name)
                        else to_jsonable(item, depth + 1, seen, secret))
    return result


def _sequence(value: Any, depth: int, seen: frozenset[int],
              secret: re.Pattern[str]) -> list[Any]:
    try:
        items = list(value)
    except Exception:  # noqa: BLE001
        return [f"<unreadable {type(value).__name__}>"]
    result = [to_jsonable(item, depth + 1, seen, secret) for item in items[:MAX_ITEMS]]
    if len(items) > MAX_ITEMS:
        result.append(f"<{len(items) - MAX_ITEMS} more items>")
    return result


def _text(value: str) -> str:
    if len(value) > MAX_STRING:
        value = f"{value[:MAX_STRING]}...[{len(value) - MAX_STRING} more characters]"
    if "earer" in value or "EARER" in value:
        value = _BEARER.sub(r"\1 " + SCRUBBED, value)
    return value


def _integer(value: int) -> int | str:
    if value.bit_length() <= 63:
        return value
    # Past 2**63 JSON readers lose precision, and past ~14,000 bits str() itself refuses.
    return str(value) if value.bit_length() <= 4000 else f"<int of {value.bit_length()} bits>"


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def dumps(value: object, secret: re.Pattern[str] = SECRET_KEY, **_ignored: object) -> str:
    """Strict compact JSON of ``value`` after :func:`to_jsonable`; never emits NaN."""
    return json.dumps(to_jsonable(value, secret=secret), ensure_ascii=False, allow_nan=False,
                      separators=(",", ":"))


def encode(text: str) -> bytes:
    """UTF-8 that survives lone surrogates (they become ``?``)."""
    return text.encode("utf-8", "replace")


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class Traceback(NamedTuple):
    """A record's exception as the worker keeps it: formatted, with no frames.

    It takes the place of ``exc_info`` once the worker has the record, so that a record
    waiting in a window or under storm control keeps no frames, and none of their
    locals, alive. Index 0 is still the exception's type, as in ``exc_info``.
    """

    type: type[BaseException] | None
    message: str
    text: str


def describe_exception(
        exc_info: ExcInfo | tuple[None, None, None] | Traceback) -> tuple[str, str]:
    """The exception's type name and message, from ``exc_info`` or its :class:`Traceback`."""
    if isinstance(exc_info, Traceback):
        return (exc_info.type.__name__ if exc_info.type else "", exc_info.message)
    exc = exc_info[1]
    return (type(exc).__name__, safe_str(exc)) if exc is not None else ("", "")


_GROUP_TYPES: tuple[type, ...] = tuple(
    t for t in (getattr(builtins, "BaseExceptionGroup", None),) if t is not None
)


def traceback_signature(exc_info: ExcInfo) -> Hashable | None:
    """What a formatted traceback depends on, when that is only the exception and frames.

    A flood repeats one code path: its tracebacks differ only by object identity, so one
    formatting serves them all. Chained exceptions, notes and exception groups print
    more than this captures, and get None (not cached).
    """
    exc_type, exc, tb = exc_info
    if (exc.__cause__ is not None or exc.__context__ is not None
            or getattr(exc, "__notes__", None) or isinstance(exc, _GROUP_TYPES)):
        return None
    frames = []
    while tb is not None:
        # The instruction offset fixes the line and, on 3.11+, the columns underlined.
        frames.append((tb.tb_frame.f_code, tb.tb_lasti))
        tb = tb.tb_next
    return exc_type, safe_str(exc), tuple(frames)


class _Formatter(JsonFormatter):
    """python-json-logger's formatter, formatting each distinct traceback once."""

    _CACHE_SIZE = 256

    def __init__(self, secret: re.Pattern[str]) -> None:
        super().__init__(_FIELDS, rename_fields=_RENAMES, timestamp=True,
                         json_serializer=functools.partial(dumps, secret=secret))
        self._tracebacks: dict[Hashable, str] = {}

    def formatException(self, ei: Any) -> str:  # noqa: N802 - the stdlib's name
        if isinstance(ei, Traceback):
            return ei.text
        key = traceback_signature(ei) if ei and ei[1] is not None else None
        if key is None:
            return str(super().formatException(ei))
        text = self._tracebacks.get(key)
        if text is None:
            if len(self._tracebacks) >= self._CACHE_SIZE:
                self._tracebacks.clear()
            text = self._tracebacks[key] = str(super().formatException(ei))
        return text


class RecordSerializer:
    """Turns a worker-side record into one JSON object for ``metadata.data``."""

    def __init__(self, secret: re.Pattern[str] = SECRET_KEY) -> None:
        self._formatter = _Formatter(secret)

    def format_exception(self, exc_info: ExcInfo | Traceback) -> str:
        """The traceback text, as it appears in a record's ``exc_info``."""
        return self._formatter.formatException(exc_info)

    def detach(self, exc_info: ExcInfo) -> Traceback:
        """``exc_info`` formatted, letting go of its frames."""
        exc_type, exc = exc_info[0], exc_info[1]
        return Traceback(exc_type, safe_str(exc) if exc is not None else "",
                         self.format_exception(exc_info))

    def serialize(self, record: logging.LogRecord) -> bytes:
        """The record as UTF-8 JSON, at most ``MAX_RECORD_BYTES`` long."""
        try:
            data = encode(self._formatter.format(record))
        except Exception as exc:  # noqa: BLE001 - one bad record must not sink the event
            return self._fallback(record, f"record could not be serialized: {type(exc).__name__}")
        if len(data) > MAX_RECORD_BYTES:
            return self._fallback(record, f"record was {len(data)} bytes; fields left out")
        return data

    @staticmethod
    def _fallback(record: logging.LogRecord, note: str) -> bytes:
        return encode(dumps({
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.timezone.utc),
            "level": record.levelname,
            "logger": record.name,
            "message": str(getattr(record, "message", ""))[:4096],
            "incidentio_logging_note": note,
        }))
