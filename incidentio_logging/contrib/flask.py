"""Flask: a logging filter that adds a safe summary of the current request to records.

Add it to the handler in the ``dictConfig`` that runs before the app is created::

    "filters": {
        "request_summary": {"()": "incidentio_logging.contrib.flask.RequestSummaryFilter"},
    },
    "handlers": {"incident_io": {..., "filters": ["request_summary"]}},

Inside a request context, the summary holds the method, the path without its query
string, the URL rule and endpoint, and the id of the user logged in with Flask-Login, as
Flask-Login keeps it in the session (``_user_id``); the filter never loads the user nor
touches the user object. Cookies, headers, the body, the query string and the rest of the
session are never read into it. Outside a request context, records pass unchanged.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from ._summary import SUMMARY_ATTRIBUTE, SummaryFilter

__all__ = ["SUMMARY_ATTRIBUTE", "RequestSummaryFilter"]


class RequestSummaryFilter(SummaryFilter):
    """Adds ``record.request_summary``; never rejects a record and never raises."""

    def summarize(self, record: logging.LogRecord) -> dict[str, Any] | None:
        """The summary of the current request, when the record is logged during one."""
        return request_summary()


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
    """The id Flask-Login keeps in the session for the logged-in user, or None.

    Only the session's own data is read, never the user: ``current_user`` would run the
    app's ``user_loader`` inside the logging call (a database lookup that can hang on the
    very fault being logged), and even a user already loaded runs model code when asked
    for its id (an instance expired by a commit reloads itself from the database). The
    session is read only when the request has already opened it, since opening a
    server-side one reads its store, and without marking it accessed, which would add
    ``Vary: Cookie`` to the response.
    """
    from flask.globals import request_ctx  # noqa: PLC0415 - Flask is optional
    from werkzeug.local import LocalProxy  # noqa: PLC0415 - with Flask

    # vars(), not attributes: no property runs. Flask 3.1 keeps the opened session in
    # _session (its session property marks it accessed); earlier versions in session.
    state = vars(cast("LocalProxy[Any]", request_ctx)._get_current_object())
    session = state["_session"] if "_session" in state else state.get("session")
    user_id = dict.get(session, "_user_id") if isinstance(session, dict) else None
    return user_id if isinstance(user_id, str) else None
