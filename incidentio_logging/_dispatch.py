"""The worker's work: window, group, build, deliver, account.

Runs only on the worker thread (or, at shutdown when no thread can start, on the
thread that closes the handler). Every record it takes ends as delivered or as a drop
with a reason, here and nowhere else.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._budget import EventBudget
from ._config import Settings
from ._delivery import Attempts, Outcome, RetryPolicy
from ._events import AlertEvent, EventBuilder
from ._grouping import REFRESH, Group, Window, key_function
from ._refreshing import Refreshes
from ._report import Reporter
from ._resolving import Fired, ResolveTimers
from ._schedule import KNOWN_PROBLEM, NEW_PROBLEM, RESOLVE, Schedule, Send
from ._serialize import secret_key_pattern
from ._stats import Stats
from ._threshold import Threshold
from ._wording import count_of, were
from .transport import Transport

#: What to check, by status, when incident.io refuses an event.
_HINTS = {
    400: "the event was malformed; please report this as a bug",
    401: "check api_token: it must be the token shown on this HTTP alert source",
    403: "check api_token: tokens are scoped to one alert source, "
         "so it must belong to alert_source_config_id",
    404: "check alert_source_config_id (and endpoint)",
    413: "the event body was too large; please report this as a bug",
    422: "incident.io rejected the event's fields",
}


@dataclass(frozen=True)
class Timing:
    """The clock, the way to wait, and the deadline that closing sets, for one step."""

    now: Callable[[], float]
    wait: Callable[[float], None]
    stop_at: Callable[[], float]
    #: The least time left before ``stop_at`` for an attempt to start.
    floor: Callable[[], float] = lambda: 0.0


class Dispatcher:
    """Collects records into a window and ships each closed window as alert events.

    It also keeps the alerts it fired, to resolve them once quiet (``resolve_after``),
    and holds back groups that have not crossed their ``threshold``.
    """

    def __init__(self, settings: Settings, *, transport: Transport, stats: Stats,
                 reporter: Reporter, wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, owns_transport: bool = True) -> None:
        self._transport = transport
        # A transport the user gave as an instance may outlive this handler (a dictConfig
        # re-run hands the same one to the new handler): only one we made is ours to close.
        self._owns_transport = owns_transport
        self._stats = stats
        self._reporter = reporter
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._threshold = (Threshold(settings.threshold, settings.threshold_window)
                           if settings.threshold is not None else None)
        self._builder = EventBuilder(
            metadata=settings.metadata, title=settings.title,
            description=settings.description, source_url=settings.source_url,
            dedup=settings.dedup, wall_clock=wall_clock, redact=settings.api_token,
            secret=secret_key_pattern(settings.scrub_keys),
            threshold=self._threshold,
        )
        #: The group key of a captured record, as this handler's options define it.
        self.group_key = key_function(settings.group_by, self._group_by_failed,
                                      settings.in_app)
        #: The open window; the handler reads its flood counter on the caller's thread.
        self.window = Window(self.group_key, settings.max_batch_size,
                             recent=self._threshold.times if self._threshold else None,
                             detach=self._builder.detach, wall_clock=wall_clock)
        self._budget = EventBudget(settings.max_events_per_minute)
        # resolve_on_close alone keeps the fired alerts too, to resolve them at close().
        self._timers = (ResolveTimers(settings.resolve_after,
                                      follow_group=settings.dedup == "fingerprint")
                        if settings.resolve_after is not None or settings.resolve_on_close
                        else None)
        self._resolve_on_close = settings.resolve_on_close
        # With dedup="batch" every event is its own alert: nothing to refresh, but the
        # problems fired are still followed, so a new one goes first.
        self._refreshes = Refreshes(settings.refresh_interval
                                    if settings.dedup == "fingerprint" else None)
        self._policy = RetryPolicy(max_retries=settings.max_retries,
                                   max_time=settings.max_retry_time, timeout=settings.timeout)
        #: Records in the event being delivered now; close() reads it when it gives up.
        self.in_flight = 0
        self._schedule = Schedule()
        #: Called between two attempts in a row (see :meth:`send_due`).
        self.between: Callable[[], None] | None = None

    def discard(self, reason: str) -> None:
        """Empty the open window without sending it, counting its records as dropped.

        A group held back keeps its own reason (``storm_control``, ``below_threshold``);
        the rest, and records waiting for their refresh, get ``reason``.
        """
        window = self.window
        for group in [*window.take(), *window.due(lambda: True)]:
            own = group.hold_reason if group.hold_reason != REFRESH else ""
            self._stats.drop(own or reason, group.total)
        self._drop_window_counts()
        for send in self._schedule.take_all():
            send.end(send.attempts.abandon(reason, "discarded while waiting for its next "
                                           "attempt"))

    def _drop_window_counts(self) -> None:
        window = self.window
        self._stats.drop("batch_full", window.floods.take_strays())
        if window.refused:
            self._held_full(window.refused)
            window.refused = 0

    def quiet(self) -> bool:
        """Nothing in the open window, waiting in the send schedule, or in flight."""
        return not self.window and not self._schedule and not self.in_flight

    def holds_back(self) -> bool:
        """True when the window keeps records held back (storm control, thresholds)."""
        return self.window.holds_back()

    def has_records(self) -> bool:
        """True while the open window holds anything."""
        return bool(self.window)

    def ship(self, timing: Timing, *, flush: bool = False) -> None:
        """Close the window and deliver one event per group, in order of first arrival.

        The first events of new problems (not fired by this process, or resolved since)
        go first; then groups that storm control held back, oldest first, as long as
        ``max_events_per_minute`` allows (the first it refuses ends that, so the work
        does not grow with the number held); then the rest. A group below its threshold
        is carried into the next window, less its records that aged out of the threshold
        window. A group over ``max_events_per_minute`` is held back: its records wait,
        new ones join them, and the event that finally goes says how many were held
        back. A group of a problem already fired is carried until its next refresh
        (``refresh_interval``), unless this is a ``flush``: a flush delivers what was
        logged. Events are handed to the send schedule, and what is due is sent now.
        """
        window = self.window
        groups = window.take()
        fresh: list[Group] = []
        known: list[Group] = []
        for group in groups:
            (fresh if self._refreshes.is_new(group.key) else known).append(group)
        carried = self._judge(fresh, timing, flush, 0)
        for group in window.due(lambda: self._budget.take(timing.now())):
            self._deliver(group, timing)
        self._drop_window_counts()
        self._judge(known, timing, flush, carried)
        if self._threshold is not None:
            self._threshold.forget_quiet(self._wall_clock())
        self.send_due(timing)

    def _judge(self, groups: list[Group], timing: Timing, flush: bool, carried: int) -> int:
        """Deliver, carry or hold back each group. ``carried`` groups already wait below
        the threshold; returns that count with the groups this call carried so added."""
        threshold = self._threshold
        for group in groups:
            below = threshold is not None and self._apply_threshold(group, threshold, carried)
            if below and not group.crossed_total:
                carried = self._carry_below(group, carried)
                continue
            if self._carry_to_refresh(group, timing, flush):
                continue
            if below and threshold is not None:
                # A fired problem's records that crossed go with its refresh; those that
                # joined them since, below the threshold, are held apart at it.
                carried = self._carry_below(threshold.split(group), carried)
            if not self._budget.take(timing.now()):
                self._hold_back(group)
                continue
            self._deliver(group, timing)
        return carried

    def _apply_threshold(self, group: Group, threshold: Threshold, carried: int) -> bool:
        # Not a mere test: a group that crossed its threshold this window is marked so,
        # all of it; one that did not loses what of it may not wait. True for the latter.
        if threshold.crossed(group):
            group.crossed_kept, group.crossed_total = len(group.records), group.total
            return False
        self._stats.drop("below_threshold",
                         threshold.drop_stale(group, self._wall_clock(), carried))
        return True

    def _carry_to_refresh(self, group: Group, timing: Timing, flush: bool) -> bool:
        # A fired problem's group is carried until its next refresh (not on a flush);
        # True when it was, or was dropped for want of room. While an event of the
        # problem still waits for its attempt (a 429, a backoff), its records fold too:
        # one refresh at a time, not a pile.
        if flush or not (self._refreshes.folds(group.key, timing.now())
                         or self._schedule.waiting(group.key)):
            return False
        if not self.window.carry(group, REFRESH):
            self._held_full(group.total)
        return True

    def _carry_below(self, group: Group, carried: int) -> int:
        # Carry a group below its threshold into the next window; the groups carried so.
        if not group.total:
            return carried
        if not self.window.carry(group, "below_threshold"):
            self._held_full(group.total)
            return carried
        return carried + 1

    def _deliver(self, group: Group, timing: Timing) -> None:
        try:
            event = self._builder.build(group)
        except Exception as exc:  # noqa: BLE001 - a bug here must cost records, not the thread
            self._stats.drop("internal_error", group.total)
            self._reporter.report("build", "could not build an alert event "
                                  f"({type(exc).__name__}: {exc}); "
                                  f"{count_of(group.total, 'record')} dropped")
            return
        self._stats.drop("batch_full", event.omitted_batch)
        self._stats.drop("body_size", event.omitted_size)
        omitted = event.omitted_batch + event.omitted_size
        if omitted:
            self._reporter.report(
                "omitted", f"{count_of(omitted, 'record')} of {event.title!r} "
                f"{were(omitted)} counted, not sent (max_batch_size, or the body's "
                "size); the event's metadata.incidentio_logging says how many")
        new = self._refreshes.is_new(group.key)
        # The problem fires again: a resolve still waiting for its attempt (a 429, a
        # backoff) would close the alert after this event; its timer starts over.
        self._schedule.cancel(RESOLVE, event.deduplication_key)
        # Followed from now, not from its delivery: while it waits for an attempt, later
        # records of the problem fold into its refresh instead of making another event.
        self._refreshed(group, timing.now())

        def done(outcome: Outcome) -> None:
            self._account(group, event, outcome)
            if not outcome.delivered:
                if new:  # it never reached incident.io: its next record is new again
                    self._refreshes.forget(group.key)
                return
            if self._timers is not None:
                given_up = self._timers.fired(event.deduplication_key, event.title,
                                              group.key, timing.now())
                if given_up is not None:
                    self._reporter.report("resolve_full", "too many alerts waiting to be "
                                          f"resolved; {given_up.title!r} will not be")

        self._add(Send(NEW_PROBLEM if new else KNOWN_PROBLEM, event.body,
                       Attempts(self._policy), done, event.delivered_records, group.key),
                  timing.now())

    def _add(self, send: Send, now: float) -> None:
        if not self._schedule.add(send, now):
            send.end(send.attempts.abandon(
                "held_full", "the send schedule already holds "
                f"{self._schedule.max_bytes // (1024 * 1024)} MiB of events waiting for an "
                "attempt"))

    # The send schedule ----------------------------------------------------------------

    def next_send(self) -> float | None:
        """When the send schedule has an attempt due, if it holds any event."""
        return self._schedule.next_due()

    def mark(self) -> int:
        """A mark after every event scheduled so far, for :meth:`waiting_before`."""
        return self._schedule.mark()

    def scheduled(self) -> list[Send]:
        """The events waiting in the send schedule now; each keeps its outcome."""
        return self._schedule.scheduled()

    def waiting_before(self, mark: int) -> bool:
        """True while an event scheduled before ``mark`` waits for an attempt."""
        return self._schedule.waiting_before(mark)

    def send_due(self, timing: Timing) -> None:
        """Make every attempt that is due, most urgent first; a 429 pauses the rest.

        :attr:`between` runs before each attempt after the first: the worker drains its
        queue there, so records logged meanwhile do not wait for the whole run.
        """
        schedule = self._schedule
        first = True
        while (send := schedule.pop_due(timing.now())) is not None:
            if not first and self.between is not None:
                self.between()
            first = False
            self.in_flight = send.records
            try:
                result = send.attempts.attempt(self._transport, send.body, now=timing.now,
                                               stop_at=timing.stop_at, rng=self._rng,
                                               floor=timing.floor)
            except Exception as exc:  # noqa: BLE001 - e.g. a user transport raising its own
                result = send.attempts.abandon(
                    "internal_error", f"the transport raised {type(exc).__name__}: {exc}")
            finally:
                self.in_flight = 0
            limited_for = send.attempts.limited_for
            if isinstance(result, Outcome):
                send.end(result)
            else:
                schedule.retry(send, timing.now() + result.delay)
            if limited_for is not None:
                # The limit is the API key's, whether or not this event gives up on it.
                schedule.pause(timing.now() + limited_for, timing.now())

    def settle(self, timing: Timing) -> None:
        """Deliver or give up every event scheduled, waiting out backoffs (a flush, a
        close); what could not be attempted before the deadline ends as out of time."""
        schedule = self._schedule
        while True:
            self.send_due(timing)
            schedule.expire(timing.stop_at() - timing.floor())
            due = schedule.next_due()
            if due is None:
                return
            if (left := due - timing.now()) > 0:
                timing.wait(left)

    def _refreshed(self, group: Group, now: float) -> None:
        forgotten = self._refreshes.sent(group.key, now)
        # Without refreshes (dedup="batch", or none asked for) forgetting costs nothing
        # worth saying: only the order of sending after a 429 or under storm control.
        if forgotten is not None and self._refreshes.interval is not None:
            self._stats.refreshes_forgotten += 1
            self._reporter.report(
                "refresh_full", f"more than {len(self._refreshes)} problems fired and not "
                "resolved; the one sent longest ago is forgotten, and its next record is "
                "sent at once, as a new problem (stats: refreshes_forgotten)", once=True)

    def _hold_back(self, group: Group) -> None:
        if not self.window.hold_back(group, first=self._refreshes.is_new(group.key)):
            self._held_full(group.total)
            return
        self._reporter.report(
            "storm_control",
            f"more than max_events_per_minute={self._budget.per_minute} alert events; the rest "
            "wait and are folded into their group's next event",
        )

    def _held_full(self, records: int) -> None:
        self._stats.drop("held_full", records)
        budget = self.window.held_budget
        self._reporter.report(
            "held_full", f"more held back than {budget.max_groups} groups or "
            f"{budget.max_bytes // (1024 * 1024)} MiB of records allow (storm control, "
            "thresholds); the rest are dropped and counted as held_full")

    # Resolving ----------------------------------------------------------------------

    def next_due(self, now: float) -> float | None:
        """When :meth:`resolve_due` has work: the first quiet alert, once storm control
        allows another event."""
        due = self._timers.next_due() if self._timers is not None else None
        return None if due is None else max(due, self._budget.free_at(now))

    def resolve_due(self, timing: Timing) -> None:
        """Resolve the alerts quiet for ``resolve_after`` seconds, as storm control allows."""
        if self._timers is None:
            return
        for fired in self._timers.due(timing.now(), self.window.has_records_of):
            if not self._budget.take(timing.now()):
                break
            self._resolve(self._timers, fired, "quiet for resolve_after seconds", timing)
        self.send_due(timing)

    def finish(self, timing: Timing) -> None:
        """At close(): with ``resolve_on_close``, resolve every alert still firing."""
        if self._timers is None or not self._resolve_on_close:
            return
        for fired in self._timers.pending():
            if not self._budget.take(timing.now()):
                # Storm control is a promise too: the rest stay firing, counted here and
                # said in close()'s one line on stderr.
                self._stats.resolves_skipped += len(self._timers)
                break
            self._resolve(self._timers, fired, "the handler was closed (resolve_on_close)",
                          timing)
        self.settle(timing)

    def _resolve(self, timers: ResolveTimers, fired: Fired, why: str, timing: Timing) -> None:
        timers.done(fired.key)

        def done(outcome: Outcome) -> None:
            self._stats.retries += outcome.retries
            if outcome.delivered:
                self._stats.resolves_sent += 1
                self._refreshes.forget(fired.group)
                return
            self._stats.resolves_failed += 1
            self._reporter.report("resolve", f"could not resolve {fired.title!r} "
                                  f"({outcome.reason}: {outcome.detail}); it stays firing")

        self._add(Send(RESOLVE, self._builder.resolve(fired.key, fired.title, why),
                       Attempts(self._policy), done, key=fired.key), timing.now())

    def _account(self, group: Group, event: AlertEvent, outcome: Outcome) -> None:
        stats = self._stats
        stats.retries += outcome.retries
        if outcome.delivered:
            stats.events_sent += 1
            stats.delivered += event.delivered_records
            return
        stats.events_failed += 1
        stats.drop(outcome.reason, event.delivered_records)
        lost = (f"{count_of(group.total, 'record')} of {event.title!r} "
                f"{were(group.total)} not delivered")
        if outcome.reason == "rejected":
            hint = _HINTS.get(outcome.status or 0, "check endpoint: redirects are not followed")
            self._reporter.report(
                f"rejected-{outcome.status}",
                f"incident.io refused an alert event with HTTP {outcome.status} "
                f"({outcome.detail}); {hint}. {lost}.",
                once=True,
            )
        else:
            full = outcome.reason == "held_full"  # the schedule's bound: said once
            self._reporter.report(
                "schedule_full" if full else outcome.reason,
                f"giving up on an alert event ({outcome.reason}, "
                f"{count_of(outcome.retries, 'retry', 'retries')}): "
                f"{outcome.detail}. {lost}.", once=full,
            )

    def close(self) -> None:
        """Release the transport's connections, if the transport is the handler's own."""
        if not self._owns_transport:
            return
        with contextlib.suppress(Exception):  # closing is best effort
            self._transport.close()

    def _group_by_failed(self, exc: Exception) -> None:
        self._reporter.report("group_by", f"group_by raised {type(exc).__name__}: {exc}; "
                              "those records were grouped by fingerprint")
