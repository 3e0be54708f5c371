"""A person manages their account over HTTP: a new password (other sessions end), a forgotten
password reset with a mailed single-use code, a new display name (shown on their records)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from domain.accounts.application import RESET_CODE_GUESSES
from tests.conftest import settings_for
from tests.e2e.support import PASSWORD, assert_problem, mails_to, person, reset_code, serving, settle
from tests.factories import author, work

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    # The flows are the Accounts application's, whose store both backends share the tests of.
    yield from serving(settings_for("sqlite", tmp_path, None), [work(1, [author(1, "Ada One")])])


def login(client: TestClient, address: str, password: str):  # noqa: ANN201
    return client.post("/auth/login", json={"email": address, "password": password})


# -- changing the password ------------------------------------------------------------------------

def test_a_new_password_keeps_this_session_and_ends_the_others(client):
    ada = person(client, "Ada One")
    other = login(client, ada["email"], PASSWORD).json()

    changed = client.post("/me/password", headers=ada["headers"],
                          json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert changed.status_code == 204, changed.text
    assert client.get("/me", headers=ada["headers"]).status_code == 200  # the session that changed it
    assert_problem(client.get("/me", headers={"authorization": f"Bearer {other['access_token']}"}), 401, "")
    assert_problem(client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401,
                   "refresh token is not valid")
    assert_problem(login(client, ada["email"], PASSWORD), 401, "password is wrong")
    assert login(client, ada["email"], NEW_PASSWORD).status_code == 200


def test_a_wrong_current_password_is_a_403_and_changes_nothing(client):
    ada = person(client, "Ada One")

    refused = client.post("/me/password", headers=ada["headers"],
                          json={"current_password": "not the password at all", "new_password": NEW_PASSWORD})

    assert_problem(refused, 403, "current password is wrong")
    assert login(client, ada["email"], PASSWORD).status_code == 200


@pytest.mark.parametrize(("body", "status", "part"), [
    ({"current_password": PASSWORD, "new_password": "short"}, 422, "at least 12 characters"),
    ({"current_password": PASSWORD, "new_password": "ada.one@example.org"}, 422, "must not be the email address"),
    ({"current_password": PASSWORD}, 400, "new_password"),
    ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "extra": 1}, 400, "extra"),
])
def test_a_bad_new_password_request_is_refused_and_changes_nothing(client, body, status, part):
    ada = person(client, "Ada One")

    assert_problem(client.post("/me/password", headers=ada["headers"], json=body), status, part)
    assert login(client, ada["email"], PASSWORD).status_code == 200


def test_changing_the_password_needs_a_session(client):
    assert_problem(client.post("/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
                   401, "")


# -- resetting a forgotten password -------------------------------------------------------------

def test_a_mailed_code_sets_a_new_password_once_and_ends_every_session(client):
    ada = person(client, "Ada One")

    asked = client.post("/auth/password-reset", json={"email": ada["email"]})
    assert asked.status_code == 202, asked.text
    code = reset_code(client, ada["email"])
    reset = client.post("/auth/password-reset/confirm",
                        json={"email": ada["email"], "code": code, "new_password": NEW_PASSWORD})

    assert reset.status_code == 204, reset.text
    assert_problem(client.get("/me", headers=ada["headers"]), 401, "")
    assert login(client, ada["email"], NEW_PASSWORD).status_code == 200
    again = client.post("/auth/password-reset/confirm",
                        json={"email": ada["email"], "code": code, "new_password": "yet another passphrase"})
    assert_problem(again, 422, "reset code is wrong, spent or has expired")


def test_asking_for_a_reset_reads_the_same_for_an_unknown_address_and_mails_nothing(client):
    ada = person(client, "Ada One")

    known = client.post("/auth/password-reset", json={"email": ada["email"]})
    unknown = client.post("/auth/password-reset", json={"email": "nobody@example.org"})

    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    reset_code(client, ada["email"])
    assert mails_to(client, "nobody@example.org") == []


def test_an_unconfirmed_account_gets_no_reset_code(client):
    bo = person(client, "Bo Unconfirmed", confirm=False)

    assert client.post("/auth/password-reset", json={"email": bo["email"]}).status_code == 202

    time.sleep(0.3)  # the mail would go out after the answer
    assert all("reset" not in m["Subject"] for m in mails_to(client, bo["email"]))


def test_a_wrong_code_reads_the_same_whatever_the_address_and_the_code_dies_after_the_guess_limit(client):
    ada = person(client, "Ada One")
    client.post("/auth/password-reset", json={"email": ada["email"]})
    code = reset_code(client, ada["email"])
    wrong = "000000" if code != "000000" else "111111"

    for address in ("nobody@example.org", ada["email"]):
        refused = client.post("/auth/password-reset/confirm",
                              json={"email": address, "code": wrong, "new_password": NEW_PASSWORD})
        assert_problem(refused, 422, "reset code is wrong, spent or has expired")
    for _ in range(RESET_CODE_GUESSES - 1):
        client.post("/auth/password-reset/confirm", json={"email": ada["email"], "code": wrong,
                                                          "new_password": NEW_PASSWORD})

    late = client.post("/auth/password-reset/confirm",
                       json={"email": ada["email"], "code": code, "new_password": NEW_PASSWORD})
    assert_problem(late, 422, "reset code is wrong, spent or has expired")
    assert login(client, ada["email"], PASSWORD).status_code == 200


def test_a_reset_with_a_weak_password_is_a_422_and_keeps_the_code(client):
    ada = person(client, "Ada One")
    client.post("/auth/password-reset", json={"email": ada["email"]})
    code = reset_code(client, ada["email"])

    weak = client.post("/auth/password-reset/confirm", json={"email": ada["email"], "code": code,
                                                             "new_password": "short"})
    assert_problem(weak, 422, "at least 12 characters")
    ok = client.post("/auth/password-reset/confirm", json={"email": ada["email"], "code": code,
                                                           "new_password": NEW_PASSWORD})
    assert ok.status_code == 204, ok.text


def test_reset_codes_mailed_to_one_address_are_limited(client):
    ada = person(client, "Ada One")

    answers = [client.post("/auth/password-reset", json={"email": ada["email"]}).status_code for _ in range(4)]

    assert answers[:3] == [202, 202, 202]
    assert answers[3] == 429


@pytest.mark.parametrize(("path", "body", "status", "part"), [
    ("/auth/password-reset", {}, 400, "email"),
    ("/auth/password-reset", {"email": "a@b.org", "code": "1"}, 400, "code"),
    ("/auth/password-reset", {"email": "not an address"}, 422, "is not an email address"),
    ("/auth/password-reset/confirm", {"email": "a@b.org", "code": "12", "new_password": NEW_PASSWORD}, 400, "code"),
])
def test_a_malformed_reset_request_is_refused(client, path, body, status, part):
    assert_problem(client.post(path, json=body), status, part)


# -- display name -------------------------------------------------------------------------------

def test_a_new_display_name_is_shown_on_the_account_and_on_the_records_it_owns(client):
    ada = person(client, "Ada One", owns="A1")

    changed = client.patch("/me", headers=ada["headers"], json={"display_name": "Ada Lovelace-One"})

    assert changed.status_code == 200, changed.text
    assert changed.json()["display_name"] == "Ada Lovelace-One"
    settle(client)
    assert client.get("/researchers/A1").json()["owner"]["display_name"] == "Ada Lovelace-One"


@pytest.mark.parametrize(("name", "part"), [("", "display_name"), ("\u202eevil", "display_name"),
                                            ("x" * 201, "display_name")])
def test_a_bad_display_name_is_a_400_and_changes_nothing(client, name, part):
    ada = person(client, "Ada One")

    assert_problem(client.patch("/me", headers=ada["headers"], json={"display_name": name}), 400, part)
    assert client.get("/me", headers=ada["headers"]).json()["display_name"] == "Ada One"


# -- lists and public cards ----------------------------------------------------------------------

def test_my_claims_list_the_latest_change_first_and_page_through_each_once(client):
    from tests.factories import author as a, work as w  # more records to claim
    from operations.importing import import_body
    import json

    services = client.app.state.services
    import_body(services.catalogue, json.dumps([w(n, [a(n, f"Person {n}")]) for n in range(2, 6)]).encode())
    settle(client)
    ada = person(client, "Ada One")
    statement = [{"kind": "statement", "text": "These are my papers.", "links": ["https://example.org/cv"]}]
    opened = [client.post(f"/researchers/A{n}/claims", headers=ada["headers"], json={"evidence": statement}).json()["id"]
              for n in range(1, 6)]
    client.post(f"/claims/{opened[0]}/withdraw", headers=ada["headers"])  # the latest change now
    settle(client)

    seen, cursor = [], None
    while True:
        page = client.get("/me/claims", headers=ada["headers"], params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break

    assert [c["id"] for c in seen][0] == opened[0]
    assert sorted(c["id"] for c in seen) == sorted(opened)
    assert seen[0]["status"] == "withdrawn"
    other = person(client, "Bo Other")
    assert client.get("/me/claims", headers=other["headers"]).json()["items"] == []
    assert_problem(client.get("/me/claims"), 401, "")


def test_an_accounts_public_card_shows_its_name_and_records_and_nothing_private(client):
    ada = person(client, "Ada One", owns="A1")

    card = client.get(f"/accounts/{ada['id']}")

    assert card.status_code == 200, card.text
    body = card.json()
    assert body["display_name"] == "Ada One"
    assert [r["verification_level"] for r in body["owned_records"]] == ["L2"]
    assert "email" not in card.text and ada["email"] not in card.text


def test_an_unknown_or_erased_account_has_no_card(client):
    ada = person(client, "Ada One")
    assert client.delete("/me", headers=ada["headers"]).status_code in (200, 204)
    settle(client)

    assert_problem(client.get(f"/accounts/{ada['id']}"), 404, "no such account")
    assert_problem(client.get("/accounts/00000000-0000-0000-0000-000000000000"), 404, "no such account")
    assert client.get("/accounts/not-a-uuid").status_code == 404  # no such route: ids are UUIDs
