"""Shared fixtures: a real receiver on 127.0.0.1, handlers that are always closed."""

from __future__ import annotations

import itertools
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import LocalReceiver

_names = itertools.count()

MakeHandler = Callable[..., IncidentIOHandler]


@pytest.fixture
def receiver() -> Iterator[LocalReceiver]:
    """An incident.io-compatible receiver for this test only."""
    with LocalReceiver() as local:
        yield local


@pytest.fixture
def make_handler(receiver: LocalReceiver) -> Iterator[MakeHandler]:
    """Build handlers pointed at the receiver, with a short window; closed afterwards."""
    made: list[IncidentIOHandler] = []

    def make(**options: Any) -> IncidentIOHandler:
        handler = IncidentIOHandler(
            **{**receiver.handler_options(), "flush_interval": 0.05, **options}
        )
        made.append(handler)
        return handler

    yield make
    receiver.release()
    for handler in made:
        handler.close()


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A fresh logger that does not propagate, so tests do not see each other."""
    log = logging.getLogger(f"tests.app{next(_names)}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def worker_threads() -> list[threading.Thread]:
    """The handler worker threads alive now."""
    return [t for t in threading.enumerate() if t.name.startswith("incidentio-logging-worker")]


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
