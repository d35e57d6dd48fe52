"""The ``incidentio_receiver`` pytest fixture, for your own test suite.

Registered through the ``pytest11`` entry point, so it is there as soon as this package
is installed next to pytest::

    def test_checkout_alerts_on_failure(incidentio_receiver, client):
        logging.getLogger().addHandler(incidentio_receiver.handler())
        client.get("/checkout/")
        incidentio_receiver.assert_alerted(title="Internal Server Error: /checkout/")
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ._events import SUMMARY_KEY
from .handler import IncidentIOHandler
from .testing import HandlerOptions, LocalReceiver, ReceivedEvent

__all__ = ["Receiver", "incidentio_receiver"]


class Receiver:
    """What the fixture hands a test: the receiver, handlers aimed at it, and checks."""

    def __init__(self, receiver: LocalReceiver) -> None:
        self.local = receiver
        self._handlers: list[IncidentIOHandler] = []

    def options(self) -> HandlerOptions:
        """Options that point an ``IncidentIOHandler`` (or a ``dictConfig``) here."""
        return self.local.handler_options()

    def handler(self, **options: Any) -> IncidentIOHandler:
        """A handler aimed at this receiver, with a short window; closed after the test."""
        handler = IncidentIOHandler(**{**self.options(), "flush_interval": 0.05, **options})
        self._handlers.append(handler)
        return handler

    @property
    def events(self) -> list[ReceivedEvent]:
        """Events received so far, after flushing this fixture's handlers (5 s at most)."""
        self._flush(time.monotonic() + 5.0)
        return self.local.events

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedEvent]:
        """Wait until ``count`` events have arrived; fails the test if they do not."""
        deadline = time.monotonic() + timeout
        self._flush(deadline)
        return self.local.wait_for(count, max(0.0, deadline - time.monotonic()))

    def assert_alerted(self, *, title: str | None = None, level: str | None = None,
                       status: str = "firing", timeout: float = 5.0) -> ReceivedEvent:
        """Wait up to ``timeout`` seconds for an event with this ``status`` whose title
        contains ``title`` and whose records are at ``level``; return the first one, or
        fail saying what did arrive.

        The level is the one the handler puts in the event's metadata, so custom and
        threshold titles match too; a resolve carries none, so it has its alert's. The level
        is matched whatever its case. Flushing the fixture's handlers counts against
        ``timeout``.
        """
        if status not in ("firing", "resolved"):
            raise ValueError(f"status must be 'firing' or 'resolved', not {status!r}")
        deadline = time.monotonic() + timeout
        self._flush(deadline)
        while True:
            events = self.local.events
            match = next(_matching(events, title, level, status), None)
            if match is not None:
                return match
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # At the deadline it gives up, and the loop takes one last look.
            with contextlib.suppress(AssertionError):
                self.local.wait_for(len(events) + 1, left)
        wanted = f"expected a {status} alert{_wanted(title, level)}"
        if not events:
            pytest.fail(f"{wanted}, but none arrived within {timeout:g}s")
        pytest.fail(f"{wanted}; received within {timeout:g}s:{_listed(events)}")

    def assert_not_alerted(self) -> None:
        """Fail if any event arrived."""
        events = self.events
        if events:
            pytest.fail(f"expected no alert; received:{_listed(events)}")

    def _flush(self, deadline: float) -> None:
        # The handlers share what is left of the caller's time: a held receiver must not
        # cost each of them a wait of its own.
        for handler in self._handlers:
            handler.flush(max(0.0, deadline - time.monotonic()))

    def _close(self) -> None:
        # A request the test still holds would make each close wait out its timeout.
        self.local.release()
        for handler in self._handlers:
            handler.close()


def _matching(events: list[ReceivedEvent], title: str | None, level: str | None,
              status: str) -> Iterator[ReceivedEvent]:
    levels: dict[str, object] = {}  # by deduplication key: the level its alert fired at
    for event in events:
        summary = event.metadata.get(SUMMARY_KEY)
        if isinstance(summary, dict) and "level" in summary:
            levels[event.deduplication_key] = summary["level"]
        if (event.status == status and (title is None or title in event.title)
                and (level is None
                     or str(levels.get(event.deduplication_key)).upper() == level.upper())):
            yield event


def _listed(events: list[ReceivedEvent]) -> str:
    """The events' statuses and titles, one an indented line, for a failure message."""
    return "".join(f"\n  {e.status}: {e.title}" for e in events)


def _wanted(title: str | None, level: str | None) -> str:
    parts = [f"titled like {title!r}" if title else "", f"at {level}" if level else ""]
    return "".join(f" {part}" for part in parts if part)


@pytest.fixture
def incidentio_receiver() -> Iterator[Receiver]:
    """A local incident.io receiver on 127.0.0.1 for one test, and helpers around it."""
    with LocalReceiver() as local:
        receiver = Receiver(local)
        try:
            yield receiver
        finally:
            receiver._close()
