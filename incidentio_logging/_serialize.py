"""Records to strict, bounded, scrubbed JSON.

python-json-logger decides which fields a record contributes; :func:`to_jsonable` then
makes whatever the application put in ``extra`` safe to send: no NaN, no cycles, no
non-string keys, no unbounded strings, no secrets (see :mod:`._scrub`), and no exception
from an object's ``__repr__``. Dataclasses, namedtuples and plain objects become their
fields, so that a secret-looking field is scrubbed as a key would be; any sequence, set
or mapping (a deque, a UserList, a dict view) becomes its items. Iterators are not read.

How a value is read is decided by its type alone, never by asking the object: a proxy
(a type with ``__getattr__`` or ``__getattribute__`` of its own, Django's lazy objects and
querysets), a request, a socket, and a plain object of the standard library or an
installed package are sent as their type's name, ``<Session>``, and not read at all.

A record has a budget, :data:`MAX_NODES` values and :data:`MAX_CHARS` characters. The walk
stops where it is spent: what is left is not read, the cut is marked in place with
:data:`CUT`, and the record carries :data:`BUDGET_NOTE` under :data:`NOTE_KEY`.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import enum
import itertools
import json
import logging
import math
import os
import reprlib
import site
import socket
import sys
import sysconfig
from collections import UserString
from collections.abc import (
    Hashable,
    ItemsView,
    Iterable,
    Mapping,
    MappingView,
    Sequence,
    Set,
)
from types import CodeType, SimpleNamespace, TracebackType
from typing import Any, NamedTuple

from pythonjsonlogger.json import JsonFormatter

from ._record import safe_repr, safe_str
from ._scrub import MARGIN, SCRUBBED, SECRET_KEY, Scrubber, secret_key_pattern

__all__ = ["BUDGET_NOTE", "CUT", "MAX_CHARS", "MAX_DEPTH", "MAX_ITEMS", "MAX_NODES",
           "MAX_RECORD_BYTES", "MAX_STRING", "NOTE_KEY", "RECORD_FIELDS", "SCRUBBED", "SECRET_KEY",
           "RecordSerializer", "Scrubber", "dumps", "encode", "secret_key_pattern",
           "to_jsonable", "traceback_signature"]

MAX_STRING = 16_384
MAX_ITEMS = 100
MAX_DEPTH = 6
MAX_RECORD_BYTES = 64 * 1024
#: Values one record's serialization may visit; past it, the rest is not read.
MAX_NODES = 2_000
#: Characters one record's serialization may produce. It leaves room under
#: MAX_RECORD_BYTES for JSON escapes, so that a cut record is still sent.
MAX_CHARS = 56 * 1024
#: What stands where the budget ran out: the last item of a cut list, or a cut dict's key.
CUT = "<cut: serialization budget spent>"
NOTE_KEY = "incidentio_logging_note"
BUDGET_NOTE = (f"cut: the record reached its serialization budget ({MAX_NODES} values or "
               f"{MAX_CHARS // 1024} KiB); the rest of it was not read")
#: Sequences that are read as one piece of text (a range's repr is short, its items many).
#: A generator or other iterator is not read item by item either: that would consume it.
_TEXTS = (str, bytes, bytearray, memoryview, range, UserString)
#: Reprs that show nothing but an address or the attributes: such objects are walked
#: as their attributes.
_PLAIN_REPRS = (object.__repr__, SimpleNamespace.__repr__)
#: A key is cut to this, masked, by the scrubber; its repr need not read further.
_KEY_LENGTH = 256
_DEFAULT = Scrubber()
_FIELDS = ["levelname", "name", "message", "module", "funcName", "lineno", "pathname",
           "process", "threadName"]
_RENAMES = {"levelname": "level", "name": "logger", "funcName": "function", "lineno": "line",
            "pathname": "path", "threadName": "thread"}
#: The keys a serialized record takes from the record itself; any other key is an extra
#: (or the note on a cut record). python-json-logger adds ``exc_info`` and ``stack_info``.
RECORD_FIELDS = frozenset({"timestamp", *(_RENAMES.get(name, name) for name in _FIELDS),
                           "exc_info", "stack_info"})


def to_jsonable(value: object, scrubber: Scrubber = _DEFAULT) -> Any:
    """Return a JSON-safe, bounded, scrubbed copy of ``value``; never raises.

    Values under keys that ``scrubber.key`` finds are replaced, at any depth.
    """
    return _Walk(scrubber).value(value, 0, frozenset())


class _Walk:
    """One serialization: the scrubber and what is left of the budget."""

    __slots__ = ("chars", "cut", "nodes", "scrub")

    def __init__(self, scrub: Scrubber, nodes: int = MAX_NODES, chars: int = MAX_CHARS) -> None:
        self.scrub = scrub
        self.nodes = nodes
        self.chars = chars
        self.cut = False

    def spent(self) -> bool:
        """True once the budget is spent; marks the record as cut."""
        if self.nodes > 0 and self.chars > 0:
            return False
        self.cut = True
        return True

    def value(self, value: object, depth: int, seen: frozenset[int]) -> Any:  # noqa: PLR0912 - a branch per shape
        self.nodes -= 1
        kind = type(value)
        if kind is str:
            return self.text(value)  # type: ignore[arg-type]
        self.chars -= 8  # a number, a literal or a container's brackets, roughly
        if value is None or kind is bool:
            return value
        if kind is int:
            return _integer(value)  # type: ignore[arg-type]
        if kind is float:
            return _float(value)  # type: ignore[arg-type]
        shape = _SHAPES.get(kind)
        if shape is None:
            shape = _shape(kind)
        if shape < _WALKED:
            return self.leaf(value, shape, depth, seen)
        if id(value) in seen:
            return "<cycle>"
        if depth >= MAX_DEPTH:
            return f"<{kind.__name__} nested too deep>"
        seen = seen | {id(value)}
        if shape == _SEQUENCE:
            if (kind is tuple or kind is list) and len(value) == 2 and self.secret(value[0]):  # type: ignore[arg-type, index]
                # A (name, value) pair, as ASGI's and http.client's headers are.
                return [self.value(value[0], depth + 1, seen), SCRUBBED]  # type: ignore[index]
            return self.sequence(value, depth, seen)
        if shape == _MAPPING:
            return self.mapping(value.items(), _size(value), depth, seen)  # type: ignore[attr-defined]
        if shape == _PAIRS:
            # A dict's items view: its pairs are a mapping's, a secret-looking key's value
            # is scrubbed.
            return self.mapping(value, _size(value), depth, seen)  # type: ignore[arg-type]
        if shape == _NAMED:
            return self.mapping(zip(kind._fields, value, strict=False), None, depth, seen)  # type: ignore[attr-defined, call-overload]
        if shape == _DATACLASS:
            # The fields a dataclass shows in its repr, and only those.
            missing = object()
            pairs = ((f.name, getattr(value, f.name, missing))
                     for f in dataclasses.fields(kind) if f.repr)  # type: ignore[arg-type]
            return self.mapping(((name, item) for name, item in pairs if item is not missing),
                                None, depth, seen)
        try:
            attributes = vars(value)
        except Exception:  # noqa: BLE001 - no __dict__ (slots), or a hostile one: the repr says only the address
            return f"<{kind.__name__}>"
        # Public attributes, as a repr would show them: a leading underscore, and a
        # pydantic field declared with repr=False, stay out.
        hidden = _hidden_fields(kind) if shape == _MODEL else ()
        return self.mapping(((name, item) for name, item in attributes.items()
                             if not (type(name) is str and name.startswith("_"))
                             and name not in hidden),
                            None, depth, seen)

    def leaf(self, value: Any, shape: int, depth: int, seen: frozenset[int]) -> Any:
        """A value read as one piece: a number, a text, a date, or a type's name."""
        if shape == _INT:
            return _integer(int(value))
        if shape == _FLOAT:
            return _float(float(value))
        if shape == _STR:
            return self.text(str.__str__(value))
        if shape == _BYTES:
            # Each character is at most 4 bytes: this decodes enough for the text's margin.
            head = bytes(value[: 4 * (MAX_STRING + MARGIN)])
            return self.text(head.decode("utf-8", "replace"))
        if shape == _DATE:
            return value.isoformat()
        if shape == _ENUM:
            return self.value(value.value, depth + 1, seen)
        if shape == _EXCEPTION:
            return self.text(f"{type(value).__name__}: {safe_str(value)}")
        if shape == _NAMED_ONLY:
            return f"<{type(value).__name__}>"
        return self.text(safe_repr(value, MAX_STRING), 1000)

    def mapping(self, items: Iterable[tuple[Any, Any]], size: int | None, depth: int,
                seen: frozenset[int]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        try:
            for index, (key, item) in enumerate(items):
                if index >= MAX_ITEMS:
                    more = f"{size - MAX_ITEMS} more items" if size is not None else "more items"
                    result["<truncated>"] = more
                    break
                if self.spent():
                    result["<cut>"] = CUT
                    break
                name, secret = self.scrub.name(key if type(key) is str else self.key(key))
                self.chars -= len(name) + 3
                result[name] = SCRUBBED if secret else self.value(item, depth + 1, seen)
        except Exception:  # noqa: BLE001 - a broken mapping becomes a note, not a crash
            result["<error>"] = "unreadable mapping"
        return result

    def secret(self, name: object) -> bool:
        """Whether ``name``, a pair's first item, is a secret-looking key."""
        if type(name) is bytes and len(name) <= _KEY_LENGTH:
            name = name.decode("latin-1")
        return type(name) is str and len(name) <= _KEY_LENGTH and self.scrub.name(name)[1]

    def key(self, key: object) -> str:
        """A key that is not a string as text: ``str()``, or a container's bounded repr."""
        shape = _shape(type(key))
        if shape == _NAMED_ONLY:
            return f"<{type(key).__name__}>"
        if shape < _WALKED:
            return safe_str(key)
        try:
            return _KeyRepr(self).repr(key)
        except Exception:  # noqa: BLE001 - reprlib guards leaves' reprs, not every path
            return f"<unrepresentable {type(key).__name__}>"

    def sequence(self, value: Any, depth: int, seen: frozenset[int]) -> list[Any]:
        result: list[Any] = []
        try:
            for item in itertools.islice(value, MAX_ITEMS):
                if self.spent():
                    result.append(CUT)
                    return result
                result.append(self.value(item, depth + 1, seen))
        except Exception:  # noqa: BLE001
            return [f"<unreadable {type(value).__name__}>"]
        size = _size(value)
        if size is not None and size > MAX_ITEMS:
            result.append(f"<{size - MAX_ITEMS} more items>")
        return result

    def text(self, value: str, limit: int = MAX_STRING) -> str:
        """Masked first, then cut: to ``limit``, or to what is left of the budget."""
        keep = limit if limit < self.chars else max(0, self.chars)
        if len(value) <= keep:
            text = self.scrub.mask(value)
        else:
            self.cut = self.cut or keep < limit
            text = self.scrub.text(value, keep, f"...[{len(value) - keep} more characters]")
        self.chars -= (len(text) if text.isascii() else len(encode(text))) + 3
        return text


class _KeyRepr(reprlib.Repr):
    """``repr`` of a container key, each value it reads charged to the walk's budget.

    str() of a tuple of tuples reads all of it, shared references path by path; this
    stops where the budget does, as the walk of a value would.
    """

    def __init__(self, walk: _Walk) -> None:
        super().__init__()
        self.walk = walk
        self.maxlevel = MAX_DEPTH
        self.maxstring = self.maxother = _KEY_LENGTH

    def repr1(self, x: Any, level: int) -> str:
        if self.walk.spent():
            return "..."
        self.walk.nodes -= 1
        return super().repr1(x, level)

    def repr_instance(self, x: Any, level: int) -> str:
        if _shape(type(x)) == _NAMED_ONLY:
            return f"<{type(x).__name__}>"  # its repr could run code: a lazy object's setup
        return super().repr_instance(x, level)


# How the walk reads a value, decided once per type. Those below _WALKED are leaves.
_INT, _FLOAT, _STR, _BYTES, _DATE, _ENUM, _EXCEPTION, _NAMED_ONLY, _REPR = range(9)
_WALKED = 9
_SEQUENCE, _MAPPING, _PAIRS, _NAMED, _DATACLASS, _OBJECT, _MODEL = range(_WALKED, _WALKED + 7)
#: Each type's shape; emptied whenever it holds this many.
_SHAPES_SIZE = 1024
_SHAPES: dict[type, int] = {}
#: Classes, by top-level package and name anywhere in a type's MRO, whose objects are
#: named and never read: reading one runs code (a lazy object's setup, a query).
_OPAQUE = frozenset({("django", "LazyObject"), ("django", "Promise"),
                     ("django", "QuerySet"), ("django", "RawQuerySet")})
#: Requests and websockets, the same way: Starlette's (FastAPI's) and aiohttp's are Mappings,
#: Django's WSGIRequest and ASGIRequest derive from HttpRequest, Flask's from Werkzeug's.
_REQUESTS = frozenset({("starlette", "HTTPConnection"), ("django", "HttpRequest"),
                       ("werkzeug", "Request"), ("aiohttp", "BaseRequest")})
#: Headers that are no Mapping but have a mapping's items(): Werkzeug's (Flask's
#: ``request.headers``) and the standard library's email and http.client messages. They are
#: walked as mappings, so that Authorization and X-Api-Key are scrubbed by the key rule.
_HEADERS = frozenset({("werkzeug", "Headers"), ("email", "Message")})


def _shape(kind: type) -> int:
    """How the walk reads a value of type ``kind``, remembered for the next one."""
    known = _SHAPES.get(kind)
    if known is not None:
        return known
    try:
        shape = _shape_of(kind)
    except Exception:  # noqa: BLE001 - a hostile metaclass: name it, read nothing
        shape = _NAMED_ONLY
    if len(_SHAPES) >= _SHAPES_SIZE:
        _SHAPES.clear()
    _SHAPES[kind] = shape
    return shape


def _shape_of(kind: type) -> int:
    """Decided from the type alone, never the object.

    ``isinstance`` would ask a proxy for its ``__class__`` and ``hasattr`` would reach its
    ``__getattr__``: a Django SimpleLazyObject evaluated itself on the worker (a session
    and a user query, on the database that may be the fault being logged).
    """
    shape = _scalar_shape(kind)
    if shape is not None:
        return shape
    if issubclass(kind, tuple) and isinstance(getattr(kind, "_fields", None), tuple):
        return _NAMED
    if issubclass(kind, (list, tuple)):
        return _SEQUENCE
    if issubclass(kind, dict):
        return _MAPPING
    names = _mro_names(kind)
    if ("pydantic", "BaseModel") in names:
        # Its __getattr__ serves only private attributes; its fields are in its __dict__.
        return _MODEL
    if _intercepts(kind) or not _OPAQUE.isdisjoint(names) or _is_request(kind, names):
        # Reading a proxy or a lazy object runs code. A request's repr carries the query
        # string, its attributes (or, for Starlette's, its items) cookies, headers, bodies,
        # the client's address: it is asked before Mapping.
        return _NAMED_ONLY
    if not _HEADERS.isdisjoint(names):
        return _MAPPING
    if dataclasses.is_dataclass(kind):
        return _DATACLASS
    if issubclass(kind, Mapping):
        return _MAPPING
    if issubclass(kind, ItemsView):
        return _PAIRS
    if issubclass(kind, (Sequence, Set, MappingView)) and not issubclass(kind, _TEXTS):
        return _SEQUENCE
    if kind.__repr__ in _PLAIN_REPRS:
        # Its repr would say nothing but an address: an application's object says what it
        # holds by its attributes; a library's are its machinery, and it is named.
        return _OBJECT if kind is SimpleNamespace or not _is_library(kind) else _NAMED_ONLY
    return _REPR


def _scalar_shape(kind: type) -> int | None:
    """The shape of a number, a text, a date, an enum, an exception or a class; else None."""
    if issubclass(kind, int):
        return _INT
    if issubclass(kind, float):
        return _FLOAT
    if issubclass(kind, str):
        return _STR
    if issubclass(kind, (bytes, bytearray, memoryview)):
        return _BYTES
    if issubclass(kind, (dt.datetime, dt.date, dt.time)):
        return _DATE
    if issubclass(kind, enum.Enum):
        return _ENUM
    if issubclass(kind, BaseException):
        return _EXCEPTION
    if issubclass(kind, type):
        return _REPR
    return None


def _hidden_fields(kind: type) -> set[str]:
    """A pydantic model's fields declared with ``repr=False``."""
    fields = getattr(kind, "__pydantic_fields__", None)
    if not isinstance(fields, dict):
        return set()
    return {name for name, info in fields.items() if getattr(info, "repr", True) is False}


def _intercepts(kind: type) -> bool:
    """Whether ``kind`` defines ``__getattr__`` or ``__getattribute__`` in Python: a proxy,
    whose every probe may reach (and build) what it stands for."""
    for base in kind.__mro__[:-1]:
        own = base.__dict__
        if "__getattr__" in own or ("__getattribute__" in own
                                    and not isinstance(own["__getattribute__"], _SLOT_WRAPPER)):
            return True
    return False


_SLOT_WRAPPER = type(object.__getattribute__)


def _mro_names(kind: type) -> set[tuple[str, str]]:
    """Each class of ``kind``'s MRO as (top-level package, name)."""
    return {(str(base.__module__).partition(".")[0], base.__name__) for base in kind.__mro__}


def _library_dirs() -> tuple[str, ...]:
    """Where the standard library and installed packages live, each ending in a separator."""
    paths = sysconfig.get_paths()
    dirs = [paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths]
    # An embedded interpreter's or an old virtualenv's site module may lack them.
    if hasattr(site, "getsitepackages"):
        dirs += site.getsitepackages()
    if hasattr(site, "getusersitepackages"):
        dirs.append(site.getusersitepackages())
    return tuple({os.path.join(os.path.realpath(path), "") for path in dirs})


_LIBRARY_DIRS = _library_dirs()


def _is_library(kind: type) -> bool:
    """Whether ``kind`` comes from the standard library or an installed package.

    Such an object's attributes are its library's machinery (a requests.Session's auth,
    adapters and pools), not the application's data: it is named, not walked. A module
    with no file is built in, unless it is ``__main__`` (a script's or a notebook's).
    """
    module = sys.modules.get(kind.__module__)
    if module is None:
        return False
    path = module.__dict__.get("__file__")
    if not isinstance(path, str):
        return module.__name__ != "__main__"
    return os.path.realpath(path).startswith(_LIBRARY_DIRS)


def _size(value: object) -> int | None:
    try:
        return len(value)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001
        return None


def _is_request(kind: type, names: set[tuple[str, str]]) -> bool:
    """An HTTP request or websocket type, by its MRO's ``names`` or a class-level method and
    META, environ, headers or scope; or a socket."""
    return (issubclass(kind, socket.socket) or not _REQUESTS.isdisjoint(names)
            or (hasattr(kind, "method") and any(
                hasattr(kind, name) for name in ("META", "environ", "headers", "scope"))))


def _integer(value: int) -> int | str:
    if value.bit_length() <= 63:
        return value
    # Past 2**63 JSON readers lose precision, and past ~14,000 bits str() itself refuses.
    return str(value) if value.bit_length() <= 4000 else f"<int of {value.bit_length()} bits>"


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def dumps(value: object, scrubber: Scrubber = _DEFAULT) -> str:
    """Strict compact JSON of ``value`` after :func:`to_jsonable`; never emits NaN."""
    return _json(to_jsonable(value, scrubber))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


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
    #: The functions the traceback passed through, outermost first (code objects hold no
    #: frames): what a flood counter compares, so that the same exception type raised
    #: somewhere else is never counted as this problem. None when it was too deep to keep.
    codes: tuple[CodeType, ...] | None = ()


#: A traceback deeper than this is not compared by flood counters: its records are
#: always captured (a RecursionError's thousand frames would cost the caller too much).
MAX_COMPARED_FRAMES = 32


def traceback_codes(tb: TracebackType | None) -> tuple[CodeType, ...] | None:
    """The code objects along ``tb``, outermost first; None past ``MAX_COMPARED_FRAMES``."""
    codes: list[CodeType] = []
    while tb is not None:
        if len(codes) == MAX_COMPARED_FRAMES:
            return None
        codes.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    return tuple(codes)


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
    """python-json-logger's formatter: one budget per record, each traceback formatted once."""

    _CACHE_SIZE = 256

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__(_FIELDS, rename_fields=_RENAMES, timestamp=True,
                         json_serializer=self._serialize)
        self._scrubber = scrubber
        self._tracebacks: dict[Hashable, str] = {}

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # The timestamp goes first, so that a record cut at its budget still says when.
        return {"timestamp": log_data.pop("timestamp", None), **log_data}

    def _serialize(self, log_data: dict[str, Any], **_ignored: object) -> str:
        walk = _Walk(self._scrubber)
        data = walk.value(log_data, 0, frozenset())
        if walk.cut:
            data[NOTE_KEY] = BUDGET_NOTE
        return _json(data)

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

    def __init__(self, scrubber: Scrubber = _DEFAULT) -> None:
        self._scrubber = scrubber
        self._formatter = _Formatter(scrubber)

    def format_exception(self, exc_info: ExcInfo | Traceback) -> str:
        """The traceback text, as it appears in a record's ``exc_info``, before scrubbing."""
        return self._formatter.formatException(exc_info)

    def detach(self, exc_info: ExcInfo) -> Traceback:
        """``exc_info`` formatted, letting go of its frames."""
        exc_type, exc = exc_info[0], exc_info[1]
        return Traceback(exc_type, safe_str(exc) if exc is not None else "",
                         self.format_exception(exc_info), traceback_codes(exc_info[2]))

    def serialize(self, record: logging.LogRecord) -> bytes:
        """The record as UTF-8 JSON, at most ``MAX_RECORD_BYTES`` long."""
        try:
            data = encode(self._formatter.format(record))
        except Exception as exc:  # noqa: BLE001 - one bad record must not sink the event
            return self._fallback(record, f"record could not be serialized: {type(exc).__name__}")
        if len(data) > MAX_RECORD_BYTES:
            return self._fallback(record, f"record was {len(data)} bytes; fields left out")
        return data

    def _fallback(self, record: logging.LogRecord, note: str) -> bytes:
        return encode(dumps({
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.timezone.utc),
            "level": record.levelname,
            "logger": record.name,
            "message": self._scrubber.text(safe_str(getattr(record, "message", "")), 4096),
            NOTE_KEY: note,
        }, self._scrubber))
