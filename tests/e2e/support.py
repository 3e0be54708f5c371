"""What e2e tests share: a served app, people with tokens, records they own, problems and mail."""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import app_shape, create_app, restart_on
from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from domain.errors import ClaimConflictError
from operations.importing import import_body
from bootstrap.settings import Settings
from tests.conftest import settings_for

PASSWORD = "a long enough password"
MODERATOR = uuid4()  # decides the claims that `own` approves (no account of its own)


# Apps no test is using, by app_shape: building one (Litestar reading some 300 handlers' signatures)
# costs more than most tests, so a test starts a free one again on settings and stores of its own.
_FREE_APPS: dict[tuple[Any, ...], list[Litestar]] = {}


@contextmanager
def started(settings: Settings) -> Iterator[TestClient]:
    """A client of the API started on `settings`, as `TestClient(create_app(settings))` would be, on
    the route table of an earlier app of the same shape when one is free (api/app.py: restart_on)."""
    free = _FREE_APPS.setdefault(app_shape(settings), [])
    if free:
        app = free.pop()
        restart_on(app, settings)
    else:
        app = create_app(settings)
    try:
        with TestClient(app) as client:
            yield client
    finally:
        free.append(app)


def settings_on(backend: str, request: pytest.FixtureRequest, tmp_path: Path, **extra: str) -> Settings:
    """settings_for on `backend` ("sqlite" or "postgres"), on PostgreSQL in a schema of the test's own
    (the pg_schema fixture)."""
    schema = request.getfixturevalue("pg_schema") if backend == "postgres" else None
    return settings_for(backend, tmp_path, schema, **extra)


def serving(settings: Settings, works: list[dict[str, Any]] = ()) -> Iterator[TestClient]:
    """The app with its own services, `works` imported and every projection caught up."""
    with started(settings) as client:
        services = client.app.state.services
        if works:
            import_body(services.catalogue, json.dumps(list(works)).encode())
        assert services.wait_for_projections()
        yield client


@contextmanager
def another_app(folder: Path, works: list[dict[str, Any]]) -> Iterator[TestClient]:
    """A second app beside the test's, on the embedded store in `folder` with `works` imported: what
    another history of the same data would show."""
    generator = serving(settings_for("sqlite", folder, None), works)
    try:
        yield next(generator)
    finally:
        generator.close()


def settle(client: TestClient) -> None:
    """Every projection caught up with the logs, and the API's caches with the projections."""
    assert client.app.state.services.wait_for_projections()
    client.app.state.profile_cache.refresh()
    client.app.state.follower_counts.refresh()


def mail_folder(client: TestClient) -> Path:
    return client.app.state.services.settings.data_dir / "mail"


def mails_to(client: TestClient, address: str) -> list[email.message.Message]:
    found = []
    for path in sorted(mail_folder(client).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == address:
            found.append(message)
    return found


def code_in_mail(client: TestClient, address: str) -> str:
    """The code in the newest mail to `address` (the embedded mail folder)."""
    messages = mails_to(client, address)
    assert messages, f"no mail to {address}"
    return re.search(r"code is (\d{6})", messages[-1].get_payload()).group(1)


def reset_code(client: TestClient, address: str) -> str:
    """The code in the newest password reset mail to `address`, which is mailed after the answer."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for message in reversed(mails_to(client, address)):
            if "reset" in message["Subject"]:
                return re.search(r"reset code is (\d{6})", message.get_payload()).group(1)
        time.sleep(0.02)
    raise AssertionError(f"no reset mail to {address}")


def person(client: TestClient, name: str, *, confirm: bool = True, role: str | None = None,
           owns: str | None = None, level: str = "L2") -> dict[str, Any]:
    """An account registered over HTTP (its address confirmed unless `confirm=False`), logged in,
    with `role` granted and record `owns` approved at `level`."""
    address = f"{name.lower().replace(' ', '.')}@example.org"
    registered = client.post("/accounts", json={"email": address, "password": PASSWORD, "display_name": name})
    assert registered.status_code == 201, registered.text
    if confirm:
        confirmed = client.post("/accounts/confirm", json={"email": address, "code": code_in_mail(client, address)})
        assert confirmed.status_code == 200, confirmed.text
    if role:
        client.app.state.services.accounts.grant_role(address, role, "test")
    token = client.post("/auth/login", json={"email": address, "password": PASSWORD}).json()["access_token"]
    who = {"id": UUID(registered.json()["id"]), "email": address, "headers": {"authorization": f"Bearer {token}"}}
    if owns:
        own(client, who["id"], owns, level)
    return who


def person_headers(client: TestClient, name: str, *, confirm: bool = True, role: str | None = None) -> dict[str, str]:
    """Only the bearer header of a new `person`, for tests that need nothing else of them."""
    return person(client, name, confirm=confirm, role=role)["headers"]


def facts(client: TestClient, openalex_id: str) -> RecordFacts:
    rid = researcher_id_for(openalex_id)
    found = client.app.state.services.profiles_view.record_facts(str(rid))
    return RecordFacts(rid, found["orcid"], found["base_level"], found["institution_ids"])


def own(client: TestClient, account_id: UUID, openalex_id: str, level: str = "L2") -> None:
    """`account_id` claims the record with a statement and a moderator approves it at `level`."""
    services = client.app.state.services
    record = facts(client, openalex_id)
    claim = services.claims.open_claim(account_id, record, [EvidenceIn("statement", text="It is me.",
                                                                       links=("https://example.org/me",))])
    services.claims.approve(claim, MODERATOR, level, "checked", record)
    settle(client)


def assert_problem(response: Any, status: int, part: str) -> dict[str, Any]:
    """An RFC 9457 problem with this status whose detail says `part`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert part in body["detail"], body
    return body


def invite(client: TestClient, sender: dict[str, Any], record: str, message: str = "Shall we work together?",
           **extra: Any) -> Any:
    """`sender` invites the owner of `record` (POST .../invitations)."""
    return client.post(f"/researchers/{record}/invitations", json={"message": message, **extra},
                       headers=sender["headers"])


ORCID_PROOF = {"kind": "orcid"}  # evidence: the ORCID iD its giver proved when they claimed their record


def link(client: TestClient, who: dict[str, Any], record: str = "A6", evidence: Any = (ORCID_PROOF,),
         person_record: str = "A1", body: dict[str, Any] | None = None) -> Any:
    """`who` asks to link `record` into the person of `person_record` (POST .../links)."""
    return client.post(f"/researchers/{person_record}/links", headers=who["headers"],
                       json={"record": record, "evidence": list(evidence)} if body is None else body)


def reader_page(client: TestClient, record: str) -> dict[str, Any]:
    """What a reader sees of a record: the profile, its works, graph and trust (each a 200)."""
    got = {name: client.get(f"/researchers/{record}{tail}") for name, tail in
           (("profile", ""), ("works", "/works?limit=100"), ("graph", "/graph"), ("trust", "/trust"))}
    for name, answer in got.items():
        assert answer.status_code == 200, (name, answer.text)
    return {name: answer.json() for name, answer in got.items()}


def profile_as_of(client: TestClient, record: str, at: str) -> dict[str, Any]:
    """The record's profile as it was at `at` (?as_of=), a 200."""
    answer = client.get(f"/researchers/{record}", params={"as_of": at})
    assert answer.status_code == 200, answer.text
    return answer.json()


def rid(openalex_id: str) -> str:
    """A record's internal id (as its profile's `id` and `records` give it)."""
    return str(researcher_id_for(openalex_id))


def events_stored(client: TestClient) -> int:
    """The claims log's last position: unchanged across a refusal, which writes nothing."""
    return client.app.state.services.claims.recorder.max_notification_id() or 0


def owner_by_orcid(client: TestClient, name: str = "Ada One", record: str = "A1") -> dict[str, Any]:
    """An account that claimed `record` by proving its ORCID iD (L2 at once)."""
    who = person(client, name)
    services = client.app.state.services
    found = facts(client, record)
    claim = services.claims.open_claim(who["id"], found, [EvidenceIn("orcid")])
    assert services.claims.prove_orcid(claim, who["id"], found.orcid, found) == "approved"
    settle(client)
    return who


def shown(view: dict[str, Any]) -> dict[str, Any]:
    """What the works decide of a page (reader_page): not who owns the record, nor which records
    it is made of."""
    p = view["profile"]
    return {
        "profile": {k: p[k] for k in ("display_name", "orcid", "affiliation", "works_count", "topics_count", "topics",
                                      "close_collaborators_count", "headline")},
        "works": [w["openalex_id"] for w in view["works"]["items"]],
        "graph": view["graph"],
        "trust": (view["trust"]["score"], view["trust"]["counts"]),
    }


def moment() -> str:
    """Now, as a client would write it; the next event is stamped strictly later."""
    time.sleep(0.01)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    return now


def at_once(attempts: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Each attempt in a thread of its own, all let go together: what each returned, or the code
    of the conflict it was refused with."""
    start, outcomes = threading.Barrier(len(attempts)), {}

    def attempt(key: str) -> None:
        start.wait()
        try:
            outcomes[key] = attempts[key]()
        except ClaimConflictError as e:
            outcomes[key] = e.code

    threads = [threading.Thread(target=attempt, args=(key,)) for key in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def clean_environ(**env: str) -> dict[str, str]:
    """This process's environment without its PeerLedger, store and PostgreSQL settings, then `env`:
    a command started with it reads only what the test gives it."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PEERLEDGER_", "PERSISTENCE_", "POSTGRES_"))}
    return inherited | env


PEERLEDGER = (sys.executable, "-m", "peerledger")


def peerledger(env: dict[str, str], *args: str, background: bool = False,
               timeout: float = 300) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    """`peerledger ARGS` as a subprocess on `env` alone (clean_environ), its output captured: run to
    its end, or started in the `background` (the caller ends it)."""
    command = [*PEERLEDGER, *args]
    if background:
        return subprocess.Popen(command, env=clean_environ(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(command, env=clean_environ(**env), capture_output=True, text=True, timeout=timeout,
                          check=False)
