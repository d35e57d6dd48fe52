"""Rule queries: each form of the syntax, clear errors, and agreement with a reference."""

from __future__ import annotations

import fnmatch
import logging
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentio_logging.rule import Term, compile_rule, parse
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
                   st.sampled_from(["A-1", "A-2", "150", "x"]), st.booleans())

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
    st.sampled_from(["m.order_id:A-1", "m.order_id:A-2", "m.amount:x"]),
    st.sampled_from(['message:~"time(d)? ?out"', 'logger:~"search$"', 'm.order_id:~"^A"']),
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
            found = subject.levelno
        elif term.field == "m":
            found = subject.__dict__.get(term.extra[0], MISSING)
            for key in term.extra[1:]:
                found = found.get(key, MISSING) if isinstance(found, dict) else MISSING
        else:
            found = getattr(subject, {"logger": "name", "module": "module",
                                      "function": "funcName"}[term.field])
        number = (float(found) if isinstance(found, (int, float))
                  and not isinstance(found, bool) and math.isfinite(found) else None)
        if term.op == "text":
            ok = isinstance(found, str) and term.value in found.lower()
        elif term.op == "regex":
            ok = found is not MISSING and term.value.search(str(found)) is not None
        elif term.op == "glob":
            ok = found is not MISSING and fnmatch.fnmatchcase(str(found), term.value)
        elif term.op == "eq":
            if found is MISSING:
                ok = False
            elif term.field == "level":
                ok = found == term.value
            else:
                try:
                    wanted: float | None = float(term.value)
                except ValueError:
                    wanted = None
                ok = (number == wanted) if (number is not None and wanted is not None
                                            and math.isfinite(wanted)) else str(found) == term.value
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
