"""The profile's header (issue 16, item 3): the headline (the owner's, else generated from the
top topics), role, affiliation or the flag that none was imported, "Open to collaborate" from
the invitation policy and claim status; the owner edits headline and about text with
PATCH /researchers/{id}/profile, recorded as events. Over HTTP against PostgreSQL."""

from __future__ import annotations

import pytest

from api.profile_text import PROFILE_EDITS_PER_HOUR
from operations.replay import replay
from tests.conftest import settings_for
from tests.e2e.support import assert_problem, person, serving, settle
from tests.e2e.test_invitations import WORKS, client  # noqa: F401 - the fixture is shared


def profile(client, record: str, who: dict | None = None) -> dict:
    answer = client.get(f"/researchers/{record}", headers=(who or {}).get("headers", {}))
    assert answer.status_code == 200, answer.text
    return answer.json()


def edit(client, who: dict, record: str, body: dict):
    return client.patch(f"/researchers/{record}/profile", headers=who["headers"], json=body)


def test_an_unclaimed_record_shows_a_generated_headline_and_is_open_as_the_seed_shows_it(client):
    shown = profile(client, "A5")

    assert shown["headline"] == "Unclaimed Five contributes to research on Topic 1."
    assert (shown["headline_generated"], shown["about"], shown["role"]) == (True, None, "researcher")
    assert (shown["affiliation"], shown["affiliation_imported"]) == (None, False)
    assert shown["open_to_collaborate"] is True


def test_the_owner_writes_a_headline_and_about_text_and_reads_them_back_at_once(client):
    owner = person(client, "Sender One", owns="A1")

    answer = edit(client, owner, "A1", {"headline": "  Graph   learning for  science ", "about": "I build tools.\n"})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["headline"], body["about"]) == ("Graph learning for science", "I build tools.")
    assert body["position"] > 0
    shown = profile(client, "A1", owner)  # no waiting, no parameters
    assert (shown["headline"], shown["headline_generated"], shown["about"]) == (
        "Graph learning for science", False, "I build tools.")
    # A member left out is kept; null removes it, and the generated headline comes back.
    assert edit(client, owner, "A1", {"about": "Still tools."}).json()["headline"] == "Graph learning for science"
    cleared = edit(client, owner, "A1", {"headline": None}).json()
    assert (cleared["headline"], cleared["about"]) == (None, "Still tools.")
    shown = profile(client, "A1")
    assert (shown["headline_generated"], shown["headline"]) == (True, "Sender One contributes to research on Topic 1.")
    # Nothing changed: no event, no position.
    assert edit(client, owner, "A1", {"about": "Still tools."}).json()["position"] is None


def test_the_edits_are_in_the_records_history_and_survive_a_replay(client):
    owner = person(client, "Sender One", owns="A1")
    edit(client, owner, "A1", {"headline": "Graph learning", "about": "Tools."})

    history = client.get("/researchers/A1/history").json()["items"]
    edited = [e for e in history if e["kind"] == "profile.edited"]
    assert len(edited) == 1 and edited[0]["actor"]["role"] == "owner"
    assert edited[0]["changes"] == {"headline": True, "about": True}

    replay(client.app.state.services, ["profiles"])
    settle(client)
    assert (profile(client, "A1")["headline"], profile(client, "A1")["about"]) == ("Graph learning", "Tools.")


def test_only_the_owner_edits_and_bad_text_is_refused_with_nothing_written(client):
    owner, other = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")

    refused = assert_problem(edit(client, other, "A1", {"headline": "Mine now"}), 403, "owner")
    assert refused["code"] == "not_owner"
    assert assert_problem(edit(client, owner, "A5", {"headline": "x"}), 403, "owner")["code"] == "not_owner"
    assert assert_problem(client.patch("/researchers/A1/profile", json={"headline": "x"}), 401, "")["code"] \
        == "unauthenticated"
    for body, field in (({"headline": "a\u202eb"}, "headline"), ({"headline": "x" * 161}, "headline"),
                        ({"about": "nul\x00"}, "about"), ({"about": "x" * 2001}, "about"),
                        ({"headline": 3}, "headline")):
        problem = assert_problem(edit(client, owner, "A1", body), 400, "")
        assert problem["field"] == field, problem
    assert assert_problem(edit(client, owner, "A1", {"mood": "happy"}), 400, "mood")["code"] == "validation_failed"
    assert assert_problem(edit(client, owner, "A999", {"headline": "x"}), 404, "A999")["code"] == "not_found"

    settle(client)
    shown = profile(client, "A1")
    assert shown["headline_generated"] is True and shown["about"] is None
    assert not [e for e in client.get("/researchers/A1/history").json()["items"] if e["kind"] == "profile.edited"]


def test_open_to_collaborate_follows_the_owners_policy_and_a_dispute(client):
    owner = person(client, "Close Two", owns="A2")
    assert profile(client, "A2")["open_to_collaborate"] is True

    assert client.put("/me/invitation-policy", headers=owner["headers"], json={"policy": "nobody"}).status_code == 200
    settle(client)
    assert profile(client, "A2")["open_to_collaborate"] is False

    client.put("/me/invitation-policy", headers=owner["headers"], json={"policy": "coauthors"})
    settle(client)
    assert profile(client, "A2")["open_to_collaborate"] is True

    rival = person(client, "Rival Claimant")
    opened = client.post("/researchers/A2/claims", headers=rival["headers"],
                         json={"evidence": [{"kind": "statement", "text": "It is me, in fact."}]})
    assert opened.status_code == 201, opened.text
    settle(client)
    shown = profile(client, "A2")
    assert (shown["claim_status"], shown["open_to_collaborate"]) == ("disputed", False)


@pytest.mark.parametrize("how", ["release", "erase"])
def test_the_owners_words_leave_with_the_owner(client, how):
    owner = person(client, "Sender One", owns="A1")
    edit(client, owner, "A1", {"headline": "Graph learning", "about": "Tools."})

    if how == "release":
        left = client.post("/researchers/A1/owner/release", headers=owner["headers"], json={"reason": "not me after all"})
    else:
        left = client.delete("/me", headers=owner["headers"])
    assert left.status_code in (200, 204), left.text
    settle(client)

    shown = profile(client, "A1")
    assert (shown["headline_generated"], shown["about"]) == (True, None)
    replay(client.app.state.services, ["profiles"])
    settle(client)
    assert (profile(client, "A1")["headline_generated"], profile(client, "A1")["about"]) == (True, None)


@pytest.fixture
def strict_client(tmp_path):
    """The embedded default with production's rate limits."""
    yield from serving(settings_for("sqlite", tmp_path, None, PEERLEDGER_RATE_LIMIT_SCALE="1"), WORKS)


def test_edits_are_bounded_per_record_and_the_last_one_allowed_stays(strict_client):
    owner = person(strict_client, "Sender One", owns="A1")
    allowed = PROFILE_EDITS_PER_HOUR
    for n in range(allowed):
        assert edit(strict_client, owner, "A1", {"headline": f"Edit {n}"}).status_code == 200

    refused = edit(strict_client, owner, "A1", {"headline": "One too many"})

    assert assert_problem(refused, 429, "profile edits")["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert profile(strict_client, "A1")["headline"] == f"Edit {allowed - 1}"
    edits = [e for e in strict_client.get("/researchers/A1/history?limit=100").json()["items"] if e["kind"] == "profile.edited"]
    assert len(edits) == allowed
