"""A fleet simulation (issue 16): N processes, each with its own handler, meet only at one
rate-limited receiver, as a pool of workers meets only at incident.io.

Every process logs the same ``%``-style error at a steady rate (or takes turns between a
few, for many problems at once). One of them also logs a rare, different error once,
after the rate limit is used up.
The receiver runs in the calling process and enforces a sliding-window limit on the one
token they share. Each child prints its handler's ``stats()`` when it has closed.

Shared by ``tests/test_fleet.py`` (small N, correctness) and ``benchmarks/fleet.py``
(the figures); it lives here because the tests must not import ``benchmarks``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import incidentio_logging
from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import Attempt, LocalReceiver, ReceivedEvent

#: Today's behaviour: a key per event, and no folding of repeats (when the option exists).
BEFORE: dict[str, Any] = {"dedup": "batch", "refresh_interval": None}
#: The defaults: nothing but where to send.
AFTER: dict[str, Any] = {}

MAIN_ERROR = "Payment %s failed: card declined"
#: The error loop's problems, taken in turns when a process has more than one: distinct
#: ``%``-templates, so distinct fingerprints (one alert each).
PROBLEMS = (MAIN_ERROR, *(f"Dependency {n} failed for request %s" for n in range(1, 64)))
RARE_ERROR = "Disk full on %s"
RARE_MARK = "Disk full"


def supported(options: dict[str, Any]) -> dict[str, Any]:
    """The options this version of the handler accepts: ``refresh_interval`` is left out
    where it does not exist yet, so one harness measures the code before and after (the
    child process decides, since it may import another version: see ``Member.library``)."""
    accepted = inspect.signature(IncidentIOHandler).parameters
    return {name: value for name, value in options.items() if name in accepted}


@dataclass(frozen=True)
class Member:
    """One process of the fleet: how often it logs the common error, and its options."""

    rate: float
    options: dict[str, Any] = field(default_factory=dict)
    #: How many distinct problems the error loop takes turns between (see PROBLEMS).
    problems: int = 1
    #: Stop after this many records of the common error (None: for the whole run).
    count: int | None = None
    #: Seconds into the run at which to log the rare error once (None: never).
    rare_at: float | None = None
    #: A source tree whose ``incidentio_logging`` this process imports instead of this
    #: one's: a checkout of an earlier release, to measure its behaviour itself.
    library: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What the receiver saw and what the handlers counted, for one run."""

    seconds: float
    requests: int  # during the logging period
    answered_429: int  # during the logging period
    requests_total: int  # including what close() sent
    alerts: dict[str, int]  # alerts opened per problem ("main", "rare")
    statuses: dict[str, list[str]]  # per deduplication key, in order of arrival
    dropped: dict[str, int]  # summed over the processes
    #: Each process's own ``stats()`` after close().
    stats: tuple[dict[str, Any], ...]
    accepted: int
    delivered: int
    pending: int
    retries: int  # requests the handlers sent again (after a 429, say)
    rare_logged: bool
    rare_delay: float | None  # arrival minus log time; None if it never arrived
    #: Whether the limit had answered 429 by the time the rare error was due.
    limited_at_rare: bool
    #: Whether the rare error arrived before the processes began to close: close() did
    #: not have to send it.
    rare_before_close: bool
    #: Events of the rare error's process that arrived before it although they carried a
    #: record logged after it: what it waited behind that it should have overtaken.
    rare_overtaken: int
    #: Records in the events the receiver accepted (their ``metadata.data``).
    received_records: int

    @property
    def requests_per_minute(self) -> float:
        """Requests a minute while the processes were logging."""
        return self.requests * 60 / self.seconds

    @property
    def share_429(self) -> float:
        """Share of those requests answered 429."""
        return self.answered_429 / self.requests if self.requests else 0.0

    @property
    def balanced(self) -> bool:
        """Every record accepted ended delivered or dropped under a reason."""
        return (self.pending == 0
                and self.accepted == self.delivered + sum(self.dropped.values()))

    @property
    def refires(self) -> int:
        """Firing events that reopened a key after it had been resolved: repeat pages."""
        return sum(_refires(statuses) for statuses in self.statuses.values())


def storm(processes: int, rate: float, options: dict[str, Any],
          rare_at: float, library: str | None = None, problems: int = 1) -> list[Member]:
    """The issue's scenario: every process in the error loop, the first also the rare one.

    With ``problems`` above one, each process's loop takes turns between that many
    distinct problems (at ``rate`` records a second in all): many problems at once.
    """
    if not 1 <= problems <= len(PROBLEMS):
        raise ValueError(f"problems must be 1 to {len(PROBLEMS)}, not {problems}")
    return [Member(rate, options, problems, rare_at=rare_at if i == 0 else None,
                   library=library)
            for i in range(processes)]


def scaled_limit(processes: int, seconds: float) -> tuple[int, float]:
    """A (limit, window) with the shape of 1,200 a minute for 40 processes over 60 s.

    Today each process sends about one event a second (one window a second, within
    ``max_events_per_minute``): N a second against a limit of half that, reached halfway
    through the run. A shorter run is one window, so the overload is sustained, as in
    the full minute, rather than a burst then a long wait.
    """
    return max(1, round(processes * seconds / 2)), seconds


def problems_over(limit: int, processes: int) -> int:
    """Problems per process whose first events, sent at once by every process, come to a
    third more than ``limit``: many problems at once, as a shared dependency's outage
    makes them, exceed the limit even though each is one event per process."""
    return math.ceil(limit * 4 / 3 / processes)


def run(members: Sequence[Member], seconds: float, *, limit: int, window: float = 60.0,
        linger: float = 0.0, close_timeout: float = 120.0) -> Outcome:
    """Run the fleet for ``seconds`` against a receiver limited to ``limit`` per ``window``.

    The processes then stay up, quiet, for ``linger`` seconds before they close their
    handlers, as a long-running process outlives a storm.
    """
    with LocalReceiver() as receiver, tempfile.TemporaryDirectory() as logs:
        receiver.rate_limit(limit, window=window)
        base = receiver.handler_options()
        # Each child's stderr (the handler's own reports) goes to a file, shown if it fails.
        errors = [os.path.join(logs, f"{i}.err") for i in range(len(members))]
        children = [_spawn({**base, **m.options}, m, seconds, seconds + linger, path)
                    for m, path in zip(members, errors, strict=True)]
        close_at = 0.0
        try:
            for child, path in zip(children, errors, strict=True):  # all up before anyone logs
                assert child.stdout is not None
                if child.stdout.readline().strip() != "ready":
                    child.wait()
                    raise RuntimeError(f"a fleet process did not start: {_tail(path)}")
            start = time.time() + 0.2
            close_at = start + seconds + linger
            for child in children:
                assert child.stdin is not None
                child.stdin.write(f"{start}\n")
                child.stdin.flush()
            rare_at = min((m.rare_at for m in members if m.rare_at is not None),
                          default=seconds)
            _sleep_until(start + rare_at)
            limited_at_rare = any(a.status == 429 for a in receiver.attempts)
            _sleep_until(start + seconds)
            during = [a.status for a in receiver.attempts]
            reports = [_report(child, linger + close_timeout, path)
                       for child, path in zip(children, errors, strict=True)]
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        return _outcome(seconds, during, receiver.attempts, receiver.events, reports,
                        limited_at_rare, close_at)


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def _spawn(options: dict[str, Any], member: Member, seconds: float, close_at: float,
           errors: str) -> subprocess.Popen[str]:
    config = {"options": options, "rate": member.rate, "problems": member.problems,
              "count": member.count,
              "rare_at": member.rare_at, "seconds": seconds, "close_at": close_at}
    with open(errors, "w") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, os.path.abspath(__file__), json.dumps(config)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                text=True,
                                env={**os.environ, "PYTHONPATH": _path(member.library)})


def _path(library: str | None) -> str:
    # By default the children import the same incidentio_logging as this process,
    # wherever it is; the harness's own tree comes after, for this module's imports.
    here = os.path.dirname(os.path.dirname(os.path.abspath(incidentio_logging.__file__)))
    return os.pathsep.join([library or here, here, os.environ.get("PYTHONPATH", "")])


def _report(child: subprocess.Popen[str], timeout: float, errors: str) -> dict[str, Any]:
    out, _ = child.communicate(timeout=timeout)
    if child.returncode != 0:
        raise RuntimeError(f"a fleet process failed ({child.returncode}): {_tail(errors)}")
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def _tail(path: str) -> str:
    with open(path) as stderr:
        return stderr.read()[-2000:]


def _outcome(seconds: float, during: list[int], attempts: list[Attempt],
             events: list[ReceivedEvent], reports: list[dict[str, Any]],
             limited_at_rare: bool, close_at: float) -> Outcome:
    dropped: Counter[str] = Counter()
    for report in reports:
        dropped.update(report["stats"]["dropped"])
    # When and in which process the rare error was logged, and where it is among arrivals.
    logged = next(((r["rare_logged_at"], r["process"]) for r in reports
                   if r["rare_logged_at"] is not None), None)
    rare = next((i for i, e in enumerate(events) if RARE_MARK in e.title), None)
    arrived = None if rare is None else events[rare].received_at
    delay = arrived - logged[0] if logged and arrived is not None else None
    statuses: dict[str, list[str]] = {}
    for event in events:
        statuses.setdefault(event.deduplication_key, []).append(event.status)
    return Outcome(
        seconds=seconds, requests=len(during), answered_429=during.count(429),
        requests_total=len(attempts), alerts=alerts_opened(events), statuses=statuses,
        dropped=dict(dropped), stats=tuple(r["stats"] for r in reports),
        accepted=sum(r["stats"]["records_accepted"] for r in reports),
        delivered=sum(r["stats"]["records_delivered"] for r in reports),
        pending=sum(r["stats"]["records_pending"] for r in reports),
        retries=sum(r["stats"]["retries"] for r in reports),
        rare_logged=logged is not None, rare_delay=delay,
        limited_at_rare=limited_at_rare,
        rare_before_close=arrived is not None and arrived < close_at,
        # Before it, or all of them when it never arrived.
        rare_overtaken=(overtaking(events[:rare], process=logged[1], logged=logged[0])
                        if logged else 0),
        received_records=sum(len(event.records) for event in events))


def alerts_opened(events: Iterable[ReceivedEvent]) -> dict[str, int]:
    """Alerts incident.io would open, per problem: a firing event opens one unless its key
    is already open; a resolved event closes its key."""
    open_keys: set[str] = set()
    opened: Counter[str] = Counter()
    for event in events:
        key = event.deduplication_key
        if event.status == "resolved":
            open_keys.discard(key)
        elif key not in open_keys:
            open_keys.add(key)
            opened["rare" if RARE_MARK in event.title else "main"] += 1
    return dict(opened)


def overtaking(events: Iterable[ReceivedEvent], process: int, logged: float) -> int:
    """How many ``events`` came from ``process`` and carried a record it logged after
    ``logged`` (the moment just before it logged the rare error).

    Such an event was formed no sooner than the rare error's own (a process logs in
    order, and a window's new problems are scheduled before its refreshes), so, sent
    before the rare error, it overtook it in the send schedule: a new problem that did
    not go first.
    """
    return sum(1 for event in events
               if any(r.get("process") == process and _when(r) > logged
                      for r in event.records))


def _when(record: dict[str, Any]) -> float:
    # A record without a timestamp (another release's format) is never counted as later.
    stamp = record.get("timestamp")
    return dt.datetime.fromisoformat(stamp).timestamp() if isinstance(stamp, str) else 0.0


def _refires(statuses: list[str]) -> int:
    return sum(1 for before, after in itertools.pairwise(statuses)
               if before == "resolved" and after == "firing")


def runs(statuses: list[str]) -> str:
    """``firing x4, resolved, firing x3``: a key's statuses, runs collapsed."""
    counted = ((status, len(list(group))) for status, group in itertools.groupby(statuses))
    return ", ".join(status if n == 1 else f"{status} x{n}" for status, n in counted)


def _child(config: dict[str, Any]) -> None:
    """One process of the fleet: log on schedule from the start time read on stdin."""
    handler = IncidentIOHandler(**supported(config["options"]))
    logger = logging.getLogger("fleet.app")
    logger.propagate = False
    logger.addHandler(handler)
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    seconds, rare_at = config["seconds"], config["rare_at"]
    count = config["count"] if config["count"] is not None else sys.maxsize
    tick = 1 / config["rate"]
    problems = PROBLEMS[:config["problems"]]
    rare_logged_at: float | None = None
    sent = 0
    while sent < count and sent * tick < seconds:
        _sleep_until(start + sent * tick)
        logger.error(problems[sent % len(problems)], sent)
        sent += 1
        if rare_at is not None and rare_logged_at is None and time.time() >= start + rare_at:
            rare_logged_at = time.time()  # just before: every earlier record is older
            logger.error(RARE_ERROR, "/var/lib/postgresql")
    _sleep_until(start + config["close_at"])  # one that stopped early lives as long
    handler.close()
    print(json.dumps({"stats": handler.stats(), "rare_logged_at": rare_logged_at,
                      "process": os.getpid()}), flush=True)


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
