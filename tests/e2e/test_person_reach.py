"""A person's reach beyond its profile (issue 18, "Invitations address the person"; search) over
HTTP against PostgreSQL: an invitation to any record of a person goes to the person's owner,
addressed to the person's own record, under the person's policy and blocks; a sender with linked
records is their person; after an unlink the former member is a record of its own again; search
lists a person once, under its own record, found by any of its records' names."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from domain.claims.application import EvidenceIn
from tests.e2e.pages_support import csrf_of
from tests.e2e.support import PASSWORD, assert_problem, facts, invite, person, rid, serving, settings_on, settle
from tests.factories import author, orcid_with_checksum, work

pytestmark = pytest.mark.services  # PostgreSQL (LINKS_TEST_BACKEND=sqlite runs them on the embedded store)

ORCID = orcid_with_checksum("000000021825017")
# A1 and A6 are one Ada (the same ORCID iD), under two names. Bo (A2), Dee (A4) and Eve (A5)
# wrote only with A6; Cy (A3) wrote with none of Ada's records.
A1, A6 = author(1, "Ada Lovelace", orcid=ORCID), author(6, "Ada Byron", orcid=ORCID)
A2, A3, A4, A5, A7 = author(2, "Bo Two"), author(3, "Cy Three"), author(4, "Dee Four"), author(5, "Eve Five"), \
    author(7, "Gus Seven")
A8 = author(8, "Byron Zed")  # another Byron, listed after Ada
WORKS = [work(1, [A1], year=2019), work(2, [A6, A2], year=2020), work(3, [A3, A7], year=2020),
         work(4, [A6, A4], year=2021), work(5, [A6, A5], year=2022), work(8, [A8], year=2022)]
REFUSED = "does not accept invitations from you"


@pytest.fixture
def client(request, tmp_path) -> Iterator[TestClient]:
    backend = os.environ.get("LINKS_TEST_BACKEND", "postgres")
    yield from serving(settings_on(backend, request, tmp_path, PEERLEDGER_RATE_LIMIT_SCALE="1000"), WORKS)


def ada_linked(client: TestClient) -> dict:
    """Ada claims A1 by proving its ORCID iD (L2) and links A6, which lists the same iD, at once."""
    ada = person(client, "Ada Lovelace")
    services = client.app.state.services
    found = facts(client, "A1")
    claim = services.claims.open_claim(ada["id"], found, [EvidenceIn("orcid")])
    assert services.claims.prove_orcid(claim, ada["id"], found.orcid, found) == "approved"
    settle(client)
    linked = client.post("/researchers/A1/links", headers=ada["headers"],
                         json={"record": "A6", "evidence": [{"kind": "orcid"}]})
    assert linked.status_code == 200, linked.text
    return ada


def inbox(client: TestClient, who: dict) -> dict:
    settle(client)
    got = client.get("/me/invitations", params={"box": "inbox"}, headers=who["headers"])
    assert got.status_code == 200, got.text
    return got.json()


def set_policy(client: TestClient, who: dict, policy: str) -> None:
    answer = client.put("/me/invitation-policy", json={"policy": policy}, headers=who["headers"])
    assert answer.status_code == 200, answer.text


def told(problem: dict) -> dict:
    """What a refusal tells, leaving out the path it answered."""
    return {k: v for k, v in problem.items() if k != "instance"}


def search(client: TestClient, q: str, limit: int = 100) -> list[tuple[str, list[str]]]:
    """Every page of the search, `limit` at a time, following the cursors."""
    found, cursor = [], None
    while True:
        got = client.get("/researchers", params={"q": q, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert got.status_code == 200, got.text
        found += [(p["id"], p["records"]) for p in got.json()["items"]]
        cursor = got.json()["next_cursor"]
        if cursor is None:
            return found


def test_an_invitation_to_a_linked_record_reaches_the_persons_owner_once(client):
    ada = ada_linked(client)
    bo = person(client, "Bo Two", owns="A2")

    sent = invite(client, bo, "A6")

    assert sent.status_code == 201, sent.text
    invitation = sent.json()
    assert (invitation["recipient_id"], invitation["recipient_record"], invitation["sender_record"]) == (
        str(ada["id"]), rid("A1"), rid("A2"))  # addressed to the person's own record
    box = inbox(client, ada)
    assert [(i["id"], i["recipient_record"]) for i in box["items"]] == [(invitation["id"], rid("A1"))]
    assert box["pending_received"] == 1
    # The pair is the two people: asking again under the person's other record is the same invitation.
    assert assert_problem(invite(client, bo, "A1"), 409, "already pending")["code"] == "invitation_pending"
    assert assert_problem(invite(client, ada, "A6"), 422, "cannot invite yourself")["code"] == "invitation_to_self"
    assert len(inbox(client, ada)["items"]) == 1
    accepted = client.post(f"/invitations/{invitation['id']}/accept", headers=ada["headers"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["conversation_id"]


def test_the_persons_policy_and_blocks_decide_for_every_record_of_it(client):
    ada = ada_linked(client)
    bo, cy, dee = (person(client, "Bo Two", owns="A2"), person(client, "Cy Three", owns="A3"),
                   person(client, "Dee Four", owns="A4"))
    set_policy(client, ada, "coauthors")

    refused = assert_problem(invite(client, cy, "A6"), 403, REFUSED)

    assert refused["code"] == "invitation_refused"
    assert told(assert_problem(invite(client, cy, "A1"), 403, REFUSED)) == told(refused)
    viewer = client.get("/researchers/A6/viewer", headers=cy["headers"])
    assert viewer.status_code == 200, viewer.text
    assert (viewer.json()["can_invite"], viewer.json()["refusals"]["invite"]["code"]) == (False, "invitation_refused")
    # Bo wrote only with A6, a record of Ada's: a co-author of the person, under either id.
    allowed = invite(client, bo, "A1")
    assert allowed.status_code == 201, allowed.text
    assert client.put(f"/me/blocks/{dee['id']}", headers=ada["headers"]).status_code == 204
    assert assert_problem(invite(client, dee, "A6"), 403, REFUSED) == refused  # a block reads as the policy does
    assert [i["id"] for i in inbox(client, ada)["items"]] == [allowed.json()["id"]]  # the refusals wrote nothing


def test_a_sender_with_linked_records_invites_as_the_person(client):
    eve = person(client, "Eve Five", owns="A5")
    set_policy(client, eve, "coauthors")  # Eve wrote only with A6
    ada = person(client, "Ada Lovelace")
    services = client.app.state.services
    found = facts(client, "A1")
    claim = services.claims.open_claim(ada["id"], found, [EvidenceIn("orcid")])
    assert services.claims.prove_orcid(claim, ada["id"], found.orcid, found) == "approved"
    settle(client)
    assert_problem(invite(client, ada, "A5"), 403, REFUSED)  # A1 alone is no co-author of Eve's
    linked = client.post("/researchers/A1/links", headers=ada["headers"],
                         json={"record": "A6", "evidence": [{"kind": "orcid"}]})
    assert linked.status_code == 200, linked.text

    sent = invite(client, ada, "A5")

    assert sent.status_code == 201, sent.text
    assert (sent.json()["sender_id"], sent.json()["sender_record"]) == (str(ada["id"]), rid("A1"))
    assert [i["id"] for i in inbox(client, eve)["items"]] == [sent.json()["id"]]


def test_a_dispute_on_the_persons_record_freezes_invitations_to_every_record_of_it(client):
    ada = ada_linked(client)
    bo, cy = person(client, "Bo Two", owns="A2"), person(client, "Cy Three", owns="A3")
    sent = invite(client, bo, "A6")
    assert sent.status_code == 201, sent.text
    challenger = person(client, "Ada Impostor")
    client.app.state.services.claims.open_claim(challenger["id"], facts(client, "A1"), [EvidenceIn(
        "statement", text="No, A1 is me.", links=("https://example.org/impostor",))])
    settle(client)

    refused = invite(client, cy, "A6")

    assert assert_problem(refused, 409, "disputed")["code"] == "recipient_disputed"
    frozen = client.post(f"/invitations/{sent.json()['id']}/accept", headers=ada["headers"])
    assert assert_problem(frozen, 409, "frozen")["code"] == "recipient_disputed"
    assert [i["id"] for i in inbox(client, ada)["items"]] == [sent.json()["id"]]

def test_after_an_unlink_the_former_member_is_a_record_of_its_own_again(client):
    ada = ada_linked(client)
    bo, cy = person(client, "Bo Two", owns="A2"), person(client, "Cy Three", owns="A3")
    sent = invite(client, bo, "A6")
    assert sent.status_code == 201, sent.text
    unlinked = client.delete("/researchers/A1/links/A6", headers=ada["headers"])
    assert unlinked.status_code == 200, unlinked.text

    refused = invite(client, cy, "A6")

    body = assert_problem(refused, 409, "this record is not claimed")
    assert (body["code"], body["status"], body["type"]) == ("recipient_unclaimed", 409,
                                                            "urn:peerledger:problem:recipient_unclaimed")
    assert [i["id"] for i in inbox(client, ada)["items"]] == [sent.json()["id"]]  # nothing written
    # What was sent to the person stays the person's: Ada still answers it.
    accepted = client.post(f"/invitations/{sent.json()['id']}/accept", headers=ada["headers"])
    assert accepted.status_code == 200, accepted.text
    to_person = invite(client, cy, "A1")
    assert to_person.status_code == 201, to_person.text
    assert to_person.json()["recipient_record"] == rid("A1")


def test_search_lists_a_person_once_under_its_own_record_found_by_any_records_names(client):
    assert sorted(search(client, "byron")) == sorted([(rid("A6"), [rid("A6")]), (rid("A8"), [rid("A8")])])
    assert sorted(search(client, "ada")) == sorted([(rid("A1"), [rid("A1")]), (rid("A6"), [rid("A6")])])
    ada = ada_linked(client)

    person_records = [rid("A1"), rid("A6")]
    # A member's name finds the person, in the order of the person's own name ("ada lovelace"
    # before "byron zed"), also a page of one at a time.
    assert search(client, "byron") == search(client, "byron", limit=1) == [(rid("A1"), person_records),
                                                                          (rid("A8"), [rid("A8")])]
    assert search(client, "ada") == search(client, "ada", limit=1) == [(rid("A1"), person_records)]  # once
    assert search(client, "lovelace") == [(rid("A1"), person_records)]
    everyone = search(client, "")
    assert search(client, "", limit=2) == everyone
    assert [r for r, _ in everyone].count(rid("A1")) == 1 and rid("A6") not in [r for r, _ in everyone]
    assert len(everyone) == 8 - 1  # eight records, one of them a member

    assert client.delete("/researchers/A1/links/A6", headers=ada["headers"]).status_code == 200
    assert search(client, "byron") == [(rid("A6"), [rid("A6")]), (rid("A8"), [rid("A8")])]


def test_the_owner_reads_a_member_records_page_as_their_own_and_edits_the_persons_record(client):
    ada = ada_linked(client)
    token = csrf_of(client.get("/p/login").text)
    signed = client.post("/p/login", data={"email": ada["email"], "password": PASSWORD, "csrf_token": token,
                                           "next": "/r/A6"}, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    page = client.get("/r/A6").text
    assert "This is your record." in page and "You own this record" in page
    assert "Claim it" not in page
    assert f'href="/r/{rid("A1")}/edit"' in page  # the person's own record, which the owner's edits change
    assert client.get(f"/r/{rid('A1')}/edit").status_code == 200
