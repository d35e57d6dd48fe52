"""The incidentio_receiver fixture, used the way a user's own test suite would."""

from __future__ import annotations

import logging
import time

import pytest

from incidentio_logging.pytest_plugin import Receiver

pytest_plugins = ["pytester"]

USER_TESTS = '''
import logging

def fail_checkout():
    try:
        {}["total"]
    except KeyError:
        logging.getLogger("shop.views").exception("Internal Server Error: /checkout/")

def test_checkout_alerts_on_failure(incidentio_receiver):
    logging.getLogger("shop").addHandler(incidentio_receiver.handler())
    fail_checkout()
    event = incidentio_receiver.assert_alerted(title="/checkout/", level="ERROR")
    assert "KeyError" in event.records[0]["exc_info"]

def test_quiet_code_does_not_alert(incidentio_receiver):
    logging.getLogger("quiet").addHandler(incidentio_receiver.handler())
    logging.getLogger("quiet").warning("just a warning")
    incidentio_receiver.assert_not_alerted()

def test_a_missing_alert_fails_readably(incidentio_receiver):
    logging.getLogger("other").addHandler(incidentio_receiver.handler())
    logging.getLogger("other").error("Something else broke")
    incidentio_receiver.assert_alerted(title="/checkout/", timeout=0.5)
'''

# Each passes only if assert_alerted waits, reads the level from the metadata and looks
# at every event.
WAITING_TESTS = '''
import logging
import threading

import pytest

def test_a_resolve_is_waited_for(incidentio_receiver):
    log = logging.getLogger("jobs")
    log.addHandler(incidentio_receiver.handler(dedup="fingerprint", resolve_after=0.3))
    log.error("Nightly export failed")
    event = incidentio_receiver.assert_alerted(title="Nightly export", level="ERROR",
                                               status="resolved", timeout=5)
    assert event.status == "resolved"

def test_a_threshold_title_matches_its_level(incidentio_receiver):
    log = logging.getLogger("payments")
    log.addHandler(incidentio_receiver.handler(threshold=2, threshold_window=10))
    log.error("Card declined")
    log.error("Card declined")
    event = incidentio_receiver.assert_alerted(title="Card declined", level="ERROR")
    assert event.title.startswith("[\u22652 in 10s] ERROR payments: ")
    with pytest.raises(pytest.fail.Exception, match="expected a firing alert at CRITICAL"):
        incidentio_receiver.assert_alerted(level="CRITICAL", timeout=0.2)

def test_a_later_event_is_not_missed(incidentio_receiver):
    handler = incidentio_receiver.handler()
    logging.getLogger("first").addHandler(handler)
    logging.getLogger("second").addHandler(handler)
    logging.getLogger("first").error("Unrelated failure")
    incidentio_receiver.wait_for(1)
    threading.Timer(0.3, logging.getLogger("second").error, ["Checkout failed"]).start()
    incidentio_receiver.assert_alerted(title="Checkout failed", timeout=5)

def test_a_missing_resolve_names_the_status(incidentio_receiver):
    logging.getLogger("stays").addHandler(incidentio_receiver.handler())
    logging.getLogger("stays").error("Still broken")
    incidentio_receiver.assert_alerted(status="resolved", timeout=0.5)
'''


def run_as_users_suite(pytester: pytest.Pytester, tests: str, *, passed: int, failed: int,
                       said: list[str]) -> None:
    """Run ``tests`` as a user's test file, in a pytest process of its own that finds the
    plugin by its entry point: so many pass and fail, and the output has lines like
    ``said``, in that order."""
    pytester.makepyfile(test_user=tests)
    result = pytester.runpytest_subprocess("-p", "no:logging", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=passed, failed=failed)
    result.stdout.fnmatch_lines(said)


def test_the_fixture_works_in_a_users_suite(pytester: pytest.Pytester) -> None:
    """Registered by entry point: a plain test file can use it, with no conftest."""
    run_as_users_suite(pytester, USER_TESTS, passed=2, failed=1, said=[
        "*expected a firing alert titled like '/checkout/'; received within 0.5s:*",
        "*firing: ERROR other: Something else broke*",
    ])


def test_assert_alerted_waits_for_any_matching_event(pytester: pytest.Pytester) -> None:
    """Resolves and later events are waited for; a threshold title matches on its level."""
    run_as_users_suite(pytester, WAITING_TESTS, passed=3, failed=1, said=[
        "*expected a resolved alert; received within 0.5s:*",
        "*firing: ERROR stays: Still broken*",
    ])


@pytest.mark.timeout(30)
def test_assert_alerted_keeps_its_timeout_when_the_receiver_is_slow(
        incidentio_receiver: Receiver, logger: logging.Logger) -> None:
    """``assert_alerted(timeout=0.2)`` first flushed each of the fixture's handlers for up
    to 5 s, outside its timeout: with a held receiver it took 5.2 s (5 s more per
    handler) and then said "none arrived within 0.2s". The flushes share the timeout
    now. (The 3 s bound below is far from both 0.2 s and 5 s.)"""
    logger.addHandler(incidentio_receiver.handler())
    logger.addHandler(incidentio_receiver.handler())
    incidentio_receiver.local.hold()
    logger.error("stuck in flight")
    incidentio_receiver.local.wait_in_flight(2, 5)
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"none arrived within 0\.2s"):
        incidentio_receiver.assert_alerted(timeout=0.2)
    assert time.monotonic() - started < 3


def test_assert_alerted_checks_its_status_and_ignores_the_levels_case(
        incidentio_receiver: Receiver, logger: logging.Logger) -> None:
    """A status typo (``"fired"``) waited out the timeout and failed as "no alert";
    ``level="error"`` never matched the handler's ``ERROR``."""
    with pytest.raises(ValueError, match="status must be 'firing' or 'resolved'"):
        incidentio_receiver.assert_alerted(status="fired")
    logger.addHandler(incidentio_receiver.handler())
    logger.error("disk full")
    assert incidentio_receiver.assert_alerted(title="disk full", level="error").status == "firing"
