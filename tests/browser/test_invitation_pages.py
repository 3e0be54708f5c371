"""Direct collaboration in the browser: two verified researchers; one invites from the other's profile,
the other accepts from the inbox, and they exchange messages, with and without JavaScript."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.browser.support import LiveServer, api, axe_serious, open_page
from tests.e2e.support import PASSWORD

pytestmark = pytest.mark.browser


def verified_owner(server: LiveServer, name: str, record: str) -> str:
    """A confirmed account that claimed `record` through the API and a moderator approved at L2."""
    address = server.confirmed_account(name)
    token = httpx.post(server.base + "/auth/login", json={"email": address, "password": PASSWORD}).json()
    claimed = httpx.post(f"{server.base}/researchers/{record}/claims",
                         headers={"authorization": f"Bearer {token['access_token']}"},
                         json={"evidence": [{"kind": "statement", "text": "It is me.", "links": []}]})
    assert claimed.status_code == 201, claimed.text
    server.approve_claim(claimed.json()["id"])
    for _ in range(100):
        if api(server, f"/researchers/{record}")["claim_status"] == "claimed":
            return address
        time.sleep(0.1)
    raise AssertionError(f"{record} was not claimed")


def sign_in(page, address: str) -> None:
    page.goto("/p/login")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize(("javascript", "records"), [(True, ("A5999000101", "A5999000102")),
                                                     (False, ("A5999000103", "A5999000104"))],
                         ids=["with-js", "without-js"])
def test_invite_accept_and_exchange_messages(browser, server, javascript, records):
    suffix = "Js" if javascript else "Nojs"
    sender = verified_owner(server, f"Sender {suffix}", records[0])
    recipient = verified_owner(server, f"Recipient {suffix}", records[1])
    one, one_console = open_page(browser, server, javascript=javascript)
    other, other_console = open_page(browser, server, javascript=javascript)

    sign_in(one, sender)
    one.goto(f"/r/{records[1]}")
    assert not javascript or axe_serious(one) == []
    one.get_by_label("Message").fill("Your work on multimodal models fits mine: shall we talk?")
    one.get_by_label("Topic (optional)").select_option(index=1)
    one.get_by_role("button", name="Send the invitation").click()
    assert "/p/invitations/" in one.url
    assert one.locator("p.status").inner_text() == "Waiting for an answer"
    assert not javascript or axe_serious(one) == []

    sign_in(other, recipient)
    other.locator("header.site").get_by_role("link", name="Invitations").click()
    assert "1 invitation waiting for your answer" in other.locator("main").inner_text()
    assert not javascript or axe_serious(other) == []
    other.get_by_role("link", name=f"From Sender {suffix}").click()
    assert "shall we talk?" in other.locator("blockquote").inner_text()
    other.get_by_role("button", name="Accept").click()
    assert "/p/conversations/" in other.url
    assert other.locator("h1").inner_text() == f"Conversation with Sender {suffix}"
    other.get_by_label("Message").fill("Gladly. Next week?")
    other.get_by_role("button", name="Send").click()
    assert other.locator(".messages li.mine .text").last.inner_text() == "Gladly. Next week?"
    assert not javascript or axe_serious(other) == []

    one.goto("/p/invitations?box=sent")
    assert "1 unread message" in one.locator("main").inner_text()
    one.get_by_role("link", name="Open the conversation").click()
    assert one.locator(".messages li.theirs .text").inner_text() == "Gladly. Next week?"
    one.get_by_label("Message").fill("Tuesday at ten.")
    one.get_by_role("button", name="Send").click()
    assert one.locator(".messages li.mine .text").inner_text() == "Tuesday at ten."
    if javascript:  # htmx swapped the messages in place: the address stayed as it was
        assert not one.url.endswith("#messages")
    other.reload()
    assert other.locator(".messages .text").all_inner_texts() == ["Gladly. Next week?", "Tuesday at ten."]
    assert one_console.csp_violations() == [] and other_console.csp_violations() == []
