"""RELIABILITY.md's hardening table: each defect an audit found, its figure, its test.

Each row is ``(defect, before -> after, test)``: what was observed, what the fix measures
now, and the CI test that failed before the fix (``module.py::test_name`` under
``tests/``). The lists are kept apart by the part of the handler they cover.
"""

from __future__ import annotations

Row = tuple[str, str, str]

#: The caller's thread, the worker thread and their lifecycle: signals, close, exit.
WORKER_ROWS: list[Row] = [
]


#: Serialization budgets and everything scrubbed before it leaves.
SCRUB_ROWS: list[Row] = [
]


#: Options, the transport, the rule language, thresholds and the framework filters.
CONFIG_ROWS: list[Row] = [
]


#: What storm control and floods hold: groups, bytes, frames, and the work per window.
STORM_ROWS: list[Row] = [
    ("Storm control held every distinct error, with its traceback's frames, without bound",
     "30,000 distinct errors with a 100 KB local each: 29,999 held, RSS +2,913 MB → "
     "1,000 held, 28,999 counted as held_full, RSS +9 MB",
     "test_storm.py::test_what_is_held_back_is_bounded_by_groups_and_bytes"),
    ("A held record kept its traceback's frames, and their locals, alive",
     "a local in the raising frame: alive while its record is held → freed once the "
     "worker has taken the record",
     "test_storm.py::test_the_worker_lets_go_of_traceback_frames_before_a_record_waits"),
    ("Every window re-scanned every held group, even with nothing new",
     "idle window with 500 groups held: 500 budget checks → 1; 20,000 held, idle: "
     "1.3% → 0.1% of a core",
     "test_storm.py::test_closing_a_window_does_not_touch_the_groups_held_back"),
    ("An f-string error loop skipped the flood fast path (matched by template object)",
     "caller cost vs NullHandler, one repeated f-string: 1.29x → 1.17x (`%s` loop: 1.12x)",
     "test_flood.py::test_an_fstring_error_loop_is_counted_on_the_callers_thread"),
    ("A record without `created` was counted twice",
     "2 records: 1 sent titled '+1 more', 2 dropped (internal_error, batch_full), "
     "pending -1 → 2 delivered, pending 0",
     "test_handler.py::test_a_record_without_created_is_counted_once"),
]


HARDENING: list[Row] = WORKER_ROWS + SCRUB_ROWS + CONFIG_ROWS + STORM_ROWS
