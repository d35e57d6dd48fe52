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

from ._budget import EventBudget
from ._delivery import Outcome, RetryPolicy, deliver
from ._report import Reporter
from ._stats import Stats
from .config import Settings
from .events import AlertEvent, EventBuilder
from .grouping import Group, Window, key_function
from .serialize import secret_key_pattern
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


class Dispatcher:
    """Collects records into a window and ships each closed window as alert events."""

    def __init__(self, settings: Settings, *, transport: Transport, stats: Stats,
                 reporter: Reporter, wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self._transport = transport
        self._stats = stats
        self._reporter = reporter
        self._rng = rng or random.Random()
        #: The open window; the handler reads its ``full`` stand-in on the caller's thread.
        self.window = Window(key_function(settings.group_by, self._group_by_failed),
                             settings.max_batch_size)
        self._builder = EventBuilder(
            metadata=settings.metadata, title=settings.title,
            description=settings.description, source_url=settings.source_url,
            dedup=settings.dedup, wall_clock=wall_clock, redact=settings.api_token,
            secret=secret_key_pattern(settings.scrub_keys),
        )
        self._budget = EventBudget(settings.max_events_per_minute)
        self._per_minute = settings.max_events_per_minute
        self._policy = RetryPolicy(max_retries=settings.max_retries,
                                   max_time=settings.max_retry_time, timeout=settings.timeout)

    def discard(self, reason: str) -> None:
        """Empty the open window without sending it, counting its records as dropped.

        A group held back keeps its own reason (``storm_control``); the rest get ``reason``.
        """
        for group in self.window.take():
            self._stats.drop(group.held or reason, group.total)

    def has_records(self) -> bool:
        """True while the open window holds anything."""
        return bool(self.window)

    def ship(self, *, now: Callable[[], float], wait: Callable[[float], None],
             stop_at: Callable[[], float]) -> None:
        """Close the window and deliver one event per group, in order of first arrival.

        A group over ``max_events_per_minute`` is carried into the next window instead:
        its records wait there, new ones join them, and the event that finally goes says
        how many were held back.
        """
        for group in self.window.take():
            if not self._budget.take(now()):
                self._hold_back(group)
                continue
            try:
                event = self._builder.build(group)
            except Exception as exc:  # noqa: BLE001 - a bug here must cost records, not the thread
                self._stats.drop("internal_error", group.total)
                self._reporter.report("build", "could not build an alert event "
                                      f"({type(exc).__name__}: {exc}); "
                                      f"{group.total} records dropped")
                continue
            self._stats.drop("batch_full", event.omitted_batch)
            self._stats.drop("body_size", event.omitted_size)
            try:
                outcome = deliver(self._transport, event.body, policy=self._policy, now=now,
                                  wait=wait, stop_at=stop_at, rng=self._rng)
            except Exception as exc:  # noqa: BLE001 - e.g. a user transport raising its own
                outcome = Outcome(False, 0, "internal_error", None,
                                  f"the transport raised {type(exc).__name__}: {exc}")
            self._account(group, event, outcome)

    def _hold_back(self, group: Group) -> None:
        if group.total != group.held_total:  # new records since it was last held back
            group.suppressed += 1
            group.held_total = group.total
        self.window.carry(group, "storm_control")
        self._reporter.report(
            "storm_control",
            f"more than max_events_per_minute={self._per_minute} alert events; the rest "
            "wait and are folded into their group's next event",
        )

    def _account(self, group: Group, event: AlertEvent, outcome: Outcome) -> None:
        stats = self._stats
        stats.retries += outcome.retries
        if outcome.delivered:
            stats.events_sent += 1
            stats.delivered += event.delivered_records
            return
        stats.events_failed += 1
        stats.drop(outcome.reason, event.delivered_records)
        lost = f"{group.total} record(s) of {event.title!r} were not delivered"
        if outcome.reason == "rejected":
            hint = _HINTS.get(outcome.status or 0, "check endpoint: redirects are not followed")
            self._reporter.report(
                f"rejected-{outcome.status}",
                f"incident.io refused an alert event with HTTP {outcome.status} "
                f"({outcome.detail}); {hint}. {lost}.",
                once=True,
            )
        else:
            self._reporter.report(
                outcome.reason,
                f"giving up on an alert event ({outcome.reason}, {outcome.retries} retries): "
                f"{outcome.detail}. {lost}.",
            )

    def close(self) -> None:
        """Release the transport's connections."""
        with contextlib.suppress(Exception):  # closing is best effort
            self._transport.close()

    def _group_by_failed(self, exc: Exception) -> None:
        self._reporter.report("group_by", f"group_by raised {type(exc).__name__}: {exc}; "
                              "those records were grouped by fingerprint")
