"""What the package index shows: the README is the project's page there (long_description)."""

from __future__ import annotations

import logging
import re

import pytest

import incidentio_logging
from incidentio_logging import HandlerStats, IncidentIOHandler

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


def _readme() -> str:
    return " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())


def test_the_stats_docstring_names_every_counter() -> None:
    """``help(handler.stats)`` left out ``refreshes_forgotten``."""
    doc = " ".join((IncidentIOHandler.stats.__doc__ or "").split()).lower()
    missing = [key for key in HandlerStats.__annotations__
               if key != "dropped" and key.split("_")[0][:6] not in doc]
    assert not missing, f"stats() docstring does not mention {missing}"


def test_flush_all_and_the_readme_agree_on_celery_pools() -> None:
    """flush_all's docstring listed "a Celery task in a forked pool" among the processes
    killed without exit, while the README says a Celery pool needs no per-task flush
    unless its children may be SIGKILLed."""
    doc = " ".join((incidentio_logging.flush_all.__doc__ or "").split())
    assert "Celery" not in doc, doc
    readme = _readme()
    assert "A Celery pool whose children may be SIGKILLed is the exception" in readme


def test_the_readme_names_the_logger_flask_really_uses() -> None:
    """README "Web apps and task queues" said Flask logs its unhandled exceptions on
    `flask.app`; it logs them on the app's own logger, named after the app."""
    flask = pytest.importorskip("flask")
    app = flask.Flask("shop")

    @app.route("/checkout")
    def checkout() -> str:
        raise KeyError("A-1")

    names: list[str] = []

    class Names(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            names.append(record.name)

    root = logging.getLogger()
    kept = Names(logging.ERROR)
    root.addHandler(kept)
    try:
        assert app.test_client().get("/checkout").status_code == 500
    finally:
        root.removeHandler(kept)
    assert names == ["shop"]
    readme = _readme()
    assert "`flask.app`" not in readme
    assert "the Flask app's own logger (named after the app)" in readme


def test_the_readme_lists_the_examples_there_are() -> None:
    """The Celery section's list of runnable examples left out alert_lifecycle.py and
    uvicorn_logging.json; every file in examples/ is named, and only those."""
    examples = {path.name + ("/" if path.is_dir() else "")
                for path in (ROOT / "examples").iterdir()
                if not path.name.startswith((".", "__"))}
    listed = re.search(r"Runnable examples are in `examples/`[^:]*:(.*?); there is none "
                       "for Celery", _readme())
    assert listed is not None
    assert set(re.findall(r"`([^`]+)`", listed.group(1))) == examples
