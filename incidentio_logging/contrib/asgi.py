"""ASGI: a middleware that logs the exceptions an app lets escape, then re-raises them.

Wrap the app (FastAPI, Starlette, or any ASGI callable)::

    from incidentio_logging.contrib.asgi import ExceptionLoggingMiddleware

    app = ExceptionLoggingMiddleware(app)          # any ASGI app
    app.add_middleware(ExceptionLoggingMiddleware)  # or from inside FastAPI/Starlette

Servers log an escaped exception themselves, but uvicorn does it on ``uvicorn.error``,
which does not reach the root logger, and as "Exception in ASGI application", naming
neither the request nor the exception. This middleware logs it on
``incidentio_logging.asgi``, which propagates to the root, as
``KeyError on /checkout [GET]`` with ``exc_info`` and a ``request_summary``
of the same shape as the Django and Flask filters give: the method (``WEBSOCKET`` for a
websocket), the path without its query string, the route when the framework put it in
``scope["route"]`` (Starlette and FastAPI do), and the status code when the app had
already started its response. Headers, cookies, the query string and the body are never
read. Then it re-raises, so the server answers and logs as it did before.

The exception type comes first in the message, and the path in it is made one line
(control characters escaped) and cut to ``TITLE_PATH_LENGTH`` characters: the client
chooses the path, and servers percent-decode it, so ``/export%0A...`` must not push the
type out of the alert's title. The ``request_summary`` keeps the path as it came.

- It logs even when the response had started (Starlette sends its 500 first, then
  re-raises; a streamed body can fail halfway): the app still failed.
- An exception group holding a single exception (anyio task groups raise those) is
  logged as that exception; the group itself is what is re-raised.
- The client going away is not a fault of the app and does not alert: cancellation is a
  ``BaseException`` and is never caught, and uvicorn's ``ClientDisconnected`` and
  Starlette's ``ClientDisconnect`` and ``WebSocketDisconnect`` are re-raised unlogged.
- A ``lifespan`` connection passes through, except that when the app reports its
  shutdown done (``lifespan.shutdown.complete``, or ``.failed``) every handler is flushed
  (``flush_all()``, within the longest ``shutdown_timeout``) before the server hears it.
  What the shutdown logged is then delivered even when the server ends the process by
  re-raising SIGTERM, as each ``uvicorn --workers`` process does, past the
  ``flush_on_sigterm`` hook. Other scope types pass straight through.
- Stacked middlewares (a mounted app with its own) log an exception once, innermost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from contextvars import ContextVar
from typing import Any

from .. import flush_all
from .._serialize import _GROUP_TYPES
from ._summary import SUMMARY_ATTRIBUTE

__all__ = ["LOGGER_NAME", "SUMMARY_ATTRIBUTE", "ExceptionLoggingMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The longest path the message shows; the request summary keeps all of it.
TITLE_PATH_LENGTH = 120
#: The logger used unless one is given: under the library's name, so it propagates to the
#: root as every library logger does, and can be tuned as ``incidentio_logging``.
LOGGER_NAME = "incidentio_logging.asgi"
#: What the middlewares of the connection being served have logged: one list per
#: connection, made by the outermost. Each layer sees the same exception object, so a
#: mounted app's middleware inside the main app's logs it once; an exception object an app
#: raises again in a later request is logged again.
_LOGGED: ContextVar[list[Exception] | None] = ContextVar("incidentio_logging_asgi",
                                                         default=None)
#: The lifespan messages after which the app logs nothing more: flushed before sent.
_SHUTDOWN_DONE = frozenset({"lifespan.shutdown.complete", "lifespan.shutdown.failed"})
#: Exceptions that mean the client went away, by (module, class name): matched without
#: importing the frameworks, which are not dependencies.
_DISCONNECTS = frozenset({
    ("uvicorn.protocols.utils", "ClientDisconnected"),
    ("starlette.requests", "ClientDisconnect"),
    ("starlette.websockets", "WebSocketDisconnect"),
})


class ExceptionLoggingMiddleware:
    """Logs an ASGI app's unhandled exceptions with a request summary, then re-raises."""

    def __init__(self, app: ASGIApp, logger: logging.Logger | str = LOGGER_NAME) -> None:
        """``logger`` is a logger or its name; it should propagate to where the handler is."""
        if not callable(app):
            raise TypeError(f"app must be an ASGI callable, not {type(app).__name__}")
        if not isinstance(logger, (logging.Logger, str)):
            raise TypeError(f"logger must be a logging.Logger or a name, "
                            f"not {type(logger).__name__}")
        self.app = app
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; log what escapes it from an HTTP or websocket connection."""
        kind = scope.get("type")
        if kind == "lifespan":
            await self.app(scope, receive, _flushing_at_shutdown(send))
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        status: object = None

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = message.get("status")
            await send(message)

        logged = _LOGGED.get()
        token = None
        if logged is None:  # the outermost layer: the list is this connection's
            logged = []
            token = _LOGGED.set(logged)
        try:
            await self.app(scope, receive, noting_status if kind == "http" else send)
        except Exception as exc:
            self._log(scope, exc, status, logged)
            raise
        finally:
            if token is not None:
                _LOGGED.reset(token)

    def _log(self, scope: Scope, exc: Exception, status: object,
             logged: list[Exception]) -> None:
        shown = single_exception(exc)
        if _is_disconnect(shown) or any(seen is exc for seen in logged):
            return
        logged.append(exc)
        try:
            summary = request_summary(scope, status)
            self.logger.error("%s on %s [%s]", type(shown).__name__,
                              title_path(summary["path"]), summary["method"],
                              exc_info=(type(shown), shown, shown.__traceback__),
                              extra={SUMMARY_ATTRIBUTE: summary})
        except Exception:  # noqa: BLE001, S110 - a raising filter must not replace the app's error
            pass


def _flushing_at_shutdown(send: Send) -> Send:
    async def flushing(message: Message) -> None:
        if message.get("type") in _SHUTDOWN_DONE:
            # On the event loop, which serves nothing more once the server shuts the app
            # down; bounded by the handlers' shutdown_timeout, and never raises.
            flush_all()
        await send(message)
    return flushing


def request_summary(scope: Scope, status_code: object = None) -> dict[str, Any]:
    """The safe part of an HTTP or websocket scope: method, path, route, status code."""
    method = scope.get("method") if scope.get("type") == "http" else "WEBSOCKET"
    path = scope.get("path")
    summary: dict[str, Any] = {"method": method if isinstance(method, str) else "",
                               "path": path if isinstance(path, str) else ""}
    # The declared pattern, "/items/{item_id:int}", as Flask's rule and Django's route are.
    route = getattr(scope.get("route"), "path", None)
    if isinstance(route, str) and route:
        summary["route"] = route
    if isinstance(status_code, int):
        summary["status_code"] = status_code
    return summary


def title_path(path: str) -> str:
    """``path`` on one line, its control characters escaped, cut to ``TITLE_PATH_LENGTH``."""
    shown = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
                    for char in path)
    if len(shown) <= TITLE_PATH_LENGTH:
        return shown
    return shown[: TITLE_PATH_LENGTH - 3] + "..."


def single_exception(exc: Exception) -> Exception:
    """``exc``, or the one exception inside it while it is a group of one."""
    while isinstance(exc, _GROUP_TYPES):
        inner: Sequence[Exception] = getattr(exc, "exceptions", ())
        if len(inner) != 1:
            break
        exc = inner[0]
    return exc


def _is_disconnect(exc: Exception) -> bool:
    return any((cls.__module__, cls.__name__) in _DISCONNECTS for cls in type(exc).__mro__)
