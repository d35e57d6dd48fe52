"""Adversarial review (r2docs): README promises read as a new user would read them."""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import LocalReceiver

from .conftest import Rig

BASE = 1_790_000_000.0  # the Rig's wall clock at its start


def offsets(records: list[Any]) -> list[float]:
    """Each record's creation time, in seconds after the Rig started."""
    return [datetime.datetime.fromisoformat(r["timestamp"]).timestamp() - BASE
            for r in records]


@pytest.mark.timeout(20)
def test_a_refresh_does_not_send_records_below_the_threshold(receiver: LocalReceiver) -> None:
    """README, Threshold alerts: "While the rate stays at or over the threshold, each
    window's records fire as usual; when it falls below, they are held again ... records
    that age out of the window first are dropped and counted as below_threshold."

    A burst crosses 3-in-10s and fires; one more record 5 s later keeps the rate over.
    Then single records 25 s apart (far below 3 in 10 s) must be held and age out, not
    ride along in the next refresh titled "[≥3 in 10s]"."""
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
    sent = [t for event in receiver.events for t in offsets(event.records)]
    assert 30.0 not in sent and 55.0 not in sent, (
        f"records below the threshold were sent: {[e.title for e in receiver.events]}, "
        f"record times {sent}")
    assert rig.stats._dropped["below_threshold"] == 2


def test_a_transport_without_post_is_refused_at_construction(
        receiver: LocalReceiver) -> None:
    """README, Options: "A bad option raises ValueError or TypeError when the handler is
    built, naming the option"; `transport` is "an object with post(body, timeout),
    reset(), close()". A dictConfig typo (`"transport": "myapp.transport"`, a plain
    string) is accepted today, and every record is then lost as internal_error."""
    with pytest.raises((TypeError, ValueError), match="transport"):
        IncidentIOHandler(**receiver.handler_options(),
                          transport="myapp.alerts:transport")  # type: ignore[arg-type]


@pytest.mark.timeout(60)
def test_an_f_string_flood_from_two_threads_does_not_fill_the_queue(
        receiver: LocalReceiver) -> None:
    """README, Floods: "A message the caller formatted itself (an f-string, .format())
    ... is compared by call site (file and line) and text ... the same text with another
    value ... so even four threads flooding never fill the queue and crowd out another
    problem's records."

    Two threads, one f-string line, 150,000 calls each: the %-style equivalent, or one
    thread, is all counted as batch_full; this one fills the queue (queue_full ~80,000
    here), so any other problem logged meanwhile is dropped too."""
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.1)
    log = logging.getLogger("review.r2docs.flood")
    log.propagate = False
    log.addHandler(handler)
    barrier = threading.Barrier(2)

    def loop() -> None:
        barrier.wait()
        for order in range(150_000):
            log.error(f"order {order} failed")

    try:
        threads = [threading.Thread(target=loop) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        handler.close()
    finally:
        log.removeHandler(handler)
    stats = handler.stats()
    assert stats["records_accepted"] == 300_000
    assert "queue_full" not in stats["dropped"], stats["dropped"]
