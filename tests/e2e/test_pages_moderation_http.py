"""Moderation, notifications, settings, reporting and erasure pages over plain HTTP: who may see them,
each form's statuses and refusals in the API's words (and the API answering the same), CSRF."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from api.pages.forms import readable
from tests.conftest import settings_for
from tests.e2e.pages_support import alert, as_, csrf_of, demo_works
from tests.e2e.support import PASSWORD, person, serving, settle

ANN_RECORD, BEN_RECORD, FREE_RECORD = "A5999000101", "A5999000102", "A5999000105"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from serving(settings_for("sqlite", tmp_path, None, PEERLEDGER_RATE_LIMIT_SCALE="100"), demo_works())


@pytest.fixture
def mod(client):
    return person(client, "Mo Derator", role="moderator")


def post(client: TestClient, path: str, **fields):
    """Post `fields` with this browser's CSRF token (any page's: it is bound to the cookie)."""
    token = csrf_of(client.get("/p/account").text)
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def open_claim(client: TestClient, who: dict, record: str = FREE_RECORD) -> str:
    opened = client.post(f"/researchers/{record}/claims", headers=who["headers"],
                         json={"evidence": [{"kind": "statement", "text": "These papers are mine.",
                                             "links": ["https://example.org/me", "https://example.org/cv"]}]})
    assert opened.status_code == 201, opened.text
    return opened.json()["id"]


# -- moderation ---------------------------------------------------------------------------------


def test_moderation_pages_are_for_moderators_only(client, mod):
    paths = ("/p/moderation", "/p/moderation/reports", f"/p/moderation/claims/{open_claim(client, mod)}")
    for n, path in enumerate(paths):
        as_(client, None)
        signed_out = client.get(path, follow_redirects=False)
        assert signed_out.status_code == 303 and signed_out.headers["location"] == f"/p/login?next={path}"
        as_(client, person(client, f"Plain Reader{n}"))
        refused = client.get(path)
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
        assert "This page is for moderators: it needs the moderator or admin role." in refused.text
    plain = person(client, "Plain Poster")
    as_(client, plain)
    claim = open_claim(client, plain, ANN_RECORD)
    tried = post(client, f"/p/moderation/claims/{claim}/approve", level="L2", reason="ok")
    assert tried.status_code == 403
    assert client.get(f"/claims/{claim}", headers=plain["headers"]).json()["status"] == "pending"
    assert 'href="/p/moderation"' not in client.get("/p/account").text  # no link either
    as_(client, mod)
    assert 'href="/p/moderation">Moderation</a>' in client.get("/p/account").text


def test_the_queue_names_claimants_and_sums_up_their_evidence(client, mod):
    claim = open_claim(client, person(client, "Cleo Claimant"))
    as_(client, mod)
    queue = client.get("/p/moderation")
    assert queue.status_code == 200
    assert f'href="/p/moderation/claims/{claim}"' in queue.text and "claimed by Cleo Claimant" in queue.text
    assert "Statement with 2 links: These papers are mine.; weak, submitted" in queue.text
    detail = client.get(f"/p/moderation/claims/{claim}").text
    assert "https://example.org/cv" in detail and "Cleo Claimant" in detail and "Waiting for a decision" in detail


def test_a_moderator_approves_at_a_level_and_the_profile_shows_the_owner(client, mod):
    claimant = person(client, "Cleo Claimant")
    claim = open_claim(client, claimant)
    as_(client, mod)
    approved = post(client, f"/p/moderation/claims/{claim}/approve", level="L3", reason="Checked the CV.")
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/p/moderation/claims/{claim}?done=approved"
    assert "Approved at L3" in client.get(approved.headers["location"]).text
    settle(client)
    profile = client.get(f"/r/{FREE_RECORD}").text
    assert "Verification L3" in profile and "Claimed by Cleo Claimant" in profile
    again = post(client, f"/p/moderation/claims/{claim}/reject", reason="Changed my mind.")
    api = client.post(f"/claims/{claim}/reject", headers=mod["headers"], json={"reason": "Changed my mind."})
    assert again.status_code == api.status_code == 409 and alert(again.text) == readable(api.json()["detail"])


def test_bad_decisions_are_refused_beside_the_forms_with_what_was_typed(client, mod):
    claim = open_claim(client, person(client, "Cleo Claimant"))
    as_(client, mod)
    base = f"/p/moderation/claims/{claim}"
    no_reason = post(client, f"{base}/approve", level="L2", reason="")
    assert no_reason.status_code == 422 and alert(no_reason.text) == "Reason for approving: this field is required."
    bad_level = post(client, f"{base}/approve", level="L1", reason="Looks right.")
    assert bad_level.status_code == 422 and alert(bad_level.text).startswith("Level: ")
    assert ">Looks right.</textarea>" in bad_level.text
    no_question = post(client, f"{base}/request-info", question="")
    assert no_question.status_code == 422 and alert(no_question.text).startswith("Question for the claimant: ")
    no_grounds = post(client, f"{base}/reject", reason="")
    assert no_grounds.status_code == 422 and alert(no_grounds.text) == "Reason for rejecting: this field is required."
    assert client.get(f"/claims/{claim}", headers=mod["headers"]).json()["status"] == "pending"  # nothing decided
    unknown = post(client, "/p/moderation/claims/00000000-0000-0000-0000-000000000000/approve", level="L2",
                   reason="ok")
    assert unknown.status_code == 404


def test_a_moderator_with_a_side_in_a_claim_is_refused_as_the_api_refuses(client, mod):
    own = open_claim(client, mod)  # their own claim: they may read it, not decide it
    as_(client, mod)
    refused = post(client, f"/p/moderation/claims/{own}/approve", level="L2", reason="It is me.")
    api = client.post(f"/claims/{own}/approve", headers=mod["headers"], json={"level": "L2", "reason": "It is me."})
    assert refused.status_code == api.status_code == 403
    assert alert(refused.text) == readable(api.json()["detail"]) == "A moderator cannot decide their own claim."

    client.post(f"/claims/{own}/withdraw", headers=mod["headers"])  # they have claimed the record all the same
    other = open_claim(client, person(client, "Dee Claimant"))
    assert client.get(f"/p/moderation/claims/{other}").status_code == 404  # as GET /claims/{id} answers
    assert f"/p/moderation/claims/{other}" not in client.get("/p/moderation").text
    refused = post(client, f"/p/moderation/claims/{other}/reject", reason="Not theirs.")
    api = client.post(f"/claims/{other}/reject", headers=mod["headers"], json={"reason": "Not theirs."})
    assert refused.status_code == api.status_code == 403
    assert readable(api.json()["detail"]) in refused.text
    assert "A moderator cannot decide claims about a record they own or have claimed." in refused.text


def test_request_information_then_the_claimant_answers_on_the_claim_page(client, mod):
    claimant = person(client, "Cleo Claimant")
    claim = open_claim(client, claimant)
    as_(client, mod)
    asked = post(client, f"/p/moderation/claims/{claim}/request-info", question="Which university are you at?")
    assert asked.status_code == 303 and asked.headers["location"].endswith("?done=asked")
    as_(client, claimant)
    page = client.get(f"/p/claims/{claim}").text
    assert "Which university are you at?" in page and "A moderator asked a question" in page
    answered = post(client, f"/p/claims/{claim}/evidence", statement="The University of Examples.", links="")
    assert answered.status_code == 303
    as_(client, mod)
    detail = client.get(f"/p/moderation/claims/{claim}").text
    assert "The University of Examples." in detail and "Waiting for a decision" in detail


def test_reported_invitations_are_listed_with_their_reason(client, mod):
    ann, ben = person(client, "Ann Inviter", owns=ANN_RECORD), person(client, "Ben Invitee", owns=BEN_RECORD)
    sent = client.post(f"/researchers/{BEN_RECORD}/invitations", headers=ann["headers"], json={"message": "Buy now"})
    invitation = sent.json()["id"]
    as_(client, ben)
    empty = post(client, f"/p/invitations/{invitation}/report", reason="")
    assert empty.status_code == 422 and alert(empty.text) == "What is wrong with it: this field is required."
    reported = post(client, f"/p/invitations/{invitation}/report", reason="Spam: selling things.")
    assert reported.status_code == 303 and reported.headers["location"].endswith("?done=reported")
    page = client.get(reported.headers["location"]).text
    assert "You reported this invitation: Spam: selling things." in page and "Declined" in page
    twice = post(client, f"/p/invitations/{invitation}/report", reason="Again.")
    assert twice.status_code == 409 and alert(twice.text) == "You have reported this invitation already."
    as_(client, ann)
    assert post(client, f"/p/invitations/{invitation}/report", reason="Hm.").status_code == 403  # the sender
    as_(client, mod)
    reports = client.get("/p/moderation/reports").text
    assert "Ben Invitee reported an invitation from Ann Inviter" in reports and "Spam: selling things." in reports


# -- notifications ------------------------------------------------------------------------------


def unread_in_header(html: str) -> int:
    found = re.search(r'id="notifications-link">Notifications(?: <span class="count">(\d+))?', html)
    assert found, "no notifications link"
    return int(found.group(1) or 0)


def test_notifications_show_with_the_unread_count_and_are_marked_read(client):
    owner = person(client, "Olga Owner", owns=ANN_RECORD)  # claim_approved, verification_changed
    fan = person(client, "Fay Fan")
    client.put(f"/me/following/{ANN_RECORD}", headers=fan["headers"])
    deadline = time.monotonic() + 10
    while client.get("/me/notifications", headers=owner["headers"]).json()["unread_count"] < 3:
        assert time.monotonic() < deadline, "the notifications did not come"
        time.sleep(0.05)
    as_(client, owner)
    page = client.get("/p/notifications").text
    assert unread_in_header(page) == 3 and "3 unread notifications." in page
    assert f'<a href="/r/{researcher_uuid(client, ANN_RECORD)}">Fay Fan follows' in page
    assert "Your claim was approved." in page
    [first, *_] = client.get("/me/notifications", headers=owner["headers"]).json()["items"]
    one = post(client, "/p/notifications/read", key=first["key"])
    assert one.status_code == 303 and one.headers["location"] == "/p/notifications?done=read"
    assert unread_in_header(client.get("/p/account").text) == 2
    assert client.get("/me/notifications", headers=owner["headers"]).json()["unread_count"] == 2  # as the API says
    assert "Nothing unread." not in client.get("/p/notifications?unread=1").text
    post(client, "/p/notifications/read")  # no key: all of them
    assert unread_in_header(client.get("/p/account").text) == 0
    assert "Nothing unread." in client.get("/p/notifications?unread=1").text
    too_long = post(client, "/p/notifications/read", key="k" * 250)
    assert too_long.status_code == 422 and "Notification: at most 200 characters" in too_long.text


def researcher_uuid(client: TestClient, record: str) -> str:
    return client.get(f"/researchers/{record}").json()["id"]


# -- settings -----------------------------------------------------------------------------------


def test_the_invitation_policy_changes_and_the_profile_says_so_as_the_api_does(client):
    ann, ben = person(client, "Ann Inviter", owns=ANN_RECORD), person(client, "Ben Invitee", owns=BEN_RECORD)
    as_(client, ben)
    assert 'value="verified" checked' in client.get("/p/settings").text
    changed = post(client, "/p/settings/invitation-policy", policy="nobody")
    assert changed.status_code == 303 and changed.headers["location"] == "/p/settings?done=policy-changed"
    assert client.get("/me/invitation-policy", headers=ben["headers"]).json()["policy"] == "nobody"
    assert "Who may invite you: <strong>Nobody</strong>" in client.get(f"/r/{BEN_RECORD}").text
    bad = post(client, "/p/settings/invitation-policy", policy="everyone")
    assert bad.status_code == 422 and alert(bad.text).startswith("Who may invite you: ")
    as_(client, ann)
    profile = client.get(f"/r/{BEN_RECORD}").text
    viewer = client.get(f"/researchers/{BEN_RECORD}/viewer", headers=ann["headers"]).json()
    assert viewer["can_invite"] is False
    assert readable(viewer["refusals"]["invite"]["detail"]) in profile
    assert f'action="/r/{BEN_RECORD}/invite"' not in profile


def test_blocks_are_made_and_lifted_and_a_bad_id_is_refused(client):
    ann, ben = person(client, "Ann Inviter", owns=ANN_RECORD), person(client, "Ben Invitee", owns=BEN_RECORD)
    invitation = client.post(f"/researchers/{BEN_RECORD}/invitations", headers=ann["headers"],
                             json={"message": "Hello"}).json()["id"]
    as_(client, ben)
    assert "Block Ann Inviter" in client.get(f"/p/invitations/{invitation}").text
    blocked = post(client, "/p/settings/blocks", account_id=str(ann["id"]))
    assert blocked.status_code == 303 and blocked.headers["location"] == "/p/settings?done=blocked"
    assert client.get("/me/invitation-policy", headers=ben["headers"]).json()["blocked"] == [str(ann["id"])]
    assert '<span class="name">Ann Inviter</span>' in client.get("/p/settings").text
    bad = post(client, "/p/settings/blocks", account_id="not-an-id")
    assert bad.status_code == 422 and alert(bad.text).startswith("Account id: expected an account id")
    assert 'value="not-an-id"' in bad.text
    yourself = post(client, "/p/settings/blocks", account_id=str(ben["id"]))
    assert yourself.status_code == 422 and alert(yourself.text) == "You cannot block yourself."
    lifted = post(client, "/p/settings/blocks/remove", account_id=str(ann["id"]))
    assert lifted.status_code == 303
    assert client.get("/me/invitation-policy", headers=ben["headers"]).json()["blocked"] == []


def test_mail_settings_change_as_the_api_would(client):
    who = person(client, "Mia Mail")
    as_(client, who)
    changed = client.post("/p/settings/mail", data={"csrf_token": csrf_of(client.get("/p/settings").text),
                                                    "mail": ["new_follower", "message_received"]},
                          follow_redirects=False)
    assert changed.status_code == 303
    assert client.get("/me/notification-settings", headers=who["headers"]).json()["mail"] == [
        "new_follower", "message_received"]
    bad = post(client, "/p/settings/mail", mail="everything")
    assert bad.status_code == 422 and "Unknown notification kinds: everything" in alert(bad.text)


# -- erasure ------------------------------------------------------------------------------------


def test_erasure_needs_the_address_typed_then_erases_and_signs_out(client):
    who = person(client, "Eve Eraser", owns=ANN_RECORD)
    as_(client, who)
    page = client.get("/p/account/erase")
    assert page.status_code == 200 and "eve.eraser@example.org" in page.text
    wrong = post(client, "/p/account/erase", confirm_email="someone@example.org")
    assert wrong.status_code == 422 and "nothing was erased" in alert(wrong.text)
    assert client.get("/me", headers=who["headers"]).status_code == 200
    erased = post(client, "/p/account/erase", confirm_email=" Eve.Eraser@example.org ")
    assert erased.status_code == 303 and erased.headers["location"] == "/p/login?done=erased"
    assert 'pl_session=""' in erased.headers["set-cookie"] or "Max-Age=0" in erased.headers["set-cookie"]
    assert client.get("/me", headers=who["headers"]).status_code == 401  # the API's session ended too
    assert "Signed in as" not in client.get("/p/account", follow_redirects=True).text
    login = client.post("/auth/login", json={"email": who["email"], "password": PASSWORD})
    assert login.status_code == 401
    settle(client)
    assert "Claimed by an erased account" in client.get(f"/r/{ANN_RECORD}").text


def test_the_new_forms_without_their_csrf_token_are_refused(client, mod):
    as_(client, mod)
    claim = "00000000-0000-0000-0000-000000000000"
    for target in (f"/p/moderation/claims/{claim}/approve", f"/p/moderation/claims/{claim}/reject",
                   f"/p/moderation/claims/{claim}/request-info", "/p/notifications/read",
                   "/p/settings/invitation-policy", "/p/settings/blocks", "/p/settings/blocks/remove",
                   "/p/settings/mail", f"/p/invitations/{claim}/report", "/p/account/erase"):
        refused = client.post(target, data={"reason": "x", "confirm_email": mod["email"]}, follow_redirects=False)
        assert refused.status_code == 403 and "did not come from this site" in refused.text, target
    assert client.get("/me", headers=mod["headers"]).status_code == 200


def test_signed_out_the_new_pages_lead_to_sign_in(client):
    for path in ("/p/notifications", "/p/settings", "/p/account/erase"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/p/login?next={path}", path
