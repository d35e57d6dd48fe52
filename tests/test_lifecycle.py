"""Exit, fork and reconfiguration: the moments peers' handlers hang, leak or resend."""

from __future__ import annotations

import importlib.util
import json
import logging
import logging.config
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging import handler as handler_module
from incidentio_logging.testing import LocalReceiver, Scripted
from incidentio_logging.transport import Reply

from .conftest import MakeHandler, worker_threads

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(code: str, env: dict[str, str],
               timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (this one's version) with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        timeout=timeout, cwd=HERE, env={**os.environ, **env}, check=False,
    )


def receiver_env(receiver: LocalReceiver) -> dict[str, str]:
    return {"INCIDENT_IO_API_TOKEN": receiver.api_token,
            "INCIDENT_IO_ALERT_SOURCE_CONFIG_ID": receiver.webhook_url}


def run_timed(receiver: LocalReceiver, code: str, *, terminate: bool,
              held: bool = False) -> tuple[int, float, str]:
    """Run ``code`` in a child; after its "ready" line, SIGTERM it when asked. Returns
    its exit status, the seconds from "ready" (and the SIGTERM) to its end, and stderr.
    ``held``: the receiver holds every request for the run."""
    if held:
        receiver.hold()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=HERE,
        env={**os.environ, **receiver_env(receiver)})
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        if terminate:
            proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        if held:
            receiver.release()
    return proc.returncode, time.monotonic() - started, stderr


def sigterm_child(body: str, *, shutdown_timeout: float, record: str,
                  previous: str | None = None, sigterm_after: float | None = None) -> str:
    """A child script for :func:`run_timed`: the previous SIGTERM disposition if given, a
    root ``handler`` with ``flush_on_sigterm`` and one record pending; then, if asked, a
    thread that sends the process SIGTERM ``sigterm_after`` seconds on; then ``body``."""
    lines = ["import logging, multiprocessing, os, signal, sys, threading, time"]
    if previous is not None:
        lines.append(f"signal.signal(signal.SIGTERM, {previous})")
    lines += [
        "from incidentio_logging import IncidentIOHandler",
        "handler = IncidentIOHandler(flush_interval=60, flush_on_sigterm=True,",
        f"                            shutdown_timeout={shutdown_timeout}, timeout=30)",
        "logging.getLogger().addHandler(handler)",
        f"logging.getLogger('app').error({record!r})",
    ]
    if sigterm_after is not None:
        lines += [
            "def _terminate():",
            f"    time.sleep({sigterm_after})",
            "    os.kill(os.getpid(), signal.SIGTERM)",
            "threading.Thread(target=_terminate, daemon=True).start()",
        ]
    return "\n".join(lines) + "\n" + textwrap.dedent(body)


def delivered(receiver: LocalReceiver, message: str) -> bool:
    return any(r["message"] == message for e in receiver.events for r in e.records)


def test_exit_delivers_pending_events(receiver: LocalReceiver) -> None:
    """No flush, no close: logging.shutdown() at exit delivers the open window."""
    result = run_script("""
        import logging
        from incidentio_logging import IncidentIOHandler
        logging.getLogger().addHandler(IncidentIOHandler(flush_interval=60))
        logging.getLogger("app").error("pending at exit")
    """, receiver_env(receiver))
    assert result.returncode == 0, result.stderr
    (event,) = receiver.wait_for(1)
    assert event.records[0]["message"] == "pending at exit"


def test_a_record_first_logged_during_shutdown_is_delivered(receiver: LocalReceiver) -> None:
    """An atexit hook logs the first error, after threading has shut down.

    On Python 3.12+ no thread can start then; close() must deliver on its own thread.
    """
    result = run_script("""
        import atexit, logging, sys
        from incidentio_logging import IncidentIOHandler
        handler = IncidentIOHandler(flush_interval=60)
        logging.getLogger().addHandler(handler)
        # Registered after logging's own hook, so it runs before logging.shutdown().
        atexit.register(lambda: logging.getLogger("app").error("logged during exit"))
    """, receiver_env(receiver))
    assert result.returncode == 0, result.stderr
    (event,) = receiver.wait_for(1)
    assert event.records[0]["message"] == "logged during exit"
    assert "Traceback" not in result.stderr


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: the worst receiver."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_exit_with_the_receiver_down_is_bounded(silent_endpoint: str) -> None:
    """With nothing answering, logging.shutdown() takes about shutdown_timeout, no more;
    the request left in flight is counted as unknown_outcome and said on stderr."""
    result = run_script(f"""
        import json, logging, time
        from incidentio_logging import IncidentIOHandler
        handler = IncidentIOHandler(api_token="t0k3n-abcdefghijklmnop",
            alert_source_config_id="S1", endpoint="{silent_endpoint}",
            shutdown_timeout=1.0, timeout=30)
        logging.getLogger().addHandler(handler)
        logging.getLogger("app").error("nobody is listening")
        started = time.monotonic()
        logging.shutdown()
        print(f"shutdown took {{time.monotonic() - started:.3f}}")
        stats = handler.stats()
        print(json.dumps([stats["records_delivered"], stats["records_pending"],
                          stats["dropped"]]))
    """, {})
    assert result.returncode == 0, result.stderr
    took = float(result.stdout.split()[2])
    assert took < 1.0 + 0.5, result.stdout
    # Still in flight when the budget ran out: it may have arrived, or not.
    assert json.loads(result.stdout.splitlines()[1]) == [0, 0, {"unknown_outcome": 1}]
    (line,) = [ln for ln in result.stderr.splitlines() if "close()" in ln]
    assert "1 record undelivered" in line and "unknown_outcome" in line
    assert "t0k3n-abcdefghijklmnop" not in result.stdout + result.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sends_its_own_alerts_and_not_the_parents_backlog(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """The parent's queued records stay the parent's; the child starts empty and delivers."""
    handler = make_handler(flush_interval=60)
    logger.addHandler(handler)
    for i in range(3):
        logger.error("parent backlog %d", i)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # the child: no pytest from here on
        code = 1
        try:
            logger.error("child error")
            code = 0 if handler.flush(10) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    (child_event,) = receiver.wait_for(1)
    assert [r["message"] for r in child_event.records] == ["child error"]
    assert child_event.records[0]["process"] == pid
    assert handler.flush(10)
    messages = sorted(r["message"] for e in receiver.events for r in e.records)
    assert messages == ["child error", "parent backlog 0", "parent backlog 1", "parent backlog 2"]


def config(receiver: LocalReceiver, **options: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "handlers": {"incident_io": {"class": "incidentio_logging.IncidentIOHandler",
                                     **receiver.handler_options(), "flush_interval": 0.05,
                                     **options}},
        "loggers": {"tests.dictconfig": {"handlers": ["incident_io"], "level": "INFO",
                                         "propagate": False}},
    }


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """dictConfig tests reconfigure logging; put an empty config back afterwards."""
    yield
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


@pytest.mark.usefixtures("restore_logging")
def test_dictconfig_twice_leaks_no_thread(receiver: LocalReceiver) -> None:
    """Django configures logging twice; old handlers' workers must end."""
    before = set(worker_threads())
    for round_ in range(3):
        logging.config.dictConfig(config(receiver))
        logging.getLogger("tests.dictconfig").error("round %d", round_)
    deadline = time.monotonic() + 10
    while len(set(worker_threads()) - before) > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(set(worker_threads()) - before) == 1
    receiver.wait_for(3)


@pytest.mark.usefixtures("restore_logging")
def test_dictconfig_does_not_wait_on_a_stuck_worker(receiver: LocalReceiver) -> None:
    """dictConfig holds logging's lock while it closes the old handler: close must not block.

    The receiver holds the old worker's request; with shutdown_timeout=60 a blocking close
    would outlast the test's timeout.
    """
    logging.config.dictConfig(config(receiver, shutdown_timeout=60))
    receiver.hold()
    logging.getLogger("tests.dictconfig").error("in flight")
    receiver.wait_in_flight(1)
    logging.config.dictConfig(config(receiver))
    receiver.release()
    (event,) = receiver.wait_for(1)
    assert event.records[0]["message"] == "in flight"


def test_a_handler_that_never_logged_closes_instantly(make_handler: MakeHandler) -> None:
    """Nothing started, nothing to wait for."""
    handler = make_handler()
    handler.close()
    assert handler.flush(1)


def test_fork_hook_is_registered() -> None:
    """The child re-initialises through os.register_at_fork, also for new handlers."""
    handler = IncidentIOHandler(api_token="t" * 20, alert_source_config_id="S1")
    old_worker = handler.worker
    handler._pid = -1  # as if this process were a child created without the hook
    handler.flush(1)
    assert handler.worker is not old_worker


def test_stats_in_a_child_forked_past_the_hooks_are_its_own(receiver: LocalReceiver) -> None:
    """A child forked without Python's fork hooks (a C extension's fork()) shows its own
    counts from its first stats(), not the parent's until its first record. (Review r3a.)"""
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05)
    handler.handle(logging.makeLogRecord({"levelno": logging.ERROR, "msg": "in the parent"}))
    assert handler.flush(5) and handler.stats()["records_accepted"] == 1
    handler._pid = -1  # as if this process were a child created without the hook
    assert handler.stats()["records_accepted"] == 0
    handler.close()


def test_a_late_fork_found_by_two_threads_at_once_is_rebuilt_before_either_uses_it(
        receiver: LocalReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads of a child forked past the hooks find the fork at once: the one that
    does not rebuild waits for the rebuild, and never reads the parent's parts (the pid
    is set last, under a lock). (Review r3a.)"""
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05)
    handler.handle(logging.makeLogRecord({"levelno": logging.ERROR, "msg": "in the parent"}))
    assert handler.flush(5)
    seen: list[int] = []
    other = threading.Thread(target=lambda: seen.append(handler.stats()["records_accepted"]))
    real_stats = handler_module.Stats

    def stats_mid_rebuild() -> Any:
        other.start()
        other.join(0.2)  # the other thread finds the fork while this one rebuilds
        return real_stats()

    monkeypatch.setattr(handler_module, "Stats", stats_mid_rebuild)
    handler._pid = -1
    assert handler.stats()["records_accepted"] == 0
    other.join(5)
    assert seen == [0]
    handler.close()


MULTIPROCESSING_APP = """
import logging, multiprocessing, os, sys
from incidentio_logging import IncidentIOHandler

# Top level, as applications do: a spawned child runs this again and gets its own handler.
log = logging.getLogger("app")
log.propagate = False
log.addHandler(IncidentIOHandler(flush_interval=60))


def child() -> None:
    log.error("child %s", os.getpid())


if __name__ == "__main__":
    log.error("parent backlog")  # queued in the parent when the child starts
    process = multiprocessing.get_context(sys.argv[1]).Process(target=child)
    process.start()
    process.join(30)
    sys.exit(process.exitcode)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_children_deliver_their_own_and_not_the_parents(
        method: str, receiver: LocalReceiver, tmp_path: Any) -> None:
    """A child started by fork ends in os._exit(), which skips logging.shutdown(); a
    multiprocessing finalizer delivers its records. Spawn starts clean. Either way the
    parent's backlog arrives once, from the parent."""
    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method} here")
    app = tmp_path / "app.py"
    app.write_text(MULTIPROCESSING_APP)
    result = subprocess.run([sys.executable, str(app), method], capture_output=True,
                            text=True, timeout=50, cwd=HERE, check=False,
                            env={**os.environ, **receiver_env(receiver)})
    assert result.returncode == 0, result.stderr
    events = receiver.wait_for(2)
    messages = sorted(r["message"] for e in events for r in e.records)
    assert len(messages) == 2, messages
    assert messages[0].startswith("child ") and messages[1] == "parent backlog"


def test_logging_from_a_signal_handler_does_not_deadlock(receiver: LocalReceiver) -> None:
    """A timer signal every half millisecond logs from inside whatever logging call the
    main thread is making, for a second; everything still balances and arrives."""
    result = run_script("""
        import json, logging, signal, time
        from incidentio_logging import IncidentIOHandler
        handler = IncidentIOHandler(flush_interval=0.05, queue_size=1_000_000)
        log = logging.getLogger("app")
        log.addHandler(handler)
        signal.signal(signal.SIGALRM, lambda *_: log.error("from the signal handler"))
        signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            log.error("main loop %s", 1)
        signal.setitimer(signal.ITIMER_REAL, 0)
        handler.flush(20)  # False: the flood's surplus is dropped as batch_full
        print(json.dumps(handler.stats()))
    """, receiver_env(receiver), timeout=50)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["records_pending"] == 0
    assert stats["records_accepted"] == stats["records_delivered"] + stats["records_dropped"]
    assert set(stats["dropped"]) <= {"batch_full"}
    loggers = {r["message"] for e in receiver.events for r in e.records}
    assert loggers == {"main loop 1", "from the signal handler"}


def test_logging_from_del_during_interpreter_shutdown(receiver: LocalReceiver) -> None:
    """Finalizers that log while the interpreter tears down: after logging.shutdown()
    they are counted as closed; nothing hangs, nothing of ours raises."""
    result = run_script("""
        import logging
        from incidentio_logging import IncidentIOHandler

        class Noisy:
            def __init__(self, name):
                self.name = name
            def __del__(self):
                logging.getLogger("app").error("from __del__ of %s", self.name)

        logging.getLogger().addHandler(IncidentIOHandler(flush_interval=60))
        cycle = Noisy("a cycle")
        cycle.me = cycle
        del cycle
        keep = Noisy("a module global")  # collected at teardown
        logging.getLogger("app").error("before exit")
    """, receiver_env(receiver))
    assert result.returncode == 0, result.stderr
    assert "incidentio_logging" not in result.stderr, result.stderr
    events = receiver.wait_for(1)
    assert "before exit" in {r["message"] for e in events for r in e.records}


def exit_with_a_lookup(receiver: LocalReceiver, *, lookup_seconds: float,
                       shutdown_timeout: float) -> subprocess.CompletedProcess[str]:
    """Log from an atexit hook when no thread can start (3.12+), to ``localhost`` whose
    lookup (a getaddrinfo wrapper) takes ``lookup_seconds``; print how long
    logging.shutdown() took and the drops."""
    port = receiver.endpoint.rsplit(":", 1)[1]
    return run_script(f"""
        import atexit, json, logging, socket, threading, time
        from incidentio_logging import IncidentIOHandler
        real = socket.getaddrinfo
        def slow(host, *args, **kwargs):
            if host == "localhost":
                time.sleep({lookup_seconds})
                host = "127.0.0.1"
            return real(host, *args, **kwargs)
        socket.getaddrinfo = slow
        def refuse(thread):  # what 3.12+ does in an atexit hook
            raise RuntimeError("can't create new thread at interpreter shutdown")
        handler = IncidentIOHandler(endpoint="http://localhost:{port}", flush_interval=60,
                                    shutdown_timeout={shutdown_timeout})
        logging.getLogger().addHandler(handler)
        def at_exit():
            threading.Thread.start = refuse
            logging.getLogger("app").error("logged during exit")
            started = time.monotonic()
            logging.shutdown()
            print(f"{{time.monotonic() - started:.3f}}", json.dumps(handler.stats()["dropped"]))
        atexit.register(at_exit)
    """, receiver_env(receiver))


def test_a_slow_dns_lookup_cannot_stretch_exit(receiver: LocalReceiver) -> None:
    """A record logged from an atexit hook, when no thread can start (3.12+), would be
    delivered on the exiting thread, and getaddrinfo() has no timeout: a 5 s lookup made
    exit take 5 s with shutdown_timeout=1. Never resolved yet: counted, not looked up."""
    result = exit_with_a_lookup(receiver, lookup_seconds=5, shutdown_timeout=1)
    assert result.returncode == 0, result.stderr
    took, dropped = result.stdout.split(" ", 1)
    assert float(took) < 1.5, result.stdout
    assert json.loads(dropped) == {"unresolved": 1}
    (line,) = [ln for ln in result.stderr.splitlines() if "close()" in ln]
    assert "1 record undelivered" in line and "unresolved" in line


def test_with_a_long_shutdown_budget_exit_may_look_the_endpoint_up(
        receiver: LocalReceiver) -> None:
    """shutdown_timeout=40 outlasts any default resolver: the exiting thread looks the
    name up and delivers."""
    result = exit_with_a_lookup(receiver, lookup_seconds=0, shutdown_timeout=40)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.split(" ", 1)[1]) == {}
    (event,) = receiver.wait_for(1)
    assert event.records[0]["message"] == "logged during exit"


def skip_without(library: str) -> None:
    """Skip when ``library`` is not installed; found without importing it here."""
    if importlib.util.find_spec(library) is None:
        pytest.skip(f"{library} is not installed")


#: How each green library patches, spawns and sleeps, for the script below.
GREEN = {
    "gevent": ("from gevent import monkey; monkey.patch_all()\nimport gevent as green",
               "green.spawn", "green.sleep"),
    "eventlet": ("import eventlet as green; green.monkey_patch()", "green.spawn",
                 "green.sleep"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("library", "fork"), [("gevent", False), ("gevent", True),
                                               ("eventlet", False)])
def test_a_handler_built_before_green_patching_does_not_hang_the_process(
        receiver: LocalReceiver, library: str, fork: bool) -> None:
    """gunicorn --preload -k gevent (or eventlet) builds the handler in the master, and
    the worker patches after fork. The worker "thread" is then a greenlet: had it waited
    on a primitive made before the patching (a C queue.SimpleQueue), it would block the
    one OS thread every greenlet runs on, and the process would never serve or exit
    again (hung for more than 20 s; 1.2 s before the signal-safe wake-ups)."""
    skip_without(library)
    patch, spawn, sleep = GREEN[library]
    build = """
        import logging, os, signal, warnings
        signal.alarm(15)  # hung, the process ends itself: SIGALRM
        warnings.simplefilter("ignore")
        from incidentio_logging import IncidentIOHandler
        handler = IncidentIOHandler(flush_interval=0.05, shutdown_timeout=2)
    """
    in_a_child = """
        pid = os.fork()
        if pid:
            os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        signal.alarm(15)  # not inherited over fork
    """
    use = f"""
        log = logging.getLogger("app")
        log.propagate = False
        log.addHandler(handler)
        ticks = [0]
        def tick():
            while True:
                ticks[0] += 1
                {sleep}(0.01)
        {spawn}(tick)
        log.error("Card declined for order %s", "A-1")
        {sleep}(1.0)
        log.error("Refund failed for order %s", "A-2")
        print("ticks", ticks[0], "flushed", handler.flush(5), flush=True)
        handler.close()
        print("closed", handler.stats()["records_delivered"], flush=True)
    """
    script = "\n".join(textwrap.dedent(part) for part in
                       (build, in_a_child if fork else "", patch, use))
    result = run_script(script, receiver_env(receiver), timeout=20)
    assert result.returncode == 0, f"hung or failed: {result.stdout!r} {result.stderr}"
    ticks, flushed, closed = result.stdout.split()[1::2]
    assert int(ticks) > 50  # the other greenlets kept running while the worker waited
    assert flushed == "True" and closed == "2", result.stdout
    assert sorted(event.title for event in receiver.events) == [
        "ERROR app: Card declined for order A-1", "ERROR app: Refund failed for order A-2"]


@pytest.mark.timeout(60)
def test_under_gevent_a_flush_waits_for_the_worker_starting_in_another_greenlet(
        receiver: LocalReceiver) -> None:
    """The first record starts the worker under the start lock, and Thread.start()
    switches greenlets. A lock made before the patching is a C RLock, which every
    greenlet of the one OS thread re-enters: a flush from another greenlet then went
    straight in and delivered on its own greenlet, a second consumer beside the new
    worker. Made after the patching, the lock keeps it waiting."""
    skip_without("gevent")
    result = run_script("""
        import logging, signal, threading, warnings
        signal.alarm(15)  # hung, the process ends itself: SIGALRM
        warnings.simplefilter("ignore")
        from incidentio_logging import IncidentIOHandler
        handler = IncidentIOHandler(flush_interval=0.05, shutdown_timeout=2)
        from gevent import monkey; monkey.patch_all()
        import gevent
        senders = []
        post = handler._transport.post
        def recording_post(body, timeout):
            senders.append(threading.current_thread().name)
            return post(body, timeout)
        handler._transport.post = recording_post
        log = logging.getLogger("app")
        log.propagate = False
        log.addHandler(handler)
        other = gevent.spawn(handler.flush, 5)  # runs at the first switch: mid-start
        log.error("Card declined for order %s", "A-1")
        print(other.get(timeout=10), handler.flush(5), *senders, flush=True)
        handler.close()
    """, receiver_env(receiver), timeout=20)
    assert result.returncode == 0, f"hung or failed: {result.stdout!r} {result.stderr}"
    other_flushed, flushed, *senders = result.stdout.split()
    assert other_flushed == flushed == "True"
    assert senders == ["incidentio-logging-worker-" + receiver.source_id[:12]], senders
    (event,) = receiver.wait_for(1)
    assert event.title == "ERROR app: Card declined for order A-1"


_RECONFIGURED_THEN_EXIT = r"""
import logging, logging.config, sys
from incidentio_logging import IncidentIOHandler

config = {"version": 1, "handlers": {"incident": {
    "()": IncidentIOHandler, "api_token": "tok", "alert_source_config_id": "01TEST",
    "endpoint": sys.argv[1], "flush_interval": 0.05, "shutdown_timeout": 3}},
    "root": {"handlers": ["incident"], "level": "ERROR"}}
logging.config.dictConfig(config)
logging.getLogger("app").error("payment failed")
# Configured again (a framework applying its own config, a settings reload): dictConfig
# closes the old handler while it holds logging's lock, so that close does not wait.
logging.config.dictConfig(config)
sys.exit(0)  # logging.shutdown() runs; the old handler is no longer in its list
"""


@pytest.mark.timeout(30)
def test_records_of_a_handler_closed_by_dictconfig_are_not_lost_silently_at_exit(
        receiver: LocalReceiver) -> None:
    """RELIABILITY/README: every record ends delivered or counted as dropped, and close()
    always says on stderr what it left undelivered. A dictConfig re-run closes the old
    handler under logging's lock, where Worker.stop() does not wait: its worker is to
    finish on its own within shutdown_timeout. But nothing waits for that worker at exit
    (logging.shutdown() no longer lists the old handler, and the worker is a daemon):
    the record is neither delivered nor said."""
    done = subprocess.run([sys.executable, "-c", _RECONFIGURED_THEN_EXIT, receiver.endpoint],
                          check=False, capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr[-2000:]
    time.sleep(0.5)  # a request sent just before exit is recorded
    delivered = any("payment failed" in event.title for event in receiver.events)
    assert delivered or "undelivered" in done.stderr, (receiver.attempts, done.stderr)


_RECONFIGURED_JUST_BEFORE_EXIT = r"""
import logging, logging.config, sys, time
from incidentio_logging import IncidentIOHandler

config = {"version": 1, "disable_existing_loggers": False, "handlers": {"incident": {
    "()": IncidentIOHandler, "api_token": "tok", "alert_source_config_id": "01TEST",
    "endpoint": sys.argv[1], "flush_interval": 0.05, "shutdown_timeout": float(sys.argv[2])}},
    "root": {"handlers": ["incident"], "level": "ERROR"}}
logging.config.dictConfig(config)
logging.getLogger("app").error("payment failed")
# A settings reload right before the process ends: the old handler's close is handed to
# its worker (dictConfig holds logging's lock); the new handler has a record of its own.
logging.config.dictConfig(config)
logging.getLogger("app").error("refund failed")
print(time.monotonic(), flush=True)  # exit starts here
"""


@pytest.mark.timeout(30)
def test_exit_after_a_dictconfig_rerun_stays_within_one_shutdown_timeout(
        receiver: LocalReceiver, tmp_path: Any) -> None:
    """README "Exit": pending events are delivered within ``shutdown_timeout``, "and exit
    never waits longer, receiver down or not". With a receiver that never answers and a
    dictConfig re-run just before exit, the atexit hook for dictConfig-closed workers
    (finish_closing) waits out the old worker's whole budget first, and only then does
    logging.shutdown() start the live handler's own shutdown_timeout: exit takes two
    budgets (2 x 5 s by default: past Docker's 10 s grace before SIGKILL). With one
    more re-run per budget it adds up further."""
    budget = 1.5
    # Run as a file, as applications are: under ``python -c`` the old worker happened to
    # be done before exit, and the two budgets did not show.
    script = tmp_path / "app.py"
    script.write_text(_RECONFIGURED_JUST_BEFORE_EXIT)
    receiver.hold()
    try:
        child = subprocess.Popen(
            [sys.executable, str(script), receiver.endpoint,
             str(budget)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = child.communicate(timeout=25)
        ended = time.monotonic()
    finally:
        receiver.release()
    assert child.returncode == 0, err[-2000:]
    exit_took = ended - float(out.split()[0])
    # Both records are said as undelivered (nothing lost silently)...
    assert err.count("undelivered") == 2, err
    # ...but within one budget (plus interpreter teardown slack), not two.
    assert exit_took < budget + 1.0, f"exit took {exit_took:.2f}s for shutdown_timeout={budget}"


def two_handlers_then(receiver: LocalReceiver, code: str) -> tuple[str, float]:
    """Run ``code`` after building two handlers with shutdown_timeout=2.5 on the root
    logger, with a receiver that never answers; the process must end well and each
    handler say its one record undelivered. Returns stdout and when it ended."""
    receiver.hold()
    try:
        result = run_script("""
            import logging, multiprocessing, time
            from incidentio_logging import IncidentIOHandler
            for _ in range(2):
                logging.getLogger().addHandler(IncidentIOHandler(
                    flush_interval=60, shutdown_timeout=2.5, timeout=30))
        """ + code, receiver_env(receiver))
        ended = time.monotonic()
    finally:
        receiver.release()
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("close() left 1 record undelivered") == 2, result.stderr
    return result.stdout, ended


@pytest.mark.timeout(30)
def test_exit_with_two_handlers_stays_within_one_shutdown_timeout(
        receiver: LocalReceiver) -> None:
    """README, Exit: "pending events are delivered within shutdown_timeout, and exit
    never waits longer, receiver down or not". Two handlers with 2.5 s each and a
    receiver that never answers: exit took 5 s, since logging.shutdown() flushes and
    closes one handler after the other, each bare flush starting its own budget. The
    exit hook that starts them all at once, within one budget, ran only after a
    dictConfig re-run; it now runs at every exit."""
    stdout, ended = two_handlers_then(receiver, """
            logging.getLogger("app").error("pending at exit")
            print(time.monotonic(), flush=True)  # exit starts here
    """)
    exit_took = ended - float(stdout.split()[0])
    assert exit_took < 3.75, f"exit took {exit_took:.1f} s for shutdown_timeout=2.5"


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_multiprocessing_childs_exit_with_two_handlers_stays_within_one_budget(
        receiver: LocalReceiver) -> None:
    """The exit of a child started by fork skips atexit (os._exit()); the handlers'
    multiprocessing finalizer closed them one after another, each with its own
    shutdown_timeout: 5 s for two 2.5 s handlers and a receiver that never answers.
    It now takes the exit's one path: one budget for all of them."""
    stdout, _ = two_handlers_then(receiver, """
            def child():
                logging.getLogger("app").error("pending at the child's exit")

            process = multiprocessing.get_context("fork").Process(target=child)
            started = time.monotonic()
            process.start()
            process.join(20)
            print(f"{process.exitcode} {time.monotonic() - started:.2f}")
    """)
    exitcode, took = stdout.split()
    assert exitcode == "0", stdout
    assert float(took) < 3.75, f"the child's exit took {took} s for shutdown_timeout=2.5"


class ClientTransport:
    """A user's transport around an HTTP client that, like httpx.Client, cannot send once
    closed. Real HTTP (urllib) to the URL it is pointed at."""

    def __init__(self) -> None:
        self.url = ""
        self.token = ""
        self.closed = False

    def post(self, body: bytes, timeout: float) -> Reply:
        if self.closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return Reply(reply.status, dict(reply.headers), reply.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read())

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


#: The module-level instance a dictConfig names: ``"tests.test_lifecycle:CLIENT"``.
CLIENT = ClientTransport()


@pytest.mark.timeout(30)
@pytest.mark.usefixtures("restore_logging")
def test_a_dictconfig_rerun_does_not_close_the_transport_the_new_handler_uses(
        receiver: LocalReceiver) -> None:
    """README, Options: ``transport`` may be "a dotted path to one" (an instance); and
    README, Django: "Django runs dictConfig twice ... nothing leaks or hangs" (any
    settings reload re-runs it too). Both handlers resolve the path to the same object;
    the replaced handler's close() calls its close(), so the live handler is left with a
    closed client and every later alert fails (internal_error here; with httpx,
    RuntimeError on every post). The transport is not the handler's to close when it
    was given by path to a shared object."""
    CLIENT.url = receiver.webhook_url
    CLIENT.token = receiver.api_token
    CLIENT.closed = False
    config = {"version": 1, "disable_existing_loggers": False, "handlers": {"incident": {
        "()": IncidentIOHandler, **receiver.handler_options(), "flush_interval": 0.05,
        "transport": "tests.test_lifecycle:CLIENT"}},
        "root": {"handlers": ["incident"], "level": "ERROR"}}
    logging.config.dictConfig(config)
    logging.getLogger("app").error("first config")
    logging.config.dictConfig(config)  # a settings reload: the old handler is closed
    (live,) = [h for h in logging.getLogger().handlers if isinstance(h, IncidentIOHandler)]
    receiver.wait_for(1)  # the replaced handler's worker delivers its record, then ends
    deadline = time.monotonic() + 3.0
    while not CLIENT.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    logging.getLogger("app").error("payment failed after the reload")
    assert live.flush(5.0), live.stats()
    assert any("payment failed" in event.title for event in receiver.wait_for(2))


# Review rev5: exit and fork with one shared shutdown deadline ---------------------------

@pytest.mark.timeout(30)
def test_exit_with_ten_handlers_takes_the_longest_timeout_not_the_sum(
        receiver: LocalReceiver) -> None:
    returncode, took, stderr = run_timed(receiver, """
        import logging
        from incidentio_logging import IncidentIOHandler
        for i in range(10):
            logger = logging.getLogger(f"app{i}")
            logger.addHandler(IncidentIOHandler(
                flush_interval=60, shutdown_timeout=0.2 * (i + 1), timeout=30))
            logger.error("pending at exit")
        print("ready", flush=True)
    """, terminate=False, held=True)
    assert returncode == 0, stderr
    assert stderr.count("close() left 1 record undelivered") == 10, stderr
    assert took < 3.5, f"exit took {took:.2f} s, the longest shutdown_timeout is 2 s"


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_multiprocessing_child_forked_during_a_sigterm_shutdown_gets_its_own_exit_budget(
        receiver: LocalReceiver) -> None:
    """A multiprocessing child forked while the parent's SIGTERM shutdown runs (the
    parent's first reply is slow) inherits that shutdown's deadline and its "ending"
    mark. The child logs and ends just past that deadline: its exit (multiprocessing's
    finalizer, _close_all) must get a shutdown_timeout of its own, not the 0 s left of
    its parent's budget. The receiver answers the child at once. The child's record was
    given up at once ("close() left 1 record undelivered")."""
    receiver.script(Scripted(delay=3.0))
    _, _, stderr = run_timed(receiver, sigterm_child("""
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
    """, shutdown_timeout=1.5, record="parent's record"), terminate=True)
    assert "child logged" in stderr, stderr
    assert delivered(receiver, "child's record"), stderr


@pytest.mark.timeout(30)
def test_exit_with_two_handlers_built_on_another_thread_takes_one_budget(
        receiver: LocalReceiver) -> None:
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
    """, terminate=False, held=True)
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
    """, terminate=False, held=True)
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
