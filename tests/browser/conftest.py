"""One live server and one browser for every browser test (each test makes its own accounts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.support import LiveServer, chromium_path, live_server


@pytest.fixture(scope="package")  # one live server for the browser tests
def server() -> Iterator[LiveServer]:
    with live_server() as running:
        yield running


@pytest.fixture(scope="package")  # the browser's event loop ends with these tests: later ones run their own
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield chromium
        chromium.close()
