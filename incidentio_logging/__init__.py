"""Send Python log records to incident.io as alert events, from a background thread.

>>> import logging
>>> from incidentio_logging import IncidentIOHandler
>>> logging.getLogger().addHandler(IncidentIOHandler())  # doctest: +SKIP
"""

from __future__ import annotations

from ._hooks import flush_all
from ._identity import fingerprint
from ._stats import HandlerStats
from .handler import IncidentIOHandler
from .transport import HttpTransport, Reply, Transport, TransportError

__version__ = "0.1.0"

__all__ = [
    "HandlerStats",
    "HttpTransport",
    "IncidentIOHandler",
    "Reply",
    "Transport",
    "TransportError",
    "__version__",
    "fingerprint",
    "flush_all",
]
