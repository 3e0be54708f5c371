"""Per-work attribution (issue 18, item 4's first part) over HTTP against PostgreSQL: the owner of a
claimed record says a work is not theirs, and takes it back. The work leaves that record's
profile, counts, topics, collaborators, graph, works and trust exactly as if OpenAlex had never
listed the authorship, stays out after re-imports, and co-authors keep it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from datetime import datetime, timedelta
from uuid import uuid4

import pytest
from litestar.testing import TestClient

from domain.catalogue.model import researcher_id_for
from operations.corrections import export_corrections
from operations.importing import import_body
from operations.replay import replay
from tests.conftest import settings_env, settings_for
from tests.e2e.support import (
    another_app, assert_problem, moment, own, peerledger, person, profile_as_of, reader_page, serving, settle, shown,
)
from tests.factories import author, institution, work

# A1 and A2 share W1 and W2 (close collaborators); W2 is A1's newest work and the only one that
# places A1 at I2; A1 wrote W3 with A3; A2 wrote W4 alone. A5 stays unclaimed.
A1, A2, A3 = author(1, "Ada One"), author(2, "Bo Two"), author(3, "Cy Three")
WORKS = [
    work(1, [A1, A2], year=2019, topics=[(1, "Topic 1")], institutions=[[institution(1)], []]),
    work(2, [A2, author(1, "Ada X. One")], year=2022, topics=[(2, "Topic 2")], institutions=[[], [institution(2)]]),
    work(3, [A1, A3], year=2020, topics=[(1, "Topic 1"), (3, "Topic 3")], institutions=[[institution(1)], []]),
    work(4, [A2], year=2021, topics=[(2, "Topic 2")]),
    work(5, [author(5, "Eve Five")], year=2021),
]
PATH = "/researchers/{}/works/{}/attribution"


def without_a1_on_w2(works: list[dict]) -> list[dict]:
    """The same data where OpenAlex never listed A1 on W2."""
    changed = [dict(w) for w in works]
    changed[1]["authorships"] = [a for a in changed[1]["authorships"] if a["author"]["id"] != A1["id"]]
    return changed


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    yield from serving(settings_for("postgres", tmp_path, pg_schema, PEERLEDGER_RATE_LIMIT_SCALE="1000"), WORKS)


def disown(client, who, record="A1", work_id="W2", body=None):
    return client.put(PATH.format(record, work_id), headers=who["headers"],
                      json={"decision": "not_mine"} if body is None else body)


def undo(client, who, record="A1", work_id="W2"):
    return client.delete(PATH.format(record, work_id), headers=who["headers"])


def test_not_mine_takes_the_work_out_of_the_profile_as_if_openalex_never_listed_it_and_undo_restores_it(
        client, tmp_path):
    owner = person(client, "Ada One", owns="A1")
    before = reader_page(client, "A1")
    assert before["profile"]["works_count"] == 3 and before["profile"]["close_collaborators_count"] == 1
    assert before["profile"]["affiliation"]["openalex_id"] == "I2"

    answer = disown(client, owner, body={"decision": "not_mine", "reason": "Another Ada wrote this."})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["decision"], body["decided_by"], body["reason"]) == ("not_mine", "owner", "Another Ada wrote this.")
    assert body["position"] > 0
    after = reader_page(client, "A1")  # no waiting: the answer came once the profile showed it
    p = after["profile"]
    assert (p["works_count"], p["close_collaborators_count"], p["display_name"]) == (2, 0, "Ada One")
    assert [t["openalex_id"] for t in p["topics"]] == ["T1", "T3"]
    assert p["affiliation"]["openalex_id"] == "I1"
    assert after["trust"]["counts"]["works"] == 2 and after["trust"]["score"] < before["trust"]["score"]

    # The same data where OpenAlex never listed A1 on W2, the record claimed the same way.
    with never_listed(tmp_path) as other:
        assert shown(after) == shown(reader_page(other, "A1"))
        assert reader_page(client, "A2") == reader_page(other, "A2")  # the co-author keeps the work, with A1 off it

    undone = undo(client, owner)
    assert undone.status_code == 200, undone.text
    assert (undone.json()["decision"], undone.json()["reason"]) == (None, None)
    assert shown(reader_page(client, "A1")) == shown(before)


@contextmanager
def never_listed(tmp_path) -> Iterator[TestClient]:
    """An app on the embedded store holding the works without A1 on W2, A1 owned at L2."""
    with another_app(tmp_path / "never", without_a1_on_w2(WORKS)) as other:
        own(other, uuid4(), "A1")
        yield other


def test_a_reimport_still_listing_the_authorship_keeps_the_work_out(client):
    owner = person(client, "Ada One", owns="A1")
    assert disown(client, owner).status_code == 200
    out = reader_page(client, "A1")

    changed = [dict(w) for w in WORKS]
    changed[1] = {**changed[1], "cited_by_count": 99, "title": "A corrected title"}  # OpenAlex still lists A1
    import_body(client.app.state.services.catalogue, json.dumps(changed).encode())
    settle(client)

    again = reader_page(client, "A1")
    assert shown(again) == shown(out)
    assert "W2" not in {w["openalex_id"] for w in again["works"]["items"]}
    titles = {w["openalex_id"]: w["title"] for w in reader_page(client, "A2")["works"]["items"]}
    assert titles["W2"] == "A corrected title"  # the co-author sees the correction


def test_not_mine_by_one_author_leaves_the_co_authors_record_alone(client):
    owner = person(client, "Ada One", owns="A1")
    co_before = reader_page(client, "A2")

    disown(client, owner)

    co_after = reader_page(client, "A2")
    assert co_after["profile"]["works_count"] == co_before["profile"]["works_count"] == 3
    assert "W2" in {w["openalex_id"] for w in co_after["works"]["items"]}
    w2 = next(w for w in co_after["works"]["items"] if w["openalex_id"] == "W2")
    assert [a["openalex_id"] for a in w2["authors"]] == ["A2"]  # A1 is no author of it on any page
    assert co_after["profile"]["close_collaborators_count"] == 0  # they now share one work


def test_the_only_author_disowning_a_work_leaves_it_without_authors_and_undo_brings_them_back(client):
    """Found by the Hypothesis test on PostgreSQL: a work left with no author made the batch
    send an empty set of authorship rows, which failed the batch."""
    owner = person(client, "Eve Five", owns="A5")

    assert disown(client, owner, record="A5", work_id="W5").status_code == 200
    settle(client)
    assert reader_page(client, "A5")["profile"]["works_count"] == 0
    assert client.get("/works/W5").json()["authorships"] == []

    assert undo(client, owner, record="A5", work_id="W5").status_code == 200
    settle(client)
    assert reader_page(client, "A5")["profile"]["works_count"] == 1
    assert [a["openalex_id"] for a in client.get("/works/W5").json()["authorships"]] == ["A5"]


def test_repeating_a_decision_is_answered_with_the_state_and_writes_nothing(client):
    owner = person(client, "Ada One", owns="A1")
    first = disown(client, owner).json()

    again = disown(client, owner)
    assert again.status_code == 200 and again.json() == {**first, "position": None}
    assert undo(client, owner).json()["position"] is not None
    repeated = undo(client, owner)
    assert repeated.status_code == 200 and repeated.json()["position"] is None and repeated.json()["decision"] is None
    settle(client)
    kinds = [e["kind"] for e in client.get("/researchers/A1/history").json()["items"]]
    assert kinds.count("attribution.changed") == 2


def test_refusals_say_why_and_write_nothing(client):
    owner = person(client, "Ada One", owns="A1")
    stranger = person(client, "Bo Two", owns="A2")

    assert assert_problem(disown(client, stranger), 403, "owner")["code"] == "not_owner"
    assert assert_problem(disown(client, stranger, record="A5", work_id="W5"), 403, "owner")["code"] == "not_owner"
    assert assert_problem(client.put(PATH.format("A1", "W2"), json={"decision": "not_mine"}), 401, "")["code"] \
        == "unauthenticated"
    assert assert_problem(disown(client, owner, record="A999"), 404, "A999")["code"] == "not_found"
    assert assert_problem(disown(client, owner, work_id="W999"), 404, "W999")["code"] == "not_found"
    assert assert_problem(disown(client, owner, work_id="nonsense"), 400, "work id")["code"] == "validation_failed"
    refused = assert_problem(disown(client, owner, work_id="W4"), 409, "does not list this record")
    assert refused["code"] == "not_an_author"
    missing = assert_problem(disown(client, owner, body={}), 400, "missing required field `decision`")
    assert missing["code"] == "validation_failed"
    for body, field in (({"decision": "mine"}, "decision"),
                        ({"decision": "not_mine", "reason": "nul\x00"}, "reason"),
                        ({"decision": "not_mine", "reason": "x" * 2001}, "reason")):
        problem = assert_problem(disown(client, owner, body=body), 400, field)
        assert problem["field"] == field, problem
    assert assert_problem(disown(client, owner, body={"decision": "not_mine", "mood": "sad"}), 400, "mood")["code"] \
        == "validation_failed"
    assert assert_problem(undo(client, stranger), 403, "owner")["code"] == "not_owner"

    settle(client)
    assert reader_page(client, "A1")["profile"]["works_count"] == 3
    assert "attribution.changed" not in [e["kind"] for e in client.get("/researchers/A1/history").json()["items"]]


def test_a_moderator_decides_for_an_unclaimed_record_but_not_for_one_they_claimed(client):
    moderator = person(client, "Mo Derator", role="moderator")
    assert disown(client, moderator, record="A3", work_id="W3").json()["decided_by"] == "moderator"
    assert reader_page(client, "A3")["profile"]["works_count"] == 0

    involved = person(client, "Mo Involved", role="moderator")
    opened = client.post("/researchers/A2/claims", headers=involved["headers"],
                         json={"evidence": [{"kind": "statement", "text": "It is me."}]})
    assert opened.status_code == 201, opened.text
    refused = assert_problem(disown(client, involved, record="A2", work_id="W4"), 403, "moderator")
    assert refused["code"] == "moderator_involved"


def test_history_shows_the_decision_to_all_and_the_reason_to_the_owner_and_moderators_only(client):
    owner = person(client, "Ada One", owns="A1")
    moderator = person(client, "Mo Derator", role="moderator")
    disown(client, owner, body={"decision": "not_mine", "reason": "Another Ada."})
    undo(client, owner)
    settle(client)

    def entries(who=None):
        items = client.get("/researchers/A1/history", headers=(who or {}).get("headers", {})).json()["items"]
        return [e for e in items if e["kind"] == "attribution.changed"]

    public = entries()
    assert [e["changes"]["decision"] for e in public] == ["not_mine", "undone"]
    assert all(e["actor"] == {"role": "owner", "id": None} and e["reason"] is None for e in public)
    assert entries(owner)[0]["reason"] == "Another Ada." and entries(owner)[0]["actor"]["id"] == str(owner["id"])
    assert entries(moderator)[0]["reason"] == "Another Ada."


def test_erasing_the_owner_keeps_the_decision_and_erases_the_reason(client, tmp_path):
    owner = person(client, "Ada One", owns="A1")
    moderator = person(client, "Mo Derator", role="moderator")
    disown(client, owner, body={"decision": "not_mine", "reason": "Another Ada."})

    assert client.delete("/me", headers=owner["headers"]).status_code in (200, 204)
    settle(client)

    assert reader_page(client, "A1")["profile"]["works_count"] == 2
    entry = next(e for e in client.get("/researchers/A1/history", headers=moderator["headers"]).json()["items"]
                 if e["kind"] == "attribution.changed")
    assert entry["reason"] == "erased" and entry["changes"]["decision"] == "not_mine"
    record = client.app.state.services.claims.get_record(researcher_id_for("A1"))
    decision = next(iter(record.disowned.values()))
    assert client.app.state.services.vault.open(owner["id"], decision["sealed_reason"]) is None

    services = client.app.state.services
    replay(services, ["profiles", "history"])
    settle(client)
    assert reader_page(client, "A1")["profile"]["works_count"] == 2
    entry = next(e for e in client.get("/researchers/A1/history", headers=moderator["headers"]).json()["items"]
                 if e["kind"] == "attribution.changed")
    assert entry["reason"] == "erased"


def test_the_corrections_export_lists_every_decision_without_personal_text(client, tmp_path):
    owner = person(client, "Ada One", owns="A1")
    moderator = person(client, "Mo Derator", role="moderator")
    disown(client, owner, body={"decision": "not_mine", "reason": "Secret words."})
    undo(client, owner)
    disown(client, moderator, record="A3", work_id="W3")

    out = tmp_path / "corrections.jsonl"
    with out.open("wb") as f:
        assert export_corrections(client.app.state.services, f) == 3
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(c["decision"], c["work_openalex_id"], c["from_record_openalex_id"], c["actor_role"], c["evidence_kind"])
            for c in lines] == [("not_mine", "W2", "A1", "owner", "owner_statement"),
                                ("undone", "W2", "A1", "owner", "owner_statement"),
                                ("not_mine", "W3", "A3", "moderator", "moderator_review")]
    assert "Secret" not in out.read_text() and str(owner["id"]) not in out.read_text()

    later = datetime.fromisoformat(lines[2]["at"].replace("Z", "+00:00")) + timedelta(microseconds=1)
    with out.open("wb") as f:
        assert export_corrections(client.app.state.services, f, since=later) == 0


def test_as_of_applies_the_decisions_in_force_at_that_moment(client):
    owner = person(client, "Ada One", owns="A1")
    before = moment()
    disown(client, owner)
    while_out = moment()
    undo(client, owner)
    after = moment()

    past = partial(profile_as_of, client)

    assert past("A1", before)["works_count"] == past("A1", after)["works_count"] == 3
    then = past("A1", while_out)
    assert (then["works_count"], then["close_collaborators_count"], then["affiliation"]["openalex_id"]) == (2, 0, "I1")
    assert past("A2", while_out)["close_collaborators_count"] == 0  # A1 was no co-author of W2 then
    assert past("A2", after)["close_collaborators_count"] == 1
    disown(client, owner)
    live = client.get("/researchers/A1").json()
    now = past("A1", moment())
    assert {k: v for k, v in live.items() if k != "trust"} == {k: v for k, v in now.items() if k != "trust"}


def run_cli(client, *args: str) -> subprocess.CompletedProcess[str]:
    """`peerledger` as a subprocess against the client's store."""
    settings = client.app.state.services.settings
    return peerledger(settings_env(settings.data_dir, settings.store_env["POSTGRES_SCHEMA"]), *args, timeout=120)


def test_the_corrections_command_writes_the_file_and_refuses_bad_options_in_one_line(client, tmp_path):
    owner = person(client, "Ada One", owns="A1")
    disown(client, owner, body={"decision": "not_mine", "reason": "Secret words."})

    out = tmp_path / "out.jsonl"
    done = run_cli(client, "corrections", "export", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert "1 decision(s) written" in done.stdout
    [line] = [json.loads(text) for text in out.read_text().splitlines()]
    assert (line["decision"], line["work_openalex_id"], line["from_record_openalex_id"]) == ("not_mine", "W2", "A1")
    assert run_cli(client, "corrections", "export", "--since", "2999-01-01").stdout == ""

    missing = run_cli(client, "corrections", "export", "--output", str(tmp_path / "no" / "such" / "f.jsonl"))
    assert (missing.returncode, missing.stderr.count("\n")) == (2, 1), missing.stderr
    assert missing.stderr.startswith("peerledger corrections export: ") and "no such folder" in missing.stderr
    bad = run_cli(client, "corrections", "export", "--since", "last tuesday")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "argument --since: 'last tuesday' is not an ISO 8601 date or timestamp" in bad.stderr
