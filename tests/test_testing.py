"""The local receiver answers as incident.io does."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from incidentio_logging.testing import DEFAULT_SOURCE, DEFAULT_TOKEN, LocalReceiver, Scripted

from .conftest import ipv6_loopback
from .harness import ROOT


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


def test_odd_metadata_is_accepted_and_shown_as_it_is(receiver: LocalReceiver,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """metadata.data = 5 and data = [1, 2] are valid events: kept, listed by the page's
    JSON, and printed by the console display, which used to fail on both."""
    from incidentio_logging._receiver_views import show

    assert post(receiver, {**VALID, "metadata": {"data": 5}}).status_code == 202
    assert post(receiver, {**VALID, "deduplication_key": "k2",
                           "metadata": {"data": [1, 2]}}).status_code == 202
    page = requests.get(f"{receiver.endpoint}/api/alerts", timeout=5)
    assert page.status_code == 200
    by_key = {alert["key"]: alert for alert in page.json()}
    assert by_key["k1"]["metadata"] == {"data": 5}
    assert by_key["k2"]["latest_records"] == [1, 2]
    for event in receiver.events:
        show(event)
    out = capsys.readouterr().out
    assert 'metadata: {"data": 5}' in out
    assert "records:  2\n      1\n      2" in out


def test_the_console_shows_a_records_extras_beside_its_message(
        capsys: pytest.CaptureFixture[str]) -> None:
    """What the serializer takes from the record itself is not repeated as an extra."""
    from incidentio_logging import IncidentIOHandler
    from incidentio_logging._receiver_views import show

    with LocalReceiver() as receiver:
        handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05)
        try:
            logger = logging.getLogger("shop.console")
            logger.addHandler(handler)
            try:
                {}["sku-9"]
            except KeyError:
                logger.error("Stock lookup failed", exc_info=True, stack_info=True,
                             extra={"order_id": "A-1"})
            finally:
                logger.removeHandler(handler)
            (event,) = receiver.wait_for(1, 5.0)
        finally:
            handler.close()
    show(event)
    out = capsys.readouterr().out
    assert 'ERROR shop.console: Stock lookup failed  {"order_id": "A-1"}\n' in out


def test_a_failing_on_event_still_gets_its_answer() -> None:
    """The sender gets 202 even when the display callback raises."""
    def broken(event: object) -> None:
        raise RuntimeError("display failed")

    with LocalReceiver(on_event=broken) as receiver:
        assert post(receiver, VALID).status_code == 202
        assert post(receiver, VALID).status_code == 202


@pytest.mark.parametrize("depth", [300, 100_000])
def test_deep_nesting_gets_422_and_the_receiver_keeps_working(receiver: LocalReceiver,
                                                               depth: int) -> None:
    """Nesting too deep to parse (or to show) is a JSON validation error, not a dead
    request; the receiver and its page go on working."""
    body = (b'{"title": "t", "status": "firing", "deduplication_key": "k",'
            b' "metadata": {"x": ' + b"[" * depth + b"]" * depth + b"}}")
    reply = post(receiver, body)
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["source"]["field"] == "body"
    assert post(receiver, VALID).status_code == 202
    assert requests.get(f"{receiver.endpoint}/api/alerts", timeout=5).status_code == 200


def raw_post(receiver: LocalReceiver, content_length: str) -> http.client.HTTPResponse:
    """A POST whose Content-Length header is exactly ``content_length``, with no body."""
    connection = http.client.HTTPConnection("127.0.0.1", receiver_port(receiver), timeout=5)
    connection.putrequest("POST", receiver.webhook_url.split(str(receiver_port(receiver)))[1])
    connection.putheader("Authorization", f"Bearer {receiver.api_token}")
    connection.putheader("Content-Length", content_length)
    connection.endheaders()
    return connection.getresponse()


def receiver_port(receiver: LocalReceiver) -> int:
    """The port the receiver listens on, for a connection made by hand."""
    return int(receiver.endpoint.rsplit(":", 1)[1])


@pytest.mark.timeout(20)
@pytest.mark.parametrize("content_length", ["abc", "-1", "1e3"])
def test_a_bad_content_length_gets_400_json_and_nothing_is_read(receiver: LocalReceiver,
                                                                content_length: str) -> None:
    """No reply at all for "abc" before; "-1" read the body to EOF with no cap (the socket
    here stays open, so that read would never end). Now: 400 with a JSON error at once,
    the connection closed, and the receiver still serving."""
    reply = raw_post(receiver, content_length)
    assert reply.status == 400
    assert reply.getheader("Connection") == "close"
    error = json.loads(reply.read())
    assert (error["status"], error["type"]) == (400, "invalid_request")
    assert post(receiver, VALID).status_code == 202
    assert receiver.events[-1].title == "t"


@pytest.mark.timeout(20)
def test_a_huge_content_length_is_refused_unread(receiver: LocalReceiver) -> None:
    """A body declared far past the 512 KiB cap gets 413 without being read."""
    reply = raw_post(receiver, str(10**12))
    assert reply.status == 413
    assert reply.getheader("Connection") == "close"
    assert json.loads(reply.read())["type"] == "payload_too_large"


def test_a_malformed_request_gets_a_json_error(receiver: LocalReceiver) -> None:
    """A request line http.server cannot parse is answered in JSON, as the API answers."""
    with socket.create_connection(("127.0.0.1", receiver_port(receiver)), timeout=5) as raw:
        raw.sendall(b"POST /v2/alert_events/http/x HTTP/9.9\r\n\r\n")
        head, _, body = raw.makefile("rb").read().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 505")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["status"] == 505
    assert post(receiver, VALID).status_code == 202


def test_the_receiver_refuses_a_host_beyond_loopback() -> None:
    """0.0.0.0 would put the page, which has no authentication, on the network."""
    with pytest.raises(ValueError, match="not a loopback address"):
        LocalReceiver(host="0.0.0.0")


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_the_receiver_serves_on_ipv6_loopback() -> None:
    """host="::1" used to fail with gaierror: it listens on IPv6, with a bracketed URL."""
    with LocalReceiver(host="::1") as receiver:
        assert receiver.endpoint.startswith("http://[::1]:")
        assert post(receiver, VALID).status_code == 202


def test_an_unwritable_jsonl_path_is_refused_at_start(tmp_path: Any) -> None:
    """Before: the receiver started, then failed every event it had already stored."""
    with pytest.raises(OSError):
        LocalReceiver(jsonl=str(tmp_path / "missing" / "events.jsonl"))


def test_refusing_also_shuts_a_pooled_keep_alive_connection(receiver: LocalReceiver,
                                                            make_handler: Any,
                                                            logger: Any) -> None:
    """A handler that already holds a keep-alive connection must not get through while
    refusing: before, its next event was delivered over the old connection."""
    handler = make_handler(max_retries=0)
    logger.addHandler(handler)
    logger.error("first")
    assert handler.flush(5)
    receiver.refuse_connections()
    logger.error("second, while refusing")
    assert not handler.flush(1)
    assert len(receiver.events) == 1
    receiver.accept_connections()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failing_jsonl_write_is_said_and_the_event_still_answered(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A full disk costs the file its line, not the sender its 202 (no retry, no copy)."""
    with LocalReceiver(jsonl="/dev/full") as receiver:
        assert post(receiver, VALID).status_code == 202
        assert len(receiver.events) == 1
    assert "receiver: could not append to /dev/full" in capsys.readouterr().err


def test_the_receiver_keeps_its_own_token_whatever_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the command reads the app's variables; a test's receiver stays predictable."""
    monkeypatch.setenv("INCIDENT_IO_API_TOKEN", "app-token")
    monkeypatch.setenv("INCIDENT_IO_ALERT_SOURCE_CONFIG_ID", "01APPSOURCE")
    with LocalReceiver() as receiver:
        assert (receiver.api_token, receiver.source_id) == (DEFAULT_TOKEN, DEFAULT_SOURCE)


def raw_exchange(receiver: LocalReceiver, request: bytes) -> bytes:
    """Send ``request`` on one connection and read every byte the receiver answers."""
    with socket.create_connection(("127.0.0.1", receiver_port(receiver)), timeout=5) as raw:
        # A receiver that answers before the end of the body (a 413) may close while the
        # rest is being sent; its answer is still there to read.
        with contextlib.suppress(OSError):
            raw.sendall(request)
            raw.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := raw.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON: a browser's JSON.parse throws on it")


@pytest.mark.timeout(20)
def test_a_float_overflow_in_an_event_does_not_freeze_the_page(receiver: LocalReceiver) -> None:
    """``1e999`` is valid JSON syntax; Python parses it to inf and /api/alerts then wrote
    ``Infinity``, which the page's JSON.parse rejects: the page stopped updating for the
    rest of the session. The event is refused (422) and /api/alerts stays strict JSON."""
    body = (b'{"title":"overflow","status":"firing","deduplication_key":"k-inf",'
            b'"metadata":{"latency":1e999}}')
    overflow = post(receiver, body)
    assert overflow.status_code == 422
    assert overflow.json()["errors"][0]["source"] == {"field": "body"}
    assert post(receiver, VALID).status_code == 202
    text = requests.get(receiver.endpoint + "/api/alerts", timeout=5).text
    alerts = json.loads(text, parse_constant=_no_constants)
    assert [a["title"] for a in alerts] == ["t"]


def chunked_request(receiver: LocalReceiver, payload: bytes, size: int) -> bytes:
    """A POST of ``payload`` in chunks of ``size`` bytes."""
    chunks = b"".join(b"%x\r\n" % len(payload[i:i + size]) + payload[i:i + size] + b"\r\n"
                      for i in range(0, len(payload), size))
    return (f"POST /v2/alert_events/http/{receiver.source_id} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Bearer {receiver.api_token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode() + chunks + b"0\r\n\r\n"


@pytest.mark.timeout(20)
def test_a_chunked_event_gets_one_answer(receiver: LocalReceiver) -> None:
    """Transfer-Encoding: chunked is plain HTTP/1.1 (requests uses it for a generator
    body). The receiver ignored it, read no body, answered 422, then parsed the chunks as
    a second request and answered 400: two replies to one request. Now it reads the
    chunks, as incident.io does, and answers once."""
    payload = json.dumps(VALID).encode()
    answer = raw_exchange(receiver, chunked_request(receiver, payload, 7))
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert answer.startswith(b"HTTP/1.1 202"), answer
    (event,) = receiver.events
    assert event.payload == VALID


@pytest.mark.timeout(20)
def test_a_chunked_body_from_a_client_and_one_too_large(receiver: LocalReceiver) -> None:
    """A generator body, as requests sends it, is accepted; chunks adding up past the
    512 KiB limit get one 413 and the connection ends there."""
    payload = json.dumps(VALID).encode()
    reply = requests.post(receiver.webhook_url, data=iter([payload[:5], payload[5:]]),
                          timeout=5, headers={"Authorization": f"Bearer {receiver.api_token}"})
    assert reply.status_code == 202
    big = json.dumps({**VALID, "description": "x" * 600_000}).encode()
    answer = raw_exchange(receiver, chunked_request(receiver, big, 65536))
    assert answer.count(b"HTTP/1.1 ") == 1 and answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert len(receiver.events) == 1


@pytest.mark.timeout(20)
def test_conflicting_content_lengths_get_400(receiver: LocalReceiver) -> None:
    """Two Content-Length headers that disagree are a malformed request (RFC 9112 6.3);
    the receiver took the first and stored the event (202)."""
    payload = json.dumps(VALID).encode()
    request = (f"POST /v2/alert_events/http/{receiver.source_id} HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nAuthorization: Bearer {receiver.api_token}\r\n"
               f"Content-Length: {len(payload)}\r\nContent-Length: 5\r\n\r\n"
               ).encode() + payload
    answer = raw_exchange(receiver, request)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert receiver.events == []


@pytest.mark.timeout(20)
def test_a_utf16_body_is_not_json_for_the_api(receiver: LocalReceiver) -> None:
    """JSON between systems must be UTF-8 (RFC 8259 8.1); json.loads(bytes) also guesses
    UTF-16 and UTF-32, so the receiver accepted a body incident.io would refuse."""
    reply = post(receiver, json.dumps(VALID).encode("utf-16"))
    assert reply.status_code == 422, reply.text
    assert receiver.events == []


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "events.fifo"
    os.mkfifo(path)
    assert stat.S_ISFIFO(path.stat().st_mode)
    return path


@pytest.mark.timeout(20)
def test_a_jsonl_fifo_without_a_reader_does_not_hang_the_start(fifo: Path) -> None:
    """``--jsonl`` naming a FIFO nobody reads: open() blocked for ever, before listening
    and without a word. Now it is refused at once, saying why."""
    outcome: list[Any] = []

    def build() -> None:
        try:
            outcome.append(LocalReceiver(jsonl=str(fifo)))
        except (OSError, ValueError) as exc:
            outcome.append(exc)

    starter = threading.Thread(target=build, daemon=True)
    starter.start()
    starter.join(3)
    hung = starter.is_alive()
    if hung:  # let the blocked open() finish so the thread ends
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        starter.join(5)
        os.close(reader)
    for built in outcome:
        if isinstance(built, LocalReceiver):
            built.start().stop()
    assert not hung, "LocalReceiver(jsonl=<fifo without a reader>) never returned"
    (refused,) = outcome
    assert isinstance(refused, OSError) and "no reader" in str(refused)


@pytest.mark.timeout(30)
def test_a_stalled_jsonl_reader_does_not_stop_the_receiver(fifo: Path) -> None:
    """``--jsonl >(slow-consumer)``: once the pipe was full, the write blocked while
    holding the receiver's lock, so every other request (other senders, the page's
    /api/alerts, and stop()) waited with it. Lines are now written on a thread of their
    own: the sender has its 202 and the page answers while the write waits."""
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
    receiver = LocalReceiver(jsonl=str(fifo)).start()
    big = json.dumps({**VALID, "description": "x" * 200_000}).encode()  # > a pipe's buffer
    try:
        assert post(receiver, big).status_code == 202
        page = requests.get(receiver.endpoint + "/api/alerts", timeout=3)
        assert page.status_code == 200 and len(page.json()) == 1
    finally:
        os.close(reader)  # the blocked write now fails (EPIPE) and the writer resumes
        receiver.stop()


@pytest.mark.timeout(20)
@pytest.mark.parametrize("call", ["stop", "refuse_connections"])
def test_stopping_a_receiver_that_never_started_returns(call: str) -> None:
    """``stop()`` on a receiver built but not started (a setup that failed between the
    two) waited for ever in ``socketserver.shutdown()``, for a ``serve_forever`` that
    never ran; ``refuse_connections()`` too."""
    receiver = LocalReceiver()
    stopper = threading.Thread(target=getattr(receiver, call), daemon=True)
    stopper.start()
    stopper.join(3)
    hung = stopper.is_alive()
    if hung:  # unblock it: serve once so shutdown() is answered
        receiver.start()
        stopper.join(5)
    receiver.stop()
    assert not hung, f"LocalReceiver().{call}() never returned"


@pytest.mark.parametrize("port", [-1, 65536, 70000])
def test_a_port_out_of_range_is_a_value_error_naming_it(port: int) -> None:
    """It was an OverflowError from the socket, naming nothing."""
    with pytest.raises(ValueError, match="port must be a whole number from 0 to 65535"):
        LocalReceiver(port=port)


@pytest.mark.timeout(20)
def test_a_request_held_across_a_crash_is_not_stored(receiver: LocalReceiver) -> None:
    """hold(), refuse_connections(), release(): the held request was answered and stored
    as if the "crashed" server had processed it. It is now lost, as on a real crash."""
    def send() -> None:
        with contextlib.suppress(requests.RequestException):  # the reset, as after a crash
            post(receiver, VALID)

    receiver.hold()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    receiver.wait_in_flight(1, 5)
    receiver.refuse_connections()
    receiver.release()
    sender.join(5)
    receiver.accept_connections()
    assert receiver.events == []
    assert [a.status for a in receiver.attempts] == [0]


def test_an_unknown_page_is_404(receiver: LocalReceiver) -> None:
    """It was 405 "use POST", which says the path exists."""
    reply = requests.get(receiver.endpoint + "/nope", timeout=5)
    assert reply.status_code == 404
    assert reply.json()["errors"][0]["code"] == "not_found"


def test_a_payload_received_at_does_not_override_the_receivers(tmp_path: Path) -> None:
    """JSON Lines: a payload key ``received_at`` replaced the receiver's timestamp."""
    path = tmp_path / "events.jsonl"
    with LocalReceiver(jsonl=str(path)) as receiver:
        post(receiver, {**VALID, "received_at": "spoofed"})
        (event,) = receiver.events
    (line,) = [json.loads(text) for text in path.read_text().splitlines()]
    assert line["received_at"] == event.received_at


def test_the_readme_lists_the_rate_limit_fault_mode() -> None:
    """README's "Does my app still alert?" listed the receiver's fault modes but not
    ``rate_limit``, the one a fleet's users need to rehearse incident.io's 429."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "receiver.rate_limit(1200, window=60)" in readme
    with LocalReceiver() as receiver:
        receiver.rate_limit(1, window=60)
        statuses = [post(receiver, VALID).status_code for _ in range(2)]
    assert statuses == [202, 429]
