"""How the library reports its own trouble: on stderr, rate-limited, never via logging.

Logging our own problems through ``logging`` could feed them back into this handler or
block on the locks ``dictConfig`` and ``logging.shutdown()`` hold.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO

from ._scrub import Scrubber
from ._wording import count_of

PREFIX = "incidentio-logging: "

#: What was said once per process, whichever handler said it (not per Reporter: each
#: handler has its own).
_said_once: set[str] = set()


class Reporter:
    """Writes at most one line per key per ``interval`` seconds, with the token masked."""

    def __init__(self, *, clock: Callable[[], float], secret: str | None = None,
                 interval: float = 60.0,
                 stream: Callable[[], TextIO | None] = lambda: sys.stderr) -> None:
        self._clock = clock
        # The token masking of payloads: an error reply quoted here may echo the token,
        # cut anywhere.
        self._scrub = Scrubber(token=secret)
        self._interval = interval
        self._stream = stream
        self._lock = threading.RLock()  # a signal handler may report from inside report()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def report(self, key: str, message: str, *, once: bool = False) -> None:
        """Say ``message`` unless ``key`` was said within the interval (or ever, if ``once``)."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and (once or now - last < self._interval):
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message += f" ({count_of(suppressed, 'similar message')} suppressed)"
        self.say(message)

    def say_once(self, key: str, message: str | None) -> None:
        """Say ``message`` the first time this process meets ``key``, if there is one."""
        if message is not None and key not in _said_once:
            _said_once.add(key)
            self.say(message)

    def say(self, message: str) -> None:
        """Say ``message`` now, never rate-limited: for what must always be heard."""
        self._write(PREFIX + self._scrub.mask_token(message) + "\n")

    def _write(self, line: str) -> None:
        try:
            stream = self._stream()
            if stream is not None:
                stream.write(line)
                stream.flush()
        except Exception:  # noqa: BLE001, S110 - nowhere left to report a broken stderr
            pass
