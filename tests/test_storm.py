"""Storm control: ``max_events_per_minute`` caps the events an error loop can send."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Callable

import pytest

from incidentio_logging._budget import (
    MAX_HELD_GROUPS,
    RECORD_OVERHEAD,
    EventBudget,
    HeldBudget,
)
from incidentio_logging._grouping import Window, fingerprint_key, key_function
from incidentio_logging._record import capture
from incidentio_logging._serialize import Traceback
from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler, Rig, exc_info_of, floods, repeats_held_by_storm_control


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
    assert "held back 3 earlier events" in str(events[2].payload["description"])
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
    assert floods(handler).open
    taken = handler._stats.taken  # the worker's intake, which stats() does not show
    for number in range(1000):
        logger.error("flood %s", number)
    assert handler._stats.taken == taken  # none of them reached the worker
    assert handler.stats()["records_pending"] == 1005


@pytest.mark.parametrize("value", [0, 1201, "many"])
def test_max_events_per_minute_is_validated(make_handler: MakeHandler, value: object) -> None:
    with pytest.raises((ValueError, TypeError), match="max_events_per_minute"):
        make_handler(max_events_per_minute=value)


def test_what_is_held_back_is_bounded_by_groups_and_bytes() -> None:
    """20,000 distinct problems under storm control: never more than the limits are held,
    in groups or in bytes; the rest are refused, and counted."""
    held = HeldBudget(max_groups=500, max_bytes=400_000)
    window = Window(fingerprint_key, 250, held_budget=held)
    refused = 0
    for batch in range(20):
        for number in range(1000):
            problem = f"problem {batch * 1000 + number} %s"
            record = logging.getLogger("shop").makeRecord(
                "shop", logging.ERROR, "f.py", 1, problem, ("x" * (number % 700),), None)
            window.add(capture(record))
        for group in window.take():  # every event over the limit: all are held back
            refused += 0 if window.hold_back(group) else group.total
            assert held.groups <= 500 and held.bytes <= 400_000
    assert held.bytes > 400_000 - 2 * (RECORD_OVERHEAD + 700)  # the bytes bound bit first
    assert held.groups + refused == 20_000
    # A held group that keeps growing is bounded too: a record that does not fit is refused.
    first, *rest = window.due(lambda: True)
    assert rest and held.groups == held.bytes == 0
    window.hold_back(first)
    for _ in range(400):
        window.add(capture(logging.getLogger("shop").makeRecord(
            "shop", logging.ERROR, "f.py", 1, first.records[0].msg, ("y" * 5000,), None)))
        assert held.bytes <= 400_000
    assert window.refused and first.total + window.refused == 401


def test_records_refused_for_want_of_room_are_counted_as_held_full(
        receiver: LocalReceiver) -> None:
    """Through the dispatcher, with the default bounds: one event goes, MAX_HELD_GROUPS
    wait, the rest are dropped as held_full, and the books balance."""
    rig = Rig(receiver, max_events_per_minute=1)
    for number in range(MAX_HELD_GROUPS + 500):
        rig.log(f"problem {number} %s")
    rig.ship()
    window = rig.dispatcher.window
    assert window.held_budget.groups == MAX_HELD_GROUPS
    stats = rig.stats.as_dict(pending=0, counted=0)
    assert stats["dropped"] == {"held_full": 499}
    assert stats["records_delivered"] == 1
    assert stats["records_pending"] == MAX_HELD_GROUPS  # waiting, not lost


def test_closing_a_window_does_not_touch_the_groups_held_back(receiver: LocalReceiver) -> None:
    """The work of a window does not grow with the groups storm control holds: with 10 or
    with 500 waiting, an idle window asks the budget once, and builds nothing."""
    asked = []
    for waiting in (10, 500):
        rig = Rig(receiver, max_events_per_minute=1)
        for number in range(waiting + 1):
            rig.log(f"problem {number} %s")
        rig.ship()
        budget = rig.dispatcher._budget
        calls = 0
        take = budget.take

        def counting(now: float, take: Callable[[float], bool] = take) -> bool:
            nonlocal calls
            calls += 1
            return take(now)

        budget.take = counting  # type: ignore[method-assign]
        rig.advance(1)
        rig.ship()  # a window with nothing new: the held groups wait on
        asked.append(calls)
        assert rig.dispatcher.window.held_budget.groups == waiting
    assert asked == [1, 1]


def test_held_back_groups_go_oldest_first_as_the_budget_frees(receiver: LocalReceiver) -> None:
    """Waiting groups keep their order, and new records join them where they stand."""
    rig = Rig(receiver, max_events_per_minute=2)
    for problem in ("a %s", "b %s", "c %s", "d %s"):
        rig.log(problem)
    rig.ship()  # a and b go; c and d wait, in that order
    rig.advance(1)
    rig.log("d %s")
    rig.log("e %s")
    rig.ship()  # e waits behind them
    rig.advance(60)
    rig.ship()
    titles = [event.title for event in receiver.wait_for(4)]
    assert titles[2:] == ["ERROR shop: c A-1", "ERROR shop: d A-1 (+1 more)"]
    assert rig.dispatcher.window.held_budget.groups == 1  # e


def test_the_worker_lets_go_of_traceback_frames_before_a_record_waits(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """A record held back by storm control keeps its traceback as text: the frames, and
    every local in them, are freed once the worker has taken the record."""
    handler = make_handler(max_events_per_minute=1)
    logger.addHandler(handler)
    logger.error("first %s", 1)
    assert handler.flush(5)  # the minute's only event

    class Big:
        """Stands for a large local: a request, a parsed response, a DataFrame."""

    def fail() -> weakref.ref[Big]:
        local = Big()
        try:
            raise ValueError("card declined")
        except ValueError:
            logger.exception("payment failed for %s", "A-1")
        return weakref.ref(local)

    alive = fail()
    assert not handler.flush(5)  # taken, and held back
    gc.collect()
    assert alive() is None
    assert handler.stats()["records_pending"] == 1
    handler.worker.dispatcher._budget = EventBudget(2)  # a slot frees: it goes
    assert handler.flush(5)
    (record,) = receiver.events[1].records
    assert "ValueError: card declined" in record["exc_info"]
    assert 'raise ValueError("card declined")' in record["exc_info"]


def test_a_group_by_reads_the_traceback_before_it_is_let_go() -> None:
    """The key is computed first: a group_by that reads exc_info's frames sees them; the
    record the window keeps has the formatted text instead."""
    seen = []

    def by_function(record: logging.LogRecord) -> object:
        assert record.exc_info is not None and record.exc_info[2] is not None
        seen.append(record.exc_info[2].tb_frame.f_code.co_name)
        return seen[-1]

    window = Window(key_function(by_function, lambda exc: None), 10)
    record = logging.getLogger("shop").makeRecord(
        "shop", logging.ERROR, "f.py", 1, "failed", (), exc_info_of(KeyError("sku")))
    window.add(capture(record))
    (group,) = window.take()
    kept = group.records[0].exc_info
    assert seen == ["exc_info_of"] and group.key == "exc_info_of"
    assert isinstance(kept, Traceback)
    assert (kept.type, kept.message) == (KeyError, "'sku'")
    assert kept.text.startswith("Traceback") and "KeyError: 'sku'" in kept.text


@pytest.mark.timeout(20)
def test_a_new_problem_held_by_storm_control_goes_before_older_held_repeats(
        receiver: LocalReceiver) -> None:
    """Issue 16: a new problem's first event goes before refreshes "in storm control's
    budget". alpha and beta spend the minute's 2 events and their repeats are held back;
    then gamma, new, arrives while the budget is still spent. When 2 slots free, gamma's
    first event must take one of them, not wait a further minute behind the repeats."""
    rig = repeats_held_by_storm_control(receiver)
    rig.log("gamma failed %s")
    rig.ship()  # still over the budget: gamma is held back too
    rig.advance(60)
    rig.ship()  # two slots free
    assert held_names(receiver)[2:] == ["gamma", "alpha"], held_names(receiver)


def held_names(receiver: LocalReceiver) -> list[str]:
    """Which test problem each attempt was for, by its message's first word."""
    return [next((n for n in ("alpha", "beta", "gamma") if f"{n} failed".encode() in a.body),
                 "?") for a in receiver.attempts]
