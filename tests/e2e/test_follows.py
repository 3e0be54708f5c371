"""Follows over HTTP against PostgreSQL: the button, the lists, the counts, and their exactness."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from litestar.testing import TestClient

from domain.catalogue.model import researcher_id_for
from domain.follows.model import Follow
from projections.followers.projection import FollowersProjection
from projections.runner import BatchProjectionRunner
from operations.importing import import_body
from bootstrap.services import VIEW_CLASSES, store_env
from tests.conftest import settings_for
from tests.factories import author, work
from tests.e2e.support import PASSWORD, assert_problem, person_headers, serving

RECORDS = [f"A{9000 + n}" for n in range(10)]


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    settings = settings_for("postgres", tmp_path, pg_schema, PEERLEDGER_DEMO_DATA="yes",
                            PEERLEDGER_RATE_LIMIT_SCALE="1000")
    for c in serving(settings, [work(9000 + n, [author(9000 + n, f"Record {n}")]) for n in range(10)]):
        c.app.state.profile_cache.warm()
        c.settings = settings
        yield c


def counts(client, record: str, position: int | None = None) -> tuple[int, int]:
    params = {"consistent_with": position} if position else {}
    p = client.get(f"/researchers/{record}", params=params).json()
    return p["followers_count"], p["verified_followers_count"]


def test_follow_is_201_then_200_and_unfollow_answers_my_state_with_its_position(client):
    ada = person_headers(client, "Ada Follower")
    first = client.put("/me/following/A9000", headers=ada)
    assert first.status_code == 201
    assert first.json()["following"] is True
    assert client.put("/me/following/A9000", headers=ada).status_code == 200
    assert counts(client, "A9000", first.json()["position"]) == (1, 0)
    unfollowed = client.delete("/me/following/A9000", headers=ada)
    assert unfollowed.status_code == 200
    assert (unfollowed.json()["following"], unfollowed.json()["position"] > first.json()["position"]) == (False, True)
    assert counts(client, "A9000", unfollowed.json()["position"]) == (0, 0)
    again_away = client.delete("/me/following/A9000", headers=ada)
    assert (again_away.status_code, again_away.json()["following"], again_away.json()["position"]) == (200, False, None)
    again = client.put("/me/following/A9000", headers=ada)
    assert again.status_code == 201
    assert counts(client, "A9000", again.json()["position"]) == (1, 0)


def test_the_next_profile_read_by_the_same_account_shows_its_own_follow_without_parameters(client):
    ada = person_headers(client, "Ada Follower")
    services = client.app.state.services
    runner = services.followers_runner
    services.stop_runners("followers")
    runner.idle_wait = 3600.0  # unwatched, it waits for a wake-up that only the reader's own read gives
    runner.start()
    try:
        client.put("/me/following/A9000", headers=ada)
        mine = client.get("/researchers/A9000", headers=ada).json()
        assert (mine["following"], mine["followers_count"]) == (True, 1)

        client.delete("/me/following/A9000", headers=ada)
        mine = client.get("/researchers/A9000", headers=ada).json()
        assert (mine["following"], mine["followers_count"]) == (False, 0)
    finally:
        runner.stop()
        services.start_runners("followers")


def test_reading_your_own_follow_back(client):
    ada = person_headers(client, "Ada Follower")
    position = client.put("/me/following/A5999000001", headers=ada).json()["position"]
    assert counts(client, "A5999000001", position) == (1, 0)
    for bad in ("soon", "\u00b2", "-1"):
        assert_problem(client.get("/researchers/A5999000001", params={"consistent_with": bad}), 400, "consistent_with")


def test_follow_refusals(client):
    ada = person_headers(client, "Ada Follower")
    assert_problem(client.put("/me/following/A404", headers=ada), 404, "no researcher")
    assert_problem(client.put("/me/following/nonsense", headers=ada), 400, "is not a researcher id")
    assert_problem(client.put("/me/following/A9000"), 401, "access token")
    assert_problem(client.delete("/me/following/A404", headers=ada), 404, "no researcher")


def test_following_a_record_you_own_is_refused(client):
    services = client.app.state.services
    from domain.claims.application import EvidenceIn, RecordFacts

    ada = person_headers(client, "Ada Owner")
    account = services.accounts.login("ada.owner@example.org", PASSWORD).account_id
    facts = RecordFacts(researcher_id_for("A9001"), None, "L1", frozenset())
    claim_id = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="mine")])
    services.claims.approve(claim_id, researcher_id_for("A1"), "L2", "ok", facts)  # any moderator id
    assert services.wait_for_projections()
    assert_problem(client.put("/me/following/A9001", headers=ada), 422, "cannot follow a record you own")


def test_lists_are_newest_first_and_paginated(client):
    ada, bob = person_headers(client, "Ada Follower"), person_headers(client, "Bob Follower")
    for record in RECORDS[:3]:
        client.put(f"/me/following/{record}", headers=ada)
    last = client.put("/me/following/A9000", headers=bob).json()["position"]
    client.app.state.services.followers_runner.wait(last, 5)
    assert client.app.state.services.wait_for_projections()  # followers' names come from the profiles view
    page = client.get("/me/following", headers=ada, params={"limit": 2}).json()
    rest = client.get("/me/following", headers=ada, params={"limit": 2, "cursor": page["next_cursor"]}).json()
    ids = [i["researcher_id"] for i in page["items"] + rest["items"]]
    assert ids == [str(researcher_id_for(r)) for r in reversed(RECORDS[:3])]
    followers = client.get("/researchers/A9000/followers").json()["items"]
    assert [f["display_name"] for f in followers] == ["Bob Follower", "Ada Follower"]


def test_an_erased_accounts_follows_disappear(client):
    ada, bob = person_headers(client, "Ada Follower"), person_headers(client, "Bob Follower")
    client.put("/me/following/A9000", headers=ada)
    position = client.put("/me/following/A9000", headers=bob).json()["position"]
    assert counts(client, "A9000", position) == (2, 0)
    assert client.delete("/me", headers=ada).status_code == 204
    assert client.app.state.services.wait_for_projections()
    client.app.state.follower_counts.refresh()
    assert counts(client, "A9000") == (1, 0)
    assert [f["display_name"] for f in client.get("/researchers/A9000/followers").json()["items"]] == ["Bob Follower"]


def test_followers_who_own_a_verified_record_are_counted_as_verified(client):
    services = client.app.state.services
    from domain.claims.application import EvidenceIn, RecordFacts

    ada = person_headers(client, "Ada Verified")
    position = client.put("/me/following/A9005", headers=ada).json()["position"]
    assert counts(client, "A9005", position) == (1, 0)
    account = services.accounts.login("ada.verified@example.org", PASSWORD).account_id
    facts = RecordFacts(researcher_id_for("A9009"), None, "L1", frozenset())
    claim_id = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="mine")])
    services.claims.approve(claim_id, researcher_id_for("A1"), "L2", "ok", facts)
    assert services.wait_for_projections()
    client.app.state.follower_counts.refresh()
    assert counts(client, "A9005") == (1, 1)


def test_fifty_clients_following_at_random_leave_exact_counts(client, tmp_path, pg_schema):
    from domain.claims.application import EvidenceIn, RecordFacts

    services = client.app.state.services
    people = [person_headers(client, f"Client {n}") for n in range(50)]
    accounts = [services.accounts.login(f"client.{n}@example.org", PASSWORD).account_id for n in range(50)]
    rng = random.Random(11)
    plan = [(rng.randrange(50), rng.choice(RECORDS), rng.random() < 0.6) for _ in range(1_500)]

    def act(step):
        who, record, follow = step
        method = client.put if follow else client.delete
        return method(f"/me/following/{record}", headers=people[who]).status_code

    def verify(n: int) -> None:  # the account comes to own an L2 record: its follows count as verified
        facts = RecordFacts(researcher_id_for(f"A{9100 + n}"), None, "L1", frozenset())
        claim = services.claims.open_claim(accounts[n], facts, [EvidenceIn("statement", text="mine")])
        services.claims.approve(claim, researcher_id_for("A1"), "L2", "ok", facts)

    import_body(services.catalogue, json.dumps([work(9100 + n, [author(9100 + n)]) for n in range(3)]).encode())
    assert services.wait_for_projections()
    with ThreadPoolExecutor(max_workers=50) as pool:
        halfway = len(plan) // 2
        first = list(pool.map(act, plan[:halfway]))
        verify(0), verify(1)  # while clients keep following
        for n in (2, 3, 4):
            client.delete("/me", headers=people[n])
        statuses = first + list(pool.map(act, plan[halfway:]))
    assert set(statuses) <= {200, 201, 204, 401}  # erased clients' tokens die mid-run
    assert services.wait_for_projections(timeout=30)

    # Recount from the event logs: the last event of each follow says whether it is live;
    # erased accounts follow nobody; a verified follower owns an L2+ record.
    live: dict[str, set[str]] = {}
    for n in services.follows.recorder.select_notifications(start=0, limit=100_000, inclusive_of_start=False):
        e = services.follows.mapper.to_domain_event(n)
        followers = live.setdefault(str(e.researcher_id), set())
        (followers.discard if isinstance(e, Follow.Unfollowed) else followers.add)(str(e.account_id))
    erased = {str(accounts[n]) for n in (2, 3, 4)}
    verified = {str(accounts[0]), str(accounts[1])}
    expected = {r: (len(a - erased), len((a - erased) & verified)) for r, a in live.items() if a - erased}
    projected = {r: (n, v) for r, n, v in services.followers_view.all_counts() if n or v}
    assert projected == expected

    # A projection rebuilt from scratch agrees, whichever application's events it reads first.
    for order in ((services.follows, services.accounts, services.claims),
                  (services.accounts, services.claims, services.follows)):
        name = f"followers_rebuilt_{order[0].name.lower()}"
        factory = InfrastructureFactory.construct(Environment(name, store_env(client.settings, name)))
        try:
            view = factory.tracking_recorder(VIEW_CLASSES["followers"][client.settings.persistence_module])
            rebuilt = FollowersProjection(view)
            for app in order:
                BatchProjectionRunner(app, rebuilt, batch_size=97).catch_up()
            assert {r: (n, v) for r, n, v in view.all_counts() if n or v} == expected
        finally:
            factory.close()


def test_an_account_that_followed_a_record_before_owning_it_is_not_its_own_follower(client):
    """Issue 16's trust bug: follow, claim, get approved: the owner is no follower of its own record,
    at once, and housekeeping ends the follow with an event."""
    services = client.app.state.services
    from domain.claims.application import EvidenceIn, RecordFacts
    from operations.expiry import end_owner_follows

    ada, bob = person_headers(client, "Ada Early"), person_headers(client, "Bob Verified")
    for who in (ada, bob):
        assert client.put("/me/following/A9003", headers=who).status_code == 201
    bob_account = services.accounts.login("bob.verified@example.org", PASSWORD).account_id
    ada_account = services.accounts.login("ada.early@example.org", PASSWORD).account_id
    for account, record in [(bob_account, "A9008"), (ada_account, "A9003")]:
        facts = RecordFacts(researcher_id_for(record), None, "L1", frozenset())
        claim_id = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="mine")])
        services.claims.approve(claim_id, researcher_id_for("A1"), "L2", "ok", facts)
    assert services.wait_for_projections()
    client.app.state.follower_counts.refresh()
    assert counts(client, "A9003") == (1, 1)  # Bob only, verified; Ada owns it
    followers = client.get("/researchers/A9003/followers").json()["items"]
    assert [f["display_name"] for f in followers] == ["Bob Verified"]
    trust = client.get("/researchers/A9003/trust").json()
    assert (trust["counts"]["followers"], trust["counts"]["verified_followers"]) == (1, 1)

    assert end_owner_follows(services) == 1
    assert services.wait_for_projections()
    assert client.get("/me/following", headers=ada).json()["items"] == []
    assert counts(client, "A9003") == (1, 1)
    assert_problem(client.put("/me/following/A9003", headers=ada), 422, "cannot follow a record you own")
