"""Rule queries: each form of the syntax, clear errors, and agreement with a reference."""

from __future__ import annotations

import fnmatch
import logging
import math
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentio_logging.rule import MAX_REGEX_TEXT, Term, compile_rule, parse
from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler


def record(name: str = "shop.payments", level: int = logging.ERROR,
           msg: str = "Connection timed out for %s", args: tuple[Any, ...] = ("A-1",),
           **extra: Any) -> logging.LogRecord:
    return logging.getLogger(name).makeRecord(name, level, "pay.py", 1, msg, args, None,
                                              func="charge", extra=extra)


@pytest.mark.parametrize(("rule", "matches"), [
    ("timed", True), ("TIMED", True), ("timeout", False), ('"connection timed"', True),
    ("logger:shop.payments", True), ("logger:shop", False), ("logger:shop.*", True),
    ("logger:other.*", False), ("level:error", True), ("level:40", True),
    ("level:>=warning", True), ("level:>error", False), ("level:<=critical", True),
    ("module:pay", True), ("function:charge", True), ("function:ch*", True),
    ('message:"out for a-1"', True), ("m.order_id:A-1", True), ("m.order_id:A-2", False),
    ("m.amount:150", True), ("m.amount:>100", True), ("m.amount:<=100", False),
    ("m.amount:100..200", True), ("m.amount:10..20", False), ("m.user.id:7", True),
    ("m.user.name:ada", False), ("m.missing:x", False), ("-m.missing:x", True),
    ('message:~"time(d)? ?out"', True), ('logger:~"^shop\\\\."', True),
    ("-logger:shop.search", True), ("-logger:shop.payments", False),
    ("logger:shop.* level:>=error timed", True), ("logger:shop.* level:>=error -timed", False),
])
def test_each_form_of_the_syntax(rule: str, matches: bool) -> None:
    """Every documented form, against one record."""
    subject = record(order_id="A-1", amount=150, user={"id": 7})
    assert compile_rule(rule)(subject) is matches


@pytest.mark.parametrize(("rule", "position", "expected"), [
    ("", None, "at least one term"),
    ("foo:bar", 0, "a field"),
    ("logger:", 7, "a value after 'logger:'"),
    ("level:>=loud", 8, "a level after '>='"),
    ("m.amount:>x", 10, "a number after '>'"),
    ('message:~"("', 10, "a valid regular expression"),
    ('timed "unterminated', 6, "a closing '\"'"),
    ("timed -", 7, "a term after '-'"),
    ("m.amount:1..x", 9, "a range of two numbers"),
    ("logger:>shop", 7, "a plain value for logger:"),
    ('"closed"quote', 8, "a space or the end"),
])
def test_syntax_errors_say_where_and_what(rule: str, position: int | None,
                                          expected: str) -> None:
    """A ValueError naming the position and what was expected there."""
    with pytest.raises(ValueError, match=re.escape(expected)) as caught:
        parse(rule)
    if position is not None:
        assert f"rule: at position {position}:" in str(caught.value)


def test_the_handler_takes_a_rule(make_handler: MakeHandler, receiver: LocalReceiver,
                                  logger: logging.Logger) -> None:
    """Only matching records are sent; with no level, the rule alone decides."""
    handler = make_handler(rule="m.amount:>100 -declined")
    assert handler.level == logging.NOTSET
    logger.addHandler(handler)
    logger.info("big payment", extra={"amount": 500})
    logger.error("small payment", extra={"amount": 5})
    logger.error("big payment declined", extra={"amount": 900})
    assert handler.flush(5)
    assert [r["message"] for e in receiver.events for r in e.records] == ["big payment"]


def test_a_rule_and_a_predicate_must_both_match(make_handler: MakeHandler,
                                                receiver: LocalReceiver,
                                                logger: logging.Logger) -> None:
    """Combined, both decide."""
    handler = make_handler(rule="level:>=warning", predicate=lambda r: "keep" in r.msg)
    logger.addHandler(handler)
    logger.warning("keep this")
    logger.warning("drop this")
    logger.info("keep, but too quiet")
    assert handler.flush(5)
    assert [r["message"] for e in receiver.events for r in e.records] == ["keep this"]


def test_a_bad_rule_fails_at_construction(make_handler: MakeHandler) -> None:
    """The error comes when the handler is built, not at the first record."""
    with pytest.raises(ValueError, match="rule: at position 0"):
        make_handler(rule="nosuchfield:x")


# Property tests -------------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('abm.:~"-><=*\\ 019()[]?lgvrsoe')), max_size=40)
       | st.text(max_size=40))
def test_the_parser_never_crashes(text: str) -> None:
    """Any string gives terms or a clean ValueError, never another exception."""
    try:
        terms = parse(text)
    except ValueError as exc:
        message = str(exc)
    else:
        assert terms
        return
    assert message.startswith("rule")


NAMES = ["shop.payments", "shop.search", "shop", "billing.invoices"]
WORDS = ["timeout", "timed", "out", "card", "declined", "A-1"]
VALUES = st.one_of(st.integers(-50, 300), st.floats(-50, 300, allow_nan=False),
                   st.sampled_from(["A-1", "A-2", "150", "x"]), st.booleans(), st.none(),
                   st.sampled_from([["A-1"], ("x",), {"A-1"}]))

TERM = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda w: f'"{w} "'.replace(' "', '"')),
    st.sampled_from(["logger:shop.payments", "logger:shop.*", "logger:billing.*",
                     "logger:shop", "module:pay", "function:ch*"]),
    st.tuples(st.sampled_from(["", ">", ">=", "<", "<="]),
              st.sampled_from(["debug", "info", "warning", "error", "critical", "25"]))
    .map(lambda t: f"level:{t[0]}{t[1]}"),
    st.tuples(st.sampled_from(["amount", "order_id", "user.id", "missing"]),
              st.sampled_from(["", ">", ">=", "<", "<="]), st.integers(-10, 300))
    .map(lambda t: f"m.{t[0]}:{t[1]}{t[2]}"),
    st.tuples(st.sampled_from(["amount", "user.id"]), st.integers(-10, 150),
              st.integers(0, 200)).map(lambda t: f"m.{t[0]}:{t[1]}..{t[1] + t[2]}"),
    st.sampled_from(["m.order_id:A-1", "m.order_id:A-2", "m.amount:x", "m.order_id:true",
                     "m.amount:FALSE"]),
    st.sampled_from(['message:~"time(d)? ?out"', 'logger:~"search$"', 'm.order_id:~"^A"',
                     'level:~"ERR|WARN"', 'level:~"^4"']),
)
RULES = st.lists(st.tuples(st.booleans(), TERM).map(lambda t: ("-" if t[0] else "") + t[1]),
                 min_size=1, max_size=4).map(" ".join)


@st.composite
def records(draw: st.DrawFn) -> logging.LogRecord:
    extra: dict[str, Any] = {}
    for key in ("amount", "order_id"):
        if draw(st.booleans()):
            extra[key] = draw(VALUES)
    if draw(st.booleans()):
        extra["user"] = {"id": draw(VALUES)}
    words = draw(st.lists(st.sampled_from(WORDS), max_size=4))
    return record(name=draw(st.sampled_from(NAMES)),
                  level=draw(st.sampled_from([10, 20, 25, 30, 40, 50])),
                  msg=" ".join(words), args=(), **extra)


MISSING = object()


def reference(terms: list[Term], subject: logging.LogRecord) -> bool:
    """The meaning of a parsed rule, written out plainly."""
    for term in terms:
        if term.field is None or term.field == "message":
            found: Any = subject.getMessage()
        elif term.field == "level":
            found = subject.levelname if term.op == "regex" else subject.levelno
        elif term.field == "m":
            found = subject.__dict__.get(term.extra[0], MISSING)
            for key in term.extra[1:]:
                found = found.get(key, MISSING) if isinstance(found, dict) else MISSING
        else:
            found = getattr(subject, {"logger": "name", "module": "module",
                                      "function": "funcName"}[term.field])
        text = (found if isinstance(found, str) else str(found)
                if found is None or isinstance(found, (bool, int, float)) else None)
        number = (float(found) if isinstance(found, (int, float))
                  and not isinstance(found, bool) and math.isfinite(found) else None)
        if term.op == "text":
            ok = isinstance(found, str) and term.value in found.lower()
        elif term.op == "regex":
            ok = text is not None and term.value.search(text) is not None
        elif term.op == "glob":
            ok = text is not None and fnmatch.fnmatchcase(text, term.value)
        elif term.op == "eq":
            if found is MISSING:
                ok = False
            elif isinstance(found, bool):
                ok = term.value.lower() == str(found).lower()
            elif term.field == "level":
                ok = found == term.value
            else:
                try:
                    wanted: float | None = float(term.value)
                except ValueError:
                    wanted = None
                ok = (number == wanted) if (number is not None and wanted is not None
                                            and math.isfinite(wanted)) else text == term.value
        elif term.op == "range":
            ok = number is not None and term.value[0] <= number <= term.value[1]
        else:
            ok = number is not None and {
                ">": number > term.value, ">=": number >= term.value,
                "<": number < term.value, "<=": number <= term.value}[term.op]
        if ok == term.negated:
            return False
    return True


@settings(max_examples=600, deadline=None)
@given(RULES, records())
def test_the_compiled_rule_agrees_with_the_reference(rule: str,
                                                     subject: logging.LogRecord) -> None:
    """Closures built once give what reading the terms plainly gives."""
    assert compile_rule(rule)(subject) is reference(parse(rule), subject)


# Reading application data: the rule selects what it cannot read, and says so once ---------

class Unprintable:
    """A message object whose __str__ raises, as a lazy proxy can."""

    def __str__(self) -> str:
        raise RuntimeError("proxy not bound")


class Counted:
    """A message object that counts how often it is formatted."""

    calls = 0

    def __str__(self) -> str:
        Counted.calls += 1
        return "timeout on card A-1 declined"


def test_a_message_that_cannot_be_read_selects_the_record_and_says_so_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Fail open: missing an alert is worse than sending one; one line, naming the rule."""
    rule = compile_rule("logger:shop.* timeout")
    assert rule(record(msg=Unprintable(), args=())) is True  # type: ignore[arg-type]
    assert rule(record(msg=Unprintable(), args=())) is True  # type: ignore[arg-type]
    assert rule(record(name="other", msg=Unprintable(), args=())) is False  # type: ignore[arg-type]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "logger:shop.* timeout" in lines[0] and "selected" in lines[0]


def test_an_unreadable_record_through_the_handler_is_delivered_not_lost(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The record reaches incident.io; stderr blames the rule, not a predicate."""
    handler = make_handler(rule="timeout")
    logger.addHandler(handler)
    logger.error(Unprintable())
    assert handler.flush(5)
    assert handler.stats()["records_delivered"] == 1
    assert len(receiver.events) == 1
    err = capsys.readouterr().err
    assert "rule 'timeout'" in err and "predicate" not in err


@pytest.mark.parametrize(("rule", "matches"), [
    ("m.amount:>100", True), ("m.amount:<100", False), ("m.amount:1..2", False),
    ("m.amount:5", False), ("m.debt:<0", True),
])
def test_an_int_too_large_for_a_float_still_compares(rule: str, matches: bool) -> None:
    """10**400 raised OverflowError; it compares as the huge number it is."""
    assert compile_rule(rule)(record(amount=10**400, debt=-(10**400))) is matches


# Regular expressions: bounded text, no nested quantifiers ---------------------------------

@pytest.mark.parametrize(("rule", "position"), [
    ('message:~"(a+)+$"', 14),
    ('message:~"\\"(a+)+"', 16),
    ('m.x:~"(\\w+\\s?)*"', 14),
    ('message:~"(?:a*)*"', 16),
    ('message:~"((a)+)+"', 16),
    ('message:~"(a{1,3}){2,}"', 18),
    ('message:~"(?P<word>x|a+?)+"', 25),
])
def test_a_regex_with_nested_quantifiers_is_refused_saying_where(rule: str,
                                                                 position: int) -> None:
    """(a+)+$ took 1.47 s on a 25-character message, on the caller's thread."""
    with pytest.raises(ValueError, match=f"rule: at position {position}: .*exponential"):
        parse(rule)


@pytest.mark.parametrize("pattern", [
    "(ab)+", "(a+)?", "(a{2})+", "[(a+)]+", "\\\\(a+\\\\)+", "(?i)time(d)? ?out",
    "(?P<id>A-\\\\d) [xy]*", "(?=a+)b*", "a+b*(c|d)", "(a+){1}", "(\\\\d+\\\\.)?x",
    "(x)?(?(1)a|b)", "(a|b)?c", "(?:x|y){1}", "timeout.*retry.*", "(?s).*timeout",
    "[\\\\s\\\\S]*timeout", "\\\\d{1,3}\\\\.\\\\d{1,3}\\\\.\\\\d{1,3}\\\\.\\\\d{1,3}",
    "a{0,32}b{0,32}c{0,32}", ".*\\\\s?.*", "[|]+x+", "a\\\\|b*c*", "\\\\0",
])
def test_regexes_without_nested_quantifiers_are_accepted(pattern: str) -> None:
    (term,) = parse(f'message:~"{pattern}"')
    assert term.op == "regex"


@pytest.mark.parametrize(("rule", "position", "expected"), [
    ('message:~"(.|\\\\s)*timeout"', 17, "group of alternatives.*\\[\\\\s\\\\S\\]"),
    ('message:~"(a|b)+"', 15, "group of alternatives"),
    ('message:~"(?:x|y){2,}"', 17, "group of alternatives"),
    ('message:~"((a|b)c)*"', 18, "group of alternatives"),
    ('message:~"(x)?(?(1)a|b)+"', 23, "group of alternatives"),
    ('message:~"x.*.*.*="', 16, "at most two unbounded"),
    ('message:~"x.*.*.*.*="', 16, "at most two unbounded"),
    ('message:~"a+b+c+"', 15, "at most two unbounded"),
    ('message:~".{0,40}.{0,40}.{0,40}.{0,40}"', 32, "at most two unbounded"),
    ('message:~"(x)\\\\1"', 13, "back-references"),
    ('message:~"(?P<n>x)(?P=n)"', 18, "back-references"),
    ('message:~"x.*(.*)="', 16, "no capture"),
    ('message:~"(.)*.*="', 15, "repeated group"),
    ('message:~"x.*?.*?="', 15, "lazy"),
    ('message:~"' + "a?" * 21 + '"', 45, "fewer ways to match"),
    ('message:~"(.*|.*)(.*|.*)="', 19, "fewer ways to match"),
])
def test_a_regex_that_can_take_polynomial_or_exponential_time_is_refused(
        rule: str, position: int, expected: str) -> None:
    """(.|\\s)*timeout took 2.8 s on 24 spaces (40 s on 120 characters); .*.*.*.*= 2.2 s
    on 200 characters; (.*).*\\1= 1.4 s on 500: all on the caller's thread."""
    with pytest.raises(ValueError, match=f"^rule: at position {position}: expected .*{expected}"):
        parse(rule)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("pattern", [r"(.|\\\\s)*timeout", r"x.*.*.*.*="])
def test_a_rule_regex_with_overlapping_alternatives_cannot_hang_the_logging_call(
        pattern: str) -> None:
    """A repeated group of overlapping alternatives backtracks 2**n ways (n the spaces in
    the text): the handler refuses the rule when it is built, in a fresh process."""
    code = f"""
import sys
from incidentio_logging import IncidentIOHandler
try:
    IncidentIOHandler(api_token="t" * 20, alert_source_config_id="src",
                      endpoint="http://127.0.0.1:9", rule='message:~"{pattern}"')
except ValueError as exc:
    print(exc)
    sys.exit(0)
sys.exit(1)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=20, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("rule: at position ")


def test_a_regex_sees_only_the_first_max_regex_text_characters() -> None:
    """The cap bounds what a slow pattern can cost; plain text terms see everything."""
    inside = record(msg="a" * (MAX_REGEX_TEXT - 1) + "x", args=())
    beyond = record(msg="a" * MAX_REGEX_TEXT + "x", args=())
    assert compile_rule('message:~"x"')(inside) is True
    assert compile_rule('message:~"x"')(beyond) is False
    assert compile_rule("x")(beyond) is True


# Semantics as the README's table states them ---------------------------------------------

@pytest.mark.parametrize(("rule", "level", "matches"), [
    ('level:~"ERR"', logging.ERROR, True), ('level:~"ERR"', logging.WARNING, False),
    ('level:~"40"', logging.ERROR, False), ('level:~"^(ERROR|CRITICAL)$"', 50, True),
    ('-level:~"WARN"', logging.ERROR, True),
])
def test_a_level_regex_reads_the_level_name(rule: str, level: int, matches: bool) -> None:
    assert compile_rule(rule)(record(level=level)) is matches


@pytest.mark.parametrize(("rule", "value", "matches"), [
    ("m.retry:true", True, True), ("m.retry:TRUE", True, True), ("m.retry:false", False, True),
    ("m.retry:true", False, False), ("m.retry:false", True, False),
    ("m.retry:1", True, False), ("m.retry:true", "true", True), ("m.retry:true", 1, False),
])
def test_a_bool_extra_equals_true_or_false(rule: str, value: object, matches: bool) -> None:
    assert compile_rule(rule)(record(retry=value)) is matches


def test_the_message_is_formatted_once_however_many_terms_read_it() -> None:
    """A 4-term rule formatted the message 4 times (5 with the capture)."""
    Counted.calls = 0
    rule = compile_rule('timeout card -refund message:~"A-\\d"')
    assert rule(record(msg=Counted(), args=())) is True  # type: ignore[arg-type]
    assert Counted.calls == 1


def test_through_the_handler_a_record_is_formatted_once_in_all(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """The rule's formatted message is the one the snapshot keeps: once per record, not
    once for the rule and again for the capture."""
    handler = make_handler(rule='timeout card -refund message:~"A-\\d"')
    logger.addHandler(handler)
    Counted.calls = 0
    logger.error(Counted())
    assert Counted.calls == 1
    assert handler.flush(5)
    assert [r["message"] for e in receiver.events for r in e.records] == [
        "timeout on card A-1 declined"]


def test_the_message_is_not_formatted_when_another_term_refuses() -> None:
    Counted.calls = 0
    assert compile_rule("timeout logger:other")(record(msg=Counted(), args=())) is False  # type: ignore[arg-type]
    assert Counted.calls == 0


@pytest.mark.parametrize(("rule", "position"), [
    ('message:~"a{99999999999}"', 10),
    ('message:~"' + "(" * 1200 + "a" + ")" * 1200 + '"', 10),
    ("level:\u00b2", 6),
    ("level:>=\u00b2", 8),
])
def test_bad_values_are_value_errors_with_a_position(rule: str, position: int) -> None:
    """OverflowError, RecursionError and a bare int() error became ValueErrors saying where."""
    with pytest.raises(ValueError, match=f"^rule: at position {position}: "):
        parse(rule)


# Extras a text term reads: scalars only ------------------------------------------------

class Leaf:
    """An element that counts how often it is rendered."""

    calls = 0

    def __repr__(self) -> str:
        Leaf.calls += 1
        return "timeout"

    __str__ = __repr__


def shared(levels: int, width: int = 100) -> list[Any]:
    """width ** (levels + 1) leaves through shared references, from a few hundred lists."""
    value: list[Any] = [Leaf()] * width
    for _ in range(levels):
        value = [value] * width
    return value


@pytest.mark.timeout(30)
@pytest.mark.parametrize("rule", ['m.rows:~"timeout"', "m.rows:timeout", "m.rows:time*"])
def test_a_rule_term_on_an_extra_does_not_stringify_all_of_it_on_the_callers_thread(
        make_handler: MakeHandler, logger: logging.Logger, rule: str) -> None:
    """str() of a container extra ran inside logger.error(): 10**6 reprs of shared
    references (a parsed JSON reply is the common case). A container never matches."""
    handler = make_handler(rule=rule)
    logger.addHandler(handler)
    Leaf.calls = 0
    logger.error("export failed", extra={"rows": shared(2)})
    assert Leaf.calls == 0, f"{Leaf.calls:,} reprs inside one logging call"
    assert handler.stats()["records_pending"] == 0  # not selected: a container never matches


class Loud(int):
    """An int whose own __str__ (application code) says something else."""

    def __str__(self) -> str:
        return "999"


@pytest.mark.parametrize(("rule", "value", "matches"), [
    ("m.x:timeout", "timeout", True), ('m.x:~"^time"', "timeout", True),
    ("m.x:time*", "timeout", True), ("m.x:1.5", 1.5, True), ("m.x:1*", 150, True),
    ('m.x:~"^15"', 150, True), ("m.x:None", None, True), ("m.x:Tr*", True, True),
    ("m.x:7*", Loud(75), True), ("m.x:2*", 2**4000, False),
    ("m.x:timeout", ["timeout"], False), ("m.x:time*", ("timeout",), False),
    ('m.x:~"timeout"', {"k": "timeout"}, False), ('m.x:~"timeout"', Leaf(), False),
    ("m.x:timeout", b"timeout", False), ("-m.x:timeout", ["timeout"], True),
])
def test_text_terms_read_only_scalar_extras(rule: str, value: object, matches: bool) -> None:
    """str, int, float, bool and None are read as text; a container, bytes or any other
    object never matches an =, glob or regex term (and its negation always does)."""
    Leaf.calls = 0
    assert compile_rule(rule)(record(x=value)) is matches
    assert Leaf.calls == 0


@pytest.mark.parametrize("rule", ["level:critical OR level:error", "level:>=error AND -timeout",
                                  "NOT timeout"])
def test_a_boolean_operator_is_refused_not_read_as_a_word(rule: str) -> None:
    """Read as a word, "OR" would require "or" in every message: a rule that quietly
    selects nothing. Refused at construction, naming the operator; quoted, it is a word."""
    word = next(w for w in ("OR", "AND", "NOT") if w in rule.split())
    with pytest.raises(ValueError, match=f"not {word}"):
        compile_rule(rule)
    assert compile_rule(f'"{word}" timeout')(record(msg="OR AND NOT timeout", args=())) is True


@pytest.mark.parametrize(("pattern", "runs_as"), [
    (r".*\\w+=", r"\w+="), (r".*?.*x", "x"), (r"[\\s\\S]*[\\s\\S]*=", "="), (r".+x", ".x"),
    (r"a.*b", "a.*b")])
def test_a_leading_anything_is_dropped_from_a_search(pattern: str, runs_as: str) -> None:
    """A search for ".*X" matches where one for "X" does, after backtracking through the
    whole text at every start: the leading part is dropped, and the result is the same."""
    (term,) = parse(f'message:~"{pattern}"')
    assert term.value.pattern == runs_as
    for text in ("k=v", "a b x", "nothing", "ax", "x", "=", "a\nb"):
        assert bool(term.value.search(text)) is bool(re.search(
            pattern.replace("\\\\", "\\"), text))


@pytest.mark.parametrize("text", ["error", "Warning", "15", "0", "CRITICAL", "²", "-5", "loud"])
def test_the_level_option_and_a_level_term_read_a_level_alike(
        make_handler: MakeHandler, text: str) -> None:
    """One parser for both: the level option takes what ``level:`` takes, as the same
    number, and refuses what it refuses."""
    try:
        term = parse(f"level:{text}")[0]
    except ValueError:
        with pytest.raises(ValueError, match="is not a known logging level"):
            make_handler(level=text)
        return
    assert make_handler(level=text).level == term.value
