"""``rule``: a query string that selects records, for configs that cannot hold a callable.

A subset of Logflare's LQL filter syntax. Terms are separated by spaces and all must
match (AND); a leading ``-`` negates one.

==============================  =====================================================
``timeout``                      the message contains the word (case-insensitive)
``"connection reset"``           the message contains the phrase (case-insensitive)
``logger:shop.payments``         the logger is exactly this
``logger:shop.*``                the logger matches the glob (``*`` is any text)
``level:error``                  the level is ERROR (a name or a number)
``level:~"ERR|CRIT"``            a regular expression on the level's name
``level:>=warning``              ``>``, ``>=``, ``<``, ``<=`` compare levels
``module:``, ``function:``       like ``logger:``, on the record's module and function
``message:"card declined"``      the message contains the text (case-insensitive)
``m.order_id:A-1``               the extra equals the value (numerically, if both are;
                                 ``true``/``false`` for a bool, in any case)
``m.amount:>100``                numeric comparison of an extra
``m.amount:10..20``              an inclusive numeric range
``m.user.id:7``                  a dotted path into dict extras
``message:~"time(d)? ?out"``     a regular expression search (any field), in the first
                                 :data:`MAX_REGEX_TEXT` characters
``-logger:shop.search``          negation of any term
==============================  =====================================================

An ``m.`` term with a value, a glob or a pattern reads only a str, int, float, bool or
None extra: any other object (a list, a dict, a model) never matches it, since
rendering it could cost anything, on the caller's thread.

The rule compiles once, when the handler is built; a syntax error is a ``ValueError``
saying where and what was expected. A regular expression runs on the caller's thread, so
one that can be slow is refused (see :func:`slow_construct`): a repeated group that
holds a repeat of varying length (``(a+)+``, ``(\\w+\\s?)*``) or alternatives
(``(.|\\s)*``), which take exponential time on text that almost matches; more than two
unbounded repeats (``.*.*.*=``), or two with more beside them; back-references.

A record the rule cannot read (a message whose ``__str__`` raises, an extra that no
comparison accepts) is selected: missing an alert is worse than sending one. The first
time, one line on stderr names the rule.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import operator
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._report import Reporter

__all__ = ["MAX_REGEX_TEXT"]

FIELDS = ("logger", "level", "message", "module", "function")
_ATTRIBUTES = {"logger": "name", "module": "module", "function": "funcName"}
_COMPARISONS = (">=", "<=", ">", "<")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_RANGE = re.compile(r"([-+]?[\d.eE+-]+)\.\.([-+]?[\d.eE+-]+)$")
#: Characters of a field a regular expression searches. It runs on the caller's thread:
#: the slowest pattern that :func:`slow_construct` lets through that we found
#: (``\\w*\\s?\\w*=``) took about 8 ms on this many without a match; ordinary ones take
#: microseconds.
MAX_REGEX_TEXT = 256


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
    if word in _OPERATORS:
        # Every other query language reads these as operators; read as a word, OR would
        # quietly require "or" in every message and select nothing.
        raise _error(position, f"a term, not {word}: every term must match (AND is "
                     "implied, '-' negates, OR is not supported: use two handlers; "
                     "quote the word to match it)")
    return Term(negated, None, "text", word.lower()), end


_OPERATORS = frozenset({"OR", "AND", "NOT"})


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
        return Term(negated, field, "regex", _regex(text, position + 1, pattern), extra), end
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
        number = level_number(value[len(comparison):]) if field == "level" else _number(
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
        level = level_number(value)
        if level is None:
            raise _error(at, f"a level name or number, not {value!r}")
        return Term(negated, field, "eq", level)
    if field == "message":
        return Term(negated, field, "text", value.lower())
    if not quoted and "*" in value:
        return Term(negated, field, "glob", value, extra)
    return Term(negated, field, "eq", value, extra)


#: A search pattern's leading "anything": ``.*X`` finds a match exactly where ``X`` does,
#: and ``.+X`` where ``.X`` does, but backtracks through the whole text for each start.
_LEADING_ANY = re.compile(r"(?:\.\*\??|\[\\s\\S\]\*\??)+|(\.\+\??)")


def _regex(text: str, quote_at: int, pattern: str) -> re.Pattern[str]:
    leading = _LEADING_ANY.match(pattern)
    if leading is not None:
        pattern = ("." if leading.group(1) else "") + pattern[leading.end():]
        quote_at += leading.end() - (1 if leading.group(1) else 0)
    try:
        compiled = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        # OverflowError: a{99999999999}; RecursionError: a thousand nested groups.
        raise _error(quote_at + 1, f"a valid regular expression ({exc})") from None
    hazard = slow_construct(pattern)
    if hazard is not None:
        index, expected = hazard
        raise _error(_source_position(text, quote_at, index), expected)
    return compiled


#: Ways a pattern's repeats and alternatives may split the text at one starting position:
#: a varying repeat multiplies them by its span (capped at MAX_REGEX_TEXT) plus one, and
#: alternatives add up. This allows two unbounded repeats (``.*.*``) and one ``?``, and
#: nothing more; a capture, a lazy repeat or a repeated group counts as several.
MAX_REGEX_WAYS = 2 * (MAX_REGEX_TEXT + 1) ** 2

_NESTED = ("a regular expression that does not repeat a group holding a repeat of "
           "varying length, such as (a+)+: it can take exponential time (write (a+) or "
           "a+ instead)")
_ALTERNATION = ("a regular expression that does not repeat a group of alternatives, such "
                "as (.|\\s)*: alternatives that overlap take exponential time (write a "
                "character class, [\\s\\S]* or (?s).* for anything, [ab]* for (a|b)*)")
_TOO_MANY = ("a regular expression with fewer ways to match: at most two unbounded "
             "repeats (*, +, {n,}) and one ?, with no capture (write (?:...)), lazy "
             "repeat or repeated group among them: each multiplies the time it can take")
_BACKREFERENCE = ("a regular expression without back-references (\\1, (?P=name)): "
                  "they multiply the time the repeats around them take")


def slow_construct(pattern: str) -> tuple[int, str] | None:
    """Where ``pattern`` (a valid expression) holds a construct that can be slow, and what
    was expected instead; None when it holds none.

    Refused: a repeated group (``*``, ``+``, ``{m,n}`` with n > 1) holding a repeat of
    varying length (``(a+)+``) or an alternation (``(.|\\s)*``), which let the engine
    split the same text in exponentially many ways before it gives up; repeats and
    alternatives that together allow more than :data:`MAX_REGEX_WAYS` ways (three
    unbounded repeats: ``.*.*.*=`` is quartic); and back-references. A scan, not a parse,
    so a deeply nested pattern cannot exhaust the stack.
    """
    levels = [_Level()]  # the whole pattern, then each open group
    group: _Level | None = None  # the group that just ended
    too_many: int | None = None  # where the ways first passed MAX_REGEX_WAYS
    index = 0
    while index < len(pattern):
        char, level, at = pattern[index], levels[-1], index
        quantifier = _quantifier(pattern, index)
        if quantifier is not None:
            problem = _repeat(level, group, quantifier, lazy=pattern[
                quantifier[0] - 1] == "?" and quantifier[0] - index > 1)
            if problem is not None:  # before too_many: it says more
                return index, problem
            group, index = None, quantifier[0]
        elif char == "\\":
            if pattern[index + 1:index + 2] in tuple("123456789"):
                return index, _BACKREFERENCE
            group, index = None, index + 2
        elif char == "[":
            group, index = None, _class_end(pattern, index)
        elif char == "(":
            if pattern.startswith("(?P=", index):
                return index, _BACKREFERENCE
            captures = not pattern.startswith("?", index + 1) or pattern.startswith(
                "?P<", index + 1)
            levels.append(_Level(captures=captures))
            group, index = None, _group_body(pattern, index)
        else:
            group = None
            if char == ")":
                group = levels.pop()
                levels[-1].take(group)
            elif char == "|":
                level.alternate()
            index += 1
        if too_many is None and (quantifier or char in ")|") and (
                _ways(levels) > MAX_REGEX_WAYS):
            too_many = at
    return None if too_many is None else (too_many, _TOO_MANY)


def _repeat(level: _Level, group: _Level | None, quantifier: tuple[int, int, float],
            *, lazy: bool) -> str | None:
    """Account in ``level`` for a repeat of ``group`` (None: of one character or class);
    what was expected instead when the repeat can take exponential time."""
    _, low, top = quantifier
    if top > 1 and group is not None and group.varies:
        return _NESTED
    if top > 1 and group is not None and group.alternates:
        return _ALTERNATION
    span = min(top - low, MAX_REGEX_TEXT) + 1
    # A repeated group and a lazy repeat take the engine's general path, several times
    # the cost of a greedy repeated character per step: each counts twice.
    level.ways *= span * span if group is not None or lazy else span
    level.varies = level.varies or top != low
    return None


@dataclass
class _Level:
    """What the pattern, or one open group of it, holds so far."""

    varies: bool = False  # a repeat of varying length
    alternates: bool = False  # a "|"
    finished: float = 0  # the ways of its alternatives before the current one, summed
    ways: float = 1  # the ways of the current alternative
    captures: bool = False  # a capturing group

    def alternate(self) -> None:
        self.alternates = True
        self.finished += self.ways
        self.ways = 1

    def take(self, group: _Level) -> None:
        """Account for ``group``, which just ended inside this level."""
        self.varies = self.varies or group.varies
        self.alternates = self.alternates or group.alternates
        # Capturing what a repeat matched costs the engine several times as much per step.
        self.ways *= (group.finished + group.ways) * (4 if group.captures and group.varies
                                                      else 1)


def _ways(levels: list[_Level]) -> float:
    """The ways the pattern would allow if every open group ended here."""
    ways: float = 1
    for level in reversed(levels):
        ways = level.finished + level.ways * ways
    return ways


_BRACES = re.compile(r"\{(\d*)(,?)(\d*)\}")


def _quantifier(pattern: str, index: int) -> tuple[int, int, float] | None:
    """At ``index``: the quantifier's end and its least and greatest count (inf when it
    has none); None when no quantifier starts there."""
    char = pattern[index]
    if char in "*+?":
        end, low, top = index + 1, int(char == "+"), 1 if char == "?" else math.inf
    elif char == "{" and (braces := _BRACES.match(pattern, index)) is not None:
        least, comma, most = braces.groups()
        if not (least or most):
            return None  # "{}" and "{,}" are literal text
        if not comma:
            most = least
        end, low, top = braces.end(), int(least or 0), int(most) if most else math.inf
    else:
        return None
    if end < len(pattern) and pattern[end] in "?+":  # lazy or possessive
        end += 1
    return end, low, top


def _class_end(pattern: str, index: int) -> int:
    """The index after the character class that opens at ``index``."""
    index += 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":  # a literal ] first
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


def _group_body(pattern: str, index: int) -> int:
    """The index where the group opening at ``index`` starts its content."""
    index += 1
    if not pattern.startswith("?", index):
        return index
    if pattern.startswith("?P<", index):
        return pattern.index(">", index) + 1
    if pattern.startswith(("?P=", "?#"), index):  # a back-reference or a comment: no content
        return pattern.index(")", index)
    if pattern.startswith("?(", index):  # a conditional: its content follows the test
        return pattern.index(")", index) + 1
    return index + 1 + len(re.match(r"[=!>]|<[=!]|[-aiLmsux]*:?", pattern[index + 1:])
                           .group())  # type: ignore[union-attr]


def _source_position(text: str, quote_at: int, index: int) -> int:
    """The position in ``text`` of character ``index`` of the quoted string at ``quote_at``."""
    position = quote_at + 1
    for _ in range(index):
        position += 2 if text[position] == "\\" and text[position + 1] in '"\\' else 1
    return position


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


def level_number(text: str) -> int | None:
    """A level name (any case) or number as an int; None when it names no level."""
    if text.isascii() and text.isdigit():  # "²".isdigit() is True, but int() refuses it
        return int(text)
    number = logging.getLevelName(text.upper())
    return number if isinstance(number, int) else None


def _error(position: int, expected: str) -> ValueError:
    return ValueError(f"rule: at position {position}: expected {expected}")


# Evaluation --------------------------------------------------------------------------

class Rule:
    """A compiled rule: call it on a record for True or False.

    Terms on the message run last, on a message formatted once, and only when every
    other term matched. A term that raises selects the record (see the module's notes).
    """

    __slots__ = ("_on_message", "_on_record", "_reporter", "text")

    def __init__(self, text: str) -> None:
        terms = parse(text)
        self.text = text
        self._on_record = tuple(_compile(term) for term in terms if not _on_message(term))
        self._on_message = tuple(_compile(term) for term in terms if _on_message(term))
        self._reporter = Reporter(clock=time.monotonic)

    def __call__(self, record: logging.LogRecord) -> bool:
        return self.select(record)[0]

    def select(self, record: logging.LogRecord) -> tuple[bool, str | None]:
        """Whether ``record`` matches, and its message when matching formatted it, so
        that the handler's snapshot need not format it again."""
        formatted = None
        try:
            for test in self._on_record:
                if not test(record):
                    return False, None
            if self._on_message:
                try:
                    message = formatted = record.getMessage()
                except Exception:  # noqa: BLE001 - a broken format call reads as the template
                    message = str(record.msg)  # raises when even that cannot be read
                for test in self._on_message:
                    if not test(message):
                        return False, None
        except Exception as exc:  # noqa: BLE001 - application data must not cost the alert
            self._reporter.report(
                "rule", f"rule {self.text!r} could not be evaluated on a record "
                f"({type(exc).__name__}); such records are selected, not dropped", once=True)
        return True, formatted


def compile_rule(text: str) -> Rule:
    """A predicate for ``text``, built once: each term becomes one small closure, with
    everything that can be worked out in advance (numbers, patterns) worked out."""
    return Rule(text)


_MISSING = object()


def _on_message(term: Term) -> bool:
    return term.field is None or term.field == "message"


def _compile(term: Term) -> Callable[[Any], bool]:
    """A test of a record, or of the formatted message for a term on the message."""
    match = _matcher(term)
    if _on_message(term):
        read: Callable[[Any], Any] = _same
    else:
        read = _reader(term)
    if term.negated:
        return lambda subject: not match(read(subject))
    return lambda subject: match(read(subject))


def _same(value: Any) -> Any:
    return value


def _reader(term: Term) -> Callable[[logging.LogRecord], Any]:
    if term.field == "level":
        # A pattern reads the level's name (level:~"ERR"); everything else its number.
        return operator.attrgetter("levelname" if term.op == "regex" else "levelno")
    if term.field == "m":
        head, rest = term.extra[0], term.extra[1:]
        if not rest:
            return lambda record: record.__dict__.get(head, _MISSING)
        return lambda record: extra_of(record, term.extra)
    attribute = _ATTRIBUTES[term.field or ""]
    return lambda record: getattr(record, attribute, _MISSING)


def _matcher(term: Term) -> Callable[[Any], bool]:
    op, value = term.op, term.value
    if op == "text":
        return lambda found: isinstance(found, str) and value in found.lower()
    if op == "regex":
        return lambda found: ((text := _text(found)) is not None
                              and value.search(text[:MAX_REGEX_TEXT]) is not None)
    if op == "glob":
        pattern = re.compile(fnmatch.translate(value))
        return lambda found: (text := _text(found)) is not None and (
            pattern.match(text) is not None)
    if op == "eq":
        if term.field == "level":
            return lambda found: bool(found == value)
        return _equals(value)
    if op == "range":
        low, high = value
        return lambda found: (number := as_number(found)) is not None and low <= number <= high
    compare: Callable[[float, float], bool] = {
        ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}[op]
    if term.field == "level":
        return lambda found: compare(found, value)
    return lambda found: (number := as_number(found)) is not None and compare(number, value)


def _equals(value: str) -> Callable[[Any], bool]:
    """An extra equal to ``value``: as a number when both are, true/false for a bool."""
    wanted = _number(value)
    truth = {"true": True, "false": False}.get(value.lower())

    def equals(found: Any) -> bool:
        if wanted is not None and (number := as_number(found)) is not None:  # never a bool
            return number == wanted
        if isinstance(found, bool):
            return found is truth
        return _text(found) == value

    return equals


def extra_of(record: logging.LogRecord, path: tuple[str, ...]) -> Any:
    """The extra at a dotted path through dicts, or a marker when absent."""
    value: Any = record.__dict__.get(path[0], _MISSING)
    for key in path[1:]:
        value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
    return value


def as_number(value: Any) -> float | None:
    """An int or float (not a bool) as a float, else None.

    An int too large for a float (10**400) reads as an infinity of its sign, so it still
    compares correctly; an infinite or NaN float reads as None.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
    return number if math.isfinite(number) else None


#: Bits of the largest int that a text term reads (about 1,000 digits): in Python 3.10,
#: str() of an int takes time quadratic in its digits.
_MAX_INT_BITS = 3_400


def _text(value: Any) -> str | None:
    """A scalar extra as text, or None for anything else.

    Only str, int, float, bool and None are read: str() of a container or an arbitrary
    object runs application code of unbounded cost (a parsed JSON reply, shared
    references) on the caller's thread, so such an extra never matches a text term.
    """
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return float.__repr__(value)  # a subclass's own __str__ is application code
    if isinstance(value, int) and value.bit_length() <= _MAX_INT_BITS:
        return int.__repr__(value)
    return None
