"""The command line: the demo is the README's run command, so it must keep working."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path

import pytest
import requests

from incidentio_logging import IncidentIOHandler, __version__
from incidentio_logging.__main__ import main
from incidentio_logging._config import SOURCE_ENV, TOKEN_ENV
from incidentio_logging._receiver_views import Background
from incidentio_logging.testing import DEFAULT_TOKEN

from .conftest import free_port, ipv6_loopback

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_demo_shows_alert_events() -> None:
    """`python -m incidentio_logging demo` prints the two grouped events and exits 0."""
    result = subprocess.run([sys.executable, "-m", "incidentio_logging", "demo"], cwd=HERE,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("--- alert event: FIRING") == 2
    assert "title:    ERROR shop.payments: Card declined for order A-1001 (+2 more)" in out
    assert "title:    ERROR shop.inventory: Stock lookup failed for sku-9" in out
    assert '"card_token": "[scrubbed]"' in out
    assert "KeyError: 'sku-9'" in out
    assert "All delivered: True" in out


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `python -m incidentio_logging receiver ARGS`; yield what it printed at start."""
    environ = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, SOURCE_ENV)}
    server = subprocess.Popen([sys.executable, "-m", "incidentio_logging", "receiver", *args],
                              stdout=subprocess.PIPE, text=True, cwd=HERE,
                              env={**environ, **(env or {})})
    try:
        assert server.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = server.stdout.readline()
            assert line, "the receiver exited: " + "".join(lines)
            lines.append(line)
        yield "".join(lines)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
    assert server.returncode == 0


def test_the_receiver_command_serves_until_stopped() -> None:
    """`receiver` prints where it listens and what to export, its own token included."""
    port = free_port()
    with serving("--port", str(port)) as out:
        assert out.startswith(f"Listening on http://127.0.0.1:{port}")
        assert f"export {TOKEN_ENV}={DEFAULT_TOKEN}" in out
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "Alerts received" in page.text


EVENT = {"title": "t", "status": "firing", "deduplication_key": "k"}


@pytest.mark.parametrize("where", ["environment", "flags"])
def test_the_receiver_takes_the_apps_own_token_and_source(where: str) -> None:
    """An app with its real variables set changes only its endpoint: the receiver
    accepts that token and source id (the source given as a whole webhook URL), and
    never prints a token it did not choose. Before, the app got 401."""
    token, source = "app-real-token-5f8a2c", "01APPREALSOURCE"
    webhook = f"https://api.incident.io/v2/alert_events/http/{source}"
    port = free_port()
    args, env = ("--port", str(port)), {TOKEN_ENV: token, SOURCE_ENV: webhook}
    if where == "flags":
        args, env = (*args, "--token", token, "--source", webhook), {}
    with serving(*args, env=env) as out:
        assert token not in out
        assert DEFAULT_TOKEN not in out
        assert f"/v2/alert_events/http/{source}" in out
        reply = requests.post(f"http://127.0.0.1:{port}/v2/alert_events/http/{source}",
                              json=EVENT, headers={"Authorization": f"Bearer {token}"},
                              timeout=5)
        assert reply.status_code == 202


#: An application's own credentials, as it would have them in its environment.
APP_TOKEN, APP_SOURCE = "app-own-token-9f8e7d6c5b4a", "01GW2G3V0S59R238FAHPDS1R66"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kept", ["neither", "token", "source", "both"])
def test_keeping_the_apps_variables_is_advised_only_where_it_works(kept: str) -> None:
    """The banner said 'or keep the app's variables and pass endpoint=...' even when the
    receiver chose the token (the app's own then got 401) or the source id (404). It is
    said only when both came from the app's variables, and then following it delivers."""
    env = {TOKEN_ENV: APP_TOKEN} if kept in ("token", "both") else {}
    if kept in ("source", "both"):
        env[SOURCE_ENV] = APP_SOURCE
    port = free_port()
    with serving("--port", str(port), env=env) as banner:
        advice = re.search(r'keep the app\'s variables and pass endpoint="([^"]+)"', banner)
        assert (advice is not None) == (kept == "both"), banner
        if advice is None:
            return
        handler = IncidentIOHandler(api_token=APP_TOKEN, alert_source_config_id=APP_SOURCE,
                                    endpoint=advice.group(1), flush_interval=0.05,
                                    max_retries=0)
        try:
            handler.handle(logging.makeLogRecord(
                {"name": "shop", "msg": "boom", "levelno": logging.ERROR,
                 "levelname": "ERROR"}))
            assert handler.flush(timeout=5)
            assert handler.stats()["records_delivered"] == 1
        finally:
            handler.close()


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_the_receiver_command_serves_on_ipv6() -> None:
    """`--host ::1` crashed with a gaierror; it serves at http://[::1]:port."""
    port = free_port(socket.AF_INET6, "::1")
    with serving("--host", "::1", "--port", str(port)) as out:
        assert out.startswith(f"Listening on http://[::1]:{port}")
        assert requests.get(f"http://[::1]:{port}/api/alerts", timeout=5).json() == []


def cannot_start(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the receiver command in-process; it must exit 2 with one line on stderr, and
    leave no thread of its own behind."""
    assert main(["receiver", *args]) == 2
    assert "printing events" not in [t.name for t in threading.enumerate()]
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    return line


@pytest.mark.timeout(10)
def test_a_host_beyond_loopback_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--host 0.0.0.0 was served without a word."""
    line = cannot_start(capsys, "--host", "0.0.0.0", "--port", "0")
    assert "'0.0.0.0' is not a loopback address" in line


@pytest.mark.timeout(10)
def test_a_port_in_use_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Not an OSError traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = cannot_start(capsys, "--port", str(port))
    assert line == f"receiver: port {port} on 127.0.0.1 is already in use; pick another with --port"


@pytest.mark.timeout(10)
def test_an_unwritable_jsonl_is_refused_at_start(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    """The receiver used to start anyway and store each retried event again."""
    path = tmp_path / "missing" / "events.jsonl"
    line = cannot_start(capsys, "--port", "0", "--jsonl", str(path))
    assert line.startswith(f"receiver: cannot append to --jsonl {path}: ")


@pytest.mark.timeout(10)
def test_a_bad_token_is_refused_without_echoing_it(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables are checked as the handler checks them, and never printed."""
    monkeypatch.setenv(TOKEN_ENV, "Bearer secret-xyz")
    line = cannot_start(capsys, "--port", "0")
    assert "whitespace" in line and "secret-xyz" not in line


def test_version_and_help_show_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version; the receiver's help names its defaults."""
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0
    assert capsys.readouterr().out.strip().endswith(__version__)
    with pytest.raises(SystemExit):
        main(["receiver", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 127.0.0.1)", "default: 8025", "(default: memory only)"):
        assert default in help_text


def test_the_console_script_is_the_module_command(capsys: pytest.CaptureFixture[str]) -> None:
    """pyproject's `incidentio-logging` script names the function `python -m` runs."""
    text = Path(HERE, "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^\[project\.scripts\]\nincidentio-logging = "([\w.]+):(\w+)"$', text,
                      re.MULTILINE)
    assert match, "no incidentio-logging console script in pyproject.toml"
    entry = getattr(import_module(match.group(1)), match.group(2))
    assert entry is main
    with pytest.raises(SystemExit):
        entry(["--version"])
    assert __version__ in capsys.readouterr().out


@pytest.mark.timeout(20)
@pytest.mark.parametrize("port", ["70000", "-1", "x"])
def test_a_port_out_of_range_is_refused_in_one_line(port: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``receiver --port 70000`` ended in an OverflowError traceback (exit 1), then in
    argparse's four-line usage block, while the README promises one line and exit 2."""
    line = cannot_start(capsys, "--port", port)
    assert line == f"receiver: --port must be a whole number from 0 to 65535, not '{port}'"


@pytest.mark.timeout(10)
def test_the_receivers_dropped_lines_note_counts_in_the_singular(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The note for events the printer could not write said "1 events not written"."""
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
    assert capsys.readouterr().err == ("receiver: jsonl: 1 event not written: "
                                       "the reader fell behind\n")


@pytest.mark.timeout(10)
def test_a_jsonl_fifo_without_a_reader_is_refused_in_one_line(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--jsonl`` naming a FIFO nobody reads hung before listening, without a word."""
    path = tmp_path / "events.fifo"
    os.mkfifo(path)
    assert stat.S_ISFIFO(path.stat().st_mode)
    line = cannot_start(capsys, "--port", "0", "--jsonl", str(path))
    assert line == (f"receiver: cannot append to --jsonl {path}: "
                    "it is a pipe with no reader; start the reader first")


def test_the_receiver_token_help_warns_about_process_lists(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``test --token`` warned that arguments show in process lists; ``receiver --token``
    did not."""
    with pytest.raises(SystemExit):
        main(["receiver", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "prefer the variable: arguments show up in process lists" in help_text


@pytest.mark.timeout(30)
def test_a_paused_terminal_does_not_hold_up_replies() -> None:
    """The receiver printed each event in the request's thread before replying: with its
    output not read (a paused terminal, a full pipe) senders waited for ever. Events are
    printed on a thread of their own now; here stdout is a pipe nobody reads."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v2/alert_events/http/01LOCALRECEIVERSOURCE00000"
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    with serving("--port", str(port)):  # reads the banner, then nothing until it ends
        for n in range(6):  # 180 KB of titles to print: far past a pipe's 64 KB
            event = {**EVENT, "title": f"{n} " + "x" * 30_000}
            reply = requests.post(url, json=event, headers=headers, timeout=5)
            assert reply.status_code == 202
