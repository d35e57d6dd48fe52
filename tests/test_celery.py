"""Celery, for real: a prefork worker whose failing task becomes an alert, in the README's ways."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from incidentio_logging._servers import CELERY_DISPATCH_UID, close_at_celery_child_exit
from incidentio_logging.handler import _close_all
from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler

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


def start_worker(receiver: LocalReceiver, tmp_path: Path,
                 source: str) -> subprocess.Popen[str]:
    """A prefork worker with one child on the module ``source``; one task sent to it."""
    folder = str(tmp_path / "broker")
    os.mkdir(folder)
    (tmp_path / "billing.py").write_text(source)
    env = {**os.environ, "BROKER_FOLDER": folder,
           "INCIDENT_IO_API_TOKEN": receiver.api_token,
           "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.webhook_url,
           "PYTHONPATH": os.pathsep.join((str(tmp_path), os.environ.get("PYTHONPATH", HERE)))}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "billing", "worker", "--pool=prefork", "-c", "1",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = celery.Celery(broker="filesystem://", broker_transport_options={
        "data_folder_in": folder, "data_folder_out": folder, "control_folder": folder})
    client.send_task("billing.charge", args=["A-1"])
    return worker


@pytest.mark.skipif(sys.platform == "win32", reason="prefork and signals as on POSIX")
@pytest.mark.timeout(90)
@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_a_failing_task_in_a_prefork_worker_alerts(
        receiver: LocalReceiver, tmp_path: Path, setup: str) -> None:
    """celery.app.trace logs the failure with exc_info in the pool child; it arrives once."""
    worker = start_worker(receiver, tmp_path, APP + textwrap.dedent(SETUPS[setup]))
    try:
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


@pytest.mark.skipif(sys.platform == "win32", reason="prefork and signals as on POSIX")
@pytest.mark.timeout(90)
def test_a_failing_task_in_a_recycled_prefork_child_alerts(
        receiver: LocalReceiver, tmp_path: Path) -> None:
    """worker_max_tasks_per_child = 1 ends the pool child right after its task, through
    billiard's os._exit(): no atexit, no multiprocessing finalizer. The failure, still
    in its window (flush_interval), is delivered by the close the handler runs on
    Celery's worker_process_shutdown, sent in the child just before it leaves."""
    worker = start_worker(receiver, tmp_path, APP + textwrap.dedent(SETUPS["setup_logging"]) + (
        "\napp.conf.worker_max_tasks_per_child = 1\n"
        "@signals.task_failure.connect\n"
        "def said(**kwargs):\n"
        "    import sys\n"
        "    print('task failed in', os.getpid(), file=sys.stderr, flush=True)\n"))
    try:
        with contextlib.suppress(AssertionError):  # counted below, after the shutdown
            receiver.wait_for(1, timeout=15)
    finally:
        worker.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        _, errors = worker.communicate(timeout=30)
    assert "task failed in" in errors  # the task ran, failed, and its child was recycled
    assert len(receiver.events) == 1, f"no alert for the failed task: {errors[-800:]}"
    assert "KeyError: 'A-1'" in receiver.events[0].records[0]["exc_info"]


def test_the_close_at_child_exit_needs_celery_already_imported() -> None:
    """Celery is not a dependency: without it in sys.modules nothing is imported."""
    assert close_at_celery_child_exit(_close_all, modules={}) is False
    assert close_at_celery_child_exit(_close_all) is True  # this module imported it


def test_the_close_at_child_exit_is_connected_once_and_closes(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """However many handlers a process builds, one receiver; sending the signal, as a
    pool child does before os._exit(), closes every live handler, delivering."""
    from celery import signals

    handler = make_handler(flush_interval=60)
    make_handler()
    ours = [r for r in signals.worker_process_shutdown.receivers
            if r[0][0] == CELERY_DISPATCH_UID]
    assert len(ours) == 1
    logger.addHandler(handler)
    logger.error("pending at the child's exit")
    signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert handler._closed
    assert [e.records[0]["message"] for e in receiver.events] == ["pending at the child's exit"]
