"""uWSGI: workers forked from C, lazy apps, and workers stopped with records pending.

The real-server tests run the installed uWSGI (pyuwsgi) with one worker; the others
reproduce its fork (libc's fork() through ctypes skips ``os.register_at_fork``, as
uWSGI does without ``--py-call-osafterfork``) or its ``uwsgi`` module (see
``test_stall.fake_uwsgi``)."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from incidentio_logging import _identity
from incidentio_logging._identity import deduplication_key
from incidentio_logging._servers import after_uwsgi_fork
from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler
from .test_contrib_flask import free_port
from .test_lifecycle import HERE, receiver_env, run_script, skip_without
from .test_security import CERT, KEY

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="uWSGI is POSIX only")

APP = """
    import json, logging, os
    from incidentio_logging import IncidentIOHandler
    log = logging.getLogger("app")
    log.propagate = False
    handler = IncidentIOHandler(flush_interval=30, flush_on_sigterm=True)
    log.addHandler(handler)
    def application(environ, start_response):
        if environ["PATH_INFO"] == "/checkout":
            log.error("Card declined for order %s", "A-1")
        body = {"pid": os.getpid(), "stats": handler.stats()}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]
"""


class Server:
    """A running uWSGI: its base URL and its output so far (stdout and stderr)."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.url = url
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(line.rstrip("\n"))

    def get(self, path: str) -> requests.Response:
        """GET ``path``, and return once the worker is done with it.

        uWSGI runs no Python exit hook in a worker stopped while busy, and a worker is
        busy for a moment after the client has its response: until it has logged the
        request, and a few steps more (see ``uwsgi_close_request``)."""
        seen = len([ln for ln in self.output if "GET " in ln])
        response = requests.get(f"{self.url}{path}", timeout=5)
        deadline = time.monotonic() + 10
        while len([ln for ln in self.output if "GET " in ln]) == seen:
            assert time.monotonic() < deadline, self.output[-20:]
            time.sleep(0.01)
        time.sleep(0.1)  # the steps after the request's log line: microseconds
        return response

    def tail(self, lines: int | None = 30) -> str:
        """The last ``lines`` of output (all of it with None), once the server stopped."""
        self._reader.join(10)
        return "\n".join(self.output[-lines:] if lines else self.output)


@contextmanager
def uwsgi(receiver: LocalReceiver, app: Path, *flags: str) -> Iterator[Server]:
    """One uWSGI worker with threads on serving ``app``, stopped at the end as uWSGI's
    docs say (SIGINT to the master)."""
    skip_without("pyuwsgi")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys, pyuwsgi; sys.argv[0] = 'uwsgi'; pyuwsgi.run()",
         "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(app),
         "--processes", "1", "--enable-threads", "--master", *flags],
        env={**os.environ, **receiver_env(receiver), "PYTHONPATH": os.pathsep.join(
            [HERE, os.environ.get("PYTHONPATH", "")])},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.get("/")
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
            except requests.Timeout:  # listening, but its worker never answered: say why
                pytest.fail("uWSGI did not answer:\n" + "\n".join(server.output[-20:]))
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


# uWSGI's --py-call-osafterfork calls PyOS_AfterFork_Child() without PyOS_BeforeFork():
# from Python 3.13 that unlocks a mutex the worker does not hold, and every worker dies
# at birth ("Fatal Python error: _PyRecursiveMutex_Unlock", SIGABRT), whatever the
# application (unbit/uwsgi#2692, #2710; no release fixes it yet). uWSGI's own advice
# is --py-call-uwsgi-fork-hooks, which runs Python's fork hooks the supported way.
OSAFTERFORK_BROKEN = pytest.mark.skipif(
    sys.version_info >= (3, 13),
    reason="uWSGI's --py-call-osafterfork aborts every worker on Python 3.13+")


@POSIX_ONLY
@pytest.mark.timeout(60)
@pytest.mark.parametrize("flags", [
    [], ["--lazy-apps"], ["--py-call-uwsgi-fork-hooks"],
    pytest.param(["--py-call-osafterfork"], marks=OSAFTERFORK_BROKEN)])
def test_uwsgi_stopping_delivers_what_its_worker_holds(
        receiver: LocalReceiver, tmp_path: Path, flags: list[str]) -> None:
    """A record logged by a request and still in its window (flush_interval=30) when
    the server stops is delivered by the worker's exit. Was: 0 events, nothing said.

    Default (app loaded in the master, worker forked from C): the worker queued into
    the master's runtime, and close() at exit found the fork and threw the queue away.
    --lazy-apps: close() at exit hashed with OpenSSL after OpenSSL's cleanup and the
    worker died of a segmentation fault. --py-call-uwsgi-fork-hooks and
    --py-call-osafterfork: both fork hooks (os.register_at_fork's and
    uwsgi.post_fork_hook) run in the worker."""
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    with uwsgi(receiver, tmp_path / "app.py", *flags) as server:
        assert server.get("/checkout").ok
    titles = [e.title for e in receiver.events]
    assert titles == ["ERROR app: Card declined for order A-1"], server.tail()


@POSIX_ONLY
@pytest.mark.timeout(60)
def test_a_lazy_uwsgi_worker_stopped_with_a_record_pending_does_not_segfault(
        receiver: LocalReceiver, tmp_path: Path) -> None:
    """--lazy-apps: SIGTERM to a worker holding one record in its window. Was: "uWSGI
    process N got Segmentation Fault" in libcrypto's EVP_MD_fetch, on our thread hashing
    while exit() tore OpenSSL down; 0 events. Now the record is delivered."""
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    with uwsgi(receiver, tmp_path / "app.py", "--lazy-apps") as server:
        worker = server.get("/checkout").json()["pid"]
        os.kill(worker, signal.SIGTERM)
        receiver.wait_for(1, timeout=10)
    assert "Segmentation Fault" not in server.tail(lines=None), server.tail()
    assert [e.title for e in receiver.events] == ["ERROR app: Card declined for order A-1"]


@POSIX_ONLY
@pytest.mark.timeout(60)
def test_a_uwsgi_worker_starts_with_a_runtime_of_its_own(
        receiver: LocalReceiver, tmp_path: Path) -> None:
    """App loaded in the master, which logs at import: the worker, forked from C, gets
    its own runtime from uwsgi.post_fork_hook before any record of its own. Without the
    hook, its stats() are the master's (one record accepted, before the worker existed)."""
    app = APP + '\n    log.error("logged in the master at import")\n    handler.flush(5)\n'
    (tmp_path / "app.py").write_text(textwrap.dedent(app))
    with uwsgi(receiver, tmp_path / "app.py") as server:
        stats = server.get("/").json()["stats"]
    assert stats["records_accepted"] == 0, (stats, server.tail())


def test_our_uwsgi_post_fork_hook_keeps_the_one_set_before() -> None:
    """uwsgidecorators.postfork (or an application) may have set uwsgi.post_fork_hook
    before the handler is built: both run, theirs first; chained once per process."""
    calls: list[str] = []
    module = types.ModuleType("uwsgi")
    module.post_fork_hook = lambda: calls.append("theirs")  # type: ignore[attr-defined]
    ours = lambda: calls.append("ours")  # noqa: E731 - a plain callable to chain
    assert after_uwsgi_fork(ours, {"uwsgi": module})
    assert after_uwsgi_fork(ours, {"uwsgi": module})  # a second handler: not chained again
    module.post_fork_hook()  # type: ignore[attr-defined]
    assert calls == ["theirs", "ours"]
    assert not after_uwsgi_fork(ours, {})


@pytest.mark.timeout(20)
def test_records_logged_after_a_fork_that_skipped_the_hooks_survive_the_first_flush(
        make_handler: MakeHandler, logger: logging.Logger, receiver: LocalReceiver) -> None:
    """A handler built before a C-level fork keeps the parent's pid. The record's own
    pid (which logging reads anyway) gives the fork away at the child's first record,
    before it joins the parent's runtime. Was: handle() never checked, the record
    queued in the inherited runtime, and the first flush() rebuilt the runtime and
    threw it away, uncounted. Simulated here by the handler's pid."""
    handler = make_handler(flush_interval=30)
    logger.addHandler(handler)
    handler._pid = os.getpid() + 1  # as if built in the parent, before a C-level fork
    logger.error("Card declined for order %s", "A-1")
    assert handler.stats()["records_accepted"] == 1
    assert handler.flush(5)
    assert len(receiver.events) == 1, handler.stats()


@POSIX_ONLY
@pytest.mark.timeout(30)
def test_a_child_forked_without_the_hooks_delivers_while_it_runs(
        receiver: LocalReceiver) -> None:
    """Once the parent's worker thread has run, a child forked from C inherits a Worker
    that believes its thread is running. Was: the child's records waited for a thread
    that does not exist (under real uWSGI, 30 request errors over 3 s with
    flush_interval=1 reached nothing), and nothing was said."""
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


@pytest.mark.timeout(20)
def test_digests_never_call_openssl(
        monkeypatch: pytest.MonkeyPatch, make_handler: MakeHandler, logger: logging.Logger,
        receiver: LocalReceiver) -> None:
    """Both deduplication keys (fingerprint and batch) hash with Python's built-in
    SHA-256: under uWSGI the last close() runs after OpenSSL's own cleanup. Same
    digests as hashlib's."""
    expected = deduplication_key(("ValueError", "shop.pay"))
    assert _identity.sha256(b"abc").hexdigest() == hashlib.sha256(b"abc").hexdigest()

    def openssl(*_args: object) -> None:
        raise AssertionError("hashlib.sha256 called")
    monkeypatch.setattr(hashlib, "sha256", openssl)
    assert deduplication_key(("ValueError", "shop.pay")) == expected
    handler = make_handler(dedup="batch")
    logger.addHandler(handler)
    logger.error("Card declined")
    assert handler.flush(5)
    (event,) = receiver.events
    assert len(event.deduplication_key) == 64, event


@POSIX_ONLY
@pytest.mark.timeout(60)
def test_a_lazy_uwsgi_worker_that_cannot_deliver_over_https_at_exit_says_so(
        tmp_path: Path) -> None:
    """--lazy-apps: a worker's exit hooks run after OpenSSL's cleanup, so an https
    delivery then fails (see the README). It must not crash, and what it holds is
    counted and said on stderr, not lost in silence."""
    app = APP.replace("flush_on_sigterm=True", f"shutdown_timeout=1, ca_bundle={CERT!r}")
    (tmp_path / "app.py").write_text(textwrap.dedent(app))
    with LocalReceiver(tls=(CERT, KEY)) as receiver, \
            uwsgi(receiver, tmp_path / "app.py", "--lazy-apps") as server:
        assert server.get("/checkout").ok
    output = server.tail(lines=None)
    assert "Segmentation Fault" not in output, output
    assert receiver.events or "close() left 1 record undelivered" in output, output
