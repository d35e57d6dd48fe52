"""``python -m incidentio_logging test``: do these credentials work?

Sends one ``resolved`` event with a fixed key, as the reference backend's connection test
does, so that nothing pages anyone, and turns the answer into a verdict with its own
exit code. This is the one command that talks to api.incident.io, and only when run.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from . import __version__
from ._config import parse_connection
from ._delivery import error_message, retry_after
from ._scrub import Scrubber
from ._serialize import dumps, encode
from ._wording import count_of
from .transport import HttpTransport, TransportError

TEST_KEY = "incidentio-logging-connection-test"
TEST_TITLE = "incidentio-logging connection test"

OK = 0
CONFIGURATION = 2
UNAUTHORIZED = 3
NOT_FOUND = 4
INVALID = 5
RATE_LIMITED = 6
UNREACHABLE = 7
UNEXPECTED = 8


@dataclass(frozen=True)
class Verdict:
    """What the test found, as an exit code and a sentence for a person."""

    code: int
    message: str


def check(*, api_token: str | None, alert_source_config_id: str | None,
          endpoint: str | None, timeout: float = 10.0) -> Verdict:
    """Send the test event once and judge the answer. Never includes the token.

    An error reply may echo the request's ``Authorization`` header: the verdict goes
    through the token masking of payloads, which also catches a token the quote cut.
    """
    try:
        token, source_id, base = parse_connection(api_token, alert_source_config_id, endpoint)
    except (ValueError, TypeError) as exc:
        return Verdict(CONFIGURATION, f"Configuration: {exc}")
    verdict = _judge(token, source_id, base, timeout)
    return Verdict(verdict.code, Scrubber(token=token).mask_token(verdict.message))


def _judge(token: str, source_id: str, base: str, timeout: float) -> Verdict:
    host = urlsplit(base).hostname or base
    transport = HttpTransport(endpoint=base, source_id=source_id, api_token=token,
                              user_agent=f"incidentio-logging/{__version__}")
    body = encode(dumps({"title": TEST_TITLE, "status": "resolved",
                         "deduplication_key": TEST_KEY,
                         "description": "Sent by `python -m incidentio_logging test`.",
                         "metadata": {"data": []}}))
    try:
        reply = transport.post(body, timeout)
    except TransportError as exc:
        return Verdict(UNREACHABLE, f"Could not reach {host}: {exc}")
    finally:
        transport.close()
    where = f"{base} (alert source {source_id})"
    if 200 <= reply.status < 300:
        return Verdict(OK, f"OK: {where} accepted the test event (HTTP {reply.status}). "
                           "It was sent as 'resolved', so nothing pages anyone.")
    detail = error_message(reply)
    if reply.status in (401, 403):
        return Verdict(UNAUTHORIZED,
                       f"The token was refused (HTTP {reply.status}: {detail}). It is wrong, "
                       "or it belongs to another alert source: each HTTP alert source has "
                       "its own token, shown on that source's page.")
    if reply.status == 404:
        return Verdict(NOT_FOUND, f"No alert source {source_id} at {base} (HTTP 404: "
                                  f"{detail}). Check alert_source_config_id.")
    if reply.status == 422:
        return Verdict(INVALID, f"incident.io rejected the test event (HTTP 422): {detail}")
    if reply.status == 429:
        import datetime as dt  # noqa: PLC0415 - only this branch needs it

        wait = retry_after(reply, now_wall=dt.datetime.now(dt.timezone.utc))
        when = f"in {count_of(round(wait), 'second')}" if wait is not None else "in a minute"
        return Verdict(RATE_LIMITED, f"Rate limited (HTTP 429): try again {when}.")
    return Verdict(UNEXPECTED, f"Unexpected answer from {host}: HTTP {reply.status}: {detail}")
