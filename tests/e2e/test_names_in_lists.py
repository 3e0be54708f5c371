"""Lists carry the public names a front end shows beside ids: invitation boxes, the moderation
queue, the records I follow (conversations, notifications and followers are tested with them)."""

from __future__ import annotations

from tests.e2e.support import invite, person
from tests.e2e.test_invitations import client  # noqa: F401 - the fixture is shared


def test_invitation_boxes_and_an_invitation_name_both_parties(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    invitation = invite(client, sender, "A2").json()

    [in_box] = client.get("/me/invitations", headers=recipient["headers"]).json()["items"]

    for shown in (invitation, in_box):
        assert (shown["sender_name"], shown["recipient_name"]) == ("Sender One", "Close Two")


def test_the_moderation_queue_names_each_claimant(client):
    claimant, moderator = person(client, "Unclaimed Five"), person(client, "Mo Derator")
    client.app.state.services.accounts.grant_role(moderator["email"], "moderator", "test")
    client.post("/researchers/A5/claims", headers=claimant["headers"],
                json={"evidence": [{"kind": "statement", "text": "mine"}]})

    queue = client.get("/moderation/claims", headers=moderator["headers"])

    assert queue.status_code == 200, queue.text
    assert [c["claimant_name"] for c in queue.json()["items"]] == ["Unclaimed Five"]


def test_the_records_i_follow_carry_their_names(client):
    reader = person(client, "Plain Reader")
    client.put("/me/following/A4", headers=reader["headers"])

    [followed] = client.get("/me/following", headers=reader["headers"]).json()["items"]

    assert followed["display_name"] == "Lone Four"
