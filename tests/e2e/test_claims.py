"""Claiming over HTTP against PostgreSQL, with a real OAuth server on loopback standing in for ORCID."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from litestar.testing import TestClient

from domain.catalogue.model import researcher_id_for
from operations.importing import import_body
from tests.conftest import settings_for
from tests.factories import author, institution, work
from tests.e2e.support import assert_problem, code_in_mail, person_headers, started

RECORD_ORCID = "0000-0002-1825-0097"
OTHER_ORCID = "0000-0002-1694-233X"
CLIENT_ID, CLIENT_SECRET = "APP-TEST", "test-client-secret"


class FakeOrcid(BaseHTTPRequestHandler):
    """ORCID's token endpoint: an authorization code maps to the iD it proves."""

    codes: dict[str, str] = {}

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        good_client = form.get("client_id") == [CLIENT_ID] and form.get("client_secret") == [CLIENT_SECRET]
        orcid = self.codes.get(form.get("code", [""])[0])
        status, body = (200, {"access_token": "t", "token_type": "bearer", "orcid": orcid, "name": "X"}) \
            if good_client and orcid else (400, {"error": "invalid_grant"})
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def orcid_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOrcid)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def client(tmp_path, pg_schema, orcid_server) -> Iterator[TestClient]:
    settings = settings_for(
        "postgres", tmp_path, pg_schema, PEERLEDGER_DEMO_DATA="yes",
        PEERLEDGER_ORCID_CLIENT_ID=CLIENT_ID, PEERLEDGER_ORCID_CLIENT_SECRET=CLIENT_SECRET,
        PEERLEDGER_ORCID_AUTHORIZE_URL=f"{orcid_server}/oauth/authorize",
        PEERLEDGER_ORCID_TOKEN_URL=f"{orcid_server}/oauth/token",
    )
    with started(settings) as c:
        services = c.app.state.services
        # A record with an ORCID iD and an institution whose domain is known.
        import_body(services.catalogue, json.dumps([
            work(8001, [author(8001, "Orcid Owner", orcid=f"https://orcid.org/{RECORD_ORCID}")],
                 institutions=[[institution(77)]]),
            work(8002, [author(8002, "Second Record")]),
        ]).encode())
        services.catalogue.set_institution_domains("I77", ["uni.example"])
        assert services.wait_for_projections()
        yield c


def profile(client, openalex_id: str) -> dict:
    assert client.app.state.services.wait_for_projections()
    client.app.state.profile_cache.refresh()
    return client.get(f"/researchers/{openalex_id}").json()


def claim(client, who, openalex_id="A8001", evidence=None):
    return client.post(f"/researchers/{openalex_id}/claims", headers=who,
                       json={"evidence": evidence or [{"kind": "orcid"}]})


def sign_in(client, who, claim_json: dict, proves: str, code: str):
    """The round trip: ORCID sends the browser back to the front end with a code and the state,
    and the front end hands both to /orcid/callback with the claimant's token."""
    url = urlparse(claim_json["orcid_sign_in_url"])
    state = parse_qs(url.query)["state"][0]
    FakeOrcid.codes[code] = proves
    return client.get("/orcid/callback", params={"code": code, "state": state}, headers=who)


def test_orcid_sign_in_with_the_records_id_makes_the_claimant_owner_at_l2(client):
    ada = person_headers(client, "Ada Claimant")
    opened = claim(client, ada)
    assert opened.status_code == 201
    body = opened.json()
    assert body["status"] == "awaiting_verification"
    assert body["evidence"][0]["strength"] == "conclusive"
    assert body["orcid_sign_in_url"].startswith("http://127.0.0.1")
    callback = sign_in(client, ada, body, RECORD_ORCID, "code-ada")
    assert callback.json() == {"claim_id": body["id"], "status": "approved"}
    p = profile(client, "A8001")
    assert (p["claim_status"], p["verification_level"], p["owner"]) == ("claimed", "L2", {"display_name": "Ada Claimant"})
    me = client.get("/me", headers=ada).json()
    assert me["claimed_researchers"] == [str(researcher_id_for("A8001"))]


def test_an_orcid_sign_in_that_proves_another_id_does_not_verify(client):
    ada = person_headers(client, "Ada Claimant")
    body = claim(client, ada).json()
    assert sign_in(client, ada, body, OTHER_ORCID, "code-other").json()["status"] == "pending"
    evidence = client.get(f"/claims/{body['id']}", headers=ada).json()["evidence"][0]
    assert evidence["status"] == "failed" and OTHER_ORCID in evidence["failure"]
    assert profile(client, "A8001")["claim_status"] == "unclaimed"


@pytest.mark.parametrize("attempt", range(3))
def test_twenty_concurrent_conclusive_claims_make_exactly_one_owner(client, attempt):
    people = [person_headers(client, f"Racer {attempt} {n}") for n in range(20)]
    opened = [claim(client, who).json() for who in people]

    def finish(n: int):
        return sign_in(client, people[n], opened[n], RECORD_ORCID, f"race-{attempt}-{n}")

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(finish, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 19
    for r in responses:
        if r.status_code == 409:
            assert "owner first" in r.json()["detail"] or "same moment" in r.json()["detail"]
    record = client.app.state.services.claims.get_record(researcher_id_for("A8001"))
    winners = [r.json()["claim_id"] for r in responses if r.status_code == 200]
    assert str(record.owner_claim) == winners[0]
    assert profile(client, "A8001")["claim_status"] == "claimed"


def test_an_institutional_address_confirmed_by_its_code_goes_to_a_moderator_who_approves_at_l2(client):
    ada, mod = person_headers(client, "Ada Claimant"), person_headers(client, "Mo Derator", role="moderator")
    body = claim(client, ada, evidence=[{"kind": "institutional_email", "email": "ada@dept.uni.example"}]).json()
    assert body["evidence"][0]["institution_id"] == "I77"
    assert_problem(client.post(f"/claims/{body['id']}/email-code", headers=ada, json={"code": "12345"}), 400,
                   "a six-digit code")
    code = code_in_mail(client, "ada@dept.uni.example")
    confirmed = client.post(f"/claims/{body['id']}/email-code", headers=ada, json={"code": code})
    assert confirmed.json()["status"] == "pending"  # affiliation proven; authorship is a person's call
    assert confirmed.json()["evidence"][0]["status"] == "verified"
    approved = client.post(f"/claims/{body['id']}/approve", headers=mod, json={"level": "L2", "reason": "matches"})
    assert approved.json()["status"] == "approved"
    assert profile(client, "A8001")["verification_level"] == "L2"


def test_a_statement_goes_to_the_moderators_queue_and_a_moderator_approves_at_l3(client):
    ada, mod = person_headers(client, "Ada Claimant"), person_headers(client, "Mo Derator", role="moderator")
    body = claim(client, ada, "A8002", [{"kind": "statement", "text": "My thesis lists these works.",
                                        "links": ["https://example.org/thesis.pdf"]}]).json()
    assert body["status"] == "pending"
    assert client.app.state.services.wait_for_projections()
    queue = client.get("/moderation/claims", headers=mod).json()["items"]
    assert [c["id"] for c in queue] == [body["id"]]
    assert (queue[0]["evidence"][0]["strength"], queue[0]["evidence"][0]["text"]) == ("weak", "My thesis lists these works.")
    approved = client.post(f"/claims/{body['id']}/approve", headers=mod, json={"level": "L3", "reason": "thesis checks out"})
    assert approved.json()["status"] == "approved"
    assert profile(client, "A8002")["verification_level"] == "L3"
    assert client.app.state.services.wait_for_projections()
    assert client.get("/moderation/claims", headers=mod).json()["items"] == []


def test_rejection_resubmission_and_appeal(client):
    ada = person_headers(client, "Ada Claimant")
    first, second = person_headers(client, "First Mod", role="moderator"), person_headers(client, "Second Mod", role="moderator")
    evidence = [{"kind": "statement", "text": "trust me"}]
    claim_id = claim(client, ada, "A8002", evidence).json()["id"]
    rejected = client.post(f"/claims/{claim_id}/reject", headers=first, json={"reason": "no evidence"}).json()
    assert (rejected["status"], rejected["decision_reason"]) == ("rejected", "no evidence")
    assert_problem(claim(client, ada, "A8002", evidence), 409, "evidence of your rejected claim")
    assert client.post(f"/claims/{claim_id}/appeal", headers=ada, json={"reason": "see my CV"}).json()["status"] == "pending"
    assert_problem(client.post(f"/claims/{claim_id}/approve", headers=first, json={"level": "L2", "reason": "ok"}), 403,
            "different moderator")
    assert client.post(f"/claims/{claim_id}/approve", headers=second,
                       json={"level": "L2", "reason": "ok"}).json()["status"] == "approved"


def test_a_claim_on_an_owned_record_is_a_dispute_and_the_record_shows_it(client):
    ada, bob, mod = person_headers(client, "Ada Claimant"), person_headers(client, "Bob Rival"), person_headers(client, "Mo Derator", role="moderator")
    sign_in(client, ada, claim(client, ada).json(), RECORD_ORCID, "code-owner")
    dispute = claim(client, bob, evidence=[{"kind": "statement", "text": "that is my work"}]).json()
    assert dispute["status"] == "disputing"
    assert profile(client, "A8001")["claim_status"] == "disputed"
    client.post(f"/claims/{dispute['id']}/reject", headers=mod, json={"reason": "ORCID proven by the owner"})
    p = profile(client, "A8001")
    assert (p["claim_status"], p["owner"]["display_name"]) == ("claimed", "Ada Claimant")


def test_the_owner_releases_and_a_moderator_revokes(client):
    ada, mod = person_headers(client, "Ada Claimant"), person_headers(client, "Mo Derator", role="moderator")
    sign_in(client, ada, claim(client, ada).json(), RECORD_ORCID, "code-release")
    assert_problem(client.post("/researchers/A8001/owner/release", headers=mod, json={"reason": "x"}), 403, "only the record's owner")
    assert client.post("/researchers/A8001/owner/release", headers=ada, json={"reason": "not me"}).status_code == 200
    p = profile(client, "A8001")
    assert (p["claim_status"], p["verification_level"], p["owner"]) == ("unclaimed", "L1", None)
    sign_in(client, ada, claim(client, ada).json(), RECORD_ORCID, "code-again")
    assert_problem(client.post("/researchers/A8001/owner/revoke", headers=ada, json={"reason": "x"}), 403, "moderator or admin role")
    assert client.post("/researchers/A8001/owner/revoke", headers=mod, json={"reason": "fraud"}).status_code == 200
    assert profile(client, "A8001")["claim_status"] == "unclaimed"


def test_two_records_of_one_person_list_each_other(client):
    ada, mod = person_headers(client, "Ada Claimant"), person_headers(client, "Mo Derator", role="moderator")
    sign_in(client, ada, claim(client, ada).json(), RECORD_ORCID, "code-same-1")
    second = claim(client, ada, "A8002", [{"kind": "statement", "text": "also me"}]).json()
    client.post(f"/claims/{second['id']}/approve", headers=mod, json={"level": "L2", "reason": "same person"})
    assert profile(client, "A8001")["same_person"] == [str(researcher_id_for("A8002"))]
    assert profile(client, "A8002")["same_person"] == [str(researcher_id_for("A8001"))]


def test_claims_are_private_to_claimant_and_moderators(client):
    ada, eve = person_headers(client, "Ada Claimant"), person_headers(client, "Eve Stranger")
    claim_id = claim(client, ada, "A8002", [{"kind": "statement", "text": "mine"}]).json()["id"]
    for method, path, body in [
        ("get", f"/claims/{claim_id}", None),
        ("post", f"/claims/{claim_id}/withdraw", None),
        ("post", f"/claims/{claim_id}/evidence", {"evidence": [{"kind": "statement", "text": "x"}]}),
        ("post", f"/claims/{claim_id}/email-code", {"code": "123456"}),
        ("post", f"/claims/{claim_id}/appeal", {"reason": "x"}),
    ]:
        assert_problem(getattr(client, method)(path, headers=eve, **({"json": body} if body else {})), 404, "no such claim")
    assert_problem(client.get("/moderation/claims", headers=eve), 403, "moderator or admin role")
    assert_problem(client.post(f"/claims/{claim_id}/approve", headers=eve, json={"level": "L2", "reason": "x"}), 403,
            "moderator or admin role")


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("/researchers/A404/claims", {"evidence": [{"kind": "orcid"}]}, 404, "no researcher"),
        ("/researchers/A8002/claims", {"evidence": [{"kind": "orcid"}]}, 422, "no ORCID iD"),
        ("/researchers/A8001/claims", {"evidence": []}, 400, "length >= 1"),
        ("/researchers/A8001/claims", {"evidence": [{"kind": "photo"}]}, 400, "Invalid enum value 'photo'"),
        ("/researchers/A8001/claims", {"evidence": [{"kind": "institutional_email", "email": "a@gmail.com"}]}, 422,
         "not the domain of an institution"),
        ("/researchers/A8001/claims", {"evidence": [{"kind": "orcid"}], "owner": "me"}, 400, "unknown field `owner`"),
    ],
)
def test_bad_claims_are_refused(client, path, body, status, detail):
    assert_problem(client.post(path, headers=person_headers(client, "Ada Claimant"), json=body), status, detail)


def test_an_unconfirmed_account_cannot_claim(client):
    assert_problem(claim(client, person_headers(client, "Una Confirmed", confirm=False)), 403, "confirm your email address first")


def test_a_forged_missing_or_garbled_state_is_refused(client):
    ada = person_headers(client, "Ada Claimant")
    for params in ({"code": "x", "state": "forged.1.sig"}, {"code": "x"}, {"code": "x", "state": "a.1.\u00e9"}):
        assert_problem(client.get("/orcid/callback", params=params, headers=ada), 422, "not valid or has expired")


def test_a_sign_in_finished_by_someone_else_does_not_verify_the_claim(client):
    eve, victim = person_headers(client, "Eve Attacker"), person_headers(client, "Victim Owner")
    eves_claim = claim(client, eve).json()
    # Eve lures the victim through her sign-in link: the victim's browser and token finish it.
    assert_problem(sign_in(client, victim, eves_claim, RECORD_ORCID, "lured"), 404, "no such claim")
    assert_problem(client.get("/orcid/callback", params={"code": "lured", "state": "x.1.y"}), 401, "access token")
    assert profile(client, "A8001")["claim_status"] == "unclaimed"


def test_moderators_ask_and_claimants_answer_with_evidence(client):
    ada, mod = person_headers(client, "Ada Claimant"), person_headers(client, "Mo Derator", role="moderator")
    claim_id = claim(client, ada, "A8002", [{"kind": "statement", "text": "mine"}]).json()["id"]
    asked = client.post(f"/claims/{claim_id}/request-info", headers=mod, json={"question": "Which institution?"}).json()
    assert (asked["status"], asked["question"]) == ("info_requested", "Which institution?")
    answered = client.post(f"/claims/{claim_id}/evidence", headers=ada,
                           json={"evidence": [{"kind": "statement", "text": "Renmin University"}]}).json()
    assert answered["status"] == "pending" and len(answered["evidence"]) == 2
    withdrawn = client.post(f"/claims/{claim_id}/withdraw", headers=ada).json()
    assert withdrawn["status"] == "withdrawn"
    assert_problem(client.post(f"/claims/{claim_id}/withdraw", headers=ada), 409, "only an open claim can be withdrawn")


def test_email_codes_for_a_claim_are_rate_limited(client):
    ada = person_headers(client, "Ada Claimant")
    body = claim(client, ada, evidence=[{"kind": "institutional_email", "email": "ada@uni.example"}]).json()
    right = code_in_mail(client, "ada@uni.example")
    wrong = "000000" if right != "000000" else "111111"
    statuses = [client.post(f"/claims/{body['id']}/email-code", headers=ada, json={"code": wrong}).status_code
                for _ in range(5)]
    assert statuses == [422] * 5
    limited = client.post(f"/claims/{body['id']}/email-code", headers=ada, json={"code": right})
    assert_problem(limited, 429, "too many code attempts")
    assert int(limited.headers["retry-after"]) > 0


def test_an_address_that_could_reach_someone_else_is_refused_as_evidence(client):
    assert_problem(claim(client, person_headers(client, "Ada Claimant"),
                  evidence=[{"kind": "institutional_email", "email": "a@uni.example\r\nBcc: x@y.z"}]),
            422, "is not an email address")


def test_two_verified_co_authors_vouch_a_record_to_l3(client):
    services = client.app.state.services
    import_body(services.catalogue, json.dumps([
        work(8101, [author(8101, "Target Person", orcid=f"https://orcid.org/{RECORD_ORCID}"),
                    author(8102, "Coauthor One", orcid=f"https://orcid.org/{OTHER_ORCID}"), author(8103, "Coauthor Two")]),
    ]).encode())
    assert services.wait_for_projections()
    target, one, two = person_headers(client, "Target Person"), person_headers(client, "Coauthor One"), person_headers(client, "Coauthor Two")
    mod, stranger = person_headers(client, "Mo Derator", role="moderator"), person_headers(client, "Some Stranger")
    sign_in(client, target, claim(client, target, "A8101").json(), RECORD_ORCID, "v-target")
    sign_in(client, one, claim(client, one, "A8102").json(), OTHER_ORCID, "v-one")
    two_claim = claim(client, two, "A8103", [{"kind": "statement", "text": "me"}]).json()
    client.post(f"/claims/{two_claim['id']}/approve", headers=mod, json={"level": "L2", "reason": "ok"})
    assert services.wait_for_projections()
    assert_problem(client.post("/researchers/A8101/vouches", headers=stranger), 403, "co-author record verified")
    assert client.post("/researchers/A8101/vouches", headers=one).json()["verification_level"] == "L2"
    assert client.post("/researchers/A8101/vouches", headers=two).json()["verification_level"] == "L3"
    assert profile(client, "A8101")["verification_level"] == "L3"


@pytest.mark.parametrize("path", ["/moderation/claims", "/researchers/A8001/owner/revoke",
                                  "/claims/e3e70682-c209-4cac-a29f-6fbed82c07cd/approve"])
def test_options_on_guarded_routes_answer_without_an_error(client, path):
    response = client.options(path)
    assert response.status_code == 204, response.text
    assert "allow" in response.headers
