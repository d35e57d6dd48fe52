"""Code as a user writes it: CI checks it with ``mypy --strict`` against the package."""

from __future__ import annotations

from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import LocalReceiver

with LocalReceiver() as receiver:
    handler = IncidentIOHandler(**receiver.handler_options())
    handler.close()
