"""Receivers for the benchmark, run in a child process.

Their request parsing then costs the benchmarked process nothing: process CPU time in
the parent is only the application's and its handlers' workers'.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from incidentio_logging.testing import LocalReceiver


class _Sink(BaseHTTPRequestHandler):
    """Accepts any POST (logtail's msgpack batches) with a 202."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def serve() -> None:
    """Child side: start both servers, print their addresses, run until stdin closes."""
    with LocalReceiver() as receiver:
        sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        sink.daemon_threads = True
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        print(receiver.api_token, receiver.webhook_url, f"http://127.0.0.1:{sink.server_port}",
              flush=True)
        sys.stdin.read()


class Servers:
    """Parent side: the child process and what a handler needs to reach it."""

    def __enter__(self) -> Servers:
        self._child = subprocess.Popen(
            [sys.executable, "-c", "from benchmarks.servers import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._child.stdout is not None
        self.token, self.webhook_url, self.sink_url = self._child.stdout.readline().split()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        assert self._child.stdin is not None
        self._child.stdin.close()
        self._child.wait(10)

    def incidentio_options(self) -> dict[str, str]:
        """Options that point an IncidentIOHandler at the child's receiver."""
        return {"api_token": self.token, "alert_source_config_id": self.webhook_url}
