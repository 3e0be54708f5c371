"""The API contract a front end builds on (issue 16): the OpenAPI document declares every
response, errors carry codes, public reads are cacheable, tokens on public routes never 401,
canonical ids are accepted. Against PostgreSQL with the demo data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from litestar.testing import TestClient

from api.errors import ALL_CODES, ApiCode
from domain.errors import ErrorCode
from tests.conftest import fresh_pg_schema, settings_for
from tests.factories import register_confirmed
from tests.e2e.support import serving

ZHIWU = "A5999000001"
PASSWORD = "a long enough password"
PUBLIC_READS = [f"/researchers/{ZHIWU}", f"/researchers/{ZHIWU}/works", f"/researchers/{ZHIWU}/trust",
                f"/researchers/{ZHIWU}/graph", f"/researchers/{ZHIWU}/followers", f"/researchers/{ZHIWU}/history",
                f"/researchers/{ZHIWU}/trust/history", "/researchers?q=zhiwu", "/trust/formula"]


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    """One app for the module: these tests read, and their few writes do not meet."""
    with fresh_pg_schema() as schema:
        settings = settings_for("postgres", tmp_path_factory.mktemp("contract"), schema, PEERLEDGER_DEMO_DATA="yes")
        yield from serving(settings)


@pytest.fixture(scope="module")
def document(client) -> dict:
    return client.get("/schema/openapi.json").json()


@pytest.fixture(scope="module")
def token(client) -> str:
    register_confirmed(client.app.state.services, "reader@example.org", "Rita Reader", PASSWORD)
    return client.post("/auth/login", json={"email": "reader@example.org", "password": PASSWORD}).json()["access_token"]


def operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "head", "put", "post", "patch", "delete"):
                yield path, method, operation


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"], body["type"]) == (status, code, f"urn:peerledger:problem:{code}")
    assert body["title"] and body["detail"]
    return body


def test_every_error_response_is_declared_as_a_problem_with_a_code(document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]["code"]["enum"]) == set(ALL_CODES) >= {c.value for c in ErrorCode}
    for path, method, operation in operations(document):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert {"400", "500", "503"} <= set(errors), (method, path)
        for status, response in errors.items():
            content = response.get("content", {})
            assert list(content) == ([] if method == "head" else ["application/problem+json"]), (method, path, status)
            if method != "head":
                ref = content["application/problem+json"]["schema"]["$ref"]
                assert ref.startswith("#/components/schemas/") and ref.endswith("Problem"), (method, path, ref)


def codes_of(document: dict, path: str, method: str, status: str) -> set[str]:
    ref = document["paths"][path][method]["responses"][status]["content"]["application/problem+json"]["schema"]["$ref"]
    return set(document["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]["code"]["enum"])


def test_each_route_declares_the_codes_of_its_own_area_and_no_others(document):
    follow = codes_of(document, "/me/following/{researcher_id}", "put", "422")
    invite = codes_of(document, "/researchers/{researcher_id}/invitations", "post", "409")
    register = codes_of(document, "/accounts", "post", "409")
    edit = codes_of(document, "/researchers/{researcher_id}/profile", "patch", "403")
    trust = codes_of(document, "/researchers/{researcher_id}/trust", "get", "404")
    flag = codes_of(document, "/researchers/{researcher_id}/works/{work_id}/flags", "post", "409")
    uphold = codes_of(document, "/flags/{flag_id}/uphold", "post", "409")
    attribution = codes_of(document, "/researchers/{researcher_id}/works/{work_id}/attribution", "put", "409")
    adoption = codes_of(document, "/researchers/{researcher_id}/works/{work_id}/adoption", "post", "409")
    adoption_decision = codes_of(document, "/adoptions/{request_id}/approve", "post", "409")

    assert "follow_own_record" in follow and "invitation_cooldown" not in follow and "email_taken" not in follow
    assert {"invitation_cooldown", "invitation_pending", "recipient_unclaimed"} <= invite
    assert "follow_own_record" not in invite
    assert "email_taken" in register and "claim_already_open" not in register
    assert "not_owner" in edit and "invitation_cooldown" not in edit
    assert {"record_claimed", "already_flagged", "not_an_author"} <= flag and "invitation_cooldown" not in flag
    assert {"flag_not_open", "not_an_author", "dispute_open"} <= uphold
    assert "dispute_open" in attribution
    assert {"already_an_author", "not_an_author", "record_has_owner", "already_adopted", "adoption_pending",
            "dispute_open"} <= adoption and "invitation_cooldown" not in adoption
    assert {"adoption_not_open", "owner_changed"} <= adoption_decision
    # General codes everywhere: the HTTP layer's refusals and the kinds.
    assert {"validation_failed", "not_found", "store_unavailable", "invalid_text"} <= follow & invite & trust
    assert not trust & {"follow_own_record", "invitation_cooldown", "email_taken", "not_owner"}


def test_every_code_but_the_general_kinds_belongs_to_one_area():
    """A code added to ErrorCode outside an area's range would be declared on every route: name it here."""
    from domain.errors import AREA_CODES, GENERAL_CODES

    assert {c.value for c in GENERAL_CODES} == {"not_found", "conflict", "forbidden", "invalid_input",
                                                "unauthenticated", "rate_limited", "unavailable",
                                                "changed_concurrently", "invalid_text", "email_unconfirmed"}
    areas = list(AREA_CODES.values())
    assert all(not (a & b) for i, a in enumerate(areas) for b in areas[i + 1:])


def test_a_problem_with_a_code_its_route_does_not_declare_fails_the_test_that_meets_it(client):
    """tests/declared_codes.py, installed for every test: the check that keeps the lists honest."""
    from tests.declared_codes import declared_codes

    assert "follow_own_record" in declared_codes(client, "PUT", "/me/following/A1", 422)
    assert "invitation_cooldown" not in declared_codes(client, "PUT", "/me/following/A1", 422)
    assert declared_codes(client, "GET", "/no/such/route", 404) is None
    # The demo record's /trust route cannot answer 409: nothing is declared for it.
    assert declared_codes(client, "GET", f"/researchers/{ZHIWU}/trust", 409) == []


def test_public_routes_declare_no_security_and_the_others_bearer(document):
    assert "security" not in document
    public = {("get", "/researchers/{researcher_id}"), ("post", "/auth/login"), ("get", "/health"),
              ("head", "/researchers/{researcher_id}/trust")}
    for path, method, operation in operations(document):
        if (method, path) in public:
            assert "security" not in operation and "401" not in operation["responses"] or path == "/auth/login"
    for method, path in [("get", "/me"), ("put", "/me/following/{researcher_id}"), ("post", "/imports")]:
        operation = document["paths"][path][method]
        assert operation["security"] == [{"BearerToken": []}] and "401" in operation["responses"]


def test_inputs_a_handler_reads_itself_and_the_follow_201_are_declared(document):
    profile = document["paths"]["/researchers/{researcher_id}"]["get"]
    assert {"as_of", "consistent_with"} <= {p["name"] for p in profile["parameters"] if p["in"] == "query"}
    imports = document["paths"]["/imports"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-ndjson", "application/jsonl"} == set(imports)
    follow = document["paths"]["/me/following/{researcher_id}"]["put"]["responses"]
    assert follow["201"]["content"]["application/json"]["schema"] == follow["200"]["content"]["application/json"]["schema"]
    box = document["paths"]["/me/invitations"]["get"]["parameters"]
    status = next(p for p in box if p["name"] == "status")["schema"]
    assert {"pending", "accepted", "declined", "withdrawn", "expired"} <= set(re.findall(r"'(\w+)'", str(status)))


@pytest.mark.parametrize("path", PUBLIC_READS)
def test_public_reads_carry_a_validator_and_answer_304_while_it_holds(client, path):
    first = client.get(path)
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=10, must-revalidate"
    assert "Authorization" in first.headers["vary"]
    again = client.get(path, headers={"if-none-match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert client.get(path, headers={"if-none-match": '"other"'}).status_code == 200
    head = client.head(path)
    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", etag)
    assert head.headers["content-length"] == str(len(first.content))


def test_private_reads_and_live_routes_are_not_cached(client, token):
    me = client.get("/me", headers={"authorization": f"Bearer {token}"})
    assert "etag" not in me.headers
    for path in ("/health", "/metrics"):
        assert "etag" not in client.get(path).headers
    signed_in = client.get(PUBLIC_READS[0], headers={"authorization": f"Bearer {token}"})
    assert signed_in.headers["cache-control"] == "private, no-cache"


@pytest.mark.parametrize("authorization", ["Bearer not-a-jwt", "Bearer " + "e30." * 2 + "x", "Basic dXNlcjpwdw==",
                                           "Bearer"])
def test_a_bad_token_on_any_public_route_reads_as_anonymous(client, authorization):
    for path in PUBLIC_READS:
        response = client.get(path, headers={"authorization": authorization})
        assert response.status_code == 200, (path, response.text)
    profile = client.get(PUBLIC_READS[0], headers={"authorization": authorization}).json()
    assert "following" not in profile or profile["following"] is None
    # ... and a private route still says why it refuses.
    assert_problem(client.get("/me", headers={"authorization": authorization}), 401, "unauthenticated")


def test_a_revoked_token_on_a_public_route_reads_as_anonymous(client):
    register_confirmed(client.app.state.services, "gone@example.org", "Gone Reader", PASSWORD)
    login = client.post("/auth/login", json={"email": "gone@example.org", "password": PASSWORD}).json()
    assert client.post("/auth/logout", json={"refresh_token": login["refresh_token"]}).status_code == 204
    headers = {"authorization": f"Bearer {login['access_token']}"}
    for path in PUBLIC_READS:
        assert client.get(path, headers=headers).status_code == 200, path
    assert_problem(client.get("/me", headers=headers), 401, "unauthenticated")


@pytest.mark.parametrize("raw", [f"https://openalex.org/{ZHIWU}", quote(f"https://openalex.org/{ZHIWU}", safe=""),
                                 f"https://openalex.org/authors/{ZHIWU}", ZHIWU.lower()])
def test_canonical_openalex_urls_are_accepted_wherever_ids_are(client, raw):
    profile = client.get(f"/researchers/{raw}")
    assert profile.status_code == 200, profile.text
    assert profile.json()["openalex_id"] == ZHIWU
    assert client.get(f"/researchers/{raw}/works").status_code == 200
    assert client.get(f"/researchers/{raw}/trust").status_code == 200


def test_canonical_orcid_urls_are_accepted(client):
    orcid = "0000-0000-2640-9876"  # a demo co-author
    short = client.get(f"/researchers/{orcid}")
    assert short.status_code == 200
    assert client.get(f"/researchers/https://orcid.org/{orcid}").json()["id"] == short.json()["id"]
    assert client.get(f"/researchers/{quote('https://orcid.org/' + orcid, safe='')}/graph").status_code == 200


def test_errors_say_why_in_a_code_and_where_in_instance_and_field(client, token):
    missing = assert_problem(client.get("/researchers/A404"), 404, "not_found")
    assert missing["instance"] == "/researchers/A404"
    bad = assert_problem(client.get(f"/researchers/{ZHIWU}/works", params={"limit": 0}), 400, "validation_failed")
    assert bad["field"] == "limit"
    unknown = assert_problem(client.get(f"/researchers/{ZHIWU}", params={"colour": "blue"}), 400, "validation_failed")
    assert unknown["field"] == "colour"
    as_of = assert_problem(client.get(f"/researchers/{ZHIWU}", params={"as_of": "yesterday"}), 400, "validation_failed")
    assert as_of["field"] == "as_of"
    assert_problem(client.get("/me"), 401, "unauthenticated")
    assert_problem(client.post("/imports", content=b"[]", headers={"authorization": f"Bearer {token}",
                                                                   "content-type": "application/json"}), 403, "forbidden")
    assert_problem(client.post("/auth/login", content=b"x", headers={"content-type": "text/plain"}), 415,
                   "unsupported_media_type")
    wrong = assert_problem(client.post("/auth/login", json={"email": "nobody@example.org", "password": "x" * 12}), 401,
                           "invalid_credentials")
    assert wrong["instance"] == "/auth/login"


def test_the_readme_documents_every_code():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    undocumented = [code for code in ALL_CODES if f"`{code}`" not in readme]
    assert undocumented == []
    assert ApiCode.VALIDATION_FAILED in ALL_CODES


def test_the_schema_page_needs_no_network(client):
    page = client.get("/schema")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "script-src 'self'" in html and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing from another origin
    assets = re.findall(r"(?:src|href)=\"(/schema/[^\"]+)\"", html)
    assert len(assets) == 3
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 100, asset
    assert client.get("/schema/swagger").text == html
    assert "Apache License" in client.get("/schema/assets/swagger-ui/LICENSE").text


def test_a_public_read_with_its_own_no_store_policy_is_documented_without_validators(client, document, token):
    card = client.get(f"/accounts/{client.app.state.services.accounts.login('reader@example.org', PASSWORD).account_id}")
    assert card.status_code == 200 and card.headers["cache-control"] == "no-store" and "etag" not in card.headers
    operation = document["paths"]["/accounts/{account_id}"]
    assert "head" not in operation and "304" not in operation["get"]["responses"]
    assert "ETag" not in operation["get"]["responses"]["200"].get("headers", {})


def test_pages_keep_their_own_cache_policy(client):
    """The API's public-read policy never applies to pages: the signed-out profile page is kept by
    the app and revalidated by ETag (no-cache, varying by cookie); a form page is never stored."""
    page = client.get(f"/r/{ZHIWU}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-cache" and page.headers["etag"]
    assert "cookie" in page.headers["vary"].lower()
    login = client.get("/p/login")
    assert login.headers["cache-control"] == "no-store" and "etag" not in login.headers


def test_notification_data_is_typed_in_the_schema(document):
    schemas = document["components"]["schemas"]
    data = schemas["NotificationData"]["properties"]
    assert {"researcher_id", "follower_name", "invitation_id", "conversation_id", "claim_id", "question",
            "new_level"} <= set(data)
    assert {"type": "string", "format": "uuid"} in data["claim_id"]["oneOf"]
    assert {"$ref": "#/components/schemas/NotificationData"} == schemas["NotificationOut"]["properties"]["data"]
