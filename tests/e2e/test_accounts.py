"""Accounts over HTTP against PostgreSQL and a real SMTP server on loopback: the whole life of an account."""

from __future__ import annotations

import email
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import jwt
import psycopg
import pytest
from aiosmtpd.controller import Controller
from litestar.testing import TestClient

from api.auth import AUDIENCE, ISSUER
from tests.conftest import pg_dsn, settings_for
from tests.e2e.support import assert_problem, started

PASSWORD = "correct horse battery staple"


class Inbox:
    """An SMTP server on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.received = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001 - aiosmtpd's hook
        with self.received:
            self.messages.append(email.message_from_bytes(envelope.content))
            self.received.notify_all()
        return "250 OK"

    def code_for(self, address: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        with self.received:
            while True:
                for message in reversed(self.messages):
                    if message["To"] == address:
                        return re.search(r"\b(\d{6})\b", message.get_payload()).group(1)
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no mail to {address}"
                self.received.wait(remaining)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


@pytest.fixture
def client(tmp_path, pg_schema, inbox) -> Iterator[TestClient]:
    settings = settings_for(
        "postgres", tmp_path, pg_schema, PEERLEDGER_DEMO_DATA="yes",
        PEERLEDGER_SMTP_HOST="127.0.0.1", PEERLEDGER_SMTP_PORT=str(inbox.port), PEERLEDGER_SMTP_TLS="none",
        PEERLEDGER_CORS_ORIGINS="https://app.example.org",
    )
    with started(settings) as c:
        c.schema = pg_schema
        yield c


def register(client, address="ada@example.org", password=PASSWORD, name="Ada Lovelace"):
    return client.post("/accounts", json={"email": address, "password": password, "display_name": name})


def login(client, address="ada@example.org", password=PASSWORD):
    return client.post("/auth/login", json={"email": address, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_register_confirm_login_refresh_logout(client, inbox):
    created = register(client)
    assert created.status_code == 201
    account_id = created.json()["id"]

    code = inbox.code_for("ada@example.org")
    confirmed = client.post("/accounts/confirm", json={"email": "Ada@Example.org", "code": code})
    assert confirmed.status_code == 200
    assert confirmed.json()["email_confirmed"] is True

    tokens = login(client).json()
    me = client.get("/me", headers=bearer(tokens["access_token"])).json()
    assert me == {
        "id": account_id, "email": "ada@example.org", "display_name": "Ada Lovelace",
        "email_confirmed": True, "roles": ["member"], "claimed_researchers": [],
    }

    refreshed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert client.get("/me", headers=bearer(refreshed["access_token"])).status_code == 200

    assert client.post("/auth/logout", json={"refresh_token": refreshed["refresh_token"]}).status_code == 204
    assert_problem(client.post("/auth/refresh", json={"refresh_token": refreshed["refresh_token"]}), 401, "log in again")


def test_a_refresh_token_used_twice_revokes_the_session(client):
    register(client)
    first = login(client).json()["refresh_token"]
    second = client.post("/auth/refresh", json={"refresh_token": first}).json()["refresh_token"]
    assert_problem(client.post("/auth/refresh", json={"refresh_token": first}), 401, "not valid")
    # The thief's replay also ends the legitimate holder's session.
    assert_problem(client.post("/auth/refresh", json={"refresh_token": second}), 401, "not valid")


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"email": "bob@example.org", "password": "short", "display_name": "Bob"}, 422, "at least 12 characters"),
        ({"email": "bob@example.org", "password": "BOB@example.org", "display_name": "Bob"}, 422, "must not be the email"),
        ({"email": "not-an-address", "password": PASSWORD, "display_name": "Bob"}, 422, "is not an email address"),
        ({"email": "bob@example.org", "password": PASSWORD, "display_name": "Bob", "roles": ["admin"]}, 400,
         "Object contains unknown field `roles`"),
        ({"email": "bob@example.org", "password": 123456789012, "display_name": "Bob"}, 400, "Expected `str`"),
        ({"email": "bob@example.org", "password": PASSWORD, "display_name": "B" * 201}, 400, "length <= 200"),
        ({"email": "bob@example.org", "password": PASSWORD}, 400, "missing required field `display_name`"),
    ],
)
def test_bad_registrations_are_refused_with_a_reason_and_write_nothing(client, body, status, detail):
    before = client.app.state.services.accounts.recorder.max_notification_id()
    assert_problem(client.post("/accounts", json=body), status, detail)
    assert client.app.state.services.accounts.recorder.max_notification_id() == before


def test_a_second_account_with_the_same_address_in_any_case_is_a_conflict(client):
    assert register(client).status_code == 201
    assert_problem(register(client, "ADA@EXAMPLE.ORG", name="Someone Else"), 409, "already exists")


def test_twenty_concurrent_registrations_of_one_address_make_exactly_one_account(client):
    def attempt(n: int) -> int:
        return register(client, "race@example.org", name=f"Racer {n}").status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = sorted(pool.map(attempt, range(20)))
    assert statuses == [201] + [409] * 19
    with psycopg.connect(pg_dsn()) as conn:
        created = conn.execute(
            f'SELECT COUNT(*) FROM "{client.schema}".accounts_events WHERE topic LIKE %s',
            ("%Account.Registered",),
        ).fetchone()[0]
    assert created == 1


def test_a_wrong_code_does_not_confirm_and_codes_are_rate_limited(client, inbox):
    register(client)
    right = inbox.code_for("ada@example.org")
    wrong = "000000" if right != "000000" else "111111"
    assert_problem(client.post("/accounts/confirm", json={"email": "ada@example.org", "code": wrong}), 422, "wrong or has expired")
    assert_problem(client.post("/accounts/confirm", json={"email": "ada@example.org", "code": "12ab56"}), 400, "code: Expected a six-digit code")
    for _ in range(4):  # five wrong attempts in all: the limit per account
        client.post("/accounts/confirm", json={"email": "ada@example.org", "code": wrong})
    limited = client.post("/accounts/confirm", json={"email": "ada@example.org", "code": right})
    assert_problem(limited, 429, "too many confirmation attempts")
    assert int(limited.headers["retry-after"]) > 0


def test_brute_force_on_login_is_stopped_with_429(client):
    register(client)
    statuses = [login(client, password=f"wrong password {n}").status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]
    refused = login(client)  # even the right password, until the window passes
    assert_problem(refused, 429, "too many failed login attempts")
    assert 0 < int(refused.headers["retry-after"]) <= 300


def test_successful_logins_do_not_use_up_the_accounts_limit(client):
    register(client)
    assert [login(client).status_code for _ in range(8)] == [200] * 8


def test_wrong_credentials_say_nothing_about_which_part_was_wrong(client):
    register(client)
    unknown = assert_problem(login(client, "nobody@example.org"), 401, "the email address or the password is wrong")
    wrong = assert_problem(login(client, password="not the password at all"), 401, "the email address or the password is wrong")
    assert unknown == wrong


def forged(secret: str, **claims) -> str:
    now = datetime.now(timezone.utc)
    payload = {"sub": "00000000-0000-4000-8000-000000000000", "iss": ISSUER, "aud": AUDIENCE,
               "iat": now, "exp": now + timedelta(minutes=5), "extras": {"roles": ["admin"]}} | claims
    algorithm = payload.pop("alg", "HS256")
    return jwt.encode(payload, secret if algorithm != "none" else None, algorithm=algorithm)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda s: forged("another-secret-entirely-0123456789abcdef"), id="bad signature"),
        pytest.param(lambda s: forged(s, alg="none"), id="alg none"),
        pytest.param(lambda s: forged(s, exp=datetime.now(timezone.utc) - timedelta(seconds=5)), id="expired"),
        pytest.param(lambda s: forged(s, aud="someone-else"), id="wrong audience"),
        pytest.param(lambda s: forged(s, iss="someone-else"), id="wrong issuer"),
        pytest.param(lambda s: "garbage", id="not a JWT"),
    ],
)
def test_bad_tokens_are_401(client, make_token):
    token = make_token(client.app.state.services.jwt_secret)
    response = client.get("/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.post("/imports", content=b"[]", headers=bearer(token) | {"content-type": "application/json"}).status_code == 401


def test_a_token_that_worked_is_refused_once_it_expires(client, monkeypatch):
    # Verified tokens are remembered per process; the memory must not outlive the token.
    register(client)
    token = login(client).json()["access_token"]
    assert client.get("/me", headers=bearer(token)).status_code == 200
    later = time.time() + 16 * 60  # access tokens live 15 minutes
    monkeypatch.setattr("api.auth.time.time", lambda: later)
    assert_problem(client.get("/me", headers=bearer(token)), 401, "a valid access token is required")


def test_routes_are_closed_without_a_token(client):
    assert_problem(client.get("/me"), 401, "a valid access token is required")
    assert_problem(client.delete("/me"), 401, "a valid access token is required")


def test_erasure_leaves_history_but_no_personal_data_anywhere(client, tmp_path):
    register(client, "grace@example.org", name="Grace Hopper")
    tokens = login(client, "grace@example.org").json()
    assert client.app.state.services.wait_for_projections()
    with psycopg.connect(pg_dsn()) as conn:  # the read model knew the name before
        names = conn.execute(f'SELECT display_name FROM "{client.schema}".profiles_owners').fetchall()
    assert ("Grace Hopper",) in names
    assert client.delete("/me", headers=bearer(tokens["access_token"])).status_code == 204

    assert_problem(client.get("/me", headers=bearer(tokens["access_token"])), 401, "access token is required")
    assert_problem(login(client, "grace@example.org"), 401, "wrong")
    assert_problem(client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401, "not valid")

    services = client.app.state.services
    assert services.wait_for_projections()
    with psycopg.connect(pg_dsn()) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (client.schema,))]
        for table in tables:
            dump = conn.execute(f'SELECT CAST(t AS text) FROM "{client.schema}"."{table}" t').fetchall()
            text = " ".join(r[0] for r in dump).lower()
            for secret in ("grace@example.org", "grace hopper", "grace"):
                assert secret not in text, f"{secret!r} found in {table}"
        events = conn.execute(f'SELECT COUNT(*) FROM "{client.schema}".accounts_events').fetchone()[0]
    assert events > 0  # history stays

    # Reading the account's events again, as any replay would, recovers nothing: the key is gone.
    accounts = services.accounts
    for n in accounts.recorder.select_notifications(start=0, limit=1000, inclusive_of_start=False):
        event = accounts.mapper.to_domain_event(n)
        for field in ("sealed_email", "sealed_display_name", "sealed_password_hash"):
            if hasattr(event, field):
                assert services.vault.open(event.originator_id, getattr(event, field)) is None

    # The address is free again for a new account.
    assert register(client, "grace@example.org", name="Grace Again").status_code == 201


def test_after_erasure_or_logout_the_access_token_is_dead(client):
    register(client)
    first, second = login(client).json(), login(client).json()
    assert client.post("/auth/logout", json={"refresh_token": first["refresh_token"]}).status_code == 204
    assert_problem(client.get("/me", headers=bearer(first["access_token"])), 401, "access token is required")
    assert client.get("/me", headers=bearer(second["access_token"])).status_code == 200  # another session
    assert client.delete("/me", headers=bearer(second["access_token"])).status_code == 204
    assert_problem(client.delete("/me", headers=bearer(second["access_token"])), 401, "access token is required")


def test_concurrent_refreshes_of_one_token_give_one_success_and_end_the_session(client):
    register(client)
    refresh_token = login(client).json()["refresh_token"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(
            lambda _: client.post("/auth/refresh", json={"refresh_token": refresh_token}), range(8)))
    codes = sorted(r.status_code for r in statuses)
    assert codes.count(200) <= 1 and set(codes) <= {200, 401}, codes
    for r in statuses:
        if r.status_code == 200:  # the winner's new token dies with the revoked session
            assert_problem(client.post("/auth/refresh", json={"refresh_token": r.json()["refresh_token"]}), 401, "not valid")


def test_concurrent_erasures_give_one_success_and_no_error(client):
    register(client)
    token = login(client).json()["access_token"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(lambda _: client.delete("/me", headers=bearer(token)).status_code, range(8)))
    assert codes[0] == 204 and set(codes[1:]) <= {401, 404}, codes


@pytest.mark.parametrize("address", ["a@evil.com,ada@uni.edu", "<a@evil.com>ada@uni.edu", "ada@uni.edu\r\nBcc: x@y.z"])
def test_addresses_that_could_reach_someone_else_are_refused(client, inbox, address):
    assert_problem(register(client, address), 422, "is not an email address")
    assert inbox.messages == []


def test_bodies_that_are_not_json_are_415(client):
    response = client.post("/accounts", content=b"email=a", headers={"content-type": "text/plain"})
    assert_problem(response, 415, "application/json")


def test_cors_allows_only_the_configured_origins(client):
    allowed = client.options("/researchers/A5999000001", headers={
        "origin": "https://app.example.org", "access-control-request-method": "GET"})
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example.org"
    refused = client.options("/researchers/A5999000001", headers={
        "origin": "https://evil.example.com", "access-control-request-method": "GET"})
    assert "access-control-allow-origin" not in refused.headers


def test_oversized_bodies_are_413(client):
    assert_problem(client.post("/accounts", content=b'{"email": "' + b"a" * 2_000_000 + b'"}',
                        headers={"content-type": "application/json"}), 413, "larger than this endpoint accepts")


def test_the_embedded_default_writes_mail_to_the_data_folder(tmp_path):
    settings = settings_for("sqlite", tmp_path, None)
    with started(settings) as c:
        assert register(c).status_code == 201
        [message] = list((tmp_path / "var" / "mail").glob("*.eml"))
        code = re.search(r"\b(\d{6})\b", message.read_text()).group(1)
        assert c.post("/accounts/confirm", json={"email": "ada@example.org", "code": code}).status_code == 200


def test_with_mail_down_registration_still_succeeds_and_resending_answers_as_always(tmp_path, pg_schema):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # nothing listens here once the socket closes
    settings = settings_for("postgres", tmp_path, pg_schema, PEERLEDGER_SMTP_HOST="127.0.0.1",
                            PEERLEDGER_SMTP_PORT=str(dead_port), PEERLEDGER_SMTP_TLS="none")
    with started(settings) as c:
        assert register(c).status_code == 201
        # The answer comes before the mail is tried: a mail server that is down, like an address
        # without an account, cannot be told apart from a code on its way.
        response = c.post("/accounts/confirm/resend", json={"email": "ada@example.org"})
        unknown = c.post("/accounts/confirm/resend", json={"email": "nobody@example.org"})
        assert response.status_code == unknown.status_code == 202
        assert response.json() == unknown.json()
