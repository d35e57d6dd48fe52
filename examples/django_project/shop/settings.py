"""Settings for a minimal shop whose errors become incident.io alerts.

The LOGGING block is the part to copy: the handler sits next to Django's own
``mail_admins``, at ERROR, only when DEBUG is off, with a safe request summary added.
The token and alert source come from INCIDENT_IO_API_TOKEN and
INCIDENT_IO_ALERT_SOURCE_CONFIG_ID.
"""

SECRET_KEY = "example-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "shop.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth",
                  "django.contrib.sessions"]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        "request_summary": {"()": "incidentio_logging.contrib.django.RequestSummaryFilter"},
    },
    "handlers": {
        "incident_io": {
            "class": "incidentio_logging.IncidentIOHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "request_summary"],
            "metadata": {"service": "shop", "env": "example"},
        },
    },
    "loggers": {
        "django.request": {"handlers": ["incident_io"], "level": "ERROR", "propagate": True},
    },
}
