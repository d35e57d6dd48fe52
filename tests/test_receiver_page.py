"""The receiver's page in a real headless Chromium: live rows, state changes, the
description as markdown, records and tracebacks as text, and log content kept inert."""

from __future__ import annotations

import datetime as dt
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


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium from Debian, with nothing that would reach the network."""
    if not (CHROMIUM and CHROMEDRIVER):
        # CI installs them and sets this, so there the test fails rather than skips.
        if os.environ.get("INCIDENTIO_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required for this test run")
        pytest.skip("needs Debian's chromium and chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
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


def post(receiver: LocalReceiver, event: dict[str, Any]) -> None:
    """Send ``event`` as any client could, and check the receiver took it."""
    reply = requests.post(receiver.webhook_url, timeout=5, json=event,
                          headers={"Authorization": f"Bearer {receiver.api_token}"})
    assert reply.status_code == 202, reply.text


def resolve(receiver: LocalReceiver, key: str) -> None:
    """A resolved event for ``key``, as incident.io would receive it."""
    post(receiver, {"title": "resolved", "status": "resolved", "deduplication_key": key})


def utc(seconds: float) -> str:
    """A time as the page writes it: date and time, UTC."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def open_details(driver: Any, title: str) -> Any:
    """Click the row titled ``title`` and return the details shown under it."""
    from selenium.webdriver.common.by import By

    def row(d: Any) -> Any:
        return next(iter(r for r in d.find_elements(By.CSS_SELECTOR, "tr.alert")
                         if title in r.text), None)

    wait_until(driver, row).click()
    return wait_until(driver, lambda d: row(d).find_elements(
        By.XPATH, "following-sibling::tr[1][@class='details']"))[0]


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
    assert row.find_elements(By.TAG_NAME, "td")[4].text == utc(event.received_at)

    resolve(receiver, event.deduplication_key)
    assert wait_until(browser, lambda d: d.find_element(
        By.CSS_SELECTOR, "tr.alert .state").text == "resolved")
    assert browser.find_elements(By.TAG_NAME, "td")[2].text == "2"  # events: firing, resolved

    browser.find_element(By.CSS_SELECTOR, "tr.alert").click()
    details = wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.details"))[0]
    assert event.deduplication_key in details.text
    assert '"service": "checkout"' in details.find_element(By.CSS_SELECTOR, "pre.metadata").text
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
    assert alert["description"] == receiver.events[0].payload["description"]  # the firing's


def test_the_description_renders_as_markdown_and_tracebacks_as_text(
        browser: Any, receiver: LocalReceiver, make_handler: MakeHandler,
        logger: logging.Logger) -> None:
    """What on-call reads first: bold, code, the message and traceback blocks, line by line."""
    from selenium.webdriver.common.by import By

    handler = make_handler()
    logger.addHandler(handler)
    try:
        {"sku-1": 3}["sku-9"]
    except KeyError:
        logger.exception("Stock lookup failed for %s", "sku-9")
    assert handler.flush(5)
    (event,) = receiver.events
    browser.get(receiver.endpoint + "/")
    details = open_details(browser, "Stock lookup failed")

    description = details.find_element(By.CSS_SELECTOR, ".description")
    assert "ERROR record" in description.find_element(By.TAG_NAME, "strong").text
    assert description.find_element(By.CSS_SELECTOR, "p code").text == logger.name
    message, traceback = description.find_elements(By.CSS_SELECTOR, "pre code")
    assert message.text == "Stock lookup failed for sku-9"
    lines = traceback.text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "KeyError: 'sku-9'"
    assert "```" not in description.text and "**" not in description.text

    record = details.find_element(By.CSS_SELECTOR, ".record")
    assert "ERROR" in record.find_element(By.CSS_SELECTOR, ".headline").text
    shown = record.find_element(By.CSS_SELECTOR, "table.fields pre").get_attribute("textContent")
    assert shown == event.records[0]["exc_info"]  # the text itself, not its JSON string
    assert "\\n" not in details.text
    assert utc(event.received_at) in details.text


HOSTILE = ('<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> '
           '[click](javascript:window.pwned=3) [page](data:text/html,hi) '
           '<a href="javascript:window.pwned=4">a</a> **loud**')


def test_log_content_stays_inert_on_the_page(
        browser: Any, receiver: LocalReceiver, make_handler: MakeHandler,
        logger: logging.Logger) -> None:
    """Markup and script in a message, the title and the description stay text; only
    http(s) links become links, and they open no window back onto the page."""
    from selenium.webdriver.common.by import By

    handler = make_handler(description=(
        "**{level}** from `{logger}`: {message}\n\n## What to do\n"
        "- the runbook: [docs](https://example.com/runbook)\n- [bad](javascript:window.pwned=5)"
        "\n\n```\n{message}\n```"))
    logger.addHandler(handler)
    logger.error(HOSTILE)
    assert handler.flush(5)
    browser.get(receiver.endpoint + "/")
    details = open_details(browser, "<script>window.pwned = 1</script>")

    description = details.find_element(By.CSS_SELECTOR, ".description")
    assert HOSTILE.replace("**loud**", "loud") in description.text
    assert "[click](javascript:window.pwned=3)" in description.text
    assert [e.text for e in description.find_elements(By.TAG_NAME, "strong")] == [
        "ERROR", "loud"]
    assert description.find_element(By.TAG_NAME, "h4").text == "What to do"
    assert len(description.find_elements(By.TAG_NAME, "li")) == 2
    assert description.find_element(By.CSS_SELECTOR, "pre code").text == HOSTILE
    (link,) = browser.find_elements(By.CSS_SELECTOR, "#alerts a")
    assert (link.text, link.get_attribute("href")) == ("docs", "https://example.com/runbook")
    assert set(link.get_attribute("rel").split()) >= {"noopener", "noreferrer"}
    assert HOSTILE in details.find_element(By.CSS_SELECTOR, ".record .headline").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#alerts script, #alerts img")
    assert browser.execute_script("return window.pwned") is None


ODD = [
    {"title": "data is a number", "metadata": {"data": 5}},
    {"title": "data holds numbers", "metadata": {"data": [1, 2]}},
    {"title": "nested values", "metadata": {
        "deep": {"a": [1, {"b": None}]},
        "data": [{"message": {"not": "a string"}, "timestamp": 7, "exc_info": ""}]}},
]


def send_odd_events(receiver: LocalReceiver) -> None:
    for number, event in enumerate(ODD):
        post(receiver, {**event, "status": "firing", "deduplication_key": f"odd-{number}"})


def test_the_page_shows_odd_metadata_values_as_they_came(browser: Any,
                                                         receiver: LocalReceiver) -> None:
    """Each odd event gets its row, and its details show the values it carried."""
    from selenium.webdriver.common.by import By

    send_odd_events(receiver)
    browser.get(receiver.endpoint + "/")
    details = open_details(browser, "data is a number")
    assert details.find_element(By.CSS_SELECTOR, "pre.metadata").text == '{\n  "data": 5\n}'
    details = open_details(browser, "data holds numbers")
    assert [r.text for r in details.find_elements(By.CSS_SELECTOR, ".record")] == ["1", "2"]
    details = open_details(browser, "nested values")
    assert '"b": null' in details.find_element(By.CSS_SELECTOR, "pre.metadata").text
    assert '"not": "a string"' in details.find_element(By.CSS_SELECTOR, ".record").text
