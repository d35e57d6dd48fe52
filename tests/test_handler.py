"""The handler end to end against the local receiver: emit, queue, worker, delivery."""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import queue
import threading
import time

import pytest

from incidentio_logging import IncidentIOHandler, Reply
from incidentio_logging._dispatch import Timing
from incidentio_logging._serialize import RecordSerializer
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import MakeHandler, floods, worker_threads


def stalled(handler: IncidentIOHandler, logger: logging.Logger,
            receiver: LocalReceiver) -> IncidentIOHandler:
    """Attach ``handler`` and leave its worker stuck in a request the receiver holds."""
    logger.addHandler(handler)
    receiver.hold()
    logger.error("first")
    receiver.wait_in_flight(1)
    return handler


def test_an_error_becomes_a_firing_event(make_handler: MakeHandler, receiver: LocalReceiver,
                                         logger: logging.Logger) -> None:
    """logger.error(...) reaches the receiver as one event with the record in data."""
    handler = make_handler(metadata="service=checkout")
    logger.addHandler(handler)
    logger.error("Card declined for order %s", "A-1", extra={"order_id": "A-1"})
    assert handler.flush(5)
    (event,) = receiver.events
    assert event.status == "firing"
    assert event.title == f"ERROR {logger.name}: Card declined for order A-1"
    assert event.metadata["service"] == "checkout"
    (record,) = event.records
    assert (record["message"], record["order_id"]) == ("Card declined for order A-1", "A-1")
    assert handler.stats()["records_delivered"] == 1


def test_records_below_the_level_or_rejected_by_the_predicate_are_not_sent(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Level ERROR by default; a predicate selects on its own."""
    handlers = [make_handler(), make_handler(predicate=lambda r: "pay" in r.getMessage())]
    for handler in handlers:
        logger.addHandler(handler)
    logger.warning("not sent by the first handler")
    logger.info("payment retried")
    logger.info("nothing to see")
    for handler in handlers:
        assert handler.flush(5)
    assert sorted(r["message"] for e in receiver.events for r in e.records) == [
        "payment retried"]


def test_a_predicate_that_raises_selects_the_record_and_says_so(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Like a rule term that cannot be read, a raising predicate fails open: the record
    is sent (a missed alert is worse than an extra one), and stderr says why."""
    def predicate(record: logging.LogRecord) -> bool:
        return record.args[0] > 1  # type: ignore[index, operator]

    handler = make_handler(predicate=predicate)
    logger.addHandler(handler)
    logger.error("no args at all")
    logger.error("retry %d", 0)
    assert handler.flush(5)
    assert [r["message"] for e in receiver.events for r in e.records] == ["no args at all"]
    assert "predicate raised IndexError" in capsys.readouterr().err
    assert handler.stats()["records_accepted"] == 1


def test_emit_never_waits_on_the_network(make_handler: MakeHandler, receiver: LocalReceiver,
                                         logger: logging.Logger) -> None:
    """While the receiver holds a request unanswered, logging calls still return.

    If emit waited on the network, the second batch of calls would never return
    (the receiver is only released after them) and the test would time out.
    """
    handler = stalled(make_handler(), logger, receiver)
    for i in range(200):
        logger.error("while blocked %d", i)
    assert handler.stats()["records_pending"] == 201  # 200 queued, 1 in flight
    receiver.release()
    assert handler.flush(10)
    assert handler.stats()["records_delivered"] == 201


def test_emit_never_raises_into_the_application(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A raising predicate, a broken format call and hostile extras: no exception escapes."""

    def predicate(record: logging.LogRecord) -> bool:
        if record.msg == "explode":
            raise RuntimeError("predicate bug")
        return True

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    handler = make_handler(predicate=predicate)
    logger.addHandler(handler)
    logger.error("explode")
    logger.error("two %s %s", "args?")  # noqa: PLE1206 - the broken call is the test
    logger.error("hostile", extra={"thing": Hostile(), "nan": float("nan")})
    assert handler.flush(5)
    messages = sorted(r["message"] for e in receiver.events for r in e.records)
    assert messages[0] == "'two %s %s' % ('args?',) (message could not be formatted: TypeError)"
    assert messages[1:] == ["explode", "hostile"]  # the raising predicate fails open
    assert "RuntimeError: predicate bug" in capsys.readouterr().err
    assert handler.stats()["records_accepted"] == 3


def test_emit_does_not_mutate_the_record(make_handler: MakeHandler,
                                         logger: logging.Logger) -> None:
    """Other handlers see the record exactly as the logger made it."""
    seen: list[dict[str, object]] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(dict(record.__dict__))

    logger.addHandler(make_handler())
    logger.addHandler(Spy())
    try:
        raise ValueError("x")
    except ValueError:
        logger.exception("failed %s", "once")
    assert "message" not in seen[0]
    assert seen[0]["exc_text"] is None


def test_serialization_and_tracebacks_happen_on_the_worker(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """str() of the exception and repr() of extras run on the worker thread, not the caller."""
    caller = threading.get_ident()
    threads: list[tuple[str, int]] = []

    class Tracked(Exception):
        def __str__(self) -> str:
            threads.append(("exception", threading.get_ident()))
            return "tracked"

    class Extra:
        def __repr__(self) -> str:
            threads.append(("extra", threading.get_ident()))
            return "<Extra>"

    handler = make_handler(title="{level} {logger}")  # the default title reads the exception
    logger.addHandler(handler)
    try:
        raise Tracked
    except Tracked:
        logger.exception("failed", extra={"thing": Extra()})
    # The worker may already have formatted the traceback: it does so on taking the record.
    assert caller not in {ident for _, ident in threads}
    assert handler.flush(5)
    assert {kind for kind, _ in threads} == {"exception", "extra"}
    assert caller not in {ident for _, ident in threads}
    (record,) = receiver.events[0].records
    assert record["thing"] == "<Extra>" and "Tracked: tracked" in record["exc_info"]


def test_what_is_sent_is_what_was_logged(make_handler: MakeHandler, receiver: LocalReceiver,
                                         logger: logging.Logger) -> None:
    """Arguments mutated after the call do not change the message that is sent."""
    handler = make_handler(flush_interval=0.5)
    logger.addHandler(handler)
    cart = ["apple"]
    logger.error("cart was %s", cart, extra={"cart_size": len(cart)})
    cart.append("pear")
    assert handler.flush(5)
    (record,) = receiver.events[0].records
    assert (record["message"], record["cart_size"]) == ("cart was ['apple']", 1)


def test_a_full_queue_drops_and_counts(make_handler: MakeHandler, receiver: LocalReceiver,
                                       logger: logging.Logger) -> None:
    """With the worker stuck on the network, the queue holds queue_size and no more."""
    handler = stalled(make_handler(queue_size=100), logger, receiver)
    for i in range(125):
        logger.error("flood %d", i)
    stats = handler.stats()
    assert stats["records_pending"] == 101  # the queue's 100, and 1 in flight
    assert stats["dropped"] == {"queue_full": 25}
    receiver.release()
    assert handler.flush(10)  # everything that was queued got delivered
    stats = handler.stats()
    assert stats["records_accepted"] == 126
    assert stats["records_delivered"] + stats["records_dropped"] == 126


def test_the_worker_starts_lazily_one_daemon_per_handler(
        make_handler: MakeHandler, logger: logging.Logger) -> None:
    """No thread at construction; one named daemon thread after the first record."""
    before = set(worker_threads())
    handler = make_handler()
    assert set(worker_threads()) == before
    logger.addHandler(handler)
    for _ in range(50):
        logger.error("x")
    assert handler.flush(5)
    new = set(worker_threads()) - before
    assert len(new) == 1
    (thread,) = new
    assert thread.daemon


def test_grouping_by_fingerprint_makes_one_event_per_problem(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Two problems in one window give two events, each with its own records."""
    handler = make_handler(flush_interval=0.3)
    logger.addHandler(handler)
    for order in ("A-1", "A-2", "A-3"):
        logger.error("Card declined for order %s", order)
    logger.error("Stock lookup failed")
    assert handler.flush(5)
    titles = sorted(e.title for e in receiver.events)
    assert titles == [f"ERROR {logger.name}: Card declined for order A-1 (+2 more)",
                      f"ERROR {logger.name}: Stock lookup failed"]


def test_group_by_none_sends_one_event_per_window(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """The reference's behaviour: everything in the window in one event."""
    handler = make_handler(group_by="none", flush_interval=0.3)
    logger.addHandler(handler)
    logger.error("one")
    logger.critical("two")
    assert handler.flush(5)
    (event,) = receiver.events
    assert [r["message"] for r in event.records] == ["one", "two"]


def test_fingerprint_dedup_reuses_one_key_across_windows(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Repeats of one problem in later windows carry the same key."""
    handler = make_handler(dedup="fingerprint")
    logger.addHandler(handler)
    logger.error("disk full on %s", "db-1")
    assert handler.flush(5)
    logger.error("disk full on %s", "db-2")
    assert handler.flush(5)
    first, second = receiver.events
    assert first.deduplication_key == second.deduplication_key


def test_transient_failures_are_retried_with_the_same_key(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """503 then 429 (Retry-After: 0), then delivered; every attempt has identical bytes."""
    receiver.script(Scripted(503, headers={"Retry-After": "0"}),
                    Scripted(429, headers={"Retry-After": "0"}))
    handler = make_handler()
    logger.addHandler(handler)
    logger.error("flaky")
    assert handler.flush(5)
    assert [a.status for a in receiver.attempts] == [503, 429, 202]
    assert len({a.body for a in receiver.attempts}) == 1
    assert handler.stats()["retries"] == 2


def test_a_refusal_is_reported_once_and_never_retried(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """401: one attempt per event, one clear stderr line, no token in it."""
    handler = make_handler(api_token="wrong-token-abcdefghijkl")
    logger.addHandler(handler)
    logger.error("first")
    assert not handler.flush(5)
    logger.error("second")
    assert not handler.flush(5)
    assert [a.status for a in receiver.attempts] == [401, 401]
    err = capsys.readouterr().err
    assert err.count("incidentio-logging:") == 1
    assert "HTTP 401" in err and "authentication_error" in err and "check api_token" in err
    assert "wrong-token-abcdefghijkl" not in err
    assert handler.stats()["dropped"] == {"rejected": 2}


def test_a_422_names_incident_ios_message(make_handler: MakeHandler, receiver: LocalReceiver,
                                          logger: logging.Logger,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The report quotes the validation error and its field."""
    receiver.script(Scripted(422, body={"type": "validation_error", "errors": [
        {"message": "Deduplication key is required",
         "source": {"field": "deduplication_key"}}]}))
    handler = make_handler()
    logger.addHandler(handler)
    logger.error("x")
    handler.flush(5)
    assert "deduplication_key: Deduplication key is required" in capsys.readouterr().err


def test_records_from_the_worker_thread_are_never_sent(
        make_handler: MakeHandler, receiver: LocalReceiver) -> None:
    """Root at DEBUG: urllib3's own debug lines from the worker must not become events."""
    root = logging.getLogger()
    old_level = root.level
    handler = make_handler(level="DEBUG")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        logging.getLogger("tests.recursion").error("the only record")
        assert handler.flush(5)
        logging.getLogger("tests.recursion").error("and a second window")
        assert handler.flush(5)
        time.sleep(0.2)  # give a recursive event, if any, the time to be sent
        assert handler.flush(5)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    loggers = {r["logger"] for e in receiver.events for r in e.records}
    assert loggers == {"tests.recursion"}
    assert handler.stats()["records_accepted"] == 2


def test_logging_after_close_is_counted_not_sent(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """After close(), records are dropped as 'closed', silently; close() twice is fine."""
    handler = make_handler()
    logger.addHandler(handler)
    handler.close()
    handler.close()
    for _ in range(100):
        logger.error("too late")
    assert handler.stats()["dropped"] == {"closed": 100}
    assert capsys.readouterr().err == ""
    assert receiver.attempts == []


def test_close_delivers_pending_records(make_handler: MakeHandler, receiver: LocalReceiver,
                                        logger: logging.Logger) -> None:
    """A long window does not delay close(): pending records go out at once."""
    handler = make_handler(flush_interval=60)
    logger.addHandler(handler)
    logger.error("pending at close")
    handler.close()
    assert [r["message"] for r in receiver.events[0].records] == ["pending at close"]
    assert not any(t.is_alive() for t in worker_threads() if t is handler.worker.thread)


def test_close_in_the_middle_of_a_backoff_keeps_its_deadline(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Retry-After: 20 from the receiver; close() still returns within shutdown_timeout."""
    receiver.script(*[Scripted(503, headers={"Retry-After": "20"})] * 3)
    handler = make_handler(shutdown_timeout=0.5)
    logger.addHandler(handler)
    logger.error("will not make it")
    deadline = time.monotonic() + 5
    while not receiver.attempts and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # now inside the 20 s backoff
    started = time.monotonic()
    handler.close()
    assert time.monotonic() - started < 0.5 + 0.25
    assert handler.stats()["dropped"] == {"shutdown_timeout": 1}


def test_flush_without_timeout_is_bounded_by_shutdown_timeout(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """logging.shutdown() calls flush() bare: it must not wait forever on a stuck network."""
    handler = make_handler(shutdown_timeout=0.3)
    logger.addHandler(handler)
    receiver.hold()
    logger.error("stuck")
    receiver.wait_in_flight(1)
    assert handler.flush() is False


class ExplodingTransport:
    """A user transport with a bug: raises something that is not a TransportError."""

    def __init__(self) -> None:
        self.calls = 0

    def post(self, body: bytes, timeout: float) -> Reply:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("transport bug")
        return Reply(202)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_raising_transport_costs_the_event_not_the_worker(
        make_handler: MakeHandler, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The event is counted as internal_error, reported, and the next one goes out."""
    transport = ExplodingTransport()
    handler = make_handler(transport=transport)
    logger.addHandler(handler)
    logger.error("lost to the bug")
    assert not handler.flush(5)
    logger.error("delivered after it")
    assert handler.flush(5)
    stats = handler.stats()
    assert stats["dropped"] == {"internal_error": 1}
    assert stats["records_delivered"] == 1
    assert "RuntimeError: transport bug" in capsys.readouterr().err


def test_a_record_that_cannot_be_grouped_is_dropped_alone(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed queue item is counted as internal_error; the worker carries on."""
    handler = make_handler()
    logger.addHandler(handler)
    handler.worker.submit({"message": "", "exc_info": None, "not": "a captured record"})
    logger.error("after")
    handler.flush(5)
    assert "a record could not be grouped (KeyError" in capsys.readouterr().err
    stats = handler.stats()
    assert stats["dropped"] == {"internal_error": 1}
    assert (stats["records_delivered"], stats["records_pending"]) == (1, 0)


def test_a_crashed_worker_is_replaced_by_the_next_record(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A fault in the worker loop itself: its records are counted, a new worker starts."""
    handler = make_handler()
    logger.addHandler(handler)
    dispatcher = handler.worker.dispatcher
    real_ship = dispatcher.ship

    def ship_once_broken(timing: Timing, *, flush: bool = False) -> None:
        monkeypatch.setattr(dispatcher, "ship", real_ship)
        raise RuntimeError("injected fault")

    monkeypatch.setattr(dispatcher, "ship", ship_once_broken)
    logger.error("lost in the crash")
    first_worker = handler.worker.thread
    assert first_worker is not None
    first_worker.join(5)
    assert "worker thread failed: RuntimeError: injected fault" in capsys.readouterr().err
    assert handler.stats()["dropped"] == {"internal_error": 1}
    logger.error("after")
    assert handler.flush(5)
    assert handler.worker.thread is not first_worker
    assert [r["message"] for e in receiver.events for r in e.records] == ["after"]


def test_a_flood_is_counted_without_capturing_each_record(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Past max_batch_size, records of the same problem are only counted, exactly."""
    handler = make_handler(max_batch_size=10, flush_interval=30)
    logger.addHandler(handler)
    for i in range(10):
        logger.error("disk full on %s", i)
    worker = handler.worker
    worker.wake()  # drain now rather than at the end of the window
    assert worker.wait_idle(5)
    assert floods(handler).open
    for i in range(10, 1000):
        logger.error("disk full on %s", i)
    assert worker.pending() == 0  # counted on this thread: nothing queued
    assert handler.stats()["records_accepted"] == 1000
    logger.error("a different problem")  # still captured and sent, mid-flood
    try:
        raise KeyError("k")
    except KeyError:
        logger.exception("disk full on %s", "x")  # same template, another fingerprint
    assert handler.flush(5)  # 990 were only counted: by design, not a failed delivery
    events = {e.title: e for e in receiver.events}
    flood = events[f"ERROR {logger.name}: disk full on 0 (+999 more)"]
    assert len(flood.records) == 10
    assert flood.metadata["incidentio_logging"]["omitted_records"] == 990
    assert f"ERROR {logger.name}: a different problem" in events
    assert f"ERROR {logger.name}: disk full on x" in events
    stats = handler.stats()
    assert stats["records_accepted"] == 1002
    assert stats["records_delivered"] == 12
    assert stats["dropped"] == {"batch_full": 990}
    logger.error("disk full on %s", "next window")  # a new window: captured again
    assert handler.flush(5)
    assert receiver.events[-1].records[0]["message"] == "disk full on next window"


def test_the_worker_serializes_only_the_records_it_sends(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood with max_batch_size=5 costs five serializations per event, not thousands."""
    serialized = []
    original = RecordSerializer.serialize

    def counting(self: RecordSerializer, record: logging.LogRecord) -> bytes:
        serialized.append(record.getMessage())
        return original(self, record)

    monkeypatch.setattr(RecordSerializer, "serialize", counting)
    handler = make_handler(max_batch_size=5)
    logger.addHandler(handler)
    for i in range(5000):
        logger.error("disk full on %s", i, extra={"payload": "x" * 1000})
    assert handler.flush(10)  # the rest were only counted: by design, not a failure
    stats = handler.stats()
    received = [r["message"] for e in receiver.events for r in e.records]
    # Delivery, as the receiver saw it: without it every count below would be zero.
    assert received and stats["events_sent"] == len(receiver.events)
    assert len(received) == stats["records_delivered"] == len(serialized)
    assert stats["records_delivered"] == len(serialized) == 5 * stats["events_sent"]
    assert stats["records_accepted"] == 5000


def test_a_fault_inside_emit_is_counted_not_lost(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Even a record that breaks emit() itself is counted as dropped (internal_error)."""
    handler = make_handler(max_batch_size=1, flush_interval=30)
    logger.addHandler(handler)
    template = "disk full on %s"
    logger.error(template, 1)
    worker = handler.worker
    worker.wake()
    assert worker.wait_idle(5)
    assert floods(handler).open
    record = logger.makeRecord(logger.name, logging.ERROR, "f.py", 1, template, (2,), None)
    record.exc_info = 5  # type: ignore[assignment] - what a buggy filter might leave
    handler.handle(record)
    assert handler.stats()["dropped"] == {"internal_error": 1}
    assert "counted as dropped" in capsys.readouterr().err


def test_a_flood_is_reported_once_per_interval(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Three windows of a flood, each with records only counted: one line on stderr."""
    handler = make_handler(max_batch_size=10)
    logger.addHandler(handler)
    for _ in range(3):
        for i in range(100):
            logger.error("disk full on %s", i)
        handler.flush(5)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "were counted, not sent" in lines[0], lines
    assert handler.stats()["dropped"] == {"batch_full": 270}


def test_a_record_without_created_is_counted_once(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """A hand-made record with no ``created`` is delivered, stamped when the worker took
    it, and counted once: the title says "+1 more" for two records, and the books balance."""
    handler = make_handler()
    logger.addHandler(handler)
    partial = logger.makeRecord(logger.name, logging.ERROR, "f.py", 1, "sync %s failed",
                                ("a",), None)
    del partial.created
    before = time.time()
    logger.handle(partial)
    logger.error("sync %s failed", "b")
    assert handler.flush(5)
    (event,) = receiver.events
    assert event.title == f"ERROR {logger.name}: sync a failed (+1 more)"
    assert len(event.records) == 2
    assert event.records[0]["timestamp"] >= dt.datetime.fromtimestamp(
        before, dt.timezone.utc).isoformat()
    stats = handler.stats()
    assert stats["records_accepted"] == stats["records_delivered"] == 2
    assert stats["records_pending"] == 0 and stats["dropped"] == {}


def test_a_closed_handlers_flush_returns_at_once(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """logging.shutdown() flushes a handler already closed: it must not wait a second
    shutdown_timeout. False, since close() left a record undelivered."""
    handler = make_handler(shutdown_timeout=1)
    logger.addHandler(handler)
    receiver.hold()
    logger.error("stuck")
    receiver.wait_in_flight(1)
    handler.close()
    started = time.monotonic()
    assert handler.flush() is False
    assert time.monotonic() - started < 0.5  # not another shutdown_timeout
    stats = handler.stats()  # the request close() gave up on: sent, no reply yet
    assert (stats["records_pending"], stats["dropped"]) == (0, {"unknown_outcome": 1})


def test_a_closed_handlers_flush_says_true_when_close_delivered_everything(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Nothing was left undelivered by close(): flush() afterwards says so."""
    handler = make_handler()
    logger.addHandler(handler)
    logger.error("delivered at close")
    handler.close()
    assert handler.flush() is True
    assert len(receiver.events) == 1


def test_behind_a_queue_listener_the_handler_level_still_applies(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """QueueListener calls handle() directly (respect_handler_level is False by default):
    an INFO record must not alert through an ERROR handler."""
    handler = make_handler()
    pipe: queue.Queue[logging.LogRecord] = queue.Queue()
    logger.addHandler(logging.handlers.QueueHandler(pipe))
    listener = logging.handlers.QueueListener(pipe, handler)
    listener.start()
    logger.info("routine")
    logger.error("alert")
    listener.stop()
    assert handler.flush(5)
    assert [r["message"] for e in receiver.events for r in e.records] == ["alert"]
    assert handler.stats()["records_accepted"] == 1


def test_the_queue_is_bounded_by_bytes_too(make_handler: MakeHandler, receiver: LocalReceiver,
                                           logger: logging.Logger) -> None:
    """600 messages of 1 MB with the worker stuck: each is cut at capture, and the queue
    stops at max_queue_bytes (32 MiB by default), counting the rest as queue_bytes."""
    handler = stalled(make_handler(), logger, receiver)
    big = "x" * 1_000_000
    for _ in range(600):
        logger.error(big)
    stats = handler.stats()
    assert 0 < stats["dropped"]["queue_bytes"] < 600
    assert handler.worker.queued_bytes() <= 32 * 1024 * 1024
    receiver.release()
    handler.flush(10)
    handler.close()
    stats = handler.stats()
    assert stats["records_accepted"] == 601
    assert stats["records_delivered"] + stats["records_dropped"] == 601


@pytest.mark.parametrize("value", [1000, "lots", 2.5, True])
def test_a_bad_max_queue_bytes_is_refused_naming_the_option(
        receiver: LocalReceiver, value: object) -> None:
    """Under 1 MiB, or not a whole number: refused when the handler is built."""
    with pytest.raises((ValueError, TypeError), match="max_queue_bytes"):
        IncidentIOHandler(**receiver.handler_options(), max_queue_bytes=value)


def test_max_queue_bytes_may_be_a_string_as_in_ini_files(receiver: LocalReceiver) -> None:
    """dictConfig from a file hands over text."""
    handler = IncidentIOHandler(**receiver.handler_options(), max_queue_bytes="2097152")
    assert handler.settings.max_queue_bytes == 2 * 1024 * 1024
    assert IncidentIOHandler(**receiver.handler_options()).settings.max_queue_bytes == 32 << 20


@pytest.mark.timeout(20)
def test_records_counted_by_design_do_not_fail_a_live_flush(receiver: LocalReceiver) -> None:
    """README, Exit: records "counted, not sent, by design (batch_full, body_size) ... do
    not make a later flush() return False"; a closed handler's flush() agrees (True). But
    a live handler's flush() of the very same records says False: Worker._settle compares
    Stats.worker_dropped(), which counts batch_full and body_size like real losses
    (_worker.COUNTED is applied only at close). A flood past max_batch_size makes every
    flush (Celery's per-task flush, flush_all in a finally) report a failed delivery
    while everything that was to be sent arrived."""
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05,
                                max_batch_size=2)
    try:
        for number in range(5):
            handler.handle(logging.makeLogRecord({
                "name": "app", "levelno": logging.ERROR, "levelname": "ERROR",
                "msg": "payment %s failed", "args": (number,)}))
        live = handler.flush(5.0)
        stats = handler.stats()
        assert stats["records_delivered"] == 2 and stats["dropped"] == {"batch_full": 3}
    finally:
        handler.close()
    assert handler.flush() is True  # closed: the same records judged clean
    assert live is True
