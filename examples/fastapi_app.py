"""A FastAPI app whose unhandled errors become incident.io alerts, served by uvicorn.

Against the local receiver:
    python -m incidentio_logging receiver        # in one terminal; it prints two exports
    uvicorn --app-dir examples fastapi_app:app   # then open http://127.0.0.1:8000/orders/42
or with the logging configuration in a file, which uvicorn applies before loading the app:
    uvicorn --log-config examples/uvicorn_logging.json --app-dir examples fastapi_app:app
"""

import logging

from fastapi import FastAPI

from incidentio_logging import IncidentIOHandler
from incidentio_logging.contrib.asgi import ExceptionLoggingMiddleware

# The root-logger setup, unless `uvicorn --log-config` has already configured the root.
# uvicorn's own default configuration leaves the root alone.
if not logging.getLogger().handlers:
    logging.basicConfig(level=logging.INFO)
    logging.getLogger().addHandler(IncidentIOHandler(metadata={"service": "orders"}))

app = FastAPI()
app.add_middleware(ExceptionLoggingMiddleware)


@app.get("/")
def home() -> dict[str, str]:
    """Works."""
    return {"status": "ok"}


@app.get("/orders/{order_id}")
def order(order_id: int) -> dict[str, int]:
    """Fails, as a route with a bug would."""
    totals: dict[int, int] = {}
    return {"total": totals[order_id]}
