"""Property tests: whatever an application logs, the handler keeps working and sends strict,
bounded JSON, and the records logged around a hostile one arrive."""

from __future__ import annotations

import itertools
import json
import logging
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentio_logging import IncidentIOHandler
from incidentio_logging._events import BODY_LIMIT
from incidentio_logging.testing import LocalReceiver

from .conftest import strict_json


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr refuses")

    def __str__(self) -> str:
        raise RuntimeError("str refuses")


class Message:
    """A non-string ``msg`` object, as some applications log."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {"name": "cycle"}
    value["self"] = value
    return value


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.builds(lambda: 10**5000), st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf]), st.text(max_size=50),
    st.sampled_from(["lone \ud800 surrogate", "\udfff"]), st.builds(lambda: "x" * 1_000_000),
    st.binary(max_size=64), st.builds(RaisingRepr), st.builds(cyclic),
)
keys = st.one_of(st.text(max_size=10), st.integers(), st.tuples(st.integers()), st.none(),
                 st.just("\ud800"))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)), max_leaves=20)
extras = st.dictionaries(st.text(alphabet="abcdefgh", min_size=1, max_size=8).map("x_".__add__),
                         values, max_size=5)
messages = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["%d apples", "%s and %s", "%(missing)s", "100%", "%"]),
    st.builds(Message, st.text(max_size=20)), st.builds(RaisingRepr), st.integers(),
)
arguments = st.lists(st.one_of(scalars, st.just(())), max_size=3).map(tuple)


@pytest.mark.timeout(240)
def test_hostile_log_calls_never_hurt_the_handler_or_their_neighbours() -> None:
    """Raising reprs, cycles, huge strings, bytes, NaN, non-string keys, lone surrogates,
    broken format arguments and non-string messages: each body is strict JSON under
    512 KiB, and the records just before and after every hostile call are delivered."""
    numbers = itertools.count()
    log = logging.getLogger("tests.hostile")
    log.propagate = False
    with LocalReceiver() as receiver:
        handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.01,
                                    max_events_per_minute=1200)
        log.handlers[:] = [handler]

        @settings(max_examples=60, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(msg=messages, args=arguments, extra=extras)
        def one_call(msg: object, args: tuple[object, ...], extra: dict[str, Any]) -> None:
            number = next(numbers)
            log.error("before %d", number)
            log.error(msg, *args, extra=extra)
            log.error("after %d", number)
            handler.flush(10)
            arrived = {r["message"] for e in receiver.events for r in e.records}
            assert {f"before {number}", f"after {number}"} <= arrived

        try:
            one_call()
        finally:
            handler.close()
            log.handlers.clear()
        for attempt in receiver.attempts:
            assert attempt.status == 202, attempt.body[:300]
            assert len(attempt.body) < BODY_LIMIT
            strict_json(attempt.body)
        stats = handler.stats()
        assert set(stats["dropped"]) <= {"body_size"}, stats
        assert stats["records_accepted"] == stats["records_delivered"] + stats["records_dropped"]
        assert json.dumps(stats)
