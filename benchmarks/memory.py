"""Peak RSS while a burst of error records is logged; run in a fresh process per case.

    python -m benchmarks.memory --handler ours --records 1000000 --threads 4 \
        --token T --url http://127.0.0.1:PORT/v2/alert_events/http/ID
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported when a case runs: it would count in the RSS
    from .servers import Servers


def status_mib(field: str) -> float:
    """A size from /proc/self/status: VmRSS now, or VmHWM, the peak.

    Not getrusage's ru_maxrss: Linux carries it over fork and exec, so a child started by
    a larger parent reports the parent's peak.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    """Log the burst and print one JSON line of figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--handler", choices=("ours", "null"), required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--token", default="")
    parser.add_argument("--url", default="")
    args = parser.parse_args(argv)

    from incidentio_logging import IncidentIOHandler

    handler: logging.Handler
    if args.handler == "ours":
        handler = IncidentIOHandler(api_token=args.token, alert_source_config_id=args.url)
    else:
        handler = logging.NullHandler()
    log = logging.getLogger("bench.memory")
    log.handlers[:] = [handler]
    log.propagate = False
    before = status_mib("VmRSS")
    per_thread = args.records // args.threads

    def burst() -> None:
        for i in range(per_thread):
            log.error("order %d failed", i, extra={"order_id": i, "amount": 42.5})

    started = time.perf_counter()
    threads = [threading.Thread(target=burst) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    figures: dict[str, object] = {
        "rss_before_mib": round(before, 1),
        "peak_rss_mib": round(status_mib("VmHWM"), 1),
        "calls_per_second": round(per_thread * args.threads / seconds),
    }
    if isinstance(handler, IncidentIOHandler):
        handler.flush(30)
        stats = handler.stats()
        figures.update(delivered=stats["records_delivered"], dropped=stats["dropped"],
                       events=stats["events_sent"])
        handler.close()
    print(json.dumps(figures))
    return 0


def section(servers: Servers, records: int) -> Iterator[str]:
    """The markdown section: each case run in a fresh process by :func:`main`."""
    yield f"## Memory: {records:,} `logger.error` calls in a burst"
    yield ""
    # Here, not at the top: a case would count the import in its RSS.
    from incidentio_logging._config import OPTIONS

    default = {option.name: option.default for option in OPTIONS}
    yield ("Each case in a fresh process; peak RSS is the process's `VmHWM`. Ours runs "
           f"with its defaults (`queue_size={default['queue_size']}`, "
           f"`max_batch_size={default['max_batch_size']}`).")
    yield ""
    yield "| handler | threads | RSS before | peak RSS | calls/s | delivered | dropped |"
    yield "|---|---|---|---|---|---|---|"
    for handler, threads in (("null", 1), ("ours", 1), ("ours", 4)):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", "--handler", handler,
             "--records", str(records), "--threads", str(threads), "--token", servers.token,
             "--url", servers.webhook_url],
            capture_output=True, text=True, check=True, timeout=600).stdout
        row = json.loads(out.splitlines()[-1])
        name = "NullHandler" if handler == "null" else "IncidentIOHandler"
        yield (f"| {name} | {threads} | {row['rss_before_mib']} MiB | {row['peak_rss_mib']} MiB "
               f"| {row['calls_per_second']:,} | {row.get('delivered', '-')} "
               f"| {row.get('dropped', '-')} |")
    yield ""


if __name__ == "__main__":
    sys.exit(main())
