"""Run every benchmark and print (or write) the markdown report.

    python -m benchmarks                          # the full run, about eight minutes
    python -m benchmarks --output BENCHMARKS.md   # the same, written to a file
    python -m benchmarks --quick                  # a smoke run: proves it works, no figures
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
from collections.abc import Iterator

from . import caller_cost, fleet, grouping_accuracy, memory, throughput
from .caller_cost import Call
from .handlers import filtered_subjects, subjects
from .servers import Servers


def machine() -> str:
    """One line about where the figures come from."""
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info
                          if line.startswith("model name")), "")
    except OSError:
        pass
    return (f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} cores ({model or 'unknown CPU'})")


def caller_section(servers: Servers, rounds: int, calls: int) -> Iterator[str]:
    yield "## Caller-thread cost of `logger.error(...)`"
    yield ""
    yield ("Median over rounds of each round's ratio to a bare `NullHandler` (the cost of "
           "making the record). A block is the calls plus the handler's worker draining "
           "them, in process CPU time, so a handler is charged for its worker's share of "
           f"the GIL. {rounds} rounds of {calls} calls, handlers in rotating order; in "
           "brackets, the middle half of the per-round ratios.")
    yield ""
    with subjects(servers) as (floor, rows, notes):
        plain_floor, plain = caller_cost.compare(floor, rows, Call(), rounds=rounds,
                                                 calls=calls)
        exc_floor, with_exc = caller_cost.compare(floor, rows, Call(exc_info=True),
                                                  rounds=rounds, calls=calls)
        fstring_floor, fstring = caller_cost.compare(floor, rows, Call(fstring=True),
                                                     rounds=rounds, calls=calls)
    yield "| handler | plain | with `exc_info` | f-string |"
    yield "|---|---|---|---|"
    yield (f"| NullHandler (floor) | 1.00x ({plain_floor * 1e6:.2f} µs) "
           f"| 1.00x ({exc_floor * 1e6:.2f} µs) | 1.00x ({fstring_floor * 1e6:.2f} µs) |")
    for a, b, c in zip(plain, with_exc, fstring, strict=True):
        yield f"| {a.name} | {a} | {b} | {c} |"
    for note in notes:
        yield f"\n(Left out: {note}.)"
    yield ""
    yield ("The calls repeat one problem, as an error loop does. With the defaults, once a "
           "group holds `max_batch_size` (250) records in a window, further records of the "
           "same problem are only counted, on the caller's thread, with no snapshot and no "
           "queue slot. The second row of ours keeps every record, so each call pays for "
           "the snapshot and grouping; the serialization of kept records happens once per "
           "window and is measured under *Worker throughput*. The f-string column logs "
           "`f\"payment {order} failed\"`: a new message object on every call, matched "
           "by call site and text instead of by template.")
    yield ""
    filtered = filtered_subjects(servers)
    with subjects(servers) as (floor, _, _):
        _, results = caller_cost.compare(floor, filtered, Call(level=20), rounds=rounds,
                                         calls=calls)
    for subject in filtered:
        subject.handler.close()
    yield "## Filtered-out records"
    yield ""
    yield ("`logger.info(...)` reaching a handler that refuses it, against the same call "
           "into a `NullHandler`.")
    yield ""
    yield "| case | ratio to NullHandler |"
    yield "|---|---|"
    for result in results:
        yield f"| {result.name} | {result} |"
    yield ""


def throughput_section(servers: Servers, groups: list[int]) -> Iterator[str]:
    yield "## Worker throughput"
    yield ""
    yield ("250 records per group in one window, then `flush()`: the worker serializes, "
           "builds and POSTs one event per group to the local receiver (in another "
           "process). Records beyond the 256 KiB body budget are left out and counted, so "
           "`delivered` can be below `logged`.")
    yield ""
    yield "| record | groups | logged | delivered | delivered records/s | CPU s per 1,000 |"
    yield "|---|---|---|---|---|---|"
    for size in throughput.SIZES:
        for count in groups:
            row = throughput.measure(servers, size=size, groups=count)
            yield (f"| {row.size} | {row.groups} | {row.logged} | {row.delivered} | "
                   f"{row.per_second:,.0f} | {row.cpu_per_thousand:.3f} |")
    yield ""


def main(argv: list[str] | None = None) -> int:
    """Run everything; print the report, or write it with --output."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smoke run for CI")
    parser.add_argument("--output", help="write the report to this file")
    parser.add_argument("--before-tree", help="a checkout of the previous release, for the "
                        "fleet section's row of its behaviour")
    args = parser.parse_args(argv)
    rounds, calls, groups, records = ((3, 200, [2], 20_000) if args.quick
                                      else (31, 5_000, [1, 10, 40], 1_000_000))
    lines = ["# Benchmarks", "",
             f"`python -m benchmarks{' --quick' if args.quick else ''}` on {machine()}.", ""]
    plan = fleet.quick() if args.quick else fleet.FULL
    if args.before_tree:
        plan = dataclasses.replace(plan, before_tree=args.before_tree)
    with Servers() as servers:
        for section in (caller_section(servers, rounds, calls),
                        throughput_section(servers, groups),
                        memory.section(servers, records),
                        grouping_accuracy.section(passes=1 if args.quick else 5),
                        fleet.section(plan)):
            for line in section:
                lines.append(line)
                print(line, flush=True)
    if args.output:
        with open(args.output, "w") as report:
            report.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
