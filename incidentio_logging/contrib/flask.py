"""Flask: a logging filter that adds a safe summary of the current request to records.

Add it to the handler in the ``dictConfig`` that runs before the app is created::

    "filters": {
        "request_summary": {"()": "incidentio_logging.contrib.flask.RequestSummaryFilter"},
    },
    "handlers": {"incident_io": {..., "filters": ["request_summary"]}},

Inside a request context, the summary holds the method, the path without its query
string, the URL rule and endpoint, and the user id when Flask-Login reports an
authenticated user. Cookies, headers, the body, the query string and the session are
never read into it. Outside a request context, records pass unchanged.
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
    try:
        from flask_login import current_user  # noqa: PLC0415 - optional, and rarely there
    except ImportError:
        return None
    if getattr(current_user, "is_authenticated", False):
        return str(current_user.get_id())
    return None
