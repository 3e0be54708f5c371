"""The claim pages over plain HTTP: "Log in to claim", the evidence form, the institutional code step,
my claims with each status and next step, withdraw; refusals as sentences with the API's status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from operations.importing import import_body
from tests.conftest import settings_for
from tests.e2e.pages_support import alert, csrf_of, demo_works, signed_in
from tests.e2e.support import code_in_mail, own, serving, settle
from tests.factories import author, institution, work

RECORD = "A8101"  # has an institution whose mail domain is known


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    for c in serving(settings_for("sqlite", tmp_path, None, PEERLEDGER_RATE_LIMIT_SCALE="100"), demo_works()):
        services = c.app.state.services
        import_body(services.catalogue, json.dumps([
            work(8101, [author(8101, "Institute Person")], institutions=[[institution(81)]])]).encode())
        services.catalogue.set_institution_domains("I81", ["uni.example"])
        settle(c)
        yield c


def claim(client: TestClient, record: str, **fields: str):
    token = csrf_of(client.get(f"/r/{record}/claim").text)
    return client.post(f"/r/{record}/claim", data={"csrf_token": token, **fields}, follow_redirects=False)


def test_log_in_to_claim_leads_through_sign_in_to_the_claim_form(client):
    assert f'href="/p/login?next=/r/{RECORD}/claim">Log in to claim</a>' in client.get(f"/r/{RECORD}").text
    answer = client.get(f"/r/{RECORD}/claim", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/p/login?next=/r/{RECORD}/claim"
    signed_in(client, "Ida Claimant")
    assert f'href="/r/{RECORD}/claim">Claim this record</a>' in client.get(f"/r/{RECORD}").text
    form = client.get(f"/r/{RECORD}/claim").text
    assert 'name="statement"' in form and 'name="institutional_email"' in form
    assert 'name="orcid"' not in form  # ORCID is not configured here, so it is not offered


def test_a_statement_claim_waits_for_a_moderator_and_shows_in_my_claims(client):
    signed_in(client, "Jo Claimant")
    opened = claim(client, RECORD, statement="It is me.", links="https://example.org/me\nhttps://example.org/cv")
    assert opened.status_code == 303 and opened.headers["location"].startswith("/p/claims/")
    page = client.get(opened.headers["location"]).text
    assert "Waiting for a moderator" in page and "Nothing to do: a moderator will decide" in page
    assert "https://example.org/cv" in page
    mine = client.get("/p/claims").text
    assert "Institute Person" in mine and "Waiting for a moderator" in mine
    assert opened.headers["location"] in mine
    again = claim(client, RECORD, statement="Me again.")
    assert again.status_code == 409 and "claim" in alert(again.text).lower()
    withdrawn = client.post(opened.headers["location"] + "/withdraw", data={"csrf_token": csrf_of(page)},
                            follow_redirects=False)
    assert withdrawn.status_code == 303
    assert "Withdrawn" in client.get(opened.headers["location"]).text


def test_an_institutional_address_is_confirmed_with_its_mailed_code(client):
    signed_in(client, "Kim Claimant")
    opened = claim(client, RECORD, institutional_email="kim@dept.uni.example")
    assert opened.status_code == 303
    path = opened.headers["location"]
    page = client.get(path).text
    assert "Waiting for your proof" in page and "Enter the code we mailed" in page
    wrong = client.post(path + "/code", data={"csrf_token": csrf_of(page), "code": "000000"}, follow_redirects=False)
    assert wrong.status_code == 422 and alert(wrong.text) == "The code is wrong or has expired."
    right = client.post(path + "/code", data={"csrf_token": csrf_of(page),
                                              "code": code_in_mail(client, "kim@dept.uni.example")},
                        follow_redirects=False)
    assert right.status_code == 303
    assert "Waiting for a moderator" in client.get(path).text


@pytest.mark.parametrize(("fields", "status", "says"), [
    ({}, 422, "Give at least one piece of evidence"),
    ({"institutional_email": "me@gmail.com"}, 422, "not the domain of an institution"),
    ({"orcid": "yes"}, 422, "ORCID sign-in is not configured on this server"),
    ({"statement": "x", "links": "javascript:alert(1)"}, 422, "link"),
], ids=["nothing", "foreign-domain", "orcid-off", "bad-link"])
def test_a_refused_claim_says_why_beside_the_form(client, fields, status, says):
    signed_in(client, "Lu Claimant")
    refused = claim(client, RECORD, **fields)
    assert refused.status_code == status, refused.text[-1000:]
    assert says.lower() in alert(refused.text).lower()


def test_an_unconfirmed_account_is_told_to_confirm_first(client):
    signed_in(client, "Mo Claimant", confirm=False)
    refused = claim(client, RECORD, statement="It is me.")
    assert refused.status_code == 403 and alert(refused.text) == "Confirm your email address first."


def test_a_claim_is_nobody_elses_business(client):
    signed_in(client, "Ned Claimant")
    path = claim(client, RECORD, statement="It is me.").headers["location"]
    client.cookies.clear()
    signed_in(client, "Oz Stranger")
    assert client.get(path).status_code == 404
    token = csrf_of(client.get("/p/claims").text)
    assert client.post(path + "/withdraw", data={"csrf_token": token}, follow_redirects=False).status_code == 404


def test_claim_forms_without_their_csrf_token_are_refused(client):
    signed_in(client, "Pia Claimant")
    path = claim(client, RECORD, statement="It is me.").headers["location"]
    for target in (f"/r/{RECORD}/claim", path + "/withdraw", path + "/code", path + "/evidence"):
        refused = client.post(target, data={"statement": "x", "code": "123456"}, follow_redirects=False)
        assert refused.status_code == 403 and "did not come from this site" in refused.text, target


def test_an_approved_claim_shows_the_owner_and_level_on_the_profile(client):
    who = signed_in(client, "Quin Owner")
    own(client, who["id"], RECORD)
    page = client.get(f"/r/{RECORD}").text
    assert "Verification L2" in page and "You own this record" in page
    assert "You own this record, verified at L2." in client.get("/p/claims").text
    client.cookies.clear()
    assert "Claimed by Quin Owner" in client.get(f"/r/{RECORD}").text
