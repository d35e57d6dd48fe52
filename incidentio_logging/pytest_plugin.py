"""The ``incidentio_receiver`` pytest fixture, for your own test suite.

Registered through the ``pytest11`` entry point, so it is there as soon as this package
is installed next to pytest::

    def test_checkout_alerts_on_failure(incidentio_receiver, client):
        logging.getLogger().addHandler(incidentio_receiver.handler())
        client.get("/checkout/")
        incidentio_receiver.assert_alerted(title="Internal Server Error: /checkout/")
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .handler import IncidentIOHandler
from .testing import HandlerOptions, LocalReceiver, ReceivedEvent


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
        """Events received so far, after flushing this fixture's handlers."""
        self._flush()
        return self.local.events

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedEvent]:
        """Wait until ``count`` events have arrived; fails the test if they do not."""
        self._flush()
        return self.local.wait_for(count, timeout)

    def assert_alerted(self, *, title: str | None = None, level: str | None = None,
                       status: str = "firing", timeout: float = 5.0) -> ReceivedEvent:
        """Return the event whose title contains ``title`` (and level), or fail saying
        what did arrive."""
        self._flush()
        try:
            self.local.wait_for(1, timeout)
        except AssertionError:
            pytest.fail(f"expected an alert{_wanted(title, level)}, but none arrived")
        for event in self.local.events:
            if (event.status == status and (title is None or title in event.title)
                    and (level is None or event.title.startswith(f"{level} "))):
                return event
        seen = "\n  ".join(f"{e.status}: {e.title}" for e in self.local.events)
        pytest.fail(f"expected an alert{_wanted(title, level)}; received:\n  {seen}")

    def assert_not_alerted(self) -> None:
        """Fail if any event arrived."""
        events = self.events
        if events:
            seen = "\n  ".join(f"{e.status}: {e.title}" for e in events)
            pytest.fail(f"expected no alert; received:\n  {seen}")

    def _flush(self) -> None:
        for handler in self._handlers:
            handler.flush(5)

    def _close(self) -> None:
        # A request the test still holds would make each close wait out its timeout.
        self.local.release()
        for handler in self._handlers:
            handler.close()


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
