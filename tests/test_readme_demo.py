"""The README shows what the demo prints: the same lines, with only what differs between
runs (the port, times, keys, where the package is installed) read as placeholders."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .harness import ROOT

#: What differs from run to run, and what stands for it in the comparison.
_VARIABLE = [
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00"), "<iso time>"),
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "<time>"),
    (re.compile(r"key=[0-9a-f]{16}\.\.\."), "key=<key>..."),
    (re.compile(r'File "[^"]*incidentio_logging([/\\])__main__\.py", line \d+'),
     'File "<path>/__main__.py", line <n>'),
    (re.compile(r"traceback \(\d+ chars\)"), "traceback (<n> chars)"),  # its path's length
]
#: Python 3.11+ marks the failing expression under the traceback's source line; 3.10 not.
_CARETS = re.compile(r"^\s*[~^]+\s*$")


def comparable(text: str) -> list[str]:
    lines = []
    for shown in text.strip("\n").splitlines():
        if _CARETS.match(shown):
            continue
        line = shown
        for pattern, placeholder in _VARIABLE:
            line = pattern.sub(placeholder, line)
        lines.append(line.rstrip())
    return lines


def readme_demo_output() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- demo-output -->\n```text\n(.*?)\n```", readme, re.DOTALL)
    assert block, "README.md has no demo output block"
    return block.group(1)


@pytest.mark.timeout(60)
def test_the_readme_shows_what_the_demo_prints() -> None:
    result = subprocess.run([sys.executable, "-m", "incidentio_logging", "demo"], cwd=ROOT,
                            capture_output=True, text=True, timeout=50, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert comparable(result.stdout) == comparable(readme_demo_output())


def test_the_comparison_sees_a_changed_line() -> None:
    """Only the listed parts are placeholders: a different count or word is a mismatch."""
    shown = readme_demo_output()
    assert comparable(shown.replace("records:  3", "records:  4")) != comparable(shown)
    assert comparable(shown.replace("Flushing", "Sending")) != comparable(shown)
    assert comparable(shown.replace("127.0.0.1:", "127.0.0.1:1")) == comparable(shown)
