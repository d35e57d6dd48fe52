"""What the local receiver shows of the events it accepted: the page, JSON Lines, the console.

The receiver itself (:mod:`incidentio_logging.testing`) only speaks HTTP as incident.io
does; everything here reads its events and never decides an answer. Event values are
untrusted: a valid event may carry any JSON in its metadata, so nothing here assumes
the shape this library sends.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._receiver_page import PAGE

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
        return "application/json", json.dumps(alerts(events)).encode()
    return None


class JsonLines:
    """``--jsonl``: each accepted event as one JSON object a line, with when it arrived.

    The file is opened at once, so a path that cannot be written is refused before the
    receiver listens rather than on the first event.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        # Unbuffered: a failed write leaves nothing behind for close() to fail on again.
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - open for the receiver's life

    def write(self, event: ReceivedEvent) -> None:
        """Append ``event``; a failed write is said on stderr, never turned into no reply."""
        line = json.dumps({"received_at": event.received_at, **event.payload}) + "\n"
        try:
            self._file.write(line.encode())
        except OSError as exc:
            print(f"receiver: could not append to {self.path}: {exc}", file=sys.stderr)

    def close(self) -> None:
        """Close the file."""
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


_STANDARD = {"timestamp", "level", "logger", "message", "module", "function", "line", "path",
             "process", "thread", "exc_info", "stack_info", "taskName"}
