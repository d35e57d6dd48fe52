"""Secrets stay secret in every failure mode; TLS is verified; scrubbing is configurable."""

from __future__ import annotations

import json
import logging
import os
import random
import string
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from incidentio_logging import IncidentIOHandler
from incidentio_logging._events import EventBuilder
from incidentio_logging._grouping import Group, Window, fingerprint_key
from incidentio_logging._record import capture
from incidentio_logging._serialize import to_jsonable
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import MakeHandler, exc_info_of, free_port

DATA = os.path.join(os.path.dirname(__file__), "data")
CERT = os.path.join(DATA, "localhost.pem")
KEY = os.path.join(DATA, "localhost-key.pem")
TOKEN = "sk_live_0123456789abcdefSECRET"


@pytest.fixture
def tls_receiver() -> Iterator[LocalReceiver]:
    """The receiver over https, with a self-signed certificate for 127.0.0.1."""
    with LocalReceiver(tls=(CERT, KEY), api_token=TOKEN) as receiver:
        yield receiver


def test_tls_is_verified_by_default(tls_receiver: LocalReceiver, logger: logging.Logger,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An endpoint whose certificate is not trusted gets nothing, and the report says TLS."""
    handler = IncidentIOHandler(**tls_receiver.handler_options(), flush_interval=0.05,
                                max_retries=0)
    logger.addHandler(handler)
    logger.error("over https")
    assert not handler.flush(10)
    handler.close()
    assert tls_receiver.events == []
    assert handler.stats()["dropped"] == {"send_failed": 1}
    assert "TLS handshake failed" in capsys.readouterr().err


def test_a_ca_bundle_makes_a_private_certificate_trusted(tls_receiver: LocalReceiver,
                                                         logger: logging.Logger) -> None:
    """ca_bundle names the certificates to trust; verification stays on."""
    handler = IncidentIOHandler(**tls_receiver.handler_options(), flush_interval=0.05,
                                ca_bundle=CERT)
    logger.addHandler(handler)
    logger.error("over https")
    assert handler.flush(10)
    handler.close()
    assert [e.title for e in tls_receiver.events] == ["ERROR " + logger.name + ": over https"]


def refused_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: refused


def _wrong_token(receiver: LocalReceiver) -> dict[str, Any]:
    return {**receiver.handler_options(), "api_token": TOKEN}  # the receiver answers 401


def _forbidden(receiver: LocalReceiver) -> dict[str, Any]:
    receiver.script(Scripted(403))
    return {**receiver.handler_options(), "api_token": TOKEN}


def _refused(receiver: LocalReceiver) -> dict[str, Any]:
    return {**receiver.handler_options(), "api_token": TOKEN, "endpoint": refused_endpoint()}


def _reset(receiver: LocalReceiver) -> dict[str, Any]:
    receiver.script(Scripted(reset=True))
    return {**receiver.handler_options(), "api_token": TOKEN}


def _timeout(receiver: LocalReceiver) -> dict[str, Any]:
    receiver.script(Scripted(delay=2))
    return {**receiver.handler_options(), "api_token": TOKEN, "timeout": 0.3}


@pytest.mark.parametrize("failure", [_wrong_token, _forbidden, _refused, _reset, _timeout],
                         ids=["401", "403", "refused", "reset", "timeout"])
def test_the_token_is_never_printed(failure: Callable[[LocalReceiver], dict[str, Any]],
                                    receiver: LocalReceiver, logger: logging.Logger,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Not in the stderr report of any failure (connection errors quote the URL), nor in
    the repr of the handler, its settings, its transport or the transport's session."""
    handler = IncidentIOHandler(**failure(receiver), flush_interval=0.05, max_retries=0)
    logger.addHandler(handler)
    logger.error("this will not arrive")
    handler.flush(10)
    handler.close()
    report = capsys.readouterr().err
    assert report.startswith("incidentio-logging: ")  # the failure was reported...
    transport = handler._transport
    session = transport._session  # type: ignore[attr-defined]
    for text in (report, repr(handler), repr(handler.settings), str(handler.settings),
                 repr(transport), repr(session), str(handler.stats())):
        assert TOKEN not in text  # ...without the token


def test_configured_scrub_keys_are_scrubbed_at_any_depth(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """scrub_keys adds words to the built-in ones; an INI-style comma list works too."""
    handler = make_handler(scrub_keys="ssn, iban")
    logger.addHandler(handler)
    logger.error("customer update", extra={
        "customer": {"name": "Ada", "SSN_last4": "1234", "bank": [{"IBAN": "GB00"}]},
        "password": "hunter2", "note": "header was Bearer abcdefghijklmnopqrstuvwxyz"})
    assert handler.flush(10)
    (record,) = receiver.events[0].records
    assert record["customer"] == {"name": "Ada", "SSN_last4": "[scrubbed]",
                                  "bank": [{"IBAN": "[scrubbed]"}]}
    assert record["password"] == "[scrubbed]"
    assert record["note"] == "header was Bearer [scrubbed]"


@pytest.mark.parametrize("value", [3, ["ok", 4]])
def test_scrub_keys_must_be_strings(value: object) -> None:
    with pytest.raises(TypeError, match="scrub_keys"):
        IncidentIOHandler(api_token="t", alert_source_config_id="S1", scrub_keys=value)  # type: ignore[arg-type]


LONG_TOKEN = "inc_live_Q7x2Kp9LmN4vB8rT6yW1zA3sD5fG0hJ"  # 40 characters, like a real one
PIECES = {LONG_TOKEN[i:i + 8] for i in range(len(LONG_TOKEN) - 7)}
# Around every place a string is cut: the title's message and the title, a key, a repr,
# the description's message, the traceback's tail, a fallback message, a field.
OFFSETS = [*range(150, 260), *range(200, 300, 3), *range(940, 1010), *range(1940, 2010),
           *range(3880, 4120, 2), *range(16_300, 16_400, 3)]


class Reprs:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def leaks(body: bytes) -> set[str]:
    """Every 8-character piece of the token found in a body."""
    text = body.decode("utf-8", "replace")
    return {piece for piece in PIECES if piece in text}


def carrying_the_token(at: int) -> list[Group]:
    """Records with the token starting ``at`` characters into every string they send."""
    pad = "p" * at
    window = Window(fingerprint_key, 250)
    records = [
        logging.LogRecord(pad + LONG_TOKEN, logging.ERROR, "f.py", 1, pad + LONG_TOKEN + "m" * 60,
                          None, None),
        logging.LogRecord("shop", logging.ERROR, "f.py", 1, "failed", None,
                          exc_info_of(ValueError(pad + LONG_TOKEN + "e" * at))),
        logging.LogRecord("shop", logging.ERROR, "f.py", 1, "extras", None, None),
        # Over MAX_RECORD_BYTES once escaped: this one is sent as the short fallback.
        logging.LogRecord("shop", logging.ERROR, "f.py", 1, "\n" * at + LONG_TOKEN + "\n" * 9000,
                          None, None),
    ]
    records[2].__dict__.update(blob=pad + LONG_TOKEN, obj=Reprs(pad + LONG_TOKEN),
                               raw=(pad + LONG_TOKEN).encode(), keys={pad + LONG_TOKEN: 1})
    records[3].__dict__.update(padding="\n" * 16_000, more_padding="\n" * 16_000)
    for record in records:
        window.add(capture(record))
    return window.take()


@pytest.mark.timeout(120)
def test_no_piece_of_the_token_leaves_wherever_a_cut_falls() -> None:
    """Fields were cut before the token was masked: 20 of its 40 characters appeared in
    the title and the message, the last 10 in the traceback's tail. Now no 8-character
    piece of it is in any body, for the token starting at every offset around every cut."""
    events = EventBuilder(metadata={}, title=None, description=None, source_url=None,
                          dedup="fingerprint", wall_clock=lambda: 1_790_000_000.0,
                          redact=LONG_TOKEN)
    fallbacks = 0
    for at in OFFSETS:
        for group in carrying_the_token(at):
            event = events.build(group)
            assert not leaks(event.body), at
            fallbacks += event.body.count(b"bytes; fields left out")
    assert fallbacks == len(OFFSETS)  # the fallback's own cut was exercised too


def test_no_piece_of_the_token_reaches_the_receiver(logger: logging.Logger) -> None:
    """End to end, the audit's case: the token straddling the title's and the message's cut."""
    with LocalReceiver(api_token=LONG_TOKEN) as receiver:
        handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05)
        logger.addHandler(handler)
        for at in (190, 230, 1980):
            logger.error("p" * at + LONG_TOKEN + " rest of the message")
        assert handler.flush(10)
        handler.close()
        assert receiver.events
        for event in receiver.events:
            assert not leaks(json.dumps(event.payload).encode())


@pytest.mark.parametrize("status", [400, 401, 422, 503])
def test_a_reply_that_echoes_the_token_is_masked_on_stderr(
        status: int, receiver: LocalReceiver, logger: logging.Logger,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The report quotes 200 bytes of a raw reply; a cut inside the token kept its head."""
    token = receiver.api_token
    receiver.script(Scripted(status, raw=b"x" * 185 + f" {token}".encode()))
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05,
                                max_retries=0)
    logger.addHandler(handler)
    logger.error("this will not arrive")
    handler.flush(10)
    handler.close()
    report = capsys.readouterr().err
    assert report.startswith("incidentio-logging: ") and "[scrubbed]" in report
    if status == 401:  # only the token is masked here: the hint stays readable
        assert "check api_token: it must be the token shown" in report
    assert not {token[i:i + 8] for i in range(len(token) - 7) if token[i:i + 8] in report}


@pytest.mark.timeout(30)
def test_no_piece_of_a_long_token_leaves_in_a_traceback_cut_from_its_start() -> None:
    """The description keeps a traceback's last 4,000 characters. The scrubber masked a
    window only 256 characters wider than that, and finds the token by its first 8: a
    300-character token whose start fell before the window left token[271:] unmasked.
    Now the window is wider by the token's length: no 8-character piece of it leaves."""
    rng = random.Random(12)
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(300))
    with LocalReceiver(api_token=token) as receiver:
        handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05)
        log = logging.getLogger("tests.security.long_token")
        log.propagate = False
        log.addHandler(handler)
        try:
            try:
                raise PermissionError("refused: " + token + " " + "y" * 3_970)
            except PermissionError:
                log.exception("the upstream call failed")
            assert handler.flush(10)
        finally:
            log.removeHandler(handler)
            handler.close()
        body = "\n".join(attempt.body.decode() for attempt in receiver.attempts)
    assert receiver.attempts
    leaked = [i for i in range(len(token) - 7) if token[i:i + 8] in body]
    assert not leaked, f"token[{leaked[0]}:] left in the body ({len(leaked)} pieces)"


@pytest.mark.timeout(20)
def test_a_requests_session_in_extra_does_not_send_its_credentials(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """A requests.Session has no repr of its own, and the walk of plain objects sent its
    ``auth = ("svc-user", "<password>")`` in the clear, with its adapters and pools. A
    library's object is now its type name."""
    session = requests.Session()
    session.auth = ("svc-user", "S3CRET-PASSWORD-1")
    logger.addHandler(make_handler())
    logger.error("upstream call failed", extra={"http": session})
    (event,) = receiver.wait_for(1, timeout=10)
    assert event.records[0]["http"] == "<Session>"
    bodies = b"".join(attempt.body for attempt in receiver.attempts)
    assert b"S3CRET-PASSWORD-1" not in bodies


class Client:
    """An application's own object: walked as its fields."""

    def __init__(self) -> None:
        self.auth = ("svc-user", "pw-1")
        self.db_pwd = "pw-2"
        self.smtp_pass = "pw-3"
        self.passphrase = "pw-4"
        self.PASS = "pw-5"
        self.basic_auth = "pw-6"
        self.passed = 3
        self.bypass_cache = True
        self.compass = "north"
        self.author = "ada"
        self.passenger = "bob"


def test_auth_pwd_pass_and_passphrase_are_secret_words() -> None:
    """``auth`` and ``pass`` as a word of a key (not inside passed, bypass, compass,
    author), ``pwd`` and ``passphrase`` anywhere."""
    assert to_jsonable(Client()) == {
        "auth": "[scrubbed]", "db_pwd": "[scrubbed]", "smtp_pass": "[scrubbed]",
        "passphrase": "[scrubbed]", "PASS": "[scrubbed]", "basic_auth": "[scrubbed]",
        "passed": 3, "bypass_cache": True, "compass": "north", "author": "ada",
        "passenger": "bob"}
