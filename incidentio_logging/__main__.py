"""``python -m incidentio_logging``: the demo, and a local receiver for trying things out.

Nothing here talks to api.incident.io: both commands use the receiver on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.config
import sys
import threading
import time
from collections.abc import Sequence

from .connection import check
from .handler import IncidentIOHandler
from .testing import LocalReceiver, ReceivedEvent

_print_lock = threading.Lock()


def show(event: ReceivedEvent) -> None:
    """Print one alert event the way on-call would skim it."""
    meta = {k: v for k, v in event.metadata.items() if k != "data"}
    lines = [
        f"--- alert event: {event.status.upper()}  key={event.deduplication_key[:16]}...",
        f"    title:    {event.title}",
        f"    metadata: {json.dumps(meta, sort_keys=True)}",
        f"    records:  {len(event.records)}",
    ]
    for record in event.records:
        extras = {k: v for k, v in record.items() if k not in _STANDARD}
        lines.append(f"      {record.get('timestamp', '')[11:19]} {record.get('level')} "
                     f"{record.get('logger')}: {record.get('message')}"
                     + (f"  {json.dumps(extras)}" if extras else ""))
        if "exc_info" in record:
            last = str(record["exc_info"]).strip().splitlines()[-1]
            lines.append(f"        traceback ({len(str(record['exc_info']))} chars) ... {last}")
    with _print_lock:
        print("\n".join(lines), flush=True)


_STANDARD = {"timestamp", "level", "logger", "message", "module", "function", "line", "path",
             "process", "thread", "exc_info", "stack_info", "taskName"}


def demo() -> int:
    """Log a few realistic errors through dictConfig and print the alert events."""
    with LocalReceiver(on_event=show) as receiver:
        print(f"Local incident.io receiver on {receiver.endpoint} "
              "(nothing leaves this machine)\n")
        logging.config.dictConfig({
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "  (console) %(levelname)s %(name)s: %(message)s"}},
            "handlers": {
                "console": {"class": "logging.StreamHandler", "level": "WARNING",
                            "stream": "ext://sys.stdout",
                            "formatter": "plain"},
                "incident_io": {
                    "class": "incidentio_logging.IncidentIOHandler",
                    "level": "ERROR",
                    "api_token": receiver.api_token,
                    "alert_source_config_id": receiver.webhook_url,
                    "metadata": "service=checkout,env=demo",
                    "flush_interval": 0.5,
                },
            },
            "root": {"level": "INFO", "handlers": ["console", "incident_io"]},
        })
        payments = logging.getLogger("shop.payments")
        for order in ("A-1001", "A-1002", "A-1003"):
            payments.error("Card declined for order %s", order,
                           extra={"order_id": order, "amount": 42.5, "card_token": "tok_live_x"})
        payments.warning("Retrying the payment gateway (warnings are not sent)")
        try:
            {"sku-1": 3}["sku-9"]
        except KeyError:
            logging.getLogger("shop.inventory").exception("Stock lookup failed for %s", "sku-9")
        handler = next(h for h in logging.getLogger().handlers
                       if isinstance(h, IncidentIOHandler))
        print("\nFlushing: the worker groups each second's records into alert events...\n")
        delivered = handler.flush(timeout=10)
        time.sleep(0.1)
        print(f"\nAll delivered: {delivered}. Handler stats: {json.dumps(handler.stats())}")
        logging.shutdown()
        return 0 if delivered and len(receiver.events) == 2 else 1


def receiver(host: str, port: int, jsonl: str | None) -> int:
    """Run the local receiver until interrupted, printing what arrives."""
    with LocalReceiver(host=host, port=port, on_event=show, jsonl=jsonl) as local:
        print(f"Listening on {local.endpoint}; alerts at {local.endpoint}/\n"
              f"{'Appending events to ' + jsonl if jsonl else 'Events kept in memory'}.\n"
              "Point a handler at it with:\n"
              f"  export INCIDENT_IO_API_TOKEN={local.api_token}\n"
              f"  export INCIDENT_IO_ALERT_SOURCE_CONFIG_ID={local.webhook_url}\n"
              "Ctrl-C to stop.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def connection_test(token: str | None, source: str | None, endpoint: str | None) -> int:
    """Send the connection test event and print the verdict."""
    verdict = check(api_token=token, alert_source_config_id=source, endpoint=endpoint)
    print(verdict.message, file=sys.stdout if verdict.code == 0 else sys.stderr)
    return verdict.code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m incidentio_logging``."""
    parser = argparse.ArgumentParser(prog="python -m incidentio_logging")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="log a few errors and show the alert events they make")
    serve = commands.add_parser("receiver", help="run the local incident.io receiver")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8025)
    serve.add_argument("--jsonl", metavar="FILE", help="also append each event to FILE")
    test = commands.add_parser(
        "test", help="check credentials with one 'resolved' event (pages nobody)",
        description="Exit codes: 0 OK, 2 configuration, 3 token refused, 4 source not "
                    "found, 5 event rejected, 6 rate limited, 7 unreachable, 8 unexpected.")
    test.add_argument("--token", help="default: $INCIDENT_IO_API_TOKEN (prefer the variable: "
                                      "arguments show up in process lists)")
    test.add_argument("--source", help="id or webhook URL; default: "
                                       "$INCIDENT_IO_ALERT_SOURCE_CONFIG_ID")
    test.add_argument("--endpoint", help="default: https://api.incident.io, or the webhook "
                                         "URL's host")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    if args.command == "test":
        return connection_test(args.token, args.source, args.endpoint)
    return receiver(args.host, args.port, args.jsonl)


if __name__ == "__main__":
    sys.exit(main())
