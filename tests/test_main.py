"""The command line: the demo is the README's run command, so it must keep working."""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_demo_shows_alert_events() -> None:
    """`python -m incidentio_logging demo` prints the two grouped events and exits 0."""
    result = subprocess.run([sys.executable, "-m", "incidentio_logging", "demo"], cwd=HERE,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("--- alert event: FIRING") == 2
    assert "title:    ERROR shop.payments: Card declined for order A-1001 (+2 more)" in out
    assert "title:    ERROR shop.inventory: Stock lookup failed for sku-9" in out
    assert '"card_token": "[scrubbed]"' in out
    assert "KeyError: 'sku-9'" in out
    assert "All delivered: True" in out
