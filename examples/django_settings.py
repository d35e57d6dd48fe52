"""A Django settings module with the handler in LOGGING, like AdminEmailHandler.

Copy the LOGGING block into your settings.py. To see it work against the local receiver:
    python -m incidentio_logging receiver        # in one terminal; it prints two exports
    python examples/django_settings.py           # in another, after those exports
"""

SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost"]
INSTALLED_APPS: list[str] = []

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "handlers": {
        "incident_io": {
            "class": "incidentio_logging.IncidentIOHandler",
            "level": "ERROR",
            "filters": ["require_debug_false"],  # only alert from production settings
            "metadata": {"service": "shop", "env": "production"},
        },
    },
    "loggers": {
        "django.request": {"handlers": ["incident_io"], "level": "ERROR", "propagate": True},
    },
}

if __name__ == "__main__":
    import logging
    import os
    import sys

    import django

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")
    django.setup()  # runs dictConfig twice: Django's defaults, then LOGGING
    # What Django logs when a view raises:
    logging.getLogger("django.request").error(
        "Internal Server Error: %s", "/checkout/", extra={"status_code": 500}
    )
