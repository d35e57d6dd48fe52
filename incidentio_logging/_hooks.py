"""Process-wide hooks: uncaught exceptions and SIGTERM as alerts; ``flush_all``; and
``shut_down``, the one shutdown path of the SIGTERM hook and the exit hook.

Each is off by default and installed only for the handlers that ask (``capture_uncaught``,
``flush_on_sigterm``): they change state the whole process shares. However many handlers
ask, one hook is installed; it chains to whatever was there before, and is taken out when
the last handler that asked closes, but only while it is still the one installed, so a
hook another tool wrapped around ours keeps working.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

from ._report import Reporter
from ._worker import WORKER_THREADS, finish_closing

if TYPE_CHECKING:
    from .handler import IncidentIOHandler

#: The logger name uncaught exceptions are recorded under (for a ``rule``'s ``logger:``).
UNCAUGHT_LOGGER = "uncaught"

# Taken by constructors and close(); reentrant, since close() may run in a signal
# handler on top of a constructor on the same thread.
_lock = threading.RLock()


def after_fork_in_child() -> None:
    """Forget the parent's hold on this module's state (run by the handler module's
    after-fork hook, so that uWSGI's forks run it too)."""
    global _lock, _term_running, _term_deferred  # noqa: PLW0603
    # A fork while another thread held the lock (building or closing a handler) leaves
    # the child a lock owned by a thread that does not exist there: its close(), and so
    # its exit through logging.shutdown(), would wait for it for good. logging makes
    # its own lock again after fork for the same reason.
    _lock = threading.RLock()
    # A fork during the parent's SIGTERM shutdown (another thread forking meanwhile):
    # that shutdown is the parent's. Left marked, the child's own SIGTERM would take
    # itself for a second one and hand over at once: its records neither delivered nor
    # counted.
    _term_running = False
    _term_deferred = None


# Uncaught exceptions ----------------------------------------------------------------

_capturing: list[IncidentIOHandler] = []  # strong: kept until close(), as asked
_previous_excepthook: Callable[..., Any] = sys.__excepthook__
_previous_thread_hook: Callable[[threading.ExceptHookArgs], Any] = threading.__excepthook__
# Each of our two hooks is somewhere in its chain: installed, and not taken out since.
# Kept apart from "installed now", so that a tool that wrapped ours is not wrapped again
# in turn (our handlers would see each exception twice); and kept per hook, since a tool
# may wrap one and not the other (sentry wraps sys.excepthook only).
_sys_hook_in_chain = False
_thread_hook_in_chain = False


def capture_uncaught(handler: IncidentIOHandler) -> None:
    """Send ``handler`` the exceptions no code caught, on any thread. Idempotent."""
    global _previous_excepthook, _previous_thread_hook  # noqa: PLW0603
    global _sys_hook_in_chain, _thread_hook_in_chain  # noqa: PLW0603
    with _lock:
        if handler not in _capturing:
            _capturing.append(handler)
        if not _sys_hook_in_chain:
            _previous_excepthook = sys.excepthook
            sys.excepthook = _excepthook
            _sys_hook_in_chain = True
        if not _thread_hook_in_chain:
            _previous_thread_hook = threading.excepthook
            threading.excepthook = _thread_excepthook
            _thread_hook_in_chain = True


def release_uncaught(handler: IncidentIOHandler) -> None:
    """``handler`` closed: with no handler left asking, restore the hooks that were
    there before, each only if ours is still the one installed."""
    global _sys_hook_in_chain, _thread_hook_in_chain  # noqa: PLW0603
    with _lock:
        if handler in _capturing:
            _capturing.remove(handler)
        if _capturing:
            return
        # Wrapped by another tool: ours stays in its chain and keeps forwarding.
        if sys.excepthook is _excepthook:
            sys.excepthook = _previous_excepthook
            _sys_hook_in_chain = False
        if threading.excepthook is _thread_excepthook:
            threading.excepthook = _previous_thread_hook
            _thread_hook_in_chain = False


def _excepthook(exc_type: type[BaseException], exc: BaseException,
                tb: TracebackType | None) -> None:
    try:
        _send_uncaught(exc_type, exc, tb, threading.current_thread().name)
    finally:
        _previous_excepthook(exc_type, exc, tb)  # prints the traceback, or another tool's


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    try:
        name = args.thread.name if args.thread is not None else "unknown"
        _send_uncaught(args.exc_type, args.exc_value, args.exc_traceback, name)
    finally:
        _previous_thread_hook(args)


def _send_uncaught(exc_type: type[BaseException], exc: BaseException | None,
                   tb: TracebackType | None, thread: str) -> None:
    # Ctrl-C and sys.exit() are how a program is meant to stop, not a fault (a thread's
    # SystemExit reaches threading.excepthook, which stays silent about it too).
    if (exc is None or issubclass(exc_type, (KeyboardInterrupt, SystemExit))
            or not _capturing):
        return
    try:
        record = uncaught_record(exc_type, exc, tb, thread)
        for handler in list(_capturing):
            handler.handle(record)  # its level, filters and rule; never raises
    except Exception:  # noqa: BLE001, S110 - the previous hook must run whatever happens
        pass


def uncaught_record(exc_type: type[BaseException], exc: BaseException,
                    tb: TracebackType | None, thread: str) -> logging.LogRecord:
    """The record an uncaught exception becomes: at CRITICAL, on the ``uncaught``
    logger, placed where it was raised, with its traceback. The message names the
    exception's type and the thread (a %-template, so the type groups as one problem
    whatever the thread's number)."""
    path, line, function = "(unknown file)", 0, None
    frame_tb = tb
    while frame_tb is not None and frame_tb.tb_next is not None:
        frame_tb = frame_tb.tb_next
    if frame_tb is not None:
        code = frame_tb.tb_frame.f_code
        path, line, function = code.co_filename, frame_tb.tb_lineno, code.co_name
    return logging.LogRecord(UNCAUGHT_LOGGER, logging.CRITICAL, path, line,
                             "Uncaught %s in thread %s", (exc_type.__name__, thread),
                             (exc_type, exc, tb), function)


# SIGTERM ------------------------------------------------------------------------------

_flushing_on_term: list[IncidentIOHandler] = []
_previous_term: Callable[[int, FrameType | None], Any] | int | None = signal.SIG_DFL
_term_in_chain = False
_term_running = False


class _Deferred(NamedTuple):
    """A SIGTERM that landed on top of a close() on the same thread: it shuts the live
    handlers down and hands over when that close ends (see :func:`after_close`)."""

    signum: int
    frame: FrameType | None
    deadline: float  # its budget, counted from its arrival
    thread: int  # the thread it landed on, where the close is under way


_term_deferred: _Deferred | None = None
#: How often a SIGTERM looks whether a close() on another thread has ended.
CLOSE_POLL = 0.01

TermPlan = Literal["install", "installed", "c_handler", "not_main_thread"]


def sigterm_plan(current: object, *, main_thread: bool, in_chain: bool) -> TermPlan:
    """What asking for ``flush_on_sigterm`` does, given the handler installed now.

    ``signal.getsignal()`` returns None for a handler installed from C (an embedding
    application, a C extension): it cannot be called from ours, so ours is not installed.
    """
    if in_chain:
        return "installed"
    if not main_thread:
        return "not_main_thread"  # signal.signal() raises ValueError elsewhere
    if current is None:
        return "c_handler"
    return "install"


def flush_on_sigterm(handler: IncidentIOHandler, reporter: Reporter) -> None:
    """Flush every live handler on SIGTERM, then hand over to the previous disposition."""
    global _previous_term, _term_in_chain  # noqa: PLW0603
    with _lock:
        if handler not in _flushing_on_term:
            _flushing_on_term.append(handler)
        is_main = threading.current_thread() is threading.main_thread()
        current = signal.getsignal(signal.SIGTERM) if is_main else signal.SIG_DFL
        plan = sigterm_plan(current, main_thread=is_main, in_chain=_term_in_chain)
        if plan == "install":
            _previous_term = current
            signal.signal(signal.SIGTERM, _on_sigterm)
            _term_in_chain = True
        elif plan == "c_handler":
            reporter.say_once(plan, "flush_on_sigterm: SIGTERM already has a handler "
                      "installed from C, which cannot be chained; not installed, so "
                      "records pending at a SIGTERM may be lost")
        elif plan == "not_main_thread":
            reporter.say_once(plan, "flush_on_sigterm: the handler was built outside the "
                      "main thread, where Python cannot install signal handlers; not "
                      "installed (build it from the main thread, or call "
                      "incidentio_logging.flush_all() on shutdown)")


def release_sigterm(handler: IncidentIOHandler) -> None:
    """``handler`` closed: with none left asking, restore the previous disposition if
    ours is still installed (from the main thread only, where that is allowed)."""
    global _term_in_chain  # noqa: PLW0603
    with _lock:
        if handler in _flushing_on_term:
            _flushing_on_term.remove(handler)
        if (_flushing_on_term or not _term_in_chain or _term_running
                or threading.current_thread() is not threading.main_thread()):
            return
        try:
            if signal.getsignal(signal.SIGTERM) is _on_sigterm:
                signal.signal(signal.SIGTERM, _previous_term)
                _term_in_chain = False
        except (ValueError, OSError):  # at interpreter shutdown: leave it be
            pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM while the first one shuts down (or waits for a close): whoever
    # sent it wants the process gone, so it goes straight to the previous disposition.
    deadline = None
    if not _term_running and _term_deferred is None:
        deadline = time.monotonic() + longest_budget(_flushing_on_term)
        with _term_shutdown():
            if _shut_down_unless_closing_here(signum, frame, deadline):
                return
    _hand_over(signum, frame, deadline)


@contextmanager
def _term_shutdown() -> Iterator[None]:
    """While a SIGTERM shuts the handlers down: a second one hands over at once, and
    whatever fails, the hand-over after it still happens."""
    global _term_running  # noqa: PLW0603
    _term_running = True
    try:
        yield
    except Exception:  # noqa: BLE001, S110 - the hand-over after it must happen
        pass
    finally:
        _term_running = False


def _shut_down_unless_closing_here(signum: int, frame: FrameType | None,
                                   deadline: float) -> bool:
    """Shut the live handlers down by ``deadline``, the longest ``shutdown_timeout``
    among the handlers that asked from the SIGTERM's arrival; True when a close() under
    way beneath this handler, on this thread, defers that (see :func:`after_close`).

    What runs after the hand-over (``sys.exit()`` in the previous handler, then
    ``logging.shutdown()``) gets only what is left; a deferred shutdown gets what is
    left when it runs.
    """
    global _term_deferred  # noqa: PLW0603
    if _closing_here():
        _term_deferred = _Deferred(signum, frame, deadline, threading.get_ident())
        return True
    shut_down(deadline, after=after_sigterm(_previous_term))
    return False


def after_sigterm(previous: object) -> After:
    """What follows a SIGTERM's shutdown, given the disposition it hands over to (see
    :func:`_hand_over`)."""
    if callable(previous):
        return "handler"
    if previous == signal.SIG_IGN:
        return "ignored"
    return "killed"


def after_close() -> None:
    """A close() ended: a SIGTERM that landed on top of it on this thread, with none
    left under way here, now shuts the other live handlers down by its deadline (what
    is left of its budget), then hands over."""
    global _term_deferred  # noqa: PLW0603

    deferred = _term_deferred
    if deferred is None or deferred.thread != threading.get_ident() or _closing_here():
        return
    with _term_shutdown():
        _term_deferred = None
        shut_down(deferred.deadline, after=after_sigterm(_previous_term))
    _hand_over(deferred.signum, deferred.frame, deferred.deadline)


def _closing_here() -> bool:
    """A close() is under way on this thread (beneath a signal handler)."""
    from .handler import _HANDLERS  # noqa: PLC0415 - the handler module imports this one

    me = threading.get_ident()
    return any(handler._closing_on == me for handler in list(_HANDLERS))


def _hand_over(signum: int, frame: FrameType | None, deadline: float | None) -> None:
    """Pass the SIGTERM on to the previous disposition, once its shutdown (ending by
    ``deadline``; None for a second SIGTERM, which began none) is done."""
    # Told apart by after_sigterm, as shut_down tells them apart: the two cannot drift.
    previous = _previous_term
    after = after_sigterm(previous)
    if after == "handler":
        ending = False
        try:
            cast("Callable[[int, FrameType | None], Any]", previous)(signum, frame)
        except SystemExit:
            ending = True
            raise
        finally:
            if not ending:
                _goes_on(deadline)
    elif after == "killed":
        # The default: end the way a SIGTERM ends a process, so the exit status (-15,
        # 143 in a shell) tells supervisors what happened. No atexit runs, as before.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _goes_on(deadline: float | None) -> None:
    """The previous handler let the process go on (gunicorn's worker sets a flag and
    returns): the handlers this SIGTERM's shutdown marked as ending, by ``deadline``,
    are not, so a later exit, flush or close gets a budget of its own, not what is left
    of this one. A shutdown it did not begin (exit's, under way) keeps its mark."""
    if deadline is None:
        return
    for handler in live_handlers():
        if handler._ending_by() == deadline:
            handler._not_ending()


# The HTTP client's loggers -----------------------------------------------------------

#: The loggers of the HTTP client the worker uses; see :func:`quiet_client_loggers`.
CLIENT_LOGGER = "urllib3"


class _NotFromOurThreads(logging.Filter):
    """Refuses the records our worker threads log (urllib3's debug lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return threading.get_ident() not in WORKER_THREADS


_client_filter = _NotFromOurThreads()


def quiet_client_loggers() -> None:
    """Drop what urllib3 logs on our worker threads before any handler sees it.

    With the root logger at DEBUG, the worker's requests log "Starting new HTTP
    connection" through the application's handlers, whose locks it then waits on: a
    SIGTERM landing while the main thread writes to the console holds that lock for
    good, and the worker could deliver nothing. A logger's filters run in
    ``Logger.handle()`` before any handler's lock, but only the filters of the logger
    the record was logged on, so the filter goes on ``urllib3`` and each of its module
    loggers that exist by now (they are made as urllib3 is imported, which the transport
    has done). Other threads' records on those loggers pay one set lookup; records on
    any other logger pay nothing.
    """
    manager = logging.getLogger().manager
    names = [name for name in list(manager.loggerDict)
             if name == CLIENT_LOGGER or name.startswith(CLIENT_LOGGER + ".")]
    for name in [CLIENT_LOGGER, *names]:
        logger = logging.getLogger(name)
        if _client_filter not in logger.filters:
            logger.addFilter(_client_filter)


# Shutdown and flush_all ----------------------------------------------------------------

#: What runs after :func:`shut_down`: ``exit``, ``logging.shutdown()`` at exit (the exit
#: hook); ``handler``, a Python SIGTERM handler installed before ours, which may end the
#: process (``sys.exit()``) and so reach that exit; ``ignored``, nothing (an ignored
#: SIGTERM: the process goes on); ``killed``, the end of the process, with no atexit (the
#: default SIGTERM disposition).
After = Literal["exit", "handler", "ignored", "killed"]


def shut_down(deadline: float, *, after: After) -> None:
    """Shut every live handler down by ``deadline`` (``time.monotonic()``), the one path
    of the SIGTERM hook and the exit hook; each caller sizes its own budget.

    Unless the process goes on (``ignored``: each handler's own shutdown budget starts
    now), every handler's shutdown budget is this one, ending at ``deadline``, and what
    runs after (``logging.shutdown()``'s bare flush and close) continues it instead of
    starting another. Every worker is set going at once and all are waited for together,
    as by :func:`flush_all`. Then, by ``after``:

    - ``exit``: the workers that closes under logging's lock left to finish on their own
      (a dictConfig re-run; see ``CLOSING``) are waited for, each by its own deadline
      (they run meanwhile), and given up on then, counted and said; the live handlers
      are left to ``logging.shutdown()``, which comes next.
    - otherwise (a SIGTERM), a close() under way on another thread (logging.shutdown()
      in a thread, dictConfig) delivers what the flush leaves out: it is waited for by
      ``deadline``. With ``killed``, nothing runs after this, so the live handlers are
      closed with what is left of the budget (not each its own ``shutdown_timeout``: a
      handler that did not ask must not keep the process past what was asked), and the
      workers left to finish on their own are waited for by ``deadline`` too: what was
      not delivered is counted and said, as close() says it at exit.
    """
    from .handler import _HANDLERS  # noqa: PLC0415 - the handler module imports this one

    handlers = list(_HANDLERS)
    live = [handler for handler in handlers if not handler._closed]
    for handler in live:
        # One already in a shutdown of the process (a SIGTERM's, which exit continues)
        # keeps that budget and what it has counted since.
        if handler._ending_by() is None:
            handler._begin_shutdown(None if after == "ignored" else deadline)
    _flush(live, deadline)
    if after == "exit":
        finish_closing()
        return
    _wait_for_closes(handlers, deadline)
    if after == "killed":
        for handler in live:
            handler._close(take_over=True, deadline=deadline)
        finish_closing(deadline)


def _wait_for_closes(handlers: list[IncidentIOHandler], deadline: float) -> None:
    """Wait until no close() of ``handlers`` is under way (on another thread), or the
    deadline."""
    while (any(handler._closing_on is not None for handler in handlers)
           and time.monotonic() < deadline):
        time.sleep(CLOSE_POLL)


def live_handlers() -> list[IncidentIOHandler]:
    """Every handler in this process that is not closed (close() delivered the others')."""
    from .handler import _HANDLERS  # noqa: PLC0415 - the handler module imports this one

    return [handler for handler in list(_HANDLERS) if not handler._closed]


def longest_budget(handlers: Iterable[IncidentIOHandler]) -> float:
    """The longest ``shutdown_timeout`` among ``handlers``; 0 when there are none."""
    return max((handler.settings.shutdown_timeout for handler in handlers), default=0.0)


def flush_all(timeout: float | None = None) -> bool:
    """Deliver what every live handler in this process has pending.

    ``timeout`` is for all of them together (by default the longest ``shutdown_timeout``
    among them); each handler gets what the ones before it left. Closed handlers are
    left out: close() delivered theirs. Returns True when
    everything was delivered. Safe from a signal handler. For the end of an invocation
    on a platform that freezes or kills the process without exit (AWS Lambda, Cloud Run
    jobs).
    """
    handlers = live_handlers()
    if timeout is None:
        timeout = longest_budget(handlers)
    return _flush(handlers, time.monotonic() + max(0.0, timeout))


def _flush(handlers: list[IncidentIOHandler], deadline: float) -> bool:
    # Every running worker is set going first, so that none waits for another; those
    # with no worker deliver on this thread meanwhile, each within what is left.
    handlers.sort(key=lambda handler: not handler._worker.running())
    waits = [handler._start_flush(max(0.0, deadline - time.monotonic()))
             for handler in handlers]
    # Every one is asked for its outcome, even once the time is up: a worker that has
    # already shipped answers at once.
    outcomes = [wait(deadline - time.monotonic()) for wait in waits]
    return all(outcomes)
