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


#: Alert identity: which records are one problem, and the key they share.
IDENTITY_ROWS: list[Row] = [
    ("An f-string error paged once per value: four `Card declined for order {order}` "
     "records gave four events and four dedup keys",
     "4 events, 4 keys → 1 event, 1 key",
     "test_identity.py::test_four_f_string_records_are_one_event_with_one_key"),
    ("Two bugs behind Django's generic `Internal Server Error: %s` (one exception type, two "
     "views) shared one alert",
     "1 alert → 2 alerts",
     "test_identity.py::test_two_bugs_behind_djangos_generic_message_are_two_alerts"),
    ("One Flask view failing on two URLs opened two alerts: Flask's message names the URL",
     "2 alerts → 1 alert",
     "test_identity.py::test_one_flask_view_failing_on_two_urls_is_one_alert"),
    ("Every structlog event dict had the template `dict`: unrelated events shared one alert",
     "`card_declined`, `disk_full`: 1 group → 2 groups",
     "test_identity.py::test_a_structlog_dict_groups_on_its_event"),
]


HARDENING: list[Row] = WORKER_ROWS + SCRUB_ROWS + CONFIG_ROWS + STORM_ROWS + IDENTITY_ROWS
