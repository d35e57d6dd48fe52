"""The tests do not import the benchmark harness.

The sdist ships tests/ without benchmarks/, and its tests must still run; what the tests
and the benchmarks share lives in tests/ (``fleet_sim``, ``reliability_scenarios``), and
the harness's own tests live in benchmarks/. Running the harness as a program
(``python -m benchmarks``) is not importing it.
"""

from __future__ import annotations

import ast
import pathlib

TESTS = pathlib.Path(__file__).resolve().parent
#: Calls that import the module named by their first argument.
_IMPORTING_CALLS = frozenset({"import_module", "__import__", "importorskip"})


def _is_harness(module: str) -> bool:
    return module == "benchmarks" or module.startswith("benchmarks.")


def _called(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def harness_imports(source: str) -> list[str]:
    """Where ``source`` imports benchmarks/, as ``line N: how``, by line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {alias.name}") for alias in node.names
                      if _is_harness(alias.name)]
        elif (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
              and _is_harness(node.module)):
            found.append((node.lineno, f"from {node.module} import ..."))
        elif (isinstance(node, ast.Call) and _called(node.func) in _IMPORTING_CALLS
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and _is_harness(node.args[0].value)):
            found.append((node.lineno, f"{_called(node.func)}({node.args[0].value!r})"))
    return [f"line {line}: {how}" for line, how in sorted(found)]


def test_the_check_finds_every_way_of_importing_the_harness() -> None:
    source = '''
"""A docstring may say benchmarks, and a test may run `python -m benchmarks`."""
import importlib
import benchmarks
import os, benchmarks.fleet as fleet
from benchmarks import hardening
from benchmarks.reliability import LIFECYCLE
from .harness import needs_benchmarks
import benchmarks_elsewhere
importlib.import_module("benchmarks.servers")
__import__("benchmarks")
pytest.importorskip("benchmarks.grouping_accuracy")
importlib.import_module("incidentio_logging.testing")
subprocess.run([sys.executable, "-m", "benchmarks", "--quick"])
'''
    assert harness_imports(source) == [
        "line 4: import benchmarks",
        "line 5: import benchmarks.fleet",
        "line 6: from benchmarks import ...",
        "line 7: from benchmarks.reliability import ...",
        "line 10: import_module('benchmarks.servers')",
        "line 11: __import__('benchmarks')",
        "line 12: importorskip('benchmarks.grouping_accuracy')",
    ]


def test_no_test_module_imports_the_benchmark_harness() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert TESTS / "test_reliability.py" in files
    found = {str(path.relative_to(TESTS)): where for path in files
             if (where := harness_imports(path.read_text(encoding="utf-8")))}
    assert found == {}
