"""Flask, for real: an app whose errors reach app.log_exception, and gunicorn --preload."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from incidentio_logging import IncidentIOHandler
from incidentio_logging.contrib.flask import RequestSummaryFilter
from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler, free_port

flask = pytest.importorskip("flask")

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRETS = ("QUERY-S3CRET", "COOKIE-S3CRET", "HEADER-S3CRET", "PASSWORD-S3CRET")


def summarising(app: Any, make_handler: MakeHandler) -> IncidentIOHandler:
    """A handler on ``app.logger`` with the summary filter; the caller removes it."""
    handler = make_handler()
    handler.addFilter(RequestSummaryFilter())
    app.logger.addHandler(handler)
    return handler


@pytest.fixture
def app(make_handler: MakeHandler) -> Iterator[tuple[Any, Any]]:
    """A Flask app with a failing view, and its handler with the summary filter."""
    app = flask.Flask("storefront")
    handler = summarising(app, make_handler)

    @app.route("/checkout", methods=["GET", "POST"])
    def checkout() -> str:
        return str({}["total"])

    @app.route("/")
    def home() -> str:
        return "ok"

    yield app, handler
    app.logger.removeHandler(handler)


def test_a_failing_view_alerts_once_with_a_request_summary(
        app: tuple[Any, Any], receiver: LocalReceiver) -> None:
    """log_exception's record becomes one event, with method, path, rule and endpoint."""
    flask_app, handler = app
    assert flask_app.test_client().get("/checkout?x=1").status_code == 500
    handler.flush(5)
    (event,) = receiver.events
    assert event.title == "ERROR storefront: Exception on /checkout [GET]"
    (record,) = event.records
    assert record["request_summary"] == {"method": "GET", "path": "/checkout",
                                         "route": "/checkout", "endpoint": "checkout"}
    assert "KeyError: 'total'" in record["exc_info"]


def test_secrets_in_the_request_never_leave(app: tuple[Any, Any],
                                            receiver: LocalReceiver) -> None:
    """Query token, session cookie, Authorization header and a POSTed password."""
    flask_app, handler = app
    browser = flask_app.test_client()
    browser.set_cookie("session", "COOKIE-S3CRET")
    browser.get("/checkout?token=QUERY-S3CRET", headers={"Authorization": "Bearer HEADER-S3CRET"})
    browser.post("/checkout", data={"password": "PASSWORD-S3CRET"})
    handler.flush(5)
    sent = b"".join(a.body for a in receiver.attempts)
    assert sent.count(b"Exception on /checkout") >= 2
    for secret in SECRETS:
        assert secret.encode() not in sent


def test_a_404_and_a_working_page_do_not_alert(app: tuple[Any, Any],
                                               receiver: LocalReceiver) -> None:
    """Flask logs neither."""
    flask_app, handler = app
    assert flask_app.test_client().get("/nope").status_code == 404
    assert flask_app.test_client().get("/").status_code == 200
    handler.flush(5)
    assert receiver.attempts == []


def test_outside_a_request_records_pass_unchanged() -> None:
    """The filter adds nothing without a request context, and never refuses."""
    record = logging.makeLogRecord({"msg": "startup failed"})
    assert RequestSummaryFilter().filter(record)
    assert not hasattr(record, "request_summary")


def test_in_a_request_the_summary_is_added_once_and_a_callers_own_is_kept() -> None:
    app = flask.Flask("storefront")
    with app.test_request_context("/checkout?card=1", method="POST"):
        record = logging.makeLogRecord({"msg": "declined"})
        assert RequestSummaryFilter().filter(record)
        assert record.request_summary == {"method": "POST", "path": "/checkout"}
        mine = logging.makeLogRecord({"msg": "declined", "request_summary": "the caller's"})
        assert RequestSummaryFilter().filter(mine)
        assert mine.request_summary == "the caller's"


def login_app(make_handler: MakeHandler, *, loader_logs: bool) -> tuple[Any, Any, list[str]]:
    """An app with Flask-Login whose user_loader counts its calls (and may log an error,
    as one that meets a slow database would); /checkout never touches the user,
    /account does; both fail."""
    flask_login = pytest.importorskip("flask_login")
    app = flask.Flask("accounts")
    app.secret_key = "test-only-secret"  # signs the test client's session
    manager = flask_login.LoginManager(app)
    loads: list[str] = []

    class User(flask_login.UserMixin):
        def __init__(self, user_id: str) -> None:
            self.id = user_id

    @manager.user_loader
    def load_user(user_id: str) -> User:
        loads.append(user_id)
        if loader_logs:
            app.logger.error("user store slow for user %s", user_id)
        return User(user_id)

    @app.route("/checkout")
    def checkout() -> str:
        return str({}["total"])

    @app.route("/account")
    def account() -> str:
        return str({}[flask_login.current_user.get_id()])

    handler = summarising(app, make_handler)
    return app, handler, loads


def signed_in(app: Any) -> Any:
    """A test client whose session says user 7 is logged in."""
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = "7"
        session["_fresh"] = True
    return browser


def test_the_filter_never_runs_the_user_loader(make_handler: MakeHandler,
                                               receiver: LocalReceiver) -> None:
    """A view that never touched the user: its error record must not load one (it took
    2.00 s against a database that was down). The id comes from the session."""
    app, handler, loads = login_app(make_handler, loader_logs=False)
    try:
        assert signed_in(app).get("/checkout").status_code == 500
        handler.flush(5)
        assert loads == []
        (event,) = receiver.events
        assert event.records[0]["request_summary"]["user_id"] == "7"
    finally:
        app.logger.removeHandler(handler)


def test_a_user_loader_that_logs_does_not_recurse(make_handler: MakeHandler,
                                                  receiver: LocalReceiver) -> None:
    """The loader's own error record is filtered while the user is being loaded: it once
    ran the loader again, 65 times over. Both records name the user the session holds."""
    app, handler, loads = login_app(make_handler, loader_logs=True)
    try:
        assert signed_in(app).get("/account").status_code == 500
        handler.flush(5)
        assert loads == ["7"]
        records = [r for e in receiver.events for r in e.records]
        by_message = {r["message"]: r["request_summary"] for r in records}
        assert by_message["user store slow for user 7"]["user_id"] == "7"
        assert by_message["Exception on /account [GET]"]["user_id"] == "7"
    finally:
        app.logger.removeHandler(handler)


@pytest.mark.timeout(30)
def test_the_flask_filter_does_not_query_the_database_for_a_loaded_users_id(
        make_handler: MakeHandler, receiver: LocalReceiver) -> None:
    """The filter called user.is_authenticated and user.get_id() on the loaded user:
    model code. After db.session.commit() (expire_on_commit) UserMixin.get_id() reads
    self.id, which reloads the user from the database inside the logging call, perhaps
    the very database that is failing. Flask-Login keeps the id in session["_user_id"]."""
    flask_login = pytest.importorskip("flask_login")
    queries: list[str] = []

    class User(flask_login.UserMixin):  # type: ignore[misc]
        """Like a SQLAlchemy model: an expired attribute is re-read from the database."""

        def __init__(self, user_id: str) -> None:
            self._id = user_id
            self.expired = False

        @property
        def id(self) -> str:
            if self.expired:
                queries.append("SELECT users.id FROM users WHERE users.id = ?")
            return self._id

    app = flask.Flask("shop")
    app.secret_key = "test-only-secret"
    login = flask_login.LoginManager(app)
    users = {"7": User("7")}
    login.user_loader(users.get)
    handler = summarising(app, make_handler)

    @app.route("/login")
    def log_in() -> str:
        flask_login.login_user(users["7"])
        return "ok"

    @app.route("/pay")
    def pay() -> str:
        assert flask_login.current_user.is_authenticated  # the view loaded its user
        users["7"].expired = True  # db.session.commit(): every instance is expired
        queries.clear()
        app.logger.error("charge failed after the order was committed")
        return f"{len(queries)}"

    try:
        client = app.test_client()
        client.get("/login")
        assert client.get("/pay").text == "0", queries
        assert handler.flush(5)
        (record,) = [r for e in receiver.events for r in e.records]
        assert record["request_summary"]["user_id"] == "7"
    finally:
        app.logger.removeHandler(handler)


def test_the_filter_neither_opens_nor_marks_the_session(make_handler: MakeHandler,
                                                         receiver: LocalReceiver) -> None:
    """A server-side session store that logs while it opens the session (it is down): the
    filter must not open it again, nor give up the summary. And reading the user id must
    not mark the session accessed, which adds Vary: Cookie to every error response."""
    from flask.sessions import SecureCookieSessionInterface

    opened: list[str] = []

    class Store(SecureCookieSessionInterface):
        def open_session(self, app: Any, request: Any) -> Any:
            opened.append(request.path)
            app.logger.error("session store slow")
            return super().open_session(app, request)

    app = flask.Flask("store")
    app.secret_key = "test-only-secret"
    app.session_interface = Store()
    handler = summarising(app, make_handler)

    @app.route("/report")
    def report() -> str:
        app.logger.error("report failed")
        return "ok"

    try:
        browser = app.test_client()
        with browser.session_transaction() as session:
            session["_user_id"] = "7"
        opened.clear()
        response = browser.get("/report")
        assert opened == ["/report"]
        assert "Cookie" not in response.headers.get("Vary", "")
        assert handler.flush(5)
        summaries = {r["message"]: r["request_summary"]
                     for e in receiver.events for r in e.records}
        assert summaries["session store slow"] == {"method": "GET", "path": "/report"}
        assert summaries["report failed"]["user_id"] == "7"
    finally:
        app.logger.removeHandler(handler)


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn is POSIX only")
@pytest.mark.timeout(90)
def test_the_flask_example_under_gunicorn_preload_alerts_from_both_workers(
        receiver: LocalReceiver) -> None:
    """gunicorn --preload -w 2: each worker's errors arrive; SIGTERM shuts down cleanly."""
    port = free_port()
    env = {**os.environ, "INCIDENT_IO_API_TOKEN": receiver.api_token,
           "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.webhook_url}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-b", f"127.0.0.1:{port}",
         "--chdir", os.path.join(HERE, "examples"), "flask_app:app"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/checkout"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        pids: set[int] = set()
        with ThreadPoolExecutor(8) as pool:
            while len(pids) < 2 and time.monotonic() < deadline:
                statuses = list(pool.map(lambda _: requests.get(url, timeout=5).status_code,
                                         range(16)))
                assert set(statuses) == {500}
                time.sleep(1.2)  # past the default one-second window
                pids = {r["process"] for e in receiver.events for r in e.records}
        assert len(pids) == 2, f"alerts came from {pids}"
        assert server.pid not in pids  # the workers send, not the preloading master
    finally:
        server.send_signal(signal.SIGTERM)
        _, errors = server.communicate(timeout=30)
    assert server.returncode == 0, errors
    assert "Shutting down: Master" in errors
    assert "incidentio-logging:" not in errors  # nothing dropped, refused or stuck


def test_the_module_keeps_summary_attribute() -> None:
    """``SUMMARY_ATTRIBUTE`` was a public constant of contrib.flask (the attribute the
    filter sets); the shared SummaryFilter moved it to contrib/_summary.py, and the
    module must still export it under its name."""
    from incidentio_logging.contrib import flask as contrib_flask

    assert contrib_flask.SUMMARY_ATTRIBUTE == "request_summary"
    assert "SUMMARY_ATTRIBUTE" in contrib_flask.__all__
