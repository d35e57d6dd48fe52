"""The public API: what the README's "Public API" section names is what ``__all__`` says.

A public module is any module of the package whose path has no part starting with an
underscore (``_config``, ``contrib/_summary``, ``__main__`` are internal). Each declares
``__all__``, and each one that exports anything has its line in the README.
"""

from __future__ import annotations

import importlib
import pathlib
import re
from types import ModuleType

import pytest

import incidentio_logging

from .harness import ROOT

PACKAGE = pathlib.Path(incidentio_logging.__file__).parent
_LINE = re.compile(r"^- `(incidentio_logging(?:\.\w+)*)`: (.+)$")


def readme_api(text: str) -> dict[str, list[str]]:
    """Module name to the names its line in the "Public API" section lists, in order."""
    section = re.search(r"^## Public API\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert section, 'README.md has no "## Public API" section'
    api: dict[str, list[str]] = {}
    for line in section.group(1).splitlines():
        match = _LINE.match(line)
        if match:
            assert match.group(1) not in api, f"{match.group(1)} is listed twice"
            api[match.group(1)] = re.findall(r"`(\w+)`", match.group(2))
    return api


def public_modules() -> list[str]:
    """Every public module of the installed package, by its dotted name."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(("incidentio_logging", *parts)))
    return names


def exported(name: str) -> list[str]:
    module: ModuleType = importlib.import_module(name)
    assert "__all__" in vars(module), f"{name} declares no __all__"
    return list(module.__all__)


README_API = readme_api((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_section_parses_as_one_line_per_module() -> None:
    """Guards the other tests against a section they would read as empty."""
    sample = ("## Public API\n\nProse.\n\n- `incidentio_logging.rule`: `MAX_REGEX_TEXT`\n"
              "- `incidentio_logging.pytest_plugin`: `incidentio_receiver` (the fixture)\n\n"
              "## Next\n- `incidentio_logging.testing`: `Scripted`\n")
    assert readme_api(sample) == {"incidentio_logging.rule": ["MAX_REGEX_TEXT"],
                                  "incidentio_logging.pytest_plugin": ["incidentio_receiver"]}
    assert "incidentio_logging" in README_API
    assert "incidentio_logging.contrib.asgi" in README_API


def test_the_public_modules_are_found() -> None:
    modules = public_modules()
    assert {"incidentio_logging", "incidentio_logging.testing",
            "incidentio_logging.contrib", "incidentio_logging.contrib.django"} <= set(modules)
    assert not [m for m in modules if "._" in m]


@pytest.mark.parametrize("module", sorted(README_API))
def test_every_name_the_readme_lists_is_importable(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in README_API[module] if not hasattr(imported, name)]
    assert not missing, f"{module} has no {missing}"


@pytest.mark.parametrize("module", public_modules())
def test_every_public_module_declares_all_with_public_names(module: str) -> None:
    names = exported(module)
    assert len(names) == len(set(names)), names
    imported = importlib.import_module(module)
    assert [name for name in names if not hasattr(imported, name)] == []
    # A dunder such as __version__ is public; a single leading underscore is not.
    private = [n for n in names if n.startswith("_") and not (n.startswith("__") and
                                                              n.endswith("__"))]
    assert private == [], f"{module}.__all__ names private {private}"


@pytest.mark.parametrize("module", public_modules())
def test_the_readme_lists_what_each_module_exports(module: str) -> None:
    """Sets compare: the README may order names by importance, ``__all__`` sorts them."""
    names = exported(module)
    if not names:  # a package whose modules are the API (contrib) needs no line
        assert module not in README_API, f"{module} exports nothing yet has a README line"
        return
    assert module in README_API, f"README's Public API section has no line for {module}"
    assert sorted(README_API[module]) == sorted(names)


def test_the_readme_lists_no_module_that_is_not_public() -> None:
    assert set(README_API) <= set(public_modules())
