"""How fast our worker turns records into delivered events, and at what CPU cost.

Records are logged into one long window, then ``flush()`` closes it: the time and CPU
of that flush are the worker's serialization, event building and delivery of every
group (to the receiver in the child process).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from incidentio_logging import IncidentIOHandler

from .handlers import _ours_drain
from .servers import Servers

SIZES = ("small", "1 KiB extra", "traceback")


@dataclass(frozen=True)
class Throughput:
    """One configuration's figures."""

    size: str
    groups: int
    logged: int
    delivered: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds

    @property
    def cpu_per_thousand(self) -> float:
        return self.cpu_seconds / self.delivered * 1000


def _deep(depth: int) -> None:
    if depth:
        _deep(depth - 1)
    raise KeyError("sku-9")


def measure(servers: Servers, *, size: str, groups: int, per_group: int = 250) -> Throughput:
    """Log ``groups`` x ``per_group`` records, then time the flush that delivers them."""
    handler = IncidentIOHandler(**servers.incidentio_options(), flush_interval=3600,
                                queue_size=1_000_000, shutdown_timeout=60)
    log = logging.getLogger(f"bench.throughput.{size}.{groups}")
    log.handlers[:] = [handler]
    log.propagate = False
    extra: dict[str, object] = {"order_id": "A-1", "amount": 42.5, "customer": "c_1",
                                "attempt": 2}
    if size == "1 KiB extra":
        extra["payload"] = "x" * 1024
    exc_info = None
    if size == "traceback":
        try:
            _deep(10)
        except KeyError as exc:
            exc_info = exc
    loggers = [log.getChild(f"group{group}") for group in range(groups)]
    for i in range(per_group):
        for child in loggers:  # a logger per group: distinct fingerprints
            child.error("order %d failed", i, extra=extra, exc_info=exc_info)
    _ours_drain(handler)()
    started, cpu_started = time.perf_counter(), time.process_time()
    handler.flush(120)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    delivered = handler.stats()["records_delivered"]
    handler.close()
    return Throughput(size, groups, per_group * groups, delivered, seconds, cpu)
