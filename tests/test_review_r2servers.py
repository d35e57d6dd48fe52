"""Review (r2servers): real servers stopping with records still in their window."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler
from .test_contrib_flask import free_port
from .test_lifecycle import HERE, receiver_env, run_script, skip_without

APP = """
    import logging
    from incidentio_logging import IncidentIOHandler
    log = logging.getLogger("app")
    log.propagate = False
    log.addHandler(IncidentIOHandler(flush_interval=30, flush_on_sigterm=True))
    def application(environ, start_response):
        if environ["PATH_INFO"] == "/checkout":
            log.error("Card declined for order %s", "A-1")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
"""


@pytest.mark.skipif(sys.platform == "win32", reason="uWSGI is POSIX only")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("flags", [["--master"], ["--master", "--lazy-apps"]])
def test_uwsgi_stopping_delivers_or_counts_what_its_workers_hold(
        receiver: LocalReceiver, tmp_path: Path, flags: list[str]) -> None:
    """uWSGI with threads on, stopped as its docs say (SIGINT to the master): a record
    logged by a request and still in its window when the server stops is delivered, or
    at least said on stderr as dropped. Observed: neither; 0 events, nothing said.

    --master: the app (and handler) is built in the master and the worker forked from C
    without os.register_at_fork hooks; close() at the worker's atexit sees another pid
    and _after_fork() throws the worker's queue away (see the simulated test below).
    --lazy-apps: close() starts at atexit, and the worker is gone within 0.3 s."""
    skip_without("pyuwsgi")
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys, pyuwsgi; sys.argv[0] = 'uwsgi'; pyuwsgi.run()",
         "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(tmp_path / "app.py"),
         "--processes", "1", "--enable-threads", *flags],
        env={**os.environ, **receiver_env(receiver), "PYTHONPATH": os.pathsep.join(
            [HERE, os.environ.get("PYTHONPATH", "")])},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        assert requests.get(f"http://127.0.0.1:{port}/checkout", timeout=5).ok
    finally:
        server.send_signal(signal.SIGINT)
        _, errors = server.communicate(timeout=30)
    said = [ln for ln in errors.splitlines() if ln.startswith("incidentio-logging:")]
    delivered = [e.title for e in receiver.events]
    assert delivered == ["ERROR app: Card declined for order A-1"] or said, errors[-1500:]


@pytest.mark.timeout(20)
def test_records_logged_after_a_fork_that_skipped_the_hooks_survive_the_first_flush(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """uWSGI forks its workers from C without running os.register_at_fork hooks (unless
    --py-call-osafterfork): a handler built in the master (the default, non-lazy apps)
    keeps the master's pid. handle() never checks it, so the worker's records queue in
    the inherited runtime; the first flush()/close() (_check_fork) then rebuilds the
    runtime and throws them away, uncounted. Simulated here by the handler's pid."""
    handler = make_handler(flush_interval=30)
    logger.addHandler(handler)
    handler._pid = os.getpid() + 1  # as if built in the parent, before a C-level fork
    logger.error("Card declined for order %s", "A-1")
    assert handler.stats()["records_accepted"] == 1
    handler.flush(5)
    stats = handler.stats()
    assert len(receiver.events) == 1 or stats["records_dropped"] == 1, stats


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")
@pytest.mark.timeout(30)
def test_a_child_forked_without_the_hooks_delivers_while_it_runs(
        receiver: LocalReceiver) -> None:
    """uWSGI's default (app loaded in the master, forked from C, no
    --py-call-osafterfork): once the master's worker thread has run (any record logged
    at import), each worker inherits a Worker that believes its thread is running. The
    child's records then wait for a thread that does not exist: under real uWSGI, 30
    request errors over 3 s with flush_interval=1 reached nothing, and nothing was said.
    libc's fork() called through ctypes skips os.register_at_fork as uWSGI does."""
    result = run_script("""
        import ctypes, logging, os, time
        from incidentio_logging import IncidentIOHandler
        log = logging.getLogger("app")
        log.propagate = False
        handler = IncidentIOHandler(flush_interval=0.1)
        log.addHandler(handler)
        log.error("logged in the master at import")
        assert handler.flush(5)
        pid = ctypes.PyDLL(None).fork()
        if pid == 0:
            log.error("logged by a request in the worker")
            time.sleep(2)  # twenty flush_intervals
            print(handler.stats(), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
    """, receiver_env(receiver), timeout=20)
    messages = [r["message"] for e in receiver.events for r in e.records]
    assert "logged by a request in the worker" in messages, (result.stdout, result.stderr)


@pytest.mark.skipif(sys.platform == "win32", reason="uWSGI is POSIX only")
@pytest.mark.timeout(60)
def test_a_lazy_uwsgi_worker_stopped_with_a_record_pending_does_not_segfault(
        receiver: LocalReceiver, tmp_path: Path) -> None:
    """--lazy-apps, threads on: SIGTERM to a worker holding one record in its window.
    Observed: "uWSGI process N got Segmentation Fault", in libcrypto's EVP_MD_fetch on
    a thread (our worker hashing while exit() tears OpenSSL down); 0 events. A plain
    thread doing HTTP at atexit, or our handler with nothing pending, exits cleanly."""
    skip_without("pyuwsgi")
    (tmp_path / "app.py").write_text(textwrap.dedent(APP.replace(
        'return [b"ok"]', "return [str(__import__('os').getpid()).encode()]")))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys, pyuwsgi; sys.argv[0] = 'uwsgi'; pyuwsgi.run()",
         "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(tmp_path / "app.py"),
         "--processes", "1", "--enable-threads", "--master", "--lazy-apps"],
        env={**os.environ, **receiver_env(receiver), "PYTHONPATH": os.pathsep.join(
            [HERE, os.environ.get("PYTHONPATH", "")])},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        worker = int(requests.get(f"http://127.0.0.1:{port}/checkout", timeout=5).text)
        os.kill(worker, signal.SIGTERM)
        time.sleep(2.5)  # the master notices the death within a second and respawns
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert "Segmentation Fault" not in output, output[-2000:]
