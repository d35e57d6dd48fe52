"""The receiver's rate-limit fault mode: a sliding window per key, answered as incident.io does."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from incidentio_logging._delivery import retry_after
from incidentio_logging._rate_limit import SlidingWindowLimiter
from incidentio_logging.testing import LocalReceiver
from incidentio_logging.transport import Reply

from .conftest import FakeClock


def test_the_window_admits_the_limit_then_says_when_the_oldest_leaves() -> None:
    clock = FakeClock(100.0)
    limiter = SlidingWindowLimiter(3, window=60.0, clock=clock)
    assert [limiter.admit("k") for _ in range(3)] == [None, None, None]
    clock.now = 110.0
    assert limiter.admit("k") == pytest.approx(50.0)  # the first of the three leaves at 160


def test_the_window_slides_rather_than_resetting() -> None:
    clock = FakeClock(0.0)
    limiter = SlidingWindowLimiter(2, window=10.0, clock=clock)
    assert limiter.admit("k") is None  # t=0
    clock.now = 6.0
    assert limiter.admit("k") is None  # t=6
    clock.now = 10.0
    assert limiter.admit("k") is None  # t=0 has left; t=6 is still in
    assert limiter.admit("k") == pytest.approx(6.0)  # until t=6 leaves at 16
    clock.now = 16.0
    assert limiter.admit("k") is None


def test_a_refused_request_does_not_count_and_keys_are_separate() -> None:
    clock = FakeClock(0.0)
    limiter = SlidingWindowLimiter(1, window=10.0, clock=clock)
    assert limiter.admit("a") is None
    for now in (1.0, 2.0, 3.0):
        clock.now = now
        assert limiter.admit("a") == pytest.approx(10.0 - now)
    assert limiter.admit("b") is None  # another key has its own budget
    clock.now = 10.0
    assert limiter.admit("a") is None  # the refusals did not push it out


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, None])
def test_a_limit_must_be_a_positive_integer(limit: Any) -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(limit)


def _post(receiver: LocalReceiver, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"title": "t", "status": "firing", "deduplication_key": "k"}).encode()
    request = urllib.request.Request(
        receiver.webhook_url, data=body, method="POST",
        headers={"Authorization": f"Bearer {token or receiver.api_token}",
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_receiver_answers_429_with_retry_after_and_incidentio_body() -> None:
    clock = FakeClock(0.0)
    with LocalReceiver() as receiver:
        receiver.rate_limit(2, window=60.0, clock=clock)
        assert [_post(receiver)[0] for _ in range(2)] == [202, 202]
        clock.now = 20.5
        status, headers, raw = _post(receiver)
        assert status == 429
        assert headers["Retry-After"] == "40"  # 39.5 s rounded up
        body = json.loads(raw)
        assert body["status"] == 429 and body["type"] == "too_many_requests"
        assert body["rate_limit"]["limit"] == 2 and body["rate_limit"]["remaining"] == 0
        # The handler's own parser reads the body's time when the header is missing.
        wall = dt.datetime.now(dt.timezone.utc)
        wait = retry_after(Reply(429, {}, raw), now_wall=wall)
        assert wait is not None and 38 <= wait <= 41
        assert len(receiver.events) == 2  # the refused event was not accepted
        assert [a.status for a in receiver.attempts] == [202, 202, 429]
        clock.now = 60.0
        assert _post(receiver)[0] == 202


def test_the_limit_is_per_token_and_can_be_lifted() -> None:
    clock = FakeClock(0.0)
    with LocalReceiver() as receiver:
        receiver.rate_limit(1, clock=clock)
        assert _post(receiver)[0] == 202
        assert _post(receiver, token="another")[0] == 401  # its own budget; then checked
        assert _post(receiver)[0] == 429
        receiver.rate_limit(None)
        assert _post(receiver)[0] == 202


def test_a_scripted_reply_comes_before_the_limit() -> None:
    with LocalReceiver() as receiver:
        receiver.rate_limit(1)
        receiver.script(503)
        assert _post(receiver)[0] == 503
        assert _post(receiver)[0] == 202
        assert _post(receiver)[0] == 429
