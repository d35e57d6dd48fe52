"""The flood counter: what a full group counts on the callers' threads, and renews."""

from __future__ import annotations

import builtins
import logging
import random
import sys
import threading
from collections.abc import Callable

import pytest

from incidentio_logging._flood import _PROBES, _VALUE, MAX_OPEN, MAX_PER_KEY, FloodCounter
from incidentio_logging._grouping import Window, fingerprint_key, key_function
from incidentio_logging._identity import mask
from incidentio_logging._record import capture
from incidentio_logging.handler import IncidentIOHandler
from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler, Rig, floods
from .test_grouping import record


def only(window: Window) -> FloodCounter | None:
    """The window's one open flood counter, or None."""
    counters = window.floods.counters()
    assert len(counters) <= 1, counters
    return counters[0] if counters else None


def test_a_full_group_opens_a_counter_and_its_count_is_folded_in() -> None:
    """When a group fills, its counter opens; what it counts is folded into the group."""
    window = Window(fingerprint_key, 2)
    first = record(exc=KeyError)
    window.add(capture(first))
    assert only(window) is None
    window.add(capture(record(arg="B", exc=KeyError)))
    counter = only(window)
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
    counter = only(window)
    assert counter is not None
    window.take()
    assert only(window) is None
    assert not counter.count(record())


def test_floods_of_several_problems_are_counted_at_once() -> None:
    """An outage makes several lines loop together: each full group keeps its counter."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record(msg="a %s")))
    older = only(window)
    assert older is not None and older.count(record(msg="a %s"))
    window.add(capture(record(msg="b %s")))
    assert older.count(record(msg="a %s"))  # still open
    assert window.floods.count(record(msg="b %s")) and window.floods.count(record(msg="a %s"))
    assert window.floods.total() == 4
    assert [g.total for g in window.take()] == [4, 2]
    assert window.floods.total() == 4 and window.floods.strays == 0


def test_the_oldest_of_too_many_floods_is_closed_and_folded_in() -> None:
    """At most MAX_OPEN counters: a newer flood beyond them closes the oldest, whose count
    is folded into its group."""
    window = Window(fingerprint_key, 1)
    templates = [f"problem {n} %s" for n in range(MAX_OPEN + 1)]
    first = record(msg=templates[0])
    window.add(capture(first))
    assert window.floods.count(record(msg=templates[0]))
    for template in templates[1:]:
        window.add(capture(record(msg=template)))
    assert len(window.floods.open) == MAX_OPEN
    assert not window.floods.count(record(msg=templates[0]))  # closed: captured as usual
    assert window.floods.count(record(msg=templates[-1]))
    assert [g.total for g in window.take()] == [2, *[1] * (MAX_OPEN - 1), 2]


def test_a_newer_counter_for_the_same_call_site_replaces_the_older() -> None:
    """A group that fills again (its renewed counter's samples grouped) opens a counter in
    place of the renewed one: it is closed, and what it counted folded in."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    flood = only(window)
    assert flood is not None and flood.count(record())
    (group,) = window.take()
    renewed = only(window)
    assert renewed is not None and not renewed.count(record())  # its sample
    assert renewed.count(record())
    window.add(capture(record()))  # the sample reaches the worker: the group is full again
    newer = only(window)
    assert newer is not None and newer is not renewed
    assert not renewed.count(record()) and newer.count(record())
    (group,) = window.take()
    assert group.total == 3 and window.floods.total() == 3


def test_only_fingerprint_grouping_opens_a_counter() -> None:
    """A user key cannot be matched on the caller's thread."""
    window = Window(key_function(lambda r: "k", lambda exc: None), 1)
    window.add(capture(record()))
    assert only(window) is None


def test_a_flood_that_outlives_its_window_is_renewed() -> None:
    """A counter that counted anything is renewed for the next window: it lets the next
    max_batch_size records through as samples, then counts again at once."""
    window = Window(fingerprint_key, 2)
    window.add(capture(record(arg="A")))
    window.add(capture(record(arg="B")))
    flood = only(window)
    assert flood is not None and flood.count(record(arg="C"))
    (group,) = window.take()
    assert group.total == 3
    renewed = only(window)
    assert renewed is not None and renewed is not flood
    passed = [record(arg="D"), record(arg="E")]
    assert [renewed.count(r) for r in passed] == [False, False]  # samples: captured as usual
    assert renewed.count(record(arg="F"))  # and the rest counted on the caller's thread
    for sample in passed:
        window.add(capture(sample))  # the worker groups them: full again
    assert only(window) is not renewed
    (group,) = window.take()
    assert [r.getMessage() for r in group.records] == ["order D failed", "order E failed"]
    assert group.total == 3
    assert window.floods.total() == 2 and window.floods.strays == 0


def test_a_renewed_flood_is_never_left_without_a_counter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """take() publishes the renewed counter before it closes the old one: a worker that
    lost the GIL in between left the callers no counter, and they queued every record
    of the flood for as long as it waited (Python 3.10 CI: queue_full 12,579)."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    flood = only(window)
    assert flood is not None and flood.count(record())
    found = []
    close = FloodCounter.close

    def closing(counter: FloodCounter) -> int:
        found.append(window.floods.open.get(counter.lookup))  # what a caller finds now
        return close(counter)

    monkeypatch.setattr(FloodCounter, "close", closing)
    window.take()
    renewed = only(window)
    assert renewed is not None and found == [renewed]


def test_records_counted_before_their_samples_are_grouped_are_not_lost() -> None:
    """If the window closes while the renewed counter's samples are still queued, what it
    counted has no group to fold into: a stray, for the dispatcher to drop, so the books
    still balance."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    flood = only(window)
    assert flood is not None and flood.count(record())
    window.take()
    renewed = only(window)
    assert renewed is not None
    assert not renewed.count(record())  # its sample, still on its way to the worker
    assert renewed.count(record())
    assert window.take() == []
    assert window.floods.strays == 1 and window.floods.total() == 2


def test_a_counter_that_counted_nothing_is_not_renewed() -> None:
    """A group that merely filled up is no flood: the next window starts plain."""
    window = Window(fingerprint_key, 1)
    window.add(capture(record()))
    assert only(window) is not None
    window.take()
    assert only(window) is None


def test_the_dispatcher_drops_strays_as_batch_full(receiver: LocalReceiver) -> None:
    """Through the dispatcher: sent, counted and stray records all balance."""
    rig = Rig(receiver, max_batch_size=1)
    template = record().msg  # the counter matches the very template object
    rig.log(template)
    window = rig.dispatcher.window
    assert only(window).count(record(msg=template))
    rig.ship()
    renewed = only(window)
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
    counter = only(window)
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


def formatted(message: str, *, line: int = 7, name: str = "shop") -> logging.LogRecord:
    """A record as an f-string call makes it: no args, and a new message object each time."""
    text = "".join(message)  # a fresh string object, as an f-string builds
    return logging.getLogger(name).makeRecord(name, logging.ERROR, "app.py", line, text, (),
                                              None)


def test_an_fstring_flood_is_counted_by_call_site() -> None:
    """Messages that came formatted are new objects on every call: once their group is
    full, the counter matches them by call site and text instead of by template object."""
    window = Window(fingerprint_key, 2)
    for _ in range(2):
        window.add(capture(formatted("Card declined for order A-1")))
    counter = only(window)
    assert counter is not None
    again = formatted("Card declined for order A-1")
    assert again.msg is not counter.msg
    assert counter.count(again)
    assert not counter.count(formatted("Card declined for order A-1", line=8))  # another line
    assert not counter.count(formatted("Card declined for order A-2"))  # another message
    assert not counter.count(formatted("Card declined for order A-1 (fraud)"))  # ditto
    (group,) = window.take()
    assert group.total == 3


def test_a_different_message_from_the_flooding_line_is_never_counted_under_it() -> None:
    """f"{op} failed": while "charge failed" floods, "refund failed" from the same line is
    captured, and has its event in the same window."""
    window = Window(fingerprint_key, 2)
    for _ in range(2):
        window.add(capture(formatted("charge failed")))
    counter = only(window)
    assert counter is not None and counter.count(formatted("charge failed"))
    refund = formatted("refund failed")
    assert not counter.count(refund)
    window.add(capture(refund))
    assert [(g.records[0].getMessage(), g.total) for g in window.take()] == [
        ("charge failed", 3), ("refund failed", 1)]


def test_samples_that_differ_match_by_what_they_all_share() -> None:
    """Fingerprints mask values, so one group holds differing messages: the counter then
    matches what all its samples start and end with, around one value."""
    records = [formatted(f"Card declined for order {n} today") for n in (17, 18, 29)]
    counter = FloodCounter.for_group("one problem", records)
    assert (counter.head, counter.tail) == ("Card declined for order ", " today")
    assert counter.count(formatted("Card declined for order 4242 today"))
    assert counter.count(formatted("Card declined for order A-77.x today"))
    assert not counter.count(formatted("Card declined for customer 7 today"))
    assert not counter.count(formatted("Card declined for order 7"))
    # Not one value: words, or a value and more, mask to other keys.
    for other in ("None", "7 (retry)", "7)", "7'", "7-", "1..2"):
        assert not counter.count(formatted(f"Card declined for order {other} today")), other


def test_a_renewed_counter_matches_values_past_its_samples_shared_digits() -> None:
    """Samples "order 1200".."order 1209 failed" share "order 120" and "9 failed" (as a
    window of one of two threads' interleaved records can): the counter's head and tail
    stop where the value word starts, so the renewed counter still counts order 1300.
    (Review r2docs: two threads flooding one f-string line filled the queue.)"""
    records = [formatted(f"order {n} failed") for n in (1209, 1219, 1299)]
    counter = FloodCounter.for_group("one problem", records)
    assert (counter.head, counter.tail) == ("order ", " failed")
    renewed = counter.renewed(0)
    assert renewed.count(formatted("order 1300 failed"))
    assert renewed.count(formatted("order 98765 failed"))
    assert not renewed.count(formatted("order 1300 failed twice"))


def test_an_fstring_flood_from_two_threads_does_not_fill_the_queue(
        receiver: LocalReceiver) -> None:
    """README, Floods: one f-string line looping on two threads is counted, as the
    %-style equivalent is, and never fills the queue. (Review r2docs: queue_full ~80,000.)"""
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.1)
    log = logging.getLogger("test.flood.two_threads")
    log.propagate = False
    log.addHandler(handler)
    barrier = threading.Barrier(2)

    def loop() -> None:
        barrier.wait()
        for order in range(150_000):
            log.error(f"order {order} failed")

    try:
        threads = [threading.Thread(target=loop) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        handler.close()
    finally:
        log.removeHandler(handler)
    stats = handler.stats()
    assert stats["records_accepted"] == 300_000
    assert "queue_full" not in stats["dropped"], stats["dropped"]


def test_samples_that_differ_in_words_match_exact_text_only() -> None:
    """When what the samples' texts differ by is not one value, anything else from the
    line could be another problem: the counter matches the first sample's text only."""
    short = FloodCounter.for_group("k", [formatted("ab"), formatted("aab")])
    assert (short.head, short.tail) == ("ab", None)
    assert short.count(formatted("ab")) and not short.count(formatted("aab"))
    # "Jan 2" is a date, one value; "Jan 2x" is a word and a value: not one key.
    dates = FloodCounter.for_group("k", [formatted(f"due Jan {n}") for n in (2, 3)])
    assert dates.tail is None and not dates.count(formatted("due Jan 123"))


def test_an_exception_flood_matches_any_text_from_its_call_site() -> None:
    """An exception's fingerprint leaves the message out: whatever text the line writes,
    the same exception raised at the same place is the same group."""
    def raising(n: int) -> logging.LogRecord:
        try:
            _raise_in_refund()
        except KeyError:
            info = sys.exc_info()
        return logging.getLogger("shop").makeRecord(
            "shop", logging.ERROR, "app.py", 7, f"Refund of order {n} for Ann failed", (), info)

    window = Window(fingerprint_key, 2)
    for n in (1, 2):
        window.add(capture(raising(n)))
    counter = only(window)
    assert counter is not None
    assert counter.count(raising(3))
    assert not counter.count(formatted("Refund of order 3 for Ann failed"))  # no exception


#: Samples' values, and texts tried in their place: ids of every shape, and words,
#: punctuation and whitespace around them.
_IDS = ("7", "42", "99991", "A-1001", "ch_3Mq9", "0x7f3a", "10.0.0.1", "1.2.3", "u1@x.io",
        "db-1:5432", "2026-11-28T12:00:00", "a.b1", "A.1", "a.1.b", "1.a", "9-x", "x.y-z9",
        "ab-cd.e1", "v2.beta")
_ALPHABET = "0123456789abcxyzAZ_-.:@+/'\"()[],; \t"
_TEMPLATES = ("Payment failed for user {}", "order A-{}", "'{}' not found", "due Jan {}",
              "user {}: locked", "worker-{}: disk full", "took {} ms", "{}", "id={}",
              "path /x/{}/y", "v{}.0 released", "retry {} of 3", "(user {})", "{} failed",
              "at {}, then again", "Error: {} rejected", "\"{}\"", "user{}x", "[{}]",
              "Order {}: card declined", "job {}: done", "{}: timeout", "host {} - down")


def test_whatever_a_counter_matches_masks_to_its_samples_key() -> None:
    """The guarantee that keeps a different problem from hiding under a flood: every text a
    counter counts has the fingerprint of the samples it learned from."""
    rng = random.Random(11)
    counted = 0
    for template in _TEMPLATES:
        for _ in range(40):
            values = rng.sample(_IDS, 3)
            texts = [template.format(value) for value in values]
            key = mask(texts[0])
            if any(mask(text) != key for text in texts):
                continue  # not one group
            counter = FloodCounter.for_group(key, [formatted(text) for text in texts])
            tries = [*(template.format(value) for value in _IDS),
                     *(template.format("".join(rng.choices(_ALPHABET, k=rng.randint(0, 8))))
                       for _ in range(60))]
            for text in tries:
                if counter.count(formatted(text)):
                    counted += 1
                    assert mask(text) == key, (template, values, text)
    assert counted > 1000  # the property was exercised, not vacuous


def test_a_different_message_from_a_flooding_line_is_hidden_for_at_most_one_window(
        receiver: LocalReceiver) -> None:
    """Issue 11 item 6 (review r2): a different message from the flooding call site may be
    counted under the flood for at most one window. f"Payment failed for user {user_id}"
    floods with varying ids; "... for user None" (words are not masked: its own key)
    arrives late in every window, after the samples. It must reach incident.io."""
    # Every window's event, not one a refresh_interval: what each window hides is read.
    rig = Rig(receiver, max_batch_size=3, max_events_per_minute=1000, refresh_interval=None)
    window = rig.dispatcher.window

    def emit(record: logging.LogRecord) -> None:  # what IncidentIOHandler.emit does
        if window.floods.count(record):
            return
        rig.stats.taken += 1
        window.add(capture(record))

    user = 1000
    for _ in range(3):  # three windows, each a busy flood with one anonymous request late
        for _ in range(6):
            user = (user * 7919) % 99991  # ids vary from the first digit on
            emit(formatted(f"Payment failed for user {user}"))
        emit(formatted("Payment failed for user None"))
        rig.ship()
        rig.advance(1)
    titles = [event.title for event in receiver.events]
    assert sum("for user None" in title for title in titles) == 3, titles
    assert sum("(+" in title for title in titles) == 3, titles  # the flood still counted
    stats = rig.stats.as_dict(pending=0, counted=window.floods.total())
    assert stats["records_accepted"] == 21 == stats["records_delivered"] + sum(
        stats["dropped"].values())


def test_an_fstring_error_loop_is_counted_on_the_callers_thread(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """The loop's records are new message objects each time, yet once the group is full
    they are only counted: no snapshot, nothing queued; every one is accounted for."""
    handler = make_handler(max_batch_size=5, flush_interval=30)
    logger.addHandler(handler)
    order = "A-1001"

    def loop(times: int) -> None:
        for _ in range(times):
            logger.error(f"Card declined for order {order}")

    loop(5)
    handler.worker.wake()  # group the samples now rather than at the window's end
    assert handler.worker.wait_idle(5)
    assert floods(handler).open
    loop(1000)
    assert handler.worker.pending() == 0  # counted on this thread: nothing queued
    assert handler.flush(5)  # 1000 were only counted: by design, not a failed delivery
    (event,) = receiver.events
    assert event.title == f"ERROR {logger.name}: Card declined for order A-1001 (+1004 more)"
    stats = handler.stats()
    assert stats["records_accepted"] == 1005 and stats["records_pending"] == 0
    assert stats["records_delivered"] == 5 and stats["dropped"] == {"batch_full": 1000}


def flood_then(handler: IncidentIOHandler, call: Callable[[], None]) -> None:
    """Fill a group with ``call`` (max_batch_size=5), wait for its counter to open, then
    50 more calls: counted on this thread."""
    for _ in range(5):
        call()
    handler.worker.wake()
    assert handler.worker.wait_idle(5)
    assert floods(handler).open
    for _ in range(50):
        call()


def _raise_in_refund() -> None:
    raise KeyError("sku")


def _raise_in_checkout() -> None:
    raise KeyError("sku")


def test_the_same_exception_type_raised_elsewhere_is_never_counted_under_a_flood(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Django logs every 500 with one template. A flood of one bug's KeyError must not
    swallow another bug's KeyError from the same logging call: the fingerprint tells
    them apart by where they were raised, and so must the counter."""
    handler = make_handler(max_batch_size=5, flush_interval=30, dedup="fingerprint")
    logger.addHandler(handler)

    def view(bug: Callable[[], None]) -> None:
        try:
            bug()
        except KeyError:
            logger.exception("Internal Server Error: %s", "/orders")

    flood_then(handler, lambda: view(_raise_in_refund))
    view(_raise_in_checkout)
    handler.flush(5)
    sites = sorted(e.title for e in receiver.events)
    assert len(sites) == 2, sites
    (checkout,) = [e for e in receiver.events if len(e.records) == 1]
    assert "_raise_in_checkout" in checkout.payload["description"]
    assert handler.stats()["dropped"] == {"batch_full": 50}


def _wait_for_counter(handler: IncidentIOHandler, words: str) -> None:
    """Have the worker group the samples now; it must have opened a counter whose text
    has ``words``."""
    handler.worker.wake()
    assert handler.worker.wait_idle(5)
    if not any(words in (c.head or "") for c in floods(handler).open.values()):
        raise AssertionError(f"no flood counter opened for {words!r}")


def test_two_error_loops_at_once_both_stay_on_the_fast_path(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Review r2: an outage makes several call sites loop at once. With one counter open at
    a time, once a second flood filled, the first flood's records were snapshotted and
    queued again for the rest of the window (2.4x a NullHandler, and queue_full drops).
    Both loops are counted on the callers' threads, and every record is accounted for."""
    handler = make_handler(max_batch_size=5, flush_interval=30)
    logger.addHandler(handler)
    order, host = "A-1001", "db-1"

    def card(times: int) -> None:
        for _ in range(times):
            logger.error(f"Card declined for order {order}")

    def database(times: int) -> None:
        for _ in range(times):
            logger.error(f"Cannot reach {host}")

    card(5)
    _wait_for_counter(handler, "Card")
    database(5)
    _wait_for_counter(handler, "reach")
    counted = floods(handler).total()
    card(200)  # the first loop goes on
    database(100)
    assert floods(handler).total() - counted == 300
    assert handler.worker.pending() == 0
    assert handler.flush(5)  # what was only counted is no failed delivery
    titles = sorted(event.title for event in receiver.events)
    assert titles == [f"ERROR {logger.name}: Cannot reach db-1 (+104 more)",
                      f"ERROR {logger.name}: Card declined for order A-1001 (+204 more)"]
    stats = handler.stats()
    assert stats["records_accepted"] == 310 and stats["records_pending"] == 0
    assert stats["records_delivered"] == 10 and stats["dropped"] == {"batch_full": 300}


def _task_group(job: Callable[[], None]) -> None:
    """What asyncio.TaskGroup and anyio do: the task's exception, raised again in a group
    from the one ``async with`` line, whatever the task was."""
    try:
        job()
    except Exception as exc:
        group: type[Exception] = vars(builtins)["ExceptionGroup"]
        raise group("unhandled errors in a TaskGroup", [exc]) from None


def _ship() -> None:
    raise ConnectionError("carrier down")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup: Python 3.11+")
def test_another_bug_in_an_exception_group_is_never_counted_under_a_groups_flood(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Two groups raised from one line share their own type and traceback: what tells them
    apart, for the fingerprint, is inside them. A flood of one must not swallow the other."""
    handler = make_handler(max_batch_size=5, flush_interval=30, dedup="fingerprint")
    logger.addHandler(handler)

    def view(bug: Callable[[], None]) -> None:
        try:
            _task_group(bug)
        except Exception:
            logger.exception("job failed")

    flood_then(handler, lambda: view(_raise_in_refund))
    view(_ship)
    handler.flush(5)
    assert len(receiver.events) == 2, [e.title for e in receiver.events]
    (ship,) = [e for e in receiver.events if len(e.records) == 1]
    assert "_ship" in ship.payload["description"]
    assert handler.stats()["dropped"] == {"batch_full": 50}


def _raised(exc_type: type[Exception]) -> logging.LogRecord:
    """``log.exception("job failed")`` in a worker loop: one call site, whatever failed."""
    try:
        raise exc_type("job 7")
    except Exception as exc:
        info = (type(exc), exc, exc.__traceback__)
    return logging.getLogger("shop.jobs").makeRecord(
        "shop.jobs", logging.ERROR, "/app/shop/jobs.py", 40, "job failed", None, info)


def test_two_exception_floods_from_one_call_site_are_both_counted() -> None:
    """Two causes failing at one ``log.exception`` are two groups under one lookup key:
    each keeps its counter (the second used to close the first, whose flood was then
    captured and queued on every record), and both counts are folded in."""
    window = Window(fingerprint_key, 3)
    for _ in range(3):
        window.add(capture(_raised(KeyError)))
        window.add(capture(_raised(ValueError)))
    for _ in range(5):
        assert window.floods.count(_raised(ValueError))
        assert window.floods.count(_raised(KeyError))
    assert not window.floods.count(_raised(TypeError))
    assert window.floods.total() == 10
    assert [g.total for g in window.take()] == [8, 8]
    assert window.floods.strays == 0
    # Both are renewed for the next window, under the one key.
    assert len(window.floods.counters()) == 2


def test_one_template_flooding_from_two_loggers_is_counted_for_both() -> None:
    """The same %-template is the lookup key of every logger and level using it: two
    floods of it each keep their counter, window after window."""
    window = Window(fingerprint_key, 3)

    def rec(name: str, n: int, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.getLogger(name).makeRecord(
            name, level, "/app/shop/x.py", 5, "Request failed: %s", (n,), None)

    for n in range(3):
        window.add(capture(rec("shop.payments", n)))
        window.add(capture(rec("shop.refunds", n)))
        window.add(capture(rec("shop.refunds", n, logging.WARNING)))
    for _ in range(2):
        assert window.floods.count(rec("shop.payments", 99))
        assert window.floods.count(rec("shop.refunds", 99))
        assert window.floods.count(rec("shop.refunds", 99, logging.WARNING))
    assert not window.floods.count(rec("shop.orders", 99))
    assert [g.total for g in window.take()] == [5, 5, 5]


def test_floods_sharing_a_lookup_key_are_bounded_per_key_and_overall() -> None:
    """At most MAX_PER_KEY counters share a key (a newer one closes the oldest of them,
    folding its count in) and MAX_OPEN in all."""
    window = Window(fingerprint_key, 1)
    names = [f"shop.n{n}" for n in range(MAX_PER_KEY + 1)]

    def rec(name: str) -> logging.LogRecord:
        return logging.getLogger(name).makeRecord(
            name, logging.ERROR, "/app/shop/x.py", 5, "Request failed: %s", (1,), None)

    window.add(capture(rec(names[0])))
    assert window.floods.count(rec(names[0]))
    for name in names[1:]:
        window.add(capture(rec(name)))
    assert len(window.floods.counters()) == MAX_PER_KEY
    assert not window.floods.count(rec(names[0]))  # closed: captured as usual
    assert all(window.floods.count(rec(name)) for name in names[1:])
    for n in range(MAX_OPEN):
        window.add(capture(record(msg=f"problem {n} %s")))
    assert len(window.floods.counters()) == MAX_OPEN
    assert sum(g.total for g in window.take()) == 2 + 2 * MAX_PER_KEY + MAX_OPEN
    assert window.floods.strays == 0


def test_a_dotted_value_that_turns_on_the_detail_rule_is_not_counted() -> None:
    """``a.b1`` adds a plain word before the colon, which masks the detail after it:
    "Order a.b1: card declined" is another group than "Order 7: card declined", and the
    counter learnt from the latter declines it."""
    window = Window(fingerprint_key, 3)
    for n in (7, 8, 9):
        window.add(capture(formatted(f"Order {n}: card declined")))
    assert window.floods.count(formatted("Order 10: card declined"))
    for value in ("a.b1", "A.1", "a.1.b"):
        other = formatted(f"Order {value}: card declined")
        assert mask(other.msg) != mask("Order 7: card declined")
        assert not window.floods.count(other), value


def test_every_probe_is_a_value_a_counter_lets_vary() -> None:
    """A probe the value pattern never matches would check nothing."""
    for probe in _PROBES:
        assert _VALUE.fullmatch(probe), probe


def test_a_flood_numbered_by_digits_alone_matches_them_without_the_expression() -> None:
    """Samples whose values were digits alone let a text with digits between the head and
    the tail match without the regular expression (the f-string fast path); anything
    else is still judged by it, and nothing else matches."""
    texts = ("payment 1 failed", "payment 22 failed", "payment 333 failed")
    counter = FloodCounter.for_group(mask(texts[0]), [formatted(text) for text in texts])
    assert counter.digits
    assert counter.count(formatted("payment 4444 failed"))
    assert counter.count(formatted("payment A-1 failed"))  # another shape: by the pattern
    for other in ("payment 12 failed!", "xpayment 12 failed", "payment  failed",
                  "payment 12 failed 3", "payment failed", "payment 1 2 failed"):
        assert not counter.count(formatted(other)), other
    ids = ("ch_3Mq9", "ch_7Xz1", "ch_5Ab2")
    counter = FloodCounter.for_group(mask(f"order {ids[0]}"),
                                     [formatted(f"order {value}") for value in ids])
    assert not counter.digits and counter.count(formatted("order ch_12"))
