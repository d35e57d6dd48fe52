"""Review r3a: attacks on the newest fixes (fork detection by record.process, the exit
hook for dictConfig-closed workers, flush outcomes, dotted transports, thresholds)."""

from __future__ import annotations

import datetime
import logging
import logging.config
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging.testing import LocalReceiver
from incidentio_logging.transport import Reply

from .conftest import Rig

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
        receiver: LocalReceiver) -> None:
    """README "Exit": pending events are delivered within ``shutdown_timeout``, "and exit
    never waits longer, receiver down or not". With a receiver that never answers and a
    dictConfig re-run just before exit, the atexit hook for dictConfig-closed workers
    (finish_closing) waits out the old worker's whole budget first, and only then does
    logging.shutdown() start the live handler's own shutdown_timeout: exit takes two
    budgets (2 x 5 s by default: past Docker's 10 s grace before SIGKILL). With one
    more re-run per budget it adds up further."""
    budget = 1.5
    receiver.hold()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _RECONFIGURED_JUST_BEFORE_EXIT, receiver.endpoint,
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


#: The module-level instance a dictConfig names: ``"tests.test_review_r3a:CLIENT"``.
CLIENT = ClientTransport()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


@pytest.mark.timeout(30)
def test_a_dictconfig_rerun_does_not_close_the_transport_the_new_handler_uses(
        receiver: LocalReceiver, restore_logging: None) -> None:
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
        "transport": "tests.test_review_r3a:CLIENT"}},
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


def test_a_refresh_does_not_claim_more_records_within_the_window_than_there_were(
        receiver: LocalReceiver) -> None:
    """README, Threshold alerts: the title's "[≥20 in 60s]" is "a lower bound" of the
    records within threshold_window, and ``records_within_window`` says the same. With
    refreshes on (the default), a problem that stays over its threshold at a steady 5 per
    10 s carries a minute of records to its refresh, and the refresh claims all of them
    happened within 10 s: "[≥29 in 10s]", when no 10 s held more than 6. The on-call sees
    a rate five times the real one. (events._within_window counts group.total, assuming
    "older held ones expired": true for held groups, not for records waiting for a
    refresh, which are kept whatever their age.)"""
    rig = Rig(receiver, threshold=3, threshold_window=10)
    for _ in range(3):
        rig.log()
    rig.ship()                       # t=0: crosses, fires
    for _ in range(29):              # t=2..58: one every 2 s, always over 3 in 10 s
        rig.advance(2)
        rig.log()
        rig.ship()
    rig.advance(2)
    rig.ship()                       # t=60: the refresh is due
    _first, refresh = receiver.wait_for(2)
    times = sorted(datetime.datetime.fromisoformat(r["timestamp"]).timestamp()
                   for r in refresh.records)
    densest = max(sum(1 for t in times if start <= t <= start + 10) for start in times)
    claimed = refresh.metadata["incidentio_logging"]["threshold"]["records_within_window"]
    assert claimed <= densest, (refresh.title, claimed, densest)
    assert refresh.title.startswith(f"[≥{claimed} in 10s]")


@pytest.mark.timeout(20)
def test_records_counted_by_design_do_not_fail_a_live_flush(receiver: LocalReceiver) -> None:
    """README, Exit: records "counted, not sent, by design (batch_full, body_size) ... do
    not make a later flush() return False"; a closed handler's flush() agrees (True). But
    a live handler's flush() of the very same records says False: Worker._settle compares
    Stats.worker_dropped(), which counts batch_full and body_size like real losses
    (_worker.COUNTED is applied only at close). A flood past max_batch_size makes every
    flush (Celery's per-task flush, flush_all in a finally) report a failed delivery
    while everything that was to be sent arrived."""
    handler = IncidentIOHandler(**receiver.handler_options(), flush_interval=0.05,
                                max_batch_size=2)
    try:
        for number in range(5):
            handler.handle(logging.makeLogRecord({
                "name": "app", "levelno": logging.ERROR, "levelname": "ERROR",
                "msg": "payment %s failed", "args": (number,)}))
        live = handler.flush(5.0)
        stats = handler.stats()
        assert stats["records_delivered"] == 2 and stats["dropped"] == {"batch_full": 3}
    finally:
        handler.close()
    assert handler.flush() is True  # closed: the same records judged clean
    assert live is True
