"""Caller-thread cost of a logging call, as a ratio to a NullHandler in the same run.

A block is a run of identical calls plus the handler's worker draining them, timed in
process CPU time: the caller's time and the CPU its worker takes under the GIL. Rounds
rotate the order of the handlers, and each round's block is divided by the floor's
block of the same round; the median of those ratios is reported. Between blocks the
harness collects garbage and pauses (untimed), so that one handler's leftovers, its
garbage or its thread's periodic wake-ups, are not charged to the next.
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
from dataclasses import dataclass

from .handlers import Subject

EXTRA = {"order_id": "A-1001", "amount": 42.5, "customer": "c_123", "attempt": 2}


@dataclass(frozen=True)
class Call:
    """The logging call being timed."""

    level: int = logging.ERROR
    exc_info: bool = False
    #: The message formatted by the caller, as an f-string does: no args, a new string
    #: object on every call, with a different value each time, as an error loop over
    #: orders makes (one alert: the value is masked).
    fstring: bool = False


def _logger_for(subject: Subject) -> logging.Logger:
    log = logging.getLogger(f"bench.{id(subject)}")
    log.handlers[:] = [subject.handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log


def settle() -> None:
    """Untimed, between blocks: let other handlers' threads go quiet and start the block
    with an empty young generation, so a block pays only for its own garbage and worker."""
    gc.collect()
    time.sleep(0.005)


def block(subject: Subject, call: Call, calls: int) -> float:
    """CPU seconds per call for ``calls`` calls and their drain."""
    log, level, extra = _logger_for(subject), call.level, EXTRA
    settle()
    started = time.process_time()
    if call.fstring:
        for i in range(calls):
            log.log(level, f"payment A-{i} failed", extra=extra)
    elif call.exc_info:
        try:
            raise ValueError("card declined")
        except ValueError:
            for i in range(calls):
                log.log(level, "payment %s failed", i, extra=extra, exc_info=True)
    else:
        for i in range(calls):
            log.log(level, "payment %s failed", i, extra=extra)
    subject.drain()
    return (time.process_time() - started) / calls


@dataclass(frozen=True)
class Result:
    """Per-round ratios of one handler to the floor."""

    name: str
    ratios: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def __str__(self) -> str:
        """Median, and the middle half of the rounds: how noisy the figure is."""
        if len(self.ratios) < 4:
            return f"{self.median:.2f}x"
        low, _, high = statistics.quantiles(self.ratios, n=4)
        return f"{self.median:.2f}x ({low:.2f} to {high:.2f})"


def compare(floor: Subject, rows: list[Subject], call: Call, *, rounds: int,
            calls: int) -> tuple[float, list[Result]]:
    """The floor's median seconds per call, and each row's ratios to it."""
    everyone = [floor, *rows]
    for subject in everyone:  # warm caches, start workers lazily
        block(subject, call, min(calls, 500))
    floor_costs: list[float] = []
    ratios: dict[str, list[float]] = {row.name: [] for row in rows}
    for round_ in range(rounds):
        shift = round_ % len(everyone)
        costs = {s.name: block(s, call, calls) for s in everyone[shift:] + everyone[:shift]}
        floor_costs.append(costs[floor.name])
        for row in rows:
            ratios[row.name].append(costs[row.name] / costs[floor.name])
    return statistics.median(floor_costs), [Result(n, r) for n, r in ratios.items()]
