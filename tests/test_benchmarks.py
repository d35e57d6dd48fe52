"""The benchmark harness keeps running: its quick mode, as CI runs it. No timings asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .harness import ROOT, needs_benchmarks


@needs_benchmarks
@pytest.mark.timeout(180)
def test_the_harness_runs_in_quick_mode() -> None:
    """`python -m benchmarks --quick` completes and prints every section and our rows."""
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick"], cwd=ROOT,
                            capture_output=True, text=True, timeout=170, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for heading in ("## Caller-thread cost", "## Filtered-out records", "## Worker throughput",
                    "## Memory", "## Grouping accuracy", "## Fleet scale"):
        assert heading in out
    assert "| IncidentIOHandler (defaults) |" in out
    assert "| QueueHandler |" in out
