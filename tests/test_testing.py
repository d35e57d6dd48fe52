"""The local receiver answers as incident.io does."""

from __future__ import annotations

import json
from typing import Any

import requests

from incidentio_logging.testing import LocalReceiver


def post(receiver: LocalReceiver, body: Any, *, token: str | None = None,
         source: str | None = None) -> requests.Response:
    url = f"{receiver.endpoint}/v2/alert_events/http/{source or receiver.source_id}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url, data=data, timeout=5, headers={
        "Authorization": f"Bearer {token or receiver.api_token}",
        "Content-Type": "application/json"})


VALID = {"title": "t", "status": "firing", "deduplication_key": "k1",
         "metadata": {"data": [{"message": "m"}]}}


def test_a_valid_event_gets_202_and_is_kept(receiver: LocalReceiver) -> None:
    """202 with incident.io's success body; the event is readable afterwards."""
    reply = post(receiver, VALID)
    assert reply.status_code == 202
    assert reply.json() == {"deduplication_key": "k1", "status": "success",
                            "message": "Event accepted for processing"}
    (event,) = receiver.wait_for(1)
    assert (event.title, event.status, event.records) == ("t", "firing", [{"message": "m"}])


def test_a_wrong_token_gets_401(receiver: LocalReceiver) -> None:
    """authentication_error, nothing kept."""
    reply = post(receiver, VALID, token="wrong")
    assert (reply.status_code, reply.json()["type"]) == (401, "authentication_error")
    assert receiver.events == []


def test_an_unknown_source_gets_404(receiver: LocalReceiver) -> None:
    """not_found for another alert source config id."""
    assert post(receiver, VALID, source="01OTHER").status_code == 404


def test_invalid_bodies_get_422_with_the_field(receiver: LocalReceiver) -> None:
    """Missing key, bad status, NaN and non-objects are validation errors."""
    cases = [
        ({**VALID, "deduplication_key": None}, "deduplication_key"),
        ({**VALID, "status": "open"}, "status"),
        ({**VALID, "title": ""}, "title"),
        ({**VALID, "metadata": [1]}, "metadata"),
        (b'{"title": "t", "x": NaN}', "body"),
    ]
    for body, field in cases:
        reply = post(receiver, body)
        assert reply.status_code == 422, body
        assert reply.json()["errors"][0]["source"]["field"] == field
    missing = post(receiver, {k: v for k, v in VALID.items() if k != "deduplication_key"})
    assert missing.json()["errors"][0]["message"] == "Deduplication key is required"


def test_an_oversized_body_gets_413(receiver: LocalReceiver) -> None:
    """More than 512 KiB is payload_too_large."""
    big = {**VALID, "description": "x" * (600 * 1024)}
    assert post(receiver, big).status_code == 413


def test_scripted_replies_come_first_then_normal_service(receiver: LocalReceiver) -> None:
    """script() rehearses failures, in order."""
    receiver.script(503, 429)
    assert [post(receiver, VALID).status_code for _ in range(3)] == [503, 429, 202]
