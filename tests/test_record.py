"""The caller-side snapshot: cheap, frozen at the call, and never touching the record."""

from __future__ import annotations

import logging

from incidentio_logging._record import (
    CUT_MARKER,
    MAX_MESSAGE_CHARS,
    capture,
    restore,
    safe_repr,
)

from .conftest import exc_info_of


def make(msg: object, *args: object, **extra: object) -> logging.LogRecord:
    return logging.getLogger("shop").makeRecord(
        "shop", logging.ERROR, "f.py", 1, msg, args or None, exc_info_of(RuntimeError("boom")),
        extra=extra)


def test_capture_does_not_mutate_the_record() -> None:
    """No attribute is added or changed: no message, no exc_text, same extras."""
    record = make("order %s failed", "A-1", order={"id": "A-1"})
    before = dict(record.__dict__)
    capture(record)
    assert record.__dict__ == before
    assert "message" not in record.__dict__
    assert record.exc_text is None


def test_the_message_and_top_level_extras_are_frozen_at_the_call() -> None:
    """Changing the args or rebinding an extra afterwards does not change the snapshot."""
    items = ["a"]
    record = make("items %s", items, user="alice")
    data = capture(record)
    items.append("b")
    record.user = "bob"
    restored = restore(data)
    assert restored.getMessage() == "items ['a']"
    assert restored.user == "alice"  # type: ignore[attr-defined]


def test_the_traceback_is_kept_by_reference_not_formatted() -> None:
    """exc_info travels as the live tuple; formatting is left for the worker."""
    record = make("failed")
    data = capture(record)
    assert data["exc_info"] is record.exc_info
    assert data.get("exc_text") is None


def test_a_broken_format_call_becomes_a_readable_message() -> None:
    """Wrong args do not raise; the message says what happened."""
    data = capture(make("needs two %s %s", "one"))
    assert "needs two %s %s" in data["message"]
    assert "could not be formatted: TypeError" in data["message"]


def test_a_message_object_whose_str_raises_is_survived() -> None:
    """A non-string msg with a hostile __str__ and __repr__ still yields a message."""

    class Hostile:
        def __str__(self) -> str:
            raise ValueError("no str")

        def __repr__(self) -> str:
            raise ValueError("no repr")

    data = capture(make(Hostile()))
    assert "unrepresentable Hostile" in data["message"]


def test_safe_repr_bounds_its_output() -> None:
    """Long reprs are cut."""
    assert len(safe_repr("x" * 10_000, 50)) == 53


def test_an_oversized_message_is_cut_at_capture_with_a_marker() -> None:
    """A 1 MB message keeps its first MAX_MESSAGE_CHARS characters and ends with the
    fixed marker; the huge msg and args are let go, only the cut copy stays."""
    huge = "y" * 1_000_000
    data = capture(make(huge))
    assert data["message"] == huge[:MAX_MESSAGE_CHARS] + CUT_MARKER
    assert data["msg"] is data["message"]
    data = capture(make("payload %s", huge))
    assert data["message"].endswith(CUT_MARKER) and len(data["message"]) < 70_000
    assert (data["msg"], data["args"]) == ("payload %s", None)  # still groups by template


def test_a_normal_message_is_left_whole() -> None:
    """Under the limit nothing changes, not even the marker."""
    data = capture(make("order %s failed", "A-1"))
    assert data["message"] == "order A-1 failed" and data["args"] == ("A-1",)
