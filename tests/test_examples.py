"""Each example runs against the local receiver and produces the alert it promises."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from incidentio_logging.testing import LocalReceiver

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name: str, receiver: LocalReceiver) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INCIDENT_IO_API_TOKEN": receiver.api_token,
           "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.webhook_url}
    result = subprocess.run([sys.executable, os.path.join("examples", name)], cwd=HERE,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_root_logger_example(receiver: LocalReceiver) -> None:
    """Two invoice errors group into one event; the exception is another."""
    run_example("root_logger.py", receiver)
    titles = sorted(e.title for e in receiver.wait_for(2))
    assert titles == ["ERROR billing.invoices: Could not render invoice INV-7 (+1 more)",
                      "ERROR billing.invoices: Tax calculation failed"]


def test_dictconfig_example(receiver: LocalReceiver) -> None:
    """String options from the config dict, and the title template."""
    run_example("dictconfig_example.py", receiver)
    (event,) = receiver.wait_for(1)
    assert event.title == "[orders] ERROR in orders.sync: Order feed returned 502"
    assert event.metadata["service"] == "orders"


def test_flask_app_example(receiver: LocalReceiver) -> None:
    """A failing view logs through app.logger and becomes an alert with its traceback."""
    pytest.importorskip("flask")
    result = run_example("flask_app.py", receiver)
    assert "GET /checkout -> 500" in result.stdout
    (event,) = receiver.wait_for(1)
    assert event.title == "ERROR flask_app: Exception on /checkout [GET]"
    assert "KeyError: 'total'" in event.records[0]["exc_info"]
    assert event.records[0]["request_summary"]["path"] == "/checkout"


def test_alert_lifecycle_example(receiver: LocalReceiver) -> None:
    """Threshold, then firing, firing, resolved: one key throughout."""
    result = run_example("alert_lifecycle.py", receiver)
    assert "flush() says False" in result.stdout  # held below the threshold
    events = receiver.wait_for(3)
    assert [e.status for e in events] == ["firing", "firing", "resolved"]
    assert events[0].title.startswith("[≥3 in 10s] ERROR shop.payments:")
    assert len({e.deduplication_key for e in events}) == 1
