"""What the package index shows: the README is the project's page there (long_description)."""

from __future__ import annotations

import re

from .harness import ROOT

#: A markdown link or image: `[text](target)` or `![alt](target)`.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def test_the_readme_links_only_to_what_a_package_index_page_can_resolve() -> None:
    """A relative link (docs/receiver.png, BENCHMARKS.md, examples/) is dead on the
    package index's page: the README names such files as text instead."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    relative = [target for target in _LINK.findall(readme)
                if not target.startswith(("https://", "http://", "#"))]
    assert relative == []
    assert "<img" not in readme
