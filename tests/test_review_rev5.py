"""rev5: attacks on the one-deadline shutdown (fixshut), with real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from incidentio_logging.testing import LocalReceiver, Scripted

from .test_lifecycle import HERE, receiver_env, run_script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def run_timed(receiver: LocalReceiver, code: str, *,
              terminate: bool) -> tuple[int, float, str]:
    """As tests/test_hooks.py's (kept here so this file runs on older commits too)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=HERE,
        env={**os.environ, **receiver_env(receiver)})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    started = time.monotonic()
    if terminate:
        proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, time.monotonic() - started, stderr


def delivered(receiver: LocalReceiver, message: str) -> bool:
    return any(r["message"] == message for e in receiver.events for r in e.records)


@pytest.mark.timeout(30)
def test_a_graceful_sigterm_then_exit_within_a_second_past_the_budget_delivers(
        receiver: LocalReceiver) -> None:
    """gunicorn-style: the previous SIGTERM handler lets the process go on (it sets a
    flag); the app logs while it finishes its last request and exits 1.5 s later. The
    receiver answers at once."""
    returncode, _, stderr = run_timed(receiver, textwrap.dedent("""
        import logging, signal, sys, time
        stop = []
        signal.signal(signal.SIGTERM, lambda *args: stop.append(1))
        from incidentio_logging import IncidentIOHandler
        logging.getLogger().addHandler(IncidentIOHandler(
            flush_interval=60, flush_on_sigterm=True, shutdown_timeout=1.0))
        print("ready", flush=True)
        while not stop:
            time.sleep(0.01)
        time.sleep(1.5)   # the last request finishes
        logging.getLogger("app").error("logged while finishing")
    """), terminate=True)
    assert returncode == 0, stderr
    assert delivered(receiver, "logged while finishing"), stderr


@pytest.mark.timeout(30)
def test_a_child_forked_during_a_sigterm_shutdown_still_flushes_on_its_own_sigterm(
        receiver: LocalReceiver) -> None:
    """The parent's SIGTERM shutdown waits on a slow reply; meanwhile another thread
    forks (a multiprocessing Pool's worker handler repopulating, a server spawning).
    The child logs later and gets its own SIGTERM (Pool.terminate(), docker stop of the
    group): its record must be delivered, or counted and said on stderr."""
    receiver.script(Scripted(delay=3.0))
    _, _, stderr = run_timed(receiver, """
        import logging, os, signal, sys, threading, time
        from incidentio_logging import IncidentIOHandler
        logging.getLogger().addHandler(IncidentIOHandler(
            flush_interval=60, flush_on_sigterm=True, shutdown_timeout=1.5, timeout=30))
        logging.getLogger("app").error("parent's record")

        def fork_later():
            time.sleep(0.5)   # inside the parent's SIGTERM shutdown
            if os.fork() == 0:
                time.sleep(2.5)   # the parent is gone; so is its budget, and its grace
                logging.getLogger("app").error("child's record")
                print("child logged", file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
                print("child went on after its SIGTERM", file=sys.stderr, flush=True)
                os._exit(3)

        threading.Thread(target=fork_later, daemon=True).start()
        print("ready", flush=True)
        time.sleep(30)
    """, terminate=True)
    assert "child logged" in stderr, stderr
    assert delivered(receiver, "child's record") or "left 1 record" in stderr.split(
        "child logged")[1], f"the child's record was lost silently: stderr {stderr!r}"


@pytest.mark.timeout(30)
def test_a_flush_after_a_graceful_sigterm_still_delivers(receiver: LocalReceiver) -> None:
    """The previous SIGTERM handler lets the process go on; the application logs while
    it finishes, then calls flush() (no timeout: "shutdown_timeout when it is None")
    before it ends its own way. The receiver answers at once."""
    _, _, stderr = run_timed(receiver, """
        import logging, os, signal, sys, time
        stop = []
        signal.signal(signal.SIGTERM, lambda *args: stop.append(1))
        from incidentio_logging import IncidentIOHandler
        handler = IncidentIOHandler(flush_interval=60, flush_on_sigterm=True,
                                    shutdown_timeout=1.0)
        logging.getLogger().addHandler(handler)
        print("ready", flush=True)
        while not stop:
            time.sleep(0.01)
        time.sleep(1.3)
        logging.getLogger("app").error("logged while finishing")
        print("flush ->", handler.flush(), file=sys.stderr, flush=True)
        os._exit(0)   # frozen or killed right after, as on a serverless platform
    """, terminate=True)
    assert "flush -> True" in stderr, stderr
    assert delivered(receiver, "logged while finishing"), stderr


@pytest.mark.timeout(30)
def test_exit_with_ten_handlers_takes_the_longest_timeout_not_the_sum(
        receiver: LocalReceiver) -> None:
    receiver.hold()
    try:
        returncode, took, stderr = run_timed(receiver, """
            import logging
            from incidentio_logging import IncidentIOHandler
            for i in range(10):
                logger = logging.getLogger(f"app{i}")
                logger.addHandler(IncidentIOHandler(
                    flush_interval=60, shutdown_timeout=0.2 * (i + 1), timeout=30))
                logger.error("pending at exit")
            print("ready", flush=True)
        """, terminate=False)
    finally:
        receiver.release()
    assert returncode == 0, stderr
    assert stderr.count("close() left 1 record undelivered") == 10, stderr
    assert took < 3.5, f"exit took {took:.2f} s, the longest shutdown_timeout is 2 s"


@pytest.mark.timeout(30)
def test_a_multiprocessing_child_forked_during_a_sigterm_shutdown_gets_its_own_exit_budget(
        receiver: LocalReceiver) -> None:
    """A multiprocessing child forked while the parent's SIGTERM shutdown runs (the
    parent's first reply is slow) inherits that shutdown's deadline and its "ending"
    mark. The child logs and ends just past that deadline: its exit (multiprocessing's
    finalizer, _close_all) must get a shutdown_timeout of its own, not the 0 s left of
    its parent's budget. The receiver answers the child at once."""
    receiver.script(Scripted(delay=3.0))
    _, _, stderr = run_timed(receiver, """
        import logging, multiprocessing, os, sys, threading, time
        from incidentio_logging import IncidentIOHandler
        logging.getLogger().addHandler(IncidentIOHandler(
            flush_interval=60, flush_on_sigterm=True, shutdown_timeout=1.5, timeout=30))
        logging.getLogger("app").error("parent's record")

        def child():
            time.sleep(1.3)   # past the parent's deadline, within its grace
            logging.getLogger("app").error("child's record")
            print("child logged", file=sys.stderr, flush=True)

        def fork_later():
            time.sleep(0.5)   # inside the parent's SIGTERM shutdown
            multiprocessing.get_context("fork").Process(target=child).start()

        threading.Thread(target=fork_later, daemon=True).start()
        print("ready", flush=True)
        time.sleep(30)
    """, terminate=True)
    assert "child logged" in stderr, stderr
    assert delivered(receiver, "child's record"), stderr


@pytest.mark.timeout(30)
def test_exit_with_two_handlers_built_on_another_thread_takes_one_budget(
        receiver: LocalReceiver) -> None:
    receiver.hold()
    try:
        returncode, took, stderr = run_timed(receiver, """
            import logging, threading
            from incidentio_logging import IncidentIOHandler
            def build():
                for name in ("a", "b"):
                    logging.getLogger(name).addHandler(IncidentIOHandler(
                        flush_interval=60, shutdown_timeout=1.5, timeout=30))
                    logging.getLogger(name).error("pending at exit")
            thread = threading.Thread(target=build)
            thread.start(); thread.join()
            print("ready", flush=True)
        """, terminate=False)
    finally:
        receiver.release()
    assert returncode == 0, stderr
    assert stderr.count("close() left 1 record undelivered") == 2, stderr
    assert took < 2.5, f"exit took {took:.2f} s"


@pytest.mark.timeout(30)
def test_a_first_handler_built_in_an_atexit_hook_delivers(receiver: LocalReceiver) -> None:
    result = run_script("""
        import atexit, logging
        from incidentio_logging import IncidentIOHandler
        def last_words():
            logging.getLogger().addHandler(IncidentIOHandler(flush_interval=60))
            logging.getLogger("app").error("logged at exit")
        atexit.register(last_words)
    """, receiver_env(receiver))
    assert result.returncode == 0, result.stderr
    assert delivered(receiver, "logged at exit"), result.stderr


@pytest.mark.timeout(30)
def test_a_django_double_configure_then_exit_takes_one_budget(
        receiver: LocalReceiver) -> None:
    receiver.hold()
    try:
        returncode, took, stderr = run_timed(receiver, """
            import logging, logging.config
            config = {"version": 1, "disable_existing_loggers": False,
                      "handlers": {"incident": {
                "class": "incidentio_logging.IncidentIOHandler", "flush_interval": 60,
                "shutdown_timeout": 1.5, "timeout": 30}},
                "root": {"handlers": ["incident"]}}
            logging.config.dictConfig(config)
            logging.getLogger("app").error("first config's record")
            logging.config.dictConfig(config)
            logging.getLogger("app").error("second config's record")
            print("ready", flush=True)
        """, terminate=False)
    finally:
        receiver.release()
    assert returncode == 0, stderr
    assert stderr.count("close() left 1 record undelivered") == 2, stderr
    assert took < 2.5, f"exit took {took:.2f} s"


@pytest.mark.timeout(30)
def test_a_manual_logging_shutdown_then_a_new_handler_then_exit_delivers(
        receiver: LocalReceiver) -> None:
    result = run_script("""
        import logging
        from incidentio_logging import IncidentIOHandler
        logging.getLogger().addHandler(IncidentIOHandler(flush_interval=60))
        logging.getLogger("app").error("before the manual shutdown")
        logging.shutdown()
        logging.getLogger().handlers.clear()
        logging.getLogger().addHandler(IncidentIOHandler(flush_interval=60))
        logging.getLogger("app").error("after the manual shutdown")
    """, receiver_env(receiver))
    assert result.returncode == 0, result.stderr
    assert delivered(receiver, "before the manual shutdown"), result.stderr
    assert delivered(receiver, "after the manual shutdown"), result.stderr
