"""What the handler writes for people counts in words: "1 record", never "record(s)"."""

from __future__ import annotations

from incidentio_logging._wording import count_of, were
from incidentio_logging._worker import close_summary


def test_a_count_of_one_is_singular_and_any_other_plural() -> None:
    assert [count_of(n, "record") for n in (0, 1, 2)] == ["0 records", "1 record", "2 records"]
    assert count_of(1, "retry", "retries") == "1 retry"
    assert count_of(3, "retry", "retries") == "3 retries"
    assert [were(n) for n in (0, 1, 2)] == ["were", "was", "were"]


def test_closes_line_agrees_with_its_counts() -> None:
    one = close_summary({"shutdown_timeout": 1}, events_failed=1, unresolved=1)
    assert one.startswith("close() left 1 record undelivered (1 alert event failed): ")
    assert "; 1 alert not resolved" in one
    many = close_summary({"shutdown_timeout": 2, "closed": 1}, events_failed=2, unresolved=2)
    assert many.startswith("close() left 3 records undelivered (2 alert events failed): ")
    assert "; 2 alerts not resolved" in many
    assert "(s)" not in one + many
