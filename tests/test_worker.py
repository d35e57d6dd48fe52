"""The queue's wake-up rules, checked directly on the worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from incidentio_logging import IncidentIOHandler
from incidentio_logging._worker import Worker, _Flush


@pytest.fixture
def worker() -> Iterator[Worker]:
    """A worker whose thread counts as started but does nothing: the caller's side alone."""
    handler = IncidentIOHandler(api_token="t" * 20, alert_source_config_id="S1",
                                endpoint="http://127.0.0.1:9", queue_size=100)
    worker = handler._worker
    worker._thread = threading.current_thread()
    yield worker
    worker._queue.clear()


def test_the_high_water_mark_wakes_the_worker_even_when_passed_over(worker: Worker) -> None:
    """Other threads' appends can carry the queue past the mark between our append and
    our check; the worker must still be woken."""
    for _ in range(worker._high_water + 3):  # as if other threads had appended meanwhile
        worker._queue.append({})
    assert not worker._wake.is_set()
    assert worker.submit({}) is None
    assert worker._wake.is_set()


def test_an_idle_worker_is_woken_by_the_first_record(worker: Worker) -> None:
    """A worker waiting with no window open must hear of a new record."""
    worker._idle = True
    worker.submit({})
    assert worker._wake.is_set() and not worker._idle


def test_a_busy_worker_is_not_woken_below_the_mark(worker: Worker) -> None:
    """Mid-window, records below the mark wait for the window to close."""
    worker.submit({})
    assert not worker._wake.is_set()


def test_a_full_queue_refuses(worker: Worker) -> None:
    """submit() says why at queue_size, and the queue does not grow."""
    for _ in range(100):
        assert worker.submit({}) is None
    assert worker.submit({}) == "queue_full"
    assert worker.pending() == 100


def test_inline_delivery_releases_a_flush_that_was_waiting(worker: Worker) -> None:
    """A flush marker queued for a worker that has since died is settled by whoever
    delivers inline, instead of leaving its caller to sleep out the whole timeout."""
    waiting = _Flush(worker._stats.worker_dropped())
    worker._put_marker(waiting)
    worker._thread = None  # the worker is gone; the next flush delivers inline
    assert worker.flush(1)
    assert waiting.done.is_set()
    assert waiting.delivered_all


def test_no_worker_starts_while_another_thread_delivers_inline() -> None:
    """While a flush or close delivers on its own thread (holding the start lock), a new
    record is queued without waiting and without starting a second consumer of the queue."""
    handler = IncidentIOHandler(api_token="t" * 20, alert_source_config_id="S1",
                                endpoint="http://127.0.0.1:9", flush_interval=60)
    worker = handler._worker
    holder_has_it, release = threading.Event(), threading.Event()

    def deliver_inline() -> None:
        with worker._start_lock:
            holder_has_it.set()
            release.wait(10)

    holder = threading.Thread(target=deliver_inline)
    holder.start()
    holder_has_it.wait(10)
    try:
        assert worker.submit({"placeholder": 1}) is None
        assert worker._thread is None and worker.pending() == 1
    finally:
        release.set()
        holder.join(10)
    worker._queue.clear()
    handler._stats.taken = 0
    handler.close()
