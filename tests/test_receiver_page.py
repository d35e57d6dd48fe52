"""The receiver's page in a real headless Chromium: live rows, state changes, records."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from incidentio_logging.testing import LocalReceiver

from .conftest import MakeHandler

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    # CI installs them and sets this, so there the test fails rather than skips.
    if os.environ.get("INCIDENTIO_REQUIRE_BROWSER"):
        raise RuntimeError("chromium and chromedriver are required for this test run")
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium from Debian, with nothing that would reach the network."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1200,800",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, condition: Any, timeout: float = 10) -> Any:
    """Poll ``condition``; an element that the page re-rendered under it is looked up again."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException)).until(condition)


def resolve(receiver: LocalReceiver, key: str) -> None:
    """A resolved event for ``key``, as incident.io would receive it."""
    reply = requests.post(receiver.webhook_url, timeout=5, json={
        "title": "resolved", "status": "resolved", "deduplication_key": key},
        headers={"Authorization": f"Bearer {receiver.api_token}"})
    assert reply.status_code == 202


def test_the_page_shows_alerts_live_and_expands_their_records(
        browser: Any, receiver: LocalReceiver, make_handler: MakeHandler,
        logger: logging.Logger, tmp_path: Path) -> None:
    """Firing appears without a reload, turns resolved, and a click shows the records."""
    from selenium.webdriver.common.by import By

    browser.get(receiver.endpoint + "/")
    assert wait_until(browser, lambda d: "No alerts yet" in d.page_source)
    handler = make_handler(dedup="fingerprint", metadata="service=checkout")
    logger.addHandler(handler)
    logger.error("Card declined for order %s", "A-1001", extra={"order_id": "A-1001"})
    logger.error("Card declined for order %s", "A-1002", extra={"order_id": "A-1002"})
    assert handler.flush(5)
    (event,) = receiver.events

    row = wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.alert"))[0]
    assert "Card declined for order A-1001 (+1 more)" in row.text
    assert row.find_element(By.CSS_SELECTOR, ".state").text == "firing"
    assert row.find_elements(By.TAG_NAME, "td")[3].text == "2"  # records

    resolve(receiver, event.deduplication_key)
    assert wait_until(browser, lambda d: d.find_element(
        By.CSS_SELECTOR, "tr.alert .state").text == "resolved")
    assert browser.find_elements(By.TAG_NAME, "td")[2].text == "2"  # events: firing, resolved

    browser.find_element(By.CSS_SELECTOR, "tr.alert").click()
    details = wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.details"))[0]
    assert event.deduplication_key in details.text
    assert '"service": "checkout"' in details.text
    browser.save_screenshot(str(tmp_path / "receiver.png"))
    assert (tmp_path / "receiver.png").stat().st_size > 0


def test_the_alerts_api_groups_by_key(receiver: LocalReceiver, make_handler: MakeHandler,
                                      logger: logging.Logger) -> None:
    """/api/alerts: one entry per key, with its latest state and counts."""
    handler = make_handler(dedup="fingerprint")
    logger.addHandler(handler)
    logger.error("disk full")
    assert handler.flush(5)
    key = receiver.events[0].deduplication_key
    resolve(receiver, key)
    (alert,) = requests.get(receiver.endpoint + "/api/alerts", timeout=5).json()
    assert (alert["key"], alert["status"], alert["events"], alert["records"]) == (
        key, "resolved", 2, 1)
