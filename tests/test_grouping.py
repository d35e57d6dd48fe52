"""Fingerprints and windows: which records share an event, and what a full group does."""

from __future__ import annotations

import logging

from incidentio_logging._grouping import Window, fingerprint_key, key_function
from incidentio_logging._record import capture

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
