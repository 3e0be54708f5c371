"""The signed-out profile page is kept rendered by the live server: a follow through the API shows on
it as soon as the API counts it, and an unfollow takes it back; a reload revalidates with the ETag."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.browser.support import LiveServer, api, open_page
from tests.e2e.support import PASSWORD

pytestmark = pytest.mark.browser
RECORD = "A5999000123"  # followed by no other browser test


def shown_followers(page) -> int:
    return int(page.locator(".counts li").nth(1).locator("strong").inner_text())


def reload_until(page, followers: int) -> None:
    for _ in range(50):
        page.reload()
        if shown_followers(page) == followers:
            return
        time.sleep(0.1)
    raise AssertionError(f"the page did not show {followers} followers")


def bearer(server: LiveServer, name: str) -> dict[str, str]:
    address = server.confirmed_account(name)
    token = httpx.post(server.base + "/auth/login", json={"email": address, "password": PASSWORD}).json()
    return {"authorization": f"Bearer {token['access_token']}"}


def test_a_follow_through_the_api_shows_on_the_kept_page_and_an_unfollow_takes_it_back(browser, server):
    page, console = open_page(browser, server)
    first = page.goto(f"/r/{RECORD}")
    assert first.headers["etag"] and first.headers["cache-control"] == "no-cache"
    before = shown_followers(page)
    assert before == api(server, f"/researchers/{RECORD}")["followers_count"]
    fan = bearer(server, "Cache Fan")
    assert httpx.put(f"{server.base}/me/following/{RECORD}", headers=fan).status_code == 201
    reload_until(page, before + 1)
    assert api(server, f"/researchers/{RECORD}")["followers_count"] == before + 1
    assert httpx.delete(f"{server.base}/me/following/{RECORD}", headers=fan).status_code == 200
    reload_until(page, before)
    assert console.csp_violations() == []
