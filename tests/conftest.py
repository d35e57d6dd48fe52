"""Shared fixtures: a real receiver on 127.0.0.1, handlers that are always closed."""

from __future__ import annotations

import itertools
import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging._config import parse_settings
from incidentio_logging._dispatch import Dispatcher, Timing
from incidentio_logging._flood import Floods
from incidentio_logging._record import capture
from incidentio_logging._report import Reporter
from incidentio_logging._stats import Stats
from incidentio_logging.pytest_plugin import Receiver
from incidentio_logging.testing import LocalReceiver
from incidentio_logging.transport import HttpTransport

_names = itertools.count()

MakeHandler = Callable[..., IncidentIOHandler]


@pytest.fixture
def receiver(incidentio_receiver: Receiver) -> LocalReceiver:
    """An incident.io-compatible receiver for this test only: the plugin's fixture's."""
    return incidentio_receiver.local


@pytest.fixture
def make_handler(incidentio_receiver: Receiver) -> MakeHandler:
    """Build handlers pointed at the receiver, with a short window; closed afterwards."""
    return incidentio_receiver.handler


@pytest.fixture
def no_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker Thread.start() fails (a thread limit; on 3.12+, any start at exit):
    flush() delivers on the caller's thread. Shared by test_worker and test_stall."""
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name.startswith("incidentio-logging-worker"):
            raise RuntimeError("can't start new thread")
        original(self)
    monkeypatch.setattr(threading.Thread, "start", start)


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A fresh logger that does not propagate, so tests do not see each other."""
    log = logging.getLogger(f"tests.app{next(_names)}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


@pytest.fixture
def payments() -> Iterator[logging.Logger]:
    """The stdlib logger ``shop.payments`` the README's examples name, not propagating;
    its handlers removed after."""
    log = logging.getLogger("shop.payments")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


class FakeClock:
    """Time that moves only when a test moves it, or when the code under test waits."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Rig:
    """A dispatcher on a fake clock, sending over real HTTP to the receiver.

    The worker thread is left out: a test adds records and ships windows itself, at the
    times it chooses, to exercise what depends on time without sleeping.
    """

    def __init__(self, receiver: LocalReceiver, **options: Any) -> None:
        self.clock = FakeClock()
        self.wall = FakeClock(1_790_000_000.0)
        settings = parse_settings(**{**receiver.handler_options(), **options})
        self.stats = Stats()
        self.transport = HttpTransport(endpoint=settings.endpoint, source_id=settings.source_id,
                                       api_token=settings.api_token)
        self.dispatcher = Dispatcher(settings, transport=self.transport, stats=self.stats,
                                     reporter=Reporter(clock=self.clock, stream=lambda: None),
                                     wall_clock=self.wall)

    def log(self, msg: str = "payment %s failed", *args: object, logger: str = "shop",
            level: int = logging.ERROR, **extra: Any) -> None:
        """Add one record, created now by the wall clock, to the open window."""
        record = logging.getLogger(logger).makeRecord(
            logger, level, "f.py", 1, msg, args or ("A-1",), None, extra=extra or None)
        record.created = self.wall.now
        self.stats.taken += 1
        self.dispatcher.window.add(capture(record))

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self.clock.now += seconds
        self.wall.now += seconds

    @property
    def timing(self) -> Timing:
        """The fake clock, waits that move it, and no deadline."""
        return Timing(now=self.clock, wait=self.clock.wait, stop_at=lambda: float("inf"))

    def ship(self, *, flush: bool = False) -> None:
        """Close the window, as the worker does when it times out (or, ``flush``, when it
        reaches a flush or a close)."""
        self.dispatcher.ship(self.timing, flush=flush)

    def settle(self) -> None:
        """Deliver or give up what waits in the send schedule, waiting out its backoffs
        on the fake clock, as a flush does."""
        self.dispatcher.settle(self.timing)

    def resolve_due(self) -> None:
        """Send the resolves that are due, as the worker does when it wakes for them."""
        self.dispatcher.resolve_due(self.timing)


def repeats_held_by_storm_control(receiver: LocalReceiver) -> Rig:
    """A rig allowing 2 events a minute: alpha and beta spend them, and their repeats a
    second later are held back."""
    rig = Rig(receiver, max_events_per_minute=2, refresh_interval=None)
    for _ in range(2):
        rig.log("alpha failed %s")
        rig.log("beta failed %s")
        rig.ship()
        rig.advance(1)
    return rig


def worker_threads() -> list[threading.Thread]:
    """The handler worker threads alive now."""
    return [t for t in threading.enumerate() if t.name.startswith("incidentio-logging-worker")]


def floods(handler: IncidentIOHandler) -> Floods:
    """The handler's flood counters: a full group's further records are counted by them
    on the caller's thread."""
    return handler.worker.dispatcher.window.floods


ExcInfo = tuple[type[BaseException], BaseException, TracebackType]


def exc_info_of(exc: BaseException) -> ExcInfo:
    """A real exc_info tuple, with a traceback, for ``exc``."""
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    assert info[0] is not None and info[1] is not None and info[2] is not None
    return info[0], info[1], info[2]


def strict_json(data: bytes) -> Any:
    """Parse as strict JSON: NaN and Infinity fail the test."""
    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in JSON")
    return json.loads(data, parse_constant=no_constants)


def free_port(family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on now, for a server in a subprocess."""
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def ipv6_loopback() -> bool:
    """Whether this machine can listen on ::1 (some containers have no IPv6)."""
    try:
        free_port(socket.AF_INET6, "::1")
    except OSError:
        return False
    return True


class Kept(logging.Handler):
    """Keeps the records it is handed, unformatted, as the application made them."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
