"""Where the benchmark harness is, for the tests that check it.

The harness (benchmarks/) lives in the repository but not in the sdist, whose tests must
still collect and run: a test that needs it is skipped there, saying why.
"""

from __future__ import annotations

import pathlib

import pytest

#: The repository's root, or the unpacked sdist's: where `python -m benchmarks` runs.
ROOT = pathlib.Path(__file__).resolve().parent.parent

HAS_BENCHMARKS = (ROOT / "benchmarks" / "__init__.py").is_file()
NO_BENCHMARKS = "benchmarks/ is not in this tree (the sdist leaves the harness out)"
needs_benchmarks = pytest.mark.skipif(not HAS_BENCHMARKS, reason=NO_BENCHMARKS)
