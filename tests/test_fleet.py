"""A fleet at small N (issue 16): a few processes, a rate-limited receiver.

Correctness only, not speed: every record is delivered or counted dropped (and the
receiver got exactly the records counted delivered), the limit answers 429 and the
handlers retry, and, with the defaults, the rare error arrives while the processes run
and one problem is one alert. Two scenarios: one problem in every process (the issue's
storm), and many problems at once, which exceed the limit even with the defaults, so a
new problem must overtake the refreshes waiting out a 429. The scenarios are
``tests/fleet_sim.py``; ``benchmarks/fleet.py`` runs them in full for the figures.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import ReceivedEvent

from .fleet_sim import (
    AFTER,
    BEFORE,
    Outcome,
    alerts_opened,
    problems_over,
    run,
    runs,
    scaled_limit,
    storm,
)

PROCESSES, SECONDS, RATE, LINGER = 8, 8.0, 20.0, 4.0
#: Every process logs the loop's error RATE times a second; the first, the rare one once.
LOGGED = PROCESSES * int(SECONDS * RATE) + 1
FLUSH_INTERVAL: float = inspect.signature(IncidentIOHandler).parameters["flush_interval"].default
#: Room for a busy CI machine (two cores shared by many jobs) in the arrival bounds below:
#: they check that the rare error was sent when its window closed, not how fast that is.
SLACK = 2.0


def _storm(options: dict[str, Any]) -> Outcome:
    # The limit is half of what today's handlers send (one event a second each), so
    # today's behaviour uses it up halfway; the rare error comes at 70% of the run.
    limit, window = scaled_limit(PROCESSES, SECONDS)
    # The processes outlive the storm by LINGER s, so that today's backoff (at most a
    # window) and close() do not decide whether the rare error arrives.
    return run(storm(PROCESSES, RATE, options, rare_at=SECONDS * 0.7), SECONDS,
               limit=limit, window=window, linger=LINGER)


@pytest.fixture(scope="module")
def before() -> Outcome:
    """Today's behaviour, chosen explicitly: ``dedup="batch"``, no refresh interval."""
    return _storm(BEFORE)


@pytest.fixture(scope="module")
def after() -> Outcome:
    """Default options."""
    return _storm(AFTER)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("which", ["before", "after"])
def test_every_record_is_delivered_or_counted_dropped(which: str,
                                                      request: pytest.FixtureRequest) -> None:
    outcome: Outcome = request.getfixturevalue(which)
    assert outcome.accepted == LOGGED
    _assert_accounted(outcome)


def _assert_accounted(outcome: Outcome) -> None:
    """Every record delivered or dropped under a reason; and what the handlers counted as
    delivered is what the receiver got, so ``balanced`` is not merely derived."""
    assert outcome.balanced, outcome
    assert outcome.received_records == outcome.delivered, outcome
    for stats in outcome.stats:
        assert all(count >= 0 for count in stats["dropped"].values()), stats
        assert stats["records_dropped"] == sum(stats["dropped"].values()), stats


@pytest.mark.timeout(120)
def test_before_the_rare_error_comes_once_the_limit_is_used_up(before: Outcome) -> None:
    # The scenario the issue describes; whether it then arrives is the defect measured
    # (today it waits behind a backoff, or is dropped: counted either way, see above).
    assert before.rare_logged
    assert before.limited_at_rare


@pytest.mark.timeout(120)
def test_before_a_key_per_event_makes_one_problem_many_alerts(before: Outcome) -> None:
    assert before.alerts["main"] > PROCESSES  # more than one per process
    assert len(before.statuses) == sum(before.alerts.values())  # each key opened once


@pytest.mark.timeout(120)
def test_before_the_limit_answers_429_and_the_handlers_retry(before: Outcome) -> None:
    assert before.answered_429 > 0
    assert before.retries > 0


@pytest.mark.timeout(120)
def test_with_the_defaults_one_problem_is_one_alert(after: Outcome) -> None:
    assert after.alerts == {"main": 1, "rare": 1}


@pytest.mark.timeout(120)
def test_with_the_defaults_the_fleet_stays_under_the_limit(after: Outcome) -> None:
    assert after.answered_429 == 0


@pytest.mark.timeout(120)
def test_with_the_defaults_the_rare_error_is_delivered_when_its_window_closes(
        after: Outcome) -> None:
    assert after.rare_logged
    assert after.rare_delay is not None, after.dropped
    # Sent by the running process, not by close(), which would deliver it anyway.
    assert after.rare_before_close
    # The target is two flush_intervals from being logged; SLACK only absorbs a slow
    # machine, well short of what a 429's backoff (a second or more) would add.
    assert after.rare_delay < 2 * FLUSH_INTERVAL + SLACK
    assert after.alerts.get("rare") == 1


#: Many problems at once: each process takes turns between problems whose first events,
#: together, exceed the limit by a third (``problems_over``), so even the defaults meet
#: 429s. The window is one second, a flush_interval: every 429 holds a process about one
#: window. The processes stop logging at MANY_SECONDS and close MANY_LINGER s later.
MANY_PROCESSES, MANY_LIMIT, MANY_WINDOW = 4, 12, 1.0
MANY_PROBLEMS = problems_over(MANY_LIMIT, MANY_PROCESSES)
MANY_SECONDS, MANY_RARE_AT, MANY_LINGER = 2.5, 1.5, 1.5
#: The defaults but one: refreshes come every second, not every minute, so that in a run
#: of seconds the processes have refreshes waiting out the 429s, for the rare error's
#: first event to overtake (the time scale is the only change: the logic is the same).
MANY_OPTIONS: dict[str, Any] = {"refresh_interval": 1.0}


@pytest.fixture(scope="module")
def many() -> Outcome:
    """Many problems at once, then, after the first 429, a rare one in the first process."""
    members = storm(MANY_PROCESSES, RATE, MANY_OPTIONS, rare_at=MANY_RARE_AT,
                    problems=MANY_PROBLEMS)
    return run(members, MANY_SECONDS, limit=MANY_LIMIT, window=MANY_WINDOW,
               linger=MANY_LINGER)


@pytest.mark.timeout(60)
def test_many_problems_at_once_reach_the_limit_and_every_record_is_accounted_for(
        many: Outcome) -> None:
    assert many.answered_429 > 0
    assert many.limited_at_rare  # the rare error comes while the fleet is being held
    assert many.accepted == MANY_PROCESSES * int(MANY_SECONDS * RATE) + 1
    _assert_accounted(many)
    assert many.alerts == {"main": MANY_PROBLEMS, "rare": 1}  # one alert per problem


@pytest.mark.timeout(60)
def test_many_problems_at_once_a_new_problem_overtakes_the_waiting_refreshes(
        many: Outcome) -> None:
    # Nothing its process formed after it (the refreshes of that window and later ones,
    # waiting out the 429s with it) reached incident.io before it: new problems first.
    # Exact, not timed; with the schedule's priorities swapped, 4 overtake it.
    assert many.rare_overtaken == 0
    assert many.rare_before_close, many.dropped
    # It waits for the hold its process is under, at most one window per 429, then goes
    # first: loosely, within that and two flush_intervals (see SLACK).
    assert many.rare_delay is not None
    assert many.rare_delay < MANY_WINDOW + 2 * FLUSH_INTERVAL + SLACK


def _event(key: str, status: str, title: str = "ERROR app: Payment 1 failed") -> ReceivedEvent:
    return ReceivedEvent({"title": title, "status": status, "deduplication_key": key}, {}, 0.0)


def test_alerts_are_counted_as_incidentio_opens_them() -> None:
    events = [_event("a", "firing"), _event("a", "firing"), _event("b", "firing"),
              _event("a", "resolved"), _event("a", "firing"),
              _event("d", "firing", "ERROR app: Disk full on /"), _event("d", "firing")]
    # "a" twice (a firing after its resolve reopens it), "b" once; "d" is the rare one.
    assert alerts_opened(events) == {"main": 3, "rare": 1}


def test_a_refire_after_a_resolve_is_counted() -> None:
    statuses = ["firing"] * 4 + ["resolved"] + ["firing"] * 3
    outcome = Outcome(seconds=1, requests=0, answered_429=0, requests_total=0, alerts={},
                      statuses={"k": statuses, "j": ["firing", "resolved"]}, dropped={},
                      stats=(), accepted=0, delivered=0, pending=0, retries=0,
                      rare_logged=False, rare_delay=None, limited_at_rare=False,
                      rare_before_close=False, rare_overtaken=0, received_records=0)
    assert outcome.refires == 1
    assert runs(statuses) == "firing x4, resolved, firing x3"
