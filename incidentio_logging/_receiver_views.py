"""What the local receiver shows of the events it accepted: the page, JSON Lines, the console.

The receiver itself (:mod:`incidentio_logging.testing`) only speaks HTTP as incident.io
does; everything here reads its events and never decides an answer. Event values are
untrusted: a valid event may carry any JSON in its metadata, so nothing here assumes
the shape this library sends.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._receiver_page import PAGE
from ._serialize import RECORD_FIELDS
from ._wording import count_of

if TYPE_CHECKING:
    from .testing import ReceivedEvent

_print_lock = threading.Lock()


def other_metadata(event: ReceivedEvent) -> dict[str, Any]:
    """The metadata beside the records; a ``data`` that is not a list of records stays here."""
    return {k: v for k, v in event.metadata.items()
            if not (k == "data" and isinstance(v, list))}


def alerts(events: Sequence[ReceivedEvent]) -> list[dict[str, Any]]:
    """One entry per deduplication key, newest first: what on-call would see."""
    by_key: dict[str, dict[str, Any]] = {}
    for event in events:
        alert = by_key.setdefault(event.deduplication_key, {
            "key": event.deduplication_key, "events": 0, "records": 0,
            "first_received": event.received_at, "metadata": {}, "latest_records": [],
            "description": ""})
        alert.update(status=event.status, last_received=event.received_at)
        if event.status == "firing" or "title" not in alert:
            alert["title"] = event.title
        # A resolve usually carries neither: keep what the last firing event said.
        if event.payload.get("description"):
            alert["description"] = event.payload["description"]
        if event.records:
            alert["latest_records"] = event.records
        metadata = other_metadata(event)
        if metadata:
            alert["metadata"] = metadata
        alert["events"] += 1
        alert["records"] += len(event.records)
    return sorted(by_key.values(), key=lambda a: a["last_received"], reverse=True)


def page(path: str, events: Sequence[ReceivedEvent]) -> tuple[str, bytes] | None:
    """The content type and body for a GET of ``path``, or None when there is no such page."""
    if path == "/":
        return "text/html; charset=utf-8", PAGE.encode()
    if path == "/api/alerts":
        # allow_nan=False: the page's JSON.parse throws on Infinity and stops updating.
        return "application/json", json.dumps(alerts(events), allow_nan=False).encode()
    return None


class Background:
    """A thread that runs calls in order, so a slow file, pipe or terminal never holds up
    a reply: :meth:`submit` never waits, and a call that finds the queue full is counted
    in ``dropped`` and said on :meth:`close`."""

    def __init__(self, name: str, limit: int = 1000) -> None:
        self.name = name
        self.dropped = 0
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(limit)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the thread, after those already submitted."""
        try:
            self._queue.put_nowait(call)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float) -> bool:
        """Run what is queued and end the thread, waiting at most ``timeout`` seconds;
        False when a call is still stuck (a pipe whose reader stopped reading)."""
        if self.dropped:
            print(f"receiver: {self.name}: {count_of(self.dropped, 'event')} not written: "
                  "the reader fell behind", file=sys.stderr)
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while (call := self._queue.get()) is not None:
            try:
                call()
            except Exception:  # noqa: BLE001 - one failed call must not end the others
                traceback.print_exc()


class JsonLines:
    """``--jsonl``: each accepted event as one JSON object a line, with when it arrived.

    The file is opened at once, so a path that cannot be written (or a FIFO nobody reads
    yet) is refused before the receiver listens rather than on the first event. Lines are
    written on a thread of their own: a reader that stalls never holds up a reply.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            # O_NONBLOCK: opening a FIFO with no reader fails (ENXIO) instead of waiting.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            raise OSError(exc.errno, "it is a pipe with no reader; start the reader first",
                          path) from None
        os.set_blocking(fd, True)  # the writer thread may wait: nothing else does
        # Unbuffered: a failed write leaves nothing behind for close() to fail on again.
        self._file = os.fdopen(fd, "ab", buffering=0)
        self._writer = Background(f"appending to {path}")

    def write(self, event: ReceivedEvent) -> None:
        """Queue ``event`` for appending; never waits."""
        self._writer.submit(lambda: self._append(event))

    def _append(self, event: ReceivedEvent) -> None:
        # The receiver's own time wins over a payload key of the same name.
        line = json.dumps({**event.payload, "received_at": event.received_at},
                          allow_nan=False) + "\n"
        data = memoryview(line.encode())
        try:
            while data:
                data = data[self._file.write(data) or 0:]
        except OSError as exc:
            print(f"receiver: could not append to {self.path}: {exc}", file=sys.stderr)

    def close(self) -> None:
        """Write what is queued (2 s at most) and close the file."""
        # A write stuck on a stalled pipe keeps its file: closing under it could hand
        # the descriptor to another file while the write is pending.
        if self._writer.close(2.0):
            self._file.close()


def show(event: ReceivedEvent) -> None:
    """Print one alert event the way on-call would skim it."""
    lines = [
        f"--- alert event: {event.status.upper()}  key={event.deduplication_key[:16]}...",
        f"    title:    {event.title}",
        f"    metadata: {json.dumps(other_metadata(event), sort_keys=True)}",
        f"    records:  {len(event.records)}",
    ]
    for record in event.records:
        lines.extend(_record_lines(record))
    with _print_lock:
        print("\n".join(lines), flush=True)


def _record_lines(record: object) -> list[str]:
    if not isinstance(record, dict):
        return [f"      {json.dumps(record)}"]
    extras = {k: v for k, v in record.items() if k not in _STANDARD}
    lines = [f"      {str(record.get('timestamp', ''))[11:19]} {record.get('level')} "
             f"{record.get('logger')}: {record.get('message')}"
             + (f"  {json.dumps(extras)}" if extras else "")]
    if "exc_info" in record:
        text = str(record["exc_info"]).strip()
        last = text.splitlines()[-1] if text else ""
        lines.append(f"        traceback ({len(text)} chars) ... {last}")
    return lines


#: What the console shows apart from a record's extras: the serializer's own fields, and
#: ``taskName``, Python 3.12's record attribute, which another sender's formatter may write.
_STANDARD = RECORD_FIELDS | {"taskName"}
