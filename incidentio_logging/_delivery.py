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
        if self._tried:
            self.retries += 1
        else:
            self.give_up_at = now() + self.policy.max_time
        self._tried = True
        self.limited_for = None
        policy, retries = self.policy, self.retries
        remaining = min(self.give_up_at, stop_at()) - now()
        if remaining <= 0 or stop_at() - now() < floor():
            reason = "shutdown_timeout" if stop_at() < self.give_up_at else "send_failed"
            return self._ended(reason, None, "out of time before an attempt")
        reply: Reply | None = None
        try:
            reply = transport.post(body, min(policy.timeout, remaining))
        except TransportError as exc:
            self._detail = str(exc)
            self._unknown = exc.sent
        else:
            self._unknown = False
            if 200 <= reply.status < 300:
                return Outcome(True, retries)
            self._detail = error_message(reply)
            if reply.status not in RETRYABLE:
                return Outcome(False, retries, "rejected", reply.status, self._detail)
        self._status = reply.status if reply is not None else None
        delay = policy.backoff(retries, rng)
        hint = retry_after(reply, now_wall=dt.datetime.now(dt.timezone.utc)) if reply else None
        if hint is not None:
            delay = hint
        if self._status == 429:
            self.limited_for = delay
        if (retries >= policy.max_retries or now() + delay >= self.give_up_at
                or now() + delay >= stop_at() - floor()):
            # No attempt is left that could happen in time: give up now, not after a wait.
            if stop_at() < self.give_up_at and retries < policy.max_retries:
                reason = "shutdown_timeout"
            else:
                reason = "rate_limited" if self._status == 429 else "send_failed"
            return self._ended(reason, self._status)
        return Retry(delay)

    def held_until(self, until: float, now: float) -> Outcome | None:
        """A 429 holds every attempt until ``until``: how this delivery ends if its
        retry budget runs out first, else None. Not tried yet, its budget would start
        now at the earliest."""
        if until < min(self.give_up_at, now + self.policy.max_time):
            return None
        return self._ended("rate_limited", 429, "held by the endpoint's rate limit past "
                           "max_retry_time")

    def cut_short(self) -> Outcome:
        """The deadline came before the next attempt could."""
        return self._ended("shutdown_timeout", self._status)

    def _ended(self, reason: str, status: int | None, detail: str = "") -> Outcome:
        # An attempt that was sent and got no reply may have been delivered: whatever
        # ended the retries, that is what the outcome says.
        return Outcome(False, self.retries, "unknown_outcome" if self._unknown else reason,
                       status, detail or self._detail)


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
        parts = [str(data.get("type", ""))]
        errors = data.get("errors")
        if isinstance(errors, list):
            for error in errors[:5]:
                if isinstance(error, dict):
                    field = error.get("source", {}).get("field") if isinstance(
                        error.get("source"), dict) else None
                    message = str(error.get("message", ""))
                    parts.append(f"{field}: {message}" if field else message)
        text = "; ".join(p for p in parts if p)
        if text:
            return text[:500]
    return reply.body[:200].decode("utf-8", "replace").strip() or f"HTTP {reply.status}"
