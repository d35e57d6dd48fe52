"""What the Django and Flask filters share: the record attribute and attaching it safely."""

from __future__ import annotations

import logging
from typing import Any

#: The record attribute the filters and the ASGI middleware put the request summary in.
SUMMARY_ATTRIBUTE = "request_summary"


class SummaryFilter(logging.Filter):
    """Adds ``record.request_summary``; never rejects a record and never raises."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the summary :meth:`summarize` makes, unless the record has one already."""
        if SUMMARY_ATTRIBUTE not in record.__dict__:
            try:
                summary = self.summarize(record)
            except Exception:  # noqa: BLE001 - a summary is a nicety; the record matters
                summary = None
            if summary is not None:
                setattr(record, SUMMARY_ATTRIBUTE, summary)
        return True

    def summarize(self, record: logging.LogRecord) -> dict[str, Any] | None:
        """The summary for ``record``, or None when it was not logged about a request."""
        raise NotImplementedError
