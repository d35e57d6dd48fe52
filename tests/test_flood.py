"""The flood counter: what a full group counts on the callers' threads, and renews."""

from __future__ import annotations

import logging

import pytest

from incidentio_logging._record import capture
from incidentio_logging.grouping import Window, fingerprint_key, key_function
from incidentio_logging.testing import LocalReceiver

from .conftest import Rig
from .test_grouping import record


def test_a_full_group_opens_a_counter_and_its_count_is_folded_in() -> None:
    """When a group fills, its counter opens; what it counts is folded into the group."""
    window = Window(fingerprint_key, 2)
    first = record(exc=KeyError)
    window.add(capture(first))
    assert window.floods.open is None
    window.add(capture(record(arg="B", exc=KeyError)))
    counter = window.floods.open
    assert counter is not None
    assert (counter.msg, counter.name, counter.levelno, counter.exc_type) == (
        first.msg, "shop", logging.ERROR, KeyError)
    later = record(arg="C", exc=KeyError)
    later.created = first.created + 60
    assert counter.count(record(arg="B", exc=KeyError))
    assert counter.count(later)
    assert not counter.count(record(arg="D", exc=ValueError))  # another exception type
    assert not counter.count(record(msg="other %s", exc=KeyError))  # another template
    assert window.floods.total() == 2
    (group,) = window.take()
    assert (group.total, group.omitted, group.last_created) == (4, 2, later.created)
    assert window.floods.total() == 2  # still counted, now as closed


def test_a_closed_counter_declines() -> None:
    """After take(), a counter a caller still holds declines: the record goes the usual way."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    counter = window.floods.open
    assert counter is not None
    window.take()
    assert window.floods.open is None
    assert not counter.count(record())


def test_a_newer_full_group_closes_the_older_counter() -> None:
    """One counter open at a time: the replaced one is closed and its count folded in."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record(msg="a %s")))
    older = window.floods.open
    assert older is not None and older.count(record(msg="a %s"))
    window.add(capture(record(msg="b %s")))
    assert window.floods.open is not older
    assert not older.count(record(msg="a %s"))
    assert [g.total for g in window.take()] == [2, 1]


def test_only_fingerprint_grouping_opens_a_counter() -> None:
    """A user key cannot be matched on the caller's thread."""
    window = Window(key_function(lambda r: "k", lambda exc: None), 1)
    window.add(capture(record()))
    assert window.floods.open is None


def test_a_flood_that_outlives_its_window_is_renewed() -> None:
    """A counter that counted anything is renewed for the next window: it lets the next
    max_batch_size records through as samples, then counts again at once."""
    window = Window(fingerprint_key, 2)
    window.add(capture(record(arg="A")))
    window.add(capture(record(arg="B")))
    flood = window.floods.open
    assert flood is not None and flood.count(record(arg="C"))
    (group,) = window.take()
    assert group.total == 3
    renewed = window.floods.open
    assert renewed is not None and renewed is not flood
    passed = [record(arg="D"), record(arg="E")]
    assert [renewed.count(r) for r in passed] == [False, False]  # samples: captured as usual
    assert renewed.count(record(arg="F"))  # and the rest counted on the caller's thread
    for sample in passed:
        window.add(capture(sample))  # the worker groups them: full again
    assert window.floods.open is not renewed
    (group,) = window.take()
    assert [r.args for r in group.records] == [("D",), ("E",)]
    assert group.total == 3
    assert window.floods.total() == 2 and window.floods.strays == 0


def test_records_counted_before_their_samples_are_grouped_are_not_lost() -> None:
    """If the window closes while the renewed counter's samples are still queued, what it
    counted has no group to fold into: a stray, for the dispatcher to drop, so the books
    still balance."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    flood = window.floods.open
    assert flood is not None and flood.count(record())
    window.take()
    renewed = window.floods.open
    assert renewed is not None
    assert not renewed.count(record())  # its sample, still on its way to the worker
    assert renewed.count(record())
    assert window.take() == []
    assert window.floods.strays == 1 and window.floods.total() == 2


def test_a_counter_that_counted_nothing_is_not_renewed() -> None:
    """A group that merely filled up is no flood: the next window starts plain."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    assert window.floods.open is not None
    window.take()
    assert window.floods.open is None


def test_the_dispatcher_drops_strays_as_batch_full(receiver: LocalReceiver) -> None:
    """Through the dispatcher: sent, counted and stray records all balance."""
    rig = Rig(receiver, max_batch_size=1)
    template = record().msg  # the counter matches the very template object
    rig.log(template)
    window = rig.dispatcher.window
    assert window.floods.open is not None and window.floods.open.count(record(msg=template))
    rig.ship()
    renewed = window.floods.open
    assert renewed is not None
    assert not renewed.count(record(msg=template)) and renewed.count(record(msg=template))
    rig.ship()
    stats = rig.stats.as_dict(pending=0, counted=window.floods.total())
    assert stats["dropped"] == {"batch_full": 2}  # one omitted from the event, one stray
    assert stats["records_delivered"] == 1
    # The sample let through is still "in the queue": the only record unaccounted for.
    assert stats["records_accepted"] == 3 and stats["records_pending"] == 0


@pytest.mark.timeout(10)
def test_the_counter_can_be_reentered_by_its_own_thread() -> None:
    """A signal handler that logs runs inside whatever its thread was doing, possibly
    inside count(). Simulated here by a record whose ``created`` logs again: a plain lock
    would deadlock; both records are counted."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    counter = window.floods.open
    assert counter is not None

    class Interrupted(logging.LogRecord):
        @property  # type: ignore[override]
        def created(self) -> float:
            assert counter is not None and counter.count(record())  # the "signal handler"
            return 0.0

    outer = record()
    outer.__class__ = Interrupted
    assert counter.count(outer)
    assert window.floods.total() == 2
