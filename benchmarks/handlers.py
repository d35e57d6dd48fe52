"""The handlers compared: a NullHandler floor, the stdlib, peers, and ours.

Each comes with its worker live and a ``drain`` that returns once that worker has
processed everything logged so far, so a block of calls is charged with its worker's
work on those records. Peers that are not installed are left out with a note.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from incidentio_logging import IncidentIOHandler

from .servers import Servers


@dataclass
class Subject:
    """One handler under test."""

    name: str
    handler: logging.Handler
    drain: Callable[[], None] = lambda: None


def _ours_drain(handler: IncidentIOHandler) -> Callable[[], None]:
    # Our worker groups records as they come and serializes only when a window closes,
    # once a flush_interval; draining here charges the per-record part. Through the
    # worker's test seam, because the public flush() would also close the window.
    worker = handler.worker

    def drain() -> None:
        worker.wake()
        if not worker.wait_idle(60):
            raise RuntimeError("the worker did not take the block's records within 60 s")

    return drain


def _queue_handler(json_format: bool) -> tuple[Subject, Callable[[], None]]:
    pipe: queue.Queue[logging.LogRecord] = queue.Queue()
    handler = logging.handlers.QueueHandler(pipe)
    if json_format:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter())
    listener = logging.handlers.QueueListener(pipe, logging.NullHandler())
    listener.start()
    name = "QueueHandler + JSON formatter" if json_format else "QueueHandler"
    return Subject(name, handler, pipe.join), listener.stop


def _opentelemetry() -> tuple[Subject, Callable[[], None]] | str:
    try:
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import (
            BatchLogRecordProcessor,
            LogRecordExporter,
            LogRecordExportResult,
        )
    except ImportError:
        return "opentelemetry-sdk is not installed"

    class NoOpExporter(LogRecordExporter):
        def export(self, batch: object) -> LogRecordExportResult:
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    provider = LoggerProvider()
    processor = BatchLogRecordProcessor(NoOpExporter())
    provider.add_log_record_processor(processor)
    handler = LoggingHandler(logger_provider=provider)
    return (Subject("OpenTelemetry LoggingHandler (batch, no-op exporter)", handler,
                    processor.force_flush), provider.shutdown)


def _logtail(servers: Servers) -> tuple[Subject, Callable[[], None]] | str:
    try:
        from logtail import LogtailHandler
    except ImportError:
        return "logtail-python is not installed"
    handler = LogtailHandler(source_token="bench", host=servers.sink_url, buffer_capacity=100_000)
    return Subject("logtail LogtailHandler", handler, handler.flush), handler.close


@contextmanager
def subjects(servers: Servers) -> Iterator[tuple[Subject, list[Subject], list[str]]]:
    """The floor, the rows to compare with it, and notes on peers left out."""
    notes: list[str] = []
    with ExitStack() as stack:
        rows: list[Subject] = []
        for made in (_queue_handler(False), _queue_handler(True), _opentelemetry(),
                     _logtail(servers)):
            if isinstance(made, str):
                notes.append(made)
                continue
            subject, stop = made
            stack.callback(stop)
            rows.append(subject)
        ours = IncidentIOHandler(**servers.incidentio_options())
        # With room for 10,000 records per group, no record of the benchmark's window is
        # only counted: every call pays for the full snapshot and grouping.
        kept = IncidentIOHandler(**servers.incidentio_options(), max_batch_size=10_000)
        for handler in (ours, kept):
            stack.callback(handler.close)
        rows.append(Subject("IncidentIOHandler (defaults)", ours, _ours_drain(ours)))
        rows.append(Subject("IncidentIOHandler, every record kept (max_batch_size=10000)",
                            kept, _ours_drain(kept)))
        yield Subject("NullHandler", logging.NullHandler()), rows, notes


def filtered_subjects(servers: Servers) -> list[Subject]:
    """Ours, refusing every record: by its level, and by a predicate."""
    by_level = IncidentIOHandler(**servers.incidentio_options())
    by_predicate = IncidentIOHandler(**servers.incidentio_options(),
                                     predicate=lambda record: False)
    # Three terms, all evaluated: the logger glob and the level match, the extra refuses.
    by_rule = IncidentIOHandler(**servers.incidentio_options(),
                                rule="logger:bench.* level:>=info -m.attempt:2")
    return [Subject("IncidentIOHandler, below its level", by_level),
            Subject("IncidentIOHandler, refused by its predicate", by_predicate),
            Subject("IncidentIOHandler, refused by a 3-term rule "
                    "(`logger:bench.* level:>=info -m.attempt:2`)", by_rule)]
