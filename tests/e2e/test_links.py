"""Linking records into one person (issue 18, items 1-3's first part) over HTTP against PostgreSQL:
the owner of a claimed record links a record with their proven ORCID iD at once, or through the
moderators; every record of the person reads one profile folded over the union of their works
(a work both list counted once); unlinking gives each record back exactly its own profile; a
record belongs to at most one person, also when two requests race."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from uuid import UUID, uuid4

import pytest
from litestar.testing import TestClient

from domain.claims.application import EvidenceIn, RecordFacts
from operations.corrections import export_corrections
from operations.importing import import_body
from tests.e2e import support
from tests.e2e.support import (
    ORCID_PROOF, assert_problem, at_once, events_stored, facts, link, moment, own, owner_by_orcid, person,
    profile_as_of, reader_page, rid, serving, settings_on, settle, shown,
)
from tests.factories import author, institution, orcid_with_checksum, work

pytestmark = pytest.mark.services  # PostgreSQL (LINKS_TEST_BACKEND=sqlite runs them on the embedded store)

ORCID = orcid_with_checksum("000000021825009")
# A1 and A6 are one Ada split by OpenAlex (the same ORCID iD); A7 is her too, under another name
# form and without an iD (only a moderator can tell). W7 lists both A1 and A6: counted once.
A1, A6 = author(1, "Ada One", orcid=ORCID), author(6, "Ada One", orcid=ORCID)
A2, A3, A5, A7 = author(2, "Bo Two"), author(3, "Cy Three"), author(5, "Eve Five"), author(7, "A. One")
WORKS = [
    work(1, [A1, A2], year=2019, topics=[(1, "Topic 1")], institutions=[[institution(1)], []]),
    work(2, [A2, A1], year=2022, topics=[(2, "Topic 2")]),
    work(3, [A1, A3], year=2020, topics=[(1, "Topic 1"), (3, "Topic 3")], institutions=[[institution(1)], []]),
    work(4, [A2], year=2021, topics=[(2, "Topic 2")]),
    work(5, [A5], year=2021),
    work(6, [A6, A2], year=2023, topics=[(4, "Topic 4")], institutions=[[institution(2)], []]),
    work(7, [A6, A1, A3], year=2018, topics=[(1, "Topic 1")]),
    work(8, [A7, A3], year=2021, topics=[(3, "Topic 3")], institutions=[[institution(1)], []]),
]
STATEMENT = {"kind": "statement", "text": "I published as A. One at Institute 1 before 2022.",
             "links": ["https://example.org/cv"]}


@pytest.fixture
def client(request, tmp_path) -> Iterator[TestClient]:
    backend = os.environ.get("LINKS_TEST_BACKEND", "postgres")  # sqlite: a quick look without PostgreSQL
    yield from serving(settings_on(backend, request, tmp_path, PEERLEDGER_RATE_LIMIT_SCALE="1000"), WORKS)


def unlink(client, who, record="A6", person_record="A1"):
    return client.delete(f"/researchers/{person_record}/links/{record}", headers=who["headers"])


def as_read(view: dict) -> dict:
    """A page as the person reads it under any of their records' ids (trust names the id asked)."""
    return {**view, "trust": {k: v for k, v in view["trust"].items() if k != "researcher_id"}}


def merged(works: list[dict], into: dict, *others: dict) -> list[dict]:
    """The works as if OpenAlex had one record for the person: `others` listed as `into`."""
    ids = {o["author"]["id"] if "author" in o else o["id"] for o in others}
    out = json.loads(json.dumps(works))
    for w in out:
        for a in w["authorships"]:
            if a["author"]["id"] in ids:
                a["author"] = dict(into)
    return out


@contextmanager
def another_app(tmp_path, works: list[dict], name: str) -> Iterator[TestClient]:
    """An app on the embedded store holding `works`, A1 owned at L2."""
    with support.another_app(tmp_path / name, works) as other:
        own(other, uuid4(), "A1")
        yield other


def test_a_record_with_the_owners_proven_orcid_links_at_once_and_both_ids_read_the_persons_profile(client, tmp_path):
    ada = owner_by_orcid(client, "Ada One")

    answer = link(client, ada)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["request_id"]) == ("linked", None)
    assert body["records"] == [rid("A1"), rid("A6")] and body["position"] > 0
    one, six = reader_page(client, "A1"), reader_page(client, "A6")  # no waiting: the answer came once the profile showed it
    assert as_read(one) == as_read(six)
    p = one["profile"]
    assert (p["id"], p["records"], p["claim_status"], p["verification_level"]) == (rid("A1"), [rid("A1"), rid("A6")],
                                                                                    "claimed", "L2")
    assert p["works_count"] == 5  # W1, W2, W3, W6, W7: W7 lists both records and counts once
    # The profile is a fold over the union: the same as if OpenAlex had listed A6 as A1 throughout.
    with another_app(tmp_path, merged(WORKS, A1, A6), "merged") as other:
        assert shown(one) == shown(reader_page(other, "A1"))


def test_unlinking_gives_each_record_back_exactly_its_own_profile(client, tmp_path):
    ada = owner_by_orcid(client, "Ada One")
    before = {r: reader_page(client, r) for r in ("A1", "A6", "A2")}
    assert link(client, ada).status_code == 200

    answer = unlink(client, ada)

    assert answer.status_code == 200, answer.text
    assert answer.json()["records"] == [rid("A1")]
    assert {r: reader_page(client, r) for r in ("A1", "A6", "A2")} == before
    with another_app(tmp_path, WORKS, "never") as other:  # where the records were never linked
        assert shown(reader_page(client, "A1")) == shown(reader_page(other, "A1"))
        assert reader_page(client, "A6") == reader_page(other, "A6")
    settle(client)
    entries = [e for e in client.get("/researchers/A6/history").json()["items"] if e["kind"].startswith("link.")]
    assert [(e["kind"], e["actor"]["role"]) for e in entries] == [("link.added", "owner"), ("link.removed", "owner")]


def test_a_statement_goes_to_the_moderators_who_see_what_the_records_share_and_approve(client):
    ada = owner_by_orcid(client, "Ada One")
    moderator = person(client, "Mo Derator", role="moderator")
    before = reader_page(client, "A7")

    asked = link(client, ada, record="A7", evidence=[STATEMENT])

    assert asked.status_code == 201, asked.text
    request_id = asked.json()["request_id"]
    assert (asked.json()["status"], asked.json()["records"]) == ("pending", [rid("A1")])
    assert reader_page(client, "A7") == before  # nothing changes until a moderator decides
    queue = client.get("/moderation/links", headers=moderator["headers"])
    assert queue.status_code == 200, queue.text
    [item] = queue.json()["items"]
    assert (item["id"], item["person"], item["record"]) == (request_id, rid("A1"), rid("A7"))
    assert item["evidence"][0]["text"] == STATEMENT["text"]
    summary = item["summary"]
    assert [c["display_name"] for c in summary["shared_coauthors"]] == ["Cy Three"]
    assert [i["id"] for i in summary["shared_institutions"]] == ["I1"]
    assert [t["id"] for t in summary["shared_topics"]] == ["T3"]
    assert summary["name_forms"] == {"person": ["Ada One"], "record": ["A. One"]}
    assert summary["years"] == {"person": [2018, 2022], "record": [2021, 2021]}
    assert summary["overlapping_years"] == [2021, 2021]
    assert client.get(f"/links/{request_id}", headers=ada["headers"]).json()["status"] == "pending"

    approved = client.post(f"/links/{request_id}/approve", headers=moderator["headers"],
                           json={"reason": "Same co-author and institute, same years."})

    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["records"]) == ("approved", [rid("A1"), rid("A7")])
    assert as_read(reader_page(client, "A7")) == as_read(reader_page(client, "A1"))
    assert reader_page(client, "A1")["profile"]["works_count"] == 5  # W1, W2, W3, W7 and W8
    assert client.get("/moderation/links", headers=moderator["headers"]).json()["items"] == []

    settle(client)  # the history view too

    def entries(who=None):
        items = client.get("/researchers/A7/history", headers=(who or {}).get("headers", {})).json()["items"]
        return [e for e in items if e["kind"].startswith("link.")]

    assert [(e["kind"], e["actor"]["role"]) for e in entries()] == [("link.requested", "owner"),
                                                                    ("link.added", "moderator")]
    assert entries()[1]["reason"] is None  # a moderator's words are not public
    assert entries(moderator)[1]["reason"] == "Same co-author and institute, same years."


def test_a_rejected_request_changes_no_profile_and_says_so_in_the_history(client):
    ada = owner_by_orcid(client, "Ada One")
    moderator = person(client, "Mo Derator", role="moderator")
    before = {r: reader_page(client, r) for r in ("A1", "A7")}
    request_id = link(client, ada, record="A7", evidence=[STATEMENT]).json()["request_id"]

    rejected = client.post(f"/links/{request_id}/reject", headers=moderator["headers"],
                           json={"reason": "Another A. One."})

    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["reason"]) == ("rejected", "Another A. One.")
    settle(client)
    assert {r: reader_page(client, r) for r in ("A1", "A7")} == before
    again = client.post(f"/links/{request_id}/approve", headers=moderator["headers"], json={"reason": "oops"})
    assert assert_problem(again, 409, "rejected")["code"] == "link_not_open"
    kinds = [e["kind"] for e in client.get("/researchers/A7/history").json()["items"] if e["kind"].startswith("link.")]
    assert kinds == ["link.requested", "link.rejected"]


def test_refusals_say_why_and_write_nothing(client):
    ada = owner_by_orcid(client, "Ada One")
    stranger = person(client, "Bo Two", owns="A2")
    moderator = person(client, "Mo Derator", role="moderator")
    request_id = link(client, ada, record="A7", evidence=[STATEMENT]).json()["request_id"]
    settle(client)
    before, pages = events_stored(client), {r: reader_page(client, r) for r in ("A1", "A6", "A7")}

    def refused(answer, status, part, code):
        assert assert_problem(answer, status, part)["code"] == code

    refused(client.post("/researchers/A1/links", json={"record": "A6", "evidence": [ORCID_PROOF]}), 401, "",
            "unauthenticated")
    refused(link(client, stranger), 403, "owner", "not_owner")
    refused(unlink(client, stranger), 403, "owner", "not_owner")
    refused(link(client, ada, record="A999"), 404, "A999", "not_found")
    refused(link(client, ada, person_record="A999"), 404, "A999", "not_found")
    refused(link(client, ada, record="A7", evidence=[STATEMENT]), 409, "waiting for the moderators", "link_pending")
    refused(link(client, ada, record="A1"), 422, "itself", "invalid_input")
    refused(link(client, ada, record="A2", evidence=[ORCID_PROOF]), 422, "no ORCID iD", "invalid_evidence")
    refused(link(client, ada, evidence=[{"kind": "institutional_email", "email": "ada@uni.example"}]), 422,
            "affiliation", "invalid_evidence")
    refused(unlink(client, ada, record="A2"), 404, "not linked", "not_found")
    refused(client.post(f"/links/{request_id}/approve", headers=ada["headers"], json={"reason": "me"}), 403,
            "moderator", "forbidden")
    refused(client.post(f"/links/{uuid4()}/approve", headers=moderator["headers"], json={"reason": "x"}), 404,
            "no such link request", "not_found")
    refused(client.get(f"/links/{request_id}", headers=stranger["headers"]), 404, "no such link request",
            "not_found")
    for body, field in (({"record": "A6"}, "evidence"), ({"record": "A6", "evidence": []}, "evidence"),
                        ({"evidence": [ORCID_PROOF]}, "record"),
                        ({"record": "A6", "evidence": [{"kind": "hunch"}]}, "kind"),
                        ({"record": "A6\x00", "evidence": [ORCID_PROOF]}, "record"),
                        ({"record": "A6", "evidence": [ORCID_PROOF], "why": "x"}, "why")):
        assert assert_problem(link(client, ada, body=body), 400, field)["code"] == "validation_failed"
    refused(client.post(f"/links/{request_id}/approve", headers=moderator["headers"], json={"reason": ""}), 400,
            "reason", "validation_failed")

    settle(client)
    assert events_stored(client) == before
    assert {r: reader_page(client, r) for r in ("A1", "A6", "A7")} == pages


def test_a_moderator_decides_no_link_on_their_own_person(client):
    moderator_owner = owner_by_orcid(client, "Mo Ada")
    client.app.state.services.accounts.grant_role(moderator_owner["email"], "moderator", "test")
    request_id = link(client, moderator_owner, record="A7", evidence=[STATEMENT]).json()["request_id"]

    refused = client.post(f"/links/{request_id}/approve", headers=moderator_owner["headers"],
                          json={"reason": "It is me."})

    assert assert_problem(refused, 403, "moderator")["code"] == "moderator_involved"
    assert client.get(f"/links/{request_id}", headers=moderator_owner["headers"]).json()["status"] == "pending"


def test_a_moderator_unlinks_and_a_linked_record_cannot_be_claimed(client):
    ada = owner_by_orcid(client, "Ada One")
    moderator = person(client, "Mo Derator", role="moderator")
    claimant = person(client, "Ada Six")
    assert link(client, ada).status_code == 200

    claim = client.post("/researchers/A6/claims", headers=claimant["headers"], json={"evidence": [STATEMENT]})
    assert assert_problem(claim, 409, "linked into the person")["code"] == "already_linked"
    again = link(client, ada)
    assert assert_problem(again, 409, "part of yours already")["code"] == "already_linked"

    answer = unlink(client, moderator)
    assert answer.status_code == 200, answer.text
    assert reader_page(client, "A6")["profile"]["records"] == [rid("A6")]
    settle(client)
    entry = [e for e in client.get("/researchers/A1/history").json()["items"] if e["kind"] == "link.removed"]
    assert [e["actor"]["role"] for e in entry] == ["moderator"]


def test_of_concurrent_requests_to_link_one_record_exactly_one_wins(client):
    """Four owners ask at the same moment to link A7 into their persons: one request is made, the
    others are refused (the record's event conflicts, the retry sees the request)."""
    owners = [owner_by_orcid(client, "Ada One")] + [person(client, f"Owner {r}", owns=r) for r in ("A2", "A3", "A5")]
    services = client.app.state.services
    records = {"A1": owners[0], "A2": owners[1], "A3": owners[2], "A5": owners[3]}
    target = facts(client, "A7")

    def ask(mine: RecordFacts, who: dict) -> Callable[[], object]:
        return lambda: services.claims.link(mine, target, who["id"], [EvidenceIn("statement", text="me")])

    outcomes = at_once({r: ask(facts(client, r), who) for r, who in records.items()})

    made = [o for o in outcomes.values() if not isinstance(o, str)]
    assert len(made) == 1, outcomes
    assert sorted(o for o in outcomes.values() if isinstance(o, str)) == ["link_pending"] * 3
    assert services.claims.get_record(UUID(rid("A7"))).pending_link == str(made[0].request_id)


def test_concurrent_conclusive_links_of_one_record_leave_it_in_one_person(client):
    """Two owners who proved the same ORCID iD (A1's and A6's) link A8, a third record with it."""
    extra = [work(9, [author(8, "Ada One", orcid=ORCID)], year=2015)]
    import_body(client.app.state.services.catalogue, json.dumps(extra).encode())
    settle(client)
    first, second = owner_by_orcid(client, "Ada One"), owner_by_orcid(client, "Ada Again", record="A6")
    services = client.app.state.services
    target = facts(client, "A8")

    def ask(mine: RecordFacts, who: dict) -> Callable[[], object]:
        return lambda: services.claims.link(mine, target, who["id"], [EvidenceIn("orcid")]).linked

    outcomes = at_once({"A1": ask(facts(client, "A1"), first), "A6": ask(facts(client, "A6"), second)})

    assert sorted(map(str, outcomes.values())) == ["True", "already_linked"], outcomes
    winner = next(r for r, o in outcomes.items() if o is True)
    settle(client)
    assert reader_page(client, "A8")["profile"]["records"] == [rid(winner), rid("A8")]


def test_an_account_following_several_records_of_a_person_counts_once_and_unlinking_restores_the_counts(client):
    ada = owner_by_orcid(client, "Ada One")
    both, one = person(client, "Fan Both"), person(client, "Fan One")
    for who, records in ((both, ("A1", "A6")), (one, ("A6",))):
        for record in records:
            assert client.put(f"/me/following/{record}", headers=who["headers"]).status_code in (200, 201)
    settle(client)
    before = {r: reader_page(client, r) for r in ("A1", "A6")}
    assert [before[r]["profile"]["followers_count"] for r in ("A1", "A6")] == [1, 2]

    assert link(client, ada).status_code == 200
    settle(client)

    linked = {r: reader_page(client, r) for r in ("A1", "A6")}
    assert [linked[r]["profile"]["followers_count"] for r in ("A1", "A6")] == [2, 2]  # two accounts, not three
    assert linked["A1"]["trust"]["counts"]["followers"] == 2
    assert as_read(linked["A1"]) == as_read(linked["A6"])

    assert unlink(client, ada).status_code == 200
    settle(client)
    assert {r: reader_page(client, r) for r in ("A1", "A6")} == before


def test_the_corrections_export_lists_links_and_unlinks_without_personal_text(client, tmp_path):
    ada = owner_by_orcid(client, "Ada One")
    moderator = person(client, "Mo Derator", role="moderator")
    link(client, ada)
    request_id = link(client, ada, record="A7", evidence=[STATEMENT]).json()["request_id"]
    client.post(f"/links/{request_id}/approve", headers=moderator["headers"], json={"reason": "Secret words."})
    unlink(client, ada)

    out = tmp_path / "corrections.jsonl"
    with out.open("wb") as f:
        assert export_corrections(client.app.state.services, f) == 3
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(c["decision"], c["from_record_openalex_id"], c["to_record_openalex_id"], c["evidence_kind"],
             c["actor_role"], c["work_id"]) for c in lines] == [
        ("linked", "A6", "A1", "orcid_proven", "owner", None),
        ("linked", "A7", "A1", "moderator_review", "moderator", None),
        ("unlinked", "A6", "A1", "owner_statement", "owner", None)]
    text = out.read_text()
    assert "Secret" not in text and STATEMENT["text"] not in text and str(ada["id"]) not in text


def test_as_of_shows_the_person_while_the_records_were_linked(client):
    ada = owner_by_orcid(client, "Ada One")
    fan = person(client, "Fan Both")
    for record in ("A1", "A6"):
        assert client.put(f"/me/following/{record}", headers=fan["headers"]).status_code in (200, 201)
    settle(client)
    before = moment()
    link(client, ada)
    settle(client)
    while_linked = moment()
    live = client.get("/researchers/A6").json()
    unlink(client, ada)
    settle(client)

    def past(record: str, at: str) -> dict:
        return {k: v for k, v in profile_as_of(client, record, at).items() if k != "trust"}

    assert past("A6", before)["records"] == [rid("A6")] and past("A6", before)["works_count"] == 2
    assert past("A6", while_linked) == past("A1", while_linked) == {k: v for k, v in live.items() if k != "trust"}
    assert past("A6", while_linked)["followers_count"] == 1  # one account, following both records
    assert past("A6", moment())["records"] == [rid("A6")]
