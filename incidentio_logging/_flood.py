"""The flood counter: an error loop costs the caller a few comparisons, not a record.

One vocabulary, used by the window, the dispatcher, the handler and ``stats()``:

- A **flood** is the records of one group beyond the ``max_batch_size`` its window keeps.
- When a group fills, the window **opens** a :class:`FloodCounter` for it. Several floods
  are counted at once (up to :data:`MAX_OPEN`): the open counters are published as
  :attr:`Floods.open`, a dict by their **lookup key** (:func:`lookup_key`): the template
  of a ``%``-style record, the call site (path and line) of any other. Floods may share
  a key (one ``except`` line failing for two causes, one template used by two loggers):
  up to :data:`MAX_PER_KEY` counters are kept under one.
- On the callers' threads, ``emit`` looks up the record's lookup key, one dict lookup,
  and offers the record to the counter found there (to each in turn, when several). A
  record the counter **matches** is **counted** there and goes no further: no snapshot,
  no queue slot, no work for the worker. Anything else declines, and is captured as usual.
- A counter matches the group's logger, level and exception (its type, and the functions
  its traceback passed through, so the same type raised elsewhere is another problem,
  as it is to the fingerprint), and then either its template (the very ``msg`` object of
  a ``%``-style call), or, for a record whose message came formatted (no ``args``:
  f-strings, ``.format()``), its **call site** (path and line) together with its text:
  the one text all the group's samples had, or, when they differ by one **value** (a
  word or words with a digit, which the fingerprint masks), the start and end they all
  share around any such value. For an exception, whose fingerprint leaves the message
  out, the call site is enough.
- A counter is **closed** when its window closes, when its group is sent from storm
  control's wait, when a newer counter opens for its group under its lookup key, or
  when it is the oldest of :data:`MAX_PER_KEY` under its key, or of :data:`MAX_OPEN`,
  and another opens. What it counted
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

from ._identity import MAX_SCANNED, is_group, mask
from ._serialize import Traceback, traceback_codes


class FloodCounter:
    """Counts, on the callers' threads, the records of one full group."""

    __slots__ = ("_closed", "_lock", "codes", "counted", "digits", "exc_type", "head", "key",
                 "last_created", "levelno", "lineno", "longest", "lookup", "msg", "name",
                 "pathname", "pattern", "samples", "tail", "value_end", "value_start")

    def __init__(self, key: Hashable, first: logging.LogRecord, *, samples: int = 0,
                 head: str | None = None, tail: str | None = None,
                 digits: bool = False) -> None:
        self.key = key
        #: Matching records still to let through, captured, before counting starts.
        self.samples = samples
        # The group's first record, as much of it as matching reads.
        self.msg = first.msg
        self.name = first.name
        self.levelno = first.levelno
        self.exc_type = first.exc_info[0] if first.exc_info else None
        # A record the window kept has its traceback detached: its code objects remain.
        # An exception group is keyed by the exceptions inside it, which its own type and
        # traceback (the ``async with`` line of a TaskGroup) do not tell apart: None, it
        # is never counted here, and the worker groups each of its records by its key.
        info = first.exc_info
        self.codes: tuple[CodeType, ...] | None = (
            None if is_group(self.exc_type)
            else info.codes if isinstance(info, Traceback)
            else traceback_codes(info[2]) if info else ())
        self.pathname = first.pathname
        self.lineno = first.lineno
        #: Where callers find it: :func:`lookup_key` of the records it matches.
        self.lookup = lookup_key(first)
        #: With a call site to match: what every sample's message starts with, and ends
        #: with (``tail``), one value (:data:`_VALUE`) apart; or, when ``tail`` is None,
        #: the one message to match. None matches by template only. For an exception,
        #: whose fingerprint leaves the message out, both are empty: any text matches.
        self.head = head
        self.tail = tail
        #: The head, one value and the tail, and the longest such text: all of it masked.
        self.pattern = _VALUE
        self.longest = MAX_VALUE
        #: Whether the samples' values were digits alone, and where such a value starts
        #: and ends (counted from the end): a text with digits there, between the head and
        #: the tail, matches without the expression, the cost of most calls in such a
        #: flood. Other values leave the expression alone, with nothing tried before it.
        self.digits = digits
        self.value_start: int = 0
        self.value_end: int | None = None
        if head is not None and tail is not None:
            self.pattern = re.compile(re.escape(head) + _VALUE.pattern + re.escape(tail))
            self.longest = min(MAX_SCANNED, len(head) + len(tail) + MAX_VALUE)
            self.value_start, self.value_end = len(head), -len(tail) if tail else None
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
        # The head and tail end where a word does: samples "order 1200".."order 1299"
        # share "order 12", which order 1300 (the next window's, counted by the renewed
        # counter) does not start with.
        head = head[:_word_start(head)]
        room = min(len(text) for text in texts) - len(head)
        tail = _shared_start([text[::-1] for text in texts])[::-1]
        tail = tail[len(tail) - _word_start(tail[::-1]):]
        # Never overlapping the head, so every sample matches.
        tail = tail[max(0, len(tail) - room):]
        if not (all(_one_value(head, text, tail) for text in texts)
                and _masks_alike(head, texts[0], tail)):
            return cls(key, first, head=first.msg)  # no one value: match the first exactly
        digits = all(text[len(head):len(text) - len(tail)].isdecimal() for text in texts)
        return cls(key, first, head=head, tail=tail, digits=digits)

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
            elif self.exc_type is None and (
                    len(msg) > self.longest
                    or not ((self.digits and msg[self.value_start:self.value_end].isdecimal()
                             and msg.startswith(head) and msg.endswith(tail))
                            or self.pattern.fullmatch(msg) is not None)):
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
#: join it to what follows. So are dots before the first digit: the plain word before
#: one, ``a`` in ``a.b1``, is a word of the message to the mask, and before a colon turns
#: the detail after it into a value.) Words without a digit first, then the one with the
#: first digit, then any words: a text matches one way only, so the caller's thread does
#: little backtracking, over at most :data:`MAX_VALUE` characters.
_VALUE = re.compile(r"(?:[^\W\d]+-)*[^\W\d]*\d\w*(?:[.\-]\w+)*")
#: The longest value a head/tail counter matches.
MAX_VALUE = 64
#: Values tried in a sample's place before a counter trusts its head and tail: where the
#: text around the value changes how it is masked (a month's name before a day, say), a
#: value of another shape masks differently, and the counter matches exact text only.
#: One of each shape :data:`_VALUE` takes, words before the digit and after it included.
_PROBES = ("0", "7", "123456", "x9", "9x", "A-1", "1.2.3", "ab_1", "a1b2c3d4e5f6",
           "ab-cd-e1", "1.a", "9-x", "x9.y")


def _one_value(head: str, text: str, tail: str) -> bool:
    # Whether ``text`` is the head, one value and the tail.
    return (len(text) <= min(MAX_SCANNED, len(head) + len(tail) + MAX_VALUE)
            and _VALUE.fullmatch(text, len(head), len(text) - len(tail)) is not None)


def _masks_alike(head: str, text: str, tail: str) -> bool:
    # Whether values of other shapes in the sample's place mask as the sample does. The
    # samples of one group mask alike already: they share its key.
    masked = mask(text)
    return all(mask(head + probe + tail) == masked for probe in _PROBES)


_LAST_WORD = re.compile(r"\w*\Z")


def _word_start(text: str) -> int:
    # Where the word ``text`` ends in starts: its length when it ends in no word.
    match = _LAST_WORD.search(text)
    return match.start() if match else len(text)


def _shared_start(texts: list[str]) -> str:
    # The smallest and the largest text differ first where any two do.
    low, high = min(texts), max(texts)
    for index, char in enumerate(low):
        if char != high[index]:
            return low[:index]
    return low


#: How many floods are counted at once. An outage makes a few call sites loop together;
#: a newer flood beyond these closes the oldest counter.
MAX_OPEN = 16


def lookup_key(record: logging.LogRecord) -> Hashable:
    """What the counter that may match ``record`` is found by: a ``%``-style record's
    template (a string, whose hash is kept), anything else's call site."""
    msg = record.msg
    return msg if record.args and type(msg) is str else (record.pathname, record.lineno)


class Several:
    """The open counters sharing one lookup key: one ``except`` line failing for two
    causes, one ``%``-template used by two loggers. Each is offered the record in turn."""

    __slots__ = ("counters",)

    def __init__(self, counters: tuple[FloodCounter, ...]) -> None:
        self.counters = counters

    def count(self, record: logging.LogRecord) -> bool:
        """True when one of the counters counted ``record``."""
        for counter in self.counters:  # noqa: SIM110 - any() and its generator cost 2x
            if counter.count(record):
                return True
        return False


#: How many floods one lookup key counts at once. A newer flood beyond these closes the
#: oldest of them.
MAX_PER_KEY = 4


class Floods:
    """The open counters, and the books of every counter closed so far."""

    __slots__ = ("_opened", "counted", "open", "strays")

    def __init__(self) -> None:
        #: The open counters by :func:`lookup_key`, read on the callers' threads: the one
        #: counter, or a :class:`Several` when floods share the key (the common case pays
        #: no loop). The worker replaces the dict, never changes it, so a reader needs no
        #: lock.
        self.open: dict[Hashable, FloodCounter | Several] = {}
        # The same counters, oldest first; replaced, never changed, like ``open``.
        self._opened: tuple[FloodCounter, ...] = ()
        #: Records counted by counters since closed, ever (``stats()`` adds them up).
        self.counted = 0
        #: Of those, records whose group was not in the window to fold into; not yet
        #: dropped by the dispatcher.
        self.strays = 0

    def count(self, record: logging.LogRecord) -> bool:
        """On a caller's thread: True when an open counter counted ``record``."""
        msg = record.msg  # lookup_key(record), inlined: a call costs as much as the lookup
        counter = self.open.get(
            msg if record.args and type(msg) is str else (record.pathname, record.lineno))
        return counter is not None and counter.count(record)

    def counters(self) -> tuple[FloodCounter, ...]:
        """The open counters, oldest first."""
        return self._opened

    def start(self, new: FloodCounter) -> list[FloodCounter]:
        """Open ``new``. It closes an open counter of the same group under the same key
        (the same flood, counted afresh), the oldest under its key when
        :data:`MAX_PER_KEY` are, and the oldest of all when :data:`MAX_OPEN` are: those
        of them that counted any."""
        lookup = new.lookup
        closing = [c for c in self._opened if c.lookup == lookup and c.key == new.key]
        kept = [c for c in self._opened if c not in closing]
        sharing = [c for c in kept if c.lookup == lookup]
        if len(sharing) >= MAX_PER_KEY:
            closing.append(sharing[0])
            kept.remove(sharing[0])
        if len(kept) >= MAX_OPEN:
            closing.append(kept.pop(0))
        kept.append(new)
        self._publish(kept)
        return self._closed(closing)

    def stop(self, group_key: Hashable | None = None) -> list[FloodCounter]:
        """Close the counters of the group ``group_key``, or all of them when None: those
        that counted any."""
        closing = [counter for counter in self._opened
                   if group_key is None or counter.key == group_key]
        if closing:
            self._publish([counter for counter in self._opened if counter not in closing])
        return self._closed(closing)

    def renew(self, samples: int) -> list[FloodCounter]:
        """Close every open counter, those that counted any renewed in their place (see
        :meth:`FloodCounter.renewed`): those. The renewed ones are published before the
        old ones close, so callers never find the key empty: a worker that loses the GIL
        between the two steps would otherwise see the callers queue every record of a
        flood for as long as it waits."""
        old = self._opened
        self._publish([counter.renewed(samples) for counter in old])
        flooding = self._closed(list(old))
        if len(flooding) < len(old):  # those that counted none are not flooding
            self._publish([new for new, counter in zip(self._opened, old, strict=True)
                           if counter in flooding])
        return flooding

    def _publish(self, counters: list[FloodCounter]) -> None:
        # A new dict and tuple for the callers' threads, built before either is seen.
        by_key: dict[Hashable, list[FloodCounter]] = {}
        for counter in counters:
            by_key.setdefault(counter.lookup, []).append(counter)
        self.open = {lookup: sharing[0] if len(sharing) == 1 else Several(tuple(sharing))
                     for lookup, sharing in by_key.items()}
        self._opened = tuple(counters)

    def _closed(self, closing: list[FloodCounter]) -> list[FloodCounter]:
        counted = []
        for counter in closing:
            if counter.close():
                self.counted += counter.counted
                counted.append(counter)
        return counted

    def total(self) -> int:
        """Records counted so far, the open counters' included."""
        return self.counted + sum(counter.counted for counter in self._opened)

    def take_strays(self) -> int:
        """The strays not yet dropped, now handed to the caller to drop."""
        strays, self.strays = self.strays, 0
        return strays
