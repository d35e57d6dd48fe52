"""Django: a logging filter that adds a safe summary of the request to error records.

Add it to the handler in ``LOGGING``::

    "filters": {
        "request_summary": {"()": "incidentio_logging.contrib.django.RequestSummaryFilter"},
    },
    "handlers": {"incident_io": {..., "filters": ["request_summary"]}},

Django puts the request on ``record.request`` (``django.request`` and ``django.security``
loggers). The summary holds the method, the path without its query string, the status
code, the route and view name, and the user id when the request's user was already loaded
(by ``request.user`` or, in an async view, ``await request.auser()``) and is
authenticated; the filter never loads it. Cookies, headers, the body, the query string,
the session and settings are never read into it; the request object itself is never
serialized.
"""

from __future__ import annotations

import logging
from typing import Any

from ._summary import SUMMARY_ATTRIBUTE, SummaryFilter

__all__ = ["SUMMARY_ATTRIBUTE", "RequestSummaryFilter"]


class RequestSummaryFilter(SummaryFilter):
    """Adds ``record.request_summary``; never rejects a record and never raises."""

    def summarize(self, record: logging.LogRecord) -> dict[str, Any] | None:
        """The summary of the Django request the record carries, if it carries one."""
        request = getattr(record, "request", None)
        if request is None:
            return None
        return request_summary(request, getattr(record, "status_code", None))


def request_summary(request: object, status_code: object = None) -> dict[str, Any] | None:
    """The safe part of a request, or None for what is not an ``HttpRequest``.

    ``django.server`` logs with ``record.request`` set to a socket, which has none.
    """
    from django.http import HttpRequest  # noqa: PLC0415 - Django is optional

    if not isinstance(request, HttpRequest):
        return None
    summary: dict[str, Any] = {"method": request.method, "path": request.path}
    if isinstance(status_code, int):
        summary["status_code"] = status_code
    match = getattr(request, "resolver_match", None)
    if match is not None:
        summary["route"] = match.route or None
        summary["view"] = match.view_name
    user = _loaded_user(request)
    if user is not None and getattr(user, "is_authenticated", False):
        summary["user_id"] = str(user.pk)
    return summary


def _loaded_user(request: object) -> Any:
    """The user the request already loaded, or None; never loads one.

    Evaluating ``request.user`` could query the database from inside a logging call,
    perhaps the very database that is failing. Django keeps the loaded user in
    ``_cached_user`` (``request.user``) or ``_acached_user`` (``await request.auser()``).
    """
    attributes = vars(request)
    for name in ("_cached_user", "_acached_user"):
        user = attributes.get(name)
        if user is not None:
            return user
    return None
