"""Review r2core: core invariants of the send schedule and the shutdown machinery."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from incidentio_logging.testing import LocalReceiver, Scripted

from .conftest import MakeHandler


def _wait_attempts(receiver: LocalReceiver, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.attempts) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(receiver.attempts) >= count, receiver.attempts


@pytest.mark.timeout(30)
def test_a_flush_is_not_failed_by_a_later_record_rejected_while_it_waits(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """alpha is logged and flushed; its first attempt gets 503 Retry-After 1, so the
    flush waits in the send schedule. Meanwhile beta, logged after the flush began, is
    sent in its own window and refused (422). alpha is then delivered: everything
    before the flush was delivered, so flush() must return True (README: "Returns True
    when all of it was delivered"). beta's refusal is not the flush's business."""
    receiver.script(Scripted(503, headers={"Retry-After": "1"}), Scripted(422))
    handler = make_handler(flush_interval=0.05)
    logger.addHandler(handler)
    logger.error("alpha failed %s", 1)
    _wait_attempts(receiver, 1)  # alpha's 503: it waits a second in the schedule
    outcome: list[bool] = []
    flusher = threading.Thread(target=lambda: outcome.append(handler.flush(10)))
    flusher.start()
    deadline = time.monotonic() + 5
    while not handler._worker._flushes and time.monotonic() < deadline:
        time.sleep(0.005)  # the flush waits on alpha
    logger.error("beta failed %s", 1)
    flusher.join(15)
    stats = handler.stats()
    assert stats["dropped"] == {"rejected": 1}, stats
    assert [a.status for a in receiver.attempts] == [503, 422, 202]
    assert outcome == [True], stats


@pytest.mark.timeout(30)
def test_a_flush_pending_when_the_worker_fails_does_not_report_success(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger) -> None:
    """alpha's event waits out a 503's Retry-After with a flush pending on it, when the
    worker thread fails (a fault in its loop, injected here). The worker's last resort
    drops what it held as internal_error: alpha was not delivered, so the flush must
    not return True."""
    receiver.script(Scripted(503, headers={"Retry-After": "1"}))
    handler = make_handler(flush_interval=0.05)
    logger.addHandler(handler)
    logger.error("alpha failed %s", 1)
    outcome: list[bool] = []
    flusher = threading.Thread(target=lambda: outcome.append(handler.flush(10)))
    flusher.start()
    _wait_attempts(receiver, 1)
    time.sleep(0.1)  # the flush marker is taken, and waits on alpha in the schedule
    dispatcher = handler._worker._dispatcher

    def broken(now: float) -> float | None:
        raise RuntimeError("injected")
    dispatcher.next_due = broken  # type: ignore[method-assign]
    logger.error("beta failed %s", 1)  # wakes the worker, which now fails
    flusher.join(15)
    deadline = time.monotonic() + 5
    while not handler.stats()["dropped"] and time.monotonic() < deadline:
        time.sleep(0.01)  # the failed worker counts what it held
    stats = handler.stats()
    assert stats["records_delivered"] == 0 and stats["dropped"].get("internal_error"), stats
    assert outcome == [False], stats


_FORK_WHILE_HOOKS_LOCKED = r"""
import logging, os, sys, threading, time
from incidentio_logging import IncidentIOHandler, _hooks

handler = IncidentIOHandler(api_token="tok", alert_source_config_id="01TEST",
                            endpoint=sys.argv[1], shutdown_timeout=1)
# Another thread is inside a constructor or a close() (dictConfig replacing handlers),
# which hold the hooks' lock for a moment, when this thread forks.
inside, leave = threading.Event(), threading.Event()

def closing_elsewhere():
    with _hooks._lock:
        inside.set()
        leave.wait()

threading.Thread(target=closing_elsewhere).start()
inside.wait()
pid = os.fork()
if pid == 0:
    handler.close()  # what logging.shutdown() does at the child's exit
    os._exit(0)
leave.set()
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    if os.waitpid(pid, os.WNOHANG)[0]:
        print("child exited")
        break
    time.sleep(0.02)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("child hung in close()")
"""


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_child_forked_while_another_thread_holds_the_hooks_lock_can_close(
        receiver: LocalReceiver) -> None:
    """close() always takes the hooks' module lock (release_uncaught, release_sigterm).
    A fork while another thread holds it (building or closing a handler) leaves the
    child a lock owned by a thread that does not exist there: the child's close(), and
    so its exit through logging.shutdown(), hangs for good. logging re-makes its own
    lock after fork for this reason; ours must too."""
    done = subprocess.run([sys.executable, "-c", _FORK_WHILE_HOOKS_LOCKED, receiver.endpoint],
                          check=False, capture_output=True, text=True, timeout=20)
    assert done.stdout.strip() == "child exited", (done.stdout, done.stderr[-2000:])


@pytest.fixture
def no_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker Thread.start() fails (a thread limit; on 3.12+, any start at exit):
    flush() delivers on the caller's thread."""
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name.startswith("incidentio-logging-worker"):
            raise RuntimeError("can't start new thread")
        original(self)
    monkeypatch.setattr(threading.Thread, "start", start)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("options", [{"threshold": 3}, {"max_events_per_minute": 1}],
                         ids=["below_threshold", "storm_control"])
def test_an_inline_flush_does_not_report_success_while_groups_are_held_back(
        make_handler: MakeHandler, receiver: LocalReceiver, logger: logging.Logger,
        no_worker_thread: None, options: dict[str, int]) -> None:
    """README: "flush() returns False while records are held below the threshold", and
    True only "when all of it was delivered". With no worker thread, the flush delivers
    inline and returns True though a group is still held back (below its threshold, or
    by storm control) and stats() shows it pending; close() then drops it."""
    handler = make_handler(flush_interval=0.05, **options)
    logger.addHandler(handler)
    logger.error("alpha failed %s", 1)
    logger.error("beta failed %s", 1)
    outcome = handler.flush(5)
    stats = handler.stats()
    assert stats["records_delivered"] < 2 and stats["records_pending"] > 0, stats
    assert outcome is False, stats


_TWO_HANDLERS = r"""
import logging, sys, time
from incidentio_logging import IncidentIOHandler

options = dict(api_token="tok", alert_source_config_id="01TEST", endpoint=sys.argv[1],
               flush_interval=0.05, timeout=0.5)
asked = IncidentIOHandler(**options, shutdown_timeout=1, flush_on_sigterm=True)
other = IncidentIOHandler(**options, shutdown_timeout=6, max_retries=100)  # its own close()
for name, handler in (("a", asked), ("b", other)):
    log = logging.getLogger(name)
    log.propagate = False
    log.addHandler(handler)
    log.error("%s failed", name)
time.sleep(0.3)  # both events are in flight: the receiver holds them
print("ready", flush=True)
time.sleep(30)
"""


@pytest.mark.timeout(40)
def test_sigterm_ends_within_the_budget_of_the_handlers_that_asked(
        receiver: LocalReceiver) -> None:
    """README: "On SIGTERM, every live handler in the process is flushed within one
    shutdown_timeout (the longest among the handlers that asked) ... the handlers are
    closed with what is left of the budget". Here that is 1 s (+ one attempt's 0.5 s
    timeout). Another handler in the process, which did not ask, has shutdown_timeout=6:
    its close gets its own 6 s less what was spent, so a hanging receiver keeps the
    process 6 s after SIGTERM, past an orchestrator's grace period sized on the 1 s."""
    receiver.hold()
    try:
        proc = subprocess.Popen([sys.executable, "-c", _TWO_HANDLERS, receiver.endpoint],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        took = time.monotonic() - started
    finally:
        receiver.release()
    assert proc.returncode == -signal.SIGTERM
    assert took < 3.0, f"SIGTERM took {took:.1f} s for a 1 s budget"


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
