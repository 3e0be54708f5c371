"""One live server and one browser for every browser test (each test makes its own accounts); every
HTML page a test's browser is served goes through the Nu Html Checker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.support import HtmlChecker, LiveServer, RecordingProxy, chromium_path, live_server


@pytest.fixture(scope="package")  # one live server for the browser tests; browsers reach it through the proxy
def server() -> Iterator[LiveServer]:
    with live_server() as running:
        running.proxy = RecordingProxy(running.base)
        try:
            yield running
        finally:
            running.proxy.close()


@pytest.fixture(scope="package")  # the browser's event loop ends with these tests: later ones run their own
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")  # one Java process for every check
def html_checker() -> Iterator[HtmlChecker]:
    checker = HtmlChecker()
    yield checker
    checker.close()


@pytest.fixture(autouse=True)
def every_page_is_valid_html(server: LiveServer, html_checker: HtmlChecker) -> Iterator[list[tuple[str, str]]]:
    """Each page a browser test is served, error pages included, as served: the checker finds no error."""
    assert server.proxy is not None
    server.proxy.found = served = []
    yield served
    invalid = {path: errors for path, html in served if (errors := html_checker.errors(html))}
    assert invalid == {}, f"the Nu Html Checker found errors: {invalid}"
