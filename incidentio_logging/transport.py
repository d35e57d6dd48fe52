"""One HTTP attempt at delivering an alert event.

The handler talks to a :class:`Transport`; :class:`HttpTransport` is the real one. Tests
and users can hand the handler another object with the same three methods, for example
to route events through their own HTTP client, without patching anything.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from ._config import ALERT_EVENTS_PATH, is_loopback

__all__ = ["HttpTransport", "Reply", "Transport", "TransportError"]

#: More of a reply than this is never read: an error body is a few hundred bytes.
MAX_REPLY_BYTES = 64 * 1024
CONNECT_TIMEOUT = 3.05


@dataclass(frozen=True)
class Reply:
    """What incident.io answered to one POST."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class TransportError(Exception):
    """The request did not get an HTTP answer: refused, reset, timed out, TLS failure.

    ``sent`` is True when the request went out and no reply came in time: it may have
    been accepted, so its outcome is unknown.
    """

    def __init__(self, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


class Transport(Protocol):
    """Sends one alert event body; the worker owns retries and deadlines."""

    def post(self, body: bytes, timeout: float) -> Reply:
        """POST ``body`` once, within ``timeout`` seconds; raise TransportError on no answer."""

    def reset(self) -> None:
        """Forget pooled connections; called in a forked child before its first send."""

    def close(self) -> None:
        """Release connections; called once when the handler stops."""


class _Bearer(AuthBase):
    """Sets our Authorization header as the last step of preparing every request.

    A session with its own auth never consults ``~/.netrc`` (requests reads it for any
    host that honours the environment, and a ``default`` entry there would send another
    service's Basic credentials to incident.io in place of the token), and nothing set
    before this step can replace the header.
    """

    def __init__(self, token: str) -> None:
        self._value = f"Bearer {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:
        return "<Bearer [scrubbed]>"


class HttpTransport:
    """POSTs to incident.io's HTTP alert events API with ``requests``."""

    def __init__(self, *, endpoint: str, source_id: str, api_token: str,
                 ca_bundle: str | None = None, user_agent: str = "incidentio-logging") -> None:
        self.url = f"{endpoint}{ALERT_EVENTS_PATH}{source_id}"
        self._host = urlsplit(endpoint).hostname or endpoint
        self._loopback = is_loopback(self._host)
        self._literal = _is_address(self._host)
        self._reached = False  # a reply came on this session: its connection is pooled
        self._token = api_token
        self._verify: bool | str = ca_bundle or True
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent,
        }
        self._session = self._new_session()

    def __repr__(self) -> str:
        return f"<HttpTransport {self.url}>"

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # A proxy from the environment must not capture loopback traffic (tests, the
        # local receiver); for real endpoints the environment is honoured.
        session.trust_env = not self._loopback
        session.auth = _Bearer(self._token)
        return session

    def post(self, body: bytes, timeout: float) -> Reply:
        """POST once; the read of the reply is bounded in size and in total time."""
        deadline = time.monotonic() + timeout
        try:
            response = self._session.post(
                self.url, data=body, headers=self._headers, verify=self._verify,
                timeout=(min(CONNECT_TIMEOUT, timeout), timeout), allow_redirects=False,
                stream=True,
            )
            self._reached = True
            with response:
                content = bytearray()
                for chunk in response.iter_content(8192):
                    content += chunk
                    if len(content) >= MAX_REPLY_BYTES or time.monotonic() > deadline:
                        break
                return Reply(response.status_code, dict(response.headers), bytes(content))
        except requests.RequestException as exc:
            raise TransportError(self._describe(exc),
                                 sent=isinstance(exc, requests.exceptions.ReadTimeout)) from None

    def needs_lookup(self) -> bool:
        """True when a POST now may first look the host up in DNS, which nothing bounds.

        Not for an IP address, nor once a reply came on this session: its connection
        stays pooled and is reused. (If the server has closed it meanwhile, the next
        POST connects, and so looks up, again.)
        """
        return not self._literal and not self._reached

    def _describe(self, exc: requests.RequestException) -> str:
        kinds = (
            (requests.exceptions.SSLError, "TLS handshake failed"),
            (requests.exceptions.ConnectTimeout, "connection timed out"),
            (requests.exceptions.ReadTimeout, "no reply within the timeout"),
            (requests.exceptions.ConnectionError, "connection failed"),
        )
        what = next((text for kind, text in kinds if isinstance(exc, kind)), "request failed")
        detail = str(exc).replace(self._token, "[scrubbed]")
        return f"{what} to {self._host}: {type(exc).__name__}: {detail[:300]}"

    def reset(self) -> None:
        """Start a fresh session: sockets inherited over fork belong to the parent."""
        self._session = self._new_session()
        self._reached = False

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
