"""``rule``: a query string that selects records, for configs that cannot hold a callable.

A subset of Logflare's LQL filter syntax. Terms are separated by spaces and all must
match (AND); a leading ``-`` negates one.

==============================  =====================================================
``timeout``                      the message contains the word (case-insensitive)
``"connection reset"``           the message contains the phrase (case-insensitive)
``logger:shop.payments``         the logger is exactly this
``logger:shop.*``                the logger matches the glob (``*`` is any text)
``level:error``                  the level is ERROR (a name or a number)
``level:>=warning``              ``>``, ``>=``, ``<``, ``<=`` compare levels
``module:``, ``function:``       like ``logger:``, on the record's module and function
``message:"card declined"``      the message contains the text (case-insensitive)
``m.order_id:A-1``               the extra equals the value (numerically, if both are)
``m.amount:>100``                numeric comparison of an extra
``m.amount:10..20``              an inclusive numeric range
``m.user.id:7``                  a dotted path into dict extras
``message:~"time(d)? ?out"``     a regular expression search (any field)
``-logger:shop.search``          negation of any term
==============================  =====================================================

The rule compiles once, when the handler is built; a syntax error is a ``ValueError``
saying where and what was expected.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FIELDS = ("logger", "level", "message", "module", "function")
_ATTRIBUTES = {"logger": "name", "module": "module", "function": "funcName"}
_COMPARISONS = (">=", "<=", ">", "<")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_RANGE = re.compile(r"([-+]?[\d.eE+-]+)\.\.([-+]?[\d.eE+-]+)$")


@dataclass(frozen=True)
class Term:
    """One parsed term. ``field`` is None for free text; ``extra`` is the path after m."""

    negated: bool
    field: str | None
    op: str  # text, eq, glob, regex, >, >=, <, <=, range
    value: Any
    extra: tuple[str, ...] = ()


def parse(text: str) -> list[Term]:
    """The terms of ``text``; ValueError naming the position and what was expected."""
    if not isinstance(text, str):
        raise TypeError(f"rule must be a string, not {type(text).__name__}")
    terms: list[Term] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            break
        term, position = _term(text, position)
        terms.append(term)
    if not terms:
        raise ValueError("rule is empty: expected at least one term")
    return terms


def _term(text: str, start: int) -> tuple[Term, int]:
    position = start
    negated = text[position] == "-"
    if negated:
        position += 1
        if position == len(text) or text[position].isspace():
            raise _error(position, "a term after '-'")
    if text[position] == '"':
        phrase, position = _quoted(text, position)
        return Term(negated, None, "text", phrase.lower()), position
    name = _NAME.match(text, position)
    if name is not None and name.end() < len(text) and text[name.end()] == ":":
        return _field_term(text, negated, name.group(), name.start(), name.end() + 1)
    end = _word_end(text, position)
    word = text[position:end]
    if '"' in word or ":" in word:
        raise _error(position, "free text without ':' or '\"' (quote it: \"...\")")
    return Term(negated, None, "text", word.lower()), end


def _field_term(text: str, negated: bool, name: str, name_at: int,
                position: int) -> tuple[Term, int]:
    if name.startswith("m."):
        field, extra = "m", tuple(name[2:].split("."))
        if not all(extra):
            raise _error(name_at, "an extra's name after 'm.'")
    elif name in FIELDS:
        field, extra = name, ()
    else:
        raise _error(name_at, f"a field ({', '.join(FIELDS)}, or m.<extra>), not {name!r}")
    if position == len(text) or text[position].isspace():
        raise _error(position, f"a value after '{name}:'")
    if text[position] == "~":
        if position + 1 == len(text) or text[position + 1] != '"':
            raise _error(position + 1, 'a quoted regular expression after "~"')
        pattern, end = _quoted(text, position + 1)
        try:
            return Term(negated, field, "regex", re.compile(pattern), extra), end
        except re.error as exc:
            raise _error(position + 2, f"a valid regular expression ({exc})") from None
    if text[position] == '"':
        value, end = _quoted(text, position)
        return _value_term(negated, field, extra, value, quoted=True, at=position), end
    end = _word_end(text, position)
    return _value_term(negated, field, extra, text[position:end], quoted=False,
                       at=position), end


def _value_term(negated: bool, field: str, extra: tuple[str, ...], value: str, *,
                quoted: bool, at: int) -> Term:
    comparison = next((op for op in _COMPARISONS if value.startswith(op)), None)
    if not quoted and comparison is not None:
        if field not in ("level", "m"):
            raise _error(at, f"a plain value for {field}: (comparisons are for level and m.)")
        number = _level(value[len(comparison):]) if field == "level" else _number(
            value[len(comparison):])
        if number is None:
            raise _error(at + len(comparison), f"a {'level' if field == 'level' else 'number'}"
                                               f" after '{comparison}'")
        return Term(negated, field, comparison, number, extra)
    if not quoted and field == "m" and ".." in value:
        span = _RANGE.match(value)
        low, high = (_number(span.group(1)), _number(span.group(2))) if span else (None, None)
        if low is None or high is None:
            raise _error(at, "a range of two numbers, like 10..20 (or quote the text)")
        return Term(negated, field, "range", (low, high), extra)
    if field == "level":
        level = _level(value)
        if level is None:
            raise _error(at, f"a level name or number, not {value!r}")
        return Term(negated, field, "eq", level)
    if field == "message":
        return Term(negated, field, "text", value.lower())
    if not quoted and "*" in value:
        return Term(negated, field, "glob", value, extra)
    return Term(negated, field, "eq", value, extra)


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The string in quotes at ``start`` (``\\"`` and ``\\\\`` escape), and the end."""
    chars: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text) and text[position + 1] in '"\\':
            chars.append(text[position + 1])
            position += 2
        elif char == '"':
            end = position + 1
            if end < len(text) and not text[end].isspace():
                raise _error(end, "a space or the end after the closing quote")
            return "".join(chars), end
        else:
            chars.append(char)
            position += 1
    raise _error(start, "a closing '\"' for the quote that starts here")


def _word_end(text: str, position: int) -> int:
    while position < len(text) and not text[position].isspace():
        position += 1
    return position


def _number(text: str) -> float | None:
    if not _NUMBER.match(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _level(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    number = logging.getLevelName(text.upper())
    return number if isinstance(number, int) else None


def _error(position: int, expected: str) -> ValueError:
    return ValueError(f"rule: at position {position}: expected {expected}")


# Evaluation --------------------------------------------------------------------------

def compile_rule(text: str) -> Callable[[logging.LogRecord], bool]:
    """A predicate for ``text``, built once: each term becomes one small closure, with
    everything that can be worked out in advance (numbers, patterns) worked out."""
    tests = tuple(_compile(term) for term in parse(text))

    def rule(record: logging.LogRecord) -> bool:
        for test in tests:  # noqa: SIM110 - a loop, not all(): no generator per record
            if not test(record):
                return False
        return True

    return rule


_MISSING = object()


def _compile(term: Term) -> Callable[[logging.LogRecord], bool]:
    read = _reader(term)
    match = _matcher(term)
    if term.negated:
        return lambda record: not match(read(record))
    return lambda record: match(read(record))


def _reader(term: Term) -> Callable[[logging.LogRecord], Any]:
    if term.field is None or term.field == "message":
        return message_of
    if term.field == "level":
        return operator.attrgetter("levelno")
    if term.field == "m":
        head, rest = term.extra[0], term.extra[1:]
        if not rest:
            return lambda record: record.__dict__.get(head, _MISSING)
        return lambda record: extra_of(record, term.extra)
    attribute = _ATTRIBUTES[term.field]
    return lambda record: getattr(record, attribute, _MISSING)


def _matcher(term: Term) -> Callable[[Any], bool]:
    op, value = term.op, term.value
    if op == "text":
        return lambda found: isinstance(found, str) and value in found.lower()
    if op == "regex":
        return lambda found: found is not _MISSING and value.search(_text(found)) is not None
    if op == "glob":
        pattern = re.compile(fnmatch.translate(value))
        return lambda found: found is not _MISSING and pattern.match(_text(found)) is not None
    if op == "eq":
        if term.field == "level":
            return lambda found: bool(found == value)
        wanted = _number(value)
        if wanted is None:
            return lambda found: found is not _MISSING and _text(found) == value
        return lambda found: (found is not _MISSING and (
            number == wanted if (number := as_number(found)) is not None
            else _text(found) == value))
    if op == "range":
        low, high = value
        return lambda found: (number := as_number(found)) is not None and low <= number <= high
    compare: Callable[[float, float], bool] = {
        ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}[op]
    if term.field == "level":
        return lambda found: compare(found, value)
    return lambda found: (number := as_number(found)) is not None and compare(number, value)


def message_of(record: logging.LogRecord) -> str:
    """The formatted message; a broken format call reads as the bare template."""
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - the logging call must not fail over a rule
        return str(record.msg)


def extra_of(record: logging.LogRecord, path: tuple[str, ...]) -> Any:
    """The extra at a dotted path through dicts, or a marker when absent."""
    value: Any = record.__dict__.get(path[0], _MISSING)
    for key in path[1:]:
        value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
    return value


def as_number(value: Any) -> float | None:
    """A finite int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:  # noqa: BLE001
        return ""
