"""Retries: which statuses, how long to wait, Retry-After, caps, and the same key each time."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Iterable

import pytest

from incidentio_logging._delivery import Outcome, RetryPolicy, deliver, retry_after
from incidentio_logging.testing import LocalReceiver, Scripted
from incidentio_logging.transport import HttpTransport, Reply, TransportError

from .conftest import FakeClock


class Scripted503:
    """A Transport that answers from a script; an exception instance is raised."""

    def __init__(self, replies: Iterable[Reply | Exception]) -> None:
        self.replies = list(replies)
        self.bodies: list[bytes] = []

    def post(self, body: bytes, timeout: float) -> Reply:
        self.bodies.append(body)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def run(transport: Scripted503, clock: FakeClock, policy: RetryPolicy | None = None,
        stop_at: float = float("inf")) -> Outcome:
    return deliver(transport, b"{}", policy=policy or RetryPolicy(), now=lambda: clock.now,
                   wait=clock.wait, stop_at=lambda: stop_at, rng=random.Random(7))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(status: int) -> None:
    """408, 429 and 5xx get another attempt, after a backoff."""
    clock = FakeClock()
    transport = Scripted503([Reply(status), Reply(202)])
    outcome = run(transport, clock)
    assert outcome == Outcome(True, 1)
    assert len(clock.waits) == 1 and clock.waits[0] > 0


def test_connection_errors_are_retried() -> None:
    """No answer at all is retried like a 5xx."""
    clock = FakeClock()
    outcome = run(Scripted503([TransportError("refused"), Reply(202)]), clock)
    assert outcome.delivered and outcome.retries == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 301])
def test_other_statuses_are_never_retried(status: int) -> None:
    """Configuration and payload faults are final after one attempt."""
    clock = FakeClock()
    transport = Scripted503([Reply(status, body=b'{"type": "validation_error"}'), Reply(202)])
    outcome = run(transport, clock)
    assert (outcome.delivered, outcome.reason, outcome.status) == (False, "rejected", status)
    assert len(transport.bodies) == 1 and clock.waits == []


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    """Each wait lies in [d/2, d] for d = base * 2**n, capped at max_delay."""
    clock = FakeClock()
    policy = RetryPolicy(max_retries=6, max_time=1000, base_delay=1, max_delay=8)
    outcome = run(Scripted503([Reply(503)] * 7), clock, policy)
    assert (outcome.reason, outcome.retries) == ("send_failed", 6)
    for retry, waited in enumerate(clock.waits):
        ceiling = min(8, 2**retry)
        assert ceiling / 2 <= waited <= ceiling


def test_attempts_are_capped_by_max_retries() -> None:
    """max_retries=2 means three attempts in all."""
    transport = Scripted503([Reply(500)] * 10)
    outcome = run(transport, FakeClock(), RetryPolicy(max_retries=2))
    assert len(transport.bodies) == 3 and outcome.reason == "send_failed"


def test_total_time_is_capped_by_max_retry_time() -> None:
    """No wait may carry the event past max_retry_time."""
    clock = FakeClock()
    start = clock.now
    run(Scripted503([Reply(500)] * 50), clock, RetryPolicy(max_retries=50, max_time=10))
    assert clock.now - start <= 10


def test_retry_after_seconds_is_honoured() -> None:
    """A 429 with Retry-After: 7 waits exactly 7 seconds."""
    clock = FakeClock()
    outcome = run(Scripted503([Reply(429, {"Retry-After": "7"}), Reply(202)]), clock)
    assert outcome.delivered and clock.waits == [7.0]


def test_retry_after_beyond_the_budget_gives_up_as_rate_limited() -> None:
    """Asked to wait longer than max_retry_time, the event is dropped as rate_limited."""
    clock = FakeClock()
    outcome = run(Scripted503([Reply(429, {"retry-after": "3600"})]), clock)
    assert (outcome.delivered, outcome.reason) == (False, "rate_limited")
    assert clock.waits == []


def test_retry_after_forms() -> None:
    """Seconds, an HTTP date, and the body's rate_limit.retry_after in both seen formats."""
    now = dt.datetime(2025, 4, 17, 11, 17, 8, tzinfo=dt.timezone.utc)
    later = now + dt.timedelta(seconds=10)
    assert retry_after(Reply(429, {"Retry-After": "12"}), now_wall=now) == 12
    assert retry_after(Reply(429, {"Retry-After": email.utils.format_datetime(later,
                                                                              usegmt=True)}),
                       now_wall=now) == 10
    body = b'{"rate_limit": {"retry_after": "Thu, 17 Apr 2025 11:17:18 UTC"}}'
    assert retry_after(Reply(429, {}, body), now_wall=now) == 10
    body = b'{"rate_limit": {"retry_after": "2025-04-17T11:17:18Z"}}'
    assert retry_after(Reply(429, {}, body), now_wall=now) == 10
    assert retry_after(Reply(429, {"Retry-After": "soon"}), now_wall=now) is None
    assert retry_after(Reply(429, {}, b"not json"), now_wall=now) is None


def test_a_closing_deadline_cuts_a_backoff_short() -> None:
    """When stop_at falls before the next attempt, delivery ends as shutdown_timeout."""
    clock = FakeClock()
    outcome = run(Scripted503([Reply(503, {"Retry-After": "20"})] * 3), clock,
                  stop_at=clock.now + 5)
    assert (outcome.delivered, outcome.reason) == (False, "shutdown_timeout")
    assert clock.now <= 1005


def test_every_attempt_sends_the_same_bytes() -> None:
    """The body, and so the deduplication key, never changes between attempts."""
    transport = Scripted503([Reply(500), TransportError("reset"), Reply(202)])
    assert run(transport, FakeClock()).delivered
    assert len(set(transport.bodies)) == 1 and len(transport.bodies) == 3


def test_retries_over_real_http_keep_the_key(receiver: LocalReceiver) -> None:
    """Against the receiver: 503, 429 (Retry-After 2), then 202; identical bodies."""
    receiver.script(Scripted(503), Scripted(429, headers={"Retry-After": "2"}))
    transport = HttpTransport(endpoint=receiver.endpoint, source_id=receiver.source_id,
                              api_token=receiver.api_token)
    clock = FakeClock()
    body = b'{"title":"t","status":"firing","deduplication_key":"k1","metadata":{"data":[]}}'
    outcome = deliver(transport, body, policy=RetryPolicy(), now=lambda: clock.now,
                      wait=clock.wait, stop_at=lambda: float("inf"), rng=random.Random(1))
    assert outcome == Outcome(True, 2)
    assert [a.status for a in receiver.attempts] == [503, 429, 202]
    assert {a.body for a in receiver.attempts} == {body}
    assert clock.waits[1] == 2.0


def test_no_attempt_starts_with_less_than_the_floor_left() -> None:
    """Closing with 0.6 s left: after a 503 and its backoff (0.25-0.5 s), under 0.5 s
    would remain; no second attempt starts, none waits for it."""
    clock = FakeClock()
    transport = Scripted503([Reply(503), Reply(202)])
    outcome = deliver(transport, b"{}", policy=RetryPolicy(), now=lambda: clock.now,
                      wait=clock.wait, stop_at=lambda: 1000.6, rng=random.Random(7),
                      floor=lambda: 0.5)
    assert (outcome.delivered, outcome.reason) == (False, "shutdown_timeout")
    assert len(transport.bodies) == 1 and clock.waits == []


def test_a_request_sent_without_a_reply_in_time_has_an_unknown_outcome() -> None:
    """The last attempt went out and no reply came before the deadline: it may have
    arrived, so it is not counted as failed."""
    clock = FakeClock()
    outcome = run(Scripted503([TransportError("no reply within the timeout", sent=True)]),
                  clock, stop_at=clock.now + 0.1)
    assert (outcome.delivered, outcome.reason) == (False, "unknown_outcome")
    refused = run(Scripted503([TransportError("connection failed")]), FakeClock(),
                  stop_at=1000.1)
    assert refused.reason == "shutdown_timeout"


def test_a_reply_timeout_from_the_receiver_is_counted_as_unknown_outcome(
        receiver: LocalReceiver) -> None:
    """Over HTTP: the receiver holds the request past the timeout, retries are spent."""
    transport = HttpTransport(endpoint=receiver.endpoint, source_id=receiver.source_id,
                              api_token=receiver.api_token)
    receiver.hold()
    try:
        outcome = deliver(transport, b"{}", policy=RetryPolicy(max_retries=0, timeout=0.2),
                          now=lambda: 0.0, wait=lambda _: None, stop_at=lambda: float("inf"),
                          rng=random.Random(7))
    finally:
        receiver.release()
        transport.close()
    assert (outcome.delivered, outcome.reason) == (False, "unknown_outcome")
