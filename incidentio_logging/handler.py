"""``IncidentIOHandler``: options in, records to a background worker, alert events out."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from . import _hooks
from ._config import MAX_QUEUE_BYTES, OPTION_NAMES, Settings, parse_settings, parse_transport
from ._dispatch import Dispatcher
from ._identity import deduplication_key
from ._record import capture
from ._report import Reporter
from ._servers import after_uwsgi_fork, close_at_celery_child_exit, uwsgi_without_threads
from ._stats import HandlerStats, Stats
from ._structured import plain
from ._worker import CLOSING, INLINE_THREADS, WORKER_THREADS, Worker
from .transport import HttpTransport, Transport

__all__ = ["IncidentIOHandler"]

_HANDLERS: weakref.WeakSet[IncidentIOHandler] = weakref.WeakSet()
_get_ident = threading.get_ident  # bound once: handle() runs on every logging call


class IncidentIOHandler(logging.Handler):
    """Sends log records to incident.io's HTTP alert events API as ``firing`` events.

    A logging call only snapshots the record and appends it to a bounded queue; a daemon
    worker thread, started by the first record, groups records over ``flush_interval``
    and POSTs one event per group, retrying with backoff. Every option can be given from
    ``logging.config.dictConfig``; see the README for the full table.

    Args:
        api_token: the alert source's token. Default: $INCIDENT_IO_API_TOKEN.
        alert_source_config_id: the source's id or its whole webhook URL.
            Default: $INCIDENT_IO_ALERT_SOURCE_CONFIG_ID.
        metadata: a dict, a JSON object string or ``"key=value,key=value"``, merged into
            every event's ``metadata``; ``data`` is always the records. Default: none.
        level: the handler level; NOTSET with a ``predicate`` or a ``rule`` and no level
            (they alone decide). Default: ERROR.
        predicate: ``(LogRecord) -> bool`` or a dotted path to one; selects records.
            Default: none.
        rule: a query string such as ``"logger:shop.* level:>=error -timeout"``; see
            :mod:`incidentio_logging.rule`. With a predicate, both must match.
            Default: none.
        title: a template over ``{level} {logger} {message} {count} {more} {exc_type}
            {exc_message}``. Default: none, a title naming the problem.
        description: a template over the same fields. Default: none, a description
            naming the problem.
        source_url: a link back to where the alert came from. Default: none.
        group_by: ``"fingerprint"``, ``"none"``, or a callable/dotted path returning a key.
            Default: "fingerprint".
        in_app: module prefixes (a list or ``"shop,billing"``) whose frames count as your
            application's code even when installed in site-packages; they decide where
            an exception was raised, for its fingerprint. Default: none.
        dedup: ``"fingerprint"`` (one alert per problem) or ``"batch"`` (the reference's
            key: every event its own alert; the default, and the only choice, with
            ``group_by="none"``). Default: "fingerprint".
        flush_interval: seconds a window stays open. Default: 1.0.
        max_batch_size: records per event; more in a window are counted, not sent.
            Default: 250.
        queue_size: records that may wait for the worker; more are dropped and counted.
            Default: 10000.
        max_queue_bytes: the queue's estimated size limit (messages plus a fixed charge
            per record and per traceback); more are dropped and counted.
            Default: 33554432 (32 MiB).
        timeout: seconds for one HTTP attempt. Default: 5.0.
        shutdown_timeout: seconds ``close()`` and a bare ``flush()`` may take.
            Default: 5.0.
        endpoint: base URL; https, or http only on loopback.
            Default: https://api.incident.io, or the webhook URL's.
        max_retries: how often one event is retried. Default: 5.
        max_retry_time: how many seconds one event may spend in retries. Default: 30.0.
        ca_bundle: a CA bundle file for TLS verification (verification is always on).
            Default: none, the system's.
        max_events_per_minute: storm control: alert events in any 60 s, resolves
            included. Held-back groups are folded into their next event. Default: 60.
        scrub_keys: more key words whose values are scrubbed, on top of the built-in
            ones (password, secret, token, api_key, authorization, cookie, session...).
            Default: none.
        resolve_after: seconds of quiet after which a fired alert is resolved; None or
            ``"off"``: off. Default: off.
        refresh_interval: with ``dedup="fingerprint"``, a problem this process fired and
            has not resolved sends at most one event per this many seconds, carrying the
            records since the last; a flush sends them at once; None, 0 or ``"off"``:
            off. Default: 60.
        resolve_on_close: resolve every fired alert still open at ``close()``, with or
            without ``resolve_after``. Default: False.
        threshold: fire a group only once this many records arrived within
            ``threshold_window`` seconds; None or ``"off"``: off. Default: off.
        threshold_window: seconds a threshold counts over; needs ``threshold``.
            Default: 60.
        capture_uncaught: send exceptions no code caught, on any thread, as alerts
            (on the ``uncaught`` logger, at CRITICAL); the previous hooks still run.
            Default: False.
        flush_on_sigterm: on SIGTERM, flush every live handler within ``shutdown_timeout``,
            then hand over to the previous SIGTERM handler or default. Default: False.
        transport: a :class:`~incidentio_logging.transport.Transport` to use instead of
            HTTP (callable ``post``, ``reset``, ``close``), or a dotted path to one, or to
            a class or function that makes one when called with no arguments. close()
            closes only a transport the handler made (HTTP, or by such a call); one given
            as an instance is left open for its owner. Default: HTTP.
    """

    def __init__(
        self,
        *,
        api_token: str | None = None,
        alert_source_config_id: str | None = None,
        metadata: dict[str, Any] | str | None = None,
        level: int | str | None = None,
        predicate: Any = None,
        rule: str | None = None,
        title: str | None = None,
        description: str | None = None,
        source_url: str | None = None,
        group_by: Any = "fingerprint",
        in_app: Sequence[str] | str = (),
        dedup: str | None = None,
        flush_interval: float = 1.0,
        max_batch_size: int = 250,
        queue_size: int = 10_000,
        max_queue_bytes: int = MAX_QUEUE_BYTES,
        timeout: float = 5.0,
        shutdown_timeout: float = 5.0,
        endpoint: str | None = None,
        max_retries: int = 5,
        max_retry_time: float = 30.0,
        ca_bundle: str | None = None,
        max_events_per_minute: int = 60,
        scrub_keys: Sequence[str] | str = (),
        resolve_after: float | str | None = None,
        refresh_interval: float | str | None = 60.0,
        resolve_on_close: bool | str = False,
        threshold: int | str | None = None,
        threshold_window: float | None = None,
        capture_uncaught: bool | str = False,
        flush_on_sigterm: bool | str = False,
        transport: Transport | str | None = None,
    ) -> None:
        # Every keyword but transport is a declared option (tests/test_options.py checks
        # the signature against the declarations), so all of them are handed on by name.
        passed = locals()
        settings = parse_settings(**{name: passed[name] for name in OPTION_NAMES})
        # Before the base class lists this handler in logging's: a bad transport must
        # not leave a half-built handler for logging.shutdown() to flush.
        given, self._owns_transport = parse_transport(transport)
        super().__init__(settings.level)
        self._settings = settings
        self._predicate = settings.predicate
        self._rule = settings.rule
        self._transport: Transport = given if given is not None else HttpTransport(
            endpoint=settings.endpoint, source_id=settings.source_id,
            api_token=settings.api_token, ca_bundle=settings.ca_bundle,
            user_agent=_user_agent(),
        )
        # Taken once and never released, without waiting: the first close() wins, and a
        # signal handler closing on top of it returns at once instead of deadlocking.
        self._close_once = threading.Lock()
        self._closed = False
        # When the shutdown budget under way ends (time.monotonic()), if one began.
        self._shutdown_deadline: float | None = None
        # That budget is a shutdown of the whole process (a SIGTERM, exit): shared by
        # every handler, and logging.shutdown()'s bare flush continues it too.
        self._ending = False
        # The thread inside close(), while it runs: a SIGTERM waits for that close.
        self._closing_on: int | None = None
        self._build_runtime()
        # At construction, so the line is among the server's start-up lines.
        self._reporter.say_once("uwsgi", uwsgi_without_threads())
        after_uwsgi_fork(_after_c_fork)
        _HANDLERS.add(self)
        _shut_down_at_exit_once()
        close_at_celery_child_exit(_close_all)
        _hooks.quiet_client_loggers()
        if settings.capture_uncaught:
            _hooks.capture_uncaught(self)
        if settings.flush_on_sigterm:
            _hooks.flush_on_sigterm(self, self._reporter)

    def _build_runtime(self) -> None:
        """The per-process parts: rebuilt in a forked child, so it never shares them.

        The pid is set last: until then, another thread finds the fork not yet handled
        and waits on :data:`_FORK_LOCK` instead of using the parent's parts."""
        self._stats = Stats()
        self._reporter = Reporter(clock=time.monotonic, secret=self._settings.api_token)
        dispatcher = Dispatcher(self._settings, transport=self._transport, stats=self._stats,
                                reporter=self._reporter, owns_transport=self._owns_transport)
        self._floods = dispatcher.window.floods
        self._group_key = dispatcher.group_key
        self._worker = Worker(
            dispatcher, stats=self._stats, reporter=self._reporter, clock=time.monotonic,
            flush_interval=self._settings.flush_interval,
            queue_size=self._settings.queue_size,
            max_queue_bytes=self._settings.max_queue_bytes,
            name=f"incidentio-logging-worker-{self._settings.source_id[:12]}",
            needs_lookup=getattr(self._transport, "needs_lookup", lambda: False),
            # The longest one step of a delivery may keep the worker from the queue.
            busy_grace=self._settings.timeout + self._settings.max_retry_time,
        )
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        # The parent's queue, window and connections stay the parent's: the child starts
        # empty, so nothing is sent twice, and its own first record starts its own worker.
        self._close_once = threading.Lock()
        self._closing_on = None
        self._not_ending()  # the parent's shutdown, if one was under way, is not the child's
        self._transport.reset()
        self._build_runtime()

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return (f"<{type(self).__name__} {self._settings.endpoint} "
                f"source={self._settings.source_id} ({level})>")

    def handle(self, record: logging.LogRecord) -> bool:
        """Select and queue ``record`` without taking the handler lock.

        Records below the handler's level are refused here too, since a stdlib
        ``QueueListener`` calls ``handle()`` without checking it.
        Records from a worker thread (urllib3's debug lines, for one) are refused here,
        before any lock, so they can neither recurse nor deadlock with ``dictConfig``
        and ``logging.shutdown()``. Then the filters and the ``predicate`` select, as
        filters do in ``logging``; ``emit`` needs no lock: the queue is thread-safe.
        """
        if record.levelno < self.level:
            # The level, for callers that skip callHandlers' check (a QueueListener).
            return False
        ident = _get_ident()
        if ident in WORKER_THREADS:
            if ident in INLINE_THREADS:
                # This thread is in the middle of delivering (a signal handler or a
                # finalizer logged on top of it): queueing would feed that delivery.
                self._stats.refuse("reentrant")
                self._reporter.report("reentrant", "a record logged while its own thread "
                                      "was delivering (a signal handler or a finalizer) "
                                      "was not sent; it is counted as reentrant")
            return False
        if self.filters:
            result = self.filter(record)
            if not result:
                return False
            if isinstance(result, logging.LogRecord):  # Python 3.12+: a filter may swap it
                record = result
        message = None
        rule = self._rule
        if rule is not None:
            selected, message = rule.select(record)
            if not selected:
                return False
        predicate = self._predicate
        if predicate is not None:
            try:
                if not predicate(record):
                    return False
            except Exception as exc:  # noqa: BLE001 - the user's code must not reach the app
                # Fails open, as the rule does: a missed alert is worse than an extra one.
                self._reporter.report("predicate", f"predicate raised {type(exc).__name__}: "
                                      f"{exc}; the record is sent as if it had matched")
        self._queue(record, message)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Snapshot ``record`` and queue it; never blocks, never raises."""
        self._queue(record, None)

    def _queue(self, record: logging.LogRecord, message: str | None) -> None:
        # ``message``: the record's formatted message when the rule already made it.
        try:
            if record.process != self._pid:
                # logging read the pid for the record: a fork that skipped our hooks
                # (uWSGI forks its workers from C) is found at the child's first record,
                # before it can join the parent's runtime, whose thread is not here.
                self._check_fork()
            if self._closed:
                self._stats.refuse("closed")
                return
            floods = self._floods
            # A flood of a problem whose event is already full: the record is only
            # counted (see _flood). A different problem, or a counter whose window just
            # shipped, declines, and the record is captured below.
            if floods.open and floods.count(record):
                return
            refused = self._worker.submit(capture(record, message))
            if refused is not None:
                self._stats.refuse(refused)
                limit = (f"queue_size={self._settings.queue_size}" if refused == "queue_full"
                         else f"max_queue_bytes={self._settings.max_queue_bytes}")
                self._reporter.report(refused, f"the queue is full ({limit}); records are "
                                      "being dropped and counted in stats()")
        except Exception as exc:  # noqa: BLE001 - the application must never see our faults
            self._stats.refuse("internal_error")
            self._reporter.report("emit", "a record was not queued and is counted as "
                                  f"dropped: {type(exc).__name__}: {exc}")

    # Returning bool widens logging.Handler.flush's None: callers that ignore it are unaffected.
    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Wait until everything queued before this call is delivered or given up.

        Waits at most ``timeout`` seconds, or ``shutdown_timeout`` when it is None, since
        ``logging.shutdown()`` calls ``flush()`` with no argument and exit must not hang.
        Such a bare flush and a ``close()`` right after it share one ``shutdown_timeout``.
        Returns True when all of it was delivered. On a closed handler it returns at once:
        True when ``close()`` left nothing undelivered.
        """
        self._check_fork()
        if not self._closed and timeout is None:
            timeout = self._budget_left() if self._ending else None
            if timeout is None:
                self._begin_shutdown()
                timeout = self._settings.shutdown_timeout
        timeout = max(0.0, timeout or 0.0)
        return self._start_flush(timeout)(timeout)

    def _begin_shutdown(self, deadline: float | None = None) -> None:
        """Start the one shutdown budget that a flush and the close after it share.

        ``deadline`` (``time.monotonic()``): the process is ending by then (a SIGTERM,
        exit), and this handler's budget is that shutdown's, shared with every other
        handler. None: a bare flush, this handler's own ``shutdown_timeout`` from now.
        """
        self._ending = deadline is not None
        self._shutdown_deadline = (time.monotonic() + self._settings.shutdown_timeout
                                   if deadline is None else deadline)
        self._worker.begin_shutdown()

    def _budget_left(self) -> float | None:
        """What the shutdown budget under way leaves; None when none is (none began, or
        a bare flush's ended over :data:`_BUDGET_GRACE` ago: a bare flush long before
        leaves a later close its own). A shutdown of the process never expires: only
        exit comes after it (see :meth:`_not_ending` for the other cases)."""
        deadline = self._shutdown_deadline
        if deadline is None:
            return None
        left = deadline - time.monotonic()
        return max(0.0, left) if self._ending or left >= -_BUDGET_GRACE else None

    def _ending_by(self) -> float | None:
        """The deadline of a shutdown of the whole process under way, if one is."""
        return self._shutdown_deadline if self._ending else None

    def _not_ending(self) -> None:
        """The process is not ending after all (a SIGTERM handler let it go on; a forked
        child): no shutdown budget is under way, and the next one starts afresh."""
        self._ending = False
        self._shutdown_deadline = None

    def _start_flush(self, timeout: float) -> Callable[[float], bool]:
        """:meth:`flush` in two halves, for ``flush_all``: the worker is asked now (or
        the records delivered inline within ``timeout``); the returned call waits at
        most the seconds it is given for the outcome."""
        self._check_fork()
        if self._closed:
            # logging.shutdown() flushes a handler that was already closed: waiting again
            # would double the time exit takes.
            clean = self._worker.closed_clean
            return lambda _left: clean
        try:
            started = self._worker.start_flush(timeout)
        except Exception as exc:  # noqa: BLE001
            self._flush_failed(exc)
            return lambda _left: False
        if isinstance(started, bool):
            return lambda _left: started

        def wait(left: float) -> bool:
            try:
                return self._worker.wait_flush(started, max(0.0, left))
            except Exception as exc:  # noqa: BLE001
                self._flush_failed(exc)
                return False
        return wait

    def _flush_failed(self, exc: Exception) -> None:
        self._reporter.report("flush", f"flush failed: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Deliver what is pending within ``shutdown_timeout``, then stop. Idempotent."""
        self._close()

    def _close(self, *, take_over: bool = False, deadline: float | None = None) -> None:
        # take_over: for a SIGTERM that ends the process (see Worker.stop); deadline
        # (time.monotonic()): that SIGTERM's budget, which this close stays within.
        self._check_fork()
        if not self._close_once.acquire(blocking=False):
            return
        self._closed = True
        self._closing_on = threading.get_ident()
        # logging.shutdown() runs flush() then close() at once: together, one budget.
        # A bare flush() long before close() leaves close() its own.
        left = self._budget_left()
        budget = self._settings.shutdown_timeout if left is None else left
        if deadline is not None:
            budget = max(0.0, min(budget, deadline - time.monotonic()))
        try:
            _hooks.release_uncaught(self)
            self._worker.stop(budget, continued=left is not None, take_over=take_over)
        except Exception as exc:  # noqa: BLE001
            self._reporter.report("close", f"close failed: {type(exc).__name__}: {exc}")
        finally:
            # After the stop: a SIGTERM meanwhile waits for this close to end.
            _hooks.release_sigterm(self)
            self._closing_on = None
            super().close()
        _hooks.after_close()

    def stats(self) -> HandlerStats:
        """Counters: records accepted, delivered, dropped (with ``dropped`` by reason) and
        pending; events sent and failed; retries; resolves sent, failed and skipped;
        ``refreshes_forgotten`` (fired problems forgotten to bound refresh state).

        Also retries a failed worker start once its backoff has passed."""
        self._check_fork()  # a child forked past Python's hooks: its own counts, not the parent's
        self._worker.retry_start()
        return self._stats.as_dict(self._worker.pending(), self._floods.total())

    def fingerprint(self, record: logging.LogRecord) -> str:
        """The deduplication key that ``dedup="fingerprint"`` sends for ``record``'s group.

        Under this handler's ``group_by`` and ``in_app``, whatever its ``dedup``: which
        alert this record joins, or would join.
        """
        return deduplication_key(self._group_key(plain(record)))

    @property
    def settings(self) -> Settings:
        """The validated options (the token is left out of its repr)."""
        return self._settings

    @property
    def worker(self) -> Worker:
        """The background worker: a seam for this package's tests and benchmarks (see
        :meth:`Worker.wake` and :meth:`Worker.wait_idle`). Not public API: it may change
        in any release."""
        return self._worker

    def _check_fork(self) -> None:
        # For forks that bypass os.register_at_fork (a C extension calling fork()).
        if self._pid != os.getpid():
            # Two threads may find it at once: one rebuilds, the other then sees the pid.
            with _FORK_LOCK:
                if self._pid != os.getpid():
                    self._after_fork()


def _after_fork_in_child() -> None:
    global _FORK_LOCK  # noqa: PLW0603 - a lock another thread held at the fork stays held
    _FORK_LOCK = threading.RLock()
    _hooks.after_fork_in_child()
    WORKER_THREADS.clear()
    INLINE_THREADS.clear()
    CLOSING.clear()  # the parent's
    for handler in list(_HANDLERS):
        handler._after_fork()
    # A multiprocessing child started by fork ends in os._exit(): no atexit, so no
    # logging.shutdown(), and its records would be lost. Its exit runs multiprocessing's
    # finalizers, but the child's start clears them after this hook has run, then runs
    # the after-fork callbacks: so register one that adds the finalizer. The module is
    # loaded whenever multiprocessing did the forking.
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.register_after_fork(_HANDLERS, _close_at_multiprocessing_exit)


def _after_c_fork() -> None:
    # uWSGI's post-fork hook: it runs the os.register_at_fork hooks only with
    # --py-call-uwsgi-fork-hooks or --py-call-osafterfork, and then this finds them
    # already run.
    if any(handler._pid != os.getpid() for handler in list(_HANDLERS)):
        _after_fork_in_child()


def _close_at_multiprocessing_exit(_handlers: object) -> None:
    util = sys.modules["multiprocessing.util"]
    util.Finalize(None, _close_all, exitpriority=-100)


#: Taken only on the path of a fork that bypassed Python's hooks (see ``_check_fork``).
#: Reentrant: a rebuild may log, and so check again, on the same thread.
_FORK_LOCK = threading.RLock()

#: How long after its deadline a bare flush's budget still counts as under way: the
#: close right after it (``logging.shutdown()`` called by the application) comes that
#: soon; a later flush or close starts a budget of its own.
_BUDGET_GRACE = 1.0

#: Whether :func:`_shut_down_at_exit` is registered: once per process, by the first
#: handler built (a forked child inherits it with the rest of atexit).
_AT_EXIT: list[bool] = []


def _shut_down_at_exit_once() -> None:
    # atexit runs the last registered first: logging registered logging.shutdown() as
    # it was imported, before this module, so this runs before it.
    if not _AT_EXIT:
        _AT_EXIT.append(True)
        atexit.register(_shut_down_at_exit)


def _shut_down_at_exit() -> None:
    """At exit, shut every live handler down within one budget, together.

    logging.shutdown() flushes and closes the handlers one after another, and each bare
    flush would start its own shutdown_timeout: exit would take one per handler. So
    their shutdown starts here, their workers set going at once, within the longest of
    their shutdown_timeouts, or what is left of a SIGTERM's budget when its handler
    ends the process with ``sys.exit()``; logging.shutdown()'s flush and close continue
    it. The workers that closes under logging's lock (a dictConfig re-run) left to
    finish on their own are waited for here too (see ``CLOSING``).
    """
    live = _hooks.live_handlers()
    ending = [deadline for handler in live if (deadline := handler._ending_by()) is not None]
    deadline = min(ending) if ending else time.monotonic() + _hooks.longest_budget(live)
    _hooks.shut_down(deadline, after="exit")


def _close_all() -> None:
    # A child's exit that skips atexit (multiprocessing's os._exit(), a Celery pool
    # child): one budget for all the handlers, as at exit, which their closes continue.
    try:
        _shut_down_at_exit()
    finally:
        for handler in list(_HANDLERS):
            handler.close()


def _user_agent() -> str:
    from . import __version__  # noqa: PLC0415 - the package imports this module

    return f"incidentio-logging/{__version__}"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
