"""Groups to event bodies: titles, dedup keys, metadata, and the size budget."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging._events import (
    BODY_BUDGET,
    TEMPLATE_FIELDS,
    EventBuilder,
    template_fields,
)
from incidentio_logging._grouping import Group, Window, fingerprint_key
from incidentio_logging._record import capture
from incidentio_logging.testing import LocalReceiver

from .conftest import exc_info_of, strict_json

MINUTE = 1_790_000_000.0 - 1_790_000_000.0 % 60  # the start of some UTC minute


def group(*messages: str, logger: str = "shop.payments", exc: bool = False,
          max_batch_size: int = 250, **extra: Any) -> Group:
    window = Window(fingerprint_key, max_batch_size)
    for message in messages:
        exc_info = exc_info_of(KeyError("sku-9")) if exc else None
        record = logging.getLogger(logger).makeRecord(
            logger, logging.ERROR, "f.py", 1, "%s", (message,), exc_info, extra=extra)
        window.add(capture(record))
    (only,) = window.take()
    return only


def builder(now: float = MINUTE, **options: Any) -> EventBuilder:
    settings: dict[str, Any] = {"metadata": {}, "title": None, "description": None,
                                "source_url": None, "dedup": "batch"}
    return EventBuilder(**{**settings, **options}, wall_clock=lambda: now)


def payload(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = strict_json(body)
    return data


def test_the_default_title_names_level_logger_message_and_how_many_more() -> None:
    """Not a bare count: on-call sees what broke."""
    event = builder().build(group("Card declined for A-1", "Card declined for A-2",
                                  "Card declined for A-3"))
    assert event.title == "ERROR shop.payments: Card declined for A-1 (+2 more)"
    assert builder().build(group("Only one")).title == "ERROR shop.payments: Only one"


def test_a_title_template_with_named_fields() -> None:
    """{level} {logger} {message} {count} {more} {exc_type} are filled in."""
    event = builder(title="[{count}] {exc_type} in {logger}: {message}").build(
        group("lookup failed", "lookup failed", exc=True))
    assert event.title == "[2] KeyError in shop.payments: lookup failed"


def test_a_template_may_use_exactly_the_fields_the_builder_fills() -> None:
    """One declaration: the configuration's list of fields is the event builder's."""
    assert set(template_fields(group("lookup failed", exc=True))) == TEMPLATE_FIELDS
    every = " ".join(f"{{{name}}}" for name in sorted(TEMPLATE_FIELDS))
    event = builder(title=every).build(group("lookup failed", "lookup failed", exc=True))
    assert event.title == "2 'sku-9' KeyError ERROR shop.payments lookup failed 1"


def test_an_unknown_template_field_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"^title uses unknown field \{nope\}; known fields: "
                       r"count, exc_message, exc_type, level, logger, message, more$"):
        IncidentIOHandler(api_token="t" * 20, alert_source_config_id="01ABC", title="{nope}")


def test_the_body_is_a_firing_event_with_records_in_metadata_data() -> None:
    """Status, key, description, source_url, configured metadata and the records."""
    event = builder(metadata={"service": "checkout", "data": "not mine"},
                    source_url="https://grafana.example/d/1").build(
        group("first", "second", exc=True, order_id="A-1"))
    body = payload(event.body)
    assert body["status"] == "firing"
    assert body["deduplication_key"] == event.deduplication_key
    assert body["source_url"] == "https://grafana.example/d/1"
    assert body["metadata"]["service"] == "checkout"
    assert [r["message"] for r in body["metadata"]["data"]] == ["first", "second"]
    assert body["metadata"]["data"][0]["order_id"] == "A-1"
    summary = body["metadata"]["incidentio_logging"]
    assert (summary["records"], summary["omitted_records"]) == (2, 0)
    assert "KeyError: 'sku-9'" in body["description"]
    assert "**2 ERROR records**" in body["description"]


def description(g: Group, first: float, last: float) -> str:
    g.records[0].created, g.last_created = first, last
    return str(payload(builder().build(g).body)["description"])


def test_the_description_says_at_for_one_moment_and_between_for_a_span() -> None:
    """Times as shown, to the second: one record, or several within one second, happened
    "at" a time; a span reads "between" two different times. Counts are plural only
    when they are more than one."""
    one = description(group("disk full"), MINUTE + 27.2, MINUTE + 27.2)
    assert "**1 ERROR record** from `shop.payments` at " in one
    assert "between" not in one and "record(s)" not in one
    clock = one.split(" at ", 1)[1].split(" UTC.", 1)[0]
    assert len(clock) == 8 and clock.endswith(":27")
    same_second = description(group("a", "b"), MINUTE + 27.1, MINUTE + 27.9)
    assert f"**2 ERROR records** from `shop.payments` at {clock} UTC." in same_second
    span = description(group("a", "b"), MINUTE + 27.9, MINUTE + 28.0)
    assert f"**2 ERROR records** from `shop.payments` between {clock} and " in span
    assert span.split(" and ", 1)[1].startswith(clock[:-2] + "28 UTC.")


def test_a_message_holding_a_fence_stays_inside_its_code_block() -> None:
    """Log content is untrusted: a message with its own ``` line cannot close the block
    around it, so what follows never renders as markdown on incident.io."""
    text = description(group("before\n```\n[click](https://evil.example)\n````x"),
                       MINUTE, MINUTE)
    block = text.split("\n\n", 1)[1]
    fence = block.split("\n", 1)[0]
    assert fence == "`````"
    assert block.endswith("\n" + fence)
    assert block.count(fence) == 2


def test_batch_keys_follow_the_data_and_the_utc_minute() -> None:
    """The reference's key: same records in the same minute match; a new minute differs."""
    records = group("a", "b")
    same = builder(now=MINUTE + 1).build(records).deduplication_key
    assert builder(now=MINUTE + 59).build(records).deduplication_key == same
    assert builder(now=MINUTE + 60).build(records).deduplication_key != same
    assert builder(now=MINUTE + 1).build(group("a", "b")).deduplication_key != same


def test_fingerprint_keys_are_stable_across_windows_and_time() -> None:
    """One problem, one key: different args, a day later, a new builder."""
    first = builder(dedup="fingerprint").build(group("x")).deduplication_key
    later = builder(now=MINUTE + 86_400, dedup="fingerprint").build(group("y", "z"))
    assert later.deduplication_key == first
    other = builder(dedup="fingerprint").build(group("x", logger="shop.refunds"))
    assert other.deduplication_key != first


def test_the_body_stays_under_budget_and_counts_what_it_left_out() -> None:
    """250 records of 12 KiB cannot all fit: the surplus is omitted and counted."""
    event = builder().build(group(*["m" * 12_000] * 250))
    assert len(event.body) <= BODY_BUDGET
    body = payload(event.body)
    kept = len(body["metadata"]["data"])
    assert 0 < kept < 250
    assert event.omitted_size == 250 - kept
    assert body["metadata"]["incidentio_logging"]["omitted_records"] == 250 - kept


def test_records_past_max_batch_size_are_counted_in_metadata() -> None:
    """A flood is summarised, not sent."""
    event = builder().build(group(*["x"] * 30, max_batch_size=5))
    body = payload(event.body)
    assert len(body["metadata"]["data"]) == 5
    assert body["metadata"]["incidentio_logging"]["omitted_records"] == 25
    assert event.omitted_batch == 25
    assert event.title.endswith("(+29 more)")


@pytest.mark.parametrize("token", ["tok-0123456789abcdef", "short"])
def test_the_token_is_masked_if_a_record_carries_it(token: str) -> None:
    """Even a message that contains the API token does not send it."""
    event = builder(redact=token).build(group(f"config is {token}"))
    assert token.encode() not in event.body
    payload(event.body)


def test_overlong_titles_are_cut() -> None:
    """Titles stay short whatever the message."""
    assert len(builder().build(group("t" * 5000)).title) <= 250


def test_records_past_the_budget_are_never_serialized() -> None:
    """Once the body is full, the remaining records are counted without being encoded."""
    serialized: list[str] = []
    events = builder()
    real = events._serializer.serialize

    def counting(record: logging.LogRecord) -> bytes:
        serialized.append(record.getMessage())
        return real(record)

    events._serializer.serialize = counting  # type: ignore[method-assign]
    event = events.build(group(*["m" * 12_000] * 250))
    assert len(serialized) == event.delivered_records + 1  # the one that did not fit


SECRET_MESSAGE = ("login failed password=hunter2 api_key: abc123 sent BeArEr xyzxyzxyz9 "
                  "to postgres://app:s3cret@db:5432/shop")


def test_secrets_in_titles_and_descriptions_are_scrubbed() -> None:
    """Titles and descriptions go through the same scrubbing as extras: key=value and
    key: value pairs, Bearer values in any case, URL passwords."""
    window = Window(fingerprint_key, 250)
    window.add(capture(logging.getLogger("shop").makeRecord(
        "shop.auth", logging.ERROR, "f.py", 1, SECRET_MESSAGE, None,
        exc_info_of(ValueError(SECRET_MESSAGE)))))
    (only,) = window.take()
    for events in (builder(), builder(title="{exc_message}", description="{exc_message}!")):
        event = events.build(only)
        body = payload(event.body)
        for text in (event.title, body["title"], body["description"],
                     body["metadata"]["data"][0]["message"],
                     body["metadata"]["data"][0]["exc_info"]):
            assert "password=[scrubbed]" in text and "api_key: [scrubbed]" in text
            assert "BeArEr [scrubbed]" in text and "app:[scrubbed]@db:5432/shop" in text
        for secret in (b"hunter2", b"abc123", b"xyzxyzxyz9", b"s3cret"):
            assert secret not in event.body


def test_a_card_number_in_a_formatted_request_is_scrubbed() -> None:
    """``log.error("%s", request)`` with a card in the query string: title and body."""

    class Request:
        def __str__(self) -> str:
            return "<WSGIRequest: GET '/pay/?cc=4111-1111-1111-1111&amount=5'>"

    window = Window(fingerprint_key, 250)
    window.add(capture(logging.getLogger("shop").makeRecord(
        "django.request", logging.ERROR, "f.py", 1, "%s", (Request(),), None)))
    event = builder().build(window.take()[0])
    assert event.title == "ERROR django.request: <WSGIRequest: GET '/pay/?cc=[scrubbed]&amount=5'>"
    assert b"4111" not in event.body
    (record,) = payload(event.body)["metadata"]["data"]
    assert record["message"].endswith("cc=[scrubbed]&amount=5'>")


@pytest.mark.timeout(20)
def test_records_a_day_apart_are_not_described_as_one_moment(
        make_handler: Any, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """A nightly job failing at 02:00:00 two nights running, with ``threshold=2,
    threshold_window=86400`` (the largest allowed): the description said
    "**2 ERROR records** ... at 02:00:00 UTC." The times were compared as HH:MM:SS only,
    so records 23 h 59 m 59 s apart read as one moment. Records' own times are set, as a
    handler receives them; no clock is involved."""
    handler = make_handler(threshold=2, threshold_window=86_400)
    logger.addHandler(handler)
    night = 1_795_831_200  # 2026-11-28 02:00:00 UTC
    for created in (night - 86_400 + 0.95, night + 0.5):
        record = logger.makeRecord(logger.name, logging.ERROR, "job.py", 1,
                                   "nightly export failed", (), None)
        record.created, record.msecs = created, (created % 1) * 1000
        logger.handle(record)
    assert handler.flush(5)
    (event,) = receiver.events
    description = event.payload["description"]
    assert "**2 ERROR records** from `tests.app" in description
    assert ("between 2026-11-27 02:00:00 and 2026-11-28 02:00:00 UTC."
            in description), description


def test_a_span_across_midnight_shows_both_dates() -> None:
    """23:59:59 to 00:00:01 read "between 23:59:59 and 00:00:01": backwards."""
    midnight = 1_795_824_000.0  # 2026-11-28 00:00:00 UTC
    span = description(group("a", "b"), midnight - 1, midnight + 1.5)
    assert "between 2026-11-27 23:59:59 and 2026-11-28 00:00:01 UTC." in span
