"""Fleet scale (issue 16): N processes, one problem, incident.io's rate limit.

    python -m benchmarks.fleet                          # 40 processes for 60 s, 1,200/min
    python -m benchmarks.fleet --processes 8 --seconds 10 --scaled

Each process has its own handler with default options (or today's, for the "before"
row), logs the same error 20 times a second, and meets the others only at the local
receiver, which enforces a sliding-window limit on the token they share. The first
process also logs a rare error ("Disk full on …") once, at 70% of the run: today each
process sends about one event a second, so at N = 40 the 1,200 a minute are used up
after 30 s, and the rare error comes 12 s after that, with 18 s left to arrive. The
simulation itself is ``tests/fleet_sim.py``, shared with the CI test.

A second table runs many problems at once: each process takes turns between enough
distinct errors that their first events, sent by every process at once, come to a third
more than the limit (40 each at N = 40: 1,600 against 1,200). The defaults cannot keep
that under the limit; it measures what waits, and whether the rare error goes first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.fleet_sim import (
    AFTER,
    BEFORE,
    Member,
    Outcome,
    problems_over,
    run,
    runs,
    scaled_limit,
    storm,
)

ROWS = (("before: `dedup=\"batch\"`, no refresh interval", BEFORE), ("after: defaults", AFTER))
#: Flapping needs one key per problem: today's fingerprint keys show it without folding.
FLAP_ROWS = (ROWS[0], ("`dedup=\"fingerprint\"`, no refresh interval",
                       {**BEFORE, "dedup": "fingerprint"}), ROWS[1])
RATE = 20.0
RARE_SHARE = 0.7  # of the run, after today's behaviour has used up the limit
LIMIT, WINDOW = 1200, 60.0  # incident.io's public API limit per key


@dataclass(frozen=True)
class Plan:
    """One fleet run's size."""

    processes: int
    seconds: float
    rate: float
    limit: int
    window: float
    flap_seconds: float
    #: A checkout of the release before this change: adds a row measured on that code.
    before_tree: str | None = None


FULL = Plan(40, 60.0, RATE, LIMIT, WINDOW, 8.0)


def quick() -> Plan:
    """A smoke run: the same storm shape, scaled down (see ``scaled_limit``)."""
    return Plan(4, 5.0, RATE, *scaled_limit(4, 5.0), flap_seconds=4.0)


def section(plan: Plan) -> Iterator[str]:
    """The markdown section: the storm, many problems at once, then resolve flapping."""
    yield "## Fleet scale"
    yield ""
    yield (f"{plan.processes} processes, each with its own handler, log the same error "
           f"{plan.rate:g} times a second for {plan.seconds:g} s. The local receiver "
           f"enforces {plan.limit:,} requests per {plan.window:g} s (sliding window) on the "
           f"token they share, answering 429 with `Retry-After`. One process also logs a "
           f"rare error once, at {plan.seconds * RARE_SHARE:g} s: after today's behaviour "
           "has used up the limit. Alerts are counted as incident.io opens them: a firing "
           "event whose key is not open opens one. Drops are the sum of every process's "
           "`stats()` after `close()`.")
    yield ""
    yield ("| options | requests a minute | answered 429 | alerts: the error loop | "
           "alerts: the rare error | records dropped, by reason | rare error's delay |")
    yield "|---|---|---|---|---|---|---|"
    for name, outcome in _rows(plan, 1):
        yield f"| {name} | {_cells(outcome)} |"
    problems = problems_over(plan.limit, plan.processes)
    yield ""
    yield (f"Many problems at once: the same fleet, but each process takes turns between "
           f"{problems} distinct errors, whose first events ({plan.processes * problems:,} "
           f"in all, at once) exceed the {plan.limit:,}. The rare error comes as before. "
           "\"Overtaken by\" counts the events of its process that reached the receiver "
           "before it although they carried a record logged after it: what it waited "
           "behind instead of going first.")
    yield ""
    yield ("| options | requests a minute | answered 429 | alerts: the error loop's "
           "problems | alerts: the rare error | records dropped, by reason | "
           "rare error's delay | overtaken by |")
    yield "|---|---|---|---|---|---|---|---|"
    for name, outcome in _rows(plan, problems):
        yield f"| {name} | {_cells(outcome)} | {outcome.rare_overtaken:,} |"
    yield ""
    yield ("Resolve flapping: two processes with `resolve_after=1`; A logs the error once, "
           f"B every 0.5 s, for {plan.flap_seconds:g} s. A resolves the alert that B still "
           "sees; a re-fire is a firing event on a key after its resolve, which incident.io "
           "opens as a new alert.")
    yield ""
    yield "| options | alerts opened | re-fires | statuses per key |"
    yield "|---|---|---|---|"
    for name, options in FLAP_ROWS:
        flapping = {**options, "resolve_after": 1.0}
        outcome = run([Member(1.0, flapping, count=1), Member(2.0, flapping)],
                      plan.flap_seconds, limit=LIMIT, window=WINDOW)
        keys = "; ".join(runs(statuses) for statuses in outcome.statuses.values())
        yield (f"| {name} | {sum(outcome.alerts.values())} | {outcome.refires} | {keys} |")
    yield ""


def _rows(plan: Plan, problems: int) -> Iterator[tuple[str, Outcome]]:
    """The storm with each row's options (and the previous release's, if given)."""
    rows: list[tuple[str, dict[str, Any], str | None]] = [
        (name, options, None) for name, options in ROWS]
    if plan.before_tree:
        rows.insert(0, (f"the previous release ({_release(plan.before_tree)}), its defaults",
                        {}, plan.before_tree))
    for name, options, library in rows:
        members = storm(plan.processes, plan.rate, options, rare_at=plan.seconds * RARE_SHARE,
                        library=library, problems=problems)
        yield name, run(members, plan.seconds, limit=plan.limit, window=plan.window)


def _cells(outcome: Outcome) -> str:
    """Requests, 429s, alerts, drops and the rare error's delay: the storm tables' cells."""
    return (f"{outcome.requests_per_minute:,.0f} | {outcome.share_429:.0%} "
            f"({outcome.answered_429:,}) | {outcome.alerts.get('main', 0):,} | "
            f"{outcome.alerts.get('rare', 0):,} | {_drops(outcome)} | {_delay(outcome)}")


def _release(tree: str) -> str:
    # The commit, when the tree is a git checkout: what the row measured.
    try:
        head = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return os.path.basename(os.path.abspath(tree))
    return head.stdout.strip()


def _drops(outcome: Outcome) -> str:
    drops = ", ".join(f"{reason} {count:,}" for reason, count in sorted(outcome.dropped.items()))
    return f"{drops or 'none'} (of {outcome.accepted:,})"


def _delay(outcome: Outcome) -> str:
    if not outcome.rare_logged:
        return "not logged"
    if outcome.rare_delay is None:
        return "never arrived"
    return f"{outcome.rare_delay:.1f} s{'' if outcome.rare_before_close else ', sent by close()'}"


def main(argv: list[str] | None = None) -> int:
    """Run the fleet section on its own and print it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet")
    parser.add_argument("--processes", type=int, default=FULL.processes)
    parser.add_argument("--seconds", type=float, default=FULL.seconds)
    parser.add_argument("--rate", type=float, default=FULL.rate, help="records/s per process")
    parser.add_argument("--limit", type=int, default=LIMIT, help="requests per window")
    parser.add_argument("--window", type=float, default=WINDOW, help="seconds")
    parser.add_argument("--scaled", action="store_true",
                        help="scale the limit and window to the run (the full run's shape)")
    parser.add_argument("--flap-seconds", type=float, default=FULL.flap_seconds)
    parser.add_argument("--before-tree", help="a checkout of the previous release: adds a "
                        "row of its own behaviour (e.g. `git worktree add /tmp/old v0.x`)")
    args = parser.parse_args(argv)
    limit, window = (scaled_limit(args.processes, args.seconds) if args.scaled
                     else (args.limit, args.window))
    plan = Plan(args.processes, args.seconds, args.rate, limit, window, args.flap_seconds,
                args.before_tree)
    for line in section(plan):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
