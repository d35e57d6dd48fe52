"""structlog and loguru end to end: one alert per event, plain titles, fields kept apart."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import loguru
import pytest
import structlog

from incidentio_logging import IncidentIOHandler, fingerprint
from incidentio_logging._record import capture
from incidentio_logging._structured import normalize
from incidentio_logging.testing import LocalReceiver, ReceivedEvent

from .conftest import Kept, MakeHandler, exc_info_of

SECRET = "hunter2"  # what must never leave
Processor = Callable[..., Any]


def through_stdlib(std: logging.Logger, last: Processor) -> Any:
    """A structlog logger over ``std``, configured as structlog's stdlib docs show."""
    return structlog.wrap_logger(std, wrapper_class=structlog.stdlib.BoundLogger, processors=[
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso"),
        last,
    ])


def sent(handler: IncidentIOHandler, receiver: LocalReceiver) -> list[ReceivedEvent]:
    """Everything the handler delivered so far, oldest first."""
    assert handler.flush(5)
    return receiver.events


def raw_bodies(receiver: LocalReceiver) -> bytes:
    """Every request body the receiver saw, as one byte string."""
    return b"".join(attempt.body for attempt in receiver.attempts)


# structlog: ProcessorFormatter.wrap_for_formatter last ----------------------------------


def test_structlog_events_are_separate_alerts_titled_by_their_event(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """Three events give three alerts, each titled ``ERROR shop.payments: <event>``."""
    handler = make_handler()
    payments.addHandler(handler)
    log = through_stdlib(payments, structlog.stdlib.ProcessorFormatter.wrap_for_formatter)
    log.error("card_declined", order_id="A-1")
    log.error("database_down", host="db-1")
    log.error("disk_full", free_bytes=0)
    events = sent(handler, receiver)
    assert [e.title for e in events] == ["ERROR shop.payments: card_declined",
                                         "ERROR shop.payments: database_down",
                                         "ERROR shop.payments: disk_full"]
    assert len({e.deduplication_key for e in events}) == 3
    assert [e.records[0]["message"] for e in events] == [
        "card_declined", "database_down", "disk_full"]


def test_structlog_fields_are_record_fields_and_its_own_keys_do_not_replace_the_records(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """The event's keys are fields; ``level``, ``logger``, ``timestamp`` go under ``extra``."""
    handler = make_handler()
    payments.addHandler(handler)
    log = through_stdlib(payments, structlog.stdlib.ProcessorFormatter.wrap_for_formatter)
    log.error("card_declined", order_id="A-1", amount=12.5, path="/checkout", name="Ada")
    (event,) = sent(handler, receiver)
    (record,) = event.records
    assert (record["level"], record["logger"], record["message"]) == (
        "ERROR", "shop.payments", "card_declined")
    assert (record["order_id"], record["amount"]) == ("A-1", 12.5)
    assert record["path"].endswith(".py")  # the record's own, not the event's "/checkout"
    nested = record["extra"]
    assert (nested["level"], nested["logger"], nested["path"], nested["name"]) == (
        "error", "shop.payments", "/checkout", "Ada")
    assert nested["timestamp"].endswith("Z")  # structlog's, beside the record's own
    assert record["timestamp"].endswith("+00:00")


def test_a_structlog_secret_is_scrubbed_in_data_and_absent_from_title_and_description(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """``password=...`` is scrubbed as an extra is, and no dict repr reaches the title."""
    handler = make_handler()
    payments.addHandler(handler)
    log = through_stdlib(payments, structlog.stdlib.ProcessorFormatter.wrap_for_formatter)
    log.error("card_declined", order_id="A-1", password=SECRET)
    (event,) = sent(handler, receiver)
    assert event.title == "ERROR shop.payments: card_declined"
    assert event.records[0]["password"] == "[scrubbed]"
    assert SECRET.encode() not in raw_bodies(receiver)


def test_structlog_events_of_one_kind_group_and_others_do_not(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """Two card_declined events share an alert; a later database_down is a new one."""
    handler = make_handler(dedup="fingerprint")
    payments.addHandler(handler)
    log = through_stdlib(payments, structlog.stdlib.ProcessorFormatter.wrap_for_formatter)
    log.error("card_declined", order_id="A-1")
    log.error("card_declined", order_id="B-22")
    (first,) = sent(handler, receiver)
    log.error("database_down", host="db-1")
    second = sent(handler, receiver)[-1]
    assert first.title == "ERROR shop.payments: card_declined (+1 more)"
    assert [r["order_id"] for r in first.records] == ["A-1", "B-22"]
    assert second.title == "ERROR shop.payments: database_down"
    assert second.deduplication_key != first.deduplication_key


@pytest.mark.parametrize("how", ["exception", "exc_info=True", "exc_info=exc"])
def test_a_structlog_traceback_arrives_once(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger,
        how: str) -> None:
    """``log.exception``, ``exc_info=True`` and an exception object all send the traceback."""
    handler = make_handler()
    payments.addHandler(handler)
    log = through_stdlib(payments, structlog.stdlib.ProcessorFormatter.wrap_for_formatter)
    try:
        {}["card"]  # raises KeyError
    except KeyError as exc:
        if how == "exception":
            log.exception("card_lookup_failed")
        elif how == "exc_info=True":
            log.error("card_lookup_failed", exc_info=True)
        else:
            log.error("card_lookup_failed", exc_info=exc)
    (event,) = sent(handler, receiver)
    (record,) = event.records
    assert event.title == "ERROR shop.payments: card_lookup_failed"
    assert record["exc_info"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'card'" in record["exc_info"]
    assert "exc_info" not in record["extra"]  # an instruction to logging, not a field
    assert event.payload["description"].count("Traceback (most recent call last)") == 1


def test_a_dict_message_without_structlog_never_becomes_the_title(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """``log.error({...})`` with or without ``event``: no repr, the keys are fields."""
    handler = make_handler()
    payments.addHandler(handler)
    payments.error({"password": SECRET, "code": 7})
    payments.error({"event": "disk_full", "password": SECRET, "mount": "/var"})
    first, second = sent(handler, receiver)
    assert first.title == "ERROR shop.payments: (no message)"
    assert second.title == "ERROR shop.payments: disk_full"
    assert (first.records[0]["code"], second.records[0]["mount"]) == (7, "/var")
    assert SECRET.encode() not in raw_bodies(receiver)
    assert "{" not in first.payload["description"] + second.payload["description"]


def test_an_event_dict_is_sent_as_it_was_at_the_call() -> None:
    """The caller copies the dict: a later change to it is not what is sent."""
    event = {"event": "card_declined", "order_id": "A-1"}
    record = logging.makeLogRecord({"msg": event, "levelname": "ERROR", "name": "shop"})
    data = capture(record)
    event["order_id"] = "changed"
    assert normalize(data)["order_id"] == "A-1"
    assert record.msg is event  # the application's record is not written to




def fingerprints_match_the_wire(kept: Kept, events: list[ReceivedEvent]) -> None:
    """``fingerprint(record)`` is the key each record's alert was sent under."""
    by_title = {event.records[0]["message"]: event.deduplication_key for event in events}
    assert len(kept.records) == len(events)
    for record, event in zip(kept.records, events, strict=True):
        assert fingerprint(record) == event.deduplication_key, by_title


def keyed_structlog(make_handler: MakeHandler, payments: logging.Logger,
                    *processors: Any) -> tuple[IncidentIOHandler, Kept, Any]:
    """A fingerprint-keyed handler and a record keeper on ``payments``, and a structlog
    logger whose chain ends in ``wrap_for_formatter``, ``processors`` before it."""
    handler = make_handler(dedup="fingerprint", flush_interval=60)
    kept = Kept()
    payments.addHandler(handler)
    payments.addHandler(kept)
    log = structlog.wrap_logger(
        payments, wrapper_class=structlog.stdlib.BoundLogger,
        processors=[structlog.stdlib.add_log_level, *processors,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter])
    return handler, kept, log


@pytest.mark.parametrize("name", ["message", "msg"])
def test_structlog_events_renamed_by_event_renamer_stay_apart(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger,
        name: str) -> None:
    """``EventRenamer("message")`` (structlog's way to emit a ``message`` key) before
    ``wrap_for_formatter`` leaves no ``event`` key: the renamed key is the message."""
    handler, kept, log = keyed_structlog(make_handler, payments,
                                         structlog.processors.EventRenamer(name))
    log.error("card_declined", order_id="A-1")
    log.error("database_down", host="db-1")
    events = sent(handler, receiver)
    assert [e.title for e in events] == ["ERROR shop.payments: card_declined",
                                         "ERROR shop.payments: database_down"]
    assert len({e.deduplication_key for e in events}) == 2
    assert [e.records[0]["message"] for e in events] == ["card_declined", "database_down"]
    assert name not in events[0].records[0].get("extra", {})  # the message, not a field too
    fingerprints_match_the_wire(kept, events)


def test_a_structlog_event_that_is_a_dict_is_not_a_dict_repr_title(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """``log.error(resp.json())`` through structlog makes the event itself a dict. It is
    read as a dict message is: no repr in the title, its keys are fields, and dicts that
    say different things are different alerts."""
    handler, kept, log = keyed_structlog(make_handler, payments)
    log.error({"error": "card_declined", "order": "A-1"})
    log.error({"error": "database_down", "host": "db-1", "password": SECRET})
    log.error({"event": "disk_full", "mount": "/var"})
    events = sent(handler, receiver)
    titles = [event.title for event in events]
    assert titles == ["ERROR shop.payments: (no message)", "ERROR shop.payments: (no message)",
                      "ERROR shop.payments: disk_full"]
    assert len({e.deduplication_key for e in events}) == 3
    first, second, third = (event.records[0] for event in events)
    assert (first["error"], first["order"], second["host"], third["mount"]) == (
        "card_declined", "A-1", "db-1", "/var")
    assert first["extra"]["level"] == "error"  # structlog's, beside the record's own
    assert "{" not in "".join(e.payload["description"] for e in events)
    assert SECRET.encode() not in raw_bodies(receiver)
    fingerprints_match_the_wire(kept, events)


def test_dicts_without_a_message_group_by_what_they_say() -> None:
    """Same keys and same words, other ids: one alert. Other words: another."""
    def key(msg: dict[str, Any]) -> str:
        record = logging.makeLogRecord({"name": "shop", "levelname": "ERROR", "msg": msg})
        return fingerprint(record)

    declined = key({"error": "card_declined", "order": "A-1"})
    assert key({"order": "B-22", "error": "card_declined"}) == declined
    assert key({"error": "database_down", "order": "A-1"}) != declined
    assert key({"error": {"code": "card_declined", "id": 7}}) == key(
        {"error": {"code": "card_declined", "id": 8}})
    assert key({"error": {"code": "card_declined"}}) != key({"error": {"code": "expired"}})
    assert key({"password": "letmein"}) == key({"password": "opensesame"})


# structlog: render_to_log_kwargs, and string renderers last ------------------------------


def test_structlog_render_to_log_kwargs_keeps_the_records_level_and_logger(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """The event is the template; structlog's level and timestamp go under ``extra``."""
    handler = make_handler()
    payments.addHandler(handler)
    log = through_stdlib(payments, structlog.stdlib.render_to_log_kwargs)
    log.error("card_declined", order_id="A-1", password=SECRET)
    log.error("card_declined", order_id="B-22", password=SECRET)
    (event,) = sent(handler, receiver)
    assert event.title == "ERROR shop.payments: card_declined (+1 more)"
    first = event.records[0]
    assert (first["level"], first["logger"], first["message"]) == (
        "ERROR", "shop.payments", "card_declined")
    assert (first["extra"]["level"], first["order_id"]) == ("error", "A-1")
    assert first["extra"]["timestamp"].endswith("Z")
    assert first["password"] == "[scrubbed]"
    assert SECRET.encode() not in raw_bodies(receiver)


@pytest.mark.parametrize("renderer", [
    structlog.processors.KeyValueRenderer(key_order=["event"]),
    structlog.dev.ConsoleRenderer(colors=False),
], ids=["KeyValueRenderer", "ConsoleRenderer"])
def test_a_structlog_string_renderer_last_groups_one_event_across_values(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger,
        renderer: Processor) -> None:
    """A rendered line is a preformatted message: its values and timestamp are masked."""
    handler = make_handler()
    payments.addHandler(handler)
    log = through_stdlib(payments, renderer)
    log.error("card_declined", order_id=1041)
    log.error("card_declined", order_id=1042)
    log.error("database_down", retries=3)
    card, database = sent(handler, receiver)
    assert len(card.records) == 2
    assert "card_declined" in card.title
    assert "database_down" in database.title


def test_a_structlog_string_renderer_line_has_its_secrets_scrubbed(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """``password='hunter2'`` inside a rendered line is scrubbed in title and description."""
    handler = make_handler()
    payments.addHandler(handler)
    log = through_stdlib(payments, structlog.processors.KeyValueRenderer(key_order=["event"]))
    log.error("card_declined", order_id=1041, password=SECRET)
    (event,) = sent(handler, receiver)
    assert event.title.startswith("ERROR shop.payments: event='card_declined'")
    assert SECRET.encode() not in raw_bodies(receiver)


def test_a_secret_in_a_default_console_renderer_line_is_scrubbed(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """``ConsoleRenderer()`` colours its line even without a terminal: the colour codes
    between ``password`` and ``=`` must not hide the pair from the scrubber."""
    handler = make_handler()
    payments.addHandler(handler)
    log = structlog.wrap_logger(payments, wrapper_class=structlog.stdlib.BoundLogger,
                                processors=[structlog.stdlib.add_log_level,
                                            structlog.dev.ConsoleRenderer()])
    log.error("login_failed", password=SECRET)
    (event,) = sent(handler, receiver)
    assert SECRET.encode() not in raw_bodies(receiver)
    assert "\x1b" not in event.title + event.payload["description"]
    assert event.records[0]["message"] == "login_failed password=[scrubbed]"


def test_structlog_console_renderer_keeps_events_apart(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """Two events with the same keys and ``ConsoleRenderer`` last are two alerts."""
    handler = make_handler(dedup="fingerprint", flush_interval=60)
    payments.addHandler(handler)
    log = through_stdlib(payments, structlog.dev.ConsoleRenderer(colors=False))
    log.error("card_declined", order_id="A-1")
    log.error("database_down", order_id="A-2")
    events = sent(handler, receiver)
    assert len({e.deduplication_key for e in events}) == 2, [e.title for e in events]


@pytest.mark.parametrize("colors", [False, True], ids=["plain", "colours"])
@pytest.mark.parametrize("level", ["error", "critical"])
def test_a_console_renderer_line_starts_with_its_event(colors: bool, level: str) -> None:
    """The timestamp, the level in brackets, the logger in brackets and the event's
    padding are the renderer's, not the message's."""
    std = logging.getLogger("shop.console")
    kept = Kept()
    std.addHandler(kept)
    std.propagate = False
    try:
        log = through_stdlib(std, structlog.dev.ConsoleRenderer(colors=colors))
        getattr(log, level)("card_declined", amount=5)
        getattr(log, level)("a card was declined", amount=5)
    finally:
        std.removeHandler(kept)
    first, second = (normalize(capture(record)) for record in kept.records)
    assert (first["msg"], first["message"]) == ("card_declined amount=5",) * 2
    assert second["message"] == "a card was declined amount=5"


def test_escape_codes_in_an_extra_do_not_hide_a_secret(
        make_handler: MakeHandler, receiver: LocalReceiver, payments: logging.Logger) -> None:
    """A coloured ``password=...`` in an extra is scrubbed too."""
    handler = make_handler()
    payments.addHandler(handler)
    payments.error("login failed", extra={"detail": f"\x1b[36mpassword\x1b[0m=\x1b[35m{SECRET}"})
    (event,) = sent(handler, receiver)
    assert SECRET.encode() not in raw_bodies(receiver)
    assert event.records[0]["detail"] == "password=[scrubbed]"


# loguru ----------------------------------------------------------------------------------


@pytest.fixture
def loguru_sink(make_handler: MakeHandler) -> Iterator[Callable[..., IncidentIOHandler]]:
    """Add a handler to loguru's logger as a sink, with the options given; removed after."""
    added: list[int] = []

    def add(**options: Any) -> IncidentIOHandler:
        handler = make_handler()
        added.append(loguru.logger.add(handler, **options))
        return handler

    yield add
    for sink in added:
        loguru.logger.remove(sink)


#: The README's setup, the plain ``logger.add(handler)``, and one in colour.
SETUPS = {"documented": {"level": "ERROR", "format": "{message}", "diagnose": False},
          "plain": {}, "colorized": {"colorize": True}}


def test_a_plain_loguru_sink_sends_only_records_at_the_handlers_level(
        loguru_sink: Callable[..., IncidentIOHandler], receiver: LocalReceiver) -> None:
    """loguru calls the handler for every level; the handler's own level still applies."""
    handler = loguru_sink()
    loguru.logger.debug("cache warmed")
    loguru.logger.info("order accepted")
    loguru.logger.warning("slow response")
    loguru.logger.error("Payment provider unreachable")
    (event,) = sent(handler, receiver)
    assert event.title == f"ERROR {__name__}: Payment provider unreachable"
    assert handler.stats()["records_accepted"] == 1


@pytest.mark.parametrize("setup", SETUPS)
def test_loguru_titles_are_the_message_without_loguru_prefix(
        loguru_sink: Callable[..., IncidentIOHandler], receiver: LocalReceiver,
        setup: str) -> None:
    """No timestamp, level or location before the message."""
    handler = loguru_sink(**SETUPS[setup])
    loguru.logger.error("Payment provider unreachable")
    (event,) = sent(handler, receiver)
    assert event.title == f"ERROR {__name__}: Payment provider unreachable"
    assert event.records[0]["message"] == "Payment provider unreachable"


@pytest.mark.parametrize("setup", SETUPS)
def test_loguru_messages_of_one_pattern_group(
        loguru_sink: Callable[..., IncidentIOHandler], receiver: LocalReceiver,
        setup: str) -> None:
    """f-string messages that differ only by a value share one alert."""
    handler = loguru_sink(**SETUPS[setup])
    for order in (1041, 1042, 1043):
        loguru.logger.error(f"Card declined for order {order}")
    (event,) = sent(handler, receiver)
    assert len(event.records) == 3
    assert event.title == f"ERROR {__name__}: Card declined for order 1041 (+2 more)"


@pytest.mark.parametrize("setup", SETUPS)
def test_a_secret_in_a_loguru_message_is_scrubbed(
        loguru_sink: Callable[..., IncidentIOHandler], receiver: LocalReceiver,
        setup: str) -> None:
    """What loguru formats arrives as text: its key=value secrets are scrubbed there."""
    handler = loguru_sink(**SETUPS[setup])
    loguru.logger.error(f"login failed for user=svc password={SECRET}")
    (event,) = sent(handler, receiver)
    assert event.title.startswith(f"ERROR {__name__}: login failed for user=svc password=")
    assert SECRET.encode() not in raw_bodies(receiver)


def _connect(user: str, password: str) -> None:
    raise ConnectionRefusedError(f"login refused for {user}")


def _login() -> None:
    secret = SECRET + "-diagnosed"  # built at run time: only diagnose can print its value
    _connect("svc", secret)


@pytest.mark.parametrize("setup", SETUPS)
def test_a_loguru_exception_sends_its_traceback_once_and_no_local_values(
        loguru_sink: Callable[..., IncidentIOHandler], receiver: LocalReceiver,
        setup: str) -> None:
    """The traceback comes from exc_info only; diagnose's variable values never leave."""
    handler = loguru_sink(**SETUPS[setup])
    try:
        _login()
    except ConnectionRefusedError:
        loguru.logger.exception("login failed")
    (event,) = sent(handler, receiver)
    (record,) = event.records
    assert event.title == f"ERROR {__name__}: login failed"
    assert record["message"] == "login failed"
    assert "ConnectionRefusedError: login refused for svc" in record["exc_info"]
    assert event.payload["description"].count("Traceback (most recent call last)") == 1
    assert SECRET.encode() not in raw_bodies(receiver)


# What normalize leaves alone -----------------------------------------------------------


def _record(msg: object, **attrs: Any) -> dict[str, Any]:
    record = logging.makeLogRecord({"name": "shop", "levelname": "ERROR", "msg": msg,
                                    "funcName": "pay", "lineno": 12, **attrs})
    return normalize(capture(record))


def test_a_loguru_like_prefix_with_another_location_is_kept() -> None:
    """The prefix is cut only when it names the record's own level, logger, function, line."""
    line = "2026-01-02 10:00:00.000 | ERROR    | shop:pay:{} - payment failed"
    assert _record(line.format(12), extra={})["message"] == "payment failed"
    assert _record(line.format(13), extra={})["message"] == line.format(13)


def test_traceback_text_of_another_exception_stays_in_the_message() -> None:
    """Only the record's own exception is cut from the text."""
    text = "retry gave up\nTraceback (most recent call last):\n  ...\nKeyError: 'card'"
    own = exc_info_of(KeyError("card"))
    other = exc_info_of(ValueError("bad amount"))
    assert _record(text, exc_info=own)["message"] == "retry gave up"
    assert _record(text, exc_info=other)["message"] == text


def test_an_odd_exc_info_leaves_the_message_as_it_is() -> None:
    """``exc_info=True`` set on a record by hand is no exception to cut from the text."""
    text = "retry gave up\nTraceback (most recent call last):\n  ...\nKeyError: 'card'"
    assert _record(text, exc_info=True)["message"] == text


def test_a_console_like_prefix_of_another_level_or_logger_is_kept() -> None:
    """The prefix is cut only when its level is the record's own; the logger in brackets
    only when it is the record's own logger."""
    line = "2026-01-02T10:00:00.000000Z [{}] card_declined                  [{}] amount=5"
    assert _record(line.format("error    ", "shop"))["message"] == "card_declined amount=5"
    assert _record(line.format("warning  ", "shop"))["message"] == line.format(
        "warning  ", "shop")
    assert _record(line.format("error    ", "other"))["message"] == (
        "card_declined [other] amount=5")
    text = "payment gateway [error] refused the capture"
    assert _record(text)["message"] == text


def _charge_with_a_code(order: str, reset_code: str) -> None:
    raise ConnectionError(f"gateway refused order {order}")


def test_a_rich_console_renderer_traceback_is_cut_and_its_locals_not_sent(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """With rich installed, structlog's ConsoleRenderer draws a boxed traceback showing
    every frame's locals, with no "Traceback (most recent call last):" line of its own:
    it is cut like the plain one, and the local's value is sent nowhere."""
    pytest.importorskip("rich")
    handler = make_handler()
    logger.addHandler(handler)
    log = structlog.wrap_logger(
        logger, wrapper_class=structlog.stdlib.BoundLogger,
        processors=[structlog.stdlib.add_log_level,
                    structlog.dev.ConsoleRenderer(colors=False)])
    secret = "-".join(("Q7x9", "k2Lm", "p0Zr"))  # not a literal in the source lines
    try:
        _charge_with_a_code("A-1", secret)
    except ConnectionError:
        log.exception("charge_failed", order="A-1")
    assert handler.flush(5)
    body = json.dumps([event.payload for event in receiver.events])
    assert secret not in body
    assert "_charge_with_a_code" in body  # the handler's own traceback still arrives
