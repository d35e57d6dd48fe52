"""Attach the handler to the root logger, the most common set-up.

Run against the local receiver:
    python -m incidentio_logging receiver        # in one terminal; it prints two exports
    python examples/root_logger.py               # in another, after those exports
"""

import logging

from incidentio_logging import IncidentIOHandler

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
# The token and the source (id or webhook URL) come from INCIDENT_IO_API_TOKEN and
# INCIDENT_IO_ALERT_SOURCE_CONFIG_ID.
logging.getLogger().addHandler(IncidentIOHandler(metadata={"service": "billing"}))

log = logging.getLogger("billing.invoices")
log.info("Invoice run started")  # below ERROR: not sent
for invoice in ("INV-7", "INV-8"):
    log.error("Could not render invoice %s", invoice, extra={"invoice": invoice})
try:
    1 / 0  # noqa: B018
except ZeroDivisionError:
    log.exception("Tax calculation failed")
# Nothing else to do: logging.shutdown() at exit delivers what is pending.
