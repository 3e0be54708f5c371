"""The account pages over plain HTTP: register, confirm, resend, reset and change the password, change
the name; each refusal a readable message beside its form with the API's status; every form's CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.conftest import settings_for
from tests.e2e.pages_support import csrf_of, demo_works
from tests.e2e.support import PASSWORD, code_in_mail, mails_to, person, reset_code, serving

NEW_PASSWORD = "another long enough password"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from serving(settings_for("sqlite", tmp_path, None, PEERLEDGER_RATE_LIMIT_SCALE="100"), demo_works())


def post_form(client: TestClient, path: str, form_page: str, **fields: str):
    """Post `fields` to `path` with the CSRF token of the page at `form_page`."""
    token = csrf_of(client.get(form_page).text)
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def sign_in(client: TestClient, email: str, password: str = PASSWORD):
    return post_form(client, "/p/login", "/p/login", email=email, password=password, next="/p/account")


def test_register_then_confirm_with_the_mailed_code_then_sign_in(client):
    registered = post_form(client, "/p/register", "/p/register", display_name="Ada Page",
                           email="ada@example.org", password=PASSWORD)
    assert registered.status_code == 303 and registered.headers["location"] == "/p/confirm?done=registered"
    assert "We mailed a six-digit code" in client.get("/p/confirm?done=registered").text
    wrong = post_form(client, "/p/confirm", "/p/confirm", email="ada@example.org", code="000000")
    assert wrong.status_code == 422
    assert "The confirmation code is wrong or has expired; ask for a new one." in wrong.text
    assert 'value="ada@example.org"' in wrong.text  # the form keeps what was typed
    confirmed = post_form(client, "/p/confirm", "/p/confirm", email="ada@example.org",
                          code=code_in_mail(client, "ada@example.org"))
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/p/login?done=confirmed"
    assert "Your email address is confirmed" in client.get("/p/login?done=confirmed").text
    assert sign_in(client, "ada@example.org").status_code == 303
    account = client.get("/p/account").text
    assert "Signed in as Ada Page" in account and "ada@example.org" in account and "Yes" in account
    assert "<title>Your account · PeerLedger</title>" in account
    assert account.count('id="erase-heading"') == 1


@pytest.mark.parametrize(("fields", "status", "says"), [
    ({"password": "short"}, 422, "12 characters"),
    ({"display_name": "Bad\u0000Name"}, 422, "Display name: Expected a name without control"),
    ({"display_name": ""}, 422, "Display name: this field is required."),
    ({"email": "not-an-address"}, 422, "mail"),
], ids=["weak-password", "control-character", "no-name", "malformed-address"])
def test_a_refused_registration_says_why_beside_the_form(client, fields, status, says):
    answer = post_form(client, "/p/register", "/p/register",
                       **({"display_name": "Bea Page", "email": "bea@example.org", "password": PASSWORD} | fields))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    problem = re.search(r'<p class="problem" role="alert">(.*?)</p>', answer.text, re.S)
    assert problem and says in problem.group(1), answer.text[-1500:]
    assert "POST /" not in problem.group(1)  # no API routes in a sentence for people


def test_an_address_already_registered_is_a_409_with_the_reason(client):
    person(client, "Cy Page")
    taken = post_form(client, "/p/register", "/p/register", display_name="Cy Again", email="cy.page@example.org",
                      password=PASSWORD)
    assert taken.status_code == 409 and "An account with this email address already exists." in taken.text


def test_resend_answers_alike_for_any_address_and_mails_a_new_code(client):
    post_form(client, "/p/register", "/p/register", display_name="Di Page", email="di@example.org", password=PASSWORD)
    first = code_in_mail(client, "di@example.org")
    for address in ("di@example.org", "nobody@example.org"):
        sent = post_form(client, "/p/confirm/resend", "/p/confirm", email=address)
        assert sent.status_code == 303 and sent.headers["location"] == "/p/confirm?done=code-sent"
    assert len(mails_to(client, "di@example.org")) == 2 and not mails_to(client, "nobody@example.org")
    confirmed = post_form(client, "/p/confirm", "/p/confirm", email="di@example.org",
                          code=code_in_mail(client, "di@example.org"))
    assert confirmed.status_code == 303, (first, confirmed.text)


def test_a_forgotten_password_is_reset_with_the_mailed_code_and_sessions_end(client):
    who = person(client, "Ed Page")
    assert sign_in(client, who["email"]).status_code == 303
    session = client.cookies["pl_session"]
    asked = post_form(client, "/p/password-reset", "/p/password-reset", email=who["email"])
    assert asked.status_code == 303 and asked.headers["location"] == "/p/password-reset/confirm?done=reset-sent"
    wrong = post_form(client, "/p/password-reset/confirm", "/p/password-reset/confirm", email=who["email"],
                      code="000000", new_password=NEW_PASSWORD)
    assert wrong.status_code == 422 and "The reset code is wrong, spent or has expired" in wrong.text
    reset = post_form(client, "/p/password-reset/confirm", "/p/password-reset/confirm", email=who["email"],
                      code=reset_code(client, who["email"]), new_password=NEW_PASSWORD)
    assert reset.status_code == 303 and reset.headers["location"] == "/p/login?done=password-reset"
    client.cookies.set("pl_session", session)
    assert "Signed in as" not in client.get("/p/login").text  # the session before the reset has ended
    assert sign_in(client, who["email"], PASSWORD).status_code == 401
    assert sign_in(client, who["email"], NEW_PASSWORD).status_code == 303


def test_the_account_page_needs_a_session(client):
    answer = client.get("/p/account", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/p/login?next=/p/account"


def test_a_signed_in_person_changes_the_display_name(client):
    who = person(client, "Fay Page")
    sign_in(client, who["email"])
    changed = post_form(client, "/p/account/name", "/p/account", display_name="Fay Renamed")
    assert changed.status_code == 303 and changed.headers["location"] == "/p/account?done=name-changed"
    assert "Signed in as Fay Renamed" in client.get("/p/account").text
    refused = post_form(client, "/p/account/name", "/p/account", display_name="\u202eevil")
    assert refused.status_code == 422 and "Display name: Expected a name without control" in refused.text


def test_a_signed_in_person_changes_the_password_and_keeps_this_session(client):
    who = person(client, "Gus Page")
    sign_in(client, who["email"])
    wrong = post_form(client, "/p/account/password", "/p/account", current_password="not my password",
                      new_password=NEW_PASSWORD)
    assert wrong.status_code == 403 and "The current password is wrong." in wrong.text
    weak = post_form(client, "/p/account/password", "/p/account", current_password=PASSWORD, new_password="short")
    assert weak.status_code == 422 and "12 characters" in weak.text
    changed = post_form(client, "/p/account/password", "/p/account", current_password=PASSWORD,
                        new_password=NEW_PASSWORD)
    assert changed.status_code == 303 and changed.headers["location"] == "/p/account?done=password-changed"
    assert "Signed in as Gus Page" in client.get("/p/account").text
    assert client.get("/me", headers=who["headers"]).status_code == 401  # the API session from before has ended


@pytest.mark.parametrize("path", ["/p/register", "/p/confirm", "/p/confirm/resend", "/p/password-reset",
                                  "/p/password-reset/confirm", "/p/account/name", "/p/account/password"])
def test_every_account_form_without_its_csrf_token_is_refused(client, path):
    client.get("/p/login")  # the browser has its CSRF cookie, but the form lacks the token
    refused = client.post(path, data={"email": "a@example.org", "code": "123456", "display_name": "X",
                                      "password": PASSWORD}, follow_redirects=False)
    assert refused.status_code == 403 and "did not come from this site" in refused.text


def test_account_pages_have_the_strict_csp(client):
    for path in ("/p/register", "/p/confirm", "/p/password-reset", "/p/password-reset/confirm"):
        page = client.get(path)
        assert page.status_code == 200
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert " style=" not in page.text and "<style" not in page.text


@pytest.fixture
def strict_client(tmp_path: Path) -> Iterator[TestClient]:
    yield from serving(settings_for("sqlite", tmp_path, None))  # the limits as configured, unscaled


def test_new_codes_are_rate_limited_as_in_the_api(strict_client):
    """3 new codes per 15 minutes per account: the fourth is a 429 that says when to try again."""
    for _ in range(3):
        assert post_form(strict_client, "/p/confirm/resend", "/p/confirm", email="hal@example.org").status_code == 303
    limited = post_form(strict_client, "/p/confirm/resend", "/p/confirm", email="hal@example.org")
    assert limited.status_code == 429
    assert re.search(r"try again in \d+ seconds\.", limited.text), limited.text[-800:]
