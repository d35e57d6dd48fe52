"""The background thread: a bounded queue, windows, flush and stop with deadlines.

The caller's side (:meth:`Worker.submit`) is a length and a size check and a deque
append; the thread is started by the first record, never at construction, so a handler
that ``dictConfig`` builds and throws away leaves no thread behind.

Nothing on a caller's path takes a plain lock: a signal handler runs on top of whatever
its thread was doing, and may log, flush, read stats or close while that thread is in
the middle of the same call. Wake-ups go through a :class:`~._waiting.Bell`, whose
``set()`` is a reentrant C-level queue put, and the count of markers is kept lock-free.

Every primitive something waits on is made when its waiter begins (the worker's start,
a flush, an inline delivery, the start lock's first use), never at construction: gunicorn
``--preload -k gevent`` (or eventlet) builds the handler, and re-builds it after fork,
before the worker process monkey-patches. The worker thread is then a greenlet, and a
primitive made earlier is a C one: waiting on it blocks the one OS thread every greenlet
runs on, for good, and a C RLock excludes no greenlet from another. Made after the
patching, ``queue.SimpleQueue`` and ``threading.RLock`` come from the patched modules,
and are the cooperative kind.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from ._delivery import MIN_ATTEMPT
from ._dispatch import Dispatcher, Timing
from ._record import LIGHT_CHARS, RECORD_CHARGE, TRACEBACK_CHARGE, Captured
from ._report import Reporter
from ._schedule import Send
from ._stats import COUNTED, Stats
from ._structured import normalize
from ._waiting import Bell, bounded
from ._wording import count_of

#: Threads whose own log records must never enter any of our handlers: every worker,
#: and a thread while it delivers inline. Checked before any handler lock is taken.
WORKER_THREADS: set[int] = set()
#: Of those, the threads delivering inline (a flush or close with no worker running): a
#: record logged there is the application's (a signal handler, a finalizer), not ours.
INLINE_THREADS: set[int] = set()
#: Workers whose close could not wait for them (dictConfig closes old handlers while it
#: holds logging's lock): each finishes its stop on its own, by its deadline. Nothing
#: else waits for them (logging.shutdown() no longer lists their handlers, and they are
#: daemon threads), so :func:`finish_closing` does, at exit and on SIGTERM.
CLOSING: set[Worker] = set()
# The handler module waits for them at exit (an atexit hook registered by the first
# handler built). From 3.12 on threading._shutdown() runs before atexit but joins only
# non-daemon threads: a daemon worker still runs during atexit, and can be joined there.

#: Why records are not delivered when shipping them on the caller's own thread would
#: first need a DNS lookup, which no timeout bounds (see ``needs_lookup``).
UNRESOLVED = "unresolved"
#: A DNS lookup is risked on the caller's thread only with at least this long left: the
#: longest a default glibc resolver takes to give up (5 s, 2 attempts, 3 servers).
SLOW_LOOKUP = 30.0
#: A failed Thread.start() is retried at once, once; then by a later record or a
#: stats() call after this many seconds, doubling up to the maximum.
START_RETRY = 1.0
START_RETRY_MAX = 60.0
#: Records that have waited this many flush_intervals (and at least MIN_STALL seconds)
#: for a worker that has not run are said once on stderr. A window keeps records queued
#: for up to one flush_interval by design; the rest, and the floor, leave room for a
#: loaded machine's scheduling and collector pauses, so a busy CI box stays quiet.
STALL_INTERVALS = 3
MIN_STALL = 2.0
#: :meth:`Worker.wait_idle`'s poll. Short, because tests and benchmarks wait on it after
#: nearly every nudge; only they call it, so the spin costs the worker nothing.
IDLE_POLL = 0.0002


class _Flush:
    """A marker in the queue: everything before it has been shipped once it is reached."""

    def __init__(self, dropped_before: int) -> None:
        self.done = Bell()
        self.dropped_before = dropped_before
        self.delivered_all = False
        # Once shipped with events still waiting in the send schedule: the schedule's
        # mark then, those events (each keeps its outcome), and whether all else went
        # well (nothing dropped, no group held back) up to the mark.
        self.mark = 0
        self.sends: list[Send] = []
        self.clean_at_mark = False


class _Stop:
    """A marker in the queue: ship what came before, then end the thread."""


class Worker:
    """Owns the queue and the thread that drains it into a :class:`Dispatcher`."""

    def __init__(self, dispatcher: Dispatcher, *, stats: Stats, reporter: Reporter,
                 clock: Callable[[], float], flush_interval: float, queue_size: int,
                 max_queue_bytes: int, name: str,
                 needs_lookup: Callable[[], bool] = lambda: False,
                 busy_grace: float = 0.0) -> None:
        self._dispatcher = dispatcher
        self._stats = stats
        self._reporter = reporter
        self._clock = clock
        self._flush_interval = flush_interval
        self._queue_size = queue_size
        self._max_bytes = max_queue_bytes
        # The queue's estimated bytes: callers add their charge before appending; the
        # consumer, each time it has emptied the queue, marks as gone all the charges
        # made before it began, at no cost per record. Each side writes only its own.
        self._bytes_in = 0
        self._bytes_out = 0
        # Wake the worker mid-window after this many records, so a burst is drained (and
        # counted) instead of running into queue_full while the worker sleeps out the
        # window, and so a full group's stand-in is published early in a flood.
        self._high_water = max(1, min(queue_size // 2, 1024))
        self._name = name
        self._needs_lookup = needs_lookup
        # The stall check (see _check_stall): records queued after _stall_at have waited
        # too long for a worker that has not run. The worker pushes it on each time it
        # runs; while it delivers, by busy_grace more (one attempt's timeout and the
        # retries' wait), so a slow endpoint is not taken for a worker that never runs.
        self._stall_after = max(STALL_INTERVALS * flush_interval, MIN_STALL)
        self._busy_grace = busy_grace
        self._stall_at = math.inf
        self._ran = False
        self._queue: deque[Captured | _Flush | _Stop] = deque()
        # The flush/stop markers in the queue, so pending() counts records: appended
        # before the queue and taken after it, so pending() may briefly read one low.
        self._markers: deque[_Flush | _Stop] = deque()
        self._wake = Bell()  # made again by each waiter: _new_bells()
        # wake()s counted, and the count the worker had seen when it last began to wait:
        # wait_idle()'s proof that the worker went round its loop after a wake().
        self._wake_count = itertools.count(1)
        self._wakes = self._seen = self._answered = 0
        self._interrupt = Bell()
        # The start lock, made at first use (see _start_lock()).
        self._locks: dict[str, threading.RLock] = {}
        self._thread: threading.Thread | None = None
        self._cannot_start = False
        # Stopped for good: a record that passed the handler's closed check before
        # close() finished is counted here, since nothing will ship it.
        self._stopped = False
        # The thread inside Thread.start(), during which the new worker may already
        # consume the queue while not yet alive.
        self._starting_on: int | None = None
        # The thread delivering inline for this worker, if one is.
        self._inline_on: int | None = None
        # Held by the worker thread while it consumes (drains, ships, sends), released
        # while it waits for work: a SIGTERM close that cannot wait for the worker takes
        # it to deliver on its own thread (see _taken_over). Made with each thread.
        self._consuming = threading.Lock()
        # The worker has taken records off the queue and not yet counted them as taken.
        self._in_hand = False
        self._start_retry_at = 0.0
        self._start_delay = START_RETRY
        self._idle = False
        self._stop_at = math.inf
        self._floor = 0.0  # at close: no attempt starts with less than this left
        self._final = threading.Lock()  # taken once, never waited on: who settles close()
        self._dropped_at_stop: dict[str, int] = {}
        # The worker a close left to finish on its own (see CLOSING).
        self._closing_thread: threading.Thread | None = None
        # Flushes shipped whose events still wait in the send schedule.
        self._flushes: list[_Flush] = []
        self._failed_at_stop = 0
        self._skipped_at_stop = 0
        #: After close: True when it left nothing undelivered, False otherwise or not
        #: known yet.
        self.closed_clean = False

    # The caller's thread ------------------------------------------------------------

    def submit(self, item: Captured) -> str | None:
        """Queue ``item`` without blocking; the reason it was refused, or None."""
        queue = self._queue
        if len(queue) >= self._queue_size:
            return "queue_full"
        # Heavy: a long message, or a traceback. The one check a normal record pays for
        # the byte budget; a light one is bounded by queue_size alone. The charge is an
        # estimate: the message, the copied dict, and a traceback's frames (unsizable).
        if len(item["message"]) > LIGHT_CHARS or item["exc_info"]:
            size = len(item["message"]) + (RECORD_CHARGE + TRACEBACK_CHARGE
                                           if item["exc_info"] else RECORD_CHARGE)
            if self._bytes_in - self._bytes_out + size > self._max_bytes:
                return "queue_bytes"
            self._bytes_in += size
        queue.append(item)
        if self._thread is None:
            self._start()
        elif self._idle:
            # Idle since its last run: the wait for it starts now (re-armed before
            # _idle is cleared, so no other caller compares with the old stamp).
            self._stall_at = self._clock() + self._stall_after
            self._idle = False
            self._wake.set()
            return None
        elif len(queue) >= self._high_water and not self._wake.is_set():
            # ">=", not "==": with several threads logging, another append can land
            # between ours and the length check, and the exact mark would go unseen.
            self._wake.set()
        if self._clock() >= self._stall_at:  # the one cost per record: a clock read
            self._check_stall()
        return None

    def pending(self) -> int:
        """Records queued and not yet taken by the worker."""
        return max(0, len(self._queue) - len(self._markers))

    def queued_bytes(self) -> int:
        """The estimated bytes of the heavy records queued (see :meth:`submit`)."""
        return max(0, self._bytes_in - self._bytes_out)

    # Seams for this package's tests and benchmarks: they see and nudge the worker, and
    # change nothing it does.

    @property
    def thread(self) -> threading.Thread | None:
        """The worker thread: None until a record starts one, after it has ended, and
        while a failed start waits for its retry."""
        return self._thread

    @property
    def dispatcher(self) -> Dispatcher:
        """What the worker groups records in and delivers events through."""
        return self._dispatcher

    def wake(self) -> None:
        """Have the worker take what is queued now rather than at its next wake-up (the
        window's end, the high-water mark). Never blocks; nothing is shipped early."""
        self._wakes = next(self._wake_count)
        self._wake.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds (real time, whatever the worker's clock) for
        the worker to have taken every queued record into its window and gone back to
        waiting for work; True if it has.

        Unlike a flush, the window stays open and nothing is sent early. The worker
        takes queued records when it wakes: call :meth:`wake` first not to wait for the
        window's end. Polls: the worker does nothing for it.
        """
        deadline = time.monotonic() + bounded(timeout)
        # The queue first: the worker marks records in hand before it takes them, and
        # holds the consuming lock from its wake-up until it waits again. A wake() it has
        # yet to answer counts as busy too, when there is a thread to answer it: the
        # lock is let go before the wait returns, and the bell looks unrung for a moment
        # while the wait takes the ring.
        while (self._queue or self._in_hand or self._consuming.locked()
               or (self._answered < self._wakes and self._thread is not None)):
            if time.monotonic() >= deadline:
                return False
            time.sleep(IDLE_POLL)
        return True

    def _put_marker(self, marker: _Flush | _Stop) -> None:
        self._markers.append(marker)
        self._queue.append(marker)
        self._wake.set()

    def _start(self) -> None:
        if self._stopped:  # read again under the lock, below
            self._discard("closed")
            return
        # Never wait: a flush or close delivering inline holds the lock, and will take
        # this record too; if it does not, the next record starts the worker.
        start_lock = self._start_lock()
        if not start_lock.acquire(blocking=False):
            return
        try:
            if self._starting_on is not None:
                return  # a signal handler on top of our own start: leave it to us
            # Marked before the state is read: a signal handler logging (or closing) on
            # top of this (the lock is reentrant for it) either ran before the mark, and
            # its outcome is read below, or runs after it, and backs off.
            self._starting_on = threading.get_ident()
            try:
                if self._stopped:
                    self._discard("closed")
                elif (self._thread is None and not self._cannot_start
                        and self._clock() >= self._start_retry_at):
                    self._start_thread()
            finally:
                self._starting_on = None
        finally:
            start_lock.release()

    def _start_lock(self) -> threading.RLock:
        """The lock under which a worker starts or a caller delivers inline.

        Made by its first user, not at construction: in a process patched by gevent
        after the handler was built, that is the patched kind, which a greenlet can wait
        on while another holds it across a switch (Thread.start(), a request).
        ``setdefault`` is atomic: two first users (a signal handler on top of one) share
        the lock that won.
        """
        lock = self._locks.get("start")
        return lock if lock is not None else self._locks.setdefault("start", threading.RLock())

    def _new_bells(self) -> None:
        # Called as their waiter begins (a worker about to start, an inline delivery),
        # so they are made from the queue module as it is now. A ring on the
        # old bell is not lost: it was for what is queued already, which the new waiter
        # drains before it first waits.
        self._wake = Bell()
        self._interrupt = Bell()

    def _start_thread(self) -> None:
        # A thread limit is often reached for a moment (a burst of short-lived threads),
        # and the record that found it may be the only one for a long time: the start is
        # tried again at once, once, before waiting for a later record or stats().
        if _green_threads():
            # The worker is a greenlet: it runs only when the application yields, and
            # an application that does not yield blocks its own requests too; that is
            # not a worker that cannot run.
            self._stall_after = math.inf
        # Kept when set: after a failed start, the wait began with the first attempt.
        self._stall_at = min(self._stall_at, self._clock() + self._stall_after)
        self._ran = False  # a fresh thread, after one that failed
        for last in (False, True):
            self._new_bells()
            self._consuming = threading.Lock()
            self._thread = thread = threading.Thread(target=self._run, name=self._name,
                                                     daemon=True)
            try:
                thread.start()
            except Exception as exc:  # noqa: BLE001 - RuntimeError, MemoryError: the same
                self._thread = None
                if last or self._stop_at < math.inf or sys.is_finalizing():
                    self._start_failed(exc)
                    return
            else:
                return

    def retry_start(self) -> None:
        """Retry a failed start once its backoff has passed, if records wait for it.

        For stats() (a health check, a metrics scrape): in a quiet application the
        record that found no thread may be the last for a long time. Never from a
        thread delivering inline (a signal handler on top of it): the start lock is
        reentrant, and a worker started there would be a second consumer.
        """
        if (self._thread is None and self._queue and not self._stopped
                and threading.get_ident() not in WORKER_THREADS
                and not self._cannot_start and self._clock() >= self._start_retry_at):
            self._start()

    def _start_failed(self, exc: Exception) -> None:
        # Records stay queued either way. At interpreter shutdown (3.12+ refuses new
        # threads, already in atexit hooks, where is_finalizing() is still False but
        # the main thread has been marked as ended) close() delivers them on its own
        # thread. Otherwise (a thread limit, memory) a later record tries again.
        if sys.is_finalizing() or not threading.main_thread().is_alive():
            self._cannot_start = True
            return
        if self._stop_at < math.inf:
            # close() ran on top of this start (a signal handler) and left its stop to
            # the worker that now never comes: give up on what it would have shipped.
            self._cannot_start = True
            self._settle_close(give_up=True)
            return
        self._start_retry_at = self._clock() + self._start_delay
        self._reporter.report("thread_start", "could not start the worker thread "
                              f"({type(exc).__name__}: {exc}); records wait in the queue "
                              f"and a later one retries in {self._start_delay:g} s")
        self._start_delay = min(self._start_delay * 2, START_RETRY_MAX)

    def _check_stall(self) -> None:
        """Say once that records have waited too long for a worker that has not run."""
        self._stall_at = math.inf  # once: the worker's next run re-arms it, quietly
        if self._stop_at < math.inf:
            return  # closing: close() says what it leaves undelivered, in its own line
        thread = self._thread
        if thread is None:
            state = "could not be started"
        elif not self._ran:
            state = "was started but has not run yet"
        else:
            state = "has stopped taking records"
        self._reporter.report(
            "stalled", f"records have waited over {self._stall_after:g} s for the "
            f"worker thread, which {state}. Likely causes: uWSGI without "
            "--enable-threads; a server that stops threads in the processes it forks; "
            "a thread holding the GIL in C code; a transport that never returns. They "
            "are sent once it runs, or counted at close()", once=True)

    def _inline_needed(self) -> bool:
        thread = self._thread
        return thread is None or not thread.is_alive()

    def flush(self, timeout: float) -> bool:
        """Wait at most ``timeout`` for everything queued so far to be shipped."""
        started = self.start_flush(timeout)
        return started if isinstance(started, bool) else self.wait_flush(started, timeout)

    def start_flush(self, timeout: float) -> bool | _Flush:
        """The first half of :meth:`flush`: ask the worker to ship what is queued now.

        Returns the outcome when it is known at once (nothing pending; delivered
        inline, on this thread, within ``timeout``; or nothing will ever ship it), else
        the marker to pass to :meth:`wait_flush`. Split so that ``flush_all`` sets every
        worker going before it waits on any.
        """
        ident = threading.get_ident()
        if ident in WORKER_THREADS or ident == self._starting_on:
            # The worker itself, or a signal handler on top of this thread's own inline
            # delivery: that delivery is mid-way (a request may be in flight), and
            # cannot be entered again. Never the same record twice: give up at once.
            # Inside Thread.start() the new worker may already consume the queue while
            # not yet alive: delivering inline would make a second consumer.
            return False
        if self._stopped:
            return self.closed_clean
        if self._nothing_pending():
            return True  # even with no time: nothing could be lost
        if self._inline_needed():
            with self._start_lock():  # no worker starts while this thread delivers
                if self._inline_needed():
                    return self._flush_inline(self._clock() + timeout)
        marker = _Flush(self._stats.worker_lost())
        self._put_marker(marker)
        if self._stopped or _holds_logging_lock():
            return False  # stopped meanwhile: no worker will reach the marker
        return marker

    def _flush_inline(self, deadline: float) -> bool:
        dropped_before = self._stats.worker_lost()
        self._ship_inline(deadline)
        return self.pending() == 0 and self._clean_since(dropped_before)

    def _nothing_pending(self) -> bool:
        """Nothing queued, in the worker's hands, in the window, scheduled or in flight:
        every record received is delivered or counted as dropped."""
        stats, dispatcher = self._stats, self._dispatcher
        # The queue first: the worker marks records in hand before it takes them, and
        # counts them as taken before it clears the mark.
        return (not self._queue and not self._in_hand and dispatcher.quiet()
                and stats.taken + dispatcher.window.floods.total()
                == stats.delivered + stats.worker_dropped())

    @contextlib.contextmanager
    def _taken_over(self, timeout: float) -> Iterator[bool]:
        """Hold the worker off the queue for the block: True when it let go in time.

        For a SIGTERM landing while this thread holds logging's lock (inside getLogger,
        setLevel, dictConfig): the worker's HTTP client logs, and logging may need that
        lock, so the worker cannot deliver until this thread lets go, which a process
        about to end never does. The lock is reentrant for this thread: it delivers
        instead, once the worker waits for work. A worker mid-request keeps it.
        """
        consuming = self._consuming
        held = consuming.acquire(timeout=bounded(timeout))
        try:
            yield held
        finally:
            if held:
                consuming.release()

    def running(self) -> bool:
        """A worker thread is alive to take a flush marker."""
        return not self._inline_needed()

    @staticmethod
    def wait_flush(marker: _Flush, timeout: float) -> bool:
        """The second half of :meth:`flush`: True once the worker shipped everything
        before ``marker`` and all of it was delivered, False after ``timeout``."""
        return marker.done.wait(timeout) and marker.delivered_all

    def begin_shutdown(self) -> None:
        """From now on, what is not delivered is said when the worker stops."""
        self._dropped_at_stop = self._stats.dropped_by_reason()
        self._failed_at_stop = self._stats.events_failed
        self._skipped_at_stop = self._stats.resolves_skipped

    def stop(self, timeout: float, *, continued: bool = False,
             take_over: bool = False) -> None:
        """Ship what is pending within ``timeout``, then end.

        Whatever is not delivered by then is counted under a reason and said on stderr
        in one line, by whoever ends first: the worker, or this call giving up on it.
        ``continued``: the shutdown began with an earlier :meth:`begin_shutdown` (the
        bare flush that ``logging.shutdown()`` runs first), so its losses count too.
        ``take_over``: when this thread holds logging's lock, which the worker may
        need, deliver here instead (see :meth:`_taken_over`); for a SIGTERM that ends
        the process right after, so nothing would wait for the worker.
        """
        if not continued:
            self.begin_shutdown()
        # Half the budget when it is short, so a short budget still gets its attempt.
        self._floor = min(MIN_ATTEMPT, timeout / 2)
        self._stop_at = self._clock() + timeout
        if self._inline_on == threading.get_ident():
            self._stop_nested()
            return
        # On top of this thread's own Thread.start() (a signal handler): the new worker
        # takes the stop marker; inline delivery would make a second consumer.
        starting = self._starting_on == threading.get_ident()
        with self._start_lock():  # no worker starts while this thread delivers
            thread = self._thread
            if not starting and (thread is None or not thread.is_alive()):
                self._stop_inline()
                return
        if take_over and thread is not None and not starting and _holds_logging_lock():
            with self._taken_over(self._stop_at - self._clock()) as held:
                if held:
                    self._stop_inline(new_bells=False)
                    return
            self._settle_close(give_up=True)
            return
        self._put_marker(_Stop())
        self._interrupt.set()
        if thread is None or starting or thread is threading.current_thread():
            return
        if _holds_logging_lock():
            # dictConfig holds logging's lock while it closes old handlers; the worker
            # may need that lock to log (urllib3), so waiting here could only time out.
            # The worker finishes on its own within the same deadline, and settles;
            # exit and SIGTERM wait for it (see CLOSING).
            self._closing_thread = thread
            CLOSING.add(self)
            return
        thread.join(bounded(self._stop_at - self._clock()))
        if thread.is_alive():
            # A request still in flight, a receiver that never answers, or a worker
            # that never ran (uWSGI without threads): give up on what it holds now.
            self._settle_close(give_up=True)

    def finish_close(self, deadline: float = math.inf) -> None:
        """Wait for a worker left to finish its stop on its own (see :data:`CLOSING`),
        until its own deadline or ``deadline`` (``time.monotonic()``), whichever is
        first; then give up on what it still holds, counted and said."""
        thread = self._closing_thread
        if thread is not None and thread is not threading.current_thread():
            left = min(self._stop_at - self._clock(), deadline - time.monotonic())
            thread.join(bounded(left))
        # A worker that ended settled already, and this changes nothing; one that
        # failed on its way did not.
        self._settle_close(give_up=True)

    def _stop_inline(self, *, new_bells: bool = True) -> None:
        """Ship, finish and settle the close on this thread; no worker from now on."""
        self._cannot_start = True
        self._ship_inline(self._stop_at, new_bells=new_bells)
        if not self._lookup_unsafe(self._stop_at):
            with _as_worker_thread():
                self._dispatcher.finish(self._timing())
        self._dispatcher.close()
        self._stopped = True
        self._discard("closed")  # queued by other threads meanwhile
        self._settle_close()

    def _stop_nested(self) -> None:
        """Close on top of this thread's own inline delivery (a signal handler).

        That delivery is mid-way, a request perhaps in flight, and cannot be entered
        again, nor waited for: give up on all it holds now, counted and said, as when a
        busy worker outlives the deadline. The deadline is moved to the past, so the
        delivery under way, if it resumes, sends nothing more: what was counted as not
        delivered is not sent after all, and nothing is sent twice. Its connections are
        released when it ends (see :meth:`_ship_inline`).
        """
        self._stop_at = -math.inf
        self._cannot_start = True
        self._stopped = True
        self._interrupt.set()
        self._settle_close(give_up=True)

    # The worker's thread ------------------------------------------------------------

    def _run(self) -> None:
        self._ran = True
        with _as_worker_thread(inline=False):
            try:
                self._loop()
                self._stopped = True
                with self._start_lock():
                    self._thread = None  # a late record then finds it stopped
                self._discard("closed")
                self._settle_close()
            except Exception as exc:  # noqa: BLE001 - last resort: say so, count, start over
                self._reporter.report("worker", f"worker thread failed: {type(exc).__name__}: "
                                      f"{exc}; queued records dropped")
                self._discard("internal_error")
                self._stall_at = math.inf  # nothing waits; the next start arms it
                with self._start_lock():
                    self._thread = None  # the next record starts a fresh worker
            finally:
                self._dispatcher.close()

    def _loop(self) -> None:
        """Run until a stop marker, and ship what came before it."""
        consuming = self._consuming
        self._dispatcher.between = self._drain_records
        try:
            with consuming:
                if not self._stopped:  # closed by a thread that took over before it ran
                    self._consume(consuming)
        finally:
            self._dispatcher.between = None
            self._release_flushes()

    def _consume(self, consuming: threading.Lock) -> None:
        window_closes: float | None = None
        while True:
            self._stall_at = self._clock() + self._stall_after  # it runs
            marker = self._drain()
            if marker is not None:
                window_closes = None
                if isinstance(marker, _Stop):
                    self._ship(flush=True)
                    self._dispatcher.finish(self._timing())
                    return
                self._flush_marker(marker)
                continue
            self._settle_flushes()
            now = self._clock()
            # Events waiting out a backoff or a 429 do not hold the worker: it goes on
            # draining the queue and closing windows, and wakes when an attempt is due.
            send = self._dispatcher.next_send()
            if send is not None and now >= send:
                self._dispatcher.send_due(self._timing())
                continue
            due = self._dispatcher.next_due(now)
            if due is not None and now >= due:
                self._dispatcher.resolve_due(self._timing())
                continue
            if send is not None:
                due = send if due is None else min(due, send)
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
            if not self._wait_for_work(consuming, timeout):
                return

    def _wait_for_work(self, consuming: threading.Lock, timeout: float | None) -> bool:
        """Wait for a record, a marker or ``timeout``, letting go of the queue meanwhile;
        False when a thread that took over closed it (see :meth:`_taken_over`)."""
        self._answered = self._seen
        consuming.release()
        try:
            self._wake.wait(timeout)
        finally:
            consuming.acquire()
        self._wake.clear()
        # Read after the clear: a wake() after it rings again, so it gets a pass too.
        self._seen = self._wakes
        self._idle = False
        return not self._stopped

    def _flush_marker(self, marker: _Flush) -> None:
        """Ship everything before ``marker`` at once; the marker is settled once the
        events that made are delivered or given up. Their backoffs do not hold the
        worker: it goes on draining and closing windows, and settles it then."""
        dispatcher = self._dispatcher
        dispatcher.ship(self._timing(), flush=True)
        sends = dispatcher.scheduled()
        if not sends:
            self._settle(marker)
            return
        # From now on the global drop count also moves for records logged after the
        # marker (a later refusal, a flood's overflow, a threshold): only the outcomes
        # of the events waiting now are this flush's business.
        marker.mark, marker.sends = dispatcher.mark(), sends
        marker.clean_at_mark = self._clean_since(marker.dropped_before)
        self._flushes.append(marker)

    def _settle_flushes(self) -> None:
        if self._flushes:  # the one cost per loop when no flush waits: a length check
            waiting = self._dispatcher.waiting_before
            for marker in [m for m in self._flushes if not waiting(m.mark)]:
                self._flushes.remove(marker)
                self._settle_waited(marker)

    def _release_flushes(self) -> None:
        # The worker ends (or fails, or is closed by a thread that took over): nothing
        # more will happen to what those flushes wait for. An event still scheduled now
        # is about to be counted as dropped, or given up: not delivered.
        flushes, self._flushes = self._flushes, []
        for marker in flushes:
            self._settle_waited(marker)

    def _settle_waited(self, marker: _Flush) -> None:
        """Settle a flush that waited on the send schedule, by its own events alone."""
        # An event taken off the schedule untold was made moot by a newer one (a
        # resolve by the problem firing again): not a loss.
        waiting = {id(send) for send in self._dispatcher.scheduled()}
        marker.delivered_all = marker.clean_at_mark and all(
            send.outcome.delivered if send.outcome is not None else id(send) not in waiting
            for send in marker.sends)
        marker.done.set()

    def _drain_records(self) -> None:
        # Between two attempts: take the records queued meanwhile into the window, so
        # a run of attempts does not leave the queue to fill. A marker waits for the loop.
        self._drain(records_only=True)

    def _drain(self, *, records_only: bool = False) -> _Flush | _Stop | None:
        queue, add = self._queue, self._dispatcher.window.add
        charged = self._bytes_in  # before taking: all of it is queued, or about to be
        taken = 0
        self._in_hand = True
        try:
            while queue:
                if records_only and type(queue[0]) is not dict:
                    return None
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
            self._bytes_out = charged
            return None
        finally:
            self._stats.taken += taken
            self._in_hand = False

    def _timing(self, deadline: float = math.inf) -> Timing:
        return Timing(now=self._busy_now, wait=self._wait,
                      stop_at=lambda: min(self._stop_at, deadline), floor=lambda: self._floor)

    def _busy_now(self) -> float:
        # Each step of a delivery reads the clock: it runs, and until its next step
        # (an attempt, a backoff) records may wait for up to busy_grace more.
        now = self._clock()
        self._stall_at = now + self._stall_after + self._busy_grace
        return now

    def _ship(self, deadline: float = math.inf, *, flush: bool = False) -> None:
        # A flush or a close delivers what was logged: refreshes do not wait for theirs,
        # and events waiting out a backoff are delivered or given up before it returns.
        timing = self._timing(deadline)
        self._dispatcher.ship(timing, flush=flush)
        if flush:
            self._dispatcher.settle(timing)

    def _wait(self, seconds: float) -> None:
        # Interrupted by stop(), which moves the deadline; cleared so later waits sleep.
        if self._interrupt.wait(seconds):
            self._interrupt.clear()

    def _ship_inline(self, deadline: float, *, new_bells: bool = True) -> None:
        """Deliver on the calling thread: the worker never started, has died, or is
        held off (``new_bells=False``: it still waits on its bells)."""
        if not self._queue and not self._dispatcher.has_records():
            return
        flushes: list[_Flush] = []
        if new_bells:
            self._new_bells()  # this thread waits on the interrupt between retries
        outer, self._inline_on = self._inline_on, threading.get_ident()
        try:
            self._deliver_inline(deadline, flushes)
        finally:
            self._inline_on = outer
            if self._stopped and outer is None:
                self._dispatcher.close()  # closed on top of this delivery: now unused
        for marker in flushes:
            self._settle(marker)

    def _deliver_inline(self, deadline: float, flushes: list[_Flush]) -> None:
        with _as_worker_thread():
            while self._queue:
                marker = self._drain()
                if isinstance(marker, _Flush):
                    flushes.append(marker)
            if self._lookup_unsafe(deadline):
                # On the caller's thread, before any request got through: the endpoint's
                # name would be looked up now, and getaddrinfo() has no timeout (an 8 s
                # lookup at exit made exit take 8 s). Count instead of resolving.
                self._dispatcher.discard(UNRESOLVED)
                self._reporter.report(UNRESOLVED, "records left to deliver on this thread "
                                      "(no worker thread) were counted, not sent: the "
                                      "endpoint's name would first have to be looked up, "
                                      "and DNS lookups cannot be bounded by a timeout")
            else:
                self._ship(deadline, flush=True)

    def _lookup_unsafe(self, deadline: float) -> bool:
        """Sending now, on this thread, might need a DNS lookup that could outlast
        ``deadline``: no request has got through yet, and the deadline is short."""
        return deadline - self._clock() < SLOW_LOOKUP and self._needs_lookup()

    def _settle(self, marker: _Flush) -> None:
        """Everything queued before ``marker`` is shipped: tell its caller how it went.

        Records taken between attempts, after the marker, are not its business.
        """
        marker.delivered_all = self._clean_since(marker.dropped_before)
        marker.done.set()

    def _clean_since(self, dropped_before: int) -> bool:
        """Nothing dropped since the drop count was ``dropped_before``, and no group
        held back (storm control, thresholds: not delivered yet). Read right after a
        ship, before anything else is taken into the window."""
        return (self._stats.worker_lost() == dropped_before
                and not self._dispatcher.holds_back())

    def _settle_close(self, *, give_up: bool = False) -> None:
        """Close is over: count what it gives up on, and say what was not delivered.

        Runs once, on whichever thread gets here first: the worker having shipped
        everything before its stop marker, or close() giving up on a worker that is
        still busy. Giving up freezes ``stats()``: a worker that ends later changes
        nothing, so nothing is counted twice.
        """
        CLOSING.discard(self)
        if not self._final.acquire(blocking=False):
            return
        in_flight = self._dispatcher.in_flight if give_up else 0
        if give_up:
            self._stats.abandon(self.pending(), self._dispatcher.window.floods.total(),
                                in_flight=in_flight)
        after = self._stats.dropped_by_reason()
        lost = {reason: count - self._dropped_at_stop.get(reason, 0)
                for reason, count in after.items()
                if count > self._dropped_at_stop.get(reason, 0) and reason not in COUNTED}
        self.closed_clean = not lost
        unresolved = self._stats.resolves_skipped - self._skipped_at_stop
        if lost or unresolved:
            events = self._stats.events_failed - self._failed_at_stop + (in_flight > 0)
            self._reporter.say(close_summary(lost, events, unresolved))

    def _discard(self, reason: str) -> None:
        """Count what is queued or in the open window as dropped; release flush waiters."""
        dropped = 0
        charged = self._bytes_in
        while self._queue:
            item = self._queue.popleft()
            if type(item) is dict:
                dropped += 1
                continue
            self._marker_taken()
            if isinstance(item, _Flush):
                item.done.set()
        self._bytes_out = charged
        self._stats.taken += dropped
        self._stats.drop(reason, dropped)
        self._release_flushes()  # before the schedule is emptied: what waits there fails
        self._dispatcher.discard(reason)

    def _marker_taken(self) -> None:
        self._markers.popleft()


#: What each reason close() can leave behind means, for its one line on stderr.
_WHY = {
    "shutdown_timeout": "shutdown_timeout ran out first",
    "unknown_outcome": "sent, but no reply came before the deadline: may have arrived",
    UNRESOLVED: "the endpoint's name could not be looked up safely on this thread",
    "storm_control": "held back by max_events_per_minute",
    "below_threshold": "below their threshold",
    "closed": "logged after close() began",
}


def finish_closing(deadline: float = math.inf) -> None:
    """Wait for every worker a close left to finish on its own (:data:`CLOSING`), each
    within its own deadline and ``deadline``; give up on what each still holds then."""
    for worker in list(CLOSING):
        worker.finish_close(deadline)


def close_summary(lost: dict[str, int], events_failed: int, unresolved: int = 0) -> str:
    """One line: how many records (and events) close() left undelivered, and why; and
    how many alerts ``resolve_on_close`` left firing because storm control had no room."""
    total = sum(lost.values())
    events = f" ({count_of(events_failed, 'alert event')} failed)" if events_failed else ""
    why = "; ".join(f"{count} {reason}" + (f": {_WHY[reason]}" if reason in _WHY else "")
                    for reason, count in sorted(lost.items(), key=lambda kv: -kv[1]))
    line = (f"close() left {count_of(total, 'record')} undelivered{events}"
            + (f": {why}" if why else ""))
    if unresolved:
        line += (f"; {count_of(unresolved, 'alert')} not resolved (resolve_on_close): "
                 "max_events_per_minute left no room")
    return line


@contextlib.contextmanager
def _as_worker_thread(*, inline: bool = True) -> Iterator[None]:
    ident = threading.get_ident()
    added = ident not in WORKER_THREADS
    WORKER_THREADS.add(ident)
    if added and inline:
        INLINE_THREADS.add(ident)
    try:
        yield
    finally:
        if added:
            WORKER_THREADS.discard(ident)
            INLINE_THREADS.discard(ident)


def _green_threads() -> bool:
    """True when gevent or eventlet has patched threading: a new Thread is a greenlet."""
    gevent = sys.modules.get("gevent.monkey")
    eventlet = sys.modules.get("eventlet.patcher")
    try:
        return bool((gevent is not None and gevent.is_module_patched("threading"))
                    or (eventlet is not None and eventlet.is_monkey_patched("thread")))
    except Exception:  # noqa: BLE001 - their private state; assume real threads
        return False


def _holds_logging_lock() -> bool:
    """True when this thread holds the logging module's lock (inside dictConfig)."""
    is_owned = getattr(getattr(logging, "_lock", None), "_is_owned", None)
    try:
        return bool(is_owned()) if is_owned is not None else False
    except Exception:  # noqa: BLE001 - a private API; assume not held
        return False
