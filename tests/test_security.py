"""Secrets stay secret in every failure mode; TLS is verified; scrubbing is configurable."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import MakeHandler

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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed again: refused


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
