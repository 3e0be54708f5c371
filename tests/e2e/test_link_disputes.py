"""Asking to link a record someone else owns opens a dispute of it, and nothing changes attribution
or links on a record under dispute but the moderators (issue 18, items 1 and 4), over HTTP against
PostgreSQL; attribution changes and link requests are bounded per account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from domain.catalogue.model import researcher_id_for
from tests.conftest import settings_for
from tests.e2e.support import (
    assert_problem, events_stored, link, own, owner_by_orcid, person, reader_page, rid, serving, settle,
)
from tests.factories import author, orcid_with_checksum, work

ORCID = orcid_with_checksum("000000021825009")
# A1 and A6 are one Ada split by OpenAlex (the same ORCID iD); Eve owns A6 in these tests. A7 has no iD.
A1, A6 = author(1, "Ada One", orcid=ORCID), author(6, "Ada One", orcid=ORCID)
A2, A3, A7 = author(2, "Bo Two"), author(3, "Cy Three"), author(7, "A. One")
WORKS = [
    work(1, [A1, A2], year=2019),
    work(2, [A2, A1], year=2022),
    work(3, [A1, A3], year=2020),
    work(6, [A6, A2], year=2023),
    work(7, [A6, A3], year=2018),
    work(8, [A7, A3], year=2021),
]
STATEMENT = {"kind": "statement", "text": "I published as A. One at Institute 1.", "links": ["https://example.org/cv"]}
ATTRIBUTION = "/researchers/{}/works/{}/attribution"


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    yield from serving(settings_for("postgres", tmp_path, pg_schema), WORKS)


def test_asking_to_link_a_record_someone_else_owns_opens_a_dispute_and_once_decided_for_the_asker_they_link_it(
        client):
    ada = owner_by_orcid(client, "Ada One")
    eve = person(client, "Eve Six", owns="A6")
    moderator = person(client, "Mo Derator", role="moderator")
    before = reader_page(client, "A6")

    asked = link(client, ada)

    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert (body["status"], body["request_id"], body["records"], body["record"]) == ("disputed", None, [rid("A1")],
                                                                                    rid("A6"))
    claim_id = body["claim_id"]
    settle(client)
    six = reader_page(client, "A6")
    assert (six["profile"]["claim_status"], six["profile"]["records"]) == ("disputed", [rid("A6")])  # not linked
    assert six["profile"]["works_count"] == before["profile"]["works_count"]
    assert reader_page(client, "A1")["profile"]["records"] == [rid("A1")]
    claim = client.get(f"/claims/{claim_id}", headers=ada["headers"]).json()
    assert (claim["status"], claim["researcher_id"]) == ("disputing", rid("A6"))
    assert [(e["kind"], e["status"]) for e in claim["evidence"]] == [("orcid", "verified")]  # the iD Ada proved
    queue = client.get("/moderation/claims", headers=moderator["headers"]).json()["items"]
    assert [c["id"] for c in queue] == [claim_id]
    again = link(client, ada)
    assert assert_problem(again, 409, "open claim")["claim_id"] == claim_id
    assert again.json()["code"] == "claim_already_open"

    approved = client.post(f"/claims/{claim_id}/approve", headers=moderator["headers"],
                           json={"level": "L2", "reason": "Ada proved the record's ORCID iD."})

    assert approved.status_code == 200, approved.text
    settle(client)
    six = reader_page(client, "A6")["profile"]
    assert (six["claim_status"], six["verification_level"]) == ("claimed", "L2")
    assert client.app.state.services.claims.get_record(researcher_id_for("A6")).owner == ada["id"]
    assert client.get("/me", headers=eve["headers"]).json()["claimed_researchers"] == []
    assert client.get("/me", headers=ada["headers"]).json()["claimed_researchers"] == sorted([rid("A1"), rid("A6")])
    linked = link(client, ada)  # Ada's own record now: the iD she proved links it at once
    assert linked.status_code == 200, linked.text
    assert (linked.json()["status"], linked.json()["records"]) == ("linked", [rid("A1"), rid("A6")])
    kinds = [e["kind"] for e in client.get("/researchers/A6/history").json()["items"]
             if e["kind"].startswith(("dispute.", "link.", "owner."))]
    assert kinds == ["owner.set", "dispute.opened", "owner.removed", "dispute.resolved", "owner.set", "link.added"]


def test_a_dispute_decided_for_the_owner_leaves_both_records_alone_and_the_same_evidence_is_not_asked_again(client):
    ada = owner_by_orcid(client, "Ada One")
    person(client, "Eve Six", owns="A6")
    moderator = person(client, "Mo Derator", role="moderator")
    claim_id = link(client, ada, evidence=[STATEMENT]).json()["claim_id"]

    rejected = client.post(f"/claims/{claim_id}/reject", headers=moderator["headers"], json={"reason": "Eve's."})

    assert rejected.status_code == 200, rejected.text
    settle(client)
    six = reader_page(client, "A6")["profile"]
    assert (six["claim_status"], six["records"]) == ("claimed", [rid("A6")])
    stored = events_stored(client)
    again = link(client, ada, evidence=[STATEMENT])
    assert assert_problem(again, 409, "rejected claim")["code"] == "evidence_already_rejected"
    assert events_stored(client) == stored


def test_while_a_record_is_disputed_its_owner_changes_no_attribution_nor_links_and_a_moderator_still_does(client):
    ada = owner_by_orcid(client, "Ada One")
    eve = person(client, "Eve Six", owns="A6")
    third = person(client, "Cy Three", owns="A3")
    moderator = person(client, "Mo Derator", role="moderator")
    claim_id = link(client, ada).json()["claim_id"]
    settle(client)
    stored, page = events_stored(client), reader_page(client, "A6")

    for answer in (client.put(ATTRIBUTION.format("A6", "W7"), headers=eve["headers"], json={"decision": "not_mine"}),
                   client.delete(ATTRIBUTION.format("A6", "W7"), headers=eve["headers"]),
                   link(client, eve, record="A7", evidence=[STATEMENT], person_record="A6"),
                   client.delete("/researchers/A6/links/A7", headers=eve["headers"])):
        body = assert_problem(answer, 409, "under dispute")
        assert (body["code"], body["claim_id"]) == ("dispute_open", claim_id)
    other = link(client, third, record="A6", evidence=[STATEMENT], person_record="A3")
    assert assert_problem(other, 409, "already under dispute")["code"] == "dispute_open"
    settle(client)
    assert events_stored(client) == stored
    assert reader_page(client, "A6") == page

    by_moderator = client.put(ATTRIBUTION.format("A6", "W7"), headers=moderator["headers"],
                              json={"decision": "not_mine", "reason": "Cy's student wrote it."})

    assert by_moderator.status_code == 200, by_moderator.text
    assert (by_moderator.json()["decision"], by_moderator.json()["decided_by"]) == ("not_mine", "moderator")
    assert reader_page(client, "A6")["profile"]["works_count"] == page["profile"]["works_count"] - 1
    undone = client.delete(ATTRIBUTION.format("A6", "W7"), headers=moderator["headers"])
    assert undone.status_code == 200 and undone.json()["decision"] is None
    # Once the moderators decide, the owner (here still Eve) changes attribution again.
    assert client.post(f"/claims/{claim_id}/reject", headers=moderator["headers"],
                       json={"reason": "Eve's."}).status_code == 200
    after = client.put(ATTRIBUTION.format("A6", "W7"), headers=eve["headers"], json={"decision": "not_mine"})
    assert after.status_code == 200, after.text
    assert after.json()["decided_by"] == "owner"


def test_approving_a_request_for_a_record_that_got_an_owner_since_is_refused(client):
    ada = owner_by_orcid(client, "Ada One")
    moderator = person(client, "Mo Derator", role="moderator")
    request_id = link(client, ada, record="A7", evidence=[STATEMENT]).json()["request_id"]
    own(client, person(client, "Al Seven")["id"], "A7")
    stored = events_stored(client)

    approved = client.post(f"/links/{request_id}/approve", headers=moderator["headers"], json={"reason": "Same."})

    assert assert_problem(approved, 409, "owned by someone else")["code"] == "record_has_owner"
    assert events_stored(client) == stored
    assert reader_page(client, "A7")["profile"]["records"] == [rid("A7")]


def test_attribution_changes_are_limited_per_account_and_record(client):
    eve = person(client, "Eve Six", owns="A6")
    answers = [client.put(ATTRIBUTION.format("A6", "W7"), headers=eve["headers"], json={"decision": "not_mine"})
               for _ in range(60)]
    assert [a.status_code for a in answers] == [200] * 60  # the same decision again changes nothing
    stored = events_stored(client)

    limited = client.delete(ATTRIBUTION.format("A6", "W7"), headers=eve["headers"])

    body = assert_problem(limited, 429, "too many attribution changes")
    assert body["code"] == "rate_limited" and 0 < body["retry_after"] <= 3600
    assert limited.headers["retry-after"] == str(body["retry_after"])
    assert events_stored(client) == stored
    assert reader_page(client, "A6")["profile"]["works_count"] == 1  # W7 stays out


def test_link_requests_are_limited_per_account(client):
    ada = owner_by_orcid(client, "Ada One")
    answers = [link(client, ada, record="A7", evidence=[STATEMENT]).status_code for _ in range(10)]
    assert answers == [201] + [409] * 9  # one request, then "waiting for the moderators already"
    stored = events_stored(client)

    limited = link(client, ada, record="A2", evidence=[STATEMENT])

    body = assert_problem(limited, 429, "too many link requests")
    assert body["code"] == "rate_limited" and limited.headers["retry-after"] == str(body["retry_after"])
    assert events_stored(client) == stored
    assert reader_page(client, "A2")["profile"]["records"] == [rid("A2")]
