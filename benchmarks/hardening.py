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
]


#: structlog's event dicts and loguru's formatted lines, read back into plain records.
STRUCTURED_ROWS: list[Row] = [
    ("structlog through the stdlib (wrap_for_formatter): every event had the template "
     "\"dict\" and the dict's repr as title",
     "3 events → 1 alert titled {'order_id': ...} → 3 alerts titled "
     "`ERROR shop.payments: <event>`",
     "test_structured.py::test_structlog_events_are_separate_alerts_titled_by_their_event"),
    ("structlog: a password key showed in the title (the dict's repr)",
     "'hunter2' in the title → in no byte sent",
     "test_structured.py::test_a_structlog_secret_is_scrubbed_in_data_and_absent_from_title_and_description"),
    ("structlog's level, logger, timestamp and path keys replaced the record's own "
     "in metadata.data",
     "\"level\": \"error\", \"path\": \"/checkout\" → record's own kept, structlog's under extra",
     "test_structured.py::test_structlog_fields_are_record_fields_and_its_own_keys_do_not_replace_the_records"),
    ("structlog: log.error(..., exc_info=True) through wrap_for_formatter lost the traceback",
     "0 tracebacks → 1",
     "test_structured.py::test_a_structlog_traceback_arrives_once"),
    ("loguru, plain logger.add(handler): the title started with loguru's timestamp, level "
     "and location",
     "`ERROR m: 2026-... | ERROR    | m:f:12 - msg` → `ERROR m: msg`",
     "test_structured.py::test_loguru_titles_are_the_message_without_loguru_prefix"),
    ("loguru: logger.exception sent the traceback twice, once with diagnose's local "
     "variable values",
     "2 tracebacks, a local's value sent → 1 traceback, no value",
     "test_structured.py::test_a_loguru_exception_sends_its_traceback_once_and_no_local_values"),
    ("loguru, plain logger.add(handler): debug, info and warning lines became alerts "
     "(loguru calls handle() for every level)",
     "4 alerts for 1 error → 1",
     "test_structured.py::test_a_plain_loguru_sink_sends_only_records_at_the_handlers_level"),
]


HARDENING: list[Row] = (WORKER_ROWS + SCRUB_ROWS + CONFIG_ROWS + STORM_ROWS
                        + STRUCTURED_ROWS)
