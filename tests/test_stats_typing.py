"""`stats()` type-checks in user code: its keys and their types, as `mypy --strict` sees them
from outside the package (the installed one, or this tree when it is first on the path)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import incidentio_logging

pytest.importorskip("mypy", reason="mypy is in the dev extra")

#: How an application reads the counters: the keys exist and have these types.
USER_CODE = """
from incidentio_logging import HandlerStats, IncidentIOHandler


def summary(handler: IncidentIOHandler) -> str:
    stats: HandlerStats = handler.stats()
    delivered: int = stats["records_delivered"]
    pending: int = stats["records_pending"]
    dropped: dict[str, int] = stats["dropped"]
    queue_full: int = stats["dropped"].get("queue_full", 0)
    resolves: int = handler.stats()["resolves_skipped"]
    return f"{delivered} delivered, {pending} pending, {dropped}, {queue_full}, {resolves}"
"""

#: Mistakes the types must catch, one per line: a misspelt key, a wrong value type, a
#: reason's count read as text.
USER_MISTAKES = """
from incidentio_logging import IncidentIOHandler


def mistakes(handler: IncidentIOHandler) -> None:
    stats = handler.stats()
    typo = stats["records_delivred"]  # error: typeddict-item
    pending: str = stats["records_pending"]  # error: assignment
    reason: str = stats["dropped"]["queue_full"]  # error: assignment
    print(typo, pending, reason)
"""


def _mypy(tmp_path: Path, **files: str) -> list[str]:
    """`mypy --strict` over ``files``, finding incidentio_logging where this test does."""
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    package_parent = str(Path(incidentio_logging.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": package_parent}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir", os.devnull, *(f"{name}.py" for name in files)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=170, check=False)
    assert "error: Cannot find implementation" not in result.stdout, result.stdout
    return [line for line in result.stdout.splitlines() if ": error:" in line]


@pytest.mark.timeout(180)
def test_stats_type_checks_in_user_code_and_catches_key_typos(tmp_path: Path) -> None:
    errors = _mypy(tmp_path, user_code=USER_CODE, user_mistakes=USER_MISTAKES)
    assert not [e for e in errors if e.startswith("user_code.py")], errors
    expected = {n + 1: re.search(r"# error: (\S+)", line).group(1)  # type: ignore[union-attr]
                for n, line in enumerate(textwrap.dedent(USER_MISTAKES).splitlines())
                if "# error:" in line}
    found = {int(e.split(":")[1]): e for e in errors if e.startswith("user_mistakes.py")}
    assert set(found) == set(expected), errors
    for line, code in expected.items():
        assert found[line].endswith(f"[{code}]"), found[line]
