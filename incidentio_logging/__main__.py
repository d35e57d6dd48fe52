"""``python -m incidentio_logging``: the demo, and a local receiver for trying things out.

Nothing here talks to api.incident.io: both commands use the receiver on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import logging.config
import os
import sys
import time
from collections.abc import Sequence

from . import __version__
from ._config import SOURCE_ENV, TOKEN_ENV, parse_source, parse_token
from ._connection import check
from ._receiver_views import Background, show
from .handler import IncidentIOHandler
from .testing import DEFAULT_SOURCE, DEFAULT_TOKEN, LocalReceiver

#: Exit status for a receiver that cannot start: the same as argparse's usage errors.
_CANNOT_START = 2

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


def receiver(host: str, port_text: str, jsonl: str | None, *, token: str | None = None,
             source: str | None = None) -> int:
    """Run the local receiver until interrupted, printing what arrives.

    The token and source id come from the flags, then from the variables a handler reads,
    then from the receiver's own defaults: an app keeps its own and changes only where it
    sends. Only a token the receiver chose is printed, and keeping the app's variables is
    advised only when both came from them. Events are printed on a thread
    of their own, so a terminal that is slow (or paused) never holds up a reply.
    """
    try:
        port = _port(port_text)
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        source = source if source is not None else os.environ.get(SOURCE_ENV) or None
        api_token = parse_token(token) if token is not None else DEFAULT_TOKEN
        source_id = parse_source(source)[0] if source is not None else DEFAULT_SOURCE
        local = LocalReceiver(host=host, port=port, jsonl=jsonl,
                              on_event=lambda event: printer.submit(lambda: show(event)),
                              api_token=api_token, source_id=source_id)
    except (ValueError, TypeError) as exc:
        return _cannot_start(str(exc))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _cannot_start(f"port {port} on {host} is already in use; "
                                 "pick another with --port")
        if exc.filename is not None:
            return _cannot_start(f"cannot append to --jsonl {jsonl}: {exc.strerror}")
        return _cannot_start(f"cannot listen on {host} port {port}: {exc.strerror}")
    point = (f"Point a handler at it with:\n  export {TOKEN_ENV}={local.api_token}"
             if token is None else "Point a handler at it, keeping its token, with:")
    # An app keeping its own variables is accepted only if the receiver took both of them.
    keep = (f'or keep the app\'s variables and pass endpoint="{local.endpoint}".\n'
            if token is not None and source is not None else "")
    # Made once the receiver can start, so a refusal leaves no thread behind; no event
    # arrives before it serves, below.
    printer = Background("printing events")
    # Ctrl-C may come while the banner is still being written: it stops the receiver too.
    with local, contextlib.suppress(KeyboardInterrupt):
        print(f"Listening on {local.endpoint}; alerts at {local.endpoint}/\n"
              f"{'Appending events to ' + jsonl if jsonl else 'Events kept in memory'}.\n"
              f"{point}\n"
              f"  export {SOURCE_ENV}={local.webhook_url}\n"
              f"{keep}Ctrl-C to stop.", flush=True)
        while True:
            time.sleep(3600)
    printer.close(1.0)
    return 0


def _port(text: str) -> int:
    """``--port``: refused in one line, not by argparse's usage block nor a traceback."""
    port = int(text) if text.strip().isdigit() else -1
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be a whole number from 0 to 65535, not {text!r}")
    return port


def _cannot_start(reason: str) -> int:
    print(f"receiver: {reason}", file=sys.stderr)
    return _CANNOT_START


def connection_test(token: str | None, source: str | None, endpoint: str | None) -> int:
    """Send the connection test event and print the verdict."""
    verdict = check(api_token=token, alert_source_config_id=source, endpoint=endpoint)
    print(verdict.message, file=sys.stdout if verdict.code == 0 else sys.stderr)
    return verdict.code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m incidentio_logging``."""
    script = os.path.basename(sys.argv[0]) == "incidentio-logging"
    parser = argparse.ArgumentParser(
        prog="incidentio-logging" if script else "python -m incidentio_logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="log a few errors and show the alert events they make")
    serve = commands.add_parser(
        "receiver", help="run the local incident.io receiver",
        description="A local incident.io alert source with a page of what arrived. "
                    "Loopback only. Exits 2 when it cannot start.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="a loopback address: 127.0.0.1, ::1 or localhost "
                            "(default: %(default)s)")
    serve.add_argument("--port", default="8025", help="default: %(default)s")
    serve.add_argument("--jsonl", metavar="FILE",
                       help="also append each event to FILE (default: memory only)")
    serve.add_argument("--token", help=f"accept this token; default: ${TOKEN_ENV}, else a "
                                       "local one that is printed (prefer the variable: "
                                       "arguments show up in process lists)")
    serve.add_argument("--source", help=f"id or webhook URL; default: ${SOURCE_ENV}, else "
                                        f"{DEFAULT_SOURCE}")
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
    return receiver(args.host, args.port, args.jsonl, token=args.token, source=args.source)


if __name__ == "__main__":
    sys.exit(main())
