"""Refreshes: a fired problem's repeats fold into one event per ``refresh_interval``."""

from __future__ import annotations

import datetime
import io
import logging
import time

import pytest

from incidentio_logging._refreshing import Refreshes
from incidentio_logging._report import Reporter
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import MakeHandler, Rig


def summary(receiver: LocalReceiver, index: int) -> dict[str, object]:
    return dict(receiver.events[index].metadata["incidentio_logging"])


def test_repeats_within_the_interval_fold_into_one_event_with_their_counts(
        receiver: LocalReceiver) -> None:
    """Fired once; the next windows' records wait; one event at the refresh carries them
    all, with their count and samples, under the same key."""
    rig = Rig(receiver, refresh_interval=60)
    rig.log("payment %s failed", "A-1")
    rig.ship()
    assert len(receiver.events) == 1
    for order in range(2, 6):  # four more windows, 10 s apart, five records in all
        rig.advance(10)
        rig.log("payment %s failed", f"A-{order}")
        if order == 5:
            rig.log("payment %s failed", "A-6")
        rig.ship()
    assert len(receiver.events) == 1 and rig.dispatcher.has_records()
    rig.advance(20)  # 60 s after the first event
    rig.ship()
    first, refresh = receiver.events
    assert refresh.deduplication_key == first.deduplication_key
    assert [r["message"] for r in refresh.records] == [
        f"payment A-{n} failed" for n in range(2, 7)]
    assert summary(receiver, 1)["records"] == 5
    assert rig.stats.delivered == 6 and rig.stats.events_sent == 2
    assert not rig.dispatcher.has_records()


def test_a_refresh_is_at_most_one_event_per_interval(receiver: LocalReceiver) -> None:
    """A record each second for three minutes: one event, then one a minute."""
    rig = Rig(receiver, refresh_interval=60, max_events_per_minute=1000)
    for _ in range(181):
        rig.log()
        rig.ship()
        rig.advance(1)
    assert len(receiver.events) == 4
    assert [summary(receiver, i)["records"] for i in range(4)] == [1, 60, 60, 60]


@pytest.mark.parametrize("options", [
    {"dedup": "batch"}, {"refresh_interval": None}, {"refresh_interval": 0}])
def test_batch_dedup_and_no_interval_send_every_window(
        receiver: LocalReceiver, options: dict[str, object]) -> None:
    """dedup="batch" makes every event its own alert: nothing is folded; nor with
    refresh_interval None or 0."""
    rig = Rig(receiver, **options)
    for _ in range(3):
        rig.log()
        rig.ship()
        rig.advance(1)
    assert len(receiver.events) == 3


def test_a_flush_sends_folded_records_at_once_and_counts_them_delivered(
        receiver: LocalReceiver) -> None:
    """A flush means "deliver what I logged": the refresh does not wait for its time."""
    rig = Rig(receiver)
    rig.log()
    rig.ship()
    rig.advance(1)
    rig.log()
    rig.ship()
    assert len(receiver.events) == 1
    rig.ship(flush=True)
    assert len(receiver.events) == 2
    assert rig.stats.delivered == 2 and not rig.dispatcher.has_records()


@pytest.mark.timeout(20)
def test_flush_and_close_send_folded_records_through_the_worker(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """With the real worker: a repeat waits for its refresh while windows close, then
    flush() sends it at once (True: all delivered); so does close()."""
    handler = make_handler(flush_interval=0.02)
    logger.addHandler(handler)
    logger.error("disk full on %s", "db-1")
    assert handler.flush(5)
    logger.error("disk full on %s", "db-2")
    time.sleep(0.2)  # ten windows close: the repeat is folded, not sent
    assert len(receiver.events) == 1
    assert handler.flush(5)
    assert len(receiver.events) == 2
    logger.error("disk full on %s", "db-3")
    time.sleep(0.1)
    handler.close()
    assert [e.records[0]["message"] for e in receiver.events] == [
        "disk full on db-1", "disk full on db-2", "disk full on db-3"]
    stats = handler.stats()
    assert stats["records_delivered"] == 3 and stats["records_dropped"] == 0, stats
    assert handler.worker.closed_clean


def test_the_state_is_bounded_and_what_it_gives_up_is_reported_once(
        receiver: LocalReceiver) -> None:
    """Past its bound the problem sent longest ago is forgotten, counted, said once; its
    next record goes at once, as a new problem."""
    rig = Rig(receiver, max_events_per_minute=1000)
    said = io.StringIO()
    rig.dispatcher._reporter = Reporter(clock=rig.clock, stream=lambda: said)
    rig.dispatcher._refreshes = Refreshes(60, max_followed=2)
    for name in ("alpha", "beta", "gamma", "delta"):
        rig.log(f"{name} failed %s")
    rig.ship()
    assert rig.stats.refreshes_forgotten == 2
    assert said.getvalue().count("refreshes_forgotten") == 1
    assert len(rig.dispatcher._refreshes) == 2
    rig.advance(1)
    rig.log("alpha failed %s")  # forgotten: new again, not folded
    rig.log("delta failed %s")  # followed: folded until its refresh
    rig.ship()
    assert [e.title.split(":")[1].split()[0] for e in receiver.events] == [
        "alpha", "beta", "gamma", "delta", "alpha"]
    stats = rig.stats.as_dict(pending=0, counted=0)
    assert stats["refreshes_forgotten"] == 3


def test_folded_records_keep_the_alert_from_resolving(receiver: LocalReceiver) -> None:
    """resolve_after shorter than refresh_interval: a record folded into the next
    refresh restarts the quiet period, so a live problem is never resolved between
    refreshes; once the records stop, it resolves resolve_after after the last event."""
    rig = Rig(receiver, resolve_after=10, refresh_interval=60)
    rig.log()
    rig.ship()
    for _ in range(12):  # a record every 5 s, each folded; resolves looked for each time
        rig.advance(5)
        rig.log()
        rig.ship()
        rig.resolve_due()
    assert [e.status for e in receiver.events] == ["firing", "firing"]
    rig.advance(10)
    rig.resolve_due()
    assert [e.status for e in receiver.events] == ["firing", "firing", "resolved"]


def test_a_resolved_problem_is_new_again(receiver: LocalReceiver) -> None:
    """After its resolve, the problem's next record fires at once, not at a refresh."""
    rig = Rig(receiver, resolve_after=10, refresh_interval=60)
    rig.log()
    rig.ship()
    rig.advance(10)
    rig.resolve_due()
    rig.advance(1)
    rig.log()
    rig.ship()
    assert [e.status for e in receiver.events] == ["firing", "resolved", "firing"]


@pytest.mark.parametrize("value", [-1, "soon", 86_401])
def test_a_bad_refresh_interval_is_refused_naming_it(
        make_handler: MakeHandler, value: object) -> None:
    with pytest.raises((ValueError, TypeError), match="refresh_interval"):
        make_handler(refresh_interval=value)


def test_without_refreshes_forgetting_is_neither_counted_nor_said(
        receiver: LocalReceiver) -> None:
    """dedup="batch": the state only orders sends, so giving it up is not a loss."""
    rig = Rig(receiver, dedup="batch", max_events_per_minute=1000)
    said = io.StringIO()
    rig.dispatcher._reporter = Reporter(clock=rig.clock, stream=lambda: said)
    rig.dispatcher._refreshes = Refreshes(None, max_followed=2)
    for name in ("alpha", "beta", "gamma"):
        rig.log(f"{name} failed %s")
    rig.ship()
    assert len(receiver.events) == 3
    assert rig.stats.refreshes_forgotten == 0 and said.getvalue() == ""


@pytest.mark.timeout(20)
def test_refreshes_of_one_problem_do_not_pile_up_behind_a_429(
        receiver: LocalReceiver) -> None:
    """refresh_interval=5 and a 429 Retry-After 20 on alpha's refresh. While that event
    waits, alpha's records must keep folding into its next refresh: "at most one event
    per refresh_interval". Instead a new refresh event is scheduled every 5 s, and when
    the limit lifts they all go at once, into the key that was just rate limited."""
    rig = Rig(receiver, refresh_interval=5)
    rig.log("alpha failed %s")
    rig.ship()
    rig.advance(6)
    receiver.script(Scripted(429, headers={"Retry-After": "20"}))
    burst = 0
    for _ in range(20):
        rig.log("alpha failed %s")
        rig.ship()
        rig.advance(1)
        before = len(receiver.attempts)
        rig.dispatcher.send_due(rig.timing)
        burst = max(burst, len(receiver.attempts) - before)
    assert [a.status for a in receiver.attempts][:2] == [202, 429]
    assert burst <= 1, [a.status for a in receiver.attempts]


def test_a_refresh_does_not_claim_more_records_within_the_window_than_there_were(
        receiver: LocalReceiver) -> None:
    """README, Threshold alerts: the title's "[≥20 in 60s]" is "a lower bound" of the
    records within threshold_window, and ``records_within_window`` says the same. With
    refreshes on (the default), a problem that stays over its threshold at a steady 5 per
    10 s carries a minute of records to its refresh, and the refresh claims all of them
    happened within 10 s: "[≥29 in 10s]", when no 10 s held more than 6. The on-call sees
    a rate five times the real one. (_events._within_window counts group.total, assuming
    "older held ones expired": true for held groups, not for records waiting for a
    refresh, which are kept whatever their age.)"""
    rig = Rig(receiver, threshold=3, threshold_window=10)
    for _ in range(3):
        rig.log()
    rig.ship()                       # t=0: crosses, fires
    for _ in range(29):              # t=2..58: one every 2 s, always over 3 in 10 s
        rig.advance(2)
        rig.log()
        rig.ship()
    rig.advance(2)
    rig.ship()                       # t=60: the refresh is due
    _first, refresh = receiver.wait_for(2)
    times = sorted(datetime.datetime.fromisoformat(r["timestamp"]).timestamp()
                   for r in refresh.records)
    densest = max(sum(1 for t in times if start <= t <= start + 10) for start in times)
    claimed = refresh.metadata["incidentio_logging"]["threshold"]["records_within_window"]
    assert claimed <= densest, (refresh.title, claimed, densest)
    assert refresh.title.startswith(f"[≥{claimed} in 10s]")
