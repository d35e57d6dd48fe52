"""A local, incident.io-compatible receiver for tests, examples and the demo.

It listens on loopback only, checks what incident.io checks (the path, the Bearer
token, the required fields, the body size), answers as incident.io does (202, or a JSON
error, malformed requests included), and keeps what it accepted. Replies can be scripted
to rehearse failures. What it shows of the events (its page, JSON Lines, the console)
lives in :mod:`incidentio_logging._receiver_views`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypedDict

from . import _receiver_views as views
from ._config import ALERT_EVENTS_PATH, is_loopback
from ._events import BODY_LIMIT
from ._rate_limit import SlidingWindowLimiter, retry_after

__all__ = [
    "DEFAULT_SOURCE",
    "DEFAULT_TOKEN",
    "Attempt",
    "HandlerOptions",
    "LocalReceiver",
    "ReceivedEvent",
    "Scripted",
]

DEFAULT_TOKEN = "local-receiver-token-0123456789"  # noqa: S105 - loopback test token
DEFAULT_SOURCE = "01LOCALRECEIVERSOURCE00000"
#: Deepest JSON nesting accepted in a body. Python's parser gives up near 1,000 levels and
#: the page's JSON adds a few around an event, so a cap well below keeps every accepted
#: event showable. What incident.io accepts is unconfirmed; this library sends under 15.
MAX_NESTING = 200
#: A too-large body up to this size is read and dropped; a larger one is not read at all.
_DRAIN_LIMIT = 2 * BODY_LIMIT
#: Longest chunk-size or trailer line read; a longer one is malformed.
_CHUNK_LINE = 1024


class HandlerOptions(TypedDict):
    """What :meth:`LocalReceiver.handler_options` returns: keyword arguments for a handler."""

    api_token: str
    alert_source_config_id: str
    endpoint: str


@dataclass(frozen=True)
class ReceivedEvent:
    """An alert event the receiver accepted."""

    payload: dict[str, Any]
    headers: dict[str, str]
    received_at: float

    @property
    def title(self) -> str:
        """The event's title."""
        return str(self.payload["title"])

    @property
    def status(self) -> str:
        """``firing`` or ``resolved``."""
        return str(self.payload["status"])

    @property
    def deduplication_key(self) -> str:
        """The event's deduplication key."""
        return str(self.payload["deduplication_key"])

    @property
    def metadata(self) -> dict[str, Any]:
        """The event's metadata object."""
        return dict(self.payload.get("metadata") or {})

    @property
    def records(self) -> list[Any]:
        """The serialized log records, from ``metadata.data`` when it is a list.

        This library sends objects there; another sender's event may hold anything.
        """
        data = self.metadata.get("data")
        return list(data) if isinstance(data, list) else []


@dataclass(frozen=True)
class Attempt:
    """One request, accepted or not, as the receiver saw it; ``status`` 0 means reset."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass(frozen=True)
class Scripted:
    """A reply to give instead of the normal one, for rehearsing failures.

    ``status`` None answers as incident.io would (202 for a valid event) while the
    fault fields still apply. The request is always read, and an accepted event recorded,
    before a delay or a bad body: as on a real server that is slow, or fails after
    processing. A reset request is never processed.
    """

    status: int | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds before the reply starts: a slow response.
    delay: float = 0.0
    #: Seconds between the reply's headers (and half its body) and the rest: a slow body.
    body_delay: float = 0.0
    #: The reply body exactly, instead of JSON: malformed (``b"{oops"``) or empty (``b""``).
    raw: bytes | None = None
    #: Drop the connection with a TCP reset instead of answering.
    reset: bool = False


class LocalReceiver:
    """An incident.io HTTP alert source on loopback; use as a context manager."""

    def __init__(self, *, api_token: str = DEFAULT_TOKEN, source_id: str = DEFAULT_SOURCE,
                 host: str = "127.0.0.1", port: int = 0,
                 on_event: Callable[[ReceivedEvent], None] | None = None,
                 jsonl: str | None = None,
                 tls: tuple[str, str] | None = None) -> None:
        """``host`` must be a loopback address (127.0.0.1, ::1, localhost): the page has no
        authentication, and handlers send plain http only to loopback.

        ``tls`` is a (certificate file, key file) pair: serve https instead of http.
        ``jsonl`` is opened here, so an unwritable path raises OSError before listening.
        A port in use raises OSError too; one outside 0-65535 raises ValueError.
        """
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be a whole number from 0 to 65535, not {port!r}")
        host = host.strip("[]")
        if not is_loopback(host):
            raise ValueError(f"host {host!r} is not a loopback address: the receiver serves "
                             "its page without authentication and handlers send plain http "
                             "only to loopback; use 127.0.0.1, ::1 or localhost")
        self.api_token = api_token
        self._tls: ssl.SSLContext | None = None
        if tls is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*tls)
        self.source_id = source_id
        self._on_event = on_event
        self._lock = threading.Condition()
        self._events: list[ReceivedEvent] = []
        self._attempts: list[Attempt] = []
        self._script: list[Scripted] = []
        self._open = threading.Event()
        self._open.set()
        self._in_flight = 0
        #: How many times it "crashed" (refuse_connections): a request held across one is lost.
        self._crashes = 0
        self._stopping = threading.Event()
        self._jsonl = views.JsonLines(jsonl) if jsonl else None
        try:
            self._server = self._listen((host, port))
        except OSError:
            if self._jsonl is not None:
                self._jsonl.close()
            raise
        self._thread: threading.Thread | None = None
        self._refusing = False
        self._limiter: SlidingWindowLimiter | None = None

    # Lifecycle ----------------------------------------------------------------------

    def _listen(self, address: tuple[str, int]) -> _Server:
        server = _Server(self, address)
        if self._tls is not None:
            # The handshake happens in the request's thread: one that fails (a client
            # that does not trust the certificate) costs that request alone.
            server.socket = self._tls.wrap_socket(server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        return server

    def start(self) -> LocalReceiver:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="incidentio-local-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; on a receiver never started, release it."""
        self._open.set()
        self._stopping.set()
        if not self._refusing:
            self._close_server()
        if self._jsonl is not None:
            self._jsonl.close()

    def _close_server(self) -> None:
        # shutdown() waits for serve_forever() to notice: on a server that never served
        # it would wait for ever.
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def refuse_connections(self) -> None:
        """Go away as a crashed server would, until :meth:`accept_connections`.

        Nothing listens, and open connections (a client's idle keep-alive ones
        included) are shut, so no request gets through while refusing.
        """
        if not self._refusing:
            self._refusing = True
            with self._lock:
                self._crashes += 1
            self._close_server()
            self._server.drop_connections()

    def accept_connections(self) -> None:
        """Listen again, on the same port, after :meth:`refuse_connections`."""
        if self._refusing:
            self._server = self._listen(self._server.server_address[:2])  # type: ignore[arg-type]
            self._refusing = False
            self.start()

    def __enter__(self) -> LocalReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # What a handler needs -----------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The base URL to give a handler as ``endpoint``."""
        host, port = self._server.server_address[:2]
        host = f"[{host!s}]" if ":" in str(host) else str(host)
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{port}"

    @property
    def webhook_url(self) -> str:
        """The whole webhook URL, as incident.io shows it on the alert source page."""
        return f"{self.endpoint}{ALERT_EVENTS_PATH}{self.source_id}"

    def handler_options(self) -> HandlerOptions:
        """Keyword options that point an ``IncidentIOHandler`` here:
        ``IncidentIOHandler(**receiver.handler_options())`` type-checks."""
        return {"api_token": self.api_token, "alert_source_config_id": self.source_id,
                "endpoint": self.endpoint}

    # What a test reads --------------------------------------------------------------

    @property
    def events(self) -> list[ReceivedEvent]:
        """Accepted events, oldest first."""
        with self._lock:
            return list(self._events)

    @property
    def attempts(self) -> list[Attempt]:
        """Every request, accepted or not, oldest first."""
        with self._lock:
            return list(self._attempts)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedEvent]:
        """Wait until at least ``count`` events were accepted; AssertionError otherwise."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._events) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    titles = [e.title for e in self._events]
                    raise AssertionError(f"expected {count} alert events within {timeout}s, "
                                         f"got {len(titles)}: {titles}")
                self._lock.wait(left)
            return list(self._events)

    def alerts(self) -> list[dict[str, Any]]:
        """One entry per deduplication key, newest first: what on-call would see."""
        return views.alerts(self.events)

    def wait_in_flight(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` requests are being held by :meth:`hold`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{count} requests not in flight after {timeout}s")
                self._lock.wait(left)

    # Rehearsing failures ------------------------------------------------------------

    def script(self, *replies: int | Scripted) -> None:
        """Answer the next requests with these replies, in order, then normally again."""
        with self._lock:
            self._script.extend(r if isinstance(r, Scripted) else Scripted(r) for r in replies)

    def rate_limit(self, limit: int | None = 1200, *, window: float = 60.0,
                   clock: Callable[[], float] = time.monotonic) -> None:
        """Answer 429, as incident.io does, to a token's requests beyond ``limit`` in any
        ``window`` seconds (1,200 a minute is incident.io's). None lifts the limit.

        Scripted replies come first and do not count against it.
        """
        self._limiter = None if limit is None else SlidingWindowLimiter(limit, window, clock)

    def hold(self) -> None:
        """Keep requests waiting, unanswered, until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        """Answer held and later requests."""
        self._open.set()

    # Answering ----------------------------------------------------------------------

    def _answer(self, path: str, headers: dict[str, str], body: bytes,
                length: int) -> tuple[int, dict[str, Any], Scripted]:
        with self._lock:
            self._in_flight += 1
            crashes = self._crashes
            self._lock.notify_all()
        self._open.wait(60)
        with self._lock:
            self._in_flight -= 1
            if crashes != self._crashes:  # the server "crashed" while holding it
                fault = _CRASHED
            else:
                fault = self._script.pop(0) if self._script else _NORMAL
        if fault.status is None and self._limiter is not None:
            fault = self._limited(self._limiter, headers, fault)
        status, reply, payload = self._reply(fault, path, headers, body, length)
        # A reset request was never processed.
        event = None
        if status == 202 and payload is not None and not fault.reset:
            event = ReceivedEvent(payload, headers, time.time())
        with self._lock:
            self._attempts.append(Attempt(path, headers, body, 0 if fault.reset else status))
            if event is not None:
                self._events.append(event)
                if self._jsonl is not None:
                    self._jsonl.write(event)
            self._lock.notify_all()
        if event is not None and self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # noqa: BLE001 - the sender still gets its answer
                traceback.print_exc()
        return status, reply, fault

    def _reply(self, fault: Scripted, path: str, headers: dict[str, str], body: bytes,
               length: int) -> tuple[int, dict[str, Any], dict[str, Any] | None]:
        """The status and reply for one request, and its payload if it is a valid event.

        A fault's status (scripted, or the rate limit's 429) overrides incident.io's
        answer; the request is still validated, so only a valid event is stored.
        """
        status, reply, payload = self._validate(path, headers, body, length)
        if fault.status is not None:
            status = fault.status
            reply = fault.body or _error("scripted", status, "scripted reply")
        return status, reply, payload

    @staticmethod
    def _limited(limiter: SlidingWindowLimiter, headers: dict[str, str],
                 fault: Scripted) -> Scripted:
        # Keyed by the Authorization header: incident.io's limit is per API key.
        wait = limiter.admit(_authorization(headers))
        if wait is None:
            return fault
        after, rate_limit = retry_after(limiter, wait, dt.datetime.now(dt.timezone.utc))
        body = {**_error("too_many_requests", 429, "Rate limit exceeded"),
                "rate_limit": rate_limit}
        return dataclasses.replace(fault, status=429, body=body,
                                   headers={**fault.headers, "Retry-After": after})

    def _validate(self, path: str, headers: dict[str, str], body: bytes,
                  length: int) -> tuple[int, dict[str, Any], dict[str, Any] | None]:
        if not path.startswith(ALERT_EVENTS_PATH):
            return 404, _error("not_found", 404, "no such route"), None
        if _authorization(headers) != f"Bearer {self.api_token}":
            return 401, _error("authentication_error", 401,
                               "The API key you've provided is invalid"), None
        if path[len(ALERT_EVENTS_PATH):] != self.source_id:
            return 404, _error("not_found", 404, "alert source config not found"), None
        if length > BODY_LIMIT:
            return 413, _error("payload_too_large", 413, "request body too large"), None
        try:
            # Strictly UTF-8, as JSON between systems must be (json.loads would guess
            # UTF-16 too); a number too large for a float is refused like NaN, since
            # the page could not show it.
            payload = json.loads(body.decode(), parse_constant=_reject_constant,
                                 parse_float=_finite_float)
            too_deep = _nesting(payload) > MAX_NESTING
        except RecursionError:
            too_deep = True
        except ValueError:
            return 422, _error("validation_error", 422, "body is not valid JSON", "body"), None
        if too_deep:
            return 422, _error("validation_error", 422,
                               f"body is nested more than {MAX_NESTING} levels deep",
                               "body"), None
        problem = _check_payload(payload)
        if problem:
            return 422, _error("validation_error", 422, problem[1], problem[0]), None
        return 202, {"deduplication_key": payload["deduplication_key"],
                     "message": "Event accepted for processing", "status": "success"}, payload


_NORMAL = Scripted()
_CRASHED = Scripted(reset=True)


class _Server(ThreadingHTTPServer):
    """The receiver's HTTP server: IPv4 or IPv6 by host, and it knows its connections."""

    daemon_threads = True

    def __init__(self, receiver: LocalReceiver, address: tuple[str, int]) -> None:
        self.receiver = receiver
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def close_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().close_request(request)

    def drop_connections(self) -> None:
        """Shut every open connection: a pooled keep-alive one must not outlive a refusal."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hang up or fail a TLS handshake: the test's business."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """One connection to the receiver: POSTs are alert events, GETs the page."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        read = self._body()
        if read is None:
            return
        body, length = read
        status, reply, fault = self.server.receiver._answer(self.path, dict(self.headers),
                                                            body, length)
        if fault.reset:
            self._reset()
            return
        self.server.receiver._stopping.wait(fault.delay)
        data = fault.raw if fault.raw is not None else json.dumps(reply).encode()
        try:
            self._send(status, data, fault.headers, body_delay=fault.body_delay)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up on a slow reply: its retry is its own request.
            self.close_connection = True

    def do_GET(self) -> None:
        found = views.page(self.path, self.server.receiver.events)
        if found is None:
            error = _error("not_found", 404, "no such page: the page is at /")
            self._send(404, json.dumps(error).encode(), {})
        else:
            self._send(200, found[1], {}, found[0])

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """A malformed request (its line or headers) gets a JSON error, as an API would."""
        self.close_connection = True
        # A request line too broken to name its version would get a bare body (HTTP/0.9
        # style); no API client speaks that, so it gets a status line and headers.
        self.request_version = self.protocol_version
        error = _error("invalid_request", code, message or HTTPStatus(code).phrase)
        self._send(code, json.dumps(error).encode(), {})

    def _body(self) -> tuple[bytes, int] | None:
        """The body and its length (b"" when too large); None once a bad request has been
        answered. One reply per request: a body this cannot delimit ends the connection."""
        codings = ",".join(self.headers.get_all("Transfer-Encoding") or [])
        if codings:
            if codings.strip().lower() != "chunked":
                self.send_error(501, "only the chunked transfer coding is supported")
                return None
            # With a Content-Length too the message is ambiguous for some proxy on
            # the way: the chunks say where it ends, and the connection ends with it.
            if "Content-Length" in self.headers:
                self.close_connection = True
            return self._chunked()
        length = self._content_length()
        if length is None:
            return None
        if length > BODY_LIMIT:
            # Read a modest excess so the client, still sending, gets to read the 413;
            # past that, nothing is read and the connection ends with the answer.
            if length <= _DRAIN_LIMIT:
                self.rfile.read(length)
            else:
                self.close_connection = True
            return b"", length
        return self.rfile.read(length), length

    def _content_length(self) -> int | None:
        """The body's declared length; None once a bad one has been answered."""
        values = {v.strip() for v in self.headers.get_all("Content-Length") or ["0"]}
        raw = values.pop()
        if not values and raw.isascii() and raw.isdigit():
            return int(raw)
        self.send_error(400, "Content-Length must be one whole number of bytes")
        return None

    def _chunked(self) -> tuple[bytes, int] | None:
        """A chunked body (RFC 9112 7.1), up to the API's size limit: incident.io takes them."""
        body = bytearray()
        while True:
            size = _chunk_size(self.rfile.readline(_CHUNK_LINE))
            if size is None:
                self.send_error(400, "malformed chunk size")
                return None
            if len(body) + size > BODY_LIMIT:
                # The rest is not read: the answer ends the connection.
                self.close_connection = True
                return b"", len(body) + size
            if size == 0:
                break
            body += self.rfile.read(size)
            if self.rfile.readline(_CHUNK_LINE) != b"\r\n":
                self.send_error(400, "chunk longer than its size, or cut short")
                return None
        # Trailer fields, up to the blank line that ends the message, are not used.
        for _ in range(100):
            if self.rfile.readline(_CHUNK_LINE) in (b"\r\n", b"\n", b""):
                return bytes(body), len(body)
        self.send_error(400, "too many trailer fields")
        return None

    def _send(self, status: int, data: bytes, extra: dict[str, str],
              content_type: str = "application/json", body_delay: float = 0.0) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body_delay:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.server.receiver._stopping.wait(body_delay)
            data = data[len(data) // 2:]
        self.wfile.write(data)

    def _reset(self) -> None:
        # Linger 0: close() sends RST, not FIN, as a crashed peer or a proxy would.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the receiver's own access log is of no use to a test."""


def _authorization(headers: dict[str, str]) -> str:
    """The Authorization header, whatever its case ("" without one)."""
    return next((v for k, v in headers.items() if k.lower() == "authorization"), "")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def _chunk_size(line: bytes) -> int | None:
    """A chunk's size from its size line (extensions ignored); None when malformed."""
    digits = line.split(b";", 1)[0].strip()
    malformed = not digits or len(digits) > 8 or digits.strip(b"0123456789abcdefABCDEF")
    if malformed or not line.endswith(b"\n"):
        return None
    return int(digits, 16)


def _nesting(value: object) -> int:
    """How deep ``value`` nests; without recursion, so any depth the parser took is fine."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _check_payload(payload: object) -> tuple[str, str] | None:
    if not isinstance(payload, dict):
        return "body", "body must be a JSON object"
    if not isinstance(payload.get("title"), str) or not payload["title"]:
        return "title", "title is required"
    if payload.get("status") not in ("firing", "resolved"):
        return "status", "status must be one of firing, resolved"
    key = payload.get("deduplication_key")
    if not isinstance(key, str) or not key:
        return "deduplication_key", "Deduplication key is required"
    for name in ("description", "source_url"):
        if name in payload and not isinstance(payload[name], str):
            return name, f"{name} must be a string"
    if "metadata" in payload and not isinstance(payload["metadata"], dict):
        return "metadata", "metadata must be an object"
    return None


def _error(kind: str, status: int, message: str, field_name: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": kind, "message": message}
    if field_name:
        error["source"] = {"field": field_name}
    return {"type": kind, "status": status, "request_id": "local", "errors": [error]}
