"""A Flask app whose unhandled errors become incident.io alerts.

Logging is configured before the app is created, as Flask's documentation advises.
Against the local receiver:
    python -m incidentio_logging receiver        # in one terminal; it prints two exports
    python examples/flask_app.py                 # requests /checkout once, then exits
or serve it:  flask --app examples/flask_app run
or with gunicorn, as in production:
    gunicorn --preload -w 2 -b 127.0.0.1:8000 --chdir examples flask_app:app
"""

from logging.config import dictConfig

from flask import Flask

dictConfig({
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_summary": {"()": "incidentio_logging.contrib.flask.RequestSummaryFilter"},
    },
    "handlers": {
        "incident_io": {
            "class": "incidentio_logging.IncidentIOHandler",
            "level": "ERROR",
            "filters": ["request_summary"],
            "metadata": "service=storefront",
        },
    },
    "root": {"level": "INFO", "handlers": ["incident_io"]},
})

app = Flask(__name__)


@app.route("/checkout")
def checkout() -> str:
    """Fails, as a view with a bug would."""
    cart: dict[str, int] = {}
    return str(cart["total"])


if __name__ == "__main__":
    # Flask logs the exception through app.logger ("ERROR flask_app: Exception on ...").
    response = app.test_client().get("/checkout")
    print(f"GET /checkout -> {response.status_code}")
