"""Notifications over HTTP, delivered in process (no NATS), against PostgreSQL."""

from __future__ import annotations

import re
import time

from tests.e2e.support import invite, mails_to, person
from tests.e2e.test_invitations import client  # noqa: F401 - the fixture is shared


def notifications(client, who: dict, expect: int | None = None, **params) -> dict:
    deadline = time.monotonic() + 10
    while True:
        page = client.get("/me/notifications", params=params, headers=who["headers"]).json()
        if expect is None or len(page["items"]) >= expect or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def test_people_hear_of_follows_invitations_and_claim_decisions(client):
    sender = person(client, "Sender One", owns="A1")  # approved at L2: claim_approved, verification_changed
    recipient = person(client, "Close Two", owns="A2")
    kinds = [n["kind"] for n in notifications(client, sender, expect=2)["items"]]
    assert sorted(kinds) == ["claim_approved", "verification_changed"]

    invitation = invite(client, sender, "A2").json()["id"]
    received = notifications(client, recipient, expect=3)
    assert received["items"][0]["kind"] == "invitation_received"
    assert received["items"][0]["data"] == {"invitation_id": invitation, "sender_id": str(sender["id"]),
                                            "sender_name": "Sender One"}
    client.post(f"/invitations/{invitation}/accept", headers=recipient["headers"])
    assert notifications(client, sender, expect=3)["items"][0]["kind"] == "invitation_accepted"

    fan = person(client, "A Fan")
    client.put("/me/following/A2", headers=fan["headers"])
    page = notifications(client, recipient, expect=4)
    assert page["items"][0]["kind"] == "new_follower"
    assert page["items"][0]["data"]["follower_id"] == str(fan["id"])
    assert page["items"][0]["data"]["follower_name"] == "A Fan"
    assert page["unread_count"] == 4
    assert notifications(client, fan)["items"] == []  # nothing about others


def test_messages_and_a_closed_conversation_tell_the_other_party_and_a_busy_one_tells_it_once(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    invitation = invite(client, sender, "A2").json()["id"]
    conversation = client.post(f"/invitations/{invitation}/accept", headers=recipient["headers"]).json()[
        "conversation_id"]
    before = len(notifications(client, recipient, expect=3)["items"])

    for text in ("Hello!", "Are you there?", "Third message"):
        sent = client.post(f"/conversations/{conversation}/messages", json={"text": text}, headers=sender["headers"])
        assert sent.status_code == 201, sent.text
    client.post(f"/conversations/{conversation}/close", headers=sender["headers"])

    page = notifications(client, recipient, expect=before + 2)["items"]
    new = [n for n in page if n["kind"] in ("message_received", "conversation_closed")]
    assert sorted(n["kind"] for n in new) == ["conversation_closed", "message_received"]  # one for three messages
    for n in new:
        assert n["data"] == {"conversation_id": conversation, "author_id": str(sender["id"]),
                             "author_name": "Sender One"}
    assert not [n for n in notifications(client, sender)["items"] if n["kind"] == "message_received"]


def test_a_moderators_question_on_a_claim_reaches_the_claimant(client):
    ada = person(client, "Unclaimed Five")
    mod = person(client, "Mo Derator")
    client.app.state.services.accounts.grant_role(mod["email"], "moderator", "test")
    claim = client.post("/researchers/A5/claims", headers=ada["headers"],
                        json={"evidence": [{"kind": "statement", "text": "mine"}]}).json()["id"]

    asked = client.post(f"/claims/{claim}/request-info", headers=mod["headers"], json={"question": "Which lab?"})
    assert asked.status_code == 200, asked.text

    [question] = [n for n in notifications(client, ada, expect=1)["items"] if n["kind"] == "claim_question"]
    assert question["data"] == {"claim_id": claim, "question": "Which lab?"}


def test_marking_read_by_key_and_all(client):
    owner = person(client, "Sender One", owns="A1")
    page = notifications(client, owner, expect=2)
    first = page["items"][0]["key"]
    marked = client.post("/me/notifications/read", json={"keys": [first]}, headers=owner["headers"]).json()
    assert marked["unread_count"] == 1
    assert [n["key"] for n in notifications(client, owner, unread="true")["items"]] == [page["items"][1]["key"]]
    assert client.post("/me/notifications/read", json={}, headers=owner["headers"]).json()["unread_count"] == 0
    assert client.post("/me/notifications/read", json={"keys": "all"}, headers=owner["headers"]).status_code == 400
    assert client.get("/me/notifications", params={"colour": "x"}, headers=owner["headers"]).status_code == 400
    assert client.get("/me/notifications").status_code == 401


def confirm(client, who: dict) -> None:
    code = re.search(r"code is (\d{6})", mails_to(client, who["email"])[-1].get_payload(decode=True).decode())[1]
    assert client.post("/accounts/confirm", json={"email": who["email"], "code": code}).status_code == 200


def test_people_who_opted_in_also_get_mail_once(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    confirm(client, recipient)  # mail goes to confirmed addresses only
    settings = client.put("/me/notification-settings", json={"mail": ["invitation_received"]},
                          headers=recipient["headers"])
    assert settings.json() == {"mail": ["invitation_received"]}
    assert client.get("/me/notification-settings", headers=recipient["headers"]).json() == settings.json()
    before = len(mails_to(client, recipient["email"]))
    invite(client, sender, "A2")
    notifications(client, recipient, expect=3)
    mailed = mails_to(client, recipient["email"])[before:]
    assert [m["Subject"] for m in mailed] == ["You have an invitation to collaborate"]
    # Not opted in: the sender hears of nothing by mail.
    assert all("invitation" not in (m["Subject"] or "") for m in mails_to(client, sender["email"]))
    bad = client.put("/me/notification-settings", json={"mail": ["gossip"]}, headers=recipient["headers"])
    assert bad.status_code == 422 and "unknown notification kinds: gossip" in bad.json()["detail"]
