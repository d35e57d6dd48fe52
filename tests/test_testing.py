"""The local receiver answers as incident.io does."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from incidentio_logging.testing import LocalReceiver, Scripted


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


def test_events_can_be_appended_to_a_jsonl_file(tmp_path: Any) -> None:
    """--jsonl: one JSON object per accepted event, with when it arrived."""
    path = tmp_path / "events.jsonl"
    with LocalReceiver(jsonl=str(path)) as receiver:
        post(receiver, VALID)
        post(receiver, {**VALID, "status": "resolved"})
        post(receiver, VALID, token="wrong")  # refused: not written
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["status"] for line in lines] == ["firing", "resolved"]
    assert all("received_at" in line for line in lines)


def test_the_receiver_command_serves_until_stopped() -> None:
    """`python -m incidentio_logging receiver` prints where it listens and what to export."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "incidentio_logging", "receiver",
                               "--port", str(port)], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith(f"Listening on http://127.0.0.1:{port}")
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "Alerts received" in page.text
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
    assert server.returncode == 0


def test_fault_modes_as_a_client_sees_them(receiver: LocalReceiver) -> None:
    """A raw body comes back byte for byte; a reset is a connection error, logged as
    status 0 and never kept; a slow reply still processes the event first."""
    receiver.script(Scripted(202, raw=b"{oops"), Scripted(reset=True), Scripted(delay=0.3))
    assert post(receiver, VALID).content == b"{oops"
    with pytest.raises(requests.ConnectionError):
        post(receiver, {**VALID, "deduplication_key": "k2"})
    started = time.monotonic()
    assert post(receiver, {**VALID, "deduplication_key": "k3"}).status_code == 202
    assert time.monotonic() - started >= 0.3
    assert [a.status for a in receiver.attempts] == [202, 0, 202]
    assert [e.deduplication_key for e in receiver.events] == ["k1", "k3"]


def test_refused_connections_come_back_on_the_same_port(receiver: LocalReceiver) -> None:
    """refuse_connections() closes the socket; accept_connections() listens again."""
    endpoint = receiver.endpoint
    receiver.refuse_connections()
    with pytest.raises(requests.ConnectionError):
        post(receiver, VALID)
    receiver.accept_connections()
    assert receiver.endpoint == endpoint
    assert post(receiver, VALID).status_code == 202
