"""ASGI: the middleware on a hand-written app, in Starlette and FastAPI, and under uvicorn."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from incidentio_logging.contrib.asgi import LOGGER_NAME, ExceptionLoggingMiddleware
from incidentio_logging.testing import LocalReceiver

from .conftest import Kept, MakeHandler, free_port

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRETS = ("QUERY-S3CRET", "COOKIE-S3CRET", "HEADER-S3CRET", "BODY-S3CRET")
Message = dict[str, Any]




@pytest.fixture
def kept(logger: logging.Logger) -> Kept:
    """The records logged on the test's own logger."""
    handler = Kept()
    logger.addHandler(handler)
    return handler


def http_scope(path: str = "/checkout", **extra: Any) -> dict[str, Any]:
    """A GET with a query string, a cookie and an Authorization header, as a server sends it."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"token=QUERY-S3CRET", "root_path": "",
            "headers": [(b"cookie", b"session=COOKIE-S3CRET"),
                        (b"authorization", b"Bearer HEADER-S3CRET")],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), **extra}


async def connect(app: Any, scope: dict[str, Any], sent: list[Message]) -> None:
    """Serve one connection with ``app``, keeping what it sent. Its exception propagates."""
    async def receive() -> Message:
        return {"type": "http.request", "body": b"password=BODY-S3CRET", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)


def call(app: Any, scope: dict[str, Any]) -> list[Message]:
    """Serve one connection in a new event loop; what the app sent."""
    sent: list[Message] = []
    asyncio.run(connect(app, scope, sent))
    return sent


def failing(exc: BaseException, *, start: int | None = None) -> Any:
    """A plain ASGI app that raises ``exc``, after starting a response when ``start``."""
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        if start is not None:
            await send({"type": "http.response.start", "status": start, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise exc
    return app


def test_an_unhandled_exception_alerts_with_the_path_and_type_then_propagates(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """One event titled with the path and exception type; the summary; nothing secret."""
    handler = make_handler()
    logger.addHandler(handler)
    app = ExceptionLoggingMiddleware(failing(KeyError("total")), logger=logger)
    with pytest.raises(KeyError):
        call(app, http_scope())
    assert handler.flush(5)
    (event,) = receiver.events
    assert event.title == f"ERROR {logger.name}: KeyError on /checkout [GET]"
    (record,) = event.records
    assert record["request_summary"] == {"method": "GET", "path": "/checkout"}
    assert "KeyError: 'total'" in record["exc_info"]
    sent = b"".join(a.body for a in receiver.attempts)
    for secret in SECRETS:
        assert secret.encode() not in sent


def test_the_record_is_a_template_with_args_and_exc_info(
        logger: logging.Logger, kept: Kept) -> None:
    """Grouping keys on the template: the path and the type are arguments, never baked in."""
    boom = ZeroDivisionError("division by zero")
    with pytest.raises(ZeroDivisionError) as raised:
        call(ExceptionLoggingMiddleware(failing(boom), logger=logger), http_scope("/a/1"))
    assert raised.value is boom
    (record,) = kept.records
    assert record.levelno == logging.ERROR
    assert record.msg == "%s on %s [%s]"
    assert record.args == ("ZeroDivisionError", "/a/1", "GET")
    assert record.exc_info is not None and record.exc_info[1] is boom


@pytest.mark.parametrize(("path", "shown"), [
    ("/export\nFIRING", "/export\\nFIRING"),
    ("/files/" + "a" * 300, "/files/" + "a" * 110 + "..."),
], ids=["newline", "long"])
def test_an_asgi_title_names_the_exception_whatever_the_path_holds(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver,
        path: str, shown: str) -> None:
    """The client controls the path and servers percent-decode it (GET /export%0AFIRING
    gives "/export\\nFIRING"): the title, cut at its first line and at its length limit,
    still names the exception; the request summary keeps the path as it came."""
    handler = make_handler()
    logger.addHandler(handler)
    with pytest.raises(KeyError):
        call(ExceptionLoggingMiddleware(failing(KeyError("total")), logger=logger),
             http_scope(path))
    assert handler.flush(5)
    (event,) = receiver.events
    assert event.title == f"ERROR {logger.name}: KeyError on {shown} [GET]"
    assert event.records[0]["request_summary"]["path"] == path


def test_the_default_logger_propagates_to_the_root() -> None:
    """The README's root-logger setup sees it: no handler or propagate=False of its own."""
    middleware = ExceptionLoggingMiddleware(failing(ValueError()))
    assert middleware.logger is logging.getLogger(LOGGER_NAME)
    root, seen = logging.getLogger(), Kept()
    root.addHandler(seen)
    try:
        with pytest.raises(ValueError):
            call(middleware, http_scope())
    finally:
        root.removeHandler(seen)
    assert [r.name for r in seen.records] == [LOGGER_NAME]


def test_an_error_after_the_response_started_is_logged_with_its_status(
        logger: logging.Logger, kept: Kept) -> None:
    """A streamed body that fails halfway is still a failure; the summary says 200 was sent."""
    with pytest.raises(OSError, match="upstream"):
        call(ExceptionLoggingMiddleware(failing(OSError("upstream")), logger=logger),
             http_scope())
    with pytest.raises(OSError, match="halfway"):
        call(ExceptionLoggingMiddleware(failing(OSError("halfway"), start=200), logger=logger),
             http_scope())
    assert [r.request_summary.get("status_code") for r in kept.records] == [None, 200]


def test_a_websocket_exception_is_logged(logger: logging.Logger, kept: Kept) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})
        raise RuntimeError("socket handler bug")

    scope = {**http_scope("/ws"), "type": "websocket", "scheme": "ws"}
    del scope["method"]
    with pytest.raises(RuntimeError):
        call(ExceptionLoggingMiddleware(app, logger=logger), scope)
    (record,) = kept.records
    assert record.getMessage() == "RuntimeError on /ws [WEBSOCKET]"
    assert record.request_summary == {"method": "WEBSOCKET", "path": "/ws"}


def test_lifespan_passes_through(logger: logging.Logger, kept: Kept) -> None:
    """The app gets the server's own scope and receive, and its messages reach the server
    as sent; its failure is the server's to report."""
    seen: list[Any] = []
    sent: list[Message] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.extend((scope, receive))
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        raise RuntimeError("startup failed")

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    with pytest.raises(RuntimeError):
        asyncio.run(ExceptionLoggingMiddleware(app, logger=logger)(scope, receive, send))
    assert seen == [scope, receive]
    assert sent == [{"type": "lifespan.startup.failed", "message": "no database"}]
    assert kept.records == []


@pytest.mark.parametrize("done", ["lifespan.shutdown.complete", "lifespan.shutdown.failed"])
def test_what_the_lifespan_shutdown_logs_is_delivered_before_the_server_hears_it_is_done(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver,
        done: str) -> None:
    """The server may end the process as soon as the app says its shutdown is done (each
    ``uvicorn --workers`` process re-raises SIGTERM with the default disposition): what
    was logged meanwhile, still in its window, is delivered first."""
    logger.addHandler(make_handler(flush_interval=60))
    delivered_when_done: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        logger.error("logged during the graceful shutdown")
        await send({"type": done})

    async def receive() -> Message:
        return {"type": "lifespan.shutdown"}

    async def send(message: Message) -> None:
        delivered_when_done.append(len(receiver.events))

    asyncio.run(ExceptionLoggingMiddleware(app, logger=logger)(
        {"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    assert delivered_when_done == [1]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in 3.11")
def test_a_group_of_one_is_logged_as_its_exception_and_reraised_as_is(
        logger: logging.Logger, kept: Kept) -> None:
    """anyio and Starlette raise groups: the alert names the exception inside."""
    inner = LookupError("no such order")
    group = ExceptionGroup("unhandled errors in a TaskGroup",  # noqa: F821 - 3.11+
                           [ExceptionGroup("nested", [inner])])  # noqa: F821
    pair = ExceptionGroup("two", [ValueError(), TypeError()])  # noqa: F821
    for exc in (group, pair):
        with pytest.raises(ExceptionGroup) as raised:  # noqa: F821
            call(ExceptionLoggingMiddleware(failing(exc), logger=logger), http_scope())
        assert raised.value is exc
    first, second = kept.records
    assert first.args == ("LookupError", "/checkout", "GET")
    assert first.exc_info is not None and first.exc_info[1] is inner
    assert second.args == ("ExceptionGroup", "/checkout", "GET")


def test_the_client_going_away_does_not_alert(logger: logging.Logger, kept: Kept) -> None:
    """Cancellation is never caught; the disconnect exceptions pass through unlogged."""
    starlette_requests = pytest.importorskip("starlette.requests")
    starlette_websockets = pytest.importorskip("starlette.websockets")
    uvicorn_utils = pytest.importorskip("uvicorn.protocols.utils")
    for exc in (asyncio.CancelledError(), starlette_requests.ClientDisconnect(),
                starlette_websockets.WebSocketDisconnect(1001),
                uvicorn_utils.ClientDisconnected()):
        with pytest.raises(type(exc)):
            call(ExceptionLoggingMiddleware(failing(exc), logger=logger), http_scope())
    assert kept.records == []


def test_a_raising_filter_does_not_replace_the_apps_exception(logger: logging.Logger) -> None:
    def broken(record: logging.LogRecord) -> bool:
        raise RuntimeError("filter bug")

    logger.addFilter(broken)
    with pytest.raises(KeyError):
        call(ExceptionLoggingMiddleware(failing(KeyError("total")), logger=logger), http_scope())


def test_stacked_middlewares_log_an_exception_once(logger: logging.Logger, kept: Kept) -> None:
    """A mounted app with its own middleware, inside the main app's: the inner one logs.

    The same exception object raised by a later connection, served in the same context,
    is logged again.
    """
    other = logging.getLogger(f"{logger.name}.outer")
    app = ExceptionLoggingMiddleware(
        ExceptionLoggingMiddleware(failing(KeyError("total")), logger=logger), logger=other)

    async def two_connections() -> None:
        for _ in range(2):
            with pytest.raises(KeyError):
                await connect(app, http_scope(), [])

    asyncio.run(two_connections())
    assert [r.name for r in kept.records] == [logger.name, logger.name]


def test_the_options_are_checked() -> None:
    with pytest.raises(TypeError, match="app"):
        ExceptionLoggingMiddleware("main:app")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="logger"):
        ExceptionLoggingMiddleware(failing(ValueError()), logger=3)  # type: ignore[arg-type]


# --- Starlette and FastAPI, through their test client --------------------------------------

@pytest.fixture
def starlette_app(logger: logging.Logger) -> Any:
    """A Starlette app with a failing route with a typed parameter, and a websocket."""
    pytest.importorskip("httpx")
    applications = pytest.importorskip("starlette.applications")
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute

    def item(request: Any) -> Any:
        raise LookupError(request.path_params["item_id"])

    async def feed(websocket: Any) -> None:
        await websocket.accept()
        raise RuntimeError("feed broke")

    return applications.Starlette(routes=[
        Route("/", lambda request: PlainTextResponse("ok")),
        Route("/items/{item_id:int}", item),
        WebSocketRoute("/feed", feed),
    ])


@pytest.mark.parametrize("placement", ["add_middleware", "wrapped"])
def test_starlette_gives_the_route_and_still_answers_500(
        starlette_app: Any, logger: logging.Logger, kept: Kept, placement: str) -> None:
    """Inside its stack (before the 500) or around it (after): one record, with the route."""
    from starlette.testclient import TestClient

    if placement == "add_middleware":
        starlette_app.add_middleware(ExceptionLoggingMiddleware, logger=logger)
        app = starlette_app
    else:
        app = ExceptionLoggingMiddleware(starlette_app, logger=logger)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.cookies.set("session", "COOKIE-S3CRET")
        response = client.get("/items/3?token=QUERY-S3CRET",
                              headers={"Authorization": "Bearer HEADER-S3CRET"})
        assert response.status_code == 500
        assert client.get("/").status_code == 200
        assert client.get("/nowhere").status_code == 404
    (record,) = kept.records
    summary = {"method": "GET", "path": "/items/3", "route": "/items/{item_id:int}"}
    if placement == "wrapped":
        summary["status_code"] = 500  # Starlette sends its 500, then re-raises
    assert record.request_summary == summary
    assert record.getMessage() == "LookupError on /items/3 [GET]"


def test_a_starlette_websocket_exception_is_logged(
        starlette_app: Any, logger: logging.Logger, kept: Kept) -> None:
    from starlette.testclient import TestClient

    starlette_app.add_middleware(ExceptionLoggingMiddleware, logger=logger)
    with TestClient(starlette_app) as client, pytest.raises(RuntimeError, match="feed broke"), \
            client.websocket_connect("/feed") as socket:
        socket.receive_text()
    (record,) = kept.records
    assert record.request_summary == {"method": "WEBSOCKET", "path": "/feed", "route": "/feed"}


def test_fastapi_route_errors_alert_and_http_exceptions_do_not(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """HTTPException is handled inside FastAPI, so it never reaches the middleware."""
    pytest.importorskip("httpx")
    fastapi = pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    handler = make_handler()
    logger.addHandler(handler)
    app = fastapi.FastAPI()
    app.add_middleware(ExceptionLoggingMiddleware, logger=logger)

    @app.post("/orders/{order_id}")
    async def pay(order_id: int) -> dict[str, int]:
        raise ConnectionRefusedError("payments down")

    @app.get("/orders/{order_id}")
    async def show(order_id: int) -> dict[str, int]:
        raise fastapi.HTTPException(404)

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/orders/7", content=b"BODY-S3CRET").status_code == 500
        assert client.get("/orders/7").status_code == 404
    assert handler.flush(5)
    (event,) = receiver.events
    assert event.title == (f"ERROR {logger.name}: ConnectionRefusedError on /orders/7 "
                           "[POST]")
    assert event.records[0]["request_summary"] == {
        "method": "POST", "path": "/orders/7", "route": "/orders/{order_id}"}
    assert b"BODY-S3CRET" not in b"".join(a.body for a in receiver.attempts)


# --- uvicorn, for real -----------------------------------------------------------------------

@pytest.fixture
def serve(receiver: LocalReceiver) -> Iterator[Any]:
    """Start uvicorn on the FastAPI example with the given extra arguments; SIGINT at the end."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    servers: list[subprocess.Popen[str]] = []

    def start(*arguments: str) -> tuple[str, subprocess.Popen[str]]:
        port = free_port()
        env = {**os.environ, "INCIDENT_IO_API_TOKEN": receiver.api_token,
               "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.webhook_url}
        servers.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
             "--app-dir", "examples", *arguments, "fastapi_app:app"],
            cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(base, timeout=2)
                return base, servers[-1]
            except requests.ConnectionError:
                if time.monotonic() > deadline or servers[-1].poll() is not None:
                    raise
                time.sleep(0.1)

    yield start
    for server in servers:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


@pytest.mark.skipif(sys.platform == "win32", reason="signals as on POSIX")
@pytest.mark.timeout(90)
@pytest.mark.parametrize("arguments", [(), ("--log-config", "examples/uvicorn_logging.json")],
                         ids=["root-logger-in-code", "log-config-file"])
def test_a_failing_route_under_uvicorn_alerts_once_and_the_server_keeps_serving(
        serve: Any, receiver: LocalReceiver, arguments: tuple[str, ...]) -> None:
    """The README's two setups: one alert naming path and type; 500; the next request works."""
    base, server = serve(*arguments)
    response = requests.get(f"{base}/orders/42?token=QUERY-S3CRET", timeout=10,
                            headers={"Authorization": "Bearer HEADER-S3CRET",
                                     "Cookie": "session=COOKIE-S3CRET"})
    assert response.status_code == 500
    assert requests.get(base, timeout=10).json() == {"status": "ok"}
    (event,) = receiver.wait_for(1)
    assert event.title == "ERROR incidentio_logging.asgi: KeyError on /orders/42 [GET]"
    assert event.records[0]["request_summary"] == {
        "method": "GET", "path": "/orders/42", "route": "/orders/{order_id}"}
    assert event.metadata["service"] == "orders"
    server.send_signal(signal.SIGINT)  # uvicorn exits normally: the handler delivers all it has
    _, errors = server.communicate(timeout=30)
    assert server.returncode == 0, errors
    assert "Exception in ASGI application" in errors  # uvicorn still logs it, to the console
    assert "incidentio-logging:" not in errors  # nothing dropped or refused
    assert len(receiver.events) == 1  # not a second, vaguer one from uvicorn.error
    sent = b"".join(a.body for a in receiver.attempts)
    for secret in SECRETS:
        assert secret.encode() not in sent


UVICORN_APP_MODULE = """
import logging
from incidentio_logging import IncidentIOHandler
from incidentio_logging.contrib.asgi import ExceptionLoggingMiddleware

log = logging.getLogger("app")


async def lifespan_app(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            print("ready", flush=True)
        elif message["type"] == "lifespan.shutdown":
            log.error("logged during the graceful shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
"""
HANDLER = {"class": "incidentio_logging.IncidentIOHandler", "level": "ERROR",
           "flush_interval": 60, "flush_on_sigterm": True}
# The README's two ways under --workers: the middleware on an app whose module sets up the
# root logger, or the handler in uvicorn's --log-config and the app as it is.
WORKER_SETUPS = {
    "app-module-and-middleware": (
        "logging.getLogger().addHandler(IncidentIOHandler(flush_interval=60, "
        "flush_on_sigterm=True))\napp = ExceptionLoggingMiddleware(lifespan_app)\n", None),
    "log-config": ("app = lifespan_app\n", {
        "version": 1, "disable_existing_loggers": False,
        "handlers": {"incident_io": HANDLER}, "root": {"handlers": ["incident_io"]}}),
}


@pytest.mark.skipif(sys.platform == "win32", reason="signals as on POSIX")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("setup", sorted(WORKER_SETUPS))
def test_sigterm_under_uvicorn_workers_delivers_what_the_graceful_shutdown_logs(
        receiver: LocalReceiver, tmp_path: Path, setup: str) -> None:
    """uvicorn --workers 2. Each worker imports the app while uvicorn's SIGTERM handler is
    installed, so a flush_on_sigterm hook built there runs first, then uvicorn shuts down
    gracefully, puts back the default and re-raises SIGTERM. An error logged during the
    shutdown arrives from each worker: the middleware flushes when the app reports its
    lifespan shutdown done; a handler from --log-config is built before uvicorn's hook."""
    pytest.importorskip("uvicorn")
    module, log_config = WORKER_SETUPS[setup]
    (tmp_path / "appmod.py").write_text(UVICORN_APP_MODULE + module)
    arguments = ["appmod:app", "--host", "127.0.0.1", "--port", "0", "--workers", "2"]
    if log_config is None:
        arguments += ["--log-level", "warning"]
    else:
        (tmp_path / "logging.json").write_text(json.dumps(log_config))
        arguments += ["--log-config", "logging.json"]
    env = {**os.environ, "INCIDENT_IO_API_TOKEN": receiver.api_token,
           "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.webhook_url,
           "PYTHONPATH": os.pathsep.join((str(tmp_path), os.environ.get("PYTHONPATH", HERE)))}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", *arguments], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert [proc.stdout.readline().strip() for _ in range(2)] == ["ready", "ready"]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    messages = [r["message"] for e in receiver.events for r in e.records]
    assert messages.count("logged during the graceful shutdown") == 2, (messages, stderr[-800:])


def test_the_readme_shows_the_log_config_the_uvicorn_test_runs() -> None:
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as readme:
        blocks = re.findall(r"```json\n(.*?)```", readme.read(), re.DOTALL)
    with open(os.path.join(HERE, "examples", "uvicorn_logging.json"), encoding="utf-8") as file:
        assert json.load(file) in [json.loads(block) for block in blocks]
