"""The HTTP API through create_app against PostgreSQL: what a front end and an operator see."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from uuid import UUID

import pytest
from litestar.testing import TestClient

from domain.catalogue.model import researcher_id_for
from operations.importing import import_body
from tests.conftest import settings_for
from tests.factories import author, work
from tests.e2e.support import started

ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "a long admin password"
ZHIWU = "A5999000001"
ORCID = "0000-0000-2640-9876"  # a demo co-author with an ORCID iD


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    settings = settings_for(
        "postgres", tmp_path, pg_schema, PEERLEDGER_DEMO_DATA="yes",
        PEERLEDGER_MAX_BODY_BYTES="4096", PEERLEDGER_IMPORT_MAX_BYTES="200000",
    )
    with started(settings) as c:
        accounts = c.app.state.services.accounts
        accounts.register(ADMIN_EMAIL, ADMIN_PASSWORD, "Ada Admin")
        accounts.grant_role(ADMIN_EMAIL, "admin", granted_by="test")
        yield c


@pytest.fixture
def admin_token(client) -> str:
    response = client.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def services(client: TestClient):
    return client.app.state.services


def assert_problem(response, status: int, detail_part: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert detail_part in body["detail"]
    assert "Traceback" not in response.text
    return body


def post_import(client, body: bytes, content_type="application/json", token=None):
    headers = {"content-type": content_type}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return client.post("/imports", content=body, headers=headers)


def test_the_demo_profile_is_served_by_uuid_openalex_id_and_orcid(client):
    by_openalex = client.get(f"/researchers/{ZHIWU}")
    assert by_openalex.status_code == 200
    p = by_openalex.json()
    assert (p["display_name"], p["works_count"], p["topics_count"]) == ("Zhiwu Lu", 12, 8)
    assert (p["followers_count"], p["close_collaborators_count"], p["verification_level"], p["claim_status"]) == (
        0, 4, "L1", "unclaimed")
    assert client.get(f"/researchers/{p['id']}").json() == p
    assert client.get(f"/researchers/{ZHIWU.lower()}").json() == p
    by_orcid = client.get(f"/researchers/{ORCID}")
    assert by_orcid.status_code == 200
    assert by_orcid.json()["orcid"] == ORCID


def test_responses_carry_security_headers(client):
    for path in ("/health", f"/researchers/{ZHIWU}", "/researchers/nobody"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/researchers/A999999", 404, "no researcher with id 'A999999'"),
        ("/researchers/00000000-0000-4000-8000-000000000000", 404, "no researcher"),
        ("/researchers/0000-0002-1825-0097", 404, "no researcher"),
        ("/researchers/nobody", 400, "is not a researcher id"),
        ("/researchers/0000-0002-1825-0098", 400, "check digit"),
        ("/researchers/A999999/works", 404, "no researcher"),
        ("/researchers?limit=0", 400, "Validation failed"),
        ("/researchers?limit=1000000000", 400, "Validation failed"),
        ("/researchers?limit=ten", 400, "Validation failed"),
        ("/researchers?cursor=not-a-cursor", 400, "cursor is not one this API gave out"),
        (f"/researchers/{ZHIWU}/works?cursor=eyJhIjoxfQ", 400, "cursor is not one this API gave out"),
        ("/no/such/route", 404, "Not Found"),
        ("/researchers?q=%00", 400, "q must not contain control characters"),
        ("/researchers?cursor=WyJcdTAwMDAiLCJ4Il0", 400, "cursor is not one this API gave out"),
        ("/researchers?sort=name", 400, "unknown query parameter(s): sort"),
        (f"/researchers/{ZHIWU}?verbose=1", 400, "unknown query parameter(s): verbose"),
        (f"/researchers/{ZHIWU}/works?page=2", 400, "unknown query parameter(s): page"),
        ("/researchers/" + "A" + "1" * 70, 400, "at most 64 characters"),
    ],
)
def test_bad_requests_get_a_problem_document(client, path, status, detail):
    assert_problem(client.get(path), status, detail)


def test_a_wrong_method_is_a_405_problem(client):
    assert_problem(client.delete(f"/researchers/{ZHIWU}"), 405, "Method Not Allowed")


def test_search_matches_the_start_of_any_word_of_a_name(client):
    def names(q: str) -> list[str]:
        return [p["display_name"] for p in client.get("/researchers", params={"q": q}).json()["items"]]

    assert names("lu") == ["Jiawei Luo", "Zhiwu Lu"]  # in name order
    assert names("zhi") == names("zhiwu l") == names("ZHIWU LU") == ["Zhiwu Lu"]
    assert client.get("/researchers", params={"q": "hiwu"}).json()["items"] == []


def test_search_ignores_case_and_accents_and_pages_with_a_cursor(client, admin_token):
    body = {"results": [work(9001, [author(9001, "Zoë Ångström")]), work(9002, [author(9002, "Zoe Angstrom")])]}
    assert post_import(client, json.dumps(body).encode(), token=admin_token).status_code == 200
    services(client).profiles_runner.wait(services(client).profiles_runner.head(), timeout=10)
    first = client.get("/researchers", params={"q": "ZOE ANGSTROM", "limit": 1}).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = client.get("/researchers", params={"q": "zoë ångström", "limit": 1, "cursor": first["next_cursor"]}).json()
    names = {first["items"][0]["display_name"], second["items"][0]["display_name"]}
    assert names == {"Zoë Ångström", "Zoe Angstrom"}
    assert second["next_cursor"] is None


def test_works_are_listed_newest_first_in_pages(client):
    seen, cursor = [], None
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/researchers/{ZHIWU}/works", params=params).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 12
    dates = [w["publication_date"] for w in seen]
    assert dates == sorted(dates, reverse=True)
    assert seen[0]["title"].startswith("Skill Drift Is Contract Violation")
    assert seen[0]["abstract"].startswith("LLM agents increasingly rely")
    assert any(a["openalex_id"] == ZHIWU for a in seen[0]["authors"])


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["projections"][0]["lag"] == 0


def test_ready_fails_while_a_projection_is_behind(client):
    svc = services(client)
    svc.profiles_runner.stop()
    # The default bound is 1,000 events; 600 works with one new author each write 1,200.
    w = [work(20_000 + n, [author(20_000 + n)]) for n in range(600)]
    import_body(svc.catalogue, json.dumps(w).encode())
    assert_problem(client.get("/ready"), 503, "profiles <- Catalogue (1200 events behind)")


def test_the_openapi_document_and_the_interactive_page_are_served(client):
    spec = client.get("/schema/openapi.json").json()
    assert "/researchers/{researcher_id}" in spec["paths"]
    assert "ProfileOut" in json.dumps(spec["components"])
    assert client.get("/schema").status_code == 200


def test_an_admin_imports_works_and_the_profile_follows(client, admin_token):
    assert client.get(f"/researchers/{ZHIWU}").json()["works_count"] == 12  # now cached
    body = "\n".join(json.dumps(work(n, [author(n), author(5999000001)])) for n in (7001, 7002))
    response = post_import(client, body.encode(), "application/x-ndjson", admin_token)
    assert response.status_code == 200
    summary = response.json()
    assert (summary["works_created"], summary["researchers_created"], summary["malformed"]) == (2, 2, 0)
    assert services(client).profiles_runner.wait(summary["position"], timeout=10)
    profile = None
    for _ in range(100):  # the API cache drops the old profile within the refresh interval
        profile = client.get(f"/researchers/{ZHIWU}").json()
        if profile["works_count"] == 14:
            break
        time.sleep(0.02)
    assert profile["works_count"] == 14
    again = post_import(client, body.encode(), "application/x-ndjson", admin_token).json()
    assert (again["works_unchanged"], again["events_written"]) == (2, 0)


def test_a_malformed_import_is_refused_whole_and_writes_nothing(client, admin_token):
    svc = services(client)
    before = svc.catalogue.recorder.max_notification_id()
    bad = work(7101, [author(7101)])
    bad["publication_year"] = "soon"
    body = json.dumps(work(7100, [author(7100)])) + "\n" + json.dumps(bad) + "\n{oops\n"
    response = post_import(client, body.encode(), "application/x-ndjson", admin_token)
    problem = assert_problem(response, 422, "2 of 3 records are malformed; nothing was imported")
    assert [r["where"] for r in problem["records"]] == ["line 2", "line 3"]
    assert svc.catalogue.recorder.max_notification_id() == before


ADMIN = "admin"


@pytest.mark.parametrize(
    ("body", "content_type", "token", "status", "detail"),
    [
        (b"[]", "application/json", None, 401, "a valid access token is required"),
        (b"[]", "application/json", "not-a-jwt", 401, "a valid access token is required"),
        (b"[]", "text/csv", ADMIN, 415, "application/json"),
        (b"", "application/json", ADMIN, 400, "empty"),
        (b"<xml/>", "application/json", ADMIN, 400, "neither JSON nor JSON Lines"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json", ADMIN, 400, "nested too deeply"),
        (b'[{"id": "W1", "title": "Caf\xe9"}]', "application/json", ADMIN, 400,
         "the input is not UTF-8: byte 0xe9 at line 1, column 28"),
        (json.dumps(work(7200, [author(7200)])).encode() + b'\n{"id": "W7201", "title": "\xff"}\n',
         "application/x-ndjson", ADMIN, 400, "the input is not UTF-8: byte 0xff at line 2, column 27"),
        (b"[" + b" " * 300_000 + b"]", "application/json", ADMIN, 413, "larger than this endpoint accepts"),
    ],
)
def test_bad_imports_are_refused(client, admin_token, body, content_type, token, status, detail):
    before = services(client).catalogue.recorder.max_notification_id()
    token = admin_token if token == ADMIN else token
    assert_problem(post_import(client, body, content_type, token), status, detail)
    assert services(client).catalogue.recorder.max_notification_id() == before


def test_imports_need_the_admin_role(client):
    accounts = services(client).accounts
    accounts.register("member@example.org", "a long member password", "Mo Member")
    login = client.post("/auth/login", json={"email": "member@example.org", "password": "a long member password"})
    assert_problem(post_import(client, b"[]", token=login.json()["access_token"]), 403, "needs the admin role")


def test_internal_ids_are_uuid5_of_the_openalex_id(client):
    p = client.get(f"/researchers/{ZHIWU}").json()
    assert UUID(p["id"]) == researcher_id_for(ZHIWU)
