"""Servers where the worker thread never runs: uWSGI without threads, and records that
wait too long for a worker that has not run, said once on stderr."""

from __future__ import annotations

import importlib.metadata
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

from incidentio_logging import IncidentIOHandler, _report
from incidentio_logging._record import capture
from incidentio_logging._servers import UWSGI_THREADS_BY_DEFAULT, uwsgi_without_threads
from incidentio_logging._worker import MIN_STALL, Worker
from incidentio_logging.testing import LocalReceiver

from .test_contrib_flask import free_port
from .test_lifecycle import HERE, receiver_env, run_script, skip_without
from .test_worker import _clocked

STALLED = "records have waited over"


def stall_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The stall lines said on stderr since the last read."""
    return [ln for ln in capsys.readouterr().err.splitlines() if STALLED in ln]


@contextmanager
def never_running(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inside: every worker thread started exists but never runs its loop, as under
    uWSGI without threads. On leaving, the held threads are let go before close()."""
    never = threading.Event()
    monkeypatch.setattr(Worker, "_run", lambda self: never.wait(10))
    try:
        yield
    finally:
        never.set()


def fake_uwsgi(version: bytes, **options: object) -> dict[str, object]:
    """``sys.modules`` as inside a uWSGI process: a seam for the versions not installed.

    uWSGI makes its ``uwsgi`` module itself; it cannot be imported anywhere else."""
    module = types.ModuleType("uwsgi")
    module.version = version  # type: ignore[attr-defined]
    module.opt = {key.replace("_", "-"): value for key, value in options.items()}  # type: ignore[attr-defined]
    return {"uwsgi": module}


def test_uwsgi_before_2_0_27_without_threads_is_named_with_the_fix() -> None:
    """Only uWSGI before 2.0.27, with neither enable-threads nor threads, leaves threads
    off; the line names the flag that fixes it. Unsure (an unreadable version): silent."""
    line = uwsgi_without_threads(fake_uwsgi(b"2.0.26", master=True, processes=b"4"))
    assert line is not None
    assert "uWSGI 2.0.26" in line and "--enable-threads" in line and "2.0.27" in line
    assert uwsgi_without_threads(fake_uwsgi(b"2.0.19.1")) is not None
    quiet = [fake_uwsgi(b"2.0.26", enable_threads=True),
             fake_uwsgi(b"2.0.26", threads=b"1"),
             fake_uwsgi(b"2.0.27"), fake_uwsgi(b"2.0.30"), fake_uwsgi(b"2.1-dev"), {}]
    assert [uwsgi_without_threads(modules) for modules in quiet] == [None] * len(quiet)


def test_the_uwsgi_line_is_said_once_per_process_at_construction(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Built under uWSGI without threads, the first handler says so at once; a second
    handler in the same process adds nothing."""
    monkeypatch.setattr(_report, "_said_once", set())
    monkeypatch.setitem(sys.modules, "uwsgi", fake_uwsgi(b"2.0.26")["uwsgi"])
    options = {"api_token": "t" * 20, "alert_source_config_id": "S1",
               "endpoint": "http://127.0.0.1:9"}
    IncidentIOHandler(**options).close()
    IncidentIOHandler(**options).close()
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "--enable-threads" in ln]
    assert len(lines) == 1 and lines[0].startswith("incidentio-logging: uWSGI 2.0.26")


def _uwsgi_version() -> tuple[int, ...]:
    return tuple(int(p) for p in importlib.metadata.version("pyuwsgi").split(".")[:3])


@pytest.mark.skipif(sys.platform == "win32", reason="uWSGI is POSIX only")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("flags", [[], ["--enable-threads"]])
def test_under_real_uwsgi_the_line_comes_exactly_when_threads_are_off(
        receiver: LocalReceiver, tmp_path: Path, flags: list[str]) -> None:
    """A WSGI app under the installed uWSGI (pyuwsgi), one request that logs an error.

    Before 2.0.27 without --enable-threads, the worker thread runs only during requests:
    the one line names the fix. With --enable-threads, or from 2.0.27 on (threads on by
    default), nothing is said and the alert arrives while the server waits."""
    skip_without("pyuwsgi")
    threads_off = not flags and _uwsgi_version() < UWSGI_THREADS_BY_DEFAULT
    (tmp_path / "app.py").write_text(textwrap.dedent("""
        import logging
        from incidentio_logging import IncidentIOHandler
        log = logging.getLogger("app")
        log.propagate = False
        log.addHandler(IncidentIOHandler(flush_interval=0.05))
        def application(environ, start_response):
            if environ["PATH_INFO"] == "/checkout":
                log.error("Card declined for order %s", "A-1")
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
    """))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys, pyuwsgi; sys.argv[0] = 'uwsgi'; pyuwsgi.run()",
         "--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(tmp_path / "app.py"),
         "--processes", "1", *flags],
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
        if not threads_off:
            (event,) = receiver.wait_for(1, timeout=10)  # no further request needed
            assert event.title == "ERROR app: Card declined for order A-1"
    finally:
        server.send_signal(signal.SIGINT)
        _, errors = server.communicate(timeout=30)
    said = [ln for ln in errors.splitlines() if ln.startswith("incidentio-logging: uWSGI")]
    if threads_off:
        assert len(said) == 1 and "--enable-threads" in said[0], errors
    else:
        assert said == [], errors


@pytest.mark.timeout(30)
def test_records_waiting_for_a_worker_that_never_runs_are_said_once(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """As under uWSGI without threads: the worker thread exists but never runs. Once
    records have waited MIN_STALL seconds (three flush_intervals are less here) the next one
    says so, once, naming the likely causes; later records add nothing."""
    with _clocked(receiver, "tests.stall.never", flush_interval=0.05,
                  shutdown_timeout=0.2) as (_, clock, log), never_running(monkeypatch):
        log.error("first: starts a worker that never runs")
        clock.now += MIN_STALL - 0.1
        log.error("second: within the limit")
        assert STALLED not in capsys.readouterr().err
        clock.now += 0.2
        for i in range(20):
            log.error("waiting %s", i)
        (line,) = stall_lines(capsys)
        assert "was started but has not run yet" in line
        assert "--enable-threads" in line and "forks" in line, line
        clock.now += 60
        log.error("still waiting")
        assert STALLED not in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_a_worker_started_after_one_that_failed_is_said_not_to_have_run(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The first worker fails (its records are dropped and said); the next record starts
    a second one, which never runs: the line says that one has not run yet."""
    def fail(_: Worker) -> None:
        raise RuntimeError("worker fault")

    monkeypatch.setattr(Worker, "_loop", fail)
    with _clocked(receiver, "tests.stall.second", flush_interval=0.05,
                  shutdown_timeout=0.1) as (handler, clock, log):
        log.error("dropped with the failed worker")
        deadline = time.monotonic() + 5
        while handler.worker.thread is not None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with never_running(monkeypatch):
            log.error("starts a second worker, which never runs")
            clock.now += MIN_STALL + 0.1
            log.error("waits")
            (line,) = stall_lines(capsys)
            assert "was started but has not run yet" in line


@pytest.mark.timeout(30)
def test_a_record_that_slips_in_after_close_gave_up_is_not_said_to_wait(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """close() gave up on a worker that never ran, and said so in its own line; a
    record that passed the handler's closed check just before adds no stall line."""
    with _clocked(receiver, "tests.stall.closed", flush_interval=0.05,
                  shutdown_timeout=0.1) as (handler, clock, log), never_running(monkeypatch):
        log.error("given up by close()")
        handler.close()
        clock.now += 60
        late = logging.getLogger("tests.stall.closed").makeRecord(
            "tests.stall.closed", logging.ERROR, __file__, 1, "late", None, None)
        assert handler.worker.submit(capture(late)) is None
        err = capsys.readouterr().err
        assert "close() left 1 record undelivered" in err and STALLED not in err


@pytest.mark.timeout(30)
def test_records_waiting_for_a_worker_that_cannot_start_are_said_once(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch, no_worker_thread: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Every Thread.start() fails (a thread limit): the wait counts from the first
    attempt, not from each retry, and is said once; close() then delivers inline."""
    with _clocked(receiver, "tests.stall.cannot_start", flush_interval=0.05) as (
            _, clock, log):
        log.error("first")
        clock.now += 1.5  # past the first retry's backoff: a new attempt, still failing
        log.error("second")
        clock.now += 0.6  # 2.1 s after the first attempt, 0.6 s after the retry
        log.error("third")
        (line,) = stall_lines(capsys)
        assert "could not be started" in line
        monkeypatch.undo()
    assert sorted(r["message"] for e in receiver.events for r in e.records) == [
        "first", "second", "third"]


@pytest.mark.timeout(30)
def test_a_worker_that_runs_is_never_taken_for_a_stalled_one(
        receiver: LocalReceiver, capsys: pytest.CaptureFixture[str]) -> None:
    """A worker idle for a long time is woken by the next record, and the wait counts
    from then: records after a quiet hour are not said to have waited an hour."""
    with _clocked(receiver, "tests.stall.idle", flush_interval=0.05) as (handler, clock, log):
        log.error("before the quiet spell")
        assert handler.flush(5)
        assert handler.worker.wait_idle(5)  # the worker has gone back to sleep
        clock.now += 3600
        for i in range(5):
            log.error("after it %s", i)
        assert handler.flush(5)
    assert STALLED not in capsys.readouterr().err
    assert len([r for e in receiver.events for r in e.records]) == 6


@pytest.mark.timeout(30)
def test_a_worker_stuck_in_one_delivery_is_said_only_past_that_deliverys_bound(
        receiver: LocalReceiver, capsys: pytest.CaptureFixture[str]) -> None:
    """A request the receiver holds: the worker is busy, not stalled, for as long as one
    attempt and the retries' wait may take (timeout + max_retry_time); records that wait
    longer than that, plus the usual limit, are said once: the worker is blocked."""
    receiver.hold()
    try:
        with _clocked(receiver, "tests.stall.busy", flush_interval=0.05, timeout=4,
                     max_retry_time=10) as (handler, clock, log):
            log.error("held by the receiver")
            threading.Thread(target=handler.flush, args=(0.5,), daemon=True).start()
            receiver.wait_in_flight(1, timeout=5)  # it has begun the attempt
            clock.now += MIN_STALL + 1
            log.error("queued behind it, within the bound")
            assert STALLED not in capsys.readouterr().err
            clock.now += 14
            log.error("queued behind it, past the bound")
            (line,) = stall_lines(capsys)
            assert "has stopped taking records" in line and "never returns" in line
            receiver.release()
            assert handler.flush(5)
    finally:
        receiver.release()


@pytest.mark.timeout(60)
def test_under_gevent_an_application_that_does_not_yield_is_not_a_stalled_worker(
        receiver: LocalReceiver) -> None:
    """Monkey-patched, the worker is a greenlet: it runs only when the application
    yields. A request that logs for longer than the limit without yielding keeps it
    waiting, as it keeps every other greenlet waiting; that is not reported, and once
    the application yields everything is delivered."""
    skip_without("gevent")
    result = run_script(f"""
        from gevent import monkey; monkey.patch_all()
        import logging, signal, time, warnings
        signal.alarm(20)  # hung, the process ends itself: SIGALRM
        warnings.simplefilter("ignore")
        from incidentio_logging import IncidentIOHandler
        handler = IncidentIOHandler(flush_interval=0.05, max_batch_size=10_000)
        log = logging.getLogger("app")
        log.propagate = False
        log.addHandler(handler)
        log.error("starts the worker greenlet")
        ends = time.monotonic() + {MIN_STALL} + 0.5
        logged = 1
        while time.monotonic() < ends:
            log.error("Card declined for order %s", logged)
            logged += 1
            spin = time.monotonic() + 0.2
            while time.monotonic() < spin:  # busy, never yields
                pass
        print(logged, handler.flush(10), handler.stats()["records_delivered"], flush=True)
        handler.close()
    """, receiver_env(receiver), timeout=30)
    assert result.returncode == 0, f"hung or failed: {result.stdout!r} {result.stderr}"
    logged, flushed, delivered = result.stdout.split()
    assert flushed == "True" and delivered == logged, result.stdout
    assert STALLED not in result.stderr, result.stderr
