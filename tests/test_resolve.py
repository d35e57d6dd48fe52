"""Auto-resolve: ``resolve_after`` seconds of quiet resolve an alert, with its exact key."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import pytest

from incidentio_logging._resolving import ResolveTimers
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import MakeHandler, Rig


def sequence(receiver: LocalReceiver) -> list[tuple[str, str]]:
    return [(e.status, e.deduplication_key) for e in receiver.events]


def test_a_quiet_alert_is_resolved_with_the_byte_identical_key(receiver: LocalReceiver) -> None:
    """Not a moment before resolve_after; then a resolve with the same key and title."""
    rig = Rig(receiver, resolve_after=60, dedup="fingerprint")
    rig.log()
    rig.ship()
    (firing,) = receiver.wait_for(1)
    rig.advance(59.9)
    rig.resolve_due()
    assert len(receiver.attempts) == 1
    assert rig.dispatcher.next_due(rig.clock.now) == pytest.approx(rig.clock.now + 0.1)
    rig.advance(0.1)
    rig.resolve_due()
    resolved = receiver.wait_for(2)[1]
    assert resolved.status == "resolved"
    assert resolved.deduplication_key == firing.deduplication_key
    key = f'"deduplication_key":"{firing.deduplication_key}"'.encode()
    assert all(key in attempt.body for attempt in receiver.attempts)
    assert resolved.title == firing.title
    summary = resolved.metadata["incidentio_logging"]
    assert summary == {"resolved": "quiet for resolve_after seconds"}
    assert rig.stats.resolves_sent == 1
    assert rig.dispatcher.next_due(rig.clock.now) is None


def test_no_resolve_while_records_keep_arriving(receiver: LocalReceiver) -> None:
    """Every 30 s the problem recurs: its alert stays open, however long that goes on; a
    record still waiting in the open window counts as recurring too."""
    rig = Rig(receiver, resolve_after=60, dedup="fingerprint")
    for _ in range(10):
        rig.log()
        rig.ship()
        rig.advance(30)
        rig.resolve_due()
    rig.log()  # in the window, not shipped, when the alert falls due
    rig.advance(30)
    rig.resolve_due()
    assert {status for status, _ in sequence(receiver)} == {"firing"}
    rig.ship()  # the record goes out: the quiet period starts from here
    rig.advance(60)
    rig.resolve_due()
    assert sequence(receiver)[-1][0] == "resolved"
    assert len({key for _, key in sequence(receiver)}) == 1


def test_a_problem_that_returns_after_its_resolve_fires_again(receiver: LocalReceiver) -> None:
    """firing, resolved, firing: the same key, so incident.io opens a new alert."""
    rig = Rig(receiver, resolve_after=60, dedup="fingerprint")
    rig.log()
    rig.ship()
    rig.advance(60)
    rig.resolve_due()
    rig.advance(5)
    rig.log()
    rig.ship()
    events = receiver.wait_for(3)
    assert [e.status for e in events] == ["firing", "resolved", "firing"]
    assert len({e.deduplication_key for e in events}) == 1


def test_with_batch_keys_each_alert_resolves_resolve_after_it_fired(
        receiver: LocalReceiver) -> None:
    """dedup="batch" gives every event its own key: each is resolved on its own timer,
    even while the problem goes on under new keys."""
    rig = Rig(receiver, resolve_after=60, dedup="batch")
    rig.log()
    rig.ship()
    rig.advance(30)
    rig.log("payment %s failed", "B-2")
    rig.ship()
    first, second = (key for _, key in sequence(receiver))
    assert first != second
    rig.advance(30)
    rig.resolve_due()
    assert sequence(receiver)[2] == ("resolved", first)
    rig.advance(29)
    rig.resolve_due()
    assert len(receiver.events) == 3
    rig.advance(1)
    rig.resolve_due()
    assert sequence(receiver)[3] == ("resolved", second)


def test_a_resolve_is_retried_with_the_same_body(receiver: LocalReceiver) -> None:
    """A 503 on the resolve: retried after a backoff, byte for byte."""
    rig = Rig(receiver, resolve_after=10, dedup="fingerprint")
    rig.log()
    rig.ship()
    receiver.script(Scripted(503))
    rig.advance(10)
    rig.resolve_due()
    rig.settle()  # the backoff does not hold the worker: the schedule waits it out
    first, second = receiver.attempts[1:]
    assert (first.status, second.status) == (503, 202)
    assert first.body == second.body and b'"status":"resolved"' in first.body
    assert rig.clock.waits  # the backoff, on the injected clock
    assert (rig.stats.resolves_sent, rig.stats.retries) == (1, 1)


def test_resolves_share_storm_control(receiver: LocalReceiver) -> None:
    """With max_events_per_minute=1, the resolve waits for the minute to turn."""
    rig = Rig(receiver, resolve_after=10, dedup="fingerprint", max_events_per_minute=1)
    rig.log()
    rig.ship()
    rig.advance(10)
    assert rig.dispatcher.next_due(rig.clock.now) == pytest.approx(rig.clock.now + 50)
    rig.resolve_due()
    assert len(receiver.attempts) == 1
    rig.advance(50)
    rig.resolve_due()
    assert sequence(receiver)[-1][0] == "resolved"


@pytest.mark.parametrize("resolve_on_close", [False, True])
def test_close_resolves_only_when_asked(make_handler: MakeHandler, receiver: LocalReceiver,
                                        logger: logging.Logger, resolve_on_close: bool) -> None:
    """By default the end of the process is not the end of the problem."""
    handler = make_handler(resolve_after=3600, dedup="fingerprint",
                           resolve_on_close=resolve_on_close)
    logger.addHandler(handler)
    logger.error("still broken")
    assert handler.flush(5)
    handler.close()
    expected = ["firing", "resolved"] if resolve_on_close else ["firing"]
    assert [e.status for e in receiver.events] == expected
    assert handler.stats()["resolves_sent"] == int(resolve_on_close)


@pytest.mark.parametrize("dedup", ["batch", "fingerprint"])
def test_resolve_on_close_alone_resolves_every_fired_alert_at_close(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        dedup: str) -> None:
    """Without resolve_after, resolve_on_close=True silently did nothing: the job's
    alerts outlived it, as the README says they should not."""
    handler = make_handler(resolve_on_close=True, dedup=dedup)
    logger.addHandler(handler)
    logger.error("export failed")
    assert handler.flush(5)
    logger.error("upload failed")
    assert handler.flush(5)
    assert [e.status for e in receiver.events] == ["firing", "firing"]  # no timer fires
    handler.close()
    events = receiver.events
    assert [e.status for e in events] == ["firing", "firing", "resolved", "resolved"]
    assert [e.deduplication_key for e in events[2:]] == [
        e.deduplication_key for e in events[:2]]
    assert handler.stats()["resolves_sent"] == 2


def test_alerts_kept_only_for_close_are_never_due() -> None:
    """The worker waits on next_due(): an alert kept only for close() must not wake it."""
    timers = ResolveTimers(None, follow_group=False)
    assert timers.fired("k", "title", "group", now=0.0) is None
    assert timers.next_due() is None
    assert timers.due(10.0**12, lambda _: False) == []
    assert [f.key for f in timers.pending()] == ["k"]


def test_the_real_worker_resolves_after_quiet(make_handler: MakeHandler, receiver: LocalReceiver,
                                              logger: logging.Logger) -> None:
    """End to end on the real clock: the worker wakes for the resolve by itself."""
    handler = make_handler(resolve_after=1.5, dedup="fingerprint")  # room for a slow CI
    logger.addHandler(handler)
    logger.error("flaky dependency")
    assert handler.flush(5)
    logger.error("flaky dependency")
    assert handler.flush(5)
    events = receiver.wait_for(3)
    assert [e.status for e in events] == ["firing", "firing", "resolved"]
    assert len({e.deduplication_key for e in events}) == 1


@pytest.mark.parametrize(("options", "match"), [
    ({"resolve_after": 0}, "resolve_after"), ({"resolve_after": "soon"}, "resolve_after"),
    ({"resolve_on_close": "maybe"}, "resolve_on_close"),
])
def test_resolve_options_are_validated(make_handler: MakeHandler, options: dict[str, Any],
                                       match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        make_handler(**options)


def test_resolve_options_from_dictconfig_strings(receiver: LocalReceiver) -> None:
    """INI and YAML configs give strings: "300" and "true" work."""
    logging.config.dictConfig({"version": 1, "handlers": {"incident_io": {
        "class": "incidentio_logging.IncidentIOHandler", **receiver.handler_options(),
        "resolve_after": "300", "resolve_on_close": "true", "dedup": "fingerprint"}},
        "loggers": {"tests.resolve": {"handlers": ["incident_io"]}}})
    try:
        handler = logging.getLogger("tests.resolve").handlers[0]
        settings = handler.settings  # type: ignore[attr-defined]
        assert (settings.resolve_after, settings.resolve_on_close) == (300.0, True)
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


@pytest.mark.timeout(30)
def test_resolves_that_storm_control_skips_at_close_are_counted_and_said(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A job that spent max_events_per_minute on its alerts has no room left to resolve
    them at close(): nothing was sent, nothing counted (resolves_failed 0), and only a
    rate-limited stderr line told. Storm control still wins, but each resolve it skips is
    counted in stats() and said in close()'s one line."""
    handler = make_handler(dedup="fingerprint", max_events_per_minute=2,
                           resolve_on_close=True)
    logger.addHandler(handler)
    logger.error("Payment provider rejected the refund")
    logger.error("Inventory service unreachable")
    assert handler.flush(5)
    capsys.readouterr()
    handler.close()
    stats = handler.stats()
    assert [event.status for event in receiver.events] == ["firing", "firing"]
    assert (stats["resolves_sent"], stats["resolves_skipped"]) == (0, 2), stats
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "close()" in ln]
    assert "2 alerts not resolved" in line and "max_events_per_minute" in line, line
    assert handler.flush() is True  # every record was delivered: close left none behind
