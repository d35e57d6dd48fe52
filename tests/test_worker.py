"""The queue's wake-up rules, checked directly on the worker.

White-box where a test checks the worker's own rules (its bell, its high-water mark, its
markers, its consumer side): those set and read its private state. Elsewhere, tests
reach it through its seams: ``handler.worker``, ``thread``, ``wake()``, ``wait_idle()``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging._record import capture
from incidentio_logging._waiting import MIN_BELL_WAIT, Bell
from incidentio_logging._worker import Worker, _Flush
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import FakeClock, MakeHandler


def item() -> dict[str, object]:
    """The least a queued record has: its message and exc_info."""
    return {"message": "", "exc_info": None}


@pytest.fixture
def worker() -> Iterator[Worker]:
    """A worker whose thread counts as started but does nothing: the caller's side alone."""
    handler = IncidentIOHandler(api_token="t" * 20, alert_source_config_id="S1",
                                endpoint="http://127.0.0.1:9", queue_size=100)
    worker = handler.worker
    worker._thread = threading.current_thread()
    yield worker
    worker._queue.clear()


def test_the_high_water_mark_wakes_the_worker_even_when_passed_over(worker: Worker) -> None:
    """Other threads' appends can carry the queue past the mark between our append and
    our check; the worker must still be woken."""
    for _ in range(worker._high_water + 3):  # as if other threads had appended meanwhile
        worker._queue.append(item())
    assert not worker._wake.is_set()
    assert worker.submit(item()) is None
    assert worker._wake.is_set()


def test_an_idle_worker_is_woken_by_the_first_record(worker: Worker) -> None:
    """A worker waiting with no window open must hear of a new record."""
    worker._idle = True
    worker.submit(item())
    assert worker._wake.is_set() and not worker._idle


def test_a_busy_worker_is_not_woken_below_the_mark(worker: Worker) -> None:
    """Mid-window, records below the mark wait for the window to close."""
    worker.submit(item())
    assert not worker._wake.is_set()


def test_a_full_queue_refuses(worker: Worker) -> None:
    """submit() says why at queue_size, and the queue does not grow."""
    for _ in range(100):
        assert worker.submit(item()) is None
    assert worker.submit(item()) == "queue_full"
    assert worker.pending() == 100


def test_wait_idle_waits_for_queued_records_to_be_taken_and_sends_nothing(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """The tests' seam: while the worker sleeps out its window, a queued record keeps it
    from idle; wake() has it taken, and wait_idle() then says so. Nothing is sent early."""
    handler = make_handler(flush_interval=30)
    logger.addHandler(handler)
    worker = handler.worker
    logger.error("starts the worker")
    assert worker.wait_idle(5) and worker.thread is not None
    logger.error("waits for the window's end")
    assert not worker.wait_idle(0.05)
    assert worker.pending() == 1
    worker.wake()
    assert worker.wait_idle(5)
    assert worker.pending() == 0 and handler.stats()["records_pending"] == 2
    assert receiver.attempts == []



def test_wait_idle_is_not_true_while_a_wake_up_is_still_pending(
        make_handler: MakeHandler, logger: logging.Logger) -> None:
    """wake() then wait_idle() is a barrier: the worker has passed through its loop and
    waits again, so a record logged next stays queued until the window's end. Before, the
    pending ring was missed and the worker took that record at once (20 runs of 20)."""
    handler = make_handler(flush_interval=30)
    logger.addHandler(handler)
    worker = handler.worker
    logger.error("opens the window")
    worker.wake()
    assert worker.wait_idle(5)
    logger.error("waits for the window's end")
    assert not worker.wait_idle(0.05), "the worker took it: it had not gone back to waiting"
    assert worker.pending() == 1


def test_wait_idle_with_a_nan_timeout_returns(
        make_handler: MakeHandler, logger: logging.Logger) -> None:
    """wait_idle(nan) is bounded like the worker's other waits (nan counts as 0); before,
    no deadline comparison was ever true and it polled for as long as a record waited."""
    handler = make_handler(flush_interval=30)
    logger.addHandler(handler)
    worker = handler.worker
    logger.error("opens the window")
    assert worker.wait_idle(5)
    logger.error("waits in the queue for the window's end")
    returned: list[bool] = []
    waiter = threading.Thread(target=lambda: returned.append(worker.wait_idle(math.nan)),
                              daemon=True)
    waiter.start()
    waiter.join(2.0)
    hung = waiter.is_alive()
    worker.wake()  # lets a hung waiter go either way
    waiter.join(5.0)
    assert not hung, "wait_idle(nan) was still waiting after 2 s"
    assert returned == [False]


def test_inline_delivery_releases_a_flush_that_was_waiting(worker: Worker) -> None:
    """A flush marker queued for a worker that has since died is settled by whoever
    delivers inline, instead of leaving its caller to sleep out the whole timeout."""
    waiting = _Flush(worker._stats.worker_lost())
    worker._put_marker(waiting)
    worker._thread = None  # the worker is gone; the next flush delivers inline
    assert worker.flush(1)
    assert waiting.done.is_set()
    assert waiting.delivered_all


def test_no_worker_starts_while_another_thread_delivers_inline() -> None:
    """While a flush or close delivers on its own thread (holding the start lock), a new
    record is queued without waiting and without starting a second consumer of the queue."""
    handler = IncidentIOHandler(api_token="t" * 20, alert_source_config_id="S1",
                                endpoint="http://127.0.0.1:9", flush_interval=60)
    worker = handler.worker
    holder_has_it, release = threading.Event(), threading.Event()

    def deliver_inline() -> None:
        with worker._start_lock():
            holder_has_it.set()
            release.wait(10)

    holder = threading.Thread(target=deliver_inline)
    holder.start()
    holder_has_it.wait(10)
    try:
        assert worker.submit(item()) is None
        assert worker.thread is None and worker.pending() == 1
    finally:
        release.set()
        holder.join(10)
    worker._queue.clear()
    handler._stats.taken = 0
    handler.close()


def _signal_at(call: int) -> Callable[[FrameType, str, object], None]:
    """A profiler that raises SIGUSR1 on this thread at its ``call``-th function call."""
    seen = itertools.count(1)

    def profile(_frame: FrameType, event: str, _arg: object) -> None:
        if event in ("call", "c_call") and next(seen) == call:
            signal.raise_signal(signal.SIGUSR1)

    return profile


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
@pytest.mark.parametrize("outer", ["first emit", "emit", "flush", "stats", "close"])
def test_a_signal_handler_can_log_flush_and_read_stats_inside_any_call(
        receiver: LocalReceiver, outer: str) -> None:
    """A signal handler that logs, dumps stats() and flushes runs at every function call
    the interrupted thread makes inside emit (the first one too, which starts the worker),
    flush, stats or close (a SIGTERM handler
    calling logging.shutdown(), a SIGUSR1 stats dump). None deadlocks; every record ends
    delivered once or counted. Fails with plain locks (the marker lock, threading.Event)."""
    previous = signal.getsignal(signal.SIGUSR1)
    delivered = 0
    try:
        for call in range(1, 80):
            handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05,
                                        shutdown_timeout=0.5)
            log = logging.getLogger(f"tests.signals.{outer}.{call}")
            log.propagate = False
            log.addHandler(handler)
            if outer != "first emit":
                log.error("before")  # the worker is running
                assert handler.flush(5)

            def nested(*_: object) -> None:
                log.error("from the signal handler")  # noqa: B023 - run within the loop
                handler.stats()  # noqa: B023
                handler.flush(0.5)  # noqa: B023
                if call % 2:  # noqa: B023 - every other time, a SIGTERM-style close too
                    handler.close()  # noqa: B023

            signal.signal(signal.SIGUSR1, nested)
            action = {"first emit": lambda: log.error("outer"),  # noqa: B023
                      "emit": lambda: log.error("outer"),  # noqa: B023
                      "flush": lambda: handler.flush(1),  # noqa: B023
                      "stats": handler.stats, "close": handler.close}[outer]
            sys.setprofile(_signal_at(call))
            try:
                action()
            finally:
                sys.setprofile(None)
            handler.close()
            log.removeHandler(handler)
            worker = handler.worker.thread
            if worker is not None:
                # A close() under logging's lock (isEnabledFor holds it) leaves the last
                # delivery to the worker, as with dictConfig: it ends within the budget.
                worker.join(5)
            stats = handler.stats()
            assert stats["records_pending"] == 0, (call, stats)
            assert stats["records_accepted"] == (stats["records_delivered"]
                                                 + stats["records_dropped"]), (call, stats)
            delivered += stats["records_delivered"]
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert sum(len(e.records) for e in receiver.events) == delivered  # none twice


@pytest.mark.timeout(20)
def interrupt_the_request(receiver: LocalReceiver, handled: threading.Event,
                          first: Callable[[], None] = lambda: None) -> threading.Thread:
    """Once a request is in flight: ``first()``, a SIGUSR1 to the main thread, then, once
    its handler ran, the receiver answers. Started; join it."""
    def interrupt() -> None:
        receiver.wait_in_flight(1)
        first()
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)
        handled.wait(10)
        receiver.release()

    helper = threading.Thread(target=interrupt)
    helper.start()
    return helper


def _inline_handler(receiver: LocalReceiver, name: str
                    ) -> tuple[IncidentIOHandler, logging.Logger]:
    """A handler that delivers inline, as when no worker thread can start, on its own
    logger; the caller removes and closes it."""
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=60)
    handler.worker._cannot_start = True  # no seam forces inline delivery
    log = logging.getLogger(name)
    log.propagate = False
    log.addHandler(handler)
    return handler, log


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_a_flush_from_a_signal_handler_during_inline_delivery_returns_at_once(
        receiver: LocalReceiver) -> None:
    """While this thread delivers inline (no worker thread) and its request is in flight,
    a signal handler's flush() cannot enter that delivery again: it returns False at
    once, and the record is delivered exactly once, by the outer flush."""
    handler, log = _inline_handler(receiver, "tests.signals.inline")
    log.error("delivered once")
    nested: list[bool] = []
    handled = threading.Event()

    def on_signal(*_: object) -> None:
        nested.append(handler.flush(5))
        handled.set()

    previous = signal.signal(signal.SIGUSR1, on_signal)
    receiver.hold()
    helper = interrupt_the_request(receiver, handled)
    try:
        assert handler.flush(10)
    finally:
        receiver.release()
        helper.join(10)
        signal.signal(signal.SIGUSR1, previous)
        log.removeHandler(handler)
        handler.close()
    assert nested == [False]
    assert [r["message"] for e in receiver.events for r in e.records] == ["delivered once"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("exits", [True, False])
def test_a_close_on_top_of_an_inline_delivery_counts_and_says_what_it_leaves(
        receiver: LocalReceiver, capsys: pytest.CaptureFixture[str], exits: bool) -> None:
    """No worker thread, so flush() delivers inline; a SIGTERM handler runs
    logging.shutdown() (flush, close) on top of it while the first of two events is in
    flight, then sys.exit(0). The nested close() cannot enter that delivery and returns
    at once, but it settled as clean: records_pending 2, dropped {}, no line on stderr,
    and the second record was lost with nothing saying so. Now it counts the one in
    flight as unknown_outcome and the other as shutdown_timeout, and says so; whether
    or not the handler exits, nothing is sent after it gave up, and nothing twice."""
    handler, log = _inline_handler(receiver, "tests.signals.close_inline")
    log.error("Card declined for order A-1")
    log.error("Disk full on /var")
    handled = threading.Event()
    nested: list[bool] = []

    def on_term(*_: object) -> None:
        nested.append(handler.flush())  # what logging.shutdown() does
        handler.close()
        handled.set()
        if exits:
            sys.exit(0)

    previous = signal.signal(signal.SIGUSR1, on_term)
    receiver.hold()
    helper = interrupt_the_request(receiver, handled)
    outer: list[bool] = []
    try:
        outer.append(handler.flush(10))
    except SystemExit:
        pass
    finally:
        receiver.release()
        helper.join(10)
        signal.signal(signal.SIGUSR1, previous)
        log.removeHandler(handler)
    assert nested == [False] and outer == ([] if exits else [False])
    stats = handler.stats()
    assert (stats["records_pending"], stats["dropped"]) == (
        0, {"unknown_outcome": 1, "shutdown_timeout": 1}), stats
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "close()" in ln]
    assert "2 records undelivered" in line and "unknown_outcome" in line, line
    assert handler.flush() is False
    messages = [r["message"] for e in receiver.events for r in e.records]
    assert messages in ([], ["Card declined for order A-1"]), messages


def test_a_failed_thread_start_is_reported_and_retried_after_a_backoff(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A start that fails twice running (the attempt and its immediate retry; a thread
    limit, not interpreter shutdown) is said on stderr; a record after the backoff
    starts the worker, and every record is delivered."""
    _failing_starts(monkeypatch, 2)
    with _clocked(receiver, "tests.thread_start", flush_interval=0.05) as (
            handler, clock, log):
        log.error("first: the start fails")
        assert "could not start the worker thread" in capsys.readouterr().err
        log.error("second: within the backoff, no new attempt")
        assert handler.worker.thread is None
        clock.now += 1.0
        log.error("third: starts the worker")
        assert handler.worker.thread is not None
        assert handler.flush(5)
    delivered = sorted(r["message"] for e in receiver.events for r in e.records)
    assert [m.split(":")[0] for m in delivered] == ["first", "second", "third"]


@contextlib.contextmanager
def _clocked(receiver: LocalReceiver, name: str, *, flush_interval: float, **options: Any
             ) -> Iterator[tuple[IncidentIOHandler, FakeClock, logging.Logger]]:
    """A handler on its own logger, its worker on a fake clock; closed on the way out."""
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=flush_interval,
                                **options)
    clock = FakeClock()
    handler.worker._clock = clock  # the handler takes no clock: injected here
    log = logging.getLogger(name)
    log.propagate = False
    log.addHandler(handler)
    try:
        yield handler, clock, log
    finally:
        log.removeHandler(handler)
        handler.close()


def _failing_starts(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Make the next ``count`` starts of a worker thread fail, as at a thread limit."""
    original = threading.Thread.start
    failures = [RuntimeError("can't start new thread")] * count

    def start_failing(thread: threading.Thread) -> None:
        if failures and thread.name.startswith("incidentio-logging-worker"):
            raise failures.pop()
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", start_failing)


@pytest.mark.timeout(30)
def test_one_failed_thread_start_does_not_hold_the_only_alert_until_exit(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """After one failed Thread.start(), only a later record retried: the one error logged
    while threads ran short (often the outage itself) waited in the queue until another
    record came, or until exit. A failed start is now retried at once, once."""
    _failing_starts(monkeypatch, 1)
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05)
    log = logging.getLogger("tests.thread_start.once")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.error("Database connection pool exhausted")
        events = receiver.wait_for(1, timeout=5)  # no other call on the handler
        assert [r["message"] for r in events[0].records] == [
            "Database connection pool exhausted"]
        assert "could not start" not in capsys.readouterr().err
    finally:
        log.removeHandler(handler)
        handler.close()


@pytest.mark.timeout(30)
def test_stats_retries_a_failed_thread_start_after_the_backoff(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the start and its retry failed, a stats() call (a health check) after the
    backoff retries it, so the queued record does not wait for another one."""
    _failing_starts(monkeypatch, 2)
    with _clocked(receiver, "tests.thread_start.stats", flush_interval=0.05) as (
            handler, clock, log):
        log.error("Database connection pool exhausted")
        handler.stats()
        assert handler.worker.thread is None  # within the backoff: no attempt
        clock.now += 1.0
        assert handler.stats()["records_pending"] == 1
        assert handler.worker.thread is not None  # started by stats()
        assert handler.flush(5)  # through the worker (the clock is fake: no window ends)
        assert len(receiver.events) == 1


@pytest.mark.timeout(30)
def test_stats_from_a_signal_handler_does_not_start_a_worker_beside_an_inline_delivery(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start lock is reentrant: a stats() from a signal handler on top of this
    thread's own inline delivery must not start a worker beside it (a second consumer)."""
    _failing_starts(monkeypatch, 2)
    with _clocked(receiver, "tests.thread_start.signal_stats", flush_interval=60) as (
            handler, clock, log):
        log.error("delivered once")
        clock.now += 1.0  # the backoff has passed
        started: list[bool] = []
        handled = threading.Event()

        def on_signal(*_: object) -> None:
            handler.stats()
            started.append(handler.worker.thread is not None)
            handled.set()

        previous = signal.signal(signal.SIGUSR1, on_signal)
        receiver.hold()
        # Logged by another thread while the start lock is held: it stays queued.
        helper = interrupt_the_request(receiver, handled,
                                       lambda: log.error("queued by another thread"))
        try:
            handler.flush(10)  # no worker: delivered inline, on this thread
        finally:
            receiver.release()
            helper.join(10)
            signal.signal(signal.SIGUSR1, previous)
    assert started == [False]
    assert sorted(r["message"] for e in receiver.events for r in e.records) == [
        "delivered once", "queued by another thread"]


def test_close_counts_and_says_what_a_worker_that_never_runs_left(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """As under uWSGI without threads: the worker thread exists but never runs. close()
    gives up after shutdown_timeout, counts all 25 records, and says so in one line."""
    never = threading.Event()
    monkeypatch.setattr(Worker, "_run", lambda self: never.wait(10))
    handler = IncidentIOHandler(**receiver.handler_options(), shutdown_timeout=0.2)
    log = logging.getLogger("tests.never_runs")
    log.propagate = False
    log.addHandler(handler)
    for i in range(25):
        log.error("lost %s", i)
    handler.close()
    never.set()
    log.removeHandler(handler)
    stats = handler.stats()
    assert (stats["records_pending"], stats["dropped"]) == (0, {"shutdown_timeout": 25})
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "close()" in ln]
    assert "25 records undelivered" in line and "shutdown_timeout" in line
    assert handler.flush() is False


def test_the_byte_budget_is_given_back_once_the_queue_is_drained(worker: Worker) -> None:
    """Heavy records fill max_queue_bytes and are then refused as queue_bytes; once the
    worker has emptied the queue, their charge is given back and records queue again."""
    record = logging.getLogger("tests.bytes").makeRecord(
        "tests.bytes", logging.ERROR, "f.py", 1, "x" * 100_000, None, None)
    worker._queue_size = 10_000  # the fixture's 100 would stop it first
    accepted = 0
    while (refused := worker.submit(capture(record))) is None:
        accepted += 1
    assert refused == "queue_bytes" and 400 < accepted < 600  # 32 MiB of 65 KiB each
    assert worker.queued_bytes() > 30 * 1024 * 1024
    assert worker._drain() is None
    assert worker.queued_bytes() == 0
    assert worker.submit(capture(record)) is None
    assert worker.submit({"message": "light", "exc_info": None}) is None
    assert worker.queued_bytes() < 70 * 1024  # the light one is not charged
    worker.dispatcher.window.take()


@pytest.mark.timeout(30)
def test_records_counted_during_a_flood_are_not_reported_again_by_close(
        receiver: LocalReceiver, capsys: pytest.CaptureFixture[str]) -> None:
    """batch_full (and body_size) records are counted, not sent, by design, and said on
    stderr when it happens. close() repeated them as "left N records undelivered" after
    every flood, and flush() after close returned False, though close left nothing."""
    handler = IncidentIOHandler(**receiver.handler_options(), max_batch_size=5)
    log = logging.getLogger("tests.flood_then_close")
    log.propagate = False
    log.addHandler(handler)
    for _ in range(50):
        log.error("Disk full on /var")
    handler.close()  # the flood's window ships during close, as at exit
    log.removeHandler(handler)
    stats = handler.stats()
    assert (stats["records_delivered"], stats["dropped"], stats["records_pending"]) == (
        5, {"batch_full": 45}, 0), stats
    err = capsys.readouterr().err.splitlines()
    assert [ln for ln in err if "counted, not sent" in ln]  # said once, as it happened
    assert [ln for ln in err if "close()" in ln] == []
    assert handler.flush() is True


def _wait_attempts(receiver: LocalReceiver, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.attempts) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(receiver.attempts) >= count, receiver.attempts


@pytest.mark.timeout(30)
def test_a_flush_is_not_failed_by_a_later_record_rejected_while_it_waits(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """alpha is logged and flushed; its first attempt gets 503 Retry-After 1, so the
    flush waits in the send schedule. Meanwhile beta, logged after the flush began, is
    sent in its own window and refused (422). alpha is then delivered: everything
    before the flush was delivered, so flush() must return True (README: "Returns True
    when all of it was delivered"). beta's refusal is not the flush's business."""
    receiver.script(Scripted(503, headers={"Retry-After": "1"}), Scripted(422))
    handler = make_handler(flush_interval=0.05)
    logger.addHandler(handler)
    logger.error("alpha failed %s", 1)
    _wait_attempts(receiver, 1)  # alpha's 503: it waits a second in the schedule
    outcome: list[bool] = []
    flusher = threading.Thread(target=lambda: outcome.append(handler.flush(10)))
    flusher.start()
    deadline = time.monotonic() + 5
    # The worker's own state: no seam shows a flush parked on the send schedule.
    while not handler.worker._flushes and time.monotonic() < deadline:
        time.sleep(0.005)  # the flush waits on alpha
    logger.error("beta failed %s", 1)
    flusher.join(15)
    stats = handler.stats()
    assert stats["dropped"] == {"rejected": 1}, stats
    assert [a.status for a in receiver.attempts] == [503, 422, 202]
    assert outcome == [True], stats


@pytest.mark.timeout(30)
def test_a_flush_pending_when_the_worker_fails_does_not_report_success(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """alpha's event waits out a 503's Retry-After with a flush pending on it, when the
    worker thread fails (a fault in its loop, injected here). The worker's last resort
    drops what it held as internal_error: alpha was not delivered, so the flush must
    not return True."""
    receiver.script(Scripted(503, headers={"Retry-After": "1"}))
    handler = make_handler(flush_interval=0.05)
    logger.addHandler(handler)
    logger.error("alpha failed %s", 1)
    outcome: list[bool] = []
    flusher = threading.Thread(target=lambda: outcome.append(handler.flush(10)))
    flusher.start()
    _wait_attempts(receiver, 1)
    time.sleep(0.1)  # the flush marker is taken, and waits on alpha in the schedule
    dispatcher = handler.worker.dispatcher

    def broken(now: float) -> float | None:
        raise RuntimeError("injected")
    dispatcher.next_due = broken  # type: ignore[method-assign]
    logger.error("beta failed %s", 1)  # wakes the worker, which now fails
    flusher.join(15)
    deadline = time.monotonic() + 5
    while not handler.stats()["dropped"] and time.monotonic() < deadline:
        time.sleep(0.01)  # the failed worker counts what it held
    stats = handler.stats()
    assert stats["records_delivered"] == 0 and stats["dropped"].get("internal_error"), stats
    assert outcome == [False], stats


@pytest.mark.timeout(30)
@pytest.mark.parametrize("options", [{"threshold": 3}, {"max_events_per_minute": 1}],
                         ids=["below_threshold", "storm_control"])
def test_an_inline_flush_does_not_report_success_while_groups_are_held_back(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        no_worker_thread: None, options: dict[str, int]) -> None:
    """README: "flush() returns False while records are held below the threshold", and
    True only "when all of it was delivered". With no worker thread, the flush delivers
    inline and returns True though a group is still held back (below its threshold, or
    by storm control) and stats() shows it pending; close() then drops it."""
    handler = make_handler(flush_interval=0.05, **options)
    logger.addHandler(handler)
    logger.error("alpha failed %s", 1)
    logger.error("beta failed %s", 1)
    outcome = handler.flush(5)
    stats = handler.stats()
    assert stats["records_delivered"] < 2 and stats["records_pending"] > 0, stats
    assert outcome is False, stats



class _RecordingRings(queue.SimpleQueue[None]):
    """A bell's queue that notes the timeout of every blocking get."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def get(self, block: bool = True, timeout: float | None = None) -> None:
        if block:
            self.timeouts.append(timeout)
        return super().get(block, timeout)


def test_a_bell_never_waits_with_a_deadline_that_can_pass_before_its_first_look() -> None:
    """Python 3.10's SimpleQueue.get(timeout=t) waits for good when its deadline passes
    before its first look at the queue ends (the spent deadline becomes -1 microseconds:
    no timeout). A SIGTERM's last flush wait, handed the microseconds left of its budget,
    held the process until it was killed (CI: "SIGTERM took 12.2 s for a 1 s budget");
    alone, get(timeout=1e-9) in a loop hangs within about 100,000 calls. A bell waits at
    least MIN_BELL_WAIT, and looks without blocking for a spent timeout. (Off the main
    thread: there, before 3.13, a timed wait polls instead; see the test below.)"""
    def waits() -> None:
        bell = Bell()
        rings = bell._rings = _RecordingRings()
        assert [bell.wait(t) for t in (1e-9, 1e-4, 0.0, -1.0)] == [False] * 4
        assert rings.timeouts == [MIN_BELL_WAIT, MIN_BELL_WAIT]
        bell.set()
        assert bell.wait(1e-9) and bell.wait(0.0)  # rung: found without waiting
        done.append(True)

    done: list[bool] = []
    thread = threading.Thread(target=waits)
    thread.start()
    thread.join(10)
    assert done == [True]


@pytest.mark.timeout(10)
@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals")
def test_a_bell_wait_outlasted_by_a_signal_handler_ends_at_its_timeout() -> None:
    """Before Python 3.13, SimpleQueue.get(timeout=...) blocks for good when a signal
    handler runs during it for longer than it had left: a SIGTERM whose shutdown waited
    out its budget, landing in a main-thread flush(), hung the process."""
    bell = Bell()
    previous = signal.signal(signal.SIGUSR1, lambda *args: time.sleep(0.5))
    try:
        main = threading.main_thread().ident
        timer = threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGUSR1))
        timer.start()
        started = time.monotonic()
        assert bell.wait(0.3) is False
        assert time.monotonic() - started >= 0.3
        bell.set()
        assert bell.wait(1.0)  # rung: found
    finally:
        signal.signal(signal.SIGUSR1, previous)
