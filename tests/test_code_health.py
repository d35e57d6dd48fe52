"""Code health: the delivery code stays simple enough to read a function at a time.

Delivery decides when and why an event is given up; it once grew one function of
cyclomatic complexity 19 that decided it in three places. radon measures the delivery,
the send schedule and the dispatcher that drives them here, so the next branch added
shows up as a failing test, not in review.
"""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_visit

import incidentio_logging

#: The most branches, as radon counts them, one function may have.
MAX_COMPLEXITY = 10
#: The modules held to it.
CHECKED = ("_delivery.py", "_schedule.py", "_dispatch.py")


def test_no_function_in_the_delivery_code_is_too_complex() -> None:
    """Every function and method in the checked modules is at most MAX_COMPLEXITY."""
    package = Path(incidentio_logging.__file__).parent
    too_complex = []
    for name in CHECKED:
        source = (package / name).read_text(encoding="utf-8")
        blocks = cc_visit(source)
        assert blocks, f"radon found no code in {name}"
        too_complex += [f"{name}: {block.fullname} has complexity {block.complexity}"
                        for block in blocks if block.complexity > MAX_COMPLEXITY]
    assert too_complex == []
