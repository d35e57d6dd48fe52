"""How a group of records becomes one incident.io alert event.

Pure: given a group, the settings and the wall-clock time, :class:`EventBuilder` returns
the exact bytes to POST. Records are serialized once each and spliced into the body, so
the size budget is counted in real bytes and no record is encoded twice. Every string
taken from a record is scrubbed before it is cut (see :mod:`._scrub`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from ._grouping import Group
from ._identity import deduplication_key, sha256
from ._record import safe_str
from ._serialize import (
    SECRET_KEY,
    ExcInfo,
    RecordSerializer,
    Scrubber,
    Traceback,
    describe_exception,
    encode,
    to_jsonable,
)
from ._threshold import Threshold
from ._wording import count_of

#: incident.io's only published size figure is 512 KiB per body; stay well below it.
BODY_LIMIT = 512 * 1024
BODY_BUDGET = 256 * 1024
MAX_TITLE = 250
MAX_DESCRIPTION = 8_000
MAX_TRACEBACK = 4_000
SUMMARY_KEY = "incidentio_logging"
# Room for the summary's counters, whose digits are only known after the records are chosen.
_SLACK = 512


@dataclass(frozen=True)
class AlertEvent:
    """One POST body and what it accounts for."""

    deduplication_key: str
    title: str
    body: bytes
    delivered_records: int
    omitted_batch: int
    omitted_size: int


class EventBuilder:
    """Forms alert events from groups, according to the handler's settings."""

    def __init__(
        self,
        *,
        metadata: Mapping[str, Any],
        title: str | None,
        description: str | None,
        source_url: str | None,
        dedup: str,
        wall_clock: Callable[[], float],
        redact: str | None = None,
        budget: int = BODY_BUDGET,
        secret: re.Pattern[str] = SECRET_KEY,
        threshold: Threshold | None = None,
    ) -> None:
        self._scrub = Scrubber(secret, redact)
        self._metadata = {k: to_jsonable(v, self._scrub) for k, v in metadata.items()
                          if k != "data"}
        self._title = title
        self._description = description
        self._source_url = source_url
        self._dedup = dedup
        self._wall_clock = wall_clock
        self._serializer = RecordSerializer(self._scrub)
        self._budget = budget
        self._redact = _redaction(redact)
        self._threshold = threshold

    def build(self, group: Group) -> AlertEvent:
        """The event for ``group``: records beyond the size budget are left out and counted."""
        # Masked before any cut: a cut must never keep half a secret.
        fields = {name: self._scrub.text(value, MAX_DESCRIPTION) if isinstance(value, str)
                  else value for name, value in template_fields(group).items()}
        title = _render(self._title, fields) or default_title(fields)
        if self._threshold is not None:
            window = self._threshold.window
            title = f"[≥{_within_window(group, window)} in {window:g}s] {title}"
        title = _cut(title, MAX_TITLE)
        description = _cut(
            _render(self._description, fields)
            or default_description(group, fields, self._serializer.format_exception,
                                   self._scrub),
            MAX_DESCRIPTION,
        )
        head: dict[str, Any] = {"title": title, "status": "firing", "deduplication_key": "0" * 64,
                                "description": description}
        if self._source_url:
            head["source_url"] = self._source_url
        summary = self._summary(group, len(group.records), 0)
        room = self._budget - len(self._assemble(head, summary, [])) - _SLACK
        chosen: list[bytes] = []
        for record in group.records:
            # Serialized one by one until the budget is spent: the rest are never encoded.
            data = self._serializer.serialize(record)
            room -= len(data) + 1
            if room < 0:
                break
            chosen.append(data)
        omitted_size = len(group.records) - len(chosen)
        head["deduplication_key"] = key = self._key(group, chosen)
        body = self._assemble(head, self._summary(group, len(chosen), omitted_size), chosen)
        return AlertEvent(key, title, body, len(chosen), group.omitted, omitted_size)

    def detach(self, exc_info: ExcInfo) -> Traceback:
        """``exc_info`` as the worker keeps it: formatted as its event will show it."""
        return self._serializer.detach(exc_info)

    def resolve(self, key: str, title: str, why: str) -> bytes:
        """The body that resolves the alert fired under ``key``: the same key, byte for byte."""
        head: dict[str, Any] = {"title": title, "status": "resolved", "deduplication_key": key}
        if self._source_url:
            head["source_url"] = self._source_url
        return self._assemble(head, {"resolved": why}, [])

    def _summary(self, group: Group, included: int, omitted_size: int) -> dict[str, Any]:
        summary = _summary(group, included, omitted_size, self._scrub)
        if self._threshold is not None:
            window = self._threshold.window
            summary["threshold"] = {"records_within_window": _within_window(group, window),
                                    "threshold": self._threshold.count,
                                    "window_seconds": window}
        return summary

    def _key(self, group: Group, records: list[bytes]) -> str:
        if self._dedup == "fingerprint":
            # Stable across windows, processes and restarts: repeats update one alert.
            return deduplication_key(group.key)
        # The reference: this event's data and the UTC minute it was formed in.
        digest = sha256()
        minute = dt.datetime.fromtimestamp(self._wall_clock(), dt.timezone.utc)
        digest.update(minute.strftime("%Y-%m-%dT%H:%M\n").encode())
        digest.update(b",".join(records))
        return digest.hexdigest()

    def _assemble(self, head: dict[str, Any], summary: dict[str, Any],
                  records: list[bytes]) -> bytes:
        meta = _compact({**self._metadata, SUMMARY_KEY: summary})
        # The head is not scrubbed again: its strings already were, and a dedup key's
        # digits must never be taken for a card number.
        body = b"".join((
            _compact(head)[:-1], b',"metadata":', meta[:-1], b',"data":[',
            b",".join(records), b"]}}",
        ))
        if self._redact is not None and self._redact[0] in body:
            body = body.replace(*self._redact)
        return body


def _compact(value: dict[str, Any]) -> bytes:
    """``value``, already JSON-ready and scrubbed, as compact UTF-8 JSON."""
    return encode(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _within_window(group: Group, window: float) -> int:
    """How many of the problem's records are known to lie within ``window`` s of its newest.

    A lower bound. When the first kept record is that recent, every record of the event
    is (those only counted came after it). Otherwise, as in a refresh that carries
    minutes of records, only those whose own times are that recent count, among the
    kept records and the times the threshold keeps.
    """
    newest = group.last_created
    if group.records and newest - group.records[0].created <= window:
        return group.total
    kept = sum(1 for record in group.records if newest - record.created <= window)
    return max(kept, sum(1 for created in group.times or () if newest - created <= window))


def _redaction(token: str | None) -> tuple[bytes, bytes] | None:
    if not token:
        return None
    # Never longer than the token, so redaction cannot push a body over its budget.
    mask = b"[scrubbed]" if len(token) >= 10 else b"*" * len(token)
    return token.encode(), mask


class TemplateFields(TypedDict):
    """The named fields a ``title`` or ``description`` template can use."""

    level: str
    logger: str
    message: str
    count: int
    more: int
    exc_type: str
    exc_message: str


#: The names a template may use: the configuration checks templates against these.
TEMPLATE_FIELDS = frozenset(TemplateFields.__required_keys__)


def template_fields(group: Group) -> TemplateFields:
    """The fields of :class:`TemplateFields` for ``group``, from its first record."""
    first = group.records[0]
    exc_type, exc_message = describe_exception(first.exc_info) if first.exc_info else ("", "")
    return {
        "level": first.levelname,
        "logger": first.name,
        "message": first_line(first.getMessage()),
        "count": group.total,
        "more": group.total - 1,
        "exc_type": exc_type,
        "exc_message": first_line(exc_message),
    }


def default_title(fields: Mapping[str, Any]) -> str:
    """``ERROR shop.payments: Payment declined for order A-1 (+3 more)``."""
    more = f" (+{fields['more']} more)" if fields["more"] else ""
    message = fields["message"] or fields["exc_type"] or "(no message)"
    return f"{fields['level']} {fields['logger']}: {_cut(message, MAX_TITLE - 40)}{more}"


def default_description(group: Group, fields: Mapping[str, Any],
                        format_exception: Callable[[ExcInfo | Traceback], str],
                        scrub: Scrubber) -> str:
    """Markdown an on-call engineer can act on: what, where, how often, and the traceback.

    ``fields`` are already scrubbed; the message and the traceback are scrubbed here.
    """
    first = group.records[0]
    when = _when(first.created, group.last_created)
    message = scrub.text(first.getMessage(), 2_000 - 3)
    lines = [
        f"**{count_of(fields['count'], fields['level'] + ' record')}** from "
        f"`{fields['logger']}` {when}.",
        "",
        *fenced(message),
    ]
    if group.suppressed:
        held = count_of(group.suppressed, "earlier event")
        lines[1:1] = ["", f"Storm control held back {held} for this problem "
                      "(max_events_per_minute); the records are counted here."]
    traceback = next((r for r in group.records if r.exc_info), None)
    if traceback is not None and traceback.exc_info:
        text = format_exception(traceback.exc_info)  # type: ignore[arg-type]
        lines += ["", *fenced(scrub.text(text, MAX_TRACEBACK, "...\n", tail=True))]
    return "\n".join(lines)


def fenced(text: str) -> list[str]:
    """``text`` as a markdown code block whose fence no line of it can close.

    Log content is untrusted: a message holding a ```` ``` ```` line would otherwise end
    the block early, and what follows would render as markdown (links, headings).
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]


def _summary(group: Group, included: int, omitted_size: int,
             scrub: Scrubber) -> dict[str, Any]:
    first = group.records[0]
    return {
        "logger": scrub.text(safe_str(first.name), MAX_TITLE),
        "level": scrub.text(safe_str(first.levelname), MAX_TITLE),
        "records": group.total,
        "included_records": included,
        "omitted_records": group.omitted + omitted_size,
        "first_seen": _iso(group.records[0].created),
        "last_seen": _iso(group.last_created),
        "suppressed_events": group.suppressed,
    }


def _render(template: str | None, fields: Mapping[str, Any]) -> str:
    if template is None:
        return ""
    try:
        return template.format_map(fields)
    except Exception:  # noqa: BLE001 - validated at construction; a bad index falls back
        return ""


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat()


def _when(first: float, last: float) -> str:
    """``at 02:00:00 UTC``, or ``between`` two times, with dates when the days differ.

    Whole timestamps are compared to the second shown: records a day apart (a window
    may be 24 h) are not one moment, and a span across midnight must not read backwards.
    """
    since, until = (dt.datetime.fromtimestamp(int(t // 1), dt.timezone.utc) for t in (first, last))
    if since == until:
        return f"at {since:%H:%M:%S} UTC"
    shown = "%Y-%m-%d %H:%M:%S" if since.date() != until.date() else "%H:%M:%S"
    return f"between {since.strftime(shown)} and {until.strftime(shown)} UTC"
