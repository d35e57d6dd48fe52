"""One HTTP attempt: headers, timeouts, failures without the token, loopback and proxies."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from incidentio_logging.testing import LocalReceiver
from incidentio_logging.transport import HttpTransport, TransportError

from .conftest import free_port

BODY = json.dumps({"title": "t", "status": "firing", "deduplication_key": "k"}).encode()


def transport_for(receiver: LocalReceiver, **overrides: str) -> HttpTransport:
    options = {"endpoint": receiver.endpoint, "source_id": receiver.source_id,
               "api_token": receiver.api_token, **overrides}
    return HttpTransport(**options)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_posts_json_with_a_bearer_token(receiver: LocalReceiver) -> None:
    """Authorization: Bearer, a JSON content type and our user agent; 202 back."""
    reply = transport_for(receiver).post(BODY, timeout=5)
    assert reply.status == 202
    assert json.loads(reply.body)["message"] == "Event accepted for processing"
    (attempt,) = receiver.attempts
    assert attempt.headers["Authorization"] == f"Bearer {receiver.api_token}"
    assert attempt.headers["Content-Type"] == "application/json"
    assert attempt.headers["User-Agent"].startswith("incidentio-logging")
    assert attempt.path == f"/v2/alert_events/http/{receiver.source_id}"
    assert "token" not in attempt.path


def test_a_silent_server_times_out_as_a_transport_error(silent_port: int) -> None:
    """No reply within the timeout: TransportError, naming the host, not the token."""
    transport = HttpTransport(endpoint=f"http://127.0.0.1:{silent_port}", source_id="S1",
                              api_token="tok-secret-abcdefgh")
    with pytest.raises(TransportError) as caught:
        transport.post(BODY, timeout=0.2)
    assert "127.0.0.1" in str(caught.value)
    assert "tok-secret-abcdefgh" not in str(caught.value)


def test_a_refused_connection_is_a_transport_error() -> None:
    """Nothing listening: TransportError saying the connection failed."""
    port = free_port()
    transport = HttpTransport(endpoint=f"http://127.0.0.1:{port}", source_id="S1",
                              api_token="tok-secret-abcdefgh")
    with pytest.raises(TransportError, match="connection failed") as caught:
        transport.post(BODY, timeout=1)
    assert "tok-secret-abcdefgh" not in str(caught.value)


def test_loopback_ignores_proxy_variables(receiver: LocalReceiver,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy in the environment must not capture traffic to the local receiver."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")
    assert transport_for(receiver).post(BODY, timeout=5).status == 202


def test_reset_starts_a_new_session(receiver: LocalReceiver) -> None:
    """After fork the child must not reuse the parent's pooled sockets."""
    transport = transport_for(receiver)
    before = transport._session
    transport.reset()
    assert transport._session is not before
    assert transport.post(BODY, timeout=5).status == 202


def test_repr_shows_the_url_not_the_token(receiver: LocalReceiver) -> None:
    """The transport's repr is safe to log."""
    transport = transport_for(receiver)
    assert receiver.source_id in repr(transport)
    assert receiver.api_token not in repr(transport)


def test_a_netrc_default_entry_never_replaces_the_bearer_token(
        receiver: LocalReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """requests reads ~/.netrc for hosts that honour the environment; a ``default`` entry
    there must not swap our Bearer token for another service's Basic credentials.

    The endpoint is a name that is not loopback, so the environment applies; its proxy
    (HTTP_PROXY, kept working) is the receiver, which records the request as it arrives.
    """
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login deploy password other-service-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, receiver.endpoint)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    transport = HttpTransport(endpoint="http://alerts.invalid", source_id=receiver.source_id,
                              api_token=receiver.api_token)
    transport.post(BODY, timeout=5)
    (attempt,) = receiver.attempts
    assert attempt.path == f"http://alerts.invalid/v2/alert_events/http/{receiver.source_id}"
    assert attempt.headers["Authorization"] == f"Bearer {receiver.api_token}"
    assert "other-service-secret" not in repr(attempt.headers)
