"""ORCID sign-in finished on the pages: ORCID sends the browser back to /p/orcid/callback (what
PEERLEDGER_ORCID_REDIRECT_URI names when the pages are the front end), which runs the API's own
check for the signed-in claimant. Against PostgreSQL, with the loopback ORCID of test_claims."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.e2e.pages_support import signed_in
from tests.e2e.support import person_headers
from tests.e2e.test_claims import (  # noqa: F401 - the fixtures are shared
    RECORD_ORCID,
    FakeOrcid,
    claim,
    client,
    orcid_server,
    profile,
)


def state_of(opened: dict) -> str:
    return parse_qs(urlparse(opened["orcid_sign_in_url"]).query)["state"][0]


def test_orcid_sends_the_claimant_back_to_a_page_that_verifies_the_claim(client):
    ada = signed_in(client, "Ada Pages")["headers"]
    opened = claim(client, ada).json()
    FakeOrcid.codes["page-code"] = RECORD_ORCID

    back = client.get("/p/orcid/callback", params={"code": "page-code", "state": state_of(opened)},
                      follow_redirects=False)

    assert (back.status_code, back.headers["location"]) == (303, f"/p/claims/{opened['id']}")
    assert "Approved" in client.get(back.headers["location"]).text
    assert profile(client, "A8001")["claim_status"] == "claimed"


def test_a_cancelled_sign_in_is_said_beside_the_claim_and_changes_nothing(client):
    ada = signed_in(client, "Ada Pages")["headers"]
    opened = claim(client, ada).json()

    back = client.get("/p/orcid/callback", params={"error": "access_denied", "state": state_of(opened)})

    assert back.status_code == 422
    assert "ORCID sign-in was cancelled or refused" in back.text
    assert profile(client, "A8001")["claim_status"] == "unclaimed"


def test_only_the_claimant_signed_in_here_can_finish_it(client):
    ada = person_headers(client, "Ada Claimant")
    opened = claim(client, ada).json()
    FakeOrcid.codes["lured"] = RECORD_ORCID

    signed_out = client.get("/p/orcid/callback", params={"code": "lured", "state": state_of(opened)},
                            follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/p/login?next=%2Fp%2Forcid")

    signed_in(client, "Someone Else")
    other = client.get("/p/orcid/callback", params={"code": "lured", "state": state_of(opened)})
    assert other.status_code == 404
    assert profile(client, "A8001")["claim_status"] == "unclaimed"


def test_a_state_this_service_did_not_sign_is_refused_with_a_page(client):
    signed_in(client, "Ada Pages")

    answer = client.get("/p/orcid/callback", params={"code": "x", "state": "forged.1.state"})

    assert answer.status_code == 422, answer.text  # as the API's callback answers it
    assert answer.headers["content-type"].startswith("text/html")
    assert "not valid or has expired" in answer.text
    assert profile(client, "A8001")["claim_status"] == "unclaimed"
