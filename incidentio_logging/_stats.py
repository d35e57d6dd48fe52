"""Counters that account for every record the handler accepted."""

from __future__ import annotations

import threading
from collections import Counter
from typing import TypedDict

#: Records counted, not sent, by design (a flood's overflow, what the body's budget left
#: out): said on stderr as it happens and kept in stats(), but never a failed delivery,
#: so neither a flush's result nor close()'s line counts them.
COUNTED = frozenset({"batch_full", "body_size"})


class HandlerStats(TypedDict):
    """What :meth:`IncidentIOHandler.stats` returns: a plain dict, typed key by key.

    Once the handler is quiet, ``records_accepted == records_delivered +
    records_dropped + records_pending``. ``dropped`` maps each reason (see :class:`Stats`)
    to its count; it is a ``dict[str, int]`` so that a new reason needs no new type.
    """

    records_accepted: int
    records_delivered: int
    records_dropped: int
    dropped: dict[str, int]
    records_pending: int
    events_sent: int
    events_failed: int
    retries: int
    resolves_sent: int
    resolves_failed: int
    resolves_skipped: int
    refreshes_forgotten: int


class Stats:
    """Thread-safe counters; the hot path never touches them on success.

    Every accepted record ends delivered, or dropped for one reason:
    ``queue_full`` (the queue was full at the logging call), ``closed`` (logged after
    close()), ``batch_full`` (its group already had max_batch_size records in that
    window, or it was counted while its group was not in the window), ``body_size``
    (left out to keep the event under the body budget),
    ``rejected`` (a 4xx other than 408/429), ``send_failed`` (retries or retry time ran
    out), ``rate_limited`` (asked to wait longer than the retry budget),
    ``shutdown_timeout`` (still pending when shutdown_timeout ran out), ``storm_control``
    (held back by max_events_per_minute and still unsent at close()), ``held_full``
    (no room left to hold it back, see ``_budget.MAX_HELD_GROUPS`` and ``MAX_HELD_BYTES``;
    or its event found the send schedule full, see ``_schedule.MAX_SCHEDULED_BYTES``),
    ``below_threshold`` (aged out of threshold_window before the threshold was met),
    ``queue_bytes`` (the queue was at max_queue_bytes at the logging call), ``reentrant``
    (logged on a thread while it delivered inline: a signal handler, a finalizer),
    ``unknown_outcome`` (sent, but no reply came before the deadline: it may have
    arrived), ``unresolved`` (left to deliver on the caller's thread, which would first
    have had to look the endpoint up in DNS) and ``internal_error`` (a fault in this
    library or a user's transport; reported).

    When close() gives up on a worker that is still busy, it counts what the worker
    has pending (:meth:`abandon`) and the counters freeze: only later refusals change them.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()  # refuse() runs on callers' threads, signal handlers too
        self.taken = 0  # records taken off the queue; only the worker's side writes it
        self._refused = 0  # records dropped at the logging call, never queued
        # Drops of records that had been queued: one int, so reading it takes no lock
        # (a flush on top of a thread interrupted inside refuse() must not wait on it).
        self._worker_drops = 0
        self._worker_losses = 0  # of those, not COUNTED: what makes a flush return False
        self.delivered = 0
        self.events_sent = 0
        self.events_failed = 0
        self.retries = 0
        self.resolves_sent = 0
        self.resolves_failed = 0
        self.resolves_skipped = 0  # left firing at close(): storm control had no room
        # Fired problems forgotten to keep their refresh state bounded (refresh_interval).
        self.refreshes_forgotten = 0
        self._dropped: Counter[str] = Counter()
        self._frozen: HandlerStats | None = None

    def drop(self, reason: str, count: int = 1) -> None:
        """Count ``count`` records as not delivered, for ``reason``."""
        if count:
            with self._lock:
                self._dropped[reason] += count
                self._worker_drops += count
                if reason not in COUNTED:
                    self._worker_losses += count

    def refuse(self, reason: str) -> None:
        """Count a record dropped at the logging call, before it reached the queue."""
        with self._lock:
            self._dropped[reason] += 1
            self._refused += 1
            frozen = self._frozen
            if frozen is not None:
                frozen["dropped"][reason] = frozen["dropped"].get(reason, 0) + 1
                frozen["records_accepted"] += 1
                frozen["records_dropped"] += 1

    def worker_dropped(self) -> int:
        """Drops of records that had been queued."""
        return self._worker_drops

    def worker_lost(self) -> int:
        """Drops of records that had been queued, but for a :data:`COUNTED` reason: what
        a flush compares (read without the lock, as :meth:`worker_dropped`)."""
        return self._worker_losses

    def dropped_by_reason(self) -> dict[str, int]:
        """A copy of the drops so far, by reason."""
        with self._lock:
            return dict(self._dropped)

    def abandon(self, pending: int, counted: int, *, in_flight: int) -> None:
        """Count everything not yet settled as dropped, and freeze the counters.

        Of the records not settled, ``in_flight`` (those in a request still without a
        reply) are ``unknown_outcome``; the rest, queued or waiting in the window, are
        ``shutdown_timeout``.
        """
        with self._lock:
            if self._frozen is not None:
                return
            final = self.as_dict(pending, counted)
            left = final["records_pending"]
            unknown = min(in_flight, left)
            for reason, count in (("unknown_outcome", unknown),
                                  ("shutdown_timeout", left - unknown)):
                if count:
                    self.drop(reason, count)  # the lock is reentrant
                    final["dropped"][reason] = final["dropped"].get(reason, 0) + count
            final["records_dropped"] += left
            final["records_pending"] = 0
            self._frozen = final

    def as_dict(self, pending: int, counted: int) -> HandlerStats:
        """The public ``stats()`` shape.

        ``pending`` is the queue's length; ``counted``, the records flood counters
        counted on the callers' threads (see ``_flood``). Once the handler is quiet,
        accepted == delivered + dropped + pending.
        """
        with self._lock:
            frozen = self._frozen
            if frozen is not None:
                return {**frozen, "dropped": dict(frozen["dropped"])}
            dropped = dict(self._dropped)
            refused = self._refused
        total_dropped = sum(dropped.values())
        received = self.taken + counted
        # Received and still pending: in the open window, or in flight.
        pending_received = received - self.delivered - (total_dropped - refused)
        return {
            "records_accepted": received + pending + refused,
            "records_delivered": self.delivered,
            "records_dropped": total_dropped,
            "dropped": dropped,
            "records_pending": pending + pending_received,
            "events_sent": self.events_sent,
            "events_failed": self.events_failed,
            "retries": self.retries,
            "resolves_sent": self.resolves_sent,
            "resolves_failed": self.resolves_failed,
            "resolves_skipped": self.resolves_skipped,
            "refreshes_forgotten": self.refreshes_forgotten,
        }
