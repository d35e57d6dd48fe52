"""Counts in words, for what the handler writes for people: ``1 record``, ``3 records``."""

from __future__ import annotations


def count_of(count: int, noun: str, plural: str = "") -> str:
    """``count`` and ``noun``, plural unless the count is one; ``plural`` where adding an
    s would be wrong (``retry``, ``retries``)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def were(count: int) -> str:
    """The past of *to be* that agrees with ``count`` things."""
    return "was" if count == 1 else "were"
