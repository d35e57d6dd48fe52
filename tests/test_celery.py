"""Celery, for real: a prefork worker whose failing task becomes an alert, in the README's ways."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from incidentio_logging.testing import LocalReceiver

celery = pytest.importorskip("celery")

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each way the README gives to keep Celery from removing the handler from the root logger.
SETUPS = {
    "setup_logging": """
        @signals.setup_logging.connect
        def configure_logging(**kwargs):
            logging.config.dictConfig(CONFIG)
    """,
    "no_hijack": """
        app.conf.worker_hijack_root_logger = False
        logging.config.dictConfig(CONFIG)
    """,
    "after_setup_logger": """
        @signals.after_setup_logger.connect
        def add_handler(logger, **kwargs):
            logger.addHandler(IncidentIOHandler(level="ERROR"))
    """,
}

APP = """
import logging.config
import os

from celery import Celery, signals

from incidentio_logging import IncidentIOHandler

folder = os.environ["BROKER_FOLDER"]
app = Celery("billing", broker="filesystem://", broker_transport_options={
    "data_folder_in": folder, "data_folder_out": folder, "control_folder": folder})
CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"incident_io": {"class": "incidentio_logging.IncidentIOHandler",
                                 "level": "ERROR"}},
    "root": {"level": "INFO", "handlers": ["incident_io"]},
}


@app.task(name="billing.charge")
def charge(order_id):
    return {}[order_id]
"""


@pytest.mark.skipif(sys.platform == "win32", reason="prefork and signals as on POSIX")
@pytest.mark.timeout(90)
@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_a_failing_task_in_a_prefork_worker_alerts(
        receiver: LocalReceiver, tmp_path: Path, setup: str) -> None:
    """celery.app.trace logs the failure with exc_info in the pool child; it arrives once."""
    (tmp_path / "broker").mkdir()
    (tmp_path / "billing.py").write_text(APP + textwrap.dedent(SETUPS[setup]))
    env = {**os.environ, "BROKER_FOLDER": str(tmp_path / "broker"),
           "INCIDENT_IO_API_TOKEN": receiver.api_token,
           "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.webhook_url,
           "PYTHONPATH": os.pathsep.join((str(tmp_path), os.environ.get("PYTHONPATH", HERE)))}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "billing", "worker", "--pool=prefork", "-c", "1",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        folder = str(tmp_path / "broker")
        client = celery.Celery(broker="filesystem://", broker_transport_options={
            "data_folder_in": folder, "data_folder_out": folder, "control_folder": folder})
        client.send_task("billing.charge", args=["A-1"])
        (event,) = receiver.wait_for(1, timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        _, errors = worker.communicate(timeout=30)
    assert event.title.startswith("ERROR celery.app.trace: Task billing.charge[")
    assert event.title.endswith("] raised unexpected: KeyError('A-1')")
    (record,) = event.records
    assert "KeyError: 'A-1'" in record["exc_info"]
    assert record["process"] != worker.pid  # sent by the forked pool process
    assert worker.returncode == 0, errors
    assert len(receiver.events) == 1
