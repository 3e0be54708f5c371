"""The trust snapshot and the research graph over HTTP against PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from operations.importing import import_body
from tests.conftest import settings_for
from tests.factories import author, institution, work
from tests.e2e.support import person, serving

SEED = "A5999000001"
# A1 and A2 share W1 and W2 (topic 1); A2 alone wrote W3 (topic 1) and W4 (topic 9); A2 and A3
# share W5; A1 moved from institution 1 (2015) to institution 2 (2021).
WORKS = [
    work(1, [author(1, "Graph One"), author(2, "Graph Two")], year=2015, topics=[(1, "Topic 1")],
         institutions=[[institution(1)], []]),
    work(2, [author(1), author(2)], year=2021, topics=[(1, "Topic 1"), (2, "Topic 2")],
         institutions=[[institution(2)], []]),
    work(3, [author(2)], year=2022, topics=[(1, "Topic 1")]),
    work(4, [author(2)], year=2023, topics=[(9, "Topic 9")]),
    work(5, [author(2), author(3, "Graph Three")], year=2019, topics=[(5, "Topic 5")]),
]


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    settings = settings_for("postgres", tmp_path, pg_schema, PEERLEDGER_DEMO_DATA="yes",
                            PEERLEDGER_RATE_LIMIT_SCALE="1000")
    for c in serving(settings, WORKS):
        c.app.state.profile_cache.warm()
        yield c


def trust_of(client, record: str) -> dict:
    assert client.app.state.services.wait_for_projections()
    client.app.state.profile_cache.refresh()  # the API's replicas, as the next poll would
    client.app.state.follower_counts.refresh()
    response = client.get(f"/researchers/{record}/trust")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_seed_page_reads_trust_21_emerging(client):
    snapshot = trust_of(client, SEED)
    assert snapshot["label"] == "Trust 21 - Emerging"
    assert (snapshot["verification_level"], snapshot["claim_status"]) == ("L1", "unclaimed")
    assert snapshot["counts"] == {"works": 12, "followers": 0, "verified_followers": 0, "topics": 8,
                                  "close_collaborators": 4}
    assert sum(c["points"] for c in snapshot["components"]) == 21
    assert client.get(f"/researchers/{SEED}").json()["trust"] == {"score": 21, "tier": "Emerging"}
    formula = client.get("/trust/formula").json()
    assert {c["name"] for c in formula["components"]} == {c["name"] for c in snapshot["components"]}


def test_a_verified_follower_raises_the_score_on_the_profile_and_in_history(client):
    before = trust_of(client, SEED)["score"]
    fan = person(client, "Verified Fan", owns="A1")  # owns an L2 record: a verified follower
    position = client.put(f"/me/following/{SEED}", headers=fan["headers"]).json()["position"]
    profile = client.get(f"/researchers/{SEED}", params={"consistent_with": position}).json()
    assert profile["verified_followers_count"] == 1
    after = trust_of(client, SEED)
    assert after["score"] > before
    assert profile["trust"]["score"] == after["score"]  # the page and the snapshot agree
    history = client.get(f"/researchers/{SEED}/trust/history", params={"order": "newest", "limit": 1}).json()
    newest = history["items"][0]
    assert newest["score"] == after["score"] and newest["cause"]["changed"]["verified_followers"] == [0, 1]
    assert history["next_cursor"]
    older = client.get(f"/researchers/{SEED}/trust/history",
                       params={"order": "newest", "cursor": history["next_cursor"]}).json()["items"]
    assert older and older[0]["number"] < newest["number"]


def test_claiming_raises_the_score(client):
    before = trust_of(client, "A3")["score"]
    person(client, "Graph Three", owns="A3", level="L3")
    after = trust_of(client, "A3")
    assert (after["verification_level"], after["claim_status"]) == ("L3", "claimed")
    assert after["score"] >= before + 35  # L1 -> L3 (+25) and claimed (+10)


def test_the_graph_ranks_coauthors_topics_institutions_and_adjacent_works(client):
    graph = client.get("/researchers/A1/graph").json()
    assert [(c["openalex_id"], c["shared_works"], c["latest_year"], c["close"]) for c in graph["coauthors"]] == [
        ("A2", 2, 2021, True)]
    assert [(t["openalex_id"], t["works"]) for t in graph["topics"]][0] == ("T1", 2)
    assert [(i["openalex_id"], i["first_year"], i["last_year"]) for i in graph["institutions"]] == [
        ("I2", 2021, 2021), ("I1", 2015, 2015)]
    # W3 (topic 1, by the close collaborator A2, not by A1) is adjacent; W4 (topic 9) and W5 are not.
    assert [w["openalex_id"] for w in graph["adjacent_works"]] == ["W3"]
    assert graph["second_degree"] is None
    deeper = client.get("/researchers/A1/graph", params={"depth": 2}).json()
    assert [(c["openalex_id"], c["via"]) for c in deeper["second_degree"]] == [("A3", 1)]


def test_the_graph_grows_as_imports_add_works(client):
    services = client.app.state.services
    import_body(services.catalogue, json.dumps([work(6, [author(1), author(4, "New Four")], year=2024)]).encode())
    assert services.wait_for_projections()
    ids = {c["openalex_id"] for c in client.get("/researchers/A1/graph").json()["coauthors"]}
    assert ids == {"A2", "A4"}


@pytest.mark.parametrize(("path", "status", "part"), [
    ("/researchers/A1/graph?depth=3", 400, "depth"),
    ("/researchers/A1/graph?depth=0", 400, "depth"),
    ("/researchers/A1/graph?width=2", 400, "width"),
    ("/researchers/A424242/graph", 404, "no researcher"),
    ("/researchers/A424242/trust", 404, "no researcher"),
    ("/researchers/not-an-id/trust", 400, ""),
    ("/researchers/A1/trust/history?cursor=abc", 400, "cursor"),
    ("/researchers/A1/trust/history?order=sideways", 400, "order"),
])
def test_bad_requests_are_clear_problems(client, path, status, part):
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert part in json.dumps(response.json())
