"""Fingerprints and windows: which records share an event, and what a full group does."""

from __future__ import annotations

import logging

from incidentio_logging._record import capture
from incidentio_logging.grouping import Window, fingerprint_key, key_function

from .conftest import exc_info_of


def record(name: str = "shop", msg: str = "order %s failed", arg: object = "A-1",
           level: int = logging.ERROR, exc: type[BaseException] | None = None) -> logging.LogRecord:
    exc_info = exc_info_of(exc("x")) if exc is not None else None
    return logging.getLogger(name).makeRecord(name, level, "f.py", 1, msg, (arg,), exc_info)


def test_the_fingerprint_ignores_arguments_but_not_the_template() -> None:
    """Same logger, level, template and exception type: same group, whatever the args."""
    def fingerprint(rec: logging.LogRecord) -> object:
        return fingerprint_key(capture(rec))

    assert fingerprint(record(arg="A-1")) == fingerprint(record(arg="B-2"))
    assert fingerprint(record()) != fingerprint(record(msg="refund %s failed"))
    assert fingerprint(record()) != fingerprint(record(name="shop.other"))
    assert fingerprint(record()) != fingerprint(record(level=logging.CRITICAL))
    assert fingerprint(record(exc=KeyError)) != fingerprint(record(exc=ValueError))


def test_a_window_groups_in_order_of_first_arrival() -> None:
    """Groups come out in the order their first record came in."""
    window = Window(fingerprint_key, 10)
    for rec in (record(msg="b %s"), record(msg="a %s"), record(msg="b %s")):
        window.add(capture(rec))
    groups = window.take()
    assert [len(g.records) for g in groups] == [2, 1]
    assert groups[0].records[0].msg == "b %s"
    assert not window


def test_a_full_group_only_counts_the_rest() -> None:
    """Past max_batch_size, records are counted as omitted and not kept."""
    window = Window(fingerprint_key, 3)
    for i in range(10):
        window.add(capture(record(arg=i)))
    (group,) = window.take()
    assert (len(group.records), group.total, group.omitted) == (3, 10, 7)


def test_group_by_none_puts_the_whole_window_in_one_group() -> None:
    """'none' is the reference's one-event-per-window."""
    window = Window(key_function("none", lambda exc: None), 10)
    window.add(capture(record(name="a")))
    window.add(capture(record(name="b", msg="other")))
    assert len(window.take()) == 1


def test_a_callable_group_by_and_its_failures() -> None:
    """A user key groups; one that raises falls back to the fingerprint and is reported."""
    errors: list[Exception] = []

    def by_first_arg(rec: logging.LogRecord) -> object:
        if rec.args == ("boom",):
            raise RuntimeError("bad key")
        return rec.args

    key = key_function(by_first_arg, errors.append)
    assert key(capture(record(arg="A"))) == key(capture(record(arg="A", msg="other %s")))
    assert key(capture(record(arg="boom"))) == fingerprint_key(capture(record(arg="boom")))
    assert [str(e) for e in errors] == ["bad key"]


def test_a_full_group_publishes_a_stand_in_that_counts() -> None:
    """When a group fills, ``full`` describes it; what it counts joins the group."""
    window = Window(fingerprint_key, 2)
    first = record(exc=KeyError)
    window.add(capture(first))
    assert window.full is None
    window.add(capture(record(arg="B", exc=KeyError)))
    full = window.full
    assert full is not None
    assert (full.msg, full.name, full.levelno, full.exc_type) == (
        first.msg, "shop", logging.ERROR, KeyError)
    later = record(arg="C", exc=KeyError)
    later.created = first.created + 60
    assert full.add(record(arg="B", exc=KeyError))
    assert full.add(later)
    assert not full.add(record(arg="D", exc=ValueError))  # another exception type
    assert not full.add(record(msg="other %s", exc=KeyError))  # another template
    assert window.counting() == 2
    (group,) = window.take()
    assert (group.total, group.omitted, group.last_created) == (4, 2, later.created)
    assert window.counting() == 2  # still counted, now as closed


def test_a_closed_stand_in_declines() -> None:
    """After take(), a stand-in a caller still holds refuses, so the record goes the usual way."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    full = window.full
    assert full is not None
    window.take()
    assert window.full is None
    assert not full.add(record())


def test_a_newer_full_group_retires_the_older_stand_in() -> None:
    """One stand-in at a time: the replaced one is closed and its count kept."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record(msg="a %s")))
    older = window.full
    assert older is not None and older.add(record(msg="a %s"))
    window.add(capture(record(msg="b %s")))
    assert window.full is not older
    assert not older.add(record(msg="a %s"))
    assert [g.total for g in window.take()] == [2, 1]


def test_only_fingerprint_grouping_publishes_a_stand_in() -> None:
    """A user key cannot be matched on the caller's thread."""
    window = Window(key_function(lambda r: "k", lambda exc: None), 1)
    window.add(capture(record()))
    assert window.full is None
