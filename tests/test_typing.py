"""A user's code type-checks against the package as `mypy --strict` sees it from outside
(py.typed; the installed package, or this tree when it is first on the path): the
receiver's handler_options(), and stats() with its keys and their types."""

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


def _mypy(tmp_path: Path, **files: str) -> tuple[int, list[str]]:
    """`mypy --strict` over ``files``, finding incidentio_logging where this test does:
    its exit status and its error lines."""
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    package_parent = str(Path(incidentio_logging.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": package_parent}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir", os.devnull, *(f"{name}.py" for name in files)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=170, check=False)
    assert "error: Cannot find implementation" not in result.stdout, result.stdout
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    return result.returncode, errors + result.stderr.splitlines()


@pytest.mark.timeout(180)
def test_the_user_snippet_passes_mypy_strict(tmp_path: Path) -> None:
    """`IncidentIOHandler(**receiver.handler_options())` failed with 6 arg-type errors
    while handler_options() returned dict[str, str]."""
    snippet = (Path(__file__).parent / "typing" / "user_snippet.py").read_text()
    status, errors = _mypy(tmp_path, user_snippet=snippet)
    assert status == 0, errors


@pytest.mark.timeout(180)
def test_stats_type_checks_in_user_code_and_catches_key_typos(tmp_path: Path) -> None:
    _, errors = _mypy(tmp_path, user_code=USER_CODE, user_mistakes=USER_MISTAKES)
    assert not [e for e in errors if e.startswith("user_code.py")], errors
    expected = {n + 1: re.search(r"# error: (\S+)", line).group(1)  # type: ignore[union-attr]
                for n, line in enumerate(textwrap.dedent(USER_MISTAKES).splitlines())
                if "# error:" in line}
    found = {int(e.split(":")[1]): e for e in errors if e.startswith("user_mistakes.py")}
    assert set(found) == set(expected), errors
    for line, code in expected.items():
        assert found[line].endswith(f"[{code}]"), found[line]
