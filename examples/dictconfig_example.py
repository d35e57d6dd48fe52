"""Configure the handler with logging.config.dictConfig, as YAML or JSON configs do.

Run against the local receiver:
    python -m incidentio_logging receiver        # in one terminal; it prints two exports
    python examples/dictconfig_example.py        # in another, after those exports
"""

import logging
import logging.config

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "incident_io": {
            "class": "incidentio_logging.IncidentIOHandler",
            "level": "ERROR",
            # Every option can be a plain string, as it would be in YAML or an INI file.
            "metadata": "service=orders,env=staging",
            "dedup": "fingerprint",
            "flush_interval": "0.5",
            "title": "[orders] {level} in {logger}: {message}",
        },
    },
    "root": {"level": "INFO", "handlers": ["console", "incident_io"]},
}

logging.config.dictConfig(LOGGING)
logging.getLogger("orders.sync").error("Order feed returned %d", 502, extra={"feed": "acme"})
