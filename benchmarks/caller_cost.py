"""Caller-thread cost of one logging call, as a ratio to a bare NullHandler.

    python benchmarks/caller_cost.py            # full run (about a minute)
    python benchmarks/caller_cost.py --quick    # smoke run, for CI: proves it runs

Each round times a block of calls for every configuration, in an order that rotates
between rounds, and divides by the NullHandler floor of the same round; the table shows
the median of those per-round ratios, because this machine is noisy and only ratios
measured side by side are meaningful. Our handler runs with its worker live, delivering
to the local receiver on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from dataclasses import dataclass

from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import LocalReceiver

EXTRA = {"order_id": "A-1001", "amount": 42.5, "customer": "c_123", "attempt": 2}


@dataclass
class Case:
    """One row: a logger wired to one handler, and the call to time."""

    name: str
    logger: logging.Logger
    exc_info: bool = False
    level: int = logging.ERROR

    def block(self, calls: int) -> float:
        """Seconds per call over ``calls`` calls."""
        log, extra, level = self.logger, EXTRA, self.level
        if self.exc_info:
            try:
                raise ValueError("card declined")
            except ValueError:
                started = time.perf_counter()
                for i in range(calls):
                    log.log(level, "payment %s failed", i, extra=extra, exc_info=True)
                return (time.perf_counter() - started) / calls
        started = time.perf_counter()
        for i in range(calls):
            log.log(level, "payment %s failed", i, extra=extra)
        return (time.perf_counter() - started) / calls


def make_logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"bench.{name}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log


def measure(cases: list[Case], floors: dict[bool, Case], rounds: int,
            calls: int) -> dict[str, list[float]]:
    """Per-round ratios of each case to the floor with the same exc_info."""
    ratios: dict[str, list[float]] = {case.name: [] for case in cases}
    everything = list(floors.values()) + cases
    for round_ in range(rounds):
        shift = round_ % len(everything)
        order = everything[shift:] + everything[:shift]
        timings = {case.name: case.block(calls) for case in order}
        for case in cases:
            ratios[case.name].append(timings[case.name] / timings[floors[case.exc_info].name])
    return ratios


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a few short rounds, for CI")
    args = parser.parse_args(argv)
    # Blocks of 10,000 calls span a couple of the worker's drains (it wakes every
    # queue_size/2 records), so each block pays its share of the worker's GIL time.
    rounds, calls = (3, 200) if args.quick else (31, 10_000)

    with LocalReceiver() as receiver:
        ours = IncidentIOHandler(**receiver.handler_options())
        filtered = IncidentIOHandler(**receiver.handler_options())
        floors = {False: Case("NullHandler", make_logger("null", logging.NullHandler())),
                  True: Case("NullHandler, exc_info", make_logger("nullx", logging.NullHandler()),
                             exc_info=True)}
        ours_log = make_logger("ours", ours)
        cases = [
            Case("IncidentIOHandler", ours_log),
            Case("IncidentIOHandler, exc_info", ours_log, exc_info=True),
            Case("IncidentIOHandler, filtered out by level", make_logger("filtered", filtered),
                 level=logging.WARNING),
        ]
        floors[False].block(calls)  # warm up imports and caches
        ratios = measure(cases, floors, rounds, calls)
        floor_us = statistics.median(floors[False].block(calls) for _ in range(5)) * 1e6
        delivered = ours.flush(30)
        stats = ours.stats()
        ours.close()
        filtered.close()

    print(f"Python {sys.version.split()[0]}; {rounds} rounds x {calls} calls; "
          f"NullHandler floor {floor_us:.2f} us per call\n")
    print("| handler | median ratio to NullHandler | min | max |")
    print("|---|---|---|---|")
    for name, values in ratios.items():
        print(f"| {name} | {statistics.median(values):.2f}x | {min(values):.2f}x "
              f"| {max(values):.2f}x |")
    print(f"\nworker: delivered all: {delivered}; events sent {stats['events_sent']}, "
          f"records delivered {stats['records_delivered']}, dropped {stats['dropped']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
