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
    ("An extra of shared references, `l = [l] * 100` three levels deep, walked path by path",
     "3.1 s and 2,010,100 items read, then dropped for its size → at most 2,000 values "
     "read (2 ms), sent cut and marked",
     "test_serialize.py::test_shared_references_are_walked_within_the_node_budget"),
    ("One such extra four levels deep held every other alert",
     "no alert for 5 s, 477 records pending at `close()` → both alerts delivered by the "
     "first flush",
     "test_serialize.py::test_one_huge_extra_does_not_delay_another_alert"),
    ("A large parsed JSON response in `extra`, walked whole, then thrown away",
     "97 ms per record, nothing of it sent (714 KiB: 38 ms here) → 2 ms, the first 37 KB "
     "sent with a note",
     "test_serialize.py::test_a_large_parsed_response_is_cut_not_thrown_away"),
    ("Fields cut before the token was masked",
     "20 of 40 token characters in the title and message, 10 in the traceback's tail → no "
     "8-character piece in any body, at 438 offsets around every cut",
     "test_security.py::test_no_piece_of_the_token_leaves_wherever_a_cut_falls"),
    ("`password` in a dataclass, `api_key` in a namedtuple, a DSN's password",
     "sent as written → `[scrubbed]`, scheme, user and host kept",
     "test_serialize.py::test_fields_of_dataclasses_namedtuples_and_plain_objects_are_scrubbed"),
    ("A card number in a request logged with `%s`",
     "in the title and the body → `[scrubbed]` (Luhn-valid, 13 to 19 digits)",
     "test_events.py::test_a_card_number_in_a_formatted_request_is_scrubbed"),
    ("`python -m incidentio_logging test` and an error reply echoing `Authorization`",
     "token printed for 400, 401, 422, 503 → masked, with the payloads' scrubber",
     "test_connection.py::test_a_reply_that_echoes_the_token_is_masked"),
    ("The stderr report quoting 200 bytes of such a reply",
     "the token's first 15 characters → masked",
     "test_security.py::test_a_reply_that_echoes_the_token_is_masked_on_stderr"),
]


#: Options, the transport, the rule language, thresholds and the framework filters.
CONFIG_ROWS: list[Row] = [
]


#: What storm control and floods hold: groups, bytes, frames, and the work per window.
STORM_ROWS: list[Row] = [
]


HARDENING: list[Row] = WORKER_ROWS + SCRUB_ROWS + CONFIG_ROWS + STORM_ROWS
