"""Fingerprints and windows: which records share an event, and what a full group does."""

from __future__ import annotations

import logging

import pytest

from incidentio_logging._record import capture
from incidentio_logging.grouping import Window, fingerprint_key, key_function
from incidentio_logging.testing import LocalReceiver

from .conftest import Rig, exc_info_of


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


def test_a_flood_that_outlives_its_window_is_handed_on() -> None:
    """A stand-in that counted anything is handed to the next window: it lets the next
    max_batch_size records through for samples, then counts again at once."""
    window = Window(fingerprint_key, 2)
    window.add(capture(record(arg="A")))
    window.add(capture(record(arg="B")))
    flood = window.full
    assert flood is not None and flood.add(record(arg="C"))
    (group,) = window.take()
    assert group.total == 3
    handed = window.full
    assert handed is not None and handed is not flood
    passed = [record(arg="D"), record(arg="E")]
    assert [handed.add(r) for r in passed] == [False, False]  # samples: captured as usual
    assert handed.add(record(arg="F"))  # and the rest counted on the caller's thread
    for sample in passed:
        window.add(capture(sample))  # the worker groups them: full again
    assert window.full is not handed
    (group,) = window.take()
    assert [r.args for r in group.records] == [("D",), ("E",)]
    assert group.total == 3
    assert window.counting() == 2 and window.unplaced == 0


def test_records_counted_before_their_samples_are_grouped_are_not_lost() -> None:
    """If the window closes while the handed-on stand-in's samples are still queued, what
    it counted has no group to join: it is kept as ``unplaced`` for the dispatcher to
    count as dropped, so the books still balance."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    flood = window.full
    assert flood is not None and flood.add(record())
    window.take()
    handed = window.full
    assert handed is not None
    assert not handed.add(record())  # its sample, still on its way to the worker
    assert handed.add(record())
    assert window.take() == []
    assert window.unplaced == 1 and window.counting() == 2


def test_a_stand_in_that_counted_nothing_is_not_handed_on() -> None:
    """A group that merely filled up is no flood: the next window starts plain."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    assert window.full is not None
    window.take()
    assert window.full is None


def test_the_dispatcher_counts_unplaced_records_as_batch_full(receiver: LocalReceiver) -> None:
    """Through the dispatcher: sent, counted and unplaced records all balance."""
    rig = Rig(receiver, max_batch_size=1)
    template = record().msg  # the stand-in matches the very template object
    rig.log(template)
    window = rig.dispatcher.window
    assert window.full is not None and window.full.add(record(msg=template))
    rig.ship()
    handed = window.full
    assert handed is not None
    assert not handed.add(record(msg=template)) and handed.add(record(msg=template))
    rig.ship()
    stats = rig.stats.as_dict(pending=0, counted=window.counting())
    assert stats["dropped"] == {"batch_full": 2}  # one omitted from the event, one unplaced
    assert stats["records_delivered"] == 1
    # The sample let through is still "in the queue": the only record unaccounted for.
    assert stats["records_accepted"] == 3 and stats["records_pending"] == 0


@pytest.mark.timeout(10)
def test_the_stand_in_can_be_reentered_by_its_own_thread() -> None:
    """A signal handler that logs runs inside whatever its thread was doing, possibly
    inside add(). Simulated here by a record whose ``created`` logs again: a plain lock
    would deadlock; both records are counted."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    full = window.full
    assert full is not None

    class Interrupted(logging.LogRecord):
        @property  # type: ignore[override]
        def created(self) -> float:
            assert full is not None and full.add(record())  # the "signal handler"
            return 0.0

    outer = record()
    outer.__class__ = Interrupted
    assert full.add(outer)
    assert window.counting() == 2
