"""Review of issue 13 (process-wide hooks): defects found by attack, one test each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler
from .test_lifecycle import HERE, receiver_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.mark.timeout(90)
def test_a_failing_task_in_a_recycled_prefork_child_alerts(
        receiver: LocalReceiver, tmp_path: Path) -> None:
    """worker_max_tasks_per_child (or max_memory_per_child), a common Celery setting,
    ends the pool child right after its task. billiard's pool worker leaves through
    Worker._do_exit(), which calls os._exit() without running multiprocessing's
    finalizers, so the close the handler registers for fork children
    (handler.py: _after_fork_in_child) never runs: the task's failure, queued for its
    window, is lost silently, with the README's setup and every default (the same holds
    for whatever a child has pending at a warm shutdown). README "Celery": "The handler
    survives prefork workers as it does gunicorn's"."""
    celery = pytest.importorskip("celery")
    from .test_celery import APP, SETUPS

    (tmp_path / "broker").mkdir()
    (tmp_path / "billing.py").write_text(APP + textwrap.dedent(SETUPS["setup_logging"]) + (
        "\napp.conf.worker_max_tasks_per_child = 1\n"
        "@signals.task_failure.connect\n"
        "def said(**kwargs):\n"
        "    import sys\n"
        "    print('task failed in', os.getpid(), file=sys.stderr, flush=True)\n"))
    folder = str(tmp_path / "broker")
    env = {**os.environ, "BROKER_FOLDER": folder, **receiver_env(receiver),
           "PYTHONPATH": os.pathsep.join((str(tmp_path), os.environ.get("PYTHONPATH", HERE)))}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "billing", "worker", "--pool=prefork", "-c", "1",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client = celery.Celery(broker="filesystem://", broker_transport_options={
            "data_folder_in": folder, "data_folder_out": folder, "control_folder": folder})
        client.send_task("billing.charge", args=["A-1"])
        with contextlib.suppress(AssertionError):  # counted below, after the shutdown
            receiver.wait_for(1, timeout=15)
    finally:
        worker.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        _, errors = worker.communicate(timeout=30)
    assert "task failed in" in errors  # the task ran, failed, and its child was recycled
    assert len(receiver.events) == 1, f"no alert for the failed task: {errors[-800:]}"


@pytest.mark.parametrize("path", ["/export\n", "/files/" + "a" * 300])
def test_an_asgi_title_names_the_exception_whatever_the_path_holds(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver,
        path: str) -> None:
    """A client controls the path, and servers percent-decode it: GET /export%0A gives
    scope["path"] == "/export\\n". The title is cut at the message's first line, so the
    alert reads "Exception on /export", without the method or the exception type that
    the issue promises ("The title names the path and the exception type"), and every
    such request's title is the client's choice up to the first newline. A long path
    (300 characters) pushes the type past the title's length limit the same way."""
    from incidentio_logging.contrib.asgi import ExceptionLoggingMiddleware

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise KeyError("total")

    handler = make_handler()
    logger.addHandler(handler)
    app = ExceptionLoggingMiddleware(failing, logger=logger)
    with pytest.raises(KeyError):
        asyncio.run(app({"type": "http", "method": "GET", "path": path}, None, None))
    assert handler.flush(5)
    (event,) = receiver.events
    assert "KeyError" in event.title, event.title


UVICORN_APP_MODULE = """
import logging, sys
from incidentio_logging import IncidentIOHandler

# The README's root-logger setup, in the app module uvicorn imports.
logging.getLogger().addHandler(IncidentIOHandler(flush_interval=60, flush_on_sigterm=True))
log = logging.getLogger("app")


async def app(scope, receive, send):
    if scope["type"] != "lifespan":
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            print("ready", flush=True)
        elif message["type"] == "lifespan.shutdown":
            log.error("logged during the graceful shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
"""


@pytest.mark.timeout(60)
def test_sigterm_under_uvicorn_workers_delivers_what_the_graceful_shutdown_logs(
        receiver: LocalReceiver, tmp_path: Path) -> None:
    """uvicorn --workers 2, the handler built in the app module (README "Signals":
    "or configure logging in the app module that uvicorn imports"). In each worker the
    app is imported while uvicorn's own SIGTERM handler is installed, so ours wraps
    uvicorn's: on SIGTERM ours flushes first, then uvicorn shuts down gracefully, puts
    back what it found before its own (the default) and raises SIGTERM again. An error
    logged during the graceful shutdown (a lifespan shutdown failing, a request failing
    while draining) is lost silently in every worker. With a single worker it arrives."""
    pytest.importorskip("uvicorn")
    (tmp_path / "appmod.py").write_text(UVICORN_APP_MODULE)
    env = {**os.environ, **receiver_env(receiver),
           "PYTHONPATH": os.pathsep.join((str(tmp_path), os.environ.get("PYTHONPATH", HERE)))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "appmod:app", "--host", "127.0.0.1", "--port", "0",
         "--workers", "2", "--log-level", "warning"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert [proc.stdout.readline().strip() for _ in range(2)] == ["ready", "ready"]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    messages = [r["message"] for e in receiver.events for r in e.records]
    assert messages.count("logged during the graceful shutdown") == 2, (messages, stderr[-800:])
