"""Django, for real: the example project's LOGGING, its test client, the local receiver."""

from __future__ import annotations

import logging
import logging.config
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import LocalReceiver

django = pytest.importorskip("django")

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = os.path.join(HERE, "examples", "django_project")
SECRETS = ("QUERY-S3CRET", "COOKIE-S3CRET", "HEADER-S3CRET", "PASSWORD-S3CRET")


@pytest.fixture(scope="module")
def shop() -> Iterator[LocalReceiver]:
    """django.setup() with the example settings, its handler aimed at a receiver."""
    saved = {k: os.environ.get(k) for k in ("INCIDENT_IO_API_TOKEN",
                                            "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID",
                                            "DJANGO_SETTINGS_MODULE")}
    with LocalReceiver() as receiver:
        os.environ.update(INCIDENT_IO_API_TOKEN=receiver.api_token,
                          INCIDENT_IO_ALERT_SOURCE_CONFIG_ID=receiver.webhook_url,
                          DJANGO_SETTINGS_MODULE="shop.settings")
        sys.path.insert(0, PROJECT)
        try:
            django.setup()  # dictConfig twice: Django's defaults, then the project's LOGGING
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            yield receiver
        finally:
            logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
            sys.path.remove(PROJECT)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def handler() -> IncidentIOHandler:
    return next(h for h in logging.getLogger("django.request").handlers
                if isinstance(h, IncidentIOHandler))


def new_events(receiver: LocalReceiver, before: int) -> list[Any]:
    handler().flush(5)
    return receiver.events[before:]


def client() -> Any:
    from django.test import Client

    return Client(raise_request_exception=False)


def test_a_failing_view_alerts_once_with_a_request_summary(shop: LocalReceiver) -> None:
    """A 500 gives one event, titled like Django's log line, with the safe summary."""
    before = len(shop.events)
    assert client().get("/checkout/").status_code == 500
    (event,) = new_events(shop, before)
    assert event.title == "ERROR django.request: Internal Server Error: /checkout/"
    (record,) = event.records
    assert record["request_summary"] == {"method": "GET", "path": "/checkout/",
                                         "status_code": 500, "route": "checkout/",
                                         "view": "checkout"}
    assert record["request"] == "<WSGIRequest>"
    assert "KeyError: 'total'" in record["exc_info"]
    assert event.metadata["service"] == "shop"


def test_secrets_in_the_request_never_leave(shop: LocalReceiver) -> None:
    """Query token, session cookie, Authorization header and a POSTed password."""
    before = len(shop.attempts)
    browser = client()
    browser.cookies["sessionid"] = "COOKIE-S3CRET"
    assert browser.get("/checkout/?token=QUERY-S3CRET",
                       HTTP_AUTHORIZATION="Bearer HEADER-S3CRET").status_code == 500
    assert browser.post("/checkout/", {"password": "PASSWORD-S3CRET"}).status_code == 500
    handler().flush(5)
    sent = b"".join(a.body for a in shop.attempts[before:])
    assert sent.count(b"Internal Server Error: /checkout/") >= 2
    for secret in SECRETS:
        assert secret.encode() not in sent


def test_a_queryset_and_a_lazy_string_in_extra_are_named_not_evaluated(
        shop: LocalReceiver) -> None:
    """A queryset's repr runs its query, on the worker's own connection (or waits on the
    database that is failing); a lazy string's setup is a translation. Both are named."""
    from django.contrib.auth.models import User
    from django.utils.translation import gettext_lazy

    User.objects.create_user("linus", password="irrelevant")
    before = len(shop.events)
    logging.getLogger("django.request").error("export failed", extra={
        "users": User.objects.all(), "label": gettext_lazy("Cart")})
    (event,) = new_events(shop, before)
    assert event.records[0]["users"] == "<QuerySet>"
    assert event.records[0]["label"] == "<__proxy__>"


def test_an_authenticated_user_is_named_by_id(shop: LocalReceiver) -> None:
    """The user id appears when the view loaded an authenticated user."""
    from django.contrib.auth.models import User

    user = User.objects.create_user("ada", password="irrelevant")
    browser = client()
    browser.force_login(user)
    before = len(shop.events)
    browser.get("/checkout/")
    (event,) = new_events(shop, before)
    assert event.records[0]["request_summary"]["user_id"] == str(user.pk)


def test_a_user_an_async_view_loaded_is_named_and_none_is_loaded_otherwise(
        shop: LocalReceiver) -> None:
    """``await request.auser()`` keeps the user in ``_acached_user``, which the filter
    missed. A request whose user nobody loaded is left so: the filter loads nothing."""
    from asgiref.sync import async_to_sync
    from django.contrib.auth import login
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.auth.models import User
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.http import HttpResponse
    from django.test import RequestFactory

    from incidentio_logging.contrib.django import RequestSummaryFilter

    user = User.objects.create_user("grace", password="irrelevant")

    def signed_in_request() -> Any:
        request = RequestFactory().get("/checkout/")
        SessionMiddleware(lambda r: HttpResponse()).process_request(request)
        login(request, user)
        AuthenticationMiddleware(lambda r: HttpResponse()).process_request(request)
        return request

    def summary(request: Any) -> dict[str, Any]:
        record = logging.makeLogRecord({"msg": "boom", "request": request})
        assert RequestSummaryFilter().filter(record)
        result: dict[str, Any] = record.request_summary
        return result

    loaded = signed_in_request()
    # What an async view does; run from this thread so the query sees its database.
    async_to_sync(loaded.auser)()
    assert summary(loaded)["user_id"] == str(user.pk)

    untouched = signed_in_request()
    assert "user_id" not in summary(untouched)
    assert not {"_cached_user", "_acached_user"} & set(vars(untouched))


def test_a_404_does_not_alert(shop: LocalReceiver) -> None:
    """Django logs 404s as warnings: below the handler's level."""
    before = len(shop.events)
    assert client().get("/no-such-page/").status_code == 404
    assert new_events(shop, before) == []


def test_a_working_page_does_not_alert(shop: LocalReceiver) -> None:
    """No error, no event."""
    before = len(shop.events)
    assert client().get("/").status_code == 200
    assert new_events(shop, before) == []


def test_djangos_double_dictconfig_leaks_no_thread_and_does_not_hang(
        receiver: LocalReceiver) -> None:
    """setup() configures logging twice; reconfiguring again later must not leak workers."""
    script = textwrap.dedent("""
        import logging, threading, time
        import django
        from django.conf import settings
        from django.utils.log import configure_logging
        django.setup()
        def workers():
            return [t for t in threading.enumerate()
                    if t.name.startswith("incidentio-logging-worker")]
        logging.getLogger("django.request").error("Internal Server Error: %s", "/a/")
        first = len(workers())
        configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)  # as a reload does
        logging.getLogger("django.request").error("Internal Server Error: %s", "/b/")
        deadline = time.monotonic() + 10
        while len(workers()) > 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        print(first, len(workers()))
    """)
    env = {**os.environ, "INCIDENT_IO_API_TOKEN": receiver.api_token,
           "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.webhook_url,
           "DJANGO_SETTINGS_MODULE": "shop.settings", "PYTHONPATH": PROJECT}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1"]
    messages = sorted(r["message"] for e in receiver.wait_for(2) for r in e.records)
    assert messages == ["Internal Server Error: /a/", "Internal Server Error: /b/"]


def test_a_record_whose_request_attribute_raises_passes_without_a_summary() -> None:
    """A LogRecord subclass (from a record factory) whose ``request`` raises when read:
    the filter keeps the record and adds nothing; it never raises into the logging call."""
    from incidentio_logging.contrib.django import RequestSummaryFilter

    class Record(logging.LogRecord):
        @property
        def request(self) -> Any:
            raise RuntimeError("request is gone")

    record = Record("shop", logging.ERROR, __file__, 1, "boom", None, None)
    assert RequestSummaryFilter().filter(record)
    assert "request_summary" not in vars(record)


def test_the_module_keeps_summary_attribute() -> None:
    """``SUMMARY_ATTRIBUTE`` was a public constant of contrib.django (the attribute the
    filter sets); the shared SummaryFilter moved it to contrib/_summary.py, and the
    module must still export it under its name."""
    from incidentio_logging.contrib import django as contrib_django

    assert contrib_django.SUMMARY_ATTRIBUTE == "request_summary"
    assert "SUMMARY_ATTRIBUTE" in contrib_django.__all__
