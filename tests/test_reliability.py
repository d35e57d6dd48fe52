"""Every row of RELIABILITY.md: a fault, flood or exit, and where each record ended up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .harness import ROOT, needs_benchmarks
from .reliability_scenarios import Result, Scenario, run, scenarios

#: No fault here lasts less than a second: a logging call that waited on it would show.
CALL_BOUND_US = 500_000


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s.name)
def test_scenario(scenario: Scenario) -> None:
    """Every accepted record is delivered exactly once or dropped for the expected reason;
    no logging call touched a socket or waited on the network; close() kept its deadline."""
    result = run(scenario)
    check(result)


def check(result: Result) -> None:
    """The assertions every scenario shares."""
    scenario, stats = result.scenario, result.stats
    assert result.balanced, (stats, result.received, result.duplicates)
    reasons = set(stats["dropped"])
    assert scenario.dropped <= reasons <= scenario.dropped | scenario.may_drop, stats
    assert result.network_calls == []
    assert result.call_max_us < CALL_BOUND_US
    shutdown_timeout = scenario.options.get("shutdown_timeout", 5)
    assert result.exit_seconds <= shutdown_timeout + 0.5
    # Each kind of trouble is said once on stderr, however many records it cost; close()
    # adds one line when it left records undelivered.
    assert result.stderr_lines <= len(reasons) + 1


@pytest.mark.soak
@pytest.mark.timeout(600)
@pytest.mark.parametrize("scenario", [s for s in scenarios(soak=True) if "flood" in s.name],
                         ids=lambda s: s.name)
def test_soak_flood(scenario: Scenario) -> None:
    """The floods at a million calls: `python -m pytest -m soak`."""
    check(run(scenario))


#: Prints the test named by each row of RELIABILITY.md's lifecycle and defect tables.
_LIST_ROW_TESTS = """
import json
from benchmarks.hardening import HARDENING
from benchmarks.reliability import LIFECYCLE
print(json.dumps([test for _, test in LIFECYCLE] + [test for _, _, test in HARDENING]))
"""


@needs_benchmarks
@pytest.mark.timeout(30)
def test_every_lifecycle_row_names_a_real_test() -> None:
    """RELIABILITY.md's second and third tables point at tests that exist."""
    listed = subprocess.run([sys.executable, "-c", _LIST_ROW_TESTS], cwd=ROOT,
                            capture_output=True, text=True, timeout=25, check=False)
    assert listed.returncode == 0, listed.stderr
    tests = json.loads(listed.stdout)
    assert tests
    for test in tests:
        module, name = test.split("::")
        assert f"def {name}(" in (ROOT / "tests" / module).read_text(), test
