"""The incidentio_receiver fixture, used the way a user's own test suite would."""

from __future__ import annotations

import pytest

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


def test_the_fixture_works_in_a_users_suite(pytester: pytest.Pytester) -> None:
    """Registered by entry point: a plain test file can use it, with no conftest."""
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:logging", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*expected an alert titled like '/checkout/'; received:*",
        "*firing: ERROR other: Something else broke*",
    ])
