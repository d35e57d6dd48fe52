"""The send schedule: backoffs do not hold the worker, and new problems go first."""

from __future__ import annotations

import logging
import time

import pytest

from incidentio_logging._delivery import Attempts, RetryPolicy
from incidentio_logging._schedule import KNOWN_PROBLEM, NEW_PROBLEM, RESOLVE, Schedule, Send
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import MakeHandler, Rig


def problem(attempt_body: bytes) -> str:
    """Which test problem an attempt was for, by the word its message starts with."""
    for name in ("alpha", "beta", "gamma"):
        if f"{name} failed".encode() in attempt_body:
            return name
    return "?"


def attempts(receiver: LocalReceiver) -> list[tuple[str, int]]:
    return [(problem(a.body), a.status) for a in receiver.attempts]


def test_the_most_urgent_due_send_goes_first_and_a_hold_stops_all() -> None:
    """New problem, then known problem, then resolve; oldest first among equals; a 429
    hold keeps every send back until it ends, and ends those whose budget runs out."""
    schedule, ended = Schedule(), []
    policy = RetryPolicy(max_time=30)

    def send(priority: int, name: str) -> Send:
        return Send(priority, name.encode(), Attempts(policy),
                    lambda outcome: ended.append((name, outcome.reason)))

    for item in (send(RESOLVE, "resolve"), send(KNOWN_PROBLEM, "refresh"),
                 send(NEW_PROBLEM, "new-1"), send(NEW_PROBLEM, "new-2")):
        schedule.add(item, 0.0)
    schedule.hold(10.0, 0.0)
    assert schedule.pop_due(9.9) is None and schedule.next_due() == 10.0
    order = []
    while (due := schedule.pop_due(10.0)) is not None:
        order.append(due.body.decode())
    assert order == ["new-1", "new-2", "refresh", "resolve"]
    late = send(NEW_PROBLEM, "late")  # not tried: its 30 s would end before the hold
    schedule.add(late, 10.0)
    schedule.hold(40.0, 10.0)
    assert ended == [("late", "rate_limited")] and len(schedule) == 0


def test_a_new_problem_overtakes_refreshes_held_by_storm_control(
        receiver: LocalReceiver) -> None:
    """Two problems spent the minute's budget and their repeats wait; when slots free,
    a new problem's first event takes the first one."""
    rig = Rig(receiver, max_events_per_minute=2, refresh_interval=None)
    rig.log("alpha failed %s")
    rig.log("beta failed %s")
    rig.ship()
    rig.advance(1)
    rig.log("alpha failed %s")
    rig.log("beta failed %s")
    rig.ship()  # over the budget: both held back
    rig.advance(60)
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
    rig.ship()  # while held: not sent
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
    handler = make_handler(flush_interval=0.05, queue_size=10)
    logger.addHandler(handler)
    logger.error("alpha failed %s", 1)
    deadline = time.monotonic() + 5
    while not receiver.attempts and time.monotonic() < deadline:
        time.sleep(0.01)
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
