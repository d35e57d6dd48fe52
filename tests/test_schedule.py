"""The send schedule: backoffs do not hold the worker, and new problems go first."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging._delivery import Attempts, RetryPolicy
from incidentio_logging._report import Reporter
from incidentio_logging._schedule import KNOWN_PROBLEM, NEW_PROBLEM, RESOLVE, Schedule, Send
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import MakeHandler, Rig, repeats_held_by_storm_control
from .test_worker import _wait_attempts


def problem(attempt_body: bytes) -> str:
    """Which test problem an attempt was for, by the word its message starts with."""
    for name in ("alpha", "beta", "gamma", "delta"):
        if f"{name} failed".encode() in attempt_body:
            return name
    return "?"


def attempts(receiver: LocalReceiver) -> list[tuple[str, int]]:
    return [(problem(a.body), a.status) for a in receiver.attempts]


def alpha_attempted(make_handler: MakeHandler, receiver: LocalReceiver,
                    logger: logging.Logger) -> IncidentIOHandler:
    """A handler with a queue of 10 on ``logger``, whose first event, alpha, the receiver
    has seen (and answered as scripted)."""
    handler = make_handler(flush_interval=0.05, queue_size=10)
    logger.addHandler(handler)
    logger.error("alpha failed %s", 1)
    _wait_attempts(receiver, 1)
    return handler


def test_the_most_urgent_due_send_goes_first_and_a_pause_stops_all() -> None:
    """New problem, then known problem, then resolve; oldest first among equals; a 429
    pause keeps every send back until it ends, and ends those whose budget runs out."""
    schedule, ended = Schedule(), []
    policy = RetryPolicy(max_time=30)

    def send(priority: int, name: str) -> Send:
        return Send(priority, name.encode(), Attempts(policy),
                    lambda outcome: ended.append((name, outcome.reason)))

    for item in (send(RESOLVE, "resolve"), send(KNOWN_PROBLEM, "refresh"),
                 send(NEW_PROBLEM, "new-1"), send(NEW_PROBLEM, "new-2")):
        schedule.add(item, 0.0)
    schedule.pause(10.0, 0.0)
    assert schedule.pop_due(9.9) is None and schedule.next_due() == 10.0
    order = []
    while (due := schedule.pop_due(10.0)) is not None:
        order.append(due.body.decode())
    assert order == ["new-1", "new-2", "refresh", "resolve"]
    late = send(NEW_PROBLEM, "late")  # not tried: its 30 s would end before the pause
    schedule.add(late, 10.0)
    schedule.pause(40.0, 10.0)
    assert ended == [("late", "rate_limited")] and len(schedule) == 0


def test_a_new_problem_overtakes_refreshes_held_by_storm_control(
        receiver: LocalReceiver) -> None:
    """Two problems spent the minute's budget and their repeats wait; when slots free,
    a new problem's first event takes the first one."""
    rig = repeats_held_by_storm_control(receiver)
    rig.advance(59)
    rig.log("gamma failed %s")
    rig.ship()
    assert [name for name, _ in attempts(receiver)] == ["alpha", "beta", "gamma", "alpha"]


def test_after_a_429_the_new_problem_goes_first_and_nothing_goes_before_retry_after(
        receiver: LocalReceiver) -> None:
    """A repeat of a fired problem gets 429 Retry-After 5: every event waits the 5 s (the
    limit is the key's), and then the new problem's first event goes before the retry."""
    rig = Rig(receiver, refresh_interval=None)
    rig.log("alpha failed %s")
    rig.ship()
    receiver.script(Scripted(429, headers={"Retry-After": "5"}))
    rig.advance(1)
    rig.log("alpha failed %s")
    rig.ship()
    rig.log("gamma failed %s")
    rig.ship()  # while paused: not sent
    rig.advance(4.9)
    rig.dispatcher.send_due(rig.timing)
    assert attempts(receiver) == [("alpha", 202), ("alpha", 429)]
    assert rig.dispatcher.next_send() == pytest.approx(rig.clock.now + 0.1)
    rig.advance(0.1)
    rig.dispatcher.send_due(rig.timing)
    assert attempts(receiver) == [("alpha", 202), ("alpha", 429), ("gamma", 202),
                                  ("alpha", 202)]
    assert rig.stats.delivered == 3 and rig.stats.retries == 1


def test_a_backoff_on_one_event_does_not_hold_another_problem(
        receiver: LocalReceiver) -> None:
    """A 503 backs one event off; a different problem's first event goes at once."""
    rig = Rig(receiver)
    receiver.script(Scripted(503))
    rig.log("alpha failed %s")
    rig.ship()
    rig.log("beta failed %s")
    rig.ship()
    assert attempts(receiver) == [("alpha", 503), ("beta", 202)]
    assert not rig.clock.waits  # nothing slept
    rig.settle()
    assert attempts(receiver)[-1] == ("alpha", 202)
    assert rig.stats.delivered == 2


@pytest.mark.timeout(30)
def test_the_queue_keeps_draining_while_an_event_backs_off(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """One event waits out a 1 s Retry-After (a 503); meanwhile 25 records of another
    problem arrive in bursts of 5 into a queue of 10: none is dropped as queue_full, they
    are windowed into a few events, and the first goes before the backoff ends."""
    receiver.script(Scripted(503, headers={"Retry-After": "1"}))
    handler = alpha_attempted(make_handler, receiver, logger)
    for burst in range(5):
        for n in range(5):
            logger.error("beta failed %s", burst * 5 + n)
        time.sleep(0.1)
    assert handler.flush(10)
    stats = handler.stats()
    assert stats["dropped"] == {} and stats["records_delivered"] == 26, stats
    order = attempts(receiver)
    assert order[0] == ("alpha", 503)
    assert order.index(("beta", 202)) < order.index(("alpha", 202)), order
    assert sum(name == "beta" for name, _ in order) <= 3, order  # windowed, not 25


@pytest.mark.timeout(20)
def test_a_429_longer_than_max_retry_time_still_pauses_every_other_event(
        receiver: LocalReceiver) -> None:
    """incident.io answers 429 Retry-After 3600: the key is limited for an hour. The
    event that got it gives up (its max_retry_time is shorter), but the limit is the
    key's: the other events waiting must not be sent into it one by one."""
    rig = Rig(receiver, refresh_interval=None)
    receiver.rate_limit(1)
    rig.log("alpha failed %s")
    rig.ship()  # admitted: the minute's one request
    rig.advance(1)
    for name in ("beta", "gamma", "delta"):
        rig.log(f"{name} failed %s")
    rig.ship()
    assert [status for _, status in attempts(receiver)] == [202, 429]


@pytest.mark.timeout(20)
def test_with_max_retries_0_a_429_still_pauses_the_other_events(
        receiver: LocalReceiver) -> None:
    """max_retries=0: the event that gets 429 Retry-After 5 gives up at once, as asked.
    The key is still limited for 5 s: the next events wait, and are not sent into it."""
    rig = Rig(receiver, refresh_interval=None, max_retries=0)
    receiver.script(Scripted(429, headers={"Retry-After": "5"}))
    for name in ("alpha", "beta", "gamma"):
        rig.log(f"{name} failed %s")
    rig.ship()
    assert len(receiver.attempts) == 1, attempts(receiver)
    rig.settle()
    assert rig.stats.delivered == 2 and rig.stats.dropped_by_reason() == {"rate_limited": 1}


@pytest.mark.timeout(20)
def test_a_resolve_waiting_out_a_429_is_not_sent_after_the_problem_fires_again(
        receiver: LocalReceiver) -> None:
    """resolve_after=120 (longer than the default refresh_interval of 60 s). alpha goes
    quiet and its resolve gets 429 Retry-After 5; during those 5 s alpha is logged again.
    incident.io must end with the alert firing: a resolve sent after the newer firing
    event closes an alert whose problem is live (and the next record opens a new one)."""
    rig = Rig(receiver, resolve_after=120)
    rig.log("alpha failed %s")
    rig.ship()
    rig.advance(121)
    receiver.script(Scripted(429, headers={"Retry-After": "5"}))
    rig.resolve_due()
    assert [a.status for a in receiver.attempts] == [202, 429]
    rig.advance(1)
    rig.log("alpha failed %s")
    rig.ship()
    rig.settle()
    assert rig.stats.delivered == 2
    statuses = [event.status for event in receiver.events]
    assert statuses[-1] == "firing", statuses


@pytest.mark.timeout(30)
def test_a_flush_that_times_out_does_not_leave_the_worker_sleeping_through_a_backoff(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """alpha gets 503 Retry-After 20. The application calls flush(0.2) (a request's end,
    a Celery task's end), which returns False in time. The worker must not then sleep out
    alpha's 20 s backoff on its own: a different problem logged next must go within a
    few windows, as it does when nobody flushed, and the queue must keep draining."""
    receiver.script(Scripted(503, headers={"Retry-After": "20"}))
    handler = alpha_attempted(make_handler, receiver, logger)
    started = time.monotonic()
    assert handler.flush(0.2) is False
    assert time.monotonic() - started < 1
    for n in range(30):
        logger.error("beta failed %s", n)
        time.sleep(0.005)
    deadline = time.monotonic() + 3
    while (("beta", 202) not in attempts(receiver)) and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = handler.stats()
    assert ("beta", 202) in attempts(receiver), attempts(receiver)
    assert "queue_full" not in stats["dropped"], stats


@pytest.mark.timeout(30)
def test_the_queue_is_drained_between_attempts_when_many_events_are_due(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Eight problems' events are due at once and incident.io answers each in 0.3 s
    (well within timeout). One attempt may hold the worker; eight in a row hold it for
    2.4 s, during which the queue is not drained: records logged meanwhile run into
    queue_full, though the worker is between attempts seven times."""
    receiver.script(*[Scripted(delay=0.3) for _ in range(8)])
    handler = make_handler(flush_interval=0.05, queue_size=10)
    logger.addHandler(handler)
    for n in range(8):
        logger.error(f"problem {n} failed %s", n)
    _wait_attempts(receiver, 1)
    for n in range(40):  # 2 s, 20 a second: one per 50 ms window
        logger.error("beta failed %s", n)
        time.sleep(0.05)
    assert handler.flush(10)
    assert "queue_full" not in handler.stats()["dropped"], handler.stats()


@pytest.mark.timeout(30)
def test_an_event_waiting_its_turn_is_not_given_up_before_its_first_attempt(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Five problems in one window; incident.io answers each in 0.4 s, a healthy 202.
    max_retry_time=1 is the time one event may spend in *retries*. Before the send
    schedule each event's clock started at its own delivery; now it starts when the
    window closes, so the events behind the first two are dropped as send_failed,
    "out of time before an attempt", without ever being tried."""
    receiver.script(*[Scripted(delay=0.4) for _ in range(5)])
    handler = make_handler(flush_interval=0.05, max_retry_time=1.0)
    logger.addHandler(handler)
    for n in range(5):
        logger.error(f"problem {n} failed %s", n)
    handler.flush(10)
    assert len(receiver.attempts) == 5, handler.stats()["dropped"]
    assert handler.stats()["records_delivered"] == 5, handler.stats()


def test_a_send_added_while_a_429_pauses_past_its_budget_ends_at_once() -> None:
    """A 1-hour Retry-After: a new event could only wait out its retry budget, so it
    ends as rate_limited at once instead of filling the schedule for the hour."""
    schedule, ended = Schedule(), []
    schedule.pause(3600.0, 0.0)
    schedule.add(Send(NEW_PROBLEM, b"x", Attempts(RetryPolicy(max_time=30)),
                      lambda outcome: ended.append(outcome.reason)), 1.0)
    assert ended == ["rate_limited"] and len(schedule) == 0


def test_the_schedule_is_bounded_in_bytes_and_what_it_refuses_is_counted_once(
        receiver: LocalReceiver) -> None:
    """While a 429 pauses every send, the bodies waiting may not exceed the schedule's
    byte bound: the events past it are dropped as held_full, said once on stderr."""
    rig = Rig(receiver, refresh_interval=None)
    said = io.StringIO()
    rig.dispatcher._reporter = Reporter(clock=rig.clock, stream=lambda: said)
    receiver.script(Scripted(429, headers={"Retry-After": "5"}))
    rig.log("alpha failed %s")
    rig.ship()
    body = len(receiver.attempts[0].body)
    rig.dispatcher._schedule.max_bytes = body * 2 + body // 2  # alpha and one more
    for name in ("beta", "gamma", "delta"):
        rig.log(f"{name} failed %s")
    rig.ship()
    assert rig.stats.dropped_by_reason() == {"held_full": 2}
    assert said.getvalue().count("send schedule") == 1, said.getvalue()
    rig.settle()
    assert rig.stats.delivered == 2 and len(rig.dispatcher._schedule) == 0


@pytest.mark.timeout(30)
def test_records_taken_between_a_flushs_attempts_do_not_make_it_report_failure(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Three problems are flushed, each answered in 0.2 s; meanwhile another thread keeps
    logging, and the worker takes those records between the attempts. They came after
    the flush: it still reports everything before it delivered."""
    receiver.script(*[Scripted(delay=0.2) for _ in range(3)])
    handler = make_handler(flush_interval=5.0)
    logger.addHandler(handler)
    for n in range(3):
        logger.error(f"problem {n} failed %s", n)
    stop = threading.Event()

    def keep_logging() -> None:
        while not stop.is_set():
            logger.error("beta failed %s", 1)
            time.sleep(0.01)

    thread = threading.Thread(target=keep_logging)
    thread.start()
    try:
        assert handler.flush(10) is True
    finally:
        stop.set()
        thread.join()
    assert handler.stats()["events_sent"] >= 3
