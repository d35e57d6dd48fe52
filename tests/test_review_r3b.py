"""Review r3b: the README's and the CLI's written promises checked against the code."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading

import pytest

import incidentio_logging
from incidentio_logging import HandlerStats, IncidentIOHandler
from incidentio_logging.testing import LocalReceiver

from .conftest import free_port
from .test_main import serving

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: An application's own credentials, as it would have them in its environment.
APP_TOKEN = "app-own-token-9f8e7d6c5b4a"
APP_SOURCE = "01GW2G3V0S59R238FAHPDS1R66"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("receiver_env", [{}, {"INCIDENT_IO_API_TOKEN": APP_TOKEN}],
                         ids=["neither-variable", "token-only"])
def test_the_receivers_keep_your_variables_advice_works_when_it_chose_the_token(
        receiver_env: dict[str, str]) -> None:
    """`receiver` started without the app's variables (so it chose its own token) still
    prints 'or keep the app's variables and pass endpoint=...' (README "What will on-call
    see?" shows the same banner). Following that advice must deliver; a receiver that only
    accepts the token it chose refuses the app's own token with 401; one started with the
    app's token but not its source id (it chose 01LOCALRECEIVERSOURCE00000) answers 404."""
    port = free_port()
    with serving("--port", str(port), env=receiver_env) as banner:
        advice = re.search(r'keep the app\'s variables and pass endpoint="([^"]+)"', banner)
        if advice is None:
            return  # the advice is no longer given where it cannot work
        handler = IncidentIOHandler(api_token=APP_TOKEN, alert_source_config_id=APP_SOURCE,
                                    endpoint=advice.group(1), flush_interval=0.05,
                                    max_retries=0)
        try:
            handler.handle(logging.makeLogRecord(
                {"name": "shop", "msg": "boom", "levelno": logging.ERROR,
                 "levelname": "ERROR"}))
            handler.flush(timeout=5)
            stats = handler.stats()
        finally:
            handler.close()
        assert stats["records_delivered"] == 1, stats


def test_the_stats_docstring_names_every_counter() -> None:
    """`help(handler.stats)` lists the counters, but not `refreshes_forgotten`, added by
    issue 16 (README "Accounting" and HandlerStats have it)."""
    doc = " ".join((IncidentIOHandler.stats.__doc__ or "").split()).lower()
    missing = [key for key in HandlerStats.__annotations__
               if key != "dropped" and key.split("_")[0][:6] not in doc]
    assert not missing, f"stats() docstring does not mention {missing}"


def test_flush_all_docstring_agrees_with_the_readme_on_celery_pools() -> None:
    """README "Serverless and short jobs": "A long-lived worker (a Celery pool, a web
    server) needs no flush after each task: its worker thread delivers on its own, and a
    Celery child leaving the pool closes its handlers". `flush_all`'s docstring still
    lists "a Celery task in a forked pool" among the platforms that kill the process
    without exit, for which it is meant (its use at the end of each invocation)."""
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as file:
        readme = " ".join(file.read().split())
    doc = " ".join((incidentio_logging.flush_all.__doc__ or "").split())
    if "needs no flush after each task" in readme:
        assert "Celery task in a forked pool" not in doc, doc


@pytest.mark.timeout(10)
def test_the_receivers_dropped_lines_note_counts_in_the_singular(
        capsys: pytest.CaptureFixture[str]) -> None:
    """CHANGELOG: "Counts are singular or plural, never `(s)`, in descriptions and in
    every line on stderr." The receiver's note for lines it could not write
    (_receiver_views.py, Background.close) says "1 events not written"."""
    from incidentio_logging._receiver_views import Background

    gate, busy = threading.Event(), threading.Event()
    background = Background("jsonl", limit=1)

    def stalled_write() -> None:  # a reader that stopped reading
        busy.set()
        gate.wait(5)

    background.submit(stalled_write)
    assert busy.wait(5)  # the thread has taken that call off the queue
    background.submit(lambda: None)  # fills the one-slot queue
    background.submit(lambda: None)  # finds it full: counted
    assert background.dropped == 1
    gate.set()
    assert background.close(5)
    note = capsys.readouterr().err
    assert "1 event not written" in note, note


@pytest.mark.timeout(30)
def test_a_receiver_port_out_of_range_is_one_line_and_exit_2() -> None:
    """CHANGELOG (Fixed): "a port outside 0-65535 is a `ValueError` naming `port` (the
    command: one line, exit 2)"; README: "... stop it at start with one line and exit
    code 2". `receiver --port 70000` prints argparse's usage block too: four lines."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_IO_")}
    done = subprocess.run(
        [sys.executable, "-m", "incidentio_logging", "receiver", "--port", "70000"],
        check=False, capture_output=True, text=True, cwd=HERE, env=environ, timeout=20)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "port" in done.stderr


def test_where_alerts_come_from_names_the_logger_flask_really_uses() -> None:
    """README "Web apps and task queues": "WSGI apps (Django, Flask) log their unhandled
    exceptions on `django.request` and `flask.app`". Flask logs them on `app.logger`,
    named after the app (the Flask section itself says `ERROR <app name>: Exception on
    ...`), so a handler or a `rule` put on `flask.app` never sees them."""
    flask = pytest.importorskip("flask")
    app = flask.Flask("shop")

    @app.route("/checkout")
    def checkout() -> str:
        raise KeyError("A-1")

    names: list[str] = []

    class Names(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            names.append(record.name)

    root = logging.getLogger()
    kept = Names(logging.ERROR)
    root.addHandler(kept)
    try:
        assert app.test_client().get("/checkout").status_code == 500
    finally:
        root.removeHandler(kept)
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as file:
        readme = file.read()
    if "`flask.app`" in readme:
        assert "flask.app" in names, f"Flask logged its exception on {names}, not flask.app"


def test_the_readme_lists_the_receivers_rate_limit_fault_mode() -> None:
    """CHANGELOG (Added, issue 16): `LocalReceiver.rate_limit(limit=1200, window=60.0)`, a
    fault mode answering 429 beyond incident.io's per-token limit. README's "Does my app
    still alert?" lists the receiver's fault modes (script, refuse_connections, hold...)
    but not this one, the one a fleet's users need to rehearse a 429."""
    assert hasattr(LocalReceiver, "rate_limit")
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as file:
        assert "rate_limit(" in file.read()
