"""Waits that a signal handler, gevent and Python 3.10 cannot break.

:class:`Bell` is the worker's wake-up: unlike :class:`threading.Event`, ringing it is
safe from a signal handler that lands while its thread is ringing it already.
:func:`bounded` turns any wait into one a blocking call accepts.

``queue.SimpleQueue`` is looked up as each bell is made, never at import: under gevent
or eventlet the stdlib is patched after this module is imported, and a bell made after
the patching must be the cooperative kind.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time

#: The shortest timed wait on a bell; shorter ones wait this long. Python 3.10's
#: ``SimpleQueue.get(timeout=...)`` blocks for good when its deadline passes before its
#: first look at the queue ends: it turns the spent deadline into -1 microseconds, which
#: means no timeout (seen: a SIGTERM's second flush wait, given the few microseconds left
#: of its budget, held the process until killed). A zero wait is a non-blocking get.
MIN_BELL_WAIT = 0.001

#: Before Python 3.13, ``SimpleQueue.get(timeout=...)`` also blocks for good when a
#: signal handler runs during it for longer than the wait had left (it counts what is
#: left again, finds it spent, and waits with no timeout): a SIGTERM whose shutdown
#: waits out its budget, landing in a ``flush()`` or exit's wait on the main thread,
#: held the process until killed once the previous handler let it go on. Signal
#: handlers run on the main thread only, so there a timed wait looks at the bell this
#: often instead, in sleeps, which count what is left correctly. Short, because a
#: flush's caller waits this long at most past the worker's answer (5 ms cost a
#: 250-record flush a third of its time); the wakes happen only while it waits.
MAIN_THREAD_POLL = 0.001
_GET_OUTLASTED_BY_A_HANDLER_HANGS = sys.version_info < (3, 13)


class Bell:
    """The part of :class:`threading.Event` the worker uses, safe to set from anywhere.

    ``threading.Event.set()`` takes a plain lock: a signal handler that sets it again
    while its thread is inside ``set()`` deadlocks. ``SimpleQueue.put()`` is reentrant.
    Waiting is for one thread at a time (the worker, or one flush's caller), and the
    bell is made when that waiter begins, so its kind suits it (see the worker module's
    docstring).
    """

    def __init__(self) -> None:
        self._rings: queue.SimpleQueue[None] = queue.SimpleQueue()

    def set(self) -> None:
        """Ring; never blocks."""
        self._rings.put(None)

    def is_set(self) -> bool:
        """Rung and not cleared since."""
        return not self._rings.empty()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until rung, at most ``timeout`` seconds; True if it was. Stays rung."""
        try:
            if timeout is None:
                self._rings.get()
            elif timeout <= 0:
                self._rings.get(block=False)
            elif (_GET_OUTLASTED_BY_A_HANDLER_HANGS
                  and threading.current_thread() is threading.main_thread()):
                return self._poll(time.monotonic() + timeout)
            else:
                self._rings.get(timeout=bounded(max(timeout, MIN_BELL_WAIT)))
        except queue.Empty:
            return False
        self._rings.put(None)
        return True

    def _poll(self, deadline: float) -> bool:
        while not self.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, MAIN_THREAD_POLL))
        return True

    def clear(self) -> None:
        """Forget every ring so far."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._rings.get_nowait()


def bounded(seconds: float) -> float:
    """``seconds`` as a blocking call accepts it: not negative, at most TIMEOUT_MAX
    (``math.inf`` means as long as it takes; past about 9e9 s they raise)."""
    return min(max(0.0, seconds), threading.TIMEOUT_MAX)
