"""Flask: a logging filter that adds a safe summary of the current request to records.

Add it to the handler in the ``dictConfig`` that runs before the app is created::

    "filters": {
        "request_summary": {"()": "incidentio_logging.contrib.flask.RequestSummaryFilter"},
    },
    "handlers": {"incident_io": {..., "filters": ["request_summary"]}},

Inside a request context, the summary holds the method, the path without its query
string, the URL rule and endpoint, and the user id when Flask-Login has already loaded
an authenticated user for the request; the filter never loads one itself. Cookies,
headers, the body, the query string and the session are never read into it. Outside a
request context, records pass unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

SUMMARY_ATTRIBUTE = "request_summary"


class RequestSummaryFilter(logging.Filter):
    """Adds ``record.request_summary``; never rejects a record and never raises."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the summary when the record is logged during a request."""
        if SUMMARY_ATTRIBUTE not in record.__dict__:
            try:
                summary = request_summary()
            except Exception:  # noqa: BLE001 - a summary is a nicety; the record matters
                summary = None
            if summary is not None:
                setattr(record, SUMMARY_ATTRIBUTE, summary)
        return True


def request_summary() -> dict[str, Any] | None:
    """The safe part of the current request, or None outside a request context."""
    from flask import has_request_context, request  # noqa: PLC0415 - Flask is optional

    if not has_request_context():
        return None
    summary: dict[str, Any] = {"method": request.method, "path": request.path}
    if request.url_rule is not None:
        summary["route"] = request.url_rule.rule
        summary["endpoint"] = request.endpoint
    user_id = _login_user_id()
    if user_id is not None:
        summary["user_id"] = user_id
    return summary


def _login_user_id() -> str | None:
    """The id of the authenticated user Flask-Login already loaded for this request.

    Flask-Login keeps that user in ``g._login_user`` once something asked for it. Reading
    ``current_user`` instead would run the app's ``user_loader`` inside the logging call:
    a database lookup that can hang on the very fault being logged, and that recurses
    when the loader itself logs.
    """
    from flask import g  # noqa: PLC0415 - Flask is optional

    user = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        return str(user.get_id())
    return None
