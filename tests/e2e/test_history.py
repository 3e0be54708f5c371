"""A record's and a claim's history, and time travel, over HTTP against PostgreSQL (and SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient

from domain.catalogue.model import researcher_id_for
from operations.importing import import_body
from tests.conftest import settings_for
from tests.e2e import support
from tests.e2e.support import assert_problem, moment, serving, settings_on, settle
from tests.factories import author, work

# A1 wrote W1 and W2 with A2 (close collaborators), and W3 alone; A9 is imported later.
WORKS = [work(1, [author(1, "Hist One"), author(2, "Hist Two")], year=2019),
         work(2, [author(1), author(2)], year=2021, topics=[(2, "Topic 2")]),
         work(3, [author(1)], year=2022)]


def served(settings) -> Iterator[TestClient]:
    for c in serving(settings, WORKS):
        settle(c)
        yield c


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    yield from served(settings_for("postgres", tmp_path, pg_schema, PEERLEDGER_RATE_LIMIT_SCALE="1000"))


@pytest.fixture(params=["postgres", "sqlite"])
def any_client(request, tmp_path) -> Iterator[TestClient]:
    yield from served(settings_on(request.param, request, tmp_path, PEERLEDGER_RATE_LIMIT_SCALE="1000"))


def person(client, name: str, role: str | None = None) -> dict:
    """support.person as these tests read it: the bearer header, and the id as the API writes it."""
    who = support.person(client, name, role=role)
    return who["headers"] | {"id": str(who["id"])}


def headers(who: dict) -> dict:
    return {"authorization": who["authorization"]}


def claim_and_approve(client, claimant: dict, moderator: dict, record: str = "A1") -> str:
    opened = client.post(f"/researchers/{record}/claims", headers=headers(claimant), json={"evidence": [
        {"kind": "statement", "text": "My thesis lists these works.", "links": ["https://example.org/t.pdf"]}]})
    assert opened.status_code == 201, opened.text
    claim_id = opened.json()["id"]
    approved = client.post(f"/claims/{claim_id}/approve", headers=headers(moderator),
                           json={"level": "L2", "reason": "thesis checks out"})
    assert approved.status_code == 200, approved.text
    settle(client)
    return claim_id


def history(client, path: str, who: dict | None = None, **params) -> list[dict]:
    response = client.get(path, params=params, headers=headers(who) if who else {})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_as_of_before_and_after_a_claim_shows_the_two_states(any_client):
    client = any_client
    ada, mod = person(client, "Ada Claimant"), person(client, "Mo Derator", role="moderator")
    before = moment()
    claim_and_approve(client, ada, mod)
    fan = person(client, "Fan One")
    assert client.put("/me/following/A1", headers=headers(fan)).status_code == 201
    settle(client)
    after = moment()

    then = client.get("/researchers/A1", params={"as_of": before}).json()
    now = client.get("/researchers/A1", params={"as_of": after}).json()
    assert (then["claim_status"], then["verification_level"], then["owner"]) == ("unclaimed", "L1", None)
    assert (now["claim_status"], now["verification_level"], now["owner"]) == ("claimed", "L2", {"display_name": "Ada Claimant"})
    assert (then["followers_count"], now["followers_count"]) == (0, 1)
    # Today's page, served by the projections, reads as the moment just past does.
    live = client.get("/researchers/A1").json()
    assert {k: v for k, v in live.items() if k != "trust"} == {k: v for k, v in now.items() if k != "trust"}
    assert (then["works_count"], then["close_collaborators_count"]) == (3, 1)

    trust_then = client.get("/researchers/A1/trust", params={"as_of": before}).json()
    trust_now = client.get("/researchers/A1/trust", params={"as_of": after}).json()
    assert (trust_then["verification_level"], trust_then["claim_status"]) == ("L1", "unclaimed")
    assert trust_now["score"] - trust_then["score"] == (20 - 5) + 10  # L2 instead of L1, and claimed
    assert trust_now == client.get("/researchers/A1/trust").json()


def test_as_of_sees_imports_and_corrections_at_their_moment(client):
    first = moment()
    import_body(client.app.state.services.catalogue, json.dumps(
        [work(4, [author(1), author(2)], year=2024), work(1, [author(1, "Hist Renamed"), author(2)], year=2019,
                                                       title="Work 1, corrected")]).encode())
    settle(client)
    then = client.get("/researchers/A1", params={"as_of": first}).json()
    now = client.get("/researchers/A1", params={"as_of": moment()}).json()
    assert (then["works_count"], now["works_count"]) == (3, 4)
    assert client.get("/researchers/A1").json()["works_count"] == 4


def test_as_of_before_the_record_existed_or_badly_written_is_refused(client):
    assert_problem(client.get("/researchers/A1", params={"as_of": "2001-01-01T00:00:00Z"}), 404, "not on record yet")
    assert_problem(client.get("/researchers/A1/trust", params={"as_of": "2001-01-01T00:00:00Z"}), 404,
                   "not on record yet")
    for bad in ("yesterday", "2026-01-31T00:00:00", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:59:59-01:00"):
        assert_problem(client.get("/researchers/A1", params={"as_of": bad}), 400, "as_of is a moment")
        assert_problem(client.get("/researchers/A1/trust", params={"as_of": bad}), 400, "as_of is a moment")
    assert_problem(client.get("/researchers/A404", params={"as_of": moment()}), 404, "no researcher")
    assert_problem(client.get("/researchers/A1", params={"as_of": moment(), "consistent_with": "5"}), 400,
                   "one of them")
    for path in ("/researchers/A1", "/researchers/A1/trust"):
        assert_problem(client.get(path + "?as_of=2026-01-01T00:00:00Z&as_of=2020-01-01T00:00:00Z"), 400, "once")
        assert_problem(client.get(path, params={"as_of": "2026-01-01T00:00:00\x00Z"}), 400, "control characters")
    bad_token = client.get("/researchers/A1", params={"as_of": moment()}, headers={"authorization": "Bearer x"})
    assert bad_token.status_code == 200  # a bad token on a public route reads as anonymous, as without as_of


def test_the_record_history_lists_every_area_and_shows_personal_parts_to_owner_and_moderators(client):
    ada, mod = person(client, "Ada Claimant"), person(client, "Mo Derator", role="moderator")
    claim_id = claim_and_approve(client, ada, mod)
    for name in ("Fan One", "Fan Two"):
        assert client.put("/me/following/A1", headers=headers(person(client, name))).status_code == 201
    settle(client)

    public = history(client, "/researchers/A1/history", limit=100)
    kinds = [e["kind"] for e in public]
    assert sorted(kinds[:4]) == ["record.imported", "work.added", "work.added", "work.added"]  # one import
    assert {"claim.opened", "claim.approved", "owner.set", "verification.changed", "followers.daily"} <= set(kinds)
    assert kinds.index("claim.opened") < kinds.index("claim.approved") < kinds.index("followers.daily")
    assert [e["at"] for e in public] == sorted(e["at"] for e in public)
    daily = [e for e in public if e["kind"] == "followers.daily"]
    assert len(daily) == 1 and daily[0]["changes"]["followed"] == 2 and daily[0]["changes"]["followers"] == 2
    approved = next(e for e in public if e["kind"] == "claim.approved")
    # The public sees what happened and by whom in role only: no reasons people wrote, no ids.
    assert approved["actor"] == {"role": "moderator", "id": None}
    assert (approved["reason"], approved["personal"], approved["changes"]["level"]) == (None, None, "L2")
    level = next(e for e in public if e["kind"] == "verification.changed")
    assert (level["changes"]["old_level"], level["changes"]["new_level"]) == ("L1", "L2")
    assert "Ada" not in json.dumps(public) and ada["id"] not in json.dumps(public)

    as_owner = {e["kind"]: e for e in history(client, "/researchers/A1/history", ada, limit=100)}
    assert as_owner["claim.approved"]["reason"] == "thesis checks out"
    assert as_owner["claim.approved"]["actor"]["id"] is None  # the moderator stays unnamed to the owner
    assert as_owner["claim.opened"]["actor"] == {"role": "claimant", "id": ada["id"]}
    assert as_owner["owner.set"]["personal"] == {"owner": ada["id"]}

    as_moderator = {e["kind"]: e for e in history(client, "/researchers/A1/history", mod, limit=100)}
    assert as_moderator["claim.approved"]["actor"] == {"role": "moderator", "id": mod["id"]}
    assert as_moderator["claim.opened"]["personal"] == {"claimant": ada["id"]}

    # Another signed-in reader is the public.
    stranger = person(client, "Some Reader")
    assert history(client, "/researchers/A1/history", stranger, limit=100) == public
    assert claim_id in json.dumps(public)


def test_history_pages_with_a_cursor_oldest_or_newest_first(client):
    everything = history(client, "/researchers/A1/history", limit=100)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/researchers/A1/history", params=params).json()
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and len(everything) == 4
    newest = history(client, "/researchers/A1/history", order="newest", limit=100)
    assert newest == list(reversed(everything))
    assert_problem(client.get("/researchers/A1/history", params={"cursor": "garbage"}), 400, "cursor")
    assert client.get("/researchers/A1/history", params={"order": "sideways"}).status_code == 400
    assert client.get("/researchers/A1/history", params={"limit": 0}).status_code == 400
    assert_problem(client.get("/researchers/A1/history", params={"since": "x"}), 400, "since")
    assert_problem(client.get("/researchers/A404/history"), 404, "no researcher")


def test_a_claims_history_is_for_its_claimant_and_moderators_only(client):
    ada, mod = person(client, "Ada Claimant"), person(client, "Mo Derator", role="moderator")
    claim_id = claim_and_approve(client, ada, mod)
    mine = history(client, f"/claims/{claim_id}/history", ada)
    assert [e["kind"] for e in mine] == ["claim.opened", "claim.approved"]
    assert history(client, f"/claims/{claim_id}/history", mod)[1]["actor"]["id"] == mod["id"]
    other = person(client, "Nosy Parker")
    assert_problem(client.get(f"/claims/{claim_id}/history", headers=headers(other)), 404, "no such claim")
    assert client.get(f"/claims/{claim_id}/history").status_code == 401
    assert_problem(client.get("/claims/00000000-0000-0000-0000-000000000000/history", headers=headers(mod)), 404,
                   "no such claim")


def test_an_erased_account_does_not_come_back_through_history_time_travel_or_replay(client):
    from operations.replay import verify

    ada, mod = person(client, "Ada Claimant"), person(client, "Mo Derator", role="moderator")
    claim_and_approve(client, ada, mod)
    assert client.delete("/me", headers=headers(ada)).status_code == 204
    settle(client)

    for who in (mod, None):
        text = json.dumps(history(client, "/researchers/A1/history", who, limit=100))
        assert ada["id"] not in text and "Ada" not in text
    entries = {e["kind"]: e for e in history(client, "/researchers/A1/history", mod, limit=100)}
    assert entries["claim.opened"]["actor"] == {"role": "claimant", "id": "erased"}
    assert entries["claim.opened"]["personal"] == {"claimant": "erased"}
    assert entries["claim.approved"]["reason"] == "erased"
    assert "thesis checks out" not in json.dumps(entries)
    past = client.get("/researchers/A1", params={"as_of": moment()}).json()
    assert past["claim_status"] == "claimed" and past["owner"] == {"display_name": None}

    # A rebuild of the history view from the log reaches the same rows: nothing comes back.
    services = client.app.state.services
    (result,) = verify(services, ["history"])
    assert result.differences == [] and result.rows > 0


def test_time_travel_now_equals_the_live_profile_after_a_mixed_workload(client):
    """The fold over events and the projections agree, for every record touched."""
    import random

    services = client.app.state.services
    rng = random.Random(5)
    mod = person(client, "Mo Derator", role="moderator")
    people = [person(client, f"Reader {n}") for n in range(6)]
    import_body(services.catalogue, json.dumps([work(10 + n, [author(rng.randint(1, 6)) for _ in range(3)],
                                                     year=2000 + n) for n in range(12)]).encode())
    settle(client)
    claim_and_approve(client, people[0], mod, "A2")
    for _ in range(40):
        who, record = rng.choice(people[1:]), f"A{rng.randint(1, 6)}"
        if rng.random() < 0.7:
            client.put(f"/me/following/{record}", headers=headers(who))
        else:
            client.delete(f"/me/following/{record}", headers=headers(who))
    client.delete("/me", headers=headers(people[3]))
    settle(client)
    now = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    for n in range(1, 7):
        live = client.get(f"/researchers/A{n}").json()
        past = client.get(f"/researchers/A{n}", params={"as_of": now}).json()
        assert past == live, n


def test_time_travel_from_snapshots_answers_as_a_full_fold_does(client, monkeypatch):
    import operations.timetravel as timetravel

    services = client.app.state.services
    moments = [moment()]
    for start in (10, 20, 30):  # three imports, then a correction of an early work
        import_body(services.catalogue, json.dumps([work(n, [author(1), author(2)], year=2000 + n % 7)
                                                    for n in range(start, start + 5)]).encode())
        moments.append(moment())
    import_body(services.catalogue, json.dumps([work(10, [author(2)], year=2000)]).encode())  # A1 taken off W10
    settle(client)
    moments.append(moment())
    rid = str(researcher_id_for("A1"))
    folded = [timetravel.profile_at(services, rid, datetime.fromisoformat(m)) for m in moments]
    assert snapshots(services) == 0  # reads write nothing
    monkeypatch.setattr(timetravel, "SNAPSHOT_AFTER", 4)
    monkeypatch.setattr(timetravel, "SETTLED", timedelta(0))
    assert timetravel.take_snapshots(services) >= 1  # housekeeping
    order = [3, 1, 4, 0, 2, 4, 3]
    for n in order:
        assert timetravel.profile_at(services, rid, datetime.fromisoformat(moments[n])) == folded[n], n
    assert [json.loads(p.doc)["works_count"] for p in folded[1:]] == [3 + 5, 3 + 10, 3 + 15, 3 + 14]


def test_an_owner_reads_neither_what_a_former_owner_nor_another_claimant_wrote(client):
    ada, bob, cara = person(client, "Ada Claimant"), person(client, "Bob Owner"), person(client, "Cara Owner")
    mod = person(client, "Mo Derator", role="moderator")
    statement = {"evidence": [{"kind": "statement", "text": "Mine.", "links": ["https://example.org/cv"]}]}
    refused = client.post("/researchers/A1/claims", headers=headers(ada), json=statement).json()["id"]
    assert client.post(f"/claims/{refused}/reject", headers=headers(mod),
                       json={"reason": "a namesake in Leeds"}).status_code == 200
    assert client.post(f"/claims/{refused}/appeal", headers=headers(ada),
                       json={"reason": "I am Ada from Oxford, ada.private@example.org"}).status_code == 200
    claim_and_approve(client, bob, mod)
    assert client.post("/researchers/A1/owner/release", headers=headers(bob),
                       json={"reason": "leaving for health reasons"}).status_code == 200
    claim_and_approve(client, cara, mod)
    written = ("a namesake in Leeds", "Ada from Oxford", "leaving for health reasons")

    as_cara = json.dumps(history(client, "/researchers/A1/history", cara, limit=100))
    assert not [text for text in written if text in as_cara]
    assert ada["id"] not in as_cara and bob["id"] not in as_cara
    as_moderator = json.dumps(history(client, "/researchers/A1/history", mod, limit=100))
    assert all(text in as_moderator for text in written)

    # Bob's account goes: what he wrote goes with it, also where it came as the level change.
    assert client.delete("/me", headers=headers(bob)).status_code == 204
    settle(client)
    entries = history(client, "/researchers/A1/history", mod, limit=100)
    assert "leaving for health reasons" not in json.dumps(entries)
    release = [e for e in entries if e["kind"] in ("owner.removed", "verification.changed")
               and e["actor"]["role"] == "owner"]
    assert len(release) == 2 and {e["reason"] for e in release} == {"erased"}


def test_a_reimport_that_only_refreshes_citation_counts_adds_no_history(client):
    before = history(client, "/researchers/A1/history", limit=100)
    import_body(client.app.state.services.catalogue, json.dumps(
        [{**w, "cited_by_count": w["cited_by_count"] + 10} for w in WORKS]).encode())
    settle(client)
    assert history(client, "/researchers/A1/history", limit=100) == before
    import_body(client.app.state.services.catalogue, json.dumps([work(1, [author(1), author(2)], year=2019,
                                                                      title="Retitled")]).encode())
    settle(client)
    corrected = history(client, "/researchers/A1/history", limit=100)[len(before):]
    assert [(e["kind"], e["changes"]["title"]) for e in corrected] == [("work.corrected", "Retitled")]


def snapshots(services) -> int:
    return services.history_view._query("SELECT COUNT(*) AS n FROM {snapshots}", ())[0]["n"]


def test_no_snapshot_is_taken_while_the_history_view_lags_behind_the_catalogue(services, monkeypatch):
    import operations.timetravel as timetravel

    monkeypatch.setattr(timetravel, "SNAPSHOT_AFTER", 1)
    monkeypatch.setattr(timetravel, "SETTLED", timedelta(0))
    import_body(services.catalogue, json.dumps(WORKS).encode())
    for runner in services.runners:
        runner.catch_up()
    import_body(services.catalogue, json.dumps([work(9, [author(1)], year=2024)]).encode())  # not yet projected
    rid = str(researcher_id_for("A1"))
    assert timetravel.take_snapshots(services) == 0
    assert json.loads(timetravel.profile_at(services, rid, datetime.now(UTC)).doc)["works_count"] == 3
    for runner in services.runners:
        runner.catch_up()
    assert timetravel.take_snapshots(services) >= 1
    assert json.loads(timetravel.profile_at(services, rid, datetime.now(UTC)).doc)["works_count"] == 4
    assert timetravel.take_snapshots(services) == 0  # nothing new since: none due


def test_reads_write_no_snapshot_and_housekeeping_takes_them_apart(services, monkeypatch):
    import operations.timetravel as timetravel

    monkeypatch.setattr(timetravel, "SNAPSHOT_AFTER", 3)
    monkeypatch.setattr(timetravel, "SETTLED", timedelta(0))
    moments = []
    for n in range(10):
        import_body(services.catalogue, json.dumps([work(100 + n, [author(1)], year=2000 + n)]).encode())
        moments.append(datetime.now(UTC))
        for runner in services.runners:
            runner.catch_up()
        if n % 2:
            timetravel.take_snapshots(services)
    rid = str(researcher_id_for("A1"))
    taken = snapshots(services)
    for moment in reversed(moments):
        timetravel.profile_at(services, rid, moment)
    assert snapshots(services) == taken  # reads at any moments add none
    assert 1 <= taken <= 10 // 3
