"""Adversarial review of issue 14 (the receiver, its page and its command): what broke."""

from __future__ import annotations

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

from incidentio_logging.__main__ import main
from incidentio_logging.pytest_plugin import Receiver
from incidentio_logging.testing import LocalReceiver

VALID = {"title": "t", "status": "firing", "deduplication_key": "k1"}


def post(receiver: LocalReceiver, body: bytes, timeout: float = 5) -> requests.Response:
    return requests.post(receiver.webhook_url, data=body, timeout=timeout, headers={
        "Authorization": f"Bearer {receiver.api_token}", "Content-Type": "application/json"})


def port_of(receiver: LocalReceiver) -> int:
    return int(receiver.endpoint.rsplit(":", 1)[1])


def raw_exchange(receiver: LocalReceiver, request: bytes) -> bytes:
    """Send ``request`` on one connection and read every byte the receiver answers."""
    with socket.create_connection(("127.0.0.1", port_of(receiver)), timeout=5) as raw:
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
    """``1e999`` is valid JSON syntax; Python parses it to inf and /api/alerts then writes
    ``Infinity``, which the page's JSON.parse rejects: the page stops updating for the
    rest of the session (seen in Chromium: later alerts never appear). Either refuse the
    event (422) or keep /api/alerts strict JSON."""
    body = (b'{"title":"overflow","status":"firing","deduplication_key":"k-inf",'
            b'"metadata":{"latency":1e999}}')
    overflow = post(receiver, body)
    assert post(receiver, json.dumps(VALID).encode()).status_code == 202
    text = requests.get(receiver.endpoint + "/api/alerts", timeout=5).text
    alerts = json.loads(text, parse_constant=_no_constants)
    assert "t" in [a["title"] for a in alerts]
    assert overflow.status_code in (202, 422)


@pytest.mark.timeout(20)
def test_a_chunked_event_gets_one_answer(receiver: LocalReceiver) -> None:
    """Transfer-Encoding: chunked is plain HTTP/1.1 (requests uses it for a generator
    body). The receiver ignores it, reads no body, answers 422 "body is not valid JSON",
    then parses the chunks as a second request and answers 400: two replies to one
    request. It should accept the event, or refuse it once (411/501) and close."""
    payload = json.dumps(VALID).encode()
    request = (f"POST /v2/alert_events/http/{receiver.source_id} HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nAuthorization: Bearer {receiver.api_token}\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               ).encode() + b"%x\r\n" % len(payload) + payload + b"\r\n0\r\n\r\n"
    answer = raw_exchange(receiver, request)
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    status = int(answer.split(b" ", 2)[1])
    assert status in (202, 411, 501), answer
    assert (status == 202) == (len(receiver.events) == 1)


@pytest.mark.timeout(20)
def test_conflicting_content_lengths_get_400(receiver: LocalReceiver) -> None:
    """Two Content-Length headers that disagree are a malformed request (RFC 9112 6.3);
    the receiver takes the first and stores the event (202)."""
    payload = json.dumps(VALID).encode()
    request = (f"POST /v2/alert_events/http/{receiver.source_id} HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nAuthorization: Bearer {receiver.api_token}\r\n"
               f"Content-Length: {len(payload)}\r\nContent-Length: 5\r\n\r\n"
               ).encode() + payload
    answer = raw_exchange(receiver, request)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert receiver.events == []


@pytest.mark.timeout(20)
def test_a_utf16_body_is_not_json_for_the_api(receiver: LocalReceiver) -> None:
    """JSON between systems must be UTF-8 (RFC 8259 8.1); json.loads(bytes) also guesses
    UTF-16 and UTF-32, so the receiver accepts a body incident.io would refuse."""
    reply = post(receiver, json.dumps(VALID).encode("utf-16"))
    assert reply.status_code == 422, reply.text
    assert receiver.events == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_refused_in_one_line(port: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``receiver --port 70000`` ends in an OverflowError traceback (exit 1), while the help
    says "Exits 2 when it cannot start" and the issue asks for one clear line."""
    try:
        code = main(["receiver", "--port", port])
    except SystemExit as exit_:  # argparse refusing it is fine too
        code = exit_.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "port" in err


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "events.fifo"
    os.mkfifo(path)
    assert stat.S_ISFIFO(path.stat().st_mode)
    return path


@pytest.mark.timeout(20)
def test_a_jsonl_fifo_without_a_reader_does_not_hang_the_start(fifo: Path) -> None:
    """``--jsonl`` naming a FIFO nobody reads: open() blocks for ever, before listening
    and without a word. It should start or refuse, at once."""
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
            built.start().stop()  # stop() alone hangs on a receiver never started
    assert not hung, "LocalReceiver(jsonl=<fifo without a reader>) never returned"


@pytest.mark.timeout(30)
def test_a_stalled_jsonl_reader_does_not_stop_the_receiver(fifo: Path) -> None:
    """``--jsonl >(slow-consumer)``: once the pipe is full, the write blocks while holding
    the receiver's lock, so every other request (other senders, the page's /api/alerts,
    and stop()) waits with it."""
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads
    receiver = LocalReceiver(jsonl=str(fifo)).start()
    big = json.dumps({**VALID, "description": "x" * 200_000}).encode()  # > a pipe's buffer
    sender = threading.Thread(target=lambda: post(receiver, big, timeout=10), daemon=True)
    try:
        sender.start()
        sender.join(1)
        try:
            page = requests.get(receiver.endpoint + "/api/alerts", timeout=3)
            served = page.status_code == 200
        except requests.RequestException:
            served = False
    finally:
        os.close(reader)  # the blocked write now fails (EPIPE) and everything resumes
        sender.join(5)
        receiver.stop()
    assert served, "/api/alerts did not answer while a JSON Lines write was stalled"


@pytest.mark.timeout(20)
def test_stopping_a_receiver_that_never_started_returns() -> None:
    """``stop()`` on a receiver that was built but not started (a setup that failed between
    the two, a ``try/finally`` around ``start()``) waits for ever in
    ``socketserver.shutdown()``, which waits for a ``serve_forever`` that never ran."""
    receiver = LocalReceiver()
    stopper = threading.Thread(target=receiver.stop, daemon=True)
    stopper.start()
    stopper.join(3)
    hung = stopper.is_alive()
    if hung:  # unblock it: serve once so shutdown() is answered
        receiver.start()
        stopper.join(5)
    assert not hung, "LocalReceiver().stop() never returned"


@pytest.mark.timeout(30)
def test_assert_alerted_keeps_its_timeout_when_the_receiver_is_slow(
        incidentio_receiver: Receiver, logger: logging.Logger) -> None:
    """``assert_alerted(timeout=0.2)`` first flushes each of the fixture's handlers for up
    to 5 s, outside its timeout: with a held receiver it took 5.2 s (5 s more per
    handler) and then said "none arrived within 0.2s". The flush should share the
    timeout. (The 3 s bound below is far from both 0.2 s and 5 s.)"""
    logger.addHandler(incidentio_receiver.handler())
    incidentio_receiver.local.hold()
    logger.error("stuck in flight")
    incidentio_receiver.local.wait_in_flight(1, 5)
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception):
        incidentio_receiver.assert_alerted(timeout=0.2)
    assert time.monotonic() - started < 3


@pytest.mark.timeout(20)
def test_records_a_day_apart_are_not_described_as_one_moment(
        make_handler: Any, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """A nightly job failing at 02:00:00 two nights running, with ``threshold=2,
    threshold_window=86400`` (the largest allowed): the description says
    "**2 ERROR records** ... at 02:00:00 UTC." The times are compared as HH:MM:SS only,
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
    assert "2 ERROR records" in description
    assert "at 02:00:00 UTC" not in description, description
