"""An alert's life with dictConfig: threshold, firing, firing again, resolved when quiet.

Run against the local receiver:
    python -m incidentio_logging receiver        # in one terminal; it prints two exports
    python examples/alert_lifecycle.py           # in another, after those exports

The payment errors alert only once three arrive within ten seconds; the alert is
resolved after three quiet seconds. Short times, so the example runs in a few seconds.
"""

import logging
import logging.config
import time

logging.config.dictConfig({
    "version": 1,
    "handlers": {
        "incident_io": {
            # The token and the source come from INCIDENT_IO_API_TOKEN and
            # INCIDENT_IO_ALERT_SOURCE_CONFIG_ID.
            "class": "incidentio_logging.IncidentIOHandler",
            "dedup": "fingerprint",
            "flush_interval": "0.2",
            "threshold": "3",
            "threshold_window": "10",
            "resolve_after": "3",
        },
    },
    "loggers": {"shop.payments": {"handlers": ["incident_io"], "level": "ERROR"}},
})

log = logging.getLogger("shop.payments")
handler = log.handlers[0]
log.error("Payment provider timed out for order %s", "A-1")  # 1 of 3: held
log.error("Payment provider timed out for order %s", "A-2")  # 2 of 3: held
print("two errors: no alert yet; flush() says", handler.flush(5))
log.error("Payment provider timed out for order %s", "A-3")  # the third: it fires
print("third error: alert fired; flush() says", handler.flush(5))
time.sleep(1)
log.error("Payment provider timed out for order %s", "A-4")  # still within the rate
print("fourth error: the alert is updated; flush() says", handler.flush(5))
time.sleep(4)  # quiet for longer than resolve_after: the worker resolves it
print("quiet for 4 s; stats:", handler.stats())
