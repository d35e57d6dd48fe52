"""RELIABILITY.md's hardening table: each defect an audit found, its figure, its test.

Each row is ``(defect, before -> after, test)``: what was observed, what the fix measures
now, and the CI test that failed before the fix (``module.py::test_name`` under
``tests/``). The lists are kept apart by the part of the handler they cover.
"""

from __future__ import annotations

Row = tuple[str, str, str]

#: The caller's thread, the worker thread and their lifecycle: signals, close, exit.
WORKER_ROWS: list[Row] = [
    ("A signal handler calling flush() or stats() (SIGTERM running logging.shutdown(), a "
     "SIGUSR1 stats dump) while its thread is inside emit, flush, stats or close",
     "hung in 4 of 4 sweeps → 0 of 5 hang (a signal at each of 79 calls, the first "
     "record's included)",
     "test_worker.py::test_a_signal_handler_can_log_flush_and_read_stats_inside_any_call"),
    ("A flush() from a signal handler while its thread delivers inline, a request in "
     "flight",
     "re-entered the delivery and returned True → returns False at once, sent once",
     "test_worker.py::test_a_flush_from_a_signal_handler_during_inline_delivery_returns_at_once"),
    ("close() with a worker that never runs (uWSGI without threads): silent loss",
     "records_pending 25, dropped {}, nothing on stderr → shutdown_timeout: 25, one "
     "stderr line",
     "test_worker.py::test_close_counts_and_says_what_a_worker_that_never_runs_left"),
    ("Exit with a request in flight and a receiver that never answers",
     "1 pending, nothing said → unknown_outcome: 1, one stderr line, exit 1.0 s",
     "test_lifecycle.py::test_exit_with_the_receiver_down_is_bounded"),
    ("A request sent whose reply timed out, counted as failed",
     "send_failed → unknown_outcome",
     "test_delivery.py::test_a_reply_timeout_from_the_receiver_is_counted_as_unknown_outcome"),
    ("An attempt started while closing with almost no time left (3.7 ms)",
     "attempt started → none with under 0.5 s (half a sub-second budget) left",
     "test_delivery.py::test_no_attempt_starts_with_less_than_the_floor_left"),
    ("One failed Thread.start() disabled the worker for good",
     "records never sent, nothing reported → reported, retried after 1 s (doubling to "
     "60 s), all delivered",
     "test_worker.py::test_a_failed_thread_start_is_reported_and_retried_after_a_backoff"),
    ("close() then exit waited twice: logging.shutdown() flushed the closed handler",
     "flush() after close waited 1.0 s (shutdown_timeout=1) → returns at once",
     "test_handler.py::test_a_closed_handlers_flush_returns_at_once"),
    ("The queue was bounded by count only: 400 messages of 1 MB, receiver stalled",
     "RSS +766 MB → +27 MB (cut at 64 KiB; queue stops at max_queue_bytes=32 MiB, "
     "the rest queue_bytes)",
     "test_handler.py::test_the_queue_is_bounded_by_bytes_too"),
    ("A 1 MB message kept whole in the queue",
     "1,000,000 characters → 65,536 and the marker [cut by incidentio-logging]",
     "test_record.py::test_an_oversized_message_is_cut_at_capture_with_a_marker"),
    ("A slow DNS lookup (5 s) at exit on the exiting thread, shutdown_timeout=1",
     "exit took 5.0 s → 0.0 s, the record counted as unresolved and said",
     "test_lifecycle.py::test_a_slow_dns_lookup_cannot_stretch_exit"),
    ("Behind a stdlib QueueListener, INFO records alerted through an ERROR handler",
     "INFO sent → refused by handle()'s level check",
     "test_handler.py::test_behind_a_queue_listener_the_handler_level_still_applies"),
]


#: Serialization budgets and everything scrubbed before it leaves.
SCRUB_ROWS: list[Row] = [
]


#: Options, the transport, the rule language, thresholds and the framework filters.
CONFIG_ROWS: list[Row] = [
]


#: What storm control and floods hold: groups, bytes, frames, and the work per window.
STORM_ROWS: list[Row] = [
]


HARDENING: list[Row] = WORKER_ROWS + SCRUB_ROWS + CONFIG_ROWS + STORM_ROWS
