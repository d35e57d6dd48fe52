"""RELIABILITY.md's table of defects fixed: each with its figure and its test.

Each row is ``(defect, before -> after, test)``: what was observed, what the fix measures
now, and the CI test that failed before the fix (``module.py::test_name`` under
``tests/``). The lists are kept apart by the part of the handler they cover.
"""

from __future__ import annotations

Row = tuple[str, str, str]

#: The caller's thread, the worker thread and their lifecycle: signals, close, exit.
WORKER_ROWS: list[Row] = [
    ("A handler built before gevent or eventlet monkey-patches (gunicorn --preload -k "
     "gevent, patched after fork): the worker greenlet waited on a C queue, blocking "
     "the one OS thread every greenlet runs on",
     "hung, killed after 15 s (gevent, gevent after fork, eventlet) → both alerts "
     "delivered, flush True, the script done in 1.2 s (1 s of it a sleep)",
     "test_lifecycle.py::test_a_handler_built_before_green_patching_does_not_hang_the_process"),
    ("Under gevent, a start lock made before the patching (a C RLock, which every "
     "greenlet re-enters): another greenlet's flush() delivered beside the starting "
     "worker",
     "sent on Dummy-1, a second consumer → sent on the worker only, both flushes True",
     "test_lifecycle.py::test_under_gevent_a_flush_waits_for_the_worker_starting_in_another_greenlet"),
    ("A record a signal handler logged while its thread delivered inline (no worker: "
     "exit on 3.12, a failed thread start) vanished, counted nowhere",
     "accepted 3 of 4 → 4 of 4, the fourth counted as reentrant",
     "test_audit.py::test_a_record_logged_by_a_signal_handler_during_inline_delivery_is_counted"),
    ("Thread.start() failing with MemoryError (not RuntimeError): the record counted "
     "twice, no retry ever",
     "accepted 2 for 1, no worker → accepted 1, retried after the backoff, delivered",
     "test_audit.py::test_a_thread_start_failing_with_memory_error_is_retried_and_counted_once"),
    ("A signal handler calling flush() or stats() (SIGTERM running logging.shutdown(), a "
     "SIGUSR1 stats dump) while its thread is inside emit, flush, stats or close",
     "hung in 4 of 4 sweeps → 0 of 5 hang (a signal at each of 79 calls, the first "
     "record's included)",
     "test_worker.py::test_a_signal_handler_can_log_flush_and_read_stats_inside_any_call"),
    ("A flush() from a signal handler while its thread delivers inline, a request in "
     "flight",
     "re-entered the delivery and returned True → returns False at once, sent once",
     "test_worker.py::test_a_flush_from_a_signal_handler_during_inline_delivery_returns_at_once"),
    ("uWSGI before 2.0.27 without --enable-threads: the worker thread ran only while a "
     "request was handled (a probe thread: 3 steps in 2 s, against 21 with the flag), "
     "and nothing said so",
     "silent → one line at start-up naming --enable-threads (none with the flag, nor "
     "from 2.0.27, where it is the default)",
     "test_stall.py::test_under_real_uwsgi_the_line_comes_exactly_when_threads_are_off"),
    ("Records waiting for a worker that never runs, cannot start or is blocked: nothing "
     "said until close()",
     "silent → one line once they have waited max(3 flush_intervals, 2 s), naming the "
     "likely causes; a delivery in progress gets timeout + max_retry_time more; off "
     "when the worker is a greenlet; caller cost one clock read per record",
     "test_stall.py::test_records_waiting_for_a_worker_that_never_runs_are_said_once"),
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
    ("resolve_on_close after a job spent max_events_per_minute on its alerts: the "
     "resolves were skipped, counted nowhere, one rate-limited stderr line",
     "2 alerts left firing, resolves_failed 0, no close line → resolves_skipped 2, "
     "said in close()'s line",
     "test_resolve.py::test_resolves_that_storm_control_skips_at_close_are_counted_and_said"),
    ("Every close after a flood repeated its batch_full overflow (counted, not sent, "
     "already said) as left undelivered",
     "\"close() left 45 record(s) undelivered: 45 batch_full\", flush() after close "
     "False → no close line, flush() True, stats() still 45 batch_full",
     "test_worker.py::test_records_counted_during_a_flood_are_not_reported_again_by_close"),
    ("A SIGTERM handler's logging.shutdown() on top of an inline delivery (no worker "
     "thread), then sys.exit(0): close() settled as clean",
     "1 of 2 records arrived, dropped {}, no stderr line → the 2 counted (1 "
     "unknown_outcome, 1 shutdown_timeout) and said; none sent after, none twice",
     "test_worker.py::test_a_close_on_top_of_an_inline_delivery_counts_and_says_what_it_leaves"),
    ("One failed Thread.start() (a thread limit for a moment) and no later record: the "
     "only alert waited in the queue until exit",
     "not delivered after 5 s → delivered at once (the start retried once on the spot)",
     "test_worker.py::test_one_failed_thread_start_does_not_hold_the_only_alert_until_exit"),
    ("A start failed twice, then only stats() calls (a health check): nothing retried",
     "no worker after the 1 s backoff → stats() starts it, the record delivered",
     "test_worker.py::test_stats_retries_a_failed_thread_start_after_the_backoff"),
    ("A flush waiting in the send schedule (its event backing off a 503) was reported "
     "failed because a record logged after it was refused (422): the global drop count "
     "was compared, not the outcomes of the flush's own events",
     "flush() False → True (attempts 503, 422, 202; the 422 counted as rejected)",
     "test_worker.py::test_a_flush_is_not_failed_by_a_later_record_rejected_while_it_waits"),
    ("The worker thread failed while a flush waited on its scheduled event: the flush "
     "was settled as delivered before the failure was counted",
     "flush() True → False, the record counted as internal_error",
     "test_worker.py::test_a_flush_pending_when_the_worker_fails_does_not_report_success"),
    ("An inline flush (no worker thread; 3.12+ at exit) returned True while a group was "
     "held back below its threshold or by storm control",
     "flush() True → False with the group pending (threshold=3, max_events_per_minute=1)",
     "test_worker.py::test_an_inline_flush_does_not_report_success_while_groups_are_held_back"),
    ("A handler closed by a dictConfig re-run (under logging's lock, so close() did not "
     "wait): at exit nothing waited for its worker, a daemon thread, and its record was "
     "neither delivered nor said",
     "lost silently → delivered, or said on stderr by shutdown_timeout (a receiver that "
     "never answers: 'close() left 1 record undelivered' at 3.3 s for 3 s, Python 3.13)",
     "test_lifecycle.py::test_records_of_a_handler_closed_by_dictconfig_are_not_lost_silently_at_exit"),
    ("uWSGI's default (app loaded in the master, workers forked from C without "
     "os.register_at_fork hooks): a worker's records queued into the master's runtime, "
     "whose thread is not in the worker, and the first flush()/close() threw them away, "
     "uncounted",
     "0 of 1 delivered, nothing said → delivered while it runs and at the worker's exit "
     "(the fork found at the worker's first record, by the pid logging already read, "
     "and by uwsgi.post_fork_hook); caller cost unchanged (1.17x-1.19x both)",
     "test_uwsgi.py::test_a_child_forked_without_the_hooks_delivers_while_it_runs"),
    ("A uWSGI worker forked from the master began with the master's stats() (its "
     "records, its queue)",
     "records_accepted 1 (the master's) → 0",
     "test_uwsgi.py::test_a_uwsgi_worker_starts_with_a_runtime_of_its_own"),
    ("uWSGI --lazy-apps: a worker stopped with a record pending died of a segmentation "
     "fault in libcrypto (close() at exit hashed with OpenSSL after OpenSSL's cleanup)",
     "Segmentation Fault, 0 events → delivered (Python's built-in SHA-256, same digests)",
     "test_uwsgi.py::test_a_lazy_uwsgi_worker_stopped_with_a_record_pending_does_not_segfault"),
    ("Python 3.10: a SIGTERM's last flush wait, handed the microseconds left of its "
     "budget, waited for good (SimpleQueue.get turns a deadline spent before its first "
     "look into -1 us, no timeout)",
     "SIGTERM with a 1 s budget: 12.2 s, or killed at 20 s, in 2 of 4 runs → 1.0 s in 8 "
     "of 8",
     "test_worker.py::test_a_bell_never_waits_with_a_deadline_that_can_pass_before_its_first_look"),
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
    ("A deque, a UserList or a SimpleNamespace in `extra`, or a tuple as a key, repr()'d "
     "whole outside the budget",
     "two levels of shared references: 1,000,000 reprs (98 ms), 100 times more per level → at most "
     "2,000 values read (4 ms), sent as items and fields",
     "test_serialize.py::test_an_extra_the_walk_did_not_know_stays_within_the_budget"),
    ("Fields cut before the token was masked",
     "20 of 40 token characters in the title and message, 10 in the traceback's tail → no "
     "8-character piece in any body, at 438 offsets around every cut",
     "test_security.py::test_no_piece_of_the_token_leaves_wherever_a_cut_falls"),
    ("A token longer than the scrubber's 256-character margin, begun before a traceback's "
     "tail cut",
     "token[271:] of a 300-character token in the description → no 8-character piece; "
     "the margin grows by the token's length, tokens over 1,024 characters refused",
     "test_security.py::test_no_piece_of_a_long_token_leaves_in_a_traceback_cut_from_its_start"),
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
    ("A requests.Session in `extra`, walked as its `__dict__`: `auth`, adapters, pools",
     "`[\"svc-user\", \"<password>\"]` sent in the clear → `<Session>` (a library's object is "
     "named); `auth`, `pass`, `pwd`, `passphrase` keys scrubbed in the application's own",
     "test_security.py::test_a_requests_session_in_extra_does_not_send_its_credentials"),
    ("A Django SimpleLazyObject (`request.user`) in `extra`, probed with isinstance and "
     "hasattr",
     "evaluated on the worker (a session and user query, on the failing database) → "
     "`<SimpleLazyObject>`, not evaluated: values are read by their type alone, and proxies, "
     "lazy objects and querysets are named",
     "test_serialize.py::test_a_lazy_object_in_extra_is_not_evaluated_by_the_worker"),
    ("A Starlette (FastAPI) Request in `extra`: a Mapping, walked before the request check",
     "the ASGI scope sent whole (x-api-key header, client address, under uvicorn the app) → "
     "`<Request>`; Starlette, Django, Werkzeug/Flask and aiohttp requests named by type",
     "test_serialize.py::test_a_starlette_request_in_extra_is_summarized_by_type_not_dumped"),
    ("Flask's `request.headers` (Werkzeug Headers, no Mapping) in `extra`, sent as its repr",
     "`('Authorization', 'Basic …')` and `X-Api-Key` in the clear → walked as a mapping, "
     "both `[scrubbed]`; repr'd and walked (name, value) pairs masked by the key rule too",
     "test_serialize.py::test_flask_request_headers_in_extra_do_not_send_credentials"),
]


#: Options, the transport, the rule language, thresholds and the framework filters.
CONFIG_ROWS: list[Row] = [
    ("A rule written with OR (level:critical OR level:error) was read as requiring the "
     "word \"or\": it selected nothing, silently",
     "every alert dropped → refused at construction, naming OR, AND or NOT",
     "test_rule.py::test_a_boolean_operator_is_refused_not_read_as_a_word"),
    ("A regex with a leading .* (.*\\w+=) passed the check and took 105 to 180 ms per call "
     "on 500 characters",
     "180 ms → 0.2 ms: the leading .* is dropped (a search matches where the rest does), "
     "and a field is searched to 256 characters",
     "test_rule.py::test_a_leading_anything_is_dropped_from_a_search"),
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
    ("level:\u00b2 (and level=\"\u00b2\") failed in int() with no position or option",
     "bare int() error → ValueError with the rule's position, or naming level",
     "test_rule.py::test_bad_values_are_value_errors_with_a_position"),
    ("The rule raised on application data (a message whose __str__ raises, 10**400 "
     "compared as a number): the record was lost uncounted and stderr blamed the predicate",
     "record lost, 'predicate' on stderr → record selected and delivered, one line naming "
     "the rule; 10**400 compares as the number it is",
     "test_rule.py::test_an_unreadable_record_through_the_handler_is_delivered_not_lost"),
    ("A rule's regular expression ran unbounded on the caller's thread: "
     "message:~\"(a+)+$\" took 1.47 s on a 25-character message",
     "1.47 s per call (3.4 s on the CI box) → refused at construction, with its position; "
     "any pattern sees at most 256 characters",
     "test_rule.py::test_a_regex_with_nested_quantifiers_is_refused_saying_where"),
    ("A regex term searched the whole field, however long",
     "whole field → first MAX_REGEX_TEXT=256 characters",
     "test_rule.py::test_a_regex_sees_only_the_first_max_regex_text_characters"),
    ('level:~"ERR" matched against "40", not the level name',
     'no match on ERROR → matches ERROR; level:~"40" no longer matches',
     "test_rule.py::test_a_level_regex_reads_the_level_name"),
    ("m.retry:true did not match a True extra",
     "no match → True matches true, False matches false (any case)",
     "test_rule.py::test_a_bool_extra_equals_true_or_false"),
    ("A 4-term rule formatted the message 5 times per record (4 in the rule, 1 to capture)",
     "5 formats → 1: the rule's formatted message is the one the snapshot keeps (none "
     "when a term on another field refuses first)",
     "test_rule.py::test_through_the_handler_a_record_is_formatted_once_in_all"),
    ("Regex a{99999999999} raised OverflowError, 1,200 nested parentheses RecursionError",
     "OverflowError/RecursionError → ValueError with the rule's position",
     "test_rule.py::test_bad_values_are_value_errors_with_a_position"),
    ("The threshold window was counted back from when a window shipped: threshold=3 in "
     "2 s with flush_interval=1, records at +0.0, +1.2, +1.9 s never fired",
     "never fired, 1 counted below_threshold → fires with all 3; measured between the "
     "records' own times",
     "test_threshold.py::test_the_window_is_measured_from_the_records_own_times"),
    ("A crossing was lost when later records in the same window pushed its oldest time out",
     "+0.0, +0.1, +2.0 s (then +2.95 s) in a 2 s window of 3: no alert → fires",
     "test_threshold.py::test_a_crossing_counts_though_later_records_push_its_oldest_out"),
    ("The README's threshold example (\"logger:shop.payments\", \"20 payment errors\") "
     "alerted on 20 log.info calls",
     "20 INFO lines fired → none fire; the rule says level:>=error",
     "test_threshold.py::test_the_readme_threshold_example_ignores_info_lines"),
    ("A crossed group that storm control held back past the threshold window was then "
     "dropped as below_threshold",
     "dropped below_threshold → sent when storm control allows",
     "test_threshold.py::test_a_group_storm_control_holds_back_stays_crossed"),
    ("The Flask filter read current_user, running the app's user_loader inside the "
     "logging call: 2.00 s for a view that never touched the user (a down database)",
     "1 loader call per logged record → 0; only a user already loaded is named",
     "test_contrib_flask.py::test_the_filter_never_runs_the_user_loader"),
    ("A user_loader that logs an error recursed through the Flask filter",
     "65 loader calls for one request (32.5 s with a slow store) → 1",
     "test_contrib_flask.py::test_a_user_loader_that_logs_does_not_recurse"),
    ("The Django filter missed the user an async view loaded (_acached_user)",
     "no user_id → user_id; still never loads a user",
     "test_contrib_django.py::"
     "test_a_user_an_async_view_loaded_is_named_and_none_is_loaded_otherwise"),
    ("A rule's =, glob or regex term on an extra ran str() of the whole extra on the "
     "caller's thread: a list of shared references rendered in full in logger.error()",
     "1,000,000 reprs, 40 ms in one logging call → 0 reprs; only str, number, bool and "
     "None extras are read, anything else never matches",
     "test_rule.py::"
     "test_a_rule_term_on_an_extra_does_not_stringify_all_of_it_on_the_callers_thread"),
    ("A rule's regular expression with a repeated group of alternatives, or many "
     "unbounded repeats, ran for seconds on the caller's thread: (.|\\s)*timeout 2.8 s on "
     "24 spaces, .*.*.*.*= 2.2 s on 200 characters",
     "seconds per logging call → refused at construction, with its position and a "
     "rewrite, a leading .* dropped; the slowest pattern found allowed takes ~8 ms on 256 "
     "characters",
     "test_rule.py::"
     "test_a_regex_that_can_take_polynomial_or_exponential_time_is_refused"),
    ("The Flask filter asked the loaded user for is_authenticated and get_id(): model "
     "code, which reloads a user expired by a commit from the database inside the "
     "logging call",
     "1 SELECT per logged record after a commit → 0; the id is read from Flask-Login's "
     "session key, without opening the session or marking it accessed",
     "test_contrib_flask.py::"
     "test_the_flask_filter_does_not_query_the_database_for_a_loaded_users_id"),
    ("resolve_on_close=True without resolve_after silently did nothing: a job's alerts "
     "outlived it",
     "0 of 2 alerts resolved at close() → 2 of 2; alerts are kept for close() alone, "
     "never due before",
     "test_resolve.py::test_resolve_on_close_alone_resolves_every_fired_alert_at_close"),
    ("`transport` was not checked: a dictConfig string (`\"myapp.alerts:transport\"`) "
     "was accepted and every record then lost as internal_error",
     "accepted, 100% of records internal_error → TypeError naming `transport` at "
     "construction; a dotted path to an instance or a zero-argument factory works",
     "test_config.py::test_a_transport_that_is_not_one_is_refused_at_construction"),
    ("The README's `off` for refresh_interval, resolve_after and threshold was refused "
     "(an INI or YAML file cannot spell None)",
     "`\"off\"`, `\"none\"`: TypeError → off",
     "test_config.py::test_off_is_accepted_where_the_readme_shows_it"),
]


#: What storm control and floods hold: groups, bytes, frames, and the work per window.
STORM_ROWS: list[Row] = [
    ("Held records kept their arguments: 250 `log.error(\"... %s\", response)` held by "
     "storm control kept each whole response alive",
     "48 MiB held for one group (estimated 260 KiB) → under 16 MiB: arguments let go "
     "once the message is made",
     "test_audit.py::test_records_held_by_storm_control_stay_within_the_held_bytes_bound"),
    ("An exception logged as an argument (`log.error(\"%s\", exc)`) kept its frames "
     "and locals alive while held",
     "5 of 5 frames alive → 0",
     "test_audit.py::test_an_exception_logged_as_an_argument_does_not_keep_its_frames_while_held"),
    ("A record with created NaN or in milliseconds (a forwarder's makeLogRecord) sank "
     "its whole group's event",
     "internal_error: 4, no alert → all 4 delivered, the bad time replaced by the clock's",
     "test_audit.py::test_a_record_with_a_bad_created_time_does_not_sink_its_groups_alert"),
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
     "caller cost vs NullHandler, an f-string loop over orders: 1.8x → 1.35x "
     "(`%s` loop: 1.20x; python -m benchmarks)",
     "test_flood.py::test_an_fstring_error_loop_is_counted_on_the_callers_thread"),
    ("A record without `created` was counted twice",
     "2 records: 1 sent titled '+1 more', 2 dropped (internal_error, batch_full), "
     "pending -1 → 2 delivered, pending 0",
     "test_handler.py::test_a_record_without_created_is_counted_once"),
    ("Two floods sharing a lookup key (one `log.exception` line failing for two causes; "
     "one %-template from two loggers) closed each other's counter: one was captured "
     "and queued on every record (~30,000 queue_bytes drops/s in a 1 s loop)",
     "records of 2 floods on one key counted on the caller's thread: 1 flood of 2 → "
     "both (up to 4 per key, 16 in all)",
     "test_flood.py::test_two_exception_floods_from_one_call_site_are_both_counted"),
    ("A flood counter's head reached into its samples' shared leading digits (`order 12` "
     "for orders 1200-1299): once the values passed them, the renewed counter matched "
     "nothing and an f-string loop on two threads filled the queue",
     "2 threads x 150,000 `log.error(f\"order {n} failed\")`: queue_full 90,073 → 0 "
     "(299,500 batch_full, 500 delivered)",
     "test_flood.py::test_an_fstring_flood_from_two_threads_does_not_fill_the_queue"),
    ("With the default refresh_interval, records joining a fired problem that waited "
     "for its refresh skipped the threshold check and rode along in the refresh; the "
     "crossing they set was never used up",
     "threshold 3 in 10 s, lone records at +30 s and +55 s: sent in the refresh titled "
     "`[≥3 in 10s]` → held, aged out, 2 counted as below_threshold",
     "test_threshold.py::test_a_refresh_does_not_send_records_below_the_threshold"),
    ("A window's close took every flood counter down before opening the renewed ones: "
     "a worker that lost the GIL in between left the callers no counter, and they "
     "queued every record of the flood meanwhile (Python 3.10 CI)",
     "two threads, 150,000 f-string records each: queue_full in 2 of 3 runs (727 to "
     "12,579) → 0 in 5 of 5",
     "test_flood.py::test_a_renewed_flood_is_never_left_without_a_counter"),
]


#: structlog's event dicts and loguru's formatted lines, read back into plain records.
STRUCTURED_ROWS: list[Row] = [
    ("structlog's ConsoleRenderer with rich installed: a boxed traceback showing every "
     "frame's locals was sent in the message",
     "a local's value in the body → cut, sent once from the exception, no values",
     "test_structured.py::test_a_rich_console_renderer_traceback_is_cut_and_its_locals_not_sent"),
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
    ("structlog's default ConsoleRenderer() colours its line even without a terminal: the "
     "colour codes between password and = hid the pair from scrubbing",
     "'hunter2' in title, description and data → in no byte sent",
     "test_structured.py::test_a_secret_in_a_default_console_renderer_line_is_scrubbed"),
    ("structlog ConsoleRenderer last: the title started with the timestamp and the "
     "[level], and the event's padding",
     "`ERROR m: 2026-...Z [error    ] card_declined      [m] amount=5` → "
     "`ERROR m: card_declined amount=5`",
     "test_structured.py::test_a_console_renderer_line_starts_with_its_event"),
    ("structlog EventRenamer(\"message\") before wrap_for_formatter: no event key, so every "
     "event was one alert titled (no message)",
     "2 events → 1 alert → 2 alerts titled by their event",
     "test_structured.py::test_structlog_events_renamed_by_event_renamer_stay_apart"),
    ("structlog log.error(resp.json()): the event was a dict, its repr the title, and all "
     "such events one alert",
     "2 different dicts → 1 alert titled {'error': ...} → 2 alerts, keys sent as fields",
     "test_structured.py::test_a_structlog_event_that_is_a_dict_is_not_a_dict_repr_title"),
]



#: Alert identity: which records are one problem, and the key they share.
IDENTITY_ROWS: list[Row] = [
    ("Under a flood of one bug's KeyError, another bug's KeyError from the same logging "
     "call (Django's one 500 template) was counted under the flood, never sent",
     "1 alert → 2 alerts, the second with its record",
     "test_flood.py::test_the_same_exception_type_raised_elsewhere_is_never_counted_under_a_flood"),
    ("Under an f-string flood (`Payment failed for user {id}`), another message from the "
     "line that began and ended alike (`... for user None`, its own key) was counted under "
     "the flood in every window, never sent",
     "sent in 0 of 3 windows → 3 of 3; varying-id f-string loop 1.21x → 1.30x NullHandler",
     "test_flood.py::test_a_different_message_from_a_flooding_line_is_hidden_for_at_most_one_window"),
    ("Only one flood counter was open: when a second error loop filled its group, the first "
     "loop's records were snapshotted and queued again for the rest of the window",
     "two f-string loops at once: 2.4x NullHandler and queue_full drops (review r2) → "
     "1.31x, both counted on the callers' threads",
     "test_flood.py::test_two_error_loops_at_once_both_stay_on_the_fast_path"),
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
    ("Same-named methods of two classes (every Django view's `post`) shared one raise "
     "site, so two bugs shared one alert",
     "1 alert → 2 alerts",
     "test_identity.py::test_same_named_methods_of_two_classes_are_two_alerts"),
    ("Behind a stdlib QueueHandler (exc_info cleared, the traceback written into the "
     "message), a KeyError and an IndexError behind Django's one message shared one alert",
     "1 alert → 2 alerts",
     "test_identity.py::test_queue_handler_records_of_two_bugs_behind_djangos_message_are_two_alerts"),
    ("With only values before a colon (`Order A-1001: card declined`, `[payments]: disk "
     "full`), the detail-after-a-colon rule masked the whole problem: unrelated problems "
     "shared one alert",
     "1 alert → 2 alerts (3 cases)",
     "test_identity.py::test_different_problems_after_a_masked_prefix_are_two_alerts"),
    ("With structlog's ConsoleRenderer last, `card_declined` and `database_down` with the "
     "same keys were masked as names of code: one alert",
     "1 alert → 2 alerts",
     "test_identity.py::test_structlog_console_renderer_keeps_events_apart"),
    ("A decorated method (`transaction.atomic`, `login_required`, any `functools.wraps` "
     "wrapper) was not named by its class: two views' decorated `post` shared one alert",
     "1 alert → 2 alerts",
     "test_identity.py::test_decorated_methods_of_two_views_are_two_alerts"),
    ("An ExceptionGroup (`asyncio.TaskGroup`, anyio under Starlette/FastAPI) was keyed by "
     "its own type and the `async with` line: a KeyError in one task and a ConnectionError "
     "in another shared one alert",
     "1 alert → 2 alerts; a group of one keyed as its exception",
     "test_identity.py::test_two_bugs_inside_one_task_group_are_two_alerts"),
    ("An id with digits before `key=value` pairs (`ch_3MqLk2 amount=500 declined`) was kept "
     "verbatim as a structlog event name: one alert per charge",
     "2 alerts → 1 alert (5 cases)",
     "test_identity.py::test_a_leading_id_with_digits_is_a_value_not_an_event"),
    ("`log.error(traceback.format_exc())` starts with the traceback, no newline before it: "
     "it was masked as a message, source lines and exception text included, so one bug "
     "whose text varied opened one alert per text",
     "2 alerts → 1 alert, keyed by type and raise site",
     "test_identity.py::test_a_format_exc_traceback_is_keyed_as_an_exception"),
    ("Masking was quadratic within its 1,000-character cap: unbounded lookaheads rescanned "
     "a long compound (`No route for a.-a.-…`, `a--a--…`) from each of its parts, so "
     "client-chosen text could saturate the worker",
     "`a.-` 329 times: 8.1 ms → 0.85 ms a record (80x → 8.5x a 1,000-character ordinary message)",
     "test_identity.py::test_no_pattern_rescans_the_rest_of_the_text_from_each_word"),
    ("Under a flood of one exception group (a TaskGroup's KeyError), another bug's group from "
     "the same line (a ConnectionError) matched the flood counter by the group's own type "
     "and traceback, and was counted, never sent",
     "1 alert → 2 alerts, the second with its record",
     "test_flood.py::test_another_bug_in_an_exception_group_is_never_counted_under_a_groups_flood"),
    ("A flood counter counted a dotted value (`Order a.b1: card declined`) under "
     "`Order <*>: card declined`, though its plain word `a` turns on the detail rule: "
     "another problem hidden under the flood",
     "texts counted with another fingerprint than the samples': `a.b1`, `A.1`, `a.1.b` "
     "→ none (dots before the first digit no longer part of a value)",
     "test_flood.py::test_a_dotted_value_that_turns_on_the_detail_rule_is_not_counted"),
]

#: The local receiver (``incidentio_logging.testing`` and ``python -m incidentio_logging
#: receiver``): what a rehearsal or a demo meets when the input or the host is odd.
RECEIVER_ROWS: list[Row] = [
    ("An accepted event whose metadata.data is 5 (or [1, 2]): GET /api/alerts failed for "
     "the rest of the session, and the console printer crashed",
     "no reply, page empty → 202, the page and the printer show the values as sent",
     "test_testing.py::test_odd_metadata_is_accepted_and_shown_as_it_is"),
    ("Content-Length: -1 (the body read to EOF, no cap: 30 → 182 MiB) or abc (no reply)",
     "read to EOF / no reply → 400 with a JSON error at once, nothing read, connection "
     "closed",
     "test_testing.py::test_a_bad_content_length_gets_400_json_and_nothing_is_read"),
    ("Deeply nested JSON in a body",
     "no reply → 422 validation_error on body, the receiver and its page still serving",
     "test_testing.py::test_deep_nesting_gets_422_and_the_receiver_keeps_working"),
    ("refuse_connections() left a client's keep-alive connection open",
     "an event sent while refusing was delivered → not delivered, flush False",
     "test_testing.py::test_refusing_also_shuts_a_pooled_keep_alive_connection"),
    ("An unwritable --jsonl path: the receiver started anyway",
     "one record stored 4 times, the handler told send_failed → exit 2 at start, one line",
     "test_main.py::test_an_unwritable_jsonl_is_refused_at_start"),
    ("The receiver command with the app's own INCIDENT_IO_* variables set",
     "401 for every event → 202, the token never printed",
     "test_main.py::test_the_receiver_takes_the_apps_own_token_and_source"),
    ("receiver --host 0.0.0.0 (an unauthenticated page on the network) and a port in use",
     "served without a word / an OSError traceback → one line, exit 2",
     "test_main.py::test_a_host_beyond_loopback_is_refused"),
    ("LocalReceiver(host=\"::1\") and receiver --host ::1",
     "socket.gaierror → serves at http://[::1]:port",
     "test_testing.py::test_the_receiver_serves_on_ipv6_loopback"),
    ("A number too large for a float (1e999) in an event: /api/alerts then wrote "
     "Infinity, which the page's JSON.parse refuses",
     "202 and the page frozen for the session → 422 on body, /api/alerts strict JSON",
     "test_testing.py::test_a_float_overflow_in_an_event_does_not_freeze_the_page"),
    ("Transfer-Encoding: chunked: the body was not read and its chunks were parsed as a "
     "second request",
     "two replies (422, then 400) → one 202; past 512 KiB one 413 and the connection closed",
     "test_testing.py::test_a_chunked_event_gets_one_answer"),
    ("Two Content-Length headers that disagree (RFC 9112 6.3)",
     "202 with the first → 400 and the connection closed",
     "test_testing.py::test_conflicting_content_lengths_get_400"),
    ("A UTF-16 body (json.loads guesses the encoding)",
     "202 → 422: bodies are read as UTF-8 strictly",
     "test_testing.py::test_a_utf16_body_is_not_json_for_the_api"),
    ("--jsonl naming a FIFO nobody reads",
     "hung before listening, without a word → refused at once, one line, exit 2",
     "test_main.py::test_a_jsonl_fifo_without_a_reader_is_refused_in_one_line"),
    ("A --jsonl reader that stalls: the write blocked while holding the receiver's lock",
     "/api/alerts, other senders and stop() all waited → 202 and the page answer at "
     "once (lines written on a thread of their own)",
     "test_testing.py::test_a_stalled_jsonl_reader_does_not_stop_the_receiver"),
    ("The receiver command printed each event before replying: a paused terminal (or "
     "an unread pipe) held every sender",
     "the 3rd 30 KB event never answered → 6 of 6 answered 202 (printed on a thread)",
     "test_main.py::test_a_paused_terminal_does_not_hold_up_replies"),
    ("LocalReceiver().stop() or refuse_connections() before start()",
     "waited for ever in shutdown() → returns at once, the port released",
     "test_testing.py::test_stopping_a_receiver_that_never_started_returns"),
    ("receiver --port 70000 (or -1); LocalReceiver(port=70000)",
     "OverflowError traceback, exit 1 → one argparse line, exit 2; ValueError naming port",
     "test_main.py::test_a_port_out_of_range_is_refused_in_one_line"),
    ("A request held by hold(), then refuse_connections(), then release()",
     "answered 202 and stored → reset, not stored, as on a real crash",
     "test_testing.py::test_a_request_held_across_a_crash_is_not_stored"),
    ("GET of an unknown path; a payload key received_at in --jsonl lines",
     "405 \"use POST\" / the receiver's timestamp replaced → 404 / the receiver's kept",
     "test_testing.py::test_a_payload_received_at_does_not_override_the_receivers"),
]


#: Where alerts come from: exceptions no code caught, SIGTERM (issue 13).
HOOKS_ROWS: list[Row] = [
    ("SIGTERM (docker stop, Kubernetes, systemd) ended the process without atexit: the "
     "records waiting for their window were lost",
     "delivered 0/1 → 1/1 (flush_on_sigterm), exit status still -15",
     "test_hooks.py::test_sigterm_delivers_pending_and_keeps_the_exit_status"),
    ("uvicorn handles SIGTERM, then raises it again at the end of its shutdown: the "
     "records waiting for their window were lost",
     "delivered 0/1 → 1/1 (flush_on_sigterm), exit status still -15",
     "test_hooks.py::test_sigterm_under_uvicorn_delivers_and_keeps_the_exit_status"),
    ("An uncaught exception in a script was printed to stderr and alerted nobody",
     "delivered 0/1 → 1/1 (capture_uncaught), traceback printed once, exit status 1",
     "test_hooks.py::test_uncaught_in_the_main_thread_is_delivered_printed_once_and_exits_1"),
    ("An uncaught exception in a thread was printed to stderr and alerted nobody",
     "delivered 0/1 → 1/1 (capture_uncaught), the thread's traceback still printed",
     "test_hooks.py::test_uncaught_in_a_thread_is_delivered_and_the_process_goes_on"),
    ("A SIGTERM whose flush ran out of time (receiver not answering) lost the pending "
     "record without a word",
     "said 0 → \"close() left 1 record undelivered\", counted; exit status still -15",
     "test_hooks.py::test_a_sigterm_that_gives_up_on_pending_records_says_so"),
    ("A SIGTERM while the main thread held a console handler's lock (root at DEBUG): "
     "the worker's urllib3 debug lines waited on that lock, nothing was delivered",
     "delivered 0/1 → 1/1 (urllib3 records from our threads dropped before any handler)",
     "test_hooks.py::test_a_sigterm_while_a_console_handler_writes_delivers"),
    ("A SIGTERM while the main thread held logging's lock (getLogger, setLevel, "
     "dictConfig): the flush gave up at once and the record was lost silently",
     "delivered 0/1 → 1/1 (the SIGTERM's close delivers on the main thread)",
     "test_hooks.py::test_a_sigterm_while_the_logging_lock_is_held_delivers"),
    ("A SIGTERM chained to a handler that calls sys.exit() (Django's autoreloader, "
     "gunicorn) spent shutdown_timeout twice: once in the flush, again at exit",
     "exit 6.2 s → 3.2 s for shutdown_timeout=3 and a receiver not answering",
     "test_hooks.py::test_a_sigterm_chained_to_a_handler_that_exits_takes_one_shutdown_timeout"),
    ("A SIGTERM during close() (docker stop during a normal exit) ended the process at "
     "once: close() cut short, its loss not said",
     "exit after 0.3 s, silent → after close()'s 1.5 s, \"close() left 1 record "
     "undelivered\"; exit status still -15",
     "test_hooks.py::test_a_sigterm_during_close_does_not_cut_close_short"),
    ("After a tool wrapped sys.excepthook only (sentry) and the handler was replaced, "
     "exceptions in threads no longer alerted",
     "alerts 0/1 → 1/1 (each hook's place in its chain tracked on its own)",
     "test_hooks.py::test_thread_exceptions_still_alert_after_a_tool_wrapped_only_sys_excepthook"),
    ("flush_all(math.inf) returned False at once (OverflowError in the wait), before "
     "the delivery",
     "False → True after the delivery (waits capped at threading.TIMEOUT_MAX)",
     "test_hooks.py::test_flush_all_with_an_unbounded_timeout_waits_for_delivery"),
    ("flush_all(0) and flush(0) with everything delivered answered False",
     "False → True (nothing queued, windowed, scheduled or in flight)",
     "test_hooks.py::test_flush_all_with_nothing_pending_is_true_even_with_no_time"),
    ("SIGTERM after a dictConfig re-run: the old handler's worker, left to finish on its "
     "own, was killed with the process and its record vanished unsaid",
     "nothing on stderr → 'close() left 1 record undelivered', exit status still -15",
     "test_hooks.py::test_a_sigterm_waits_for_a_handler_closed_by_dictconfig"),
    ("SIGTERM closed a handler that did not ask (shutdown_timeout=6) with its own budget, "
     "past the 1 s budget of the handler that asked, against a receiver that never answers",
     "SIGTERM took 4.73 s → 1.02 s for a 1 s budget",
     "test_hooks.py::test_sigterm_ends_within_the_budget_of_the_handlers_that_asked"),
    ("A child forked while another thread held the hooks' lock (building or closing a "
     "handler) hung for good in close(), and so at exit",
     "child hung, killed after 5 s → exits at once (the lock is made again after fork)",
     "test_hooks.py::test_a_child_forked_while_another_thread_holds_the_hooks_lock_can_close"),
]


#: The pytest plugin's checks.
PAGE_ROWS: list[Row] = [
    ("assert_alerted(status=\"resolved\", timeout=5) failed at once, before the resolve "
     "came, and its message left out the status",
     "failed after 0.00 s → passed after 0.31 s (resolve_after=0.3)",
     "test_pytest_plugin.py::test_assert_alerted_waits_for_any_matching_event"),
    ("assert_alerted(level=\"ERROR\") read the level from the title, so threshold titles "
     "(`[≥2 in 10s] ERROR ...`) and custom titles never matched",
     "failed → passed, matched on metadata.incidentio_logging.level",
     "test_pytest_plugin.py::test_assert_alerted_waits_for_any_matching_event"),
    ("assert_alerted checked once, as soon as the first event came: a matching event "
     "that arrived second was missed",
     "failed after 0.01 s → passed after 0.36 s (the event logged 0.3 s later)",
     "test_pytest_plugin.py::test_assert_alerted_waits_for_any_matching_event"),
    ("assert_alerted(timeout=0.2) flushed each handler for up to 5 s before its timeout "
     "began (held receiver)",
     "5.2 s → 0.20 s: the flushes share the timeout",
     "test_pytest_plugin.py::test_assert_alerted_keeps_its_timeout_when_the_receiver_is_slow"),
    ("assert_alerted(status=\"fired\") waited out its timeout; level=\"error\" never "
     "matched ERROR",
     "a misleading failure / no match → ValueError at once / matched, any case",
     "test_pytest_plugin.py::test_assert_alerted_checks_its_status_and_ignores_the_levels_case"),
    ("Descriptions compared times as HH:MM:SS: records a day apart (threshold_window "
     "86400) read as one moment, and a span across midnight read backwards",
     "\"at 02:00:00 UTC\" → \"between 2026-11-27 02:00:00 and 2026-11-28 02:00:00 UTC\"",
     "test_events.py::test_records_a_day_apart_are_not_described_as_one_moment"),
]


#: Where errors come from: web servers and task queues whose logging does not reach the root.
ASGI_ROWS: list[Row] = [
    ("FastAPI under uvicorn with the README's root-logger setup: a route that raised gave "
     "no alert (uvicorn logs it on uvicorn.error, whose parent does not propagate); on "
     "uvicorn.error it was titled \"Exception in ASGI application\"",
     "0 alerts → 1, \"ERROR incidentio_logging.asgi: KeyError on /orders/42 [GET]\", "
     "with the route; still a 500, the server still serving",
     "test_contrib_asgi.py::"
     "test_a_failing_route_under_uvicorn_alerts_once_and_the_server_keeps_serving"),
    ("ASGI: a path the client chose (GET /export%0AFIRING, which servers decode to a "
     "newline, or 300 characters) pushed the exception type out of the alert's title, "
     "and the text before the newline became the whole title",
     "title \"Exception on /export\" → \"KeyError on /export\\nFIRING [GET]\"; a long "
     "path cut to 120 characters; the request summary keeps the path",
     "test_contrib_asgi.py::test_an_asgi_title_names_the_exception_whatever_the_path_holds"),
    ("Celery with worker_max_tasks_per_child = 1 and the README's setup_logging setup: "
     "the recycled pool child left through billiard's os._exit(), running neither "
     "logging.shutdown() nor multiprocessing's finalizers, and its failed task's alert, "
     "still in its window, was lost silently",
     "0 alerts → 1 (closed on Celery's worker_process_shutdown, sent in the child before "
     "it exits)",
     "test_celery.py::test_a_failing_task_in_a_recycled_prefork_child_alerts"),
    ("uvicorn --workers 2 with the handler (flush_on_sigterm) built in the app module: at "
     "SIGTERM our hook flushed first, then uvicorn shut down, put back the default and "
     "re-raised SIGTERM, so an error logged during the graceful shutdown was lost "
     "silently in every worker",
     "0 of 2 workers' shutdown errors delivered → 2 of 2 (the ASGI middleware flushes "
     "when the app's lifespan shutdown completes; a --log-config handler also does)",
     "test_contrib_asgi.py::"
     "test_sigterm_under_uvicorn_workers_delivers_what_the_graceful_shutdown_logs"),
]


#: A fleet of processes: repeats, new problems first, backoffs that hold nothing else.
FLEET_ROWS: list[Row] = [
    ("Every window of an ongoing problem sent an event: a record a second for three "
     "minutes",
     "181 events → 4 (the first, then one refresh a minute carrying 60 records each)",
     "test_refresh.py::test_a_refresh_is_at_most_one_event_per_interval"),
    ("A new problem waited behind repeats that storm control held back",
     "sent 4th, after both held repeats → 3rd, in the first free slot",
     "test_schedule.py::test_a_new_problem_overtakes_refreshes_held_by_storm_control"),
    ("After a 429 (Retry-After 5 s) on a repeat, a new problem waited for the repeat's "
     "retry",
     "new problem sent after the retry → before it, and nothing sent before the 5 s ended",
     "test_schedule.py::test_after_a_429_the_new_problem_goes_first_and_nothing_goes_before_retry_after"),
    ("A 503 backoff on one event slept on the worker and held another problem's first "
     "event",
     "sent after the backoff → at once, no sleep",
     "test_schedule.py::test_a_backoff_on_one_event_does_not_hold_another_problem"),
    ("The queue stopped draining while an event waited out a 1 s Retry-After (queue_size "
     "10, 25 records in bursts of 5)",
     "15 of 26 records dropped as queue_full → none dropped, 26 delivered in 3 events",
     "test_schedule.py::test_the_queue_keeps_draining_while_an_event_backs_off"),
    ("A 429 whose Retry-After (3600 s) outlasted the event's max_retry_time held nothing: "
     "the events waiting were sent into the limit",
     "3 requests answered 429 → 1; the 2 others ended at once as rate_limited, untried",
     "test_schedule.py::test_a_429_longer_than_max_retry_time_still_pauses_every_other_event"),
    ("With max_retries=0 a 429 (Retry-After 5 s) held nothing",
     "2 events sent within the 5 s → 0; both delivered after it",
     "test_schedule.py::test_with_max_retries_0_a_429_still_pauses_the_other_events"),
    ("A flush(0.2) that timed out left the worker sleeping out a 20 s backoff (queue_size "
     "10, 30 records of another problem)",
     "other problem sent after 19.9 s, 20 records queue_full → after 0.2 s, none dropped",
     "test_schedule.py::"
     "test_a_flush_that_times_out_does_not_leave_the_worker_sleeping_through_a_backoff"),
    ("A resolve waiting out a 429 was sent after the problem fired again",
     "alert left resolved while the problem was live → left firing (the resolve dropped, "
     "its timer re-armed)",
     "test_schedule.py::"
     "test_a_resolve_waiting_out_a_429_is_not_sent_after_the_problem_fires_again"),
    ("A new problem held back by storm control waited behind older held repeats "
     "(max_events_per_minute=2)",
     "sent 5th, a minute after both repeats → 3rd, in the first free slot",
     "test_storm.py::test_a_new_problem_held_by_storm_control_goes_before_older_held_repeats"),
    ("An event's retry budget started when it was scheduled: events waiting their turn "
     "were dropped untried (5 problems, 0.4 s replies, max_retry_time=1)",
     "2 of 5 delivered (3 dropped, 2 never tried) → 5 of 5",
     "test_schedule.py::test_an_event_waiting_its_turn_is_not_given_up_before_its_first_attempt"),
    ("Refreshes of one problem piled up behind a 429 (refresh_interval=5, Retry-After 20)",
     "4 events at once when the limit lifted → 1 at a time",
     "test_refresh.py::test_refreshes_of_one_problem_do_not_pile_up_behind_a_429"),
    ("The queue was not drained between attempts when several were due (8 events, 0.3 s "
     "replies, queue_size 10, 20 records a second)",
     "30 of 48 records dropped as queue_full → none, 48 delivered",
     "test_schedule.py::test_the_queue_is_drained_between_attempts_when_many_events_are_due"),
    ("The send schedule had no byte bound while a 429 held it",
     "unbounded → 16 MiB of bodies; the rest counted as held_full, said once",
     "test_schedule.py::"
     "test_the_schedule_is_bounded_in_bytes_and_what_it_refuses_is_counted_once"),
]


#: Across modules: dotted transports, the exit budget after a dictConfig re-run, threshold
#: titles of refreshes, flush results, late-fork detection, dotted-path imports.
CROSS_CUTTING_ROWS: list[Row] = [
    ("A dictConfig re-run closed a transport given by dotted path to a shared instance "
     "while the new handler used it",
     "every later alert failed (closed client) → delivered; only a transport the handler "
     "made is closed",
     "test_lifecycle.py::test_a_dictconfig_rerun_does_not_close_the_transport_the_new_handler_uses"),
    ("Exit after a dictConfig re-run, receiver not answering (shutdown_timeout=1.5)",
     "two budgets (old workers waited out, then the live handlers' own) → one: both "
     "records said undelivered within 1.5 s + teardown",
     "test_lifecycle.py::test_exit_after_a_dictconfig_rerun_stays_within_one_shutdown_timeout"),
    ("A refresh's threshold title claimed a minute of records within the window "
     "(5 per 10 s, threshold 3 in 10 s)",
     "[≥29 in 10s] → [≥6 in 10s], the records whose times lie within 10 s of the newest",
     "test_refresh.py::"
     "test_a_refresh_does_not_claim_more_records_within_the_window_than_there_were"),
    ("A live flush() returned False for records counted by design (batch_full, body_size)",
     "False while a closed handler said True → True, as the README's Exit says",
     "test_handler.py::test_records_counted_by_design_do_not_fail_a_live_flush"),
    ("stats() in a child forked past Python's fork hooks",
     "the parent's counts until the first record → its own from the first stats()",
     "test_lifecycle.py::test_stats_in_a_child_forked_past_the_hooks_are_its_own"),
    ("Two threads finding a late fork at once: the pid was set before the rebuild",
     "the second thread read the parent's counters → waits for the rebuild (pid set last, "
     "under a lock taken only on that path)",
     "test_lifecycle.py::"
     "test_a_late_fork_found_by_two_threads_at_once_is_rebuilt_before_either_uses_it"),
    ("A dotted path whose module raises as it is imported (RuntimeError, SyntaxError)",
     "the raw exception out of the constructor → ValueError naming the option",
     "test_config.py::test_a_module_failing_as_it_is_imported_is_a_config_fault"),
    ("A transport that failed validation left a half-built handler in logging's list",
     "AttributeError from logging.shutdown()'s flush → checked before the handler is listed",
     "test_config.py::test_a_refused_transport_leaves_no_half_built_handler_for_logging"),
]


#: The one shutdown path of SIGTERM and exit, and what issue 15's refactor dropped
#: (review rev1). Receiver never answering; timed from the SIGTERM or from exit.
SHUTDOWN_ROWS: list[Row] = [
    ("A SIGTERM during one handler's close() (an application's own shutdown, a "
     "multiprocessing child's finalizer) handed over as soon as that close ended: the "
     "other live handlers were never flushed nor closed",
     "the other handler's record lost silently (not delivered, nothing said) → shut down "
     "with what is left of the SIGTERM's budget: delivered, or counted and said",
     "test_hooks.py::test_a_sigterm_during_one_handlers_close_still_shuts_the_others_down"),
    ("A SIGTERM waiting for the main thread's close() was handed over by another "
     "thread's close() ending first, where signal.signal() raises",
     "ValueError in that thread, the SIGTERM gone, the process went on (exit 0) → ends "
     "with -15 once the main thread's close ends",
     "test_hooks.py::test_a_sigterm_deferred_by_a_close_is_not_taken_by_another_threads_close"),
    ("A SIGTERM chained to sys.exit(): logging.shutdown() gave a handler that did not "
     "ask its own shutdown_timeout, and one whose own budget had ended a fresh one",
     "exit 3.0 s → 0.5 s after a SIGTERM whose budget is 0.5 s (the other handler 2.5 s)",
     "test_hooks.py::"
     "test_a_chained_exit_leaves_exit_only_the_budget_of_the_handlers_that_asked"),
    ("A SIGTERM chained to sys.exit() that spent its budget (2.5 s): a handler that "
     "asked with a shorter shutdown_timeout (1 s) got a second one at exit",
     "logging.shutdown()'s flush and close of it 1.0 s → 0.0 s",
     "test_hooks.py::"
     "test_a_chained_exit_gives_a_handler_that_asked_no_second_shutdown_timeout"),
    ("A SIGTERM chained to sys.exit() after a dictConfig re-run: the exit hook began "
     "every handler's budget again",
     "exit 3.0 s → 1.5 s after the SIGTERM, for shutdown_timeout=1.5",
     "test_hooks.py::test_a_chained_exit_after_a_dictconfig_rerun_takes_one_budget"),
    ("A plain exit with two handlers: logging.shutdown() flushed and closed one after "
     "the other, each within its own shutdown_timeout",
     "exit 5.0 s → 2.5 s for two handlers with shutdown_timeout=2.5",
     "test_lifecycle.py::test_exit_with_two_handlers_stays_within_one_shutdown_timeout"),
    ("A multiprocessing child started by fork (no atexit): its finalizer closed the "
     "handlers one after the other, each within its own shutdown_timeout",
     "child exit 5.0 s → 2.5 s for two handlers with shutdown_timeout=2.5",
     "test_lifecycle.py::"
     "test_a_multiprocessing_childs_exit_with_two_handlers_stays_within_one_budget"),
    ("contrib.django and contrib.flask lost their public SUMMARY_ATTRIBUTE when the "
     "filters moved to a shared base (contrib.asgi kept it, unlisted)",
     "ImportError → importable from all three, in each __all__ and the README",
     "test_contrib_django.py::test_the_module_keeps_summary_attribute"),
    ("A child forked during the parent's SIGTERM shutdown inherited its \"shutdown "
     "running\" mark: its own SIGTERM went straight to the previous disposition",
     "the child's record lost silently (not delivered, nothing said) → delivered",
     "test_hooks.py::"
     "test_a_child_forked_during_a_sigterm_shutdown_still_flushes_on_its_own_sigterm"),
    ("A multiprocessing child forked during the parent's SIGTERM shutdown inherited its "
     "deadline: its exit continued the parent's budget",
     "the child's exit budget 0 s, its record given up → 1.5 s of its own: delivered",
     "test_lifecycle.py::test_a_multiprocessing_child_forked_during_a_sigterm_shutdown_"
     "gets_its_own_exit_budget"),
    ("A SIGTERM handler that lets the process go on (gunicorn-style): an exit less than "
     "a second past the SIGTERM's budget continued it",
     "exit budget 0 s, the record given up with the receiver answering at once → "
     "1.0 s of its own: delivered",
     "test_hooks.py::"
     "test_a_graceful_sigterm_then_exit_within_a_second_past_the_budget_delivers"),
    ("A SIGTERM handler that lets the process go on: a bare flush() soon after counted "
     "as part of the SIGTERM's spent budget",
     "flush() waited 0 s and returned False without trying → True, delivered",
     "test_hooks.py::test_a_flush_after_a_graceful_sigterm_still_delivers"),
    ("Before Python 3.13, a SIGTERM landing in a main-thread flush() or exit's wait, "
     "whose shutdown waited out its budget, left that wait blocked for good "
     "(SimpleQueue.get outlasted by a signal handler) when the process went on",
     "hung until killed (3.11: > 20 s) → the flush returns False at 1.3 s",
     "test_hooks.py::"
     "test_a_sigterm_landing_in_a_flush_that_outlasts_it_does_not_hang_the_flush"),
]


HARDENING: list[Row] = (WORKER_ROWS + SCRUB_ROWS + CONFIG_ROWS + STORM_ROWS
                        + STRUCTURED_ROWS + IDENTITY_ROWS + HOOKS_ROWS + RECEIVER_ROWS
                        + PAGE_ROWS + ASGI_ROWS + FLEET_ROWS + CROSS_CUTTING_ROWS
                        + SHUTDOWN_ROWS)
