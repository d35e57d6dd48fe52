"""Follow-ups to the hardening audit: defects a second, hostile review found in its fixes.

Each test failed on the code as first fixed; where it names what was observed, that is the
figure before the fix.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler


def _signal_while_in_flight(receiver: LocalReceiver, action: Any) -> threading.Thread:
    """Once a request is held at the receiver, run ``action`` in a SIGUSR1 handler on the
    main thread (which is inside that request), then let the receiver answer."""
    main = threading.main_thread().ident
    assert main is not None
    done = threading.Event()
    previous = signal.signal(signal.SIGUSR1, lambda *_: (action(), done.set()))

    def fire() -> None:
        receiver.wait_in_flight(1)
        signal.pthread_kill(main, signal.SIGUSR1)
        done.wait(5)
        receiver.release()

    thread = threading.Thread(target=fire)
    receiver.hold()
    thread.start()
    _RESTORE.append(previous)
    return thread


_RESTORE: list[Any] = []


@pytest.fixture(autouse=True)
def _restore_sigusr1() -> Iterator[None]:
    yield
    while _RESTORE:
        signal.signal(signal.SIGUSR1, _RESTORE.pop())


@pytest.mark.timeout(30)
def test_a_record_logged_by_a_signal_handler_during_inline_delivery_is_counted(
        receiver: LocalReceiver, make_handler: MakeHandler, logger: logging.Logger,
        no_worker_thread: None) -> None:
    """RELIABILITY/README: every record is delivered or counted as dropped with a reason.

    With no worker thread (a failed Thread.start(), uWSGI without threads, exit on 3.12),
    flush() and close() deliver on the caller's thread, which is then listed in
    WORKER_THREADS. A SIGUSR1/SIGTERM handler that logs meanwhile is refused by handle()
    as if it were the worker's own urllib3 debug line: not queued, not counted anywhere.
    """
    handler = make_handler(shutdown_timeout=5)
    logger.addHandler(handler)
    for index in range(3):
        logger.error("before the signal %s", index)
    helper = _signal_while_in_flight(receiver, lambda: logger.error("from the signal handler"))
    handler.flush(5)
    helper.join(5)
    handler.close()
    stats = handler.stats()
    assert stats["records_accepted"] == 4, stats  # observed: 3, the signal's record vanished
    assert stats["records_accepted"] == stats["records_delivered"] + stats["records_dropped"]


@pytest.mark.timeout(30)
def test_a_thread_start_failing_with_memory_error_is_retried_and_counted_once(
        receiver: LocalReceiver, make_handler: MakeHandler, logger: logging.Logger) -> None:
    """Issue 12, item 6: "A later record must retry the start, with a backoff".

    Worker._start_thread catches only RuntimeError. A MemoryError (what allocating the new
    thread's state raises under memory pressure) escapes through submit() into emit(),
    after the record was appended: the record is counted as internal_error AND delivered
    later (accepted 2 for 1 logged), and self._thread keeps the never-started Thread, so
    no later record ever starts a worker: nothing is sent until flush()/close().
    """
    handler = make_handler()
    logger.addHandler(handler)
    original = threading.Thread.start
    failures = [MemoryError()]

    def start(self: threading.Thread) -> None:
        if self.name.startswith("incidentio-logging-worker") and failures:
            raise failures.pop()
        original(self)

    threading.Thread.start = start  # type: ignore[method-assign]
    try:
        logger.error("logged while the thread could not start")
    finally:
        threading.Thread.start = original  # type: ignore[method-assign]
    stats = handler.stats()
    assert stats["records_accepted"] == 1, stats  # observed: 2
    time.sleep(1.1)  # START_RETRY: the next record may retry the start
    logger.error("logged after the backoff")
    # Without any flush(): the worker must come, as the README promises a window later.
    receiver.wait_for(1, timeout=5)  # observed: no event, no worker thread, ever


class _Response:
    """Like requests.Response: a short str(), a large body kept alive by reference."""

    def __init__(self) -> None:
        self.content = bytes(200_000)

    def __str__(self) -> str:
        return "<Response [503]>"


@pytest.mark.timeout(30)
def test_records_held_by_storm_control_stay_within_the_held_bytes_bound(
        receiver: LocalReceiver, make_handler: MakeHandler, logger: logging.Logger) -> None:
    """README (Storm control): "What waits is bounded: at most 1,000 groups and 16 MiB of
    records (estimated as their message and traceback text plus 1 KiB each)"; issue 12,
    item 2: "What is held is bounded, by groups and by bytes."

    capture() keeps the record's ``args`` (and extras) by reference, and the estimate
    never sees them: ``log.error("payment API failed: %s", response)`` holds each whole
    response for as long as storm control holds the group. One group of 250 such records
    (max_batch_size) is estimated at ~260 KiB and keeps ~50 MB alive.
    """
    import gc
    import tracemalloc

    handler = make_handler(max_events_per_minute=1)
    logger.addHandler(handler)
    logger.error("payment API failed: %s", _Response())
    assert handler.flush(10)  # the minute's one event: the next window is held back
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(250):
            logger.error("payment API failed: %s", _Response())
        assert not handler.flush(10)  # held back by storm control, as intended
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert handler.stats()["records_pending"] > 0
    assert held < 16 * 1024 * 1024, f"{held / 2**20:.0f} MiB held for one group"


class _Local:
    """A local variable in a failing frame, watched through a weak reference."""

    alive: ClassVar[list[Any]] = []

    def __init__(self) -> None:
        import weakref
        type(self).alive.append(weakref.ref(self))


def _call_upstream() -> None:
    buffer = _Local()  # noqa: F841 - kept alive by the traceback's frame, as locals are
    raise ConnectionError("upstream returned 503")


@pytest.mark.timeout(30)
def test_an_exception_logged_as_an_argument_does_not_keep_its_frames_while_held(
        receiver: LocalReceiver, make_handler: MakeHandler, logger: logging.Logger) -> None:
    """README (Tracebacks): "a record waiting in a window or under storm control keeps only
    text"; issue 12, item 2: 3,000 held records kept 290 MB of frames alive.

    Only ``exc_info`` is detached. The most common way to log an error,
    ``log.error("upstream failed: %s", exc)`` (or ``log.error(exc)``), keeps the exception
    in ``args`` (or ``msg``), and with it ``__traceback__``, every frame and every local,
    for as long as storm control holds the group.
    """
    import gc

    handler = make_handler(max_events_per_minute=1)
    logger.addHandler(handler)
    logger.error("upstream failed: %s", "first")
    assert handler.flush(10)  # the minute's one event: what follows is held back
    _Local.alive = []
    for _ in range(5):
        try:
            _call_upstream()
        except ConnectionError as exc:
            logger.error("upstream failed: %s", exc)
    assert not handler.flush(10)  # held back by storm control
    assert handler.stats()["records_pending"] == 5
    gc.collect()
    kept = sum(ref() is not None for ref in _Local.alive)
    assert kept == 0, f"{kept} of 5 failing frames' locals still alive while held"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("created", [float("nan"), 1_790_000_000_000.0],
                         ids=["nan", "milliseconds"])
def test_a_record_with_a_bad_created_time_does_not_sink_its_groups_alert(
        receiver: LocalReceiver, make_handler: MakeHandler, logger: logging.Logger,
        created: float) -> None:
    """Issue 12: a hand-made record is counted right; _serialize.py: "one bad record must
    not sink the event"; RELIABILITY: hostile log calls leave their neighbours delivered.

    _grouping._created() is applied only when ``type(created) is not float``, so a float
    that is NaN, infinite, or out of datetime's range (a forwarder's milliseconds:
    ``makeLogRecord({"created": time.time() * 1000, ...})``) goes through. Building the
    event then raises (ValueError / OverflowError in fromtimestamp), and the whole group,
    the three good records too, is dropped as internal_error: no alert at all.
    """
    handler = make_handler()
    logger.addHandler(handler)
    for index in range(3):
        logger.error("payment %s failed", index)
    record = logger.makeRecord(logger.name, logging.ERROR, "forwarded.py", 1,
                               "payment %s failed", ("from a forwarder",), None)
    record.created = created
    logger.handle(record)
    handler.flush(10)
    delivered = sorted(r["message"] for e in receiver.events for r in e.records)
    assert {"payment 0 failed", "payment 1 failed", "payment 2 failed"} <= set(delivered), (
        handler.stats())
