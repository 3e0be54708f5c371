"""Moderation, notifications, settings and erasure in the browser: a moderator approves a claim in the
moderation page and the profile shows the owner, level and trust; a question and its answer; a 403 for
everyone else; notifications with the unread count; the invitation policy on the profile as the API
says it; reporting; erasure with its confirmation step. Each new page is checked with axe-core."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page

from api.pages.forms import readable
from tests.browser.support import LiveServer, api, axe_serious, open_page
from tests.browser.test_claim_pages import wait_for_claim_status
from tests.browser.test_invitation_pages import sign_in, verified_owner
from tests.e2e.support import PASSWORD

pytestmark = pytest.mark.browser


def moderator(server: LiveServer, name: str) -> str:
    address = server.confirmed_account(name)
    server.grant_role(address, "moderator")
    return address


def bearer(server: LiveServer, address: str) -> dict[str, str]:
    tokens = httpx.post(server.base + "/auth/login", json={"email": address, "password": PASSWORD}).json()
    return {"authorization": f"Bearer {tokens['access_token']}"}


def unread_in_header(page: Page) -> int:
    found = re.search(r"\d+", page.locator("#notifications-link").text_content())
    return int(found.group()) if found else 0


def wait_for_unread(page: Page, count: int) -> None:
    """Notifications are made from the logs a moment after the event: reload until they are there."""
    for _ in range(100):
        if unread_in_header(page) >= count:
            return
        time.sleep(0.1)
        page.reload()
    raise AssertionError(f"fewer than {count} unread notifications")


def claim_with_a_statement(page: Page, record: str) -> str:
    page.goto(f"/r/{record}/claim")
    page.get_by_label("Statement").fill("These papers are mine: see my university page.")
    page.get_by_label("Links, one a line").fill("https://example.org/~me")
    page.get_by_role("button", name="Send the claim").click()
    assert "/p/claims/" in page.url
    return page.url.rsplit("/", 1)[1]


@pytest.mark.parametrize(("javascript", "record"), [(True, "A5999000107"), (False, "A5999000108")],
                         ids=["with-js", "without-js"])
def test_a_moderator_approves_in_the_moderation_page_and_the_profile_shows_owner_level_and_trust(
        browser, server, javascript, record):
    suffix = "Js" if javascript else "Nojs"
    name = f"Approved Claimant {suffix}"
    claimant, mod = server.confirmed_account(name), moderator(server, f"Moderator {suffix}")
    one, one_console = open_page(browser, server, javascript=javascript)
    sign_in(one, claimant)
    claim_id = claim_with_a_statement(one, record)

    other, other_console = open_page(browser, server, javascript=javascript)
    sign_in(other, mod)
    other.locator("header.site").get_by_role("link", name="Moderation").click()
    entry = other.locator("ol.history > li", has=other.locator(f'a[href="/p/moderation/claims/{claim_id}"]'))
    assert f"claimed by {name}" in entry.inner_text()
    assert "Statement with 1 link: These papers are mine: see my university page.; weak, submitted" \
        in entry.locator("ul.evidence").inner_text()
    assert not javascript or axe_serious(other) == []
    entry.get_by_role("link").click()
    assert other.locator("p.status").inner_text() == "Waiting for a decision"
    assert "https://example.org/~me" in other.locator("main").inner_text()
    assert not javascript or axe_serious(other) == []
    other.get_by_label("Level").select_option("L3")
    other.get_by_label("Reason for approving").fill("The university page lists these papers.")
    other.get_by_role("button", name="Approve the claim").click()
    assert other.locator("p.status").inner_text() == "Approved at L3"
    assert "The claim is approved" in other.get_by_role("status").inner_text()

    wait_for_claim_status(server, record, "claimed")
    one.goto(f"/r/{record}")
    quick = one.locator(".quick li").all_inner_texts()
    assert quick == [api(server, f"/researchers/{record}/trust")["label"], "Verification L3", f"Claimed by {name}"]
    assert api(server, f"/researchers/{record}")["verification_level"] == "L3"
    wait_for_unread(one, 2)  # claim_approved and verification_changed
    assert one_console.csp_violations() == [] and other_console.csp_violations() == []


def test_a_moderator_asks_and_the_claimant_answers_from_the_notification(browser, server):
    claimant, mod = server.confirmed_account("Asked Claimant"), moderator(server, "Asking Moderator")
    one, _ = open_page(browser, server)
    sign_in(one, claimant)
    claim_id = claim_with_a_statement(one, "A5999000109")
    other, console = open_page(browser, server)
    sign_in(other, mod)
    other.goto(f"/p/moderation/claims/{claim_id}")
    other.get_by_label("Question for the claimant").fill("Which university are you at?")
    other.get_by_role("button", name="Ask the claimant").click()
    assert other.locator("p.status").inner_text() == "Question asked: waiting for the claimant's answer"
    assert other.locator("dd.question").inner_text() == "Which university are you at?"

    wait_for_unread(one, 1)
    one.locator("header.site").get_by_role("link", name="Notifications").click()
    assert axe_serious(one) == []
    one.get_by_role("link", name="A moderator asks about your claim: Which university are you at?").click()
    assert one.locator("p.status").inner_text() == "A moderator asked a question"
    assert one.locator("blockquote").inner_text() == "Which university are you at?"
    one.get_by_label("Your answer").fill("The University of Examples, since 2019.")
    one.get_by_role("button", name="Send").click()
    assert one.locator("p.status").inner_text() == "Waiting for a moderator"

    other.reload()
    assert other.locator("p.status").inner_text() == "Waiting for a decision"
    assert "The University of Examples, since 2019." in other.locator("main").inner_text()
    assert console.csp_violations() == []


def test_a_moderator_with_a_side_in_a_claim_gets_the_apis_refusal_with_its_status(browser, server):
    mod = moderator(server, "Claiming Moderator")
    page, _ = open_page(browser, server)
    sign_in(page, mod)
    claim_id = claim_with_a_statement(page, "A5999000116")  # their own claim
    page.goto(f"/p/moderation/claims/{claim_id}")
    page.get_by_label("Reason for approving").fill("It is me.")
    with page.expect_navigation() as answered:
        page.get_by_role("button", name="Approve the claim").click()
    api_answer = httpx.post(f"{server.base}/claims/{claim_id}/approve", headers=bearer(server, mod),
                            json={"level": "L2", "reason": "It is me."})
    assert answered.value.status == api_answer.status_code == 403
    assert page.get_by_role("alert").inner_text() == readable(api_answer.json()["detail"])
    assert page.locator("p.status").inner_text() == "Waiting for a decision"


def test_someone_who_is_not_a_moderator_gets_a_403_page(browser, server):
    page, console = open_page(browser, server)
    sign_in(page, server.confirmed_account("Not A Moderator"))
    assert page.locator("header.site").get_by_role("link", name="Moderation").count() == 0
    for path in ("/p/moderation", "/p/moderation/reports"):
        answer = page.goto(path)
        assert answer.status == 403
        assert page.locator("h1").inner_text() == "Forbidden"
        assert "This page is for moderators: it needs the moderator or admin role." in page.locator("main").inner_text()
    assert axe_serious(page) == []
    assert console.csp_violations() == []


def test_notifications_of_a_new_follower_and_a_new_message_with_the_unread_count(browser, server):
    owner = verified_owner(server, "Noted Owner", "A5999000110")
    writer = verified_owner(server, "Message Writer", "A5999000111")
    fan = server.confirmed_account("Keen Follower")
    assert httpx.put(f"{server.base}/me/following/A5999000110", headers=bearer(server, fan)).status_code == 201
    invitation = httpx.post(f"{server.base}/researchers/A5999000110/invitations", headers=bearer(server, writer),
                            json={"message": "Shall we write together?"}).json()["id"]
    conversation = httpx.post(f"{server.base}/invitations/{invitation}/accept",
                              headers=bearer(server, owner)).json()["conversation_id"]
    httpx.post(f"{server.base}/conversations/{conversation}/messages", headers=bearer(server, writer),
               json={"text": "Here is a first draft."})

    page, console = open_page(browser, server)
    sign_in(page, owner)
    wait_for_unread(page, 5)  # approved, verification changed, invitation, follower, message
    page.locator("header.site").get_by_role("link", name="Notifications").click()
    listed = page.locator("ol.notifications").inner_text()
    assert "Keen Follower follows Weiran Kong." in listed
    assert "New message from Message Writer." in listed
    unread = httpx.get(f"{server.base}/me/notifications", headers=bearer(server, owner)).json()["unread_count"]
    assert unread_in_header(page) == unread == 5
    assert page.locator("p.unread-summary").inner_text() == "5 unread notifications."
    assert axe_serious(page) == []

    follower_item = page.locator("ol.notifications > li", has_text="Keen Follower follows")
    follower_item.get_by_role("button", name="Mark as read").click()
    page.wait_for_function("() => document.querySelector('p.unread-summary').textContent.startsWith('4 ')")
    assert unread_in_header(page) == 4  # htmx swapped the list and the header's count in place
    assert page.url.endswith("/p/notifications")
    page.get_by_role("link", name="New message from Message Writer.").click()
    assert page.locator(".messages .text").inner_text() == "Here is a first draft."
    page.goto("/p/notifications")
    page.get_by_role("button", name="Mark all as read").click()
    page.wait_for_function("() => document.querySelector('p.unread-summary').textContent.startsWith('0 ')")
    assert unread_in_header(page) == 0
    assert httpx.get(f"{server.base}/me/notifications", headers=bearer(server, owner)).json()["unread_count"] == 0
    assert console.csp_violations() == []


def test_the_invitation_policy_set_in_settings_shows_on_the_profile_as_the_api_says(browser, server):
    inviter = verified_owner(server, "Policy Inviter", "A5999000112")
    invitee = verified_owner(server, "Policy Keeper", "A5999000113")
    one, console = open_page(browser, server)
    sign_in(one, invitee)
    one.locator("header.site").get_by_role("link", name="Settings").click()
    assert one.get_by_label("Any researcher verified at L2 or above").is_checked()
    assert axe_serious(one) == []
    one.get_by_label("Only my co-authors").check()
    one.get_by_role("button", name="Save who may invite you").click()
    assert one.get_by_role("status").inner_text() == "Your invitation policy is changed."
    assert one.get_by_label("Only my co-authors").is_checked()
    assert httpx.get(f"{server.base}/me/invitation-policy", headers=bearer(server, invitee)).json()["policy"] \
        == "coauthors"
    one.goto("/r/A5999000113")
    assert one.locator("p.policy").inner_text() == "Who may invite you: Only my co-authors. Change it in your settings"

    other, _ = open_page(browser, server)
    sign_in(other, inviter)
    other.goto("/r/A5999000113")
    viewer = httpx.get(f"{server.base}/researchers/A5999000113/viewer", headers=bearer(server, inviter)).json()
    direct = other.locator("section", has=other.locator("#direct-heading"))
    if viewer["can_invite"]:  # co-authors of each other in the demo data: the API lets them
        assert direct.get_by_role("button", name="Send the invitation").count() == 1
    else:
        assert direct.locator("p.invite-refusal").inner_text() == readable(viewer["refusals"]["invite"]["detail"])
        assert direct.get_by_role("button", name="Send the invitation").count() == 0

    one.goto("/p/settings")
    one.get_by_label("Nobody").check()
    one.get_by_role("button", name="Save who may invite you").click()
    other.reload()
    viewer = httpx.get(f"{server.base}/researchers/A5999000113/viewer", headers=bearer(server, inviter)).json()
    assert viewer["can_invite"] is False
    assert direct.locator("p.invite-refusal").inner_text() == readable(viewer["refusals"]["invite"]["detail"])
    assert direct.get_by_role("button", name="Send the invitation").count() == 0

    one.goto("/p/settings")
    one.get_by_label("Block an account by its id").fill("not-an-id")
    with one.expect_navigation() as refused:
        one.get_by_role("button", name="Block", exact=True).click()
    assert refused.value.status == 422
    assert one.get_by_role("alert").inner_text().startswith("Account id: expected an account id")
    assert console.csp_violations() == []


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_reported_invitation_reaches_the_moderators_reports_page(browser, server, javascript):
    suffix = "Js" if javascript else "Nojs"
    records = ("A5999000114", "A5999000115") if javascript else ("A5999000117", "A5999000118")
    sender = verified_owner(server, f"Pushy Sender {suffix}", records[0])
    recipient = verified_owner(server, f"Annoyed Recipient {suffix}", records[1])
    invitation = httpx.post(f"{server.base}/researchers/{records[1]}/invitations", headers=bearer(server, sender),
                            json={"message": "Buy my course!"}).json()["id"]
    page, console = open_page(browser, server, javascript=javascript)
    sign_in(page, recipient)
    page.goto(f"/p/invitations/{invitation}")
    assert not javascript or axe_serious(page) == []
    page.get_by_label("What is wrong with it").fill(f"Advertising, not collaboration ({suffix}).")
    page.get_by_role("button", name="Report the invitation").click()
    assert page.get_by_role("status").inner_text() == "Thank you: the invitation is reported to the moderators."
    assert f"You reported this invitation: Advertising, not collaboration ({suffix})." in page.locator("#report").inner_text()
    assert page.locator("p.status").inner_text() == "Declined"

    mod_page, mod_console = open_page(browser, server, javascript=javascript)
    sign_in(mod_page, moderator(server, f"Report Moderator {suffix}"))
    mod_page.goto("/p/moderation")
    mod_page.get_by_role("link", name="Reported invitations").click()
    report = mod_page.locator("ol.history > li", has_text=f"Annoyed Recipient {suffix} reported an invitation")
    assert f"from Pushy Sender {suffix}" in report.inner_text()
    assert report.locator("blockquote").inner_text() == f"Advertising, not collaboration ({suffix})."
    assert not javascript or axe_serious(mod_page) == []
    assert console.csp_violations() == [] and mod_console.csp_violations() == []


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_erasure_asks_for_the_address_then_erases_and_signs_out(browser, server, javascript):
    address = server.confirmed_account(f"Leaving Person {'Js' if javascript else 'Nojs'}")
    page, console = open_page(browser, server, javascript=javascript)
    sign_in(page, address)
    page.locator("header.site").get_by_role("link", name="Account").click()
    page.get_by_role("link", name="Erase your account").click()
    assert not javascript or axe_serious(page) == []
    page.get_by_label("Type your email address").fill("someone.else@example.org")
    with page.expect_navigation() as refused:
        page.get_by_role("button", name="Erase my account for good").click()
    assert refused.value.status == 422
    assert "nothing was erased" in page.get_by_role("alert").inner_text()
    assert httpx.post(server.base + "/auth/login", json={"email": address, "password": PASSWORD}).status_code == 200

    page.get_by_label("Type your email address").fill(address)
    page.get_by_role("button", name="Erase my account for good").click()
    assert page.url.endswith("/p/login?done=erased")
    assert "Your account is erased" in page.get_by_role("status").inner_text()
    assert page.locator("header.site").get_by_role("link", name="Sign in").count() == 1  # signed out
    assert page.goto("/p/account").url.endswith("/p/login?next=/p/account")
    assert httpx.post(server.base + "/auth/login", json={"email": address, "password": PASSWORD}).status_code == 401
    assert console.csp_violations() == []
