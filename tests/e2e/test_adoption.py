"""Adopting a work (issue 18, item 4's second part) over HTTP against PostgreSQL: the owner of a
claimed record adopts a work OpenAlex attributes to another record. An authorship carrying the
owner's proven ORCID iD moves at once; others go through the moderators. The work leaves the
other record's profile and joins the owner's (counts, topics, graph, trust) exactly as if OpenAlex
had listed the owner there, stays so after re-imports, and an undo gives it back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from uuid import uuid4

import pytest
from litestar.testing import TestClient

from domain.catalogue.model import researcher_id_for, work_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from operations.corrections import export_corrections
from operations.importing import import_body
from operations.replay import replay, verify
from tests.conftest import settings_for
from tests.e2e.support import (
    ORCID_PROOF, another_app, assert_problem, at_once, events_stored, facts, moment, owner_by_orcid, person,
    profile_as_of, reader_page, serving, settle, shown,
)
from tests.factories import author, institution, orcid_with_checksum, work

ORCID = orcid_with_checksum("000000021825009")
# A1 is Ada (she proves ORCID for it). OpenAlex put her W9 under A9 ("A. One", an authorship
# carrying her iD) and her W8 under A8 (no iD: only a moderator can tell). A5 is Eve's, owned.
A1 = author(1, "Ada One", orcid=ORCID)
A2, A3, A5, A8 = author(2, "Bo Two"), author(3, "Cy Three"), author(5, "Eve Five"), author(8, "Ada Uno")
A9 = author(9, "A. One", orcid=ORCID)
WORKS = [
    work(1, [A1, A2], year=2019, topics=[(1, "Topic 1")], institutions=[[institution(1)], []]),
    work(2, [A1, A3], year=2020, topics=[(1, "Topic 1")]),
    work(4, [A2], year=2021, topics=[(2, "Topic 2")]),
    work(5, [A5, A9], year=2021),
    work(8, [A8, A2], year=2021, topics=[(2, "Topic 2")], institutions=[[institution(2)], []]),
    work(9, [A9, A3], year=2022, topics=[(3, "Topic 3")], institutions=[[institution(2)], []]),
]
STATEMENT = {"kind": "statement", "text": "I wrote this as Ada Uno during my stay at Institute 2.",
             "links": ["https://example.org/cv"]}
PATH = "/researchers/{}/works/{}/adoption"


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    yield from serving(settings_for("postgres", tmp_path, pg_schema, PEERLEDGER_RATE_LIMIT_SCALE="1000"), WORKS)


def adopt(client, who, work_id="W9", from_record="A9", evidence=(ORCID_PROOF,), record="A1", body=None):
    payload = {"evidence": list(evidence), **({"from_record": from_record} if from_record else {})}
    return client.post(PATH.format(record, work_id), headers=who["headers"], json=payload if body is None else body)


def undo(client, who, work_id="W9", record="A1"):
    return client.delete(PATH.format(record, work_id), headers=who["headers"])


def works_of(client, record: str) -> list[str]:
    return [w["openalex_id"] for w in reader_page(client, record)["works"]["items"]]


def listed_as(works: list[dict], work_number: int, old: dict, new: dict) -> list[dict]:
    """The same data where OpenAlex listed `new` instead of `old` on one work (the listing's name,
    iD and institutions kept)."""
    out = json.loads(json.dumps(works))
    for w in out:
        if w["id"].endswith(f"/W{work_number}"):
            for a in w["authorships"]:
                if a["author"]["id"] == old["id"]:
                    a["author"] = {**a["author"], "id": new["id"]}
    return out


@contextmanager
def other_world(tmp_path, works: list[dict], owned: str = "A1") -> Iterator[TestClient]:
    """An app on the embedded store holding `works`, `owned` claimed at L2."""
    with another_app(tmp_path / "other", works) as other:
        owner_by_orcid(other, "Ada One", owned)
        yield other


def test_an_orcid_proven_adoption_moves_the_work_at_once_as_if_openalex_had_listed_the_owner(client, tmp_path):
    ada = owner_by_orcid(client)
    before = reader_page(client, "A1")
    assert before["profile"]["works_count"] == 2 and "W9" in works_of(client, "A9")

    answer = adopt(client, ada)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["decided_by"], body["evidence_kind"], body["request_id"]) == \
        ("adopted", "owner", "orcid_proven", None)
    assert body["from_record"] == str(researcher_id_for("A9")) and body["position"] > 0
    after = reader_page(client, "A1")  # no waiting: the answer came once the profile showed it
    assert after["profile"]["works_count"] == 3 and "W9" in works_of(client, "A1")
    assert "T3" in [t["openalex_id"] for t in after["profile"]["topics"]]
    assert after["trust"]["counts"]["works"] == 3 and after["trust"]["score"] >= before["trust"]["score"]
    assert "W9" not in works_of(client, "A9") and reader_page(client, "A9")["profile"]["works_count"] == 1
    w9 = client.get("/works/W9").json()
    assert [a["openalex_id"] for a in w9["authorships"]] == ["A1", "A3"]

    # The same data where OpenAlex listed A1 instead of A9 on W9.
    with other_world(tmp_path, listed_as(WORKS, 9, A9, A1)) as other:
        assert shown(after) == shown(reader_page(other, "A1"))
        assert shown(reader_page(client, "A9")) == shown(reader_page(other, "A9"))
        assert shown(reader_page(client, "A3")) == shown(reader_page(other, "A3"))  # the co-author's graph


def test_a_reimport_still_listing_the_other_record_keeps_the_work_adopted(client):
    ada = owner_by_orcid(client)
    assert adopt(client, ada).status_code == 200
    out = reader_page(client, "A1")

    changed = json.loads(json.dumps(WORKS))
    changed[5] = {**changed[5], "cited_by_count": 99, "title": "A corrected title"}  # OpenAlex still lists A9
    import_body(client.app.state.services.catalogue, json.dumps(changed).encode())
    settle(client)

    again = reader_page(client, "A1")
    assert shown(again) == shown(out)
    titles = {w["openalex_id"]: w["title"] for w in again["works"]["items"]}
    assert titles["W9"] == "A corrected title"
    assert "W9" not in works_of(client, "A9")


def test_undo_gives_the_work_back_to_openalexs_attribution(client):
    ada = owner_by_orcid(client)
    a9_before = reader_page(client, "A9")
    before = reader_page(client, "A1")
    adopt(client, ada)

    undone = undo(client, ada)

    assert undone.status_code == 200, undone.text
    assert (undone.json()["status"], undone.json()["from_record"]) == (None, None)
    assert undone.json()["position"] > 0
    assert shown(reader_page(client, "A1")) == shown(before)
    assert shown(reader_page(client, "A9")) == shown(a9_before)
    again = undo(client, ada)
    assert again.status_code == 200 and again.json()["position"] is None


def test_a_moderated_adoption_waits_for_a_moderator_and_moves_the_work_on_approval(client, tmp_path):
    ada = owner_by_orcid(client)
    moderator = person(client, "Mo Derator", role="moderator")

    asked = adopt(client, ada, work_id="W8", from_record="A8", evidence=[STATEMENT])

    assert asked.status_code == 201, asked.text
    body = asked.json()
    assert body["status"] == "pending" and body["request_id"]
    settle(client)
    assert "W8" not in works_of(client, "A1")  # nothing moves before a moderator decides
    request_id = body["request_id"]
    queue = client.get("/moderation/adoptions", headers=moderator["headers"])
    assert queue.status_code == 200, queue.text
    [item] = queue.json()["items"]
    assert (item["id"], item["status"], item["evidence"][0]["text"]) == (request_id, "pending", STATEMENT["text"])
    assert item["from_record"] == str(researcher_id_for("A8"))
    assert [c["id"] for c in item["summary"]["shared_coauthors"]] == [str(researcher_id_for("A2"))]  # Bo
    assert item["summary"]["name_forms"] == {"person": ["Ada One"], "record": ["Ada Uno"]}
    mine = client.get(f"/adoptions/{request_id}", headers=ada["headers"])
    assert mine.status_code == 200 and mine.json()["requested_by"] == str(ada["id"])
    stranger = person(client, "Bo Two")
    assert assert_problem(client.get(f"/adoptions/{request_id}", headers=stranger["headers"]), 404,
                          "adoption request")["code"] == "not_found"
    assert assert_problem(adopt(client, ada, work_id="W8", from_record="A8", evidence=[STATEMENT]), 409,
                          "waiting for the moderators")["code"] == "adoption_pending"

    approved = client.post(f"/adoptions/{request_id}/approve", headers=moderator["headers"],
                           json={"reason": "Same co-author, same institute."})

    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["reason"]) == ("approved", "Same co-author, same institute.")
    assert "W8" in works_of(client, "A1") and "W8" not in works_of(client, "A8")
    assert client.get("/moderation/adoptions", headers=moderator["headers"]).json()["items"] == []
    with other_world(tmp_path, listed_as(WORKS, 8, A8, A1)) as other:
        assert shown(reader_page(client, "A1")) == shown(reader_page(other, "A1"))
        assert shown(reader_page(client, "A2")) == shown(reader_page(other, "A2"))
    again = client.post(f"/adoptions/{request_id}/reject", headers=moderator["headers"], json={"reason": "No."})
    assert assert_problem(again, 409, "approved already")["code"] == "adoption_not_open"


def test_a_rejected_adoption_moves_nothing_and_frees_the_work_for_another_request(client):
    ada = owner_by_orcid(client)
    moderator = person(client, "Mo Derator", role="moderator")
    before, a8 = reader_page(client, "A1"), reader_page(client, "A8")
    request_id = adopt(client, ada, work_id="W8", from_record="A8", evidence=[STATEMENT]).json()["request_id"]

    rejected = client.post(f"/adoptions/{request_id}/reject", headers=moderator["headers"],
                           json={"reason": "Another Ada Uno works there."})

    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    settle(client)
    assert shown(reader_page(client, "A1")) == shown(before) and shown(reader_page(client, "A8")) == shown(a8)
    assert adopt(client, ada, work_id="W8", from_record="A8", evidence=[STATEMENT]).status_code == 201


def test_a_moderator_cannot_decide_an_adoption_for_a_record_they_claimed(client):
    ada = owner_by_orcid(client)
    involved = person(client, "Mo Involved", role="moderator")
    opened = client.post("/researchers/A8/claims", headers=involved["headers"],
                         json={"evidence": [{"kind": "statement", "text": "It is me."}]})
    assert opened.status_code == 201, opened.text
    request_id = adopt(client, ada, work_id="W8", from_record="A8", evidence=[STATEMENT]).json()["request_id"]
    written = events_stored(client)

    refused = client.post(f"/adoptions/{request_id}/approve", headers=involved["headers"], json={"reason": "Yes."})

    assert assert_problem(refused, 403, "moderator")["code"] == "moderator_involved"
    assert events_stored(client) == written
    assert client.get("/moderation/adoptions", headers=involved["headers"]).json()["items"] == []
    assert assert_problem(client.post(f"/adoptions/{request_id}/approve", headers=ada["headers"],
                                      json={"reason": "Yes."}), 403, "")["code"] == "forbidden"
    other = person(client, "Mo Other", role="moderator")
    unknown = client.post(f"/adoptions/{uuid4()}/approve", headers=other["headers"], json={"reason": "Yes."})
    assert assert_problem(unknown, 404, "adoption request")["code"] == "not_found"
    blank = client.post(f"/adoptions/{request_id}/approve", headers=other["headers"], json={"reason": ""})
    assert assert_problem(blank, 400, "reason")["code"] == "validation_failed"
    assert events_stored(client) == written


def test_a_moderator_undoes_an_adoption_and_the_history_says_so(client):
    ada = owner_by_orcid(client)
    moderator = person(client, "Mo Derator", role="moderator")
    adopt(client, ada)

    undone = undo(client, moderator)

    assert undone.status_code == 200, undone.text
    assert "W9" in works_of(client, "A9") and "W9" not in works_of(client, "A1")
    settle(client)
    [entry] = [e for e in client.get("/researchers/A9/history").json()["items"]
               if e["kind"] == "attribution.adoption_undone"]
    assert entry["actor"] == {"role": "moderator", "id": None}


def test_the_from_record_is_found_from_the_owners_proven_orcid_when_left_out(client):
    ada = owner_by_orcid(client)

    answer = adopt(client, ada, from_record=None)

    assert answer.status_code == 200, answer.text
    assert answer.json()["from_record"] == str(researcher_id_for("A9"))
    refused = assert_problem(adopt(client, ada, work_id="W8", from_record=None, evidence=[STATEMENT]), 422,
                             "from_record")
    assert (refused["code"], refused["field"]) == ("invalid_input", "from_record")


def test_refusals_say_why_and_write_nothing(client):
    ada = owner_by_orcid(client)
    person(client, "Eve Five", owns="A5")
    stranger = person(client, "Bo Two", owns="A2")
    lapsed = person(client, "Cy Three", owns="A3")
    services = client.app.state.services
    record = services.claims.get_record(researcher_id_for("A3"))
    record.change_level("L2", "L1", "the proof lapsed", [], "system", None)  # still the owner, now at L1
    services.claims.save(record)
    written = events_stored(client)

    cases = [
        (adopt(client, stranger), 403, "owner", "not_owner"),
        (adopt(client, lapsed, record="A3", work_id="W8", from_record="A8", evidence=[STATEMENT]), 403, "L1",
         "owner_not_verified"),
        (client.post(PATH.format("A1", "W9"), json={"evidence": [ORCID_PROOF], "from_record": "A9"}), 401, "",
         "unauthenticated"),
        (adopt(client, ada, record="A999"), 404, "A999", "not_found"),
        (adopt(client, ada, work_id="W999"), 404, "W999", "not_found"),
        (adopt(client, ada, from_record="A999"), 404, "A999", "not_found"),
        (adopt(client, ada, work_id="nonsense"), 400, "work id", "validation_failed"),
        (adopt(client, ada, work_id="W1", from_record="A2"), 409, "lists your record already", "already_an_author"),
        (adopt(client, ada, work_id="W4", from_record="A3"), 409, "does not list that record", "not_an_author"),
        (adopt(client, ada, work_id="W5", from_record="A5"), 409, "someone's", "record_has_owner"),
        (adopt(client, ada, work_id="W8", from_record="A8"), 422, "no ORCID iD you proved", "invalid_evidence"),
        (adopt(client, ada, evidence=[{"kind": "institutional_email", "email": "ada@uni.example"}]), 422,
         "affiliation", "invalid_evidence"),
        (adopt(client, ada, work_id="W9", from_record="A1"), 422, "adopting record itself", "invalid_input"),
    ]
    for answer, status, part, code in cases:
        assert assert_problem(answer, status, part)["code"] == code, answer.text
    for body, field in (({"from_record": "A9"}, "evidence"),
                        ({"from_record": "A9", "evidence": []}, "evidence"),
                        ({"from_record": "A9", "evidence": [ORCID_PROOF], "mood": "sad"}, "mood"),
                        ({"from_record": "A9\x00", "evidence": [ORCID_PROOF]}, "from_record")):
        problem = assert_problem(adopt(client, ada, body=body), 400, field)
        assert problem["code"] in ("validation_failed", "invalid_text"), problem
    assert assert_problem(undo(client, stranger), 403, "owner")["code"] == "not_owner"

    assert events_stored(client) == written
    settle(client)
    assert reader_page(client, "A1")["profile"]["works_count"] == 2
    assert not [e for e in client.get("/researchers/A1/history").json()["items"] if e["kind"].startswith("attribution.adopt")]


def test_an_authorship_is_adopted_by_one_record_only(client):
    ada = owner_by_orcid(client)
    cy = person(client, "Cy Three", owns="A3")
    assert adopt(client, ada).status_code == 200

    refused = adopt(client, cy, record="A3", work_id="W5", from_record="A9", evidence=[STATEMENT])
    assert refused.status_code == 201  # W5's authorship under A9 is not adopted: another work
    taken = adopt(client, cy, record="A2", work_id="W9", from_record="A9", evidence=[STATEMENT])
    assert taken.status_code == 403  # A2 is not Cy's
    bo = person(client, "Bo Two", owns="A2")
    again = adopt(client, bo, record="A2", work_id="W9", from_record="A9", evidence=[STATEMENT])
    assert assert_problem(again, 409, "adopted this work from that record already")["code"] == "already_adopted"


def test_of_concurrent_requests_to_adopt_one_authorship_exactly_one_wins(client):
    """Three owners ask at the same moment to adopt W8 from A8: one request is made, the others are
    refused (the record's event conflicts, the retry sees the request)."""
    owners = {"A1": owner_by_orcid(client)} | {r: person(client, f"Owner {r}", owns=r) for r in ("A3", "A5")}
    services = client.app.state.services
    source = facts(client, "A8")

    def ask(mine: RecordFacts, who: dict) -> Callable[[], object]:
        return lambda: services.claims.adopt(mine, work_id_for("W8"), who["id"], [EvidenceIn("statement", text="mine")],
                                             source)

    outcomes = at_once({r: ask(facts(client, r), who) for r, who in owners.items()})

    made = [o for o in outcomes.values() if not isinstance(o, str)]
    assert len(made) == 1, outcomes
    assert sorted(o for o in outcomes.values() if isinstance(o, str)) == ["adoption_pending"] * 2
    record = services.claims.get_record(researcher_id_for("A8"))
    assert record.pending_adoptions == {str(work_id_for("W8")): str(made[0].request_id)}


def test_history_shows_adoptions_in_both_records_and_the_moderators_reason_to_those_concerned(client):
    ada = owner_by_orcid(client)
    moderator = person(client, "Mo Derator", role="moderator")
    adopt(client, ada)
    undo(client, ada)
    request_id = adopt(client, ada, work_id="W8", from_record="A8", evidence=[STATEMENT]).json()["request_id"]
    client.post(f"/adoptions/{request_id}/approve", headers=moderator["headers"], json={"reason": "Same institute."})
    settle(client)

    def entries(record, who=None):
        items = client.get(f"/researchers/{record}/history", headers=(who or {}).get("headers", {})).json()["items"]
        return [e for e in items if e["kind"].startswith("attribution.adopt")]

    assert [(e["kind"], e["actor"]["role"]) for e in entries("A1")] == [
        ("attribution.adopted", "owner"), ("attribution.adoption_undone", "owner"),
        ("attribution.adoption_requested", "owner"), ("attribution.adopted", "moderator")]
    assert [e["kind"] for e in entries("A9")] == ["attribution.adopted", "attribution.adoption_undone"]
    assert [e["kind"] for e in entries("A8")] == ["attribution.adoption_requested", "attribution.adopted"]
    added = entries("A1")[0]["changes"]
    assert (added["work_id"], added["from_record"], added["adopter"], added["evidence"]) == (
        str(client.get("/works/W9").json()["id"]), str(researcher_id_for("A9")), str(researcher_id_for("A1")),
        "orcid_proven")
    rejected = adopt(client, ada, work_id="W5", from_record="A9", evidence=[STATEMENT]).json()["request_id"]
    client.post(f"/adoptions/{rejected}/reject", headers=moderator["headers"], json={"reason": "Eve's."})
    settle(client)
    assert [e["kind"] for e in entries("A9")] == ["attribution.adopted", "attribution.adoption_undone",
                                                  "attribution.adoption_requested", "attribution.adoption_rejected"]
    assert entries("A9", moderator)[-1]["reason"] == "Eve's."
    assert entries("A1")[3]["reason"] is None  # the public does not read the moderator's words
    assert entries("A1", ada)[3]["reason"] == "Same institute."
    assert entries("A1", moderator)[3]["reason"] == "Same institute."
    rebuilt = verify(client.app.state.services, ["profiles", "history"])  # replay --verify
    assert [(v.projection, v.differences) for v in rebuilt] == [("profiles", []), ("history", [])]


def test_erasing_the_moderator_keeps_the_adoption_and_erases_the_reason(client):
    ada = owner_by_orcid(client)
    moderator = person(client, "Mo Derator", role="moderator")
    other_moderator = person(client, "Mo Other", role="moderator")
    request_id = adopt(client, ada, work_id="W8", from_record="A8", evidence=[STATEMENT]).json()["request_id"]
    client.post(f"/adoptions/{request_id}/approve", headers=moderator["headers"], json={"reason": "Same institute."})

    assert client.delete("/me", headers=moderator["headers"]).status_code in (200, 204)
    assert client.delete("/me", headers=ada["headers"]).status_code in (200, 204)
    settle(client)

    assert "W8" in works_of(client, "A1")
    seen = client.get(f"/adoptions/{request_id}", headers=other_moderator["headers"]).json()
    assert (seen["status"], seen["reason"], seen["evidence"][0]["text"]) == ("approved", None, None)
    entry = [e for e in client.get("/researchers/A1/history", headers=other_moderator["headers"]).json()["items"]
             if e["kind"] == "attribution.adopted"][-1]
    assert entry["reason"] == "erased"
    replay(client.app.state.services, ["profiles", "history"])
    settle(client)
    assert "W8" in works_of(client, "A1") and "W8" not in works_of(client, "A8")
    entry = [e for e in client.get("/researchers/A1/history", headers=other_moderator["headers"]).json()["items"]
             if e["kind"] == "attribution.adopted"][-1]
    assert entry["reason"] == "erased"


def test_the_corrections_export_lists_adoptions_without_personal_text(client, tmp_path):
    ada = owner_by_orcid(client)
    moderator = person(client, "Mo Derator", role="moderator")
    adopt(client, ada)
    undo(client, ada)
    request_id = adopt(client, ada, work_id="W8", from_record="A8", evidence=[STATEMENT]).json()["request_id"]
    client.post(f"/adoptions/{request_id}/approve", headers=moderator["headers"], json={"reason": "Secret words."})

    out = tmp_path / "corrections.jsonl"
    with out.open("wb") as f:
        assert export_corrections(client.app.state.services, f) == 3
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(c["decision"], c["work_openalex_id"], c["from_record_openalex_id"], c["to_record_openalex_id"],
             c["actor_role"], c["evidence_kind"]) for c in lines] == [
        ("adopted", "W9", "A9", "A1", "owner", "orcid_proven"),
        ("adoption_undone", "W9", "A9", "A1", "owner", "owner_statement"),
        ("adopted", "W8", "A8", "A1", "moderator", "moderator_review")]
    text = out.read_text()
    assert "Secret" not in text and "Ada Uno during" not in text and str(ada["id"]) not in text


def test_as_of_applies_the_adoptions_in_force_at_that_moment(client):
    ada = owner_by_orcid(client)
    before = moment()
    adopt(client, ada)
    while_adopted = moment()
    undo(client, ada)
    after = moment()

    past = partial(profile_as_of, client)

    assert past("A1", before)["works_count"] == past("A1", after)["works_count"] == 2
    assert past("A9", before)["works_count"] == past("A9", after)["works_count"] == 2
    assert (past("A1", while_adopted)["works_count"], past("A9", while_adopted)["works_count"]) == (3, 1)
    adopt(client, ada)
    for record in ("A1", "A9", "A3"):
        live = client.get(f"/researchers/{record}").json()
        now = past(record, moment())
        assert {k: v for k, v in live.items() if k != "trust"} == {k: v for k, v in now.items() if k != "trust"}


def test_a_persons_record_adopts_for_the_person_and_works_of_its_members_are_its_already(client):
    ada = owner_by_orcid(client)
    moderator = person(client, "Mo Derator", role="moderator")
    linked = client.post("/researchers/A1/links", headers=ada["headers"],
                         json={"record": "A9", "evidence": [ORCID_PROOF]})
    assert linked.status_code == 200, linked.text

    refused = adopt(client, ada, work_id="W5", from_record="A9", evidence=[STATEMENT])  # from a member of hers
    assert assert_problem(refused, 409, "lists your record already")["code"] == "already_an_author"
    member_listed = adopt(client, ada, work_id="W9", from_record="A3", evidence=[STATEMENT])
    assert assert_problem(member_listed, 409, "lists your record already")["code"] == "already_an_author"
    request_id = adopt(client, ada, work_id="W8", from_record="A8", evidence=[STATEMENT]).json()["request_id"]
    approved = client.post(f"/adoptions/{request_id}/approve", headers=moderator["headers"], json={"reason": "Yes."})
    assert approved.status_code == 200, approved.text

    for record in ("A1", "A9"):  # every record of the person reads the person's profile
        page = reader_page(client, record)
        assert "W8" in [w["openalex_id"] for w in page["works"]["items"]]
        assert page["profile"]["works_count"] == 5  # W1, W2, W5, W9 and the adopted W8
    assert "W8" not in works_of(client, "A8")


def test_adopting_and_undoing_are_limited_per_account_and_the_refusal_says_when_to_try_again(tmp_path, pg_schema):
    for client in serving(settings_for("postgres", tmp_path, pg_schema), WORKS):
        ada = owner_by_orcid(client)
        answers = [(adopt(client, ada) if n % 2 == 0 else undo(client, ada)).status_code for n in range(30)]
        assert answers == [200] * 30
        stored = events_stored(client)

        limited = adopt(client, ada)

        body = assert_problem(limited, 429, "too many adoptions")
        assert body["code"] == "rate_limited" and 0 < body["retry_after"] <= 3600
        assert limited.headers["retry-after"] == str(body["retry_after"])
        assert events_stored(client) == stored
