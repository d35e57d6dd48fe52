"""Threshold alerts: a problem fires once ``threshold`` records arrive within the window."""

from __future__ import annotations

import ast
import datetime
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from incidentio_logging._threshold import MAX_GROUPS
from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler, Rig


def test_below_the_threshold_nothing_fires_and_the_records_wait(receiver: LocalReceiver) -> None:
    """Two of three: held. The third, 30 s later, fires one event with all three, and
    the title and metadata say how many crossed the threshold."""
    rig = Rig(receiver, threshold=3, threshold_window=60)
    rig.log("payment %s failed", "A-1")
    rig.log("payment %s failed", "A-2")
    rig.ship()
    assert receiver.attempts == [] and rig.dispatcher.has_records()
    rig.advance(30)
    rig.log("payment %s failed", "A-3")
    rig.ship()
    (event,) = receiver.wait_for(1)
    assert event.title == "[≥3 in 60s] ERROR shop: payment A-1 failed (+2 more)"
    assert [r["message"] for r in event.records] == [
        "payment A-1 failed", "payment A-2 failed", "payment A-3 failed"]
    assert event.metadata["incidentio_logging"]["threshold"] == {
        "records_within_window": 3, "threshold": 3, "window_seconds": 60.0}
    assert rig.stats.delivered == 3


@pytest.mark.parametrize(("last_at", "fires"), [(60.0, True), (60.001, False)])
def test_the_window_edge_is_inclusive(receiver: LocalReceiver, last_at: float,
                                      fires: bool) -> None:
    """Records at 0 s, 30 s and 60 s are within a 60 s window; at 60.001 s the first has
    aged out, is dropped as below_threshold, and the other two wait."""
    rig = Rig(receiver, threshold=3, threshold_window=60)
    rig.log()
    rig.ship()
    rig.advance(30)
    rig.log()
    rig.ship()
    rig.advance(last_at - 30)
    rig.log()
    rig.ship()
    assert bool(receiver.attempts) is fires
    if not fires:
        assert rig.stats.as_dict(0, 0)["dropped"] == {"below_threshold": 1}
        assert rig.stats.as_dict(0, 0)["records_pending"] == 2


def test_held_records_expire_with_the_window(receiver: LocalReceiver) -> None:
    """Records that never make the threshold are dropped, and counted, once they age out."""
    rig = Rig(receiver, threshold=5, threshold_window=60)
    for _ in range(4):
        rig.log()
    rig.ship()
    rig.advance(60.5)
    rig.ship()
    assert not rig.dispatcher.has_records()
    stats = rig.stats.as_dict(0, 0)
    assert stats["dropped"] == {"below_threshold": 4} and stats["records_pending"] == 0
    assert receiver.attempts == []


def test_a_problem_over_the_threshold_keeps_firing_then_is_held_again(
        receiver: LocalReceiver) -> None:
    """While the rate stays at or over the threshold each window fires; once it falls
    below, records are held again (refreshes off: each window's verdict is read)."""
    rig = Rig(receiver, threshold=2, threshold_window=10, refresh_interval=None)
    rig.log()
    rig.log()
    rig.ship()
    rig.advance(5)
    rig.log()  # with the two before, 3 in the last 10 s
    rig.ship()
    assert len(receiver.events) == 2
    rig.advance(30)
    rig.log()  # alone in its window
    rig.ship()
    assert len(receiver.events) == 2 and rig.dispatcher.has_records()


#: The Rig's wall clock when it starts.
RIG_START = 1_790_000_000.0


def offsets(event: Any) -> list[float]:
    """Each record's creation time in ``event``, in seconds after the Rig started."""
    return [datetime.datetime.fromisoformat(r["timestamp"]).timestamp() - RIG_START
            for r in event.records]


@pytest.mark.timeout(20)
def test_a_refresh_does_not_send_records_below_the_threshold(receiver: LocalReceiver) -> None:
    """Default refresh_interval: a burst crosses 3-in-10s and fires; one more record 5 s
    later keeps the rate over and waits for the refresh. Single records 25 s apart, far
    below the threshold, are held apart and age out as below_threshold; the refresh sends
    only the record that crossed. (Review r2docs: they rode along in the refresh.)"""
    rig = Rig(receiver, threshold=3, threshold_window=10)
    for _ in range(3):
        rig.log()
    rig.ship()                                   # t=0: crosses, fires
    for step in (5, 25, 25):                     # t=5 (still over), t=30, t=55 (alone)
        rig.advance(step)
        rig.log()
        rig.ship()
    rig.advance(5)
    rig.ship()                                   # t=60: the refresh is due
    rig.advance(20)
    rig.ship()                                   # t=80: anything held has aged out
    assert [offsets(event) for event in receiver.wait_for(2)] == [[0.0] * 3, [5.0]]
    assert rig.stats.as_dict(0, 0)["dropped"] == {"below_threshold": 2}
    assert not rig.dispatcher.has_records()


def test_records_that_join_a_refresh_and_cross_go_with_it(receiver: LocalReceiver) -> None:
    """Records that cross again while their problem waits for its refresh go with it;
    that crossing is used up by its window, so later records below the threshold are held
    and age out. (Review r2docs: the crossing was never consumed; a lone record after the
    refresh fired on it.)"""
    rig = Rig(receiver, threshold=3, threshold_window=10)
    for _ in range(3):
        rig.log()
    rig.ship()                                   # t=0: fires
    for at in (30, 31, 32, 50, 60, 62, 80):      # 30-32 cross; 50 and 62 are alone
        rig.advance(at - rig.wall.now + RIG_START)
        if at not in (60, 80):
            rig.log()
        rig.ship()                               # t=60: the refresh is due
    assert [offsets(event) for event in receiver.wait_for(2)] == [
        [0.0] * 3, [30.0, 31.0, 32.0]]
    assert len(receiver.events) == 2
    assert rig.stats.as_dict(0, 0)["dropped"] == {"below_threshold": 2}


def test_memory_stays_bounded_with_many_distinct_problems(receiver: LocalReceiver) -> None:
    """Five thousand problems, one record each, threshold 2: at most MAX_GROUPS are held
    and followed; the rest are dropped as below_threshold, not kept."""
    rig = Rig(receiver, threshold=2, threshold_window=60, max_events_per_minute=1200)
    for number in range(5 * MAX_GROUPS):
        rig.log(f"problem {number} %s")
    rig.ship()
    threshold = rig.dispatcher._threshold
    assert threshold is not None
    assert len(threshold._times) <= MAX_GROUPS
    held = rig.dispatcher.window.take()
    assert len(held) == MAX_GROUPS
    assert rig.stats.as_dict(0, 0)["dropped"] == {"below_threshold": 4 * MAX_GROUPS}


def test_threshold_from_dictconfig_through_the_handler(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """String options, as an INI file gives them; flush() says held records are not sent."""
    handler = make_handler(threshold="3", threshold_window="60")
    logger.addHandler(handler)
    logger.error("payment %s failed", 1)
    logger.error("payment %s failed", 2)
    assert not handler.flush(5)
    assert receiver.attempts == []
    logger.error("payment %s failed", 3)
    assert handler.flush(5)
    (event,) = receiver.events
    assert event.title.startswith("[≥3 in 60s] ")


@pytest.mark.parametrize(("options", "match"), [
    ({"threshold": 0}, "threshold"), ({"threshold": 10_001}, "threshold"),
    ({"threshold_window": 30}, "threshold_window needs threshold"),
    ({"threshold": 2, "threshold_window": 0}, "threshold_window"),
])
def test_threshold_options_are_validated(make_handler: MakeHandler, options: dict[str, object],
                                         match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_handler(**options)


def test_the_window_is_measured_from_the_records_own_times(receiver: LocalReceiver) -> None:
    """threshold=3 in 2 s, windows closing every second: records made at +0.0, +1.2 and
    +1.9 s are 1.9 s apart and fire, though the window that holds the third closes at
    +2.2 s. Counted back from the closing, the first had aged out: they never fired and
    were dropped as below_threshold."""
    rig = Rig(receiver, threshold=3, threshold_window=2, flush_interval=1)
    rig.log("payment %s failed", "A-1")
    rig.advance(1.0)
    rig.ship()
    rig.advance(0.2)
    rig.log("payment %s failed", "A-2")
    rig.advance(0.7)
    rig.log("payment %s failed", "A-3")
    rig.advance(0.3)
    rig.ship()
    (event,) = receiver.wait_for(1)
    assert [r["message"] for r in event.records] == [
        "payment A-1 failed", "payment A-2 failed", "payment A-3 failed"]
    assert rig.stats.as_dict(0, 0)["dropped"] == {}


def test_a_crossing_counts_though_later_records_push_its_oldest_out(
        receiver: LocalReceiver) -> None:
    """+0.0, +0.1 and +2.0 s cross a 2 s threshold of 3; +2.95 s, in the same window,
    leaves a last three 2.85 s apart. The crossing still fires."""
    rig = Rig(receiver, threshold=3, threshold_window=2, flush_interval=1)
    rig.log()
    rig.advance(0.1)
    rig.log()
    rig.advance(0.9)
    rig.ship()
    rig.advance(1.0)
    rig.log()
    rig.advance(0.95)
    rig.log()
    rig.advance(0.05)
    rig.ship()
    (event,) = receiver.wait_for(1)
    assert len(event.records) == 4


def test_a_group_storm_control_holds_back_stays_crossed(receiver: LocalReceiver) -> None:
    """Crossed, then held back by max_events_per_minute past its window: it fires when
    storm control allows, and is not dropped as below_threshold."""
    rig = Rig(receiver, threshold=2, threshold_window=10, max_events_per_minute=1)
    rig.log("first %s")
    rig.log("first %s")
    rig.ship()
    rig.log("second %s")
    rig.log("second %s")
    rig.ship()  # crossed; the minute's one event went to the first
    assert len(receiver.wait_for(1)) == 1
    rig.advance(61)
    rig.ship()
    assert [e.title for e in receiver.wait_for(2)][1].endswith("second A-1 (+1 more)")
    assert rig.stats.as_dict(0, 0)["dropped"] == {}


def readme_example(heading: str) -> dict[str, Any]:
    """The handler options of the README section's first Python block."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"### {heading}", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None
    options = ast.literal_eval("{" + block.group(1) + "}")["incident_io"]
    del options["class"]
    return dict(options)


def test_the_readme_threshold_example_ignores_info_lines(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """"20 payment errors": with a rule and no level the rule alone decides, so the
    example once fired on 20 log.info lines. 20 errors still fire."""
    options = readme_example("Threshold alerts")
    handler = make_handler(**options)
    payments.addHandler(handler)
    for number in range(options["threshold"]):
        payments.info("payment %s captured", number)
    handler.flush(5)
    assert receiver.attempts == []
    for number in range(options["threshold"]):
        payments.error("payment %s failed", number)
    assert handler.flush(5)
    (event,) = receiver.events
    assert event.title.startswith(f"[≥{options['threshold']} in ")
