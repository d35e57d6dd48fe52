"""The counters: exact, and safe to re-enter from a signal handler."""

from __future__ import annotations

import pytest

from incidentio_logging._stats import Stats


@pytest.mark.timeout(10)
def test_refuse_can_be_reentered_by_its_own_thread() -> None:
    """A signal handler that logs after close() lands in refuse() while its thread may
    already be inside it. Simulated by a reason whose hashing refuses again, inside the
    lock: a plain lock would deadlock; both are counted."""
    stats = Stats()
    signals = [1]  # one signal, though the counter hashes its key more than once

    class Interrupted(str):
        __slots__ = ()

        def __hash__(self) -> int:
            if signals:
                signals.pop()
                stats.refuse("closed")  # the "signal handler"
            return str.__hash__(self)

    stats.refuse(Interrupted("queue_full"))
    assert stats.as_dict(pending=0, counted=0)["dropped"] == {"closed": 1, "queue_full": 1}
