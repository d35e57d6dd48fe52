"""The connection test: one 'resolved' event, a clear verdict and exit code per answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from incidentio_logging import _connection as connection
from incidentio_logging._connection import TEST_KEY, TEST_TITLE, check
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import free_port

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(receiver: LocalReceiver, **overrides: str) -> connection.Verdict:
    options = {**receiver.handler_options(), **overrides}
    verdict = check(api_token=options["api_token"],
                    alert_source_config_id=options["alert_source_config_id"],
                    endpoint=options["endpoint"])
    assert options["api_token"] not in verdict.message
    return verdict


def test_ok_sends_one_resolved_event_with_the_fixed_key(receiver: LocalReceiver) -> None:
    """202: exit 0, and what arrived is a resolved event, so nobody is paged."""
    verdict = run(receiver)
    assert verdict.code == connection.OK
    assert verdict.message.startswith("OK:")
    (event,) = receiver.events
    assert (event.status, event.deduplication_key, event.title) == (
        "resolved", TEST_KEY, TEST_TITLE)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_says_it_may_belong_to_another_source(
        receiver: LocalReceiver, status: int) -> None:
    """401 (a real wrong token) and 403 (scripted) both mean: check the token."""
    if status == 403:
        receiver.script(403)
        verdict = run(receiver)
    else:
        verdict = run(receiver, api_token="not-the-right-token-123")
    assert verdict.code == connection.UNAUTHORIZED
    assert f"HTTP {status}" in verdict.message and "another alert source" in verdict.message


def test_an_unknown_source_is_a_404(receiver: LocalReceiver) -> None:
    """The receiver knows one source; another id is not found."""
    verdict = run(receiver, alert_source_config_id="01SOMEOTHERSOURCE")
    assert verdict.code == connection.NOT_FOUND
    assert "alert_source_config_id" in verdict.message


def test_a_422_quotes_incident_ios_errors(receiver: LocalReceiver) -> None:
    """incident.io's own messages are shown."""
    receiver.script(Scripted(422, body={"type": "validation_error", "errors": [
        {"message": "title is too long", "source": {"field": "title"}}]}))
    verdict = run(receiver)
    assert verdict.code == connection.INVALID
    assert "title: title is too long" in verdict.message


def test_a_429_says_when_to_retry(receiver: LocalReceiver) -> None:
    """Retry-After becomes 'try again in N seconds'."""
    receiver.script(Scripted(429, headers={"Retry-After": "30"}))
    verdict = run(receiver)
    assert verdict.code == connection.RATE_LIMITED
    assert "try again in 30 seconds" in verdict.message
    receiver.script(Scripted(429, headers={"Retry-After": "1"}))
    assert "try again in 1 second." in run(receiver).message


def test_a_network_failure_names_the_host_and_why() -> None:
    """Nothing listening: exit 7, the host, and the reason."""
    port = free_port()
    verdict = check(api_token="tok-abcdefghijklmnop", alert_source_config_id="S1",
                    endpoint=f"http://127.0.0.1:{port}")
    assert verdict.code == connection.UNREACHABLE
    assert "Could not reach 127.0.0.1" in verdict.message and "connection failed" in verdict.message
    assert "tok-abcdefghijklmnop" not in verdict.message


def test_missing_credentials_are_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No token anywhere: exit 2, naming what is missing."""
    monkeypatch.delenv("INCIDENT_IO_API_TOKEN", raising=False)
    verdict = check(api_token=None, alert_source_config_id="S1", endpoint=None)
    assert verdict.code == connection.CONFIGURATION
    assert "api_token is required" in verdict.message


def test_the_command_reads_the_environment_and_never_prints_the_token(
        receiver: LocalReceiver) -> None:
    """`python -m incidentio_logging test` with the env vars and --endpoint."""
    env = {**os.environ, "INCIDENT_IO_API_TOKEN": receiver.api_token,
           "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.source_id}
    ok = subprocess.run([sys.executable, "-m", "incidentio_logging", "test", "--endpoint",
                         receiver.endpoint], env=env, cwd=HERE, capture_output=True, text=True,
                        timeout=30, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "OK:" in ok.stdout
    env["INCIDENT_IO_API_TOKEN"] = "wrong-token-0123456789"
    refused = subprocess.run([sys.executable, "-m", "incidentio_logging", "test", "--endpoint",
                              receiver.endpoint], env=env, cwd=HERE, capture_output=True,
                             text=True, timeout=30, check=False)
    assert refused.returncode == connection.UNAUTHORIZED
    assert "The token was refused" in refused.stderr
    for output in (ok.stdout, ok.stderr, refused.stdout, refused.stderr):
        assert receiver.api_token not in output
        assert "wrong-token-0123456789" not in output


def pieces(token: str) -> set[str]:
    """Every 8-character piece of ``token``."""
    return {token[i:i + 8] for i in range(len(token) - 7)}


def echoes(token: str) -> list[bytes]:
    """Error replies that quote the request's credentials back."""
    return [
        json.dumps({"type": "authentication_error", "errors": [
            {"message": f"bad header Authorization: Bearer {token}"}]}).encode(),
        f"<html><body>400 Bad Request: unknown credential {token}</body></html>".encode(),
        # The verdict quotes 200 bytes of a raw reply: this cut falls inside the token.
        b"x" * 185 + f" {token}".encode(),
    ]


@pytest.mark.parametrize("status", [400, 401, 422, 503])
@pytest.mark.parametrize("echo", [0, 1, 2], ids=["json", "html", "cut"])
def test_a_reply_that_echoes_the_token_is_masked(receiver: LocalReceiver, status: int,
                                                  echo: int) -> None:
    """400, 401, 422 and 503 replies that echo the Authorization header printed the token."""
    receiver.script(Scripted(status, raw=echoes(receiver.api_token)[echo]))
    verdict = run(receiver)
    assert f"HTTP {status}" in verdict.message
    assert not {p for p in pieces(receiver.api_token) if p in verdict.message}
    assert "[scrubbed]" in verdict.message


def test_the_command_masks_an_echoed_token(receiver: LocalReceiver) -> None:
    """What `python -m incidentio_logging test` prints goes through the same masking."""
    receiver.script(Scripted(401, raw=echoes(receiver.api_token)[2]))
    env = {**os.environ, "INCIDENT_IO_API_TOKEN": receiver.api_token,
           "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.source_id}
    refused = subprocess.run([sys.executable, "-m", "incidentio_logging", "test", "--endpoint",
                              receiver.endpoint], env=env, cwd=HERE, capture_output=True,
                             text=True, timeout=30, check=False)
    assert refused.returncode == connection.UNAUTHORIZED
    assert "[scrubbed]" in refused.stderr
    assert not {p for p in pieces(receiver.api_token) if p in refused.stdout + refused.stderr}
