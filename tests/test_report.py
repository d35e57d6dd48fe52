"""The library's own reports: stderr, at most one line per key per interval, token masked."""

from __future__ import annotations

import io

import pytest

from incidentio_logging._report import Reporter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_key_per_interval_then_a_count_of_what_was_held_back() -> None:
    """Repeats within the interval are held back, and counted in the next line."""
    clock, out = Clock(), io.StringIO()
    reporter = Reporter(clock=clock, interval=60, stream=lambda: out)
    for _ in range(5):
        reporter.report("queue_full", "the queue is full")
    reporter.report("other", "something else")
    clock.now += 61
    reporter.report("queue_full", "the queue is full")
    assert out.getvalue().splitlines() == [
        "incidentio-logging: the queue is full",
        "incidentio-logging: something else",
        "incidentio-logging: the queue is full (4 similar messages suppressed)",
    ]
    for _ in range(2):  # said, then held back
        reporter.report("other", "something else")
    clock.now += 61
    reporter.report("other", "something else")
    assert out.getvalue().splitlines()[-1] == (
        "incidentio-logging: something else (1 similar message suppressed)")


def test_once_means_once_whatever_the_interval() -> None:
    """A refusal by incident.io is said a single time."""
    clock, out = Clock(), io.StringIO()
    reporter = Reporter(clock=clock, interval=1, stream=lambda: out)
    reporter.report("rejected-401", "refused", once=True)
    clock.now += 3600
    reporter.report("rejected-401", "refused", once=True)
    assert out.getvalue().count("refused") == 1


def test_the_token_is_masked_and_a_missing_stderr_is_survived() -> None:
    """A message that happens to contain the token never shows it; no stream, no crash."""
    out = io.StringIO()
    Reporter(clock=Clock(), secret="tok-123456789", stream=lambda: out).report(
        "x", "failed sending with tok-123456789")
    assert out.getvalue() == "incidentio-logging: failed sending with [scrubbed]\n"
    Reporter(clock=Clock(), stream=lambda: None).report("x", "nowhere to go")


@pytest.mark.timeout(10)
def test_report_can_be_reentered_by_its_own_thread() -> None:
    """A signal handler whose logging call reports (a full queue, say) while its thread
    is inside report(): simulated by a key whose hashing reports again, inside the lock.
    A plain lock would deadlock; both lines are written."""
    out = io.StringIO()
    reporter = Reporter(clock=Clock(), stream=lambda: out)
    signals = [1]

    class Interrupted(str):
        __slots__ = ()

        def __hash__(self) -> int:
            if signals:
                signals.pop()
                reporter.report("queue_full", "from the signal handler")
            return str.__hash__(self)

    reporter.report(Interrupted("emit"), "from the interrupted call")
    assert sorted(out.getvalue().splitlines()) == [
        "incidentio-logging: from the interrupted call",
        "incidentio-logging: from the signal handler"]


def test_say_is_never_rate_limited() -> None:
    """What close() left undelivered is said every time, even right after the same
    words were reported (and so would be suppressed by report())."""
    lines: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    reporter = Reporter(clock=lambda: 0.0, secret="s3cr3t-token", stream=Stream)
    reporter.report("close", "left 1 record")
    reporter.report("close", "left 1 record")
    reporter.say("left 2 records, s3cr3t-token")
    reporter.say("left 2 records, s3cr3t-token")
    assert len(lines) == 3
    assert lines[-1] == "incidentio-logging: left 2 records, [scrubbed]\n"
