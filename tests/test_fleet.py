"""A fleet at small N (issue 16): eight processes, one problem, a rate-limited receiver.

Correctness only, no timings: every record is delivered or counted dropped, the limit
answers 429 and the handlers retry, and, with the defaults, the rare error arrives and
one problem is one alert. The scenario is ``tests/fleet_sim.py``; ``benchmarks/fleet.py``
runs it in full for the figures.
"""

from __future__ import annotations

from typing import Any

import pytest

from incidentio_logging.testing import ReceivedEvent

from .fleet_sim import AFTER, BEFORE, Outcome, alerts_opened, run, runs, scaled_limit, storm

PROCESSES, SECONDS, RATE, LINGER = 8, 8.0, 20.0, 4.0
#: Every process logs the loop's error RATE times a second; the first, the rare one once.
LOGGED = PROCESSES * int(SECONDS * RATE) + 1


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
    assert outcome.balanced, outcome


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
def test_with_the_defaults_the_rare_error_is_delivered(after: Outcome) -> None:
    assert after.rare_logged
    assert after.rare_delay is not None, after.dropped
    assert after.alerts.get("rare") == 1


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
                      accepted=0, delivered=0, pending=0, retries=0, rare_logged=False,
                      rare_delay=None, limited_at_rare=False)
    assert outcome.refires == 1
    assert runs(statuses) == "firing x4, resolved, firing x3"
