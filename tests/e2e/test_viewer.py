"""GET /researchers/{id}/viewer: what the signed-in viewer may do on a profile, and why not, in the
words and codes the refused command itself answers with."""

from __future__ import annotations

import json

from operations.importing import import_body
from tests.e2e.support import PASSWORD, assert_problem, invite, person, settle
from tests.factories import author, institution, work
from tests.e2e.test_invitations import client  # noqa: F401 - the fixture is shared


def viewer(client, who: dict, record: str) -> dict:
    answer = client.get(f"/researchers/{record}/viewer", headers=who["headers"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()


def refused(view: dict) -> dict[str, str]:
    return {what: r["code"] for what, r in view["refusals"].items()}


def test_an_owner_on_their_own_record_may_do_none_of_it_and_hears_why(client):
    owner = person(client, "Sender One", owns="A1")

    view = viewer(client, owner, "A1")

    assert (view["can_follow"], view["can_claim"], view["can_invite"]) == (False, False, False)
    assert refused(view) == {"follow": "follow_own_record", "claim": "already_owner", "invite": "invitation_to_self"}
    # The command itself answers with the same code and words.
    follow = assert_problem(client.put("/me/following/A1", headers=owner["headers"]), 422, "")
    assert (follow["code"], follow["detail"]) == ("follow_own_record", view["refusals"]["follow"]["detail"])


def test_a_verified_owner_may_invite_another_owner_until_an_invitation_is_pending(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")

    before = viewer(client, sender, "A2")
    assert (before["can_follow"], before["can_invite"]) == (True, True)
    assert "invite" not in before["refusals"]
    assert invite(client, sender, "A2").status_code == 201

    after = viewer(client, sender, "A2")
    assert refused(after)["invite"] == "invitation_pending"
    again = assert_problem(invite(client, sender, "A2"), 409, "")
    assert (again["code"], again["detail"]) == ("invitation_pending", after["refusals"]["invite"]["detail"])
    assert viewer(client, recipient, "A2")["refusals"]["invite"]["code"] == "invitation_to_self"


def test_a_reader_without_a_verified_record_may_follow_and_claim_but_not_invite(client):
    reader = person(client, "Plain Reader")

    view = viewer(client, reader, "A2")

    assert (view["can_follow"], view["can_claim"], view["can_invite"]) == (True, True, False)
    assert refused(view) == {"invite": "sender_not_verified"}
    assert view["evidence_kinds"][-1] == "statement"


def test_an_unclaimed_record_cannot_be_invited_and_an_open_claim_names_itself(client):
    sender = person(client, "Sender One", owns="A1")
    assert refused(viewer(client, sender, "A5"))["invite"] == "recipient_unclaimed"

    claim = client.post("/researchers/A5/claims", headers=sender["headers"],
                        json={"evidence": [{"kind": "statement", "text": "Also mine."}]}).json()["id"]

    view = viewer(client, sender, "A5")
    assert view["refusals"]["claim"]["code"] == "claim_already_open"
    assert view["refusals"]["claim"]["facts"] == {"claim_id": claim}


def test_an_unconfirmed_reader_is_told_to_confirm_first(client):
    address = "new.reader@example.org"
    client.post("/accounts", json={"email": address, "password": PASSWORD, "display_name": "New Reader"})
    token = client.post("/auth/login", json={"email": address, "password": PASSWORD}).json()["access_token"]

    view = viewer(client, {"headers": {"authorization": f"Bearer {token}"}}, "A2")

    assert refused(view) == {"follow": "email_unconfirmed", "claim": "email_unconfirmed",
                             "invite": "sender_not_verified"}


def test_institutional_email_is_offered_only_where_an_institution_has_known_domains(client):
    services = client.app.state.services
    import_body(services.catalogue, json.dumps([work(8, [author(8, "Ines Eight")],
                                                     institutions=[[institution(77)]])]).encode())
    services.catalogue.set_institution_domains("I77", ["uni.example"])
    settle(client)
    reader = person(client, "Plain Reader")

    assert viewer(client, reader, "A8")["evidence_kinds"] == ["institutional_email", "statement"]
    assert viewer(client, reader, "A1")["evidence_kinds"] == ["statement"]  # no institution with known domains


def test_the_viewer_route_needs_a_session_and_a_known_record(client):
    reader = person(client, "Plain Reader")

    assert_problem(client.get("/researchers/A1/viewer"), 401, "")
    assert_problem(client.get("/researchers/A999999/viewer", headers=reader["headers"]), 404, "")
    assert client.get("/researchers/not-an-id/viewer", headers=reader["headers"]).status_code == 400
