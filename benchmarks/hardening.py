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
    ("A `default` entry in ~/.netrc replaced the Bearer token with another service's "
     "Basic credentials (every alert 401, the credentials sent to incident.io)",
     "Basic auth from .netrc → Bearer token always; .netrc never read; proxies from the "
     "environment still used",
     "test_transport.py::test_a_netrc_default_entry_never_replaces_the_bearer_token"),
    ("A token outside Latin-1 was accepted, then every event failed as internal_error",
     "internal_error on every event → ValueError naming api_token at construction",
     "test_config.py::test_a_token_that_cannot_be_a_header_is_refused_without_echoing_it"),
    ("Port 99999 was accepted, then retried as if the fault were transient",
     "retried on every event → ValueError naming the option at construction",
     "test_config.py::test_a_port_out_of_range_is_refused_naming_the_option"),
    ("A webhook URL behind a gateway (https://gw.example/incidentio/v2/...) lost its "
     "path prefix",
     "POST /v2/... (prefix dropped) → POST /incidentio/v2/...",
     "test_config.py::test_the_path_prefix_reaches_the_receiver"),
    ("max_batch_size=10**400 raised OverflowError, not the promised ValueError",
     "OverflowError → ValueError naming the option",
     "test_config.py::test_a_huge_number_is_a_value_error_naming_the_option"),
    ("resolve_on_close=1 was refused while \"1\" was accepted",
     "1 refused, \"1\" accepted → 1/0 and \"1\"/\"0\" both accepted, other numbers refused",
     "test_config.py::test_resolve_on_close_takes_bools_and_their_01_forms_alike"),
]


#: What storm control and floods hold: groups, bytes, frames, and the work per window.
STORM_ROWS: list[Row] = [
]


HARDENING: list[Row] = WORKER_ROWS + SCRUB_ROWS + CONFIG_ROWS + STORM_ROWS
