"""The explorer over HTTP on SQLite and PostgreSQL: works, topics and institutions with their
researchers and works, paged, on skewed data (one topic and one institution shared by most
authors, a few prolific ones, accented names that tie once accents are ignored)."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from bootstrap.services import Services
from domain.catalogue.model import recency_key, researcher_id_for, work_id_for
from operations.importing import import_body
from operations.replay import replay, verify
from projections.profiles.build import name_key
from tests.e2e.support import assert_problem, serving, settle
from tests.factories import author, institution, work

NAMES = ["Zoë Ångström", "Élodie Martin", "elodie martin", "Óscar Núñez", "Łukasz Żak", "Søren Ørsted",
         "Zhiwu Lu", "Ana-María López", "Çağla Öztürk", "Jiří Dvořák"]
POOL = 48  # authors A1..A48; A1 to A3 are prolific


def name_of(n: int) -> str:
    return NAMES[n % len(NAMES)] if n % 4 else f"{NAMES[n % len(NAMES)]} {n}"


def skewed_works() -> list[dict[str, Any]]:
    rng = random.Random(15)
    works = []
    for n in range(1, 71):
        prolific = [1, 2, 3][: rng.randint(0, 3)]
        others = rng.sample(range(4, POOL + 1), rng.randint(1, 4))
        authors = prolific + others
        topics = [(1, "Quantum Things")] if n % 5 else []  # most works on topic 1
        topics += [(2 + n % 3, f"Topic {2 + n % 3}")]
        # Most authors at institution 1; the rest at 2 (and a few at both); the same date for a few works.
        places = [[institution(1)] if a % 6 else [institution(2)] + ([institution(1)] if a % 12 == 0 else [])
                  for a in authors]
        works.append(work(n, [author(a, name_of(a)) for a in authors], year=2000 + n % 20,
                          date=f"{2000 + n % 20}-0{1 + n % 9}-1{n % 3}", topics=topics, institutions=places,
                          title=f"Work {n} über Æther"))
    return works


WORKS = skewed_works()


def expected_researchers(has_place) -> list[str]:
    """Researcher ids by works there (most first), then name without accents or case, then id."""
    counts: Counter[int] = Counter()
    for w in WORKS:
        seen = set()
        for a in w["authorships"]:
            n = int(a["author"]["id"].rsplit("A", 1)[1])
            if n not in seen and has_place(w, a):
                counts[n] += 1
            seen.add(n)
    return [str(researcher_id_for(f"A{n}")) for n in
            sorted(counts, key=lambda n: (-counts[n], name_key(name_of(n)), str(researcher_id_for(f"A{n}"))))]


def on_topic(topic: int):
    return lambda w, _a: any(t["id"].endswith(f"/T{topic}") for t in w["topics"])


def at_institution(inst: int):
    return lambda _w, a: any(i["id"].endswith(f"/I{inst}") for i in a["institutions"])


def expected_works(keep) -> list[str]:
    chosen = [w for w in WORKS if keep(w)]
    chosen.sort(key=lambda w: (recency_key(w["publication_date"], w["publication_year"], w["id"].rsplit("/", 1)[1]),
                               str(work_id_for(w["id"].rsplit("/", 1)[1]))), reverse=True)
    return [str(work_id_for(w["id"].rsplit("/", 1)[1])) for w in chosen]


def every_page(client: TestClient, path: str, limit: int) -> list[dict[str, Any]]:
    items, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert pages < 1000


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    yield from serving(settings, WORKS)


def test_a_work_shows_its_authorships_linked_to_researchers_with_topics_institutions_and_venue(client):
    wid = str(work_id_for("W12"))
    body = client.get("/works/W12").json()
    assert client.get("/works/w012").json() == body == client.get(f"/works/{wid}").json()
    source = WORKS[11]
    assert (body["id"], body["openalex_id"], body["title"], body["publication_year"], body["type"]) == \
        (wid, "W12", "Work 12 über Æther", 2012, "article")
    assert body["abstract"] == "An abstract about things" and body["doi"] == "10.1234/w12"
    assert body["venue"] == {"openalex_id": "S1", "display_name": "Journal One", "type": "journal"}
    assert [t["openalex_id"] for t in body["topics"]] == ["T1", "T2"]
    assert [a["researcher_id"] for a in body["authorships"]] == \
        [str(researcher_id_for(a["author"]["id"].rsplit("/", 1)[1])) for a in source["authorships"]]
    assert [a["display_name"] for a in body["authorships"]] == [a["author"]["display_name"] for a in source["authorships"]]
    assert [[i["openalex_id"] for i in a["institutions"]] for a in body["authorships"]] == \
        [[i["id"].rsplit("/", 1)[1] for i in a["institutions"]] for a in source["authorships"]]
    n = int(body["authorships"][0]["institutions"][0]["openalex_id"][1:])
    assert body["authorships"][0]["institutions"][0] == {
        "openalex_id": f"I{n}", "display_name": f"Institute {n}", "ror": f"https://ror.org/0inst{n:04d}",
        "country_code": "NL"}
    assert {i["openalex_id"] for i in body["institutions"]} == \
        {i["id"].rsplit("/", 1)[1] for a in source["authorships"] for i in a["institutions"]}
    # Every link answers.
    for a in body["authorships"]:
        assert client.get(f"/researchers/{a['researcher_id']}").status_code == 200
    for t in body["topics"]:
        assert client.get(f"/topics/{t['openalex_id']}").status_code == 200
    for i in body["institutions"]:
        assert client.get(f"/institutions/{i['openalex_id']}").status_code == 200


def test_a_topics_researchers_page_by_works_on_it_then_name_each_exactly_once(client):
    expected = expected_researchers(on_topic(1))
    assert len(expected) > 40
    items = every_page(client, "/topics/T1/researchers", limit=7)
    assert [r["id"] for r in items] == expected
    top = items[0]
    assert top["openalex_id"] in {"A1", "A2", "A3"} and top["works"] > 10 and top["works_count"] >= top["works"]
    # Accents and case are ignored in the order: "elodie martin" and "Élodie Martin" sit together.
    names = [name_key(r["display_name"]) for r in items if r["works"] == 1]
    assert names == sorted(names)
    assert {r["display_name"] for r in items} >= {"Zoë Ångström", "Élodie Martin", "elodie martin"}
    topic = client.get("/topics/t1").json()
    assert topic == {"openalex_id": "T1", "display_name": "Quantum Things", "researchers_count": len(expected),
                     "works_count": len(expected_works(lambda w: on_topic(1)(w, None)))}


def test_a_topics_works_page_newest_first_each_exactly_once(client):
    expected = expected_works(lambda w: on_topic(1)(w, None))
    items = every_page(client, "/topics/T1/works", limit=9)
    assert [w["id"] for w in items] == expected
    dates = [w["publication_date"] for w in items]
    assert dates == sorted(dates, reverse=True)
    assert all("T1" in [t["openalex_id"] for t in w["topics"]] for w in items)


def test_an_institutions_researchers_and_works_page_each_exactly_once(client):
    expected = expected_researchers(at_institution(1))
    assert len(expected) > 30
    items = every_page(client, "/institutions/I1/researchers", limit=6)
    assert [r["id"] for r in items] == expected
    assert all(r["first_year"] <= r["last_year"] for r in items)
    works = expected_works(lambda w: any(at_institution(1)(w, a) for a in w["authorships"]))
    assert [w["id"] for w in every_page(client, "/institutions/I1/works", limit=11)] == works
    body = client.get("/institutions/I1").json()
    assert body == {"openalex_id": "I1", "display_name": "Institute 1", "ror": "https://ror.org/0inst0001",
                    "country_code": "NL", "works_count": len(works), "researchers_count": len(expected)}
    assert [r["id"] for r in every_page(client, "/institutions/I2/researchers", limit=100)] == \
        expected_researchers(at_institution(2))


def test_a_corrected_work_moves_in_and_out_of_the_lists(client):
    moved = dict(WORKS[4])  # W5: no topic 1 (5 % 5 == 0): gains it, and a new date, newest of all
    moved["topics"] = [{"id": "https://openalex.org/T1", "display_name": "Quantum Things", "score": 0.9}]
    moved["publication_date"], moved["publication_year"] = "2030-01-01", 2030
    import_body(client.app.state.services.catalogue, json.dumps([moved]).encode())
    settle(client)
    assert client.get("/topics/T1/works", params={"limit": 1}).json()["items"][0]["openalex_id"] == "W5"
    listed = [w["openalex_id"] for w in every_page(client, "/topics/T3/works", limit=50)]
    assert "W5" not in listed  # it lost topic 3
    assert client.get("/works/W5").json()["publication_year"] == 2030


UNKNOWN = ["/works/W999999", "/works/00000000-0000-0000-0000-000000000000", "/topics/T999", "/topics/T999/works",
           "/topics/T999/researchers", "/institutions/I999", "/institutions/I999/works",
           "/institutions/I999/researchers"]


@pytest.mark.parametrize("path", UNKNOWN)
def test_an_unknown_id_is_a_404_problem(client, path):
    body = assert_problem(client.get(path), 404, path.split("/")[2])
    assert body["title"] == "Not found" and body["status"] == 404


MALFORMED = [
    ("/works/T1", "is not a work id"),
    ("/works/W1x", "is not a work id"),
    ("/works/" + "W" + "1" * 70, "at most 64 characters"),
    ("/topics/W1", "is not a topic id"),
    ("/topics/00000000-0000-0000-0000-000000000000/works", "is not a topic id"),
    ("/institutions/A1/researchers", "is not an institution id"),
    ("/topics/T1/works?limit=0", "limit"),
    ("/topics/T1/researchers?limit=101", "limit"),
    ("/institutions/I1/works?limit=many", "limit"),
    ("/topics/T1/works?cursor=not-a-cursor", "cursor is not one this API gave out"),
    ("/institutions/I1/researchers?cursor=WyJhIiwiYiJd", "cursor is not one this API gave out"),  # ["a","b"]
    ("/topics/T1/researchers?cursor=WyJ4IiwiYiIsImMiXQ", "cursor is not one this API gave out"),  # ["x","b","c"]
    ("/works/W1?depth=2", "unknown query parameter(s): depth"),
    ("/topics/T1/researchers?order=name", "unknown query parameter(s): order"),
]


@pytest.mark.parametrize(("path", "part"), MALFORMED)
def test_a_malformed_id_or_paging_parameter_is_a_400_problem(client, path, part):
    body = assert_problem(client.get(path), 400, part)
    assert body["title"] == "Bad request"


def test_the_graphs_works_topics_and_institutions_link_to_explorer_routes(client):
    graph = client.get("/researchers/A1/graph").json()
    assert graph["topics"] and graph["institutions"] and graph["adjacent_works"]
    for t in graph["topics"]:
        assert client.get(f"/topics/{t['openalex_id']}").json()["researchers_count"] > 0
    for i in graph["institutions"]:
        assert client.get(f"/institutions/{i['openalex_id']}").status_code == 200
    for w in graph["adjacent_works"]:
        assert client.get(f"/works/{w['id']}").json()["openalex_id"] == w["openalex_id"]
    for c in graph["coauthors"]:
        assert client.get(f"/researchers/{c['id']}").status_code == 200


READS = ["/works/W12", "/topics/T1", "/topics/T1/researchers?limit=100", "/topics/T1/works?limit=100",
         "/institutions/I1", "/institutions/I1/researchers?limit=100", "/institutions/I2/works?limit=100"]


def test_after_a_replay_the_routes_answer_the_same(client, settings):
    api = client.app.state.services
    before = {path: client.get(path).json() for path in READS}
    (checked,) = verify(api, ["profiles"])
    assert checked.differences == [] and checked.rows > 0
    rebuilder = Services(settings)  # as `peerledger replay` does, in a process of its own
    try:
        replay(rebuilder, ["profiles"])
    finally:
        rebuilder.close()
    for _ in range(300):  # the API looks at the versions table every second
        if api.version_of("profiles") == 2:
            break
        time.sleep(0.05)
    assert api.version_of("profiles") == 2
    settle(client)
    assert {path: client.get(path).json() for path in READS} == before


def test_the_openapi_document_describes_the_explorer_routes_and_their_problems(client):
    paths = client.get("/schema/openapi.json").json()["paths"]
    for path in ("/works/{work_id}", "/topics/{topic_id}", "/topics/{topic_id}/researchers", "/topics/{topic_id}/works",
                 "/institutions/{institution_id}", "/institutions/{institution_id}/researchers",
                 "/institutions/{institution_id}/works"):
        responses = paths[path]["get"]["responses"]
        assert set(responses) >= {"200", "400", "404"}, path
        assert "application/problem+json" in responses["404"]["content"]
