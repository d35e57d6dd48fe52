"""Review of issue 13 (process-wide hooks): defects found by attack, one test each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import incidentio_logging
from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import MakeHandler
from .test_lifecycle import HERE, receiver_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def hooks_restored() -> Iterator[None]:
    saved = sys.excepthook, threading.excepthook
    yield
    sys.excepthook, threading.excepthook = saved


def _run(receiver: LocalReceiver, code: str, *, terminate: bool) -> tuple[int, str]:
    """Run ``code`` in a child; after its "ready" line, SIGTERM it when asked."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=HERE,
        env={**os.environ, **receiver_env(receiver)})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    if terminate:
        proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stderr


@pytest.mark.timeout(30)
def test_a_sigterm_that_gives_up_on_pending_records_says_so(receiver: LocalReceiver) -> None:
    """A receiver that does not answer: the SIGTERM flush runs out its shutdown_timeout
    and the process ends with SIGTERM's status, as promised, but the record it gives up
    on is neither delivered nor said: close() at a normal exit says
    "close() left 1 record undelivered"; the SIGTERM path says nothing."""
    receiver.hold()
    returncode, stderr = _run(receiver, """
        import logging, time
        from incidentio_logging import IncidentIOHandler
        logging.getLogger().addHandler(IncidentIOHandler(
            flush_interval=60, flush_on_sigterm=True, shutdown_timeout=0.5, timeout=30))
        logging.getLogger("app").error("pending at SIGTERM")
        print("ready", flush=True)
        time.sleep(30)
    """, terminate=True)
    assert returncode == -signal.SIGTERM
    assert receiver.events == []
    assert "undelivered" in stderr, f"the lost record was not said: {stderr!r}"


@pytest.mark.timeout(30)
def test_a_sigterm_while_the_logging_lock_is_held_delivers_or_says(
        receiver: LocalReceiver) -> None:
    """SIGTERM landing while the main thread holds logging's module lock (getLogger,
    setLevel, addHandler, dictConfig all take it): start_flush sees
    _holds_logging_lock() and returns False at once, flush_all does not wait at all, and
    the default disposition kills the process: the record is lost, silently, although
    the receiver answers at once."""
    returncode, stderr = _run(receiver, """
        import logging, os, signal, time
        from incidentio_logging import IncidentIOHandler
        logging.getLogger().addHandler(IncidentIOHandler(
            flush_interval=60, flush_on_sigterm=True, shutdown_timeout=3))
        logging.getLogger("app").error("pending at SIGTERM")
        print("ready", flush=True)
        with logging._lock:  # as inside getLogger()/setLevel() when the signal lands
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
    """, terminate=False)
    assert returncode == -signal.SIGTERM
    delivered = any(e.records[0]["message"] == "pending at SIGTERM" for e in receiver.events)
    assert delivered or "undelivered" in stderr, (
        f"lost silently: events={receiver.events!r} stderr={stderr!r}")


@pytest.mark.timeout(30)
def test_a_sigterm_during_close_does_not_cut_close_short(receiver: LocalReceiver) -> None:
    """close() releases the SIGTERM hook before it delivers (handler.py: release_sigterm
    runs before worker.stop), so a SIGTERM that lands while close() waits on a slow
    receiver (docker stop during a normal exit's logging.shutdown()) kills the process
    at once: close() neither finishes within its shutdown_timeout nor says what it
    left undelivered."""
    receiver.hold()
    returncode, stderr = _run(receiver, """
        import logging, os, signal, threading
        from incidentio_logging import IncidentIOHandler
        handler = IncidentIOHandler(flush_interval=60, flush_on_sigterm=True,
                                    shutdown_timeout=1.5, timeout=30)
        logging.getLogger().addHandler(handler)
        logging.getLogger("app").error("pending at close")
        print("ready", flush=True)
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
        handler.close()
    """, terminate=False)
    assert returncode == -signal.SIGTERM
    assert "undelivered" in stderr, f"close() was cut short silently: {stderr!r}"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_thread_exceptions_still_alert_after_a_tool_wrapped_only_sys_excepthook(
        hooks_restored: None, make_handler: MakeHandler, receiver: LocalReceiver) -> None:
    """A tool wraps sys.excepthook only (as sentry's ExcepthookIntegration does), then the
    handler is replaced (a dictConfig re-run closes the old one and builds a new one).
    release_uncaught restores threading.excepthook but leaves _hooks_in_chain True
    because sys.excepthook was wrapped; capture_uncaught for the new handler then
    installs nothing: exceptions in threads stop alerting, silently
    (_hooks.py:release_uncaught / capture_uncaught)."""
    first = make_handler(capture_uncaught=True)
    ours = sys.excepthook

    def sentry_like(*args: Any) -> None:
        ours(*args)

    sys.excepthook = sentry_like
    first.close()
    second = make_handler(capture_uncaught=True)
    thread = threading.Thread(target=lambda: 1 / 0, name="after-reconfigure")
    thread.start()
    thread.join()
    assert second.flush(5)
    (event,) = receiver.wait_for(1, timeout=5)
    assert event.records[0]["message"] == "Uncaught ZeroDivisionError in thread after-reconfigure"


@pytest.mark.timeout(30)
def test_a_sigterm_chained_to_a_handler_that_exits_takes_one_shutdown_timeout(
        receiver: LocalReceiver) -> None:
    """The previous SIGTERM handler ends the process with sys.exit() (Django's
    autoreloader installs exactly that; gunicorn's worker exits the same way after its
    handler): the SIGTERM flush spends shutdown_timeout on a receiver that does not
    answer, then logging.shutdown() at exit spends a second, full shutdown_timeout on
    the same record, since flush_all() does not start the shutdown budget that close()
    continues (handler.flush() with no timeout does). Exit takes twice
    shutdown_timeout: past a Kubernetes grace period sized for it, SIGKILL."""
    receiver.hold()
    started = time.monotonic()
    returncode, stderr = _run(receiver, """
        import logging, signal, sys, time
        signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
        from incidentio_logging import IncidentIOHandler
        logging.getLogger().addHandler(IncidentIOHandler(
            flush_interval=60, flush_on_sigterm=True, shutdown_timeout=3, timeout=30))
        logging.getLogger("app").error("pending at SIGTERM")
        print("ready", flush=True)
        time.sleep(30)
    """, terminate=True)
    elapsed = time.monotonic() - started
    assert returncode == 0, stderr
    # One shutdown_timeout (3 s) plus generous slack for start-up; twice it is 6 s.
    assert elapsed < 4.8, f"exit took {elapsed:.1f} s for shutdown_timeout=3"


@pytest.mark.timeout(30)
def test_a_sigterm_while_a_console_handler_writes_delivers_or_says(
        receiver: LocalReceiver) -> None:
    """SIGTERM lands while the main thread is inside a StreamHandler's emit (holding that
    handler's lock), with the root logger at DEBUG. The SIGTERM flush waits on the
    worker, whose HTTP client logs its debug lines ("Starting new HTTP connection")
    through the root's console handler and so blocks on the lock the interrupted main
    thread holds. shutdown_timeout runs out, the process dies, the receiver (which
    answers at once) got nothing, and nothing is said."""
    returncode, stderr = _run(receiver, """
        import logging, os, signal, sys, time
        from incidentio_logging import IncidentIOHandler
        console = logging.StreamHandler(sys.stderr)
        logging.basicConfig(level=logging.DEBUG, handlers=[console])
        logging.getLogger().addHandler(IncidentIOHandler(
            flush_interval=60, flush_on_sigterm=True, shutdown_timeout=1))
        logging.getLogger("app").error("pending at SIGTERM")
        print("ready", flush=True)
        with console.lock:  # as while the console handler writes a line
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
    """, terminate=False)
    assert returncode == -signal.SIGTERM
    delivered = any(e.records[0]["message"] == "pending at SIGTERM" for e in receiver.events)
    assert delivered or "undelivered" in stderr, (
        f"lost silently: events={receiver.events!r} stderr={stderr[-500:]!r}")


@pytest.mark.timeout(30)
def test_flush_all_with_nothing_pending_is_true_even_with_no_time(
        make_handler: MakeHandler, logger: logging.Logger) -> None:
    """Everything was delivered and the worker is idle: flush_all(0) (a Lambda's
    remaining time rounded down, a deadline already spent) answers False, as if
    records might be lost, because it queues a marker and does not wait for the worker
    to reach it. flush_all() promises True "when everything was delivered"; a handler
    that was never used already answers True at once."""
    handler = make_handler(flush_interval=60)
    logger.addHandler(handler)
    logger.error("delivered before")
    assert incidentio_logging.flush_all(5)
    assert handler.stats()["records_pending"] == 0
    assert incidentio_logging.flush_all(0) is True


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


@pytest.mark.timeout(30)
def test_flush_all_with_an_unbounded_timeout_waits_for_delivery(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """flush_all(math.inf) ("as long as it takes", at the end of a batch job) returns
    False at once and stderr says "flush failed: OverflowError: timestamp out of range
    for platform time_t": the marker's wait hands the timeout to SimpleQueue.get(),
    which refuses it (any timeout past about 9e9 s does the same). The record is
    delivered later, but the caller was told it may be lost, and did not wait."""
    handler = make_handler(flush_interval=60)
    logger.addHandler(handler)
    receiver.script(Scripted(delay=0.3))
    logger.error("pending")
    assert incidentio_logging.flush_all(math.inf) is True
    assert len(receiver.events) == 1


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
