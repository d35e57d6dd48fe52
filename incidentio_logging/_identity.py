"""Which records are the same problem: the fingerprint, and the key it gives on the wire.

Pure, deterministic and stateless. The same record gives the same fingerprint in every
process, on every host, after every restart: nothing is learned at run time and nothing
depends on ``hash()`` or ``PYTHONHASHSEED``. That is what lets a fleet of processes, each
with its own handler, update one incident.io alert per problem.

- A record with an exception is that exception: logger, level, the exception's type and
  the innermost frame of application code in its traceback, by module and function name
  (never by line, so a deploy that only moves code keeps the key). The message is left
  out: two bugs behind one generic message are two problems, one bug reached from two URLs
  is one. A traceback that arrives as text, exc_info cleared (a stdlib ``QueueHandler``
  does that), is keyed the same way from the text: see :meth:`Fingerprinter.text_site`.
- Otherwise a record is its message: the ``%``-template when it has arguments; the text
  with its variable parts masked (:func:`mask`) when the values are already in it, as
  f-strings, ``.format()``, loguru and structlog hand them over.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import importlib
import itertools
import logging
import os
import re
import sys
import sysconfig
from collections.abc import Callable, Hashable, Sequence
from types import CodeType, FrameType, FunctionType, TracebackType
from typing import Any, Protocol, cast

from ._record import Captured, safe_repr, safe_str
from ._scrub import SECRET_KEY
from ._serialize import encode
from ._structured import plain

#: Characters of a message that are scanned; the rest takes no part in its fingerprint.
MAX_SCANNED = 1_000
#: What a masked value becomes. One marker for every kind of value: a template whose
#: value is sometimes a host name and sometimes an IP address still groups.
MASK = "<*>"
#: Values of a dict without a message that take part in its template.
MAX_DICT_VALUES = 32
#: How far ahead a pattern looks for what would make a word a value (see _OTHER_VALUES).
MAX_LOOKAHEAD = 64

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
          r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?")
_WEEKDAY = r"(?:Mon|Tue(?:s)?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\b,?"
_ORDINAL = r"\d{1,2}(?:st|nd|rd|th)?\b"
#: A name of code, a host or a file: words joined by dots, colons, "@", "+" or "-".
_NAME = r"\w+(?:(?:::|[.:@+\-])\w+)*"
#: A message that is one name, or one name and then ``key=value`` pairs, is a structlog
#: event ("card_declined", "user.login order=A-1"), not a value in a text: the name is
#: its template. A name has no digit: "A-1001", "ch_3MqLk2" and "db7.prod.internal" are
#: ids and hosts, values, as anything with a digit is. So is a line of structlog's
#: ConsoleRenderer, whose timestamp and ``[level   ]`` come first and the logger's
#: ``[name]`` after the event.
_EVENT = re.compile(r"(?:(?:\S+ )?\[[a-z]+ *\] )?"
                    r"(?P<event>[^\W\d]+(?:(?:::|[.:@+\-])[^\W\d]+)*)"
                    r"(?=(?:\s+\[[^\]\n]*\])?(?:\s*\Z|\s+[\w.]+=))")
#: An item of a tuple's repr: a quoted string, a number, None, True or False.
_ITEM = r"(?:'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|[-+]?\d[\w.+\-]*|None|True|False)"
_UNIT = (r"(?:\s(?:[kKMGTP]i?B|bytes?|[mµun]?s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?"
         r"|days?|weeks?)\b)?")
#: The values; with the detail (below), one alternation, _VALUE, tried left to right;
#: what matches becomes ``<*>``. Every branch starts
#: where a word starts: the ones for text (a detail, quotes, pairs, arguments, reprs,
#: lists) only at their punctuation, the word-like ones only where a compound ("a-b.c")
#: starts and only when a digit, a dot, an ``_``, an ``@``, a colon or a slash is near: a
#: plain word costs a few steps, and no branch rescans a compound from each of its parts.
#: What a branch looks ahead for before it starts (the scheme's "://", a path's "/", a
#: name's "_" or dot) is looked for within :data:`MAX_LOOKAHEAD` characters: a compound
#: of a thousand parts ("a.-a.-a.-...", any text a client sends) is read a bounded number
#: of times, not once from each of its parts.
_OTHER_VALUES = "|".join((
    # Quoted values, short and on one line, quotes and all: a repr quotes a string with
    # ' or ", whichever it does not contain, so the quotes vary with the value. An
    # apostrophe inside a word opens nothing. The event of a line rendered by structlog
    # (KeyValueRenderer, JSONRenderer) is its template, not a value.
    r"(?<!\bevent=)'[^'\n]{0,200}'(?!\w)",
    r"(?<!\bevent=)(?<!\"event\": )(?<!\"event\":)\"[^\"\n]{0,200}\"(?!\w)",
    r"`[^`\n]{0,200}`(?!\w)",
    # The value of a key=value pair, whatever it is: "alias=default", "mode=fast". Up to
    # a space or a punctuation mark that ends it; a quoted one is a quoted value (above).
    # Not a structlog line's event, "event=card_declined" (logfmt).
    r"(?<=\w=)(?<!\bevent=)[^\s'\"`,;|&()\[\]{}<>]+",
    # The arguments of a call written into the text: "readv(add, 4096)".
    r"(?<=\w\()[^()\n]{1,200}(?=\))",
    # Object reprs, whole: "<shop.Order object at 0x7f3a>", "<Order: A-1>". One value, of
    # whatever shape its class prints; a "<" that a space follows is a comparison.
    r"<[A-Za-z_][^<>\n]{0,200}>",
    # Lists, tuples, sets and dicts, whole, one level of nesting deep: their length and
    # their items vary together ("[::1]:8080" is an address, port and all). A tuple needs
    # a comma and only quoted or numeric items, since "(see below)" is text. Not a dict
    # that has a structlog event in it.
    r"\[(?:[^\[\]\n]|\[[^\[\]\n]{0,200}\]){0,200}\](?::\d+)?",
    r"\{(?![^{}\n]{0,200}[\"']event[\"']:)(?:[^{}\n]|\{[^{}\n]{0,200}\}){0,200}\}",
    rf"\((?:{_ITEM}, )+(?:{_ITEM},?)?\)",
    # Absolute file paths and URL paths: "/var/log/app.log", "~/x", "../x".
    r"(?<!\.)(?:~|\.\.?)?/[\w.\-~@+%=]+(?:/[\w.\-~@+%=]*)*",
    r"(?<!\w[.:@+\-])"
    rf"(?=[+\-]?(?:\d|_|\w[\w+\-]{{0,{MAX_LOOKAHEAD}}}?[\d.@:/\\_])"
    r"|[\[:\\]|[A-Z][a-z]{2,8}\.?,?\s+(?:\d|[A-Z][a-z]{2}))"
    r"(?:" + "|".join((
        # URLs, whole: scheme, host, path and query vary together.
        rf"[A-Za-z][A-Za-z0-9+.\-]{{0,{MAX_LOOKAHEAD}}}://"
        r"[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}]",
        # Dates with a month's name: "Mon, 02 Jan 2006 15:04", "Jan 2", "02/Jan/2024:10:00".
        rf"(?:{_WEEKDAY}\s+)?(?:{_MONTH}\s+{_ORDINAL}|{_ORDINAL}[\s/\-]{_MONTH})"
        r"(?:[,/\-]?\s*\d{4}\b)?(?:[:T\s]\d{1,2}(?::\d{2}){1,2}(?:[.,]\d+)?)?",
        # IPv6 addresses (and MACs, times), with brackets and a port.
        r"(?<!:)\[?(?=[0-9A-Fa-f:]*\d)(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"
        r"(?:%\w+)?(?:\](?::\d+)?)?(?![\w:.])",
        # Windows paths: "C:\\x\\y", "\\\\server\\share".
        r"(?:[A-Za-z]:\\|\\\\)[\w.\-~@+%$]+(?:\\[\w.\-~@+%$]*)*",
        # Relative paths: a directory and a file name, or two directories ("logs/app.log").
        rf"(?=[\w.\-]{{1,{MAX_LOOKAHEAD}}}/)"
        r"(?:\w[\w.\-]*(?:/[\w.\-]+)*/[\w\-]*\.\w+|\w[\w.\-]*/(?:[\w.\-]+/)+[\w.\-]*)",
        # Anything word-like with a digit in it: numbers with units (5.0s, 200ms, 2 KiB,
        # 3 hours: a value may change its unit), ids (A-1, ch_3Mq), hex, UUIDs, IPv4 and
        # host:port, versions, ISO timestamps.
        r"[-+]?(?:\w+[.:@+\-])*\w*\d\w*(?:[.:@+\-]\w+)*" + _UNIT,
        # Names of code and dotted names without digits: identifiers (send_email,
        # GEOS_NOTICE, std::io), api.stripe.com, config.yaml, e-mail addresses. English
        # is not written with "_", "::" or a dot inside a word. Not a call written into
        # the text, "session.commit()", "on_commit()": that is the message's own code.
        # The lookahead takes the whole name at once, so no shorter part of it is tried
        # instead. The event of a rendered structlog line is its template.
        rf"(?=\w)(?=[\w:+\-.@]{{0,{MAX_LOOKAHEAD}}}?(?:\w[.@]\w|_|::))"
        r"(?<!\bevent=)(?<!\bevent=')(?<!\bevent=\")(?<!\"event\": \")(?<!\"event\":\")"
        rf"(?=(?P<name>{_NAME}))(?P=name)(?!\()",
    )) + ")",
))
#: The detail after a message and a colon, to the end of its line: "Refund failed:
#: card expired" is "Refund failed: <*>". What follows a message's "<what happened>: "
#: is what raised it or what it was about: an exception's text, a reason, a value, of
#: any length and any words; never the lines after it, which are messages of their
#: own. Only after a colon that ends a word, a call or a bracket (not a quote: the keys
#: of a dict or a JSON line, whose event must stay), and never right after a leading
#: label (see _LABELS). Only when the text before the colon, on its line, has two plain
#: words or more (see _mask_values): "Order A-1001: card declined" and "[payments]: disk
#: full" say what happened after the colon, and masking it would leave nothing of the
#: message.
_DETAIL = r"(?<=[\w)\]>]: )\S[^\n]*"
_VALUE = re.compile(rf"(?<!\w)(?:(?P<detail>{_DETAIL})|{_OTHER_VALUES})")
#: The same without the detail: for a colon whose text before it is not a message.
_NOT_DETAIL = re.compile(rf"(?<!\w)(?:{_OTHER_VALUES})")
#: A word of letters only (an apostrophe inside it too), between spaces, in parentheses
#: or before a comma or a stop: "Refund", "failed", "couldn't", "(reason". Not "A-1001",
#: "[payments]" (a tag), "send_email".
_PLAIN_WORD = re.compile(r"(?<![^\s(])[^\W\d_]+(?:'[^\W\d_]+)*(?=[\s,;.!?)]|\Z)")
#: Leading labels, one word each: "Error: ", "Warning: ", "worker-3: ". What follows one
#: is a message, not the label's detail: "Error: provider rejected the refund" and
#: "Error: provider rejected the capture" differ.
_LABELS = re.compile(r"(?:[\w.:\-]+: )+")
#: A run of masked values (a list, a date and its time, a host and its port) is one
#: value, whatever its length. What follows the first of them goes.
_RUN = re.compile(r"(?<=<\*>)(?:(?:[,;]?[ \t]*|:)<\*>)+")


def mask(text: str) -> str:
    """``text`` with its variable parts masked as ``<*>``: the template it was made from.

    ``"Card declined for order A-1001 after 3 attempts (5.0s)"`` becomes ``"Card
    declined for order <*> after <*> attempts (<*>)"``. Masked: anything with a digit in
    it (numbers with units, ids, hex, UUIDs, IP addresses and ports, versions,
    timestamps), dates with a month's name, URLs, file paths, names of code and dotted
    names (``send_email``, ``std::io``, host names, modules, file names; not a call such
    as ``session.commit()``, nor a message that is one name, or starts with one before
    ``key=value`` pairs, such as a structlog event),
    e-mail addresses, the values of ``key=value`` pairs, the arguments of a call
    (``readv(<*>)``), object reprs (``<Order: A-1>``, one ``<*>`` each), and quoted
    values, quotes and all (a string's repr picks its quotes by its content). What
    follows a message and a colon is its detail, one ``<*>`` to the end of its line: ``"Refund
    failed: card expired"`` is ``"Refund failed: <*>"``; not after leading labels of one
    word each (``"Error: "``, ``"worker-3: "``), whose message is masked as any other.
    Lists, tuples, sets and dicts are one ``<*>`` each. A run of values (``"1, 2, 3"``)
    is one ``<*>``. Words without a digit stay: "rejected the refund" and "rejected the
    capture" differ. Only the first :data:`MAX_SCANNED` characters are read.
    """
    text = text[:MAX_SCANNED]
    event = _EVENT.match(text)
    label = _LABELS.match(text)
    if event:
        masked = (_mask_values(text[:event.start("event")]) + event.group("event")
                  + _mask_values(text[event.end("event"):]))
    elif label:
        # Each label is masked on its own, and so is the message after them: a text of
        # its own, whose first colon no lookbehind can take for a label's.
        masked = "".join(_mask_values(word) + ": "
                         for word in label.group()[:-2].split(": "))
        masked += _mask_values(text[label.end():])
    else:
        masked = _mask_values(text)
    return _RUN.sub("", masked) if masked.count(MASK) > 1 else masked


def _mask_values(text: str) -> str:
    """``_VALUE.sub(MASK, text)``, but a detail only after two plain words on its line."""
    if ": " not in text:  # no detail can start: one pass in C
        return _NOT_DETAIL.sub(MASK, text)
    parts: list[str] = []
    end = 0
    # Plain words on the current line up to ``counted``: kept as the scan moves on, so
    # a line of many colons is read once, not once per colon.
    line = counted = words = 0
    while (found := _VALUE.search(text, end)) is not None:
        start = found.start()
        if found.start("detail") >= 0:
            colon = start - 2
            if (line_start := text.rfind("\n", 0, colon) + 1) != line:
                line, counted, words = line_start, line_start, 0
            words += len(_PLAIN_WORD.findall(text, counted, colon))
            counted = colon
            if words < 2:
                # Mask what starts here as any other text would be; a colon further on
                # may still start a detail, so nothing past this point is taken for
                # granted.
                found = _NOT_DETAIL.match(text, start)
                if found is None:
                    parts.append(text[end:start + 1])
                    end = start + 1
                    continue
        parts.append(text[end:start])
        parts.append(MASK)
        end = found.end()
    parts.append(text[end:])
    return "".join(parts)


def _library_paths() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")
             if name in paths}
    roots |= {os.path.realpath(root) for root in roots}
    return tuple(os.path.join(root, "") for root in sorted(roots))


#: Where the stdlib and installed packages live; "<frozen importlib._bootstrap>" too.
_LIBRARY_PREFIXES = (*_library_paths(), "<frozen ")
_PACKAGE_DIRS = tuple(f"{os.sep}{name}{os.sep}" for name in ("site-packages", "dist-packages"))


def is_library(filename: str) -> bool:
    """True for code of the stdlib or of an installed package, by the file it runs from."""
    return filename.startswith(_LIBRARY_PREFIXES) or any(
        part in filename for part in _PACKAGE_DIRS)


class Fingerprinter:
    """The default group key: what makes two records "the same problem".

    Called on a captured record, it returns a tuple of strings. ``in_app`` names module
    prefixes (``"shop"`` covers ``shop`` and ``shop.views``) that count as application
    code wherever they are installed; without it, application code is whatever does not
    run from the stdlib or site-packages.
    """

    __slots__ = ("_in_app",)

    def __init__(self, in_app: Sequence[str] = ()) -> None:
        self._in_app = tuple(in_app)

    def __repr__(self) -> str:
        return f"Fingerprinter(in_app={self._in_app!r})"

    def __call__(self, data: Captured) -> tuple[str, ...]:
        exc_info = data["exc_info"]
        if exc_info and exc_info[0] is not None:
            return ("exception", data["name"], data["levelname"],
                    *self.exception_site(exc_info[0], exc_info[1], exc_info[2]))
        message = data.get("message")
        if isinstance(message, str) and _frames_start(message) >= 0:
            return ("exception", data["name"], data["levelname"], *self.text_site(message))
        return ("message", data["name"], data["levelname"], template(data))

    def exception_site(self, exc_type: type[BaseException], exc: BaseException | None,
                       tb: TracebackType | None) -> tuple[str, str]:
        """The exception's qualified type and :meth:`raise_site`.

        An exception group (``asyncio.TaskGroup``, anyio's task groups) is raised from the
        ``async with`` line whatever failed inside: it is keyed by its leaves instead,
        each leaf's type and raise site from its own traceback, sorted and without
        repeats, types and sites each joined by ``" + "``. A group of one leaf is keyed as
        that leaf. Only the first :data:`MAX_GROUP_LEAVES` leaves, :data:`MAX_GROUP_DEPTH`
        groups deep, are read; a group deeper than that counts as a leaf.
        """
        if exc is None or not is_group(type(exc)):
            return _qualified(exc_type), self.raise_site(tb)
        leaves: list[BaseException] = []
        _leaves(exc, MAX_GROUP_DEPTH, leaves)
        sites = sorted({(_qualified(type(leaf)), self.raise_site(leaf.__traceback__))
                        for leaf in leaves})
        return " + ".join(t for t, _ in sites), " + ".join(s for _, s in sites)

    def raise_site(self, tb: TracebackType | None) -> str:
        """``module:function`` of the innermost application frame of ``tb``.

        The innermost frame of all when none is application code; empty without a
        traceback. A method of a class defined at module level is ``Class.method``
        (``RefundView.post`` and ``CheckoutView.post`` are two places); any other function
        is its ``co_name``. Not ``co_qualname``, and a comprehension counts as the
        function it is written in: keys must agree across Python versions.
        """
        site: FrameType | None = None
        innermost: FrameType | None = None
        last_code: CodeType | None = None
        last_is_app = False
        while tb is not None:
            innermost = tb.tb_frame
            # A RecursionError repeats one function a thousand times: judge it once.
            if innermost.f_code is not last_code:
                last_code = innermost.f_code
                last_is_app = self._is_app(_module(innermost), last_code.co_filename)
            if last_is_app and innermost.f_code.co_name not in _INLINED:
                site = innermost
            tb = tb.tb_next
        frame = site or innermost
        if frame is None:
            return ""
        return f"{_module(frame)}:{function_name(frame)}"

    def text_site(self, message: str) -> tuple[str, str]:
        """The exception type and the raise site of the last traceback written in ``message``.

        For a record whose traceback is text by the time it arrives, exc_info cleared: a
        stdlib ``QueueHandler`` does that in ``prepare()``; or that the message is, as
        in ``log.error(traceback.format_exc())``. The type is as the traceback prints it
        (``KeyError``, ``shop.errors.Declined``); the site is ``module:function`` of the
        innermost application frame, the module found from the file's path and
        ``sys.path``. Not the key the live exception would get: the text has no class to
        name a method by, and a builtin's type is printed without ``builtins.``. Stable
        all the same: the same bug behind a queue keeps one key.
        """
        section = message[max(0, _frames_start(message)):]
        site = innermost = ""
        end = 0
        for frame in _FRAME_LINE.finditer(section):
            end = frame.end()
            filename, function = frame.group("file", "function")
            module = module_of_path(filename)
            innermost = f"{module}:{function}"
            if function not in _INLINED and self._is_app(module, filename):
                site = innermost
        # The exception's line is the first one after the frames that is not indented:
        # source lines, carets and "[Previous line repeated]" are.
        exc_type = ""
        for line in section[end:].splitlines():
            if line and not line[0].isspace():
                found = _EXC_TYPE.match(line)
                exc_type = found.group() if found else ""
                break
        return exc_type, site or innermost

    def _is_app(self, module: str, filename: str) -> bool:
        if self._in_app and any(module == prefix or module.startswith(prefix + ".")
                                for prefix in self._in_app):
            return True
        return not is_library(filename)


#: ``BaseExceptionGroup``, on Python 3.11 and later.
_GROUP: type[BaseException] | None = getattr(builtins, "BaseExceptionGroup", None)
#: Leaves of an exception group that take part in its key, and how deep groups are read.
MAX_GROUP_LEAVES = 8
MAX_GROUP_DEPTH = 4


def is_group(exc_type: type[BaseException] | None) -> bool:
    """Whether ``exc_type`` is an exception group's (never on Python 3.10)."""
    return _GROUP is not None and exc_type is not None and issubclass(exc_type, _GROUP)


def _leaves(exc: BaseException, depth: int, found: list[BaseException]) -> None:
    """Appends the first leaves of ``exc`` to ``found``, up to :data:`MAX_GROUP_LEAVES`."""
    if depth <= 0 or not is_group(type(exc)):
        found.append(exc)
        return
    for inner in exc.exceptions[:MAX_GROUP_LEAVES]:  # type: ignore[attr-defined]
        if len(found) >= MAX_GROUP_LEAVES:
            return
        _leaves(inner, depth - 1, found)


def _qualified(exc_type: type[BaseException]) -> str:
    return f"{exc_type.__module__}.{exc_type.__qualname__}"


#: What starts a traceback written into a message's text, on a line of its own or at the
#: start of the message (``traceback.format_exc()``).
TRACEBACK_HEADER = "Traceback (most recent call last):"


def _frames_start(message: str) -> int:
    """Where the frames of the last traceback written in ``message`` start; -1 if none."""
    at = message.rfind("\n" + TRACEBACK_HEADER)
    if at >= 0:
        return at + 1 + len(TRACEBACK_HEADER)
    return len(TRACEBACK_HEADER) if message.startswith(TRACEBACK_HEADER) else -1
#: A frame of a written traceback: '  File "/app/shop/views.py", line 12, in post'.
_FRAME_LINE = re.compile(r'^  File "(?P<file>[^"\n]+)", line \d+, in (?P<function>\S+)\r?$',
                         re.MULTILINE)
#: The type that starts an exception's line: "KeyError: 'id'", "shop.errors.Declined".
_EXC_TYPE = re.compile(r"[^\W\d][\w.]*(?=:|\s*$)")


@functools.lru_cache(maxsize=1_024)
def module_of_path(filename: str) -> str:
    """The dotted module name a file would import as, from the longest ``sys.path`` entry
    that holds it; the file's own name when none does. Never the whole path: that differs
    between hosts and releases, and the key must not.
    """
    path = os.path.normpath(filename)
    root = max((entry for entry in (os.path.join(os.path.abspath(p or os.curdir), "")
                                    for p in sys.path if isinstance(p, str))
                if path.startswith(entry)), key=len, default="")
    relative = path[len(root):] if root else os.path.basename(path)
    parts = os.path.splitext(relative)[0].split(os.sep)
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


#: Comprehensions have frames of their own up to Python 3.11 and are inlined into their
#: function from 3.12 on (PEP 709); the function is the site on every version.
_INLINED = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>"})


#: Code object -> the name :func:`function_name` found for it. Bounded: emptied when full,
#: since a name is cheap to find again and code objects may be made at run time.
_FUNCTION_NAMES: dict[CodeType, str] = {}
MAX_FUNCTION_NAMES = 4_096


def function_name(frame: FrameType) -> str:
    """``Class.method`` when ``frame`` runs a method of a class of its module's globals.

    Found by looking through the module's classes for the frame's code object, the same
    way on every Python version (``co_qualname`` exists only from 3.11 on, and its
    ``<locals>`` parts vary with the nesting); ``co_name`` otherwise.
    """
    code = frame.f_code
    name = _FUNCTION_NAMES.get(code)
    if name is None:
        owner = _owner(frame.f_globals, code)
        name = f"{owner}.{code.co_name}" if owner else code.co_name
        if len(_FUNCTION_NAMES) >= MAX_FUNCTION_NAMES:
            _FUNCTION_NAMES.clear()
        _FUNCTION_NAMES[code] = name
    return name


def _owner(module_globals: dict[str, object], code: CodeType) -> str:
    """The name of the class in ``module_globals`` that defines ``code``, or ``""``."""
    # list() copies in one step: another thread may be changing the module meanwhile.
    for value in list(module_globals.values()):
        # type(), never isinstance(): isinstance() asks an object that is not of the type
        # for its __class__, and a lazy proxy (Django's settings) would run its setup on
        # the worker. Only real functions are asked for their code, for the same reason.
        if not issubclass(type(value), type):
            continue
        owner = cast(type, value)
        if any(_defines(attribute, code, MAX_UNWRAP)
               for attribute in list(vars(owner).values())):
            return owner.__name__
    return ""


#: Wrappers and descriptors looked through to reach a method's own function.
MAX_UNWRAP = 8


def _defines(attribute: object, code: CodeType, depth: int) -> bool:
    """Whether ``attribute`` of a class dict is, or wraps, the function that runs ``code``.

    A decorated method (``transaction.atomic``, ``login_required``, any
    ``functools.wraps`` wrapper) is the wrapper in the class dict, its own function at the
    end of the ``__wrapped__`` chain. Read from each function's ``__dict__``, never by
    attribute access: an object that is not a real function is not asked anything, since
    a proxy would run its setup on the worker.
    """
    kind = type(attribute)
    if kind is FunctionType:
        function = cast(FunctionType, attribute)
        if function.__code__ is code:
            return True
        inner: tuple[object, ...] = (vars(function).get("__wrapped__"),)
    elif issubclass(kind, (staticmethod, classmethod)):
        inner = (cast(staticmethod, attribute).__func__,)  # type: ignore[type-arg]
    elif issubclass(kind, property):
        prop = cast(property, attribute)
        inner = (prop.fget, prop.fset, prop.fdel)
    elif issubclass(kind, functools.cached_property):
        inner = (cast(functools.cached_property, attribute).func,)  # type: ignore[type-arg]
    else:
        return False
    return depth > 0 and any(_defines(f, code, depth - 1) for f in inner)


def _module(frame: FrameType) -> str:
    name = frame.f_globals.get("__name__")
    return name if isinstance(name, str) else "?"


def template(data: Captured) -> str:
    """What a record without an exception is identified by.

    - ``%``-style, with arguments: the template itself, unmasked.
    - A string without arguments: the string, masked.
    - A dict (structlog through the stdlib) reaches here as its ``event``, a string
      (:func:`~incidentio_logging._structured.normalize` runs first). A dict without
      a message reaches here as a dict: what it holds, by :func:`dict_template`.
    - Any other object (``log.error(exc)``): its type and its text, masked, so that an
      object whose text varies never makes one group per value.
    """
    msg = data["msg"]
    if isinstance(msg, str):
        return str.__str__(msg) if data["args"] else mask(msg)
    if type(msg) is dict:
        return f"dict: {dict_template(msg)}"
    return f"{type(msg).__qualname__}: {mask(data['message'])}"


def dict_template(fields: dict[Any, Any]) -> str:
    """What a dict without a message says, as a template: ``error=card_declined,
    order=<*>``.

    Its keys in sorted order, each with its value: a string masked (:func:`mask`), a dict
    one level deep in braces, anything else its type's name. A value under a secret-looking
    key is ``<*>``: the key is hashed, but a short secret could be guessed back from it. At
    most :data:`MAX_DICT_VALUES` values take part.
    """
    budget = [MAX_DICT_VALUES]
    return _dict_template(fields, 1, budget)


def _dict_template(fields: dict[Any, Any], depth: int, budget: list[int]) -> str:
    parts: list[str] = []
    # The first keys only, so a huge dict costs no more than a small one; then sorted, so
    # that dicts built in another order agree.
    items = sorted(((safe_str(key)[:MAX_SCANNED], value)
                    for key, value in itertools.islice(fields.items(), MAX_DICT_VALUES)),
                   key=_first)
    for name, value in items:
        if budget[0] <= 0:
            break
        budget[0] -= 1
        if SECRET_KEY.search(name):
            text = MASK
        elif type(value) is str:
            text = mask(value)
        elif type(value) is dict and depth > 0:
            text = "{" + _dict_template(value, depth - 1, budget) + "}"
        else:
            text = type(value).__qualname__
        parts.append(f"{name}={text}")
    return ", ".join(parts)


def _first(pair: tuple[str, object]) -> str:
    return pair[0]


def label(key: Hashable) -> str:
    """A group key as stable text, for deduplication keys."""
    if isinstance(key, tuple):
        return "\x1f".join(str(part) for part in key)
    return key if isinstance(key, str) else safe_repr(key, 500)


def deduplication_key(group_key: Hashable) -> str:
    """The ``deduplication_key`` that ``dedup="fingerprint"`` sends for a group."""
    return sha256(b"fingerprint\n" + encode(label(group_key))).hexdigest()


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def _builtin_sha256() -> Callable[..., _Digest]:
    # Python's own SHA-256, not OpenSSL's (hashlib): under uWSGI a worker's exit runs
    # OpenSSL's cleanup before Python's atexit, where close() still hashes, and
    # OpenSSL's digest then crashes the process. Same digests. _sha2 on 3.12+,
    # _sha256 before; a build without either (rare) falls back to hashlib.
    for name in ("_sha2", "_sha256"):
        try:
            return cast("Callable[..., _Digest]", importlib.import_module(name).sha256)
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


#: SHA-256 that never calls into OpenSSL (see _builtin_sha256).
sha256 = _builtin_sha256()


#: The default grouping's key function.
fingerprint_key = Fingerprinter()


def fingerprint(record: logging.LogRecord) -> str:
    """The deduplication key that ``dedup="fingerprint"`` sends for ``record``'s group.

    Under the default grouping (``group_by="fingerprint"``, no ``in_app``); a handler with
    its own answers with :meth:`IncidentIOHandler.fingerprint`. Use it to tell which alert
    an error will join, or to resolve that alert from elsewhere.
    """
    return deduplication_key(fingerprint_key(plain(record)))
