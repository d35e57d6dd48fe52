"""Retrying one event until it is accepted, refused, or out of time.

The loop is synchronous and takes its clock and its wait as arguments, so tests drive
backoff and ``Retry-After`` without sleeping. The body, and so the deduplication key,
is the same bytes on every attempt.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from ._config import DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_TIME, DEFAULT_TIMEOUT
from .transport import Reply, Transport, TransportError

#: Worth another attempt: timeouts, rate limits, server faults.
RETRYABLE = frozenset({408, 429}) | frozenset(range(500, 600))
#: While closing, no attempt starts with less than this left before the deadline (or
#: half the budget, when that is shorter): it could only time out with its outcome
#: unknown. The worker passes it as ``floor``.
MIN_ATTEMPT = 0.5


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts, total time, and the backoff curve."""

    max_retries: int = DEFAULT_MAX_RETRIES
    max_time: float = DEFAULT_MAX_RETRY_TIME
    timeout: float = DEFAULT_TIMEOUT
    base_delay: float = 0.5
    max_delay: float = 15.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Exponential with jitter: half fixed, half random, so peers spread out."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Outcome:
    """How delivery of one event ended."""

    delivered: bool
    retries: int
    #: Why it was not delivered: ``rejected``, ``send_failed``, ``rate_limited``,
    #: ``shutdown_timeout``, ``unknown_outcome`` (the last attempt was sent and got no
    #: reply in time), or (set by the dispatcher when a transport raises its own
    #: exception) ``internal_error``; empty when delivered.
    reason: str = ""
    status: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Retry:
    """The attempt failed and another may follow, ``delay`` seconds from now."""

    delay: float


class Attempts:
    """One event's delivery, an attempt at a time, so a worker can do other work between.

    Holds what the retry loop needs between attempts: the retry budget's end, the
    retries made, and how the last attempt failed. :func:`deliver` drives it with
    waits; the worker's send schedule drives it without. The retry budget
    (``max_time``) starts at the first attempt: an event waiting its turn behind others
    has not begun to retry.

    Every way delivery itself can end undelivered goes through :meth:`_ended`, the one
    place that names the reason (:meth:`abandon` is for the dispatcher's own endings, whose
    reason it gives); what decides *when* it ends is :meth:`_cannot_start` (before an
    attempt), :meth:`_cannot_retry` (after a failure), :meth:`rate_limited_past_budget`
    (a 429 pauses every attempt) and :meth:`cut_short` (the deadline moved before a
    planned retry).
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.give_up_at = math.inf  # set by the first attempt
        #: After a 429: how long the endpoint asked every event to wait, even when this
        #: one gave up; None after any other reply.
        self.limited_for: float | None = None
        self.retries = 0
        self._tried = False
        self._unknown = False
        self._status: int | None = None
        self._detail = ""

    def attempt(self, transport: Transport, body: bytes, *, now: Callable[[], float],
                stop_at: Callable[[], float], rng: random.Random,
                floor: Callable[[], float] = lambda: 0.0) -> Outcome | Retry:
        """Make one attempt, if time allows: how delivery ended, or when to try again.

        ``stop_at()`` is the shutdown deadline; no attempt starts with less than
        ``floor()`` left before it, and none is promised after it.
        """
        self._begin(now())
        starts, deadline = now(), stop_at()
        ended = self._cannot_start(starts, deadline, floor())
        if ended is not None:
            return ended
        timeout = min(self.policy.timeout, min(self.give_up_at, deadline) - starts)
        reply = self._post(transport, body, timeout)
        if reply is not None and 200 <= reply.status < 300:
            return Outcome(True, self.retries)
        if reply is not None and reply.status not in RETRYABLE:
            return self._ended(reply.status)
        delay = self._delay(reply, rng)
        ended = self._cannot_retry(now() + delay, stop_at(), floor())
        return Retry(delay) if ended is None else ended

    def _begin(self, now: float) -> None:
        # The retry budget starts with the first attempt; each later one is a retry.
        if self._tried:
            self.retries += 1
        else:
            self.give_up_at = now + self.policy.max_time
        self._tried = True
        self.limited_for = None

    def _post(self, transport: Transport, body: bytes, timeout: float) -> Reply | None:
        # One request: its reply, or None when none came; keeps how it failed.
        try:
            reply = transport.post(body, timeout)
        except TransportError as exc:
            self._status, self._detail, self._unknown = None, str(exc), exc.sent
            return None
        self._status, self._unknown = reply.status, False
        if not 200 <= reply.status < 300:
            self._detail = error_message(reply)
        return reply

    def _delay(self, reply: Reply | None, rng: random.Random) -> float:
        # Until the next attempt: what a Retry-After asks, else the backoff.
        delay = self.policy.backoff(self.retries, rng)  # drawn even when not used
        hint = retry_after(reply, now_wall=dt.datetime.now(dt.timezone.utc)) if reply else None
        if hint is not None:
            delay = hint
        if self._status == 429:
            self.limited_for = delay
        return delay

    def _cannot_start(self, at: float, stop_at: float, floor: float) -> Outcome | None:
        """How delivery ends if the attempt about to start at ``at`` may not; None if it
        may: its retry budget and the deadline have not passed, and at least ``floor`` is
        left before the deadline."""
        if not (at >= self.give_up_at or at >= stop_at or stop_at - at < floor):
            return None
        return self._ended(None, "out of time before an attempt",
                           deadline=stop_at < self.give_up_at)

    def _cannot_retry(self, at: float, stop_at: float, floor: float) -> Outcome | None:
        """How delivery ends if no retry may be planned for ``at``; None if one may.

        Stricter at its edges than :meth:`_cannot_start`: the retry must be within
        ``max_retries`` and start before only ``floor`` is left, or no attempt could
        happen in time, so give up now rather than after the wait. The deadline is to
        blame only when it comes before the retry budget ends and retries are left.
        """
        spent = self.retries >= self.policy.max_retries
        if not (spent or at >= self.give_up_at or at >= stop_at - floor):
            return None
        return self._ended(self._status, deadline=stop_at < self.give_up_at and not spent)

    def rate_limited_past_budget(self, until: float, now: float) -> Outcome | None:
        """A 429 pauses every attempt until ``until``: how this delivery ends if its
        retry budget runs out first, else None. Not tried yet, its budget would start
        now at the earliest."""
        if until < min(self.give_up_at, now + self.policy.max_time):
            return None
        return self._ended(429, "held by the endpoint's rate limit past max_retry_time")

    def cut_short(self) -> Outcome:
        """The deadline came before the next attempt could."""
        return self._ended(self._status, deadline=True)

    def abandon(self, reason: str, detail: str) -> Outcome:
        """Ended by its owner, for ``reason``, whatever the attempts so far: discarded,
        refused room, or a transport that raised its own exception."""
        return Outcome(False, self.retries, reason, None, detail)

    def _ended(self, status: int | None, detail: str = "", *,
               deadline: bool = False) -> Outcome:
        # The one place that names why delivery ended undelivered. An attempt that was
        # sent and got no reply may have been delivered: whatever ended the retries,
        # that is what the outcome says.
        if self._unknown:
            reason = "unknown_outcome"
        elif deadline:
            reason = "shutdown_timeout"
        elif status == 429:
            reason = "rate_limited"
        elif status is not None and status not in RETRYABLE:
            reason = "rejected"
        else:
            reason = "send_failed"
        return Outcome(False, self.retries, reason, status, detail or self._detail)


def deliver(
    transport: Transport,
    body: bytes,
    *,
    policy: RetryPolicy,
    now: Callable[[], float],
    wait: Callable[[float], None],
    stop_at: Callable[[], float],
    rng: random.Random,
    floor: Callable[[], float] = lambda: 0.0,
) -> Outcome:
    """Send ``body`` until a 2xx, a final refusal, or the end of the time allowed.

    ``stop_at()`` is read before every step: it is the shutdown deadline, which moves
    earlier when the handler is closed in the middle of a backoff. No attempt starts
    with less than ``floor()`` left before it. A last attempt that was sent but got no
    reply ends as ``unknown_outcome``: it may have been accepted.
    """
    attempts = Attempts(policy)
    while True:
        result = attempts.attempt(transport, body, now=now, stop_at=stop_at, rng=rng,
                                  floor=floor)
        if isinstance(result, Outcome):
            return result
        wake_at = now() + result.delay
        while (left := wake_at - now()) > 0:
            # wait() returns early when close() moves stop_at; the backoff still holds.
            if wake_at >= stop_at() - floor():
                return attempts.cut_short()
            wait(left)


def retry_after(reply: Reply, *, now_wall: dt.datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date), else from the body."""
    header = next((v for k, v in reply.headers.items() if k.lower() == "retry-after"), None)
    seconds = _seconds_until(header, now_wall) if header else None
    if seconds is None:
        seconds = _seconds_until(_body_retry_after(reply.body), now_wall)
    return seconds


def _body_retry_after(body: bytes) -> str | None:
    try:
        value = json.loads(body)["rate_limit"]["retry_after"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def _seconds_until(value: str | None, now_wall: dt.datetime) -> float | None:
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    when: dt.datetime | None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        when = None
    if when is None:
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - now_wall).total_seconds())


def error_message(reply: Reply) -> str:
    """incident.io's own words from an error reply, short; the raw text if not JSON."""
    try:
        data = json.loads(reply.body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        text = "; ".join(part for part in _error_parts(data) if part)
        if text:
            return text[:500]
    return reply.body[:200].decode("utf-8", "replace").strip() or f"HTTP {reply.status}"


def _error_parts(data: dict[str, object]) -> list[str]:
    # The error's type, then its first few errors, each with the field it names.
    parts = [str(data.get("type", ""))]
    errors = data.get("errors")
    if isinstance(errors, list):
        parts.extend(_field_error(error) for error in errors[:5] if isinstance(error, dict))
    return parts


def _field_error(error: dict[str, object]) -> str:
    source = error.get("source")
    field = source.get("field") if isinstance(source, dict) else None
    message = str(error.get("message", ""))
    return f"{field}: {message}" if field else message
