"""Reliability scenarios: faults, floods and exits, and where every record ended up.

    python -m benchmarks.reliability                          # print the table
    python -m benchmarks.reliability --output RELIABILITY.md  # write it
    python -m benchmarks.reliability --soak                   # floods of 1,000,000 calls

Each scenario runs a handler against the local receiver on 127.0.0.1, with the receiver
scripted to fail in one way, while the application logs. ``tests/test_reliability.py``
runs every scenario and asserts its outcome, so each row of RELIABILITY.md is a CI test.
"""

from __future__ import annotations

import argparse
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

from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import LocalReceiver, Scripted

from .hardening import HARDENING

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
    stats: dict[str, Any]
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


def table(results: list[Result]) -> Iterator[str]:
    """The markdown table of RELIABILITY.md."""
    yield ("| scenario | logged | delivered | dropped (reason) | requests | call p99 / max "
           "| exit | stderr | balanced |")
    yield "|---|---|---|---|---|---|---|---|---|"
    for r in results:
        dropped = ", ".join(f"{n:,} {reason}" for reason, n in sorted(r.stats["dropped"].items()))
        yield (f"| {r.scenario.name} | {r.logged:,} | {r.received:,} | {dropped or '-'} "
               f"| {r.requests} | {r.call_p99_us:.1f} / {r.call_max_us:,.0f} µs "
               f"| {r.exit_seconds:.2f} s | {r.stderr_lines} | {'yes' if r.balanced else 'NO'} |")


#: What the table above cannot show, because it is about a process's life rather than
#: a receiver's faults: each with the test that proves it.
LIFECYCLE = [
    ("`dictConfig` twice (Django does this): no leaked thread, no hang",
     "test_lifecycle.py::test_dictconfig_twice_leaks_no_thread"),
    ("`dictConfig` replacing a handler whose worker is stuck in a request",
     "test_lifecycle.py::test_dictconfig_does_not_wait_on_a_stuck_worker"),
    ("`close()` twice; logging after `close()`: counted as closed, no warnings",
     "test_handler.py::test_logging_after_close_is_counted_not_sent"),
    ("exit with events pending: delivered by `logging.shutdown()`",
     "test_lifecycle.py::test_exit_delivers_pending_events"),
    ("Python 3.12+: a first record logged from an atexit hook, when no thread can start",
     "test_lifecycle.py::test_a_record_first_logged_during_shutdown_is_delivered"),
    ("exit with the receiver down: bounded by `shutdown_timeout`",
     "test_lifecycle.py::test_exit_with_the_receiver_down_is_bounded"),
    ("`os.fork()` with records queued: the child sends its own, never the parent's",
     "test_lifecycle.py::test_a_forked_child_sends_its_own_alerts_and_not_the_parents_backlog"),
    ("multiprocessing, fork and spawn: each child's alert arrives, the backlog once",
     "test_lifecycle.py::test_multiprocessing_children_deliver_their_own_and_not_the_parents"),
    ("`gunicorn --preload -w 2`: each worker's error delivered",
     "test_contrib_flask.py::test_the_flask_example_under_gunicorn_preload_alerts_from_both_workers"),
    ("logging from a signal handler every 0.5 ms for a second: no deadlock, balanced",
     "test_lifecycle.py::test_logging_from_a_signal_handler_does_not_deadlock"),
    ("logging from `__del__` during interpreter shutdown",
     "test_lifecycle.py::test_logging_from_del_during_interpreter_shutdown"),
    ("hostile log calls (hypothesis): strict JSON under 512 KiB, neighbours delivered",
     "test_hostile.py::test_hostile_log_calls_never_hurt_the_handler_or_their_neighbours"),
    ("the token in no report, repr or stats: 401, 403, refused, reset, timeout",
     "test_security.py::test_the_token_is_never_printed"),
    ("TLS verified by default; trusted through `ca_bundle`",
     "test_security.py::test_tls_is_verified_by_default"),
]


def document(results: list[Result], soak: bool) -> Iterator[str]:
    """RELIABILITY.md: how to read the table, the table, and the flood's memory."""
    from . import memory
    from .__main__ import machine
    from .servers import Servers

    yield "# Reliability"
    yield ""
    yield (f"Generated by `python -m benchmarks.reliability{' --soak' if soak else ''} "
           f"--output RELIABILITY.md` on {machine()}.")
    yield ""
    yield ("Each row runs a fresh handler against the local receiver on 127.0.0.1, scripted to "
           "fail in one way while the application logs (by default 200 records over half a "
           "second, two problems, `flush_interval=0.05`, `timeout=2`, `shutdown_timeout=5`; "
           "a row's own options are in `benchmarks/reliability.py`). Then the application "
           "flushes, except where the row is about closing with work pending, and calls "
           "`close()`.")
    yield ""
    yield "- **delivered**: records inside distinct event bodies the receiver answered 202."
    yield ("- **dropped**: `stats()['dropped']`, by reason. **balanced**: accepted = delivered "
           "+ dropped, nothing pending, no record in two distinct bodies.")
    yield ("- **call p99 / max**: the application's `logger.error` calls, wall time, while the "
           "fault was live. An audit hook also watches the logging threads: no row has a "
           "single socket operation on them.")
    yield "- **exit**: how long `close()` took."
    yield ("- **stderr**: lines the handler wrote about its trouble: one per kind per minute, "
           "however many records it cost, plus the one line `close()` writes when it "
           "leaves records undelivered.")
    yield ""
    yield ("Every row is a test: `tests/test_reliability.py` runs each scenario in CI and "
           "asserts the reasons, the balance, no socket use on the logging thread, calls "
           "under 0.5 s (every fault lasts at least a second, so a call that waited on one "
           "would fail) and `close()` within `shutdown_timeout`. One row alone: "
           "`python -m pytest 'tests/test_reliability.py::test_scenario[<scenario>]'`. "
           "The million-call floods run with `python -m pytest -m soak`.")
    yield ""
    yield from table(results)
    yield ""
    yield "## Lifecycle, hostile input and secrets"
    yield ""
    yield "Each is a CI test, in a real subprocess where exit or fork is the point."
    yield ""
    yield "| scenario | test (`tests/`) |"
    yield "|---|---|"
    for scenario, test in LIFECYCLE:
        yield f"| {scenario} | `{test}` |"
    yield ""
    yield "## Defects found and fixed, each with its figure and its test"
    yield ""
    yield ("From an adversarial audit (hardening) and from trying each logging style as a "
           "new user would (alert identity). Each test failed before its fix. The figure "
           "is what was seen, then what the handler does now.")
    yield ""
    yield "| defect | before → after | test (`tests/`) |"
    yield "|---|---|---|"
    for defect, figure, test in HARDENING:
        yield f"| {defect} | {figure} | `{test}` |"
    yield ""
    with Servers() as servers:
        yield from memory.section(servers, 1_000_000)


def main(argv: list[str] | None = None) -> int:
    """Run every scenario and print, or write, the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="write the markdown here instead of printing it")
    parser.add_argument("--soak", action="store_true", help="floods of 1,000,000 calls")
    args = parser.parse_args(argv)
    results = []
    for scenario in scenarios(soak=args.soak):
        results.append(run(scenario))
        print(f"done: {scenario.name}", file=sys.stderr)
    text = "\n".join(document(results, args.soak)) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
