"""Storm control: ``max_events_per_minute`` caps the events an error loop can send."""

from __future__ import annotations

import logging

import pytest

from incidentio_logging._budget import EventBudget
from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler, Rig


def test_the_budget_allows_n_events_in_any_sixty_seconds() -> None:
    """A sliding minute: the slot of the oldest event frees exactly 60 s after it."""
    budget = EventBudget(2)
    assert budget.take(0.0) and budget.take(10.0)
    assert not budget.take(59.9)
    assert budget.free_at(59.9) == 60.0
    assert budget.take(60.0)
    assert not budget.take(69.9)
    assert budget.take(70.0)


def test_groups_over_the_limit_wait_and_fold_into_their_next_event(
        receiver: LocalReceiver) -> None:
    """Over the limit nothing is sent or lost: the group is carried, new records join it,
    and the event that goes once a slot frees says how many events were held back."""
    rig = Rig(receiver, max_events_per_minute=2)
    for problem in ("a %s", "b %s", "c %s"):
        rig.log(problem)
    rig.ship()
    assert len(receiver.events) == 2
    assert rig.dispatcher.has_records()  # "c" waits

    for new_records in (1, 1, 0):  # the loop goes on for two windows, then one is quiet
        rig.advance(1)
        for _ in range(new_records):
            rig.log("c %s")
        rig.ship()
    assert len(receiver.attempts) == 2  # nothing more on the wire

    rig.advance(57)  # 60 s after the first event: its slot frees
    rig.ship()
    events = receiver.wait_for(3)
    folded = events[2].metadata["incidentio_logging"]
    assert events[2].title == "ERROR shop: c A-1 (+2 more)"
    assert folded["records"] == 3
    assert folded["suppressed_events"] == 3  # the first window and the two that followed
    assert "held back 3 earlier event(s)" in str(events[2].payload["description"])
    assert rig.stats.delivered == 5 and not rig.dispatcher.has_records()


def test_an_error_loop_costs_at_most_the_limit_and_close_accounts_for_the_rest(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """Forty distinct problems, each in its own window: three POSTs, and at close() the
    held-back records are dropped as storm_control; every record is accounted for."""
    handler = make_handler(max_events_per_minute=3, shutdown_timeout=2)
    logger.addHandler(handler)
    for number in range(40):
        logger.error(f"problem {number} %s", "x")
        assert handler.flush(5) is (number < 3)  # held-back records are not delivered
    assert len(receiver.attempts) == 3
    handler.close()
    stats = handler.stats()
    assert stats["records_delivered"] == 3
    assert stats["dropped"] == {"storm_control": 37}
    assert stats["records_accepted"] == 40 and stats["records_pending"] == 0


def test_a_held_back_flood_is_still_counted_on_the_callers_thread(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """A held-back group that is full opens its flood counter again: the flood goes on
    costing a comparison per call, not a snapshot and a queue slot."""
    handler = make_handler(max_events_per_minute=1, max_batch_size=5)
    logger.addHandler(handler)
    logger.error("first %s", 1)
    handler.flush(5)
    for number in range(5):
        logger.error("flood %s", number)
    handler.flush(5)  # the flood's group is full and held back
    assert handler._floods.open is not None
    taken = handler._stats.taken
    for number in range(1000):
        logger.error("flood %s", number)
    assert handler._stats.taken == taken  # none of them reached the worker
    assert handler.stats()["records_pending"] == 1005


@pytest.mark.parametrize("value", [0, 1201, "many"])
def test_max_events_per_minute_is_validated(make_handler: MakeHandler, value: object) -> None:
    with pytest.raises((ValueError, TypeError), match="max_events_per_minute"):
        make_handler(max_events_per_minute=value)
