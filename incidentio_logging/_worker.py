"""The background thread: a bounded queue, windows, flush and stop with deadlines.

The caller's side (:meth:`Worker.submit`) is a length check and a deque append; the
thread is started by the first record, never at construction, so a handler that
``dictConfig`` builds and throws away leaves no thread behind.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator

from ._dispatch import Dispatcher, Timing
from ._record import Captured
from ._report import Reporter
from ._stats import Stats
from ._structured import normalize

#: Threads whose own log records must never enter any of our handlers: every worker,
#: and a thread while it delivers inline. Checked before any handler lock is taken.
WORKER_THREADS: set[int] = set()


class _Flush:
    """A marker in the queue: everything before it has been shipped once it is reached."""

    def __init__(self, dropped_before: int) -> None:
        self.done = threading.Event()
        self.dropped_before = dropped_before
        self.delivered_all = False


class _Stop:
    """A marker in the queue: ship what came before, then end the thread."""


class Worker:
    """Owns the queue and the thread that drains it into a :class:`Dispatcher`."""

    def __init__(self, dispatcher: Dispatcher, *, stats: Stats, reporter: Reporter,
                 clock: Callable[[], float], flush_interval: float, queue_size: int,
                 name: str) -> None:
        self._dispatcher = dispatcher
        self._stats = stats
        self._reporter = reporter
        self._clock = clock
        self._flush_interval = flush_interval
        self._queue_size = queue_size
        # Wake the worker mid-window after this many records, so a burst is drained (and
        # counted) instead of running into queue_full while the worker sleeps out the
        # window, and so a full group's stand-in is published early in a flood.
        self._high_water = max(1, min(queue_size // 2, 1024))
        self._name = name
        self._queue: deque[Captured | _Flush | _Stop] = deque()
        self._markers = 0  # flush/stop markers in the queue, so pending() counts records
        self._markers_lock = threading.Lock()
        self._wake = threading.Event()
        self._interrupt = threading.Event()
        self._start_lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._cannot_start = False
        self._idle = False
        self._stop_at = math.inf

    # The caller's thread ------------------------------------------------------------

    def submit(self, item: Captured) -> bool:
        """Queue ``item`` without blocking; False when the queue is full."""
        queue = self._queue
        if len(queue) >= self._queue_size:
            return False
        queue.append(item)
        if self._thread is None:
            self._start()
        elif self._idle or (len(queue) >= self._high_water and not self._wake.is_set()):
            # ">=", not "==": with several threads logging, another append can land
            # between ours and the length check, and the exact mark would go unseen.
            self._idle = False
            self._wake.set()
        return True

    def pending(self) -> int:
        """Records queued and not yet taken by the worker."""
        with self._markers_lock:
            return len(self._queue) - self._markers

    def _put_marker(self, marker: _Flush | _Stop) -> None:
        with self._markers_lock:
            self._markers += 1
            self._queue.append(marker)
        self._wake.set()

    def _start(self) -> None:
        # Never wait: a flush or close delivering inline holds the lock, and will take
        # this record too; if it does not, the next record starts the worker.
        if not self._start_lock.acquire(blocking=False):
            return
        try:
            if self._thread is not None or self._cannot_start:
                return
            # Set before start(): a signal handler logging in between, on this thread
            # (the lock is reentrant for it), must see a worker and not start another.
            self._thread = thread = threading.Thread(target=self._run, name=self._name,
                                                     daemon=True)
            try:
                thread.start()
            except RuntimeError:
                # Interpreter shutdown (3.12+ refuses new threads): keep the records
                # queued; close() delivers them on its own thread.
                self._thread = None
                self._cannot_start = True
        finally:
            self._start_lock.release()

    def _inline_needed(self) -> bool:
        thread = self._thread
        return thread is None or not thread.is_alive()

    def flush(self, timeout: float) -> bool:
        """Wait at most ``timeout`` for everything queued so far to be shipped."""
        thread = self._thread
        if thread is threading.current_thread():
            return False
        if self._inline_needed():
            with self._start_lock:  # no worker starts while this thread delivers
                if self._inline_needed():
                    dropped_before = self._stats.worker_dropped()
                    self._ship_inline(self._clock() + timeout)
                    return (self.pending() == 0
                            and self._stats.worker_dropped() == dropped_before)
        marker = _Flush(self._stats.worker_dropped())
        self._put_marker(marker)
        if _holds_logging_lock():
            return False
        return marker.done.wait(timeout) and marker.delivered_all

    def stop(self, timeout: float) -> None:
        """Ship what is pending within ``timeout``, then end."""
        self._stop_at = self._clock() + timeout
        with self._start_lock:  # no worker starts while this thread delivers
            thread = self._thread
            if thread is None or not thread.is_alive():
                self._cannot_start = True  # stopped: no worker from now on
                self._ship_inline(self._stop_at)
                with _as_worker_thread():
                    self._dispatcher.finish(self._timing())
                self._dispatcher.close()
                return
        self._put_marker(_Stop())
        self._interrupt.set()
        if thread is threading.current_thread() or _holds_logging_lock():
            # dictConfig holds logging's lock while it closes old handlers; the worker
            # may need that lock to log (urllib3), so waiting here could only time out.
            # The worker finishes on its own within the same deadline.
            return
        thread.join(max(0.0, self._stop_at - self._clock()))

    # The worker's thread ------------------------------------------------------------

    def _run(self) -> None:
        with _as_worker_thread():
            try:
                self._loop()
            except Exception as exc:  # noqa: BLE001 - last resort: say so, count, start over
                self._reporter.report("worker", f"worker thread failed: {type(exc).__name__}: "
                                      f"{exc}; queued records dropped")
                self._discard("internal_error")
                with self._start_lock:
                    self._thread = None  # the next record starts a fresh worker
            finally:
                self._dispatcher.close()

    def _loop(self) -> None:
        window_closes: float | None = None
        while True:
            marker = self._drain()
            if marker is not None:
                self._ship()
                window_closes = None
                if isinstance(marker, _Stop):
                    self._dispatcher.finish(self._timing())
                    self._discard("closed")
                    return
                self._settle(marker)
                continue
            now = self._clock()
            due = self._dispatcher.next_due(now)
            if due is not None and now >= due:
                self._dispatcher.resolve_due(self._timing())
                continue
            timeout = None if due is None else due - now
            if self._dispatcher.has_records():
                if window_closes is None:
                    window_closes = now + self._flush_interval
                if now >= window_closes:
                    self._ship()
                    window_closes = None
                    continue
                timeout = min(timeout or math.inf, window_closes - now)
            else:
                self._idle = True
                if self._queue:  # arrived between the drain and setting _idle
                    self._idle = False
                    continue
            self._wake.wait(timeout)
            self._wake.clear()
            self._idle = False

    def _drain(self) -> _Flush | _Stop | None:
        queue, add = self._queue, self._dispatcher.window.add
        taken = 0
        try:
            while queue:
                item = queue.popleft()
                if type(item) is dict:
                    taken += 1
                    try:
                        add(normalize(item))  # structlog's dicts, loguru's lines: plain
                    except Exception as exc:  # noqa: BLE001 - one bad record, not the thread
                        self._stats.drop("internal_error")
                        self._reporter.report("add", "a record could not be grouped "
                                              f"({type(exc).__name__}: {exc}); dropped")
                else:
                    self._marker_taken()
                    return item  # type: ignore[return-value]
            return None
        finally:
            self._stats.taken += taken

    def _timing(self, deadline: float = math.inf) -> Timing:
        return Timing(now=self._clock, wait=self._wait,
                      stop_at=lambda: min(self._stop_at, deadline))

    def _ship(self, deadline: float = math.inf) -> None:
        self._dispatcher.ship(self._timing(deadline))

    def _wait(self, seconds: float) -> None:
        # Interrupted by stop(), which moves the deadline; cleared so later waits sleep.
        if self._interrupt.wait(seconds):
            self._interrupt.clear()

    def _ship_inline(self, deadline: float) -> None:
        """Deliver on the calling thread: the worker never started or has died."""
        if not self._queue and not self._dispatcher.has_records():
            return
        flushes = []
        with _as_worker_thread():
            while self._queue:
                marker = self._drain()
                if isinstance(marker, _Flush):
                    flushes.append(marker)
            self._ship(deadline)
        for marker in flushes:
            self._settle(marker)

    def _settle(self, marker: _Flush) -> None:
        """Everything queued before ``marker`` is shipped: tell its caller how it went.

        Right after a ship, the window holds only groups held back (storm control,
        thresholds): those records are not delivered yet.
        """
        marker.delivered_all = (self._stats.worker_dropped() == marker.dropped_before
                                and not self._dispatcher.has_records())
        marker.done.set()

    def _discard(self, reason: str) -> None:
        """Count what is queued or in the open window as dropped; release flush waiters."""
        dropped = 0
        while self._queue:
            item = self._queue.popleft()
            if type(item) is dict:
                dropped += 1
                continue
            self._marker_taken()
            if isinstance(item, _Flush):
                item.done.set()
        self._stats.taken += dropped
        self._stats.drop(reason, dropped)
        self._dispatcher.discard(reason)

    def _marker_taken(self) -> None:
        with self._markers_lock:
            self._markers -= 1


@contextlib.contextmanager
def _as_worker_thread() -> Iterator[None]:
    ident = threading.get_ident()
    added = ident not in WORKER_THREADS
    WORKER_THREADS.add(ident)
    try:
        yield
    finally:
        if added:
            WORKER_THREADS.discard(ident)


def _holds_logging_lock() -> bool:
    """True when this thread holds the logging module's lock (inside dictConfig)."""
    is_owned = getattr(getattr(logging, "_lock", None), "_is_owned", None)
    try:
        return bool(is_owned()) if is_owned is not None else False
    except Exception:  # noqa: BLE001 - a private API; assume not held
        return False
