"""What the security probe found, each as an attacker tried it, over HTTP against PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from uuid import UUID, uuid4

import httpx
import pytest
from eventsourcing.persistence import StoredEvent
from litestar.testing import TestClient

from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn
from domain.claims.model import record_id_for
from domain.follows.model import Follow
from tests.conftest import CHEAP_HASHING, settings_for
from tests.e2e.support import (
    PEERLEDGER,
    assert_problem,
    clean_environ,
    facts,
    code_in_mail,
    mails_to,
    person,
    serving,
    settle,
)
from tests.factories import author, institution, work
from tests.schema_fuzz import free_port

# A1 and A2 wrote W1 at I77 (whose domain is uni.example); A3 is at I77 too; A4 stands alone.
WORKS = [
    work(1, [author(1, "Ada One"), author(2, "Ben Two")], institutions=[[institution(77)], [institution(77)]]),
    work(2, [author(3, "Cy Three")], institutions=[[institution(77)]]),
    work(4, [author(4, "Di Four")]),
]


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    for c in serving(settings_for("postgres", tmp_path, pg_schema), WORKS):
        c.app.state.services.catalogue.set_institution_domains("I77", ["uni.example"])
        yield c


def claim(client, who, record, evidence):
    return client.post(f"/researchers/{record}/claims", headers=who["headers"], json={"evidence": evidence})


STATEMENT = [{"kind": "statement", "text": "These are my papers.", "links": ["https://example.org/cv"]}]


# -- 1. Confirmation answers nothing about an account without its code ------------------------------

def test_confirming_with_a_wrong_code_reads_the_same_whatever_the_address(client):
    moderator = person(client, "Mo Derator", role="moderator")
    person(client, "Un Confirmed", confirm=False)
    answers = [client.post("/accounts/confirm", json={"email": address, "code": "000000"})
               for address in (moderator["email"], "un.confirmed@example.org", "nobody@example.org")]
    for answer in answers:
        assert_problem(answer, 422, "wrong or has expired")
    assert len({a.text for a in answers}) == 1  # nothing tells a confirmed address from the others
    # The right code (still within its time) answers with the account, as the first time did.
    right = client.post("/accounts/confirm", json={"email": moderator["email"],
                                                   "code": code_in_mail(client, moderator["email"])})
    assert right.status_code == 200 and right.json()["roles"] == ["member", "moderator"]


# -- 2. Free text: controls refused at the door, stored ones written safely --------------------------

def test_nul_and_control_characters_in_free_text_are_a_400_naming_the_field(client):
    owner = person(client, "Ada One", owns="A1")
    moderator = person(client, "Mo Derator", role="moderator")
    rival = person(client, "Ri Val")
    dispute = claim(client, rival, "A3", STATEMENT).json()["id"]
    refused = {
        "reason": client.post("/researchers/A1/owner/release", json={"reason": "bye\u0000now"},
                              headers=owner["headers"]),
        "question": client.post(f"/claims/{dispute}/request-info", json={"question": "why\u0007?"},
                                headers=moderator["headers"]),
        "evidence[0].text": claim(client, owner, "A4", [{"kind": "statement", "text": "me\u009b"}]),
        "evidence[0].links[0]": claim(client, owner, "A4", [{"kind": "statement", "text": "me",
                                                          "links": ["https://x.example/\u0000"]}]),
    }
    for field, response in refused.items():
        body = assert_problem(response, 400, f"{field}: Expected text without control characters")
        assert body["errors"][0]["key"] == field
    settle(client)
    assert client.get("/researchers/A1").json()["claim_status"] == "claimed"  # nothing was written


def test_a_reason_with_nul_stored_before_the_check_does_not_stop_the_history(client):
    owner = person(client, "Ada One", owns="A1")
    moderator = person(client, "Mo Derator", role="moderator")
    services = client.app.state.services
    record = services.claims.repository.get(record_id_for(researcher_id_for("A1")))
    record.remove_owner(owner["id"], "released", str(owner["id"]), "bye\u0000now")  # as the old code let in
    services.claims.save(record)
    assert services.wait_for_projections(timeout=10)
    assert client.get("/ready").status_code == 200
    [entry] = [e for e in client.get("/researchers/A1/history", headers=moderator["headers"]).json()["items"]
               if e["kind"] == "owner.removed"]
    assert entry["reason"] == "bye\ufffdnow"


def test_a_projection_that_cannot_get_past_an_event_names_it_in_ready_and_metrics(client):
    services = client.app.state.services
    person(client, "Ada One", owns="A1")
    later = person(client, "Ben Two")
    # An event no code can read (its class is gone), then a good one.
    [bad_id] = services.claims.recorder.insert_events([StoredEvent(uuid4(), 1, "domain.claims.model:Vanished", b"{}")])
    record = facts(client, "A2")
    services.claims.approve(services.claims.open_claim(later["id"], record, [EvidenceIn("statement", text="me")]),
                            uuid4(), "L2", "checked", record)
    assert not services.wait_for_projections(timeout=2)
    ready = client.get("/ready")
    assert_problem(ready, 503, f"at Claims event {bad_id} (Vanished)")
    metrics = client.get("/metrics").text
    assert f'notification_id="{bad_id}"' in metrics and 'topic="domain.claims.model:Vanished"' in metrics
    # What came before it was applied; nothing after it is skipped past.
    client.app.state.profile_cache.refresh()
    assert client.get("/researchers/A1").json()["claim_status"] == "claimed"
    assert client.get("/researchers/A2").json()["claim_status"] == "unclaimed"


# -- 3. An institutional mailbox proves affiliation, for one account --------------------------------

def test_an_institutional_address_sends_the_claim_to_a_moderator_and_backs_one_account(client):
    first, second = person(client, "Ada One"), person(client, "Ben Two")
    opened = claim(client, first, "A1", [{"kind": "institutional_email", "email": "lab@uni.example"}]).json()
    confirmed = client.post(f"/claims/{opened['id']}/email-code", headers=first["headers"],
                            json={"code": code_in_mail(client, "lab@uni.example")})
    assert confirmed.json()["status"] == "pending"
    assert confirmed.json()["evidence"][0]["status"] == "verified"
    settle(client)
    assert client.get("/researchers/A1").json()["claim_status"] == "unclaimed"  # nobody decided yet

    mails = len(mails_to(client, "lab@uni.example"))
    shared = claim(client, second, "A2", [{"kind": "institutional_email", "email": "lab@uni.example"}]).json()
    assert shared["status"] == "pending"
    assert shared["evidence"][0]["status"] == "failed"
    assert "already backs the claims of another account" in shared["evidence"][0]["failure"]
    assert len(mails_to(client, "lab@uni.example")) == mails  # no code for the second account
    moderator = person(client, "Mo Derator", role="moderator")
    settle(client)
    queue = client.get("/moderation/claims", headers=moderator["headers"]).json()["items"]
    assert {c["id"] for c in queue} == {opened["id"], shared["id"]}


# -- 4. Moderators with a side in a record decide nothing about it ---------------------------------

def test_a_moderator_with_a_claim_on_a_record_cannot_decide_a_rivals_claim_on_it(client):
    moderator = person(client, "Mo Derator", role="moderator")
    rival = person(client, "Ri Val")
    claim(client, moderator, "A1", STATEMENT)
    rivals = claim(client, rival, "A1", [{"kind": "statement", "text": "No, these are mine."}]).json()["id"]
    assert_problem(client.post(f"/claims/{rivals}/reject", json={"reason": "mine"}, headers=moderator["headers"]),
                   403, "a record they own or have claimed")
    assert_problem(client.post(f"/claims/{rivals}/approve", json={"level": "L2", "reason": "x"},
                               headers=moderator["headers"]), 403, "a record they own or have claimed")
    assert client.get(f"/claims/{rivals}", headers=rival["headers"]).json()["status"] == "pending"


# -- 5. Followers are people who confirmed their address ------------------------------------------

def test_unconfirmed_accounts_cannot_follow_and_never_count(client):
    stranger = person(client, "Un Confirmed", confirm=False)
    assert_problem(client.put("/me/following/A1", headers=stranger["headers"]), 403, "confirm your email address")
    # A follow stored before the rule (as the old code let in) counts only once the address is confirmed.
    services = client.app.state.services
    services.follows.save(Follow(account_id=stranger["id"], researcher_id=researcher_id_for("A1"), confirmed=False))
    settle(client)
    assert client.get("/researchers/A1").json()["followers_count"] == 0
    assert client.get("/researchers/A1/followers").json()["items"] == []
    client.post("/accounts/confirm", json={"email": stranger["email"], "code": code_in_mail(client, stranger["email"])})
    settle(client)
    assert client.get("/researchers/A1").json()["followers_count"] == 1


# -- 6. Mail floods ------------------------------------------------------------------------------------

def test_claim_code_mail_is_limited_per_address_whoever_asks(client):
    first, second = person(client, "Ada One"), person(client, "Ben Two")
    evidence = [{"kind": "institutional_email", "email": "dean@uni.example"}]
    for _ in range(2):
        opened = claim(client, first, "A1", evidence).json()["id"]
        client.post(f"/claims/{opened}/withdraw", headers=first["headers"])
    assert claim(client, second, "A2", evidence).status_code == 201  # the third code to this address this hour
    assert_problem(claim(client, second, "A3", evidence), 429, "claim codes mailed to this address")
    assert len(mails_to(client, "dean@uni.example")) == 3


def test_the_code_guess_limit_holds_across_withdrawing_and_claiming_again(client):
    me = person(client, "Ada One")
    evidence = [{"kind": "institutional_email", "email": "ada@uni.example"}]
    first = claim(client, me, "A1", evidence).json()["id"]
    wrong = "000000" if code_in_mail(client, "ada@uni.example") != "000000" else "111111"
    for _ in range(5):
        assert client.post(f"/claims/{first}/email-code", json={"code": wrong}, headers=me["headers"]).status_code == 422
    client.post(f"/claims/{first}/withdraw", headers=me["headers"])
    again = claim(client, me, "A1", evidence).json()["id"]
    right = code_in_mail(client, "ada@uni.example")
    assert_problem(client.post(f"/claims/{again}/email-code", json={"code": right}, headers=me["headers"]),
                   429, "code attempts for this record")


def test_following_and_unfollowing_again_and_again_tells_the_owner_once(client):
    owner = person(client, "Ada One", owns="A1")
    fan = person(client, "Fan Atic")
    for _ in range(5):
        client.put("/me/following/A1", headers=fan["headers"])
        client.delete("/me/following/A1", headers=fan["headers"])
    settle(client)
    notifier_caught_up(client)
    items = client.get("/me/notifications", headers=owner["headers"]).json()["items"]
    assert [n["kind"] for n in items].count("new_follower") == 1


def notifier_caught_up(client) -> None:
    """The in-process notifier has read every log to its head."""
    import time

    services = client.app.state.services
    store = services.notifications
    deadline = time.monotonic() + 10
    apps = (services.catalogue, services.accounts, services.claims, services.follows, services.invitations)
    while any(store.position(a.name) < (a.recorder.max_notification_id() or 0) for a in apps):
        assert time.monotonic() < deadline, "notifications did not catch up"
        time.sleep(0.05)


# -- 8. Malformed JSON is the client's error everywhere --------------------------------------------

@pytest.mark.parametrize("body", [b"[" * 2_000 + b"]" * 2_000, b'{"email": "\xff\xfe", "password": "x"}',
                                  b'{"reason": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", b"\x00", b'{"email": '])
@pytest.mark.parametrize("path", ["/auth/login", "/accounts", "/accounts/confirm", "/auth/refresh"])
def test_malformed_json_of_any_depth_or_encoding_is_a_400(client, path, body):
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert_problem(response, 400, "the body is not valid JSON")


def test_malformed_json_on_a_signed_in_route_is_a_400(client):
    owner = person(client, "Ada One", owns="A1")
    response = client.post("/researchers/A1/owner/release", content=b'{"reason": "\xc3\x28"}',
                           headers={**owner["headers"], "content-type": "application/json"})
    assert_problem(response, 400, "must be UTF-8")


# -- 9. A disputed record's owner sends no invitations ----------------------------------------------

def test_the_owner_of_a_disputed_record_cannot_send_invitations(client):
    sender = person(client, "Ada One", owns="A1")
    person(client, "Ben Two", owns="A2")  # a recipient who would otherwise take the invitation
    challenger = person(client, "Ri Val")
    assert claim(client, challenger, "A1", STATEMENT).json()["status"] == "disputing"
    settle(client)
    refused = client.post("/researchers/A2/invitations", json={"message": "Work together?"},
                          headers=sender["headers"])
    assert_problem(refused, 409, "your record's ownership is disputed")


# -- 10. Names ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "what"), [
    ("Evil\u009bName", "Expected a name without control or text-direction characters"),   # a C1 control
    ("\u061cAli", "Expected a name without control or text-direction characters"),       # Arabic letter mark
    ("Ada \u202eecalevoL", "Expected a name without control or text-direction characters"),  # override
    ("\u200b\u3164", "must contain at least one visible character"),                     # nothing visible
])
def test_display_names_with_controls_direction_marks_or_nothing_visible_are_refused(client, name, what):
    response = client.post("/accounts", json={"email": "n@example.org", "password": "a long enough password",
                                              "display_name": name})
    body = assert_problem(response, 400, what)
    assert "display_name" in body["detail"]


def test_a_name_imported_before_names_were_cleaned_shows_without_its_controls(client):
    from domain.catalogue.model import Work

    services = client.app.state.services
    services.catalogue.save(Work(openalex_id="W9", doi=None, title="T", publication_year=2026,
                                 publication_date="2026-01-02", type="article", venue=None, cited_by_count=0,
                                 abstract=None, topics=[], authorships=[{
                                     "researcher_id": str(researcher_id_for("A4")), "openalex_id": "A4",
                                     "display_name": "Di \u202eruoF", "orcid": None, "position": "first",
                                     "institutions": []}]))
    settle(client)
    assert client.get("/researchers/A4").json()["display_name"] == "Di ruoF"


# -- 11. Erasure reaches mail sent for the person to other addresses -------------------------------

def test_erasure_removes_claim_code_mail_sent_to_an_institutional_address(client):
    me = person(client, "Ada One")
    claim(client, me, "A1", [{"kind": "institutional_email", "email": "ada.one@uni.example"}])
    assert mails_to(client, "ada.one@uni.example")
    assert client.delete("/me", headers=me["headers"]).status_code == 204
    assert mails_to(client, "ada.one@uni.example") == []
    assert mails_to(client, me["email"]) == []


# -- 12. Tokens come as Bearer, or not at all ----------------------------------------------------------

@pytest.mark.parametrize("scheme", ["Basic", "Token", "X", "bearer"])
def test_only_the_bearer_scheme_carries_a_token(client, scheme):
    me = person(client, "Ada One")
    token = me["headers"]["authorization"].partition(" ")[2]
    response = client.get("/me", headers={"authorization": f"{scheme} {token}"})
    if scheme.lower() == "bearer":
        assert response.status_code == 200
    else:
        assert_problem(response, 401, "a valid access token is required")
    assert UUID(client.get("/me", headers=me["headers"]).json()["id"]) == me["id"]


# -- 13. A resend answers before it mails -----------------------------------------------------------

class HoldingMailServer:
    """An SMTP server on loopback that, once told to, takes connections and never answers them
    (until released): what a slow or hanging mail server looks like from the service."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.holding, self.released, self.held = threading.Event(), threading.Event(), []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            if self.holding.is_set():
                self.held.append(conn)  # no greeting: the client waits
            else:
                conn.close()  # refused at once: mail fails fast (registration goes on without it)

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.socket.close()


def test_a_resend_answers_at_once_even_while_the_mail_server_hangs(tmp_path):
    mail = HoldingMailServer()
    port = free_port()
    environ = clean_environ(PEERLEDGER_DATA_DIR=str(tmp_path / "var"), PEERLEDGER_SMTP_HOST="127.0.0.1",
                            PEERLEDGER_SMTP_PORT=str(mail.port), PEERLEDGER_SMTP_TLS="none", **CHEAP_HASHING)
    server = subprocess.Popen([*PEERLEDGER, "serve", "--port", str(port), "--no-demo"],
                              env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.post(base + "/accounts", json={"email": "ada@example.org", "password": "a long enough password",
                                                    "display_name": "Ada"}, timeout=30).status_code == 201
        mail.holding.set()
        # The mail server now hangs (smtplib would wait 10 s): the answer must not wait for it.
        for address in ("ada@example.org", "nobody@example.org"):
            answer = httpx.post(base + "/accounts/confirm/resend", json={"email": address}, timeout=5)
            assert answer.status_code == 202
        deadline = time.monotonic() + 10
        while not mail.held and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mail.held, "the resend did try to mail, after answering"
    finally:
        mail.close()  # the held connections end: the resends behind the answers finish
        server.terminate()
        server.wait(timeout=20)
