"""The flood counter: an error loop costs the caller a few comparisons, not a record.

One vocabulary, used by the window, the dispatcher, the handler and ``stats()``:

- A **flood** is the records of one group beyond the ``max_batch_size`` its window keeps.
- When a group fills, the window **opens** a :class:`FloodCounter` for it: the one
  counter open at a time, published as :attr:`Floods.open`.
- On the callers' threads, ``emit`` offers each record to the open counter. A record the
  counter **matches** is **counted** there and goes no further: no snapshot, no queue
  slot, no work for the worker. Anything else declines, and is captured as usual.
- A counter matches the group's logger, level and exception (its type, and the functions
  its traceback passed through, so the same type raised elsewhere is another problem,
  as it is to the fingerprint), and then either its template (the very ``msg`` object of
  a ``%``-style call), or, for a record whose message came formatted (no ``args``:
  f-strings, ``.format()``), its **call site** (path and line) together with its text:
  the one text all the group's samples had, or, when they differ by one **value** (a
  word or words with a digit, which the fingerprint masks), the start and end they all
  share around any such value. For an exception, whose fingerprint leaves the message
  out, the call site is enough.
- A counter is **closed** when another group fills or its window closes. What it counted
  is **folded** into its group. Records counted while their group was not in the window
  (the window closed before its samples were grouped) are **strays**: the dispatcher
  drops them as ``batch_full``.
- A counter that counted anything is **renewed** for the next window: it lets the next
  ``max_batch_size`` matching records through as that window's **samples**, captured and
  grouped by their own key, then counts again. The worker never has to group a full batch
  again before the callers stop queueing.

Matching by call site is what makes an f-string flood cheap: string compares and one
small regular expression, no masking on the caller's thread. It is built not to count a
message the fingerprint tells apart from the samples: what may vary is one value that
:func:`~._identity.mask` masks whole, checked when the counter opens by masking the
samples and stand-in values in their place. Samples that differ in anything else
(``f"{op} failed"``) leave a counter that matches the first sample's exact text, and any
other message from the line is captured and grouped by its own key at once.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Hashable, Sequence
from types import CodeType

from ._identity import MAX_SCANNED, mask
from .serialize import Traceback, traceback_codes


class FloodCounter:
    """Counts, on the callers' threads, the records of one full group."""

    __slots__ = ("_closed", "_lock", "codes", "counted", "exc_type", "head", "key", "last_created",
                 "levelno", "lineno", "longest", "msg", "name", "pathname", "pattern", "samples",
                 "tail")

    def __init__(self, key: Hashable, first: logging.LogRecord, *, samples: int = 0,
                 head: str | None = None, tail: str | None = None) -> None:
        self.key = key
        #: Matching records still to let through, captured, before counting starts.
        self.samples = samples
        # The group's first record, as much of it as matching reads.
        self.msg = first.msg
        self.name = first.name
        self.levelno = first.levelno
        self.exc_type = first.exc_info[0] if first.exc_info else None
        # A record the window kept has its traceback detached: its code objects remain.
        info = first.exc_info
        self.codes: tuple[CodeType, ...] | None = (
            info.codes if isinstance(info, Traceback)
            else traceback_codes(info[2]) if info else ())
        self.pathname = first.pathname
        self.lineno = first.lineno
        #: With a call site to match: what every sample's message starts with, and ends
        #: with (``tail``), one value (:data:`_VALUE`) apart; or, when ``tail`` is None,
        #: the one message to match. None matches by template only. For an exception,
        #: whose fingerprint leaves the message out, both are empty: any text matches.
        self.head = head
        self.tail = tail
        #: The head, one value and the tail, and the longest such text: all of it masked.
        self.pattern = _VALUE
        self.longest = MAX_VALUE
        if head is not None and tail is not None:
            self.pattern = re.compile(re.escape(head) + _VALUE.pattern + re.escape(tail))
            self.longest = min(MAX_SCANNED, len(head) + len(tail) + MAX_VALUE)
        self.counted = 0
        self.last_created = 0.0
        # Reentrant: a signal handler that logs runs on the thread it interrupted, maybe
        # inside count(); a plain lock would deadlock there.
        self._lock = threading.RLock()
        self._closed = False

    @classmethod
    def for_group(cls, key: Hashable, records: Sequence[logging.LogRecord]) -> FloodCounter:
        """A counter for a full group, matching by call site when its messages came
        formatted."""
        first = records[0]
        if first.args or type(first.msg) is not str:
            return cls(key, first)
        if first.exc_info and first.exc_info[0] is not None:
            # An exception's fingerprint leaves the message out: any text will do.
            return cls(key, first, head="", tail="")
        texts = [r.msg for r in records if not r.args and type(r.msg) is str
                 and r.lineno == first.lineno and r.pathname == first.pathname]
        head = _shared_start(texts)
        if len(head) == max(len(text) for text in texts):
            return cls(key, first, head=head)  # one message, repeated: match it exactly
        room = min(len(text) for text in texts) - len(head)
        tail = _shared_start([text[::-1] for text in texts])[::-1]
        # Never overlapping the head, so every sample matches.
        tail = tail[max(0, len(tail) - room):]
        if not all(_masks_alike(head, text, tail) for text in texts):
            return cls(key, first, head=first.msg)  # no one value: match the first exactly
        return cls(key, first, head=head, tail=tail)

    def count(self, record: logging.LogRecord) -> bool:
        """Count ``record`` if it matches and counting is open; False sends it the usual way."""
        msg = record.msg
        if msg is not self.msg:
            head, tail = self.head, self.tail
            if (head is None or record.lineno != self.lineno or record.args
                    or record.pathname != self.pathname or type(msg) is not str):
                return False
            if tail is None:
                if msg != head:
                    return False
            elif self.exc_type is None and (len(msg) > self.longest
                                            or self.pattern.fullmatch(msg) is None):
                return False
        if (record.name != self.name or record.levelno != self.levelno
                or (record.exc_info[0] if record.exc_info else None) is not self.exc_type
                or (self.exc_type is not None and not self._same_traceback(record))):
            return False
        with self._lock:
            if self._closed:
                return False
            if self.samples:
                self.samples -= 1
                return False
            self.counted += 1
            self.last_created = record.created
            return True

    def _same_traceback(self, record: logging.LogRecord) -> bool:
        codes = self.codes
        if codes is None:
            return False
        tb = record.exc_info[2] if record.exc_info else None
        for code in codes:
            if tb is None or tb.tb_frame.f_code is not code:
                return False
            tb = tb.tb_next
        return tb is None

    def renewed(self, samples: int) -> FloodCounter:
        """A fresh counter for the same flood in the next window, letting ``samples``
        through first."""
        renewed = copy.copy(self)
        renewed.samples = samples
        renewed.counted = 0
        renewed.last_created = 0.0
        renewed._lock = threading.RLock()
        renewed._closed = False
        return renewed

    def close(self) -> int:
        """Stop counting; how many were counted."""
        with self._lock:
            self._closed = True
            return self.counted


#: The one value a head/tail counter lets vary: a word, or words joined by single dots or
#: hyphens, with a digit in it. :func:`~._identity.mask` masks such a value as one
#: ``<*>``, whatever its digits, so a text counted for differing only there masks to the
#: group's own key. (Colons, "@" and "+" are left out: they can make a label of it, or
#: join it to what follows.) Words without a digit first, then the one with the first
#: digit, then any words: a text matches one way only, so the caller's thread does
#: little backtracking, over at most :data:`MAX_VALUE` characters.
_VALUE = re.compile(r"(?:[^\W\d]+[.\-])*[^\W\d]*\d\w*(?:[.\-]\w+)*")
#: The longest value a head/tail counter matches.
MAX_VALUE = 64
#: Values tried in a sample's place before a counter trusts its head and tail: where the
#: text around the value changes how it is masked (a month's name before a day, say), a
#: value of another shape masks differently, and the counter matches exact text only.
_PROBES = ("0", "7", "123456", "x9", "9x", "A-1", "1.2.3", "ab_1", "a1b2c3d4e5f6")


def _masks_alike(head: str, text: str, tail: str) -> bool:
    # Whether every text the counter could match for this sample's group masks as it does.
    if (len(text) > min(MAX_SCANNED, len(head) + len(tail) + MAX_VALUE)
            or not _VALUE.fullmatch(text, len(head), len(text) - len(tail))):
        return False
    masked = mask(text)
    return all(mask(head + probe + tail) == masked for probe in _PROBES)


def _shared_start(texts: list[str]) -> str:
    # The smallest and the largest text differ first where any two do.
    low, high = min(texts), max(texts)
    for index, char in enumerate(low):
        if char != high[index]:
            return low[:index]
    return low


class Floods:
    """The open counter, and the books of every counter closed so far."""

    __slots__ = ("counted", "open", "strays")

    def __init__(self) -> None:
        #: Read on the callers' threads; None when no group is full.
        self.open: FloodCounter | None = None
        #: Records counted by counters since closed, ever (``stats()`` adds them up).
        self.counted = 0
        #: Of those, records whose group was not in the window to fold into; not yet
        #: dropped by the dispatcher.
        self.strays = 0

    def replace(self, new: FloodCounter | None) -> FloodCounter | None:
        """Open ``new`` in place of the open counter; the one closed, if it counted any."""
        old, self.open = self.open, new
        if old is None or not old.close():
            return None
        self.counted += old.counted
        return old

    def total(self) -> int:
        """Records counted so far, the open counter's included."""
        counter = self.open
        return self.counted + (counter.counted if counter is not None else 0)

    def take_strays(self) -> int:
        """The strays not yet dropped, now handed to the caller to drop."""
        strays, self.strays = self.strays, 0
        return strays
