"""A user's code type-checks against the package, as shipped (py.typed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.timeout(180)
def test_the_user_snippet_passes_mypy_strict() -> None:
    """`IncidentIOHandler(**receiver.handler_options())` failed with 6 arg-type errors
    while handler_options() returned dict[str, str]."""
    snippet = HERE / "typing" / "user_snippet.py"
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(snippet)],
                            cwd=HERE.parent, capture_output=True, text=True, timeout=170,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
