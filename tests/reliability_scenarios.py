"""The reliability scenarios: faults, floods and exits, and where every record ended up.

Each scenario runs a handler against the local receiver on 127.0.0.1, with the receiver
scripted to fail in one way, while the application logs. ``tests/test_reliability.py``
runs every scenario and asserts its outcome; ``python -m benchmarks.reliability`` runs
the same scenarios and writes RELIABILITY.md's table from them. They live here, beside
the tests, so that the tests run wherever the tests are (an sdist has no benchmarks/).
"""

from __future__ import annotations

import contextlib
import email.utils
import io
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from incidentio_logging import HandlerStats, IncidentIOHandler
from incidentio_logging.testing import LocalReceiver, Scripted

#: Socket operations that would mean a logging call touched the network.
_NETWORK_EVENTS = frozenset({"socket.__new__", "socket.connect", "socket.getaddrinfo",
                             "socket.bind", "socket.sendto", "socket.sendmsg"})
_watched: set[int] = set()
_network_calls: list[str] = []
_hooked = False


def _audit(event: str, _args: tuple[object, ...]) -> None:
    if event in _NETWORK_EVENTS and threading.get_ident() in _watched:
        _network_calls.append(event)


@contextlib.contextmanager
def _watching() -> Iterator[None]:
    """Record any socket operation made on this thread (an audit hook cannot be removed,
    so it is added once and watches only the threads inside this block)."""
    global _hooked  # noqa: PLW0603 - one hook per process
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    ident = threading.get_ident()
    _watched.add(ident)
    try:
        yield
    finally:
        _watched.discard(ident)


@dataclass(frozen=True)
class Scenario:
    """One way the world can go wrong, and what the application does meanwhile."""

    name: str
    #: Replies for the receiver's first requests; a function, so dates can be fresh.
    faults: Callable[[], tuple[Scripted, ...]] = tuple
    options: Mapping[str, Any] = field(default_factory=dict)
    records: int = 200
    threads: int = 1
    #: Distinct problems (message templates) the records cycle through.
    problems: int = 2
    #: Seconds over which each thread's calls are spread; 0 logs in a tight loop.
    spread: float = 0.5
    #: Connections are refused from the start; None: never. A number: accepted again
    #: after that many seconds. -1: refused until after exit.
    refuse_for: float | None = None
    #: Wait for delivery (flush) before close(); False closes with everything pending.
    settle: bool = True
    #: close() once the receiver has seen this many requests, not before.
    close_after_requests: int = 0
    #: The drop reasons this scenario must produce...
    dropped: frozenset[str] = frozenset()
    #: ...and others it may produce, depending on timing.
    may_drop: frozenset[str] = frozenset()


@dataclass
class Result:
    """What happened, from the handler's and the receiver's side."""

    scenario: Scenario
    logged: int
    stats: HandlerStats
    received: int  # records inside distinct event bodies the receiver accepted
    duplicates: int  # records that arrived in more than one distinct body
    requests: int
    call_p99_us: float
    call_max_us: float
    exit_seconds: float
    network_calls: list[str]
    stderr_lines: int

    @property
    def balanced(self) -> bool:
        """Every accepted record delivered once or dropped with a reason; none pending."""
        stats = self.stats
        return (stats["records_accepted"] == self.logged
                == self.received + stats["records_dropped"]
                and stats["records_delivered"] == self.received
                and stats["records_pending"] == 0 and self.duplicates == 0)


def _retry_after_date() -> tuple[Scripted, ...]:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    return (Scripted(429, headers={"Retry-After": when}),)


def scenarios(soak: bool = False) -> list[Scenario]:
    """Every scenario; ``soak`` makes the floods a million calls."""
    flood = 1_000_000 if soak else 20_000
    # A long flood outlasts max_events_per_minute (its group is then held back and, at
    # close, dropped as storm_control), and several threads can outpace the worker at a
    # window's end (queue_full).
    flood_extra = frozenset({"queue_full", "storm_control"})
    return [
        Scenario("healthy receiver"),
        Scenario("healthy, 8 threads at once", threads=8, records=250, problems=16,
                 spread=0, options={"max_batch_size": 1000}),
        Scenario("503, 502, 500, then 202",
                 faults=lambda: tuple(Scripted(s) for s in (503, 502, 500))),
        Scenario("429 with Retry-After: 1 (seconds)",
                 faults=lambda: (Scripted(429, headers={"Retry-After": "1"}),)),
        Scenario("429 with Retry-After as an HTTP date", faults=_retry_after_date),
        Scenario("slow response (1.5 s, within the timeout)",
                 faults=lambda: (Scripted(delay=1.5),), options={"timeout": 3}),
        Scenario("response slower than the timeout (2.5 s > 1 s)",
                 faults=lambda: (Scripted(delay=2.5),), options={"timeout": 1}),
        Scenario("slow body (headers, then 1.5 s, then the rest)",
                 faults=lambda: (Scripted(body_delay=1.5),), options={"timeout": 3}),
        Scenario("connection reset mid-request, twice",
                 faults=lambda: (Scripted(reset=True), Scripted(reset=True))),
        Scenario("malformed reply bodies (503 and 202)",
                 faults=lambda: (Scripted(503, raw=b"<html>oops"), Scripted(202, raw=b"{oops"))),
        Scenario("empty reply body", faults=lambda: (Scripted(202, raw=b""),)),
        Scenario("connections refused for 1 s", refuse_for=1.0),
        Scenario("connections refused until exit", refuse_for=-1, settle=False,
                 options={"shutdown_timeout": 2}, dropped=frozenset({"shutdown_timeout"})),
        Scenario("close() during a Retry-After: 20 backoff",
                 faults=lambda: (Scripted(503, headers={"Retry-After": "20"}),) * 3,
                 options={"shutdown_timeout": 2}, settle=False, close_after_requests=1,
                 spread=0, problems=1, dropped=frozenset({"shutdown_timeout"})),
        Scenario("401/403: the token is refused", faults=lambda: (Scripted(403),) * 2,
                 problems=2, spread=0, dropped=frozenset({"rejected"})),
        Scenario("error loop of 300 distinct problems", records=300, problems=300, spread=0,
                 dropped=frozenset({"storm_control"})),
        Scenario(f"flood: {flood:,} calls, 1 thread", records=flood, problems=1, spread=0,
                 dropped=frozenset({"batch_full"}), may_drop=flood_extra),
        Scenario(f"flood: {flood:,} calls, 4 threads", records=flood // 4, threads=4,
                 problems=1, spread=0, dropped=frozenset({"batch_full"}), may_drop=flood_extra),
        Scenario("queue full while the receiver stalls 1 s", records=2000, spread=1.5,
                 faults=lambda: (Scripted(delay=1.0),),
                 options={"queue_size": 100, "max_batch_size": 10_000},
                 dropped=frozenset({"queue_full"})),
    ]


def run(scenario: Scenario) -> Result:
    """Run ``scenario`` against a fresh receiver and handler."""
    # One template object per problem: an error loop logs the same literal again and again.
    templates = [f"problem {n}: order %s failed" for n in range(scenario.problems)]
    per_thread = scenario.records
    stderr = io.StringIO()
    with LocalReceiver() as receiver, contextlib.redirect_stderr(stderr):
        receiver.script(*scenario.faults())
        if scenario.refuse_for is not None:
            receiver.refuse_connections()
        options = {**receiver.handler_options(), "flush_interval": 0.05, "timeout": 2,
                   "shutdown_timeout": 5, **scenario.options}
        handler = IncidentIOHandler(**options)
        log = logging.getLogger(f"reliability.{id(scenario)}")
        log.handlers[:] = [handler]
        log.propagate = False
        durations: list[int] = []
        pause = scenario.spread / per_thread

        def app(thread: int) -> None:
            mine = []
            clock = time.perf_counter_ns
            with _watching():
                for i in range(per_thread):
                    started = clock()
                    log.error(templates[i % len(templates)], i, extra={"seq": f"{thread}-{i}"})
                    mine.append(clock() - started)
                    if pause:
                        time.sleep(pause)
            durations.extend(mine)

        calls_before = len(_network_calls)
        threads = [threading.Thread(target=app, args=(n,)) for n in range(scenario.threads)]
        for thread in threads:
            thread.start()
        if scenario.refuse_for is not None and scenario.refuse_for >= 0:
            time.sleep(scenario.refuse_for)
            receiver.accept_connections()
        for thread in threads:
            thread.join()
        _wait_for_requests(receiver, scenario.close_after_requests)
        if scenario.settle:
            handler.flush(30)
        started = time.perf_counter()
        handler.close()
        exit_seconds = time.perf_counter() - started
        log.handlers.clear()
        if scenario.refuse_for == -1:
            receiver.accept_connections()
        received, duplicates = _records_received(receiver)
        requests = len(receiver.attempts)
    durations.sort()
    return Result(
        scenario=scenario, logged=per_thread * scenario.threads, stats=handler.stats(),
        received=received, duplicates=duplicates, requests=requests,
        call_p99_us=durations[int(len(durations) * 0.99)] / 1000,
        call_max_us=durations[-1] / 1000, exit_seconds=exit_seconds,
        network_calls=_network_calls[calls_before:],
        stderr_lines=len(stderr.getvalue().splitlines()),
    )


def _wait_for_requests(receiver: LocalReceiver, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.attempts) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def _records_received(receiver: LocalReceiver) -> tuple[int, int]:
    """Records in the distinct bodies answered 202: a retry of a body that was accepted
    though its reply was lost is the same bytes, which incident.io deduplicates."""
    bodies = {a.body for a in receiver.attempts if a.status == 202}
    seqs = [record["seq"] for body in bodies
            for record in json.loads(body)["metadata"]["data"]]
    return len(seqs), len(seqs) - len(set(seqs))
