"""Claiming in the browser: "Log in to claim" on a profile, a statement with links, my claims with the
status and next step; a moderator approves; the profile then shows the owner and "Verification L2"."""

from __future__ import annotations

import time

import pytest

from tests.browser.support import api, axe_serious, open_page
from tests.e2e.support import PASSWORD

pytestmark = pytest.mark.browser


def wait_for_claim_status(server, record: str, status: str) -> None:
    for _ in range(100):
        if api(server, f"/researchers/{record}")["claim_status"] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{record} is not {status}")


@pytest.mark.parametrize(("javascript", "record"), [(True, "A5999000105"), (False, "A5999000106")],
                         ids=["with-js", "without-js"])
def test_claim_with_a_statement_then_a_moderator_approves_and_the_profile_shows_the_owner(
        browser, server, javascript, record):
    name = f"Claimant {'Js' if javascript else 'Nojs'}"
    address = server.confirmed_account(name)
    page, console = open_page(browser, server, javascript=javascript)
    page.goto(f"/r/{record}")
    page.get_by_role("link", name="Log in to claim").click()
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith(f"/r/{record}/claim")
    assert page.get_by_role("checkbox").count() == 0  # ORCID is not configured on this server: not offered
    assert not javascript or axe_serious(page) == []
    page.get_by_role("button", name="Send the claim").click()
    assert "Give at least one piece of evidence" in page.get_by_role("alert").inner_text()
    page.get_by_label("Statement").fill("This is my author record: the papers are mine.")
    page.get_by_label("Links, one a line").fill("https://example.org/~me\nhttps://example.org/cv.pdf")
    page.get_by_role("button", name="Send the claim").click()
    assert "/p/claims/" in page.url
    claim_id = page.url.rsplit("/", 1)[1]
    assert page.locator("p.status").inner_text() == "Waiting for a moderator"
    assert not javascript or axe_serious(page) == []
    page.locator("header.site").get_by_role("link", name="My claims").click()
    assert "Waiting for a moderator" in page.locator("main").inner_text()
    assert not javascript or axe_serious(page) == []

    server.approve_claim(claim_id)
    wait_for_claim_status(server, record, "claimed")
    page.reload()
    assert "Approved" in page.locator("main").inner_text()
    assert "You own this record, verified at L2." in page.locator("main").inner_text()
    page.goto(f"/r/{record}")
    quick = page.locator(".quick li").all_inner_texts()
    assert quick[1:] == ["Verification L2", f"Claimed by {name}"]
    assert quick[0] == api(server, f"/researchers/{record}/trust")["label"]
    assert "You own this record, verified at L2." in page.locator("main").inner_text()
    assert console.csp_violations() == []
