"""Direct collaboration over HTTP against PostgreSQL: invitations, their refusals and races,
quotas shared through the database, expiry by the worker, conversations, erasure."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from uuid import UUID

import pytest
from litestar.testing import TestClient

from domain.claims.application import EvidenceIn
from domain.invitations.model import inviter_id
from operations.expiry import expire_due
from operations.importing import import_body
from tests.conftest import settings_for
from tests.factories import author, work
from tests.fakes import Clock
from tests.e2e.support import PASSWORD, assert_problem, facts, invite, own, person, serving, settings_on

# A1 and A2 wrote W1 together, A2 and A3 wrote W2: A1 and A3 are co-authors of co-authors.
# A4 stands alone; A5 stays unclaimed; A100.. are records for the quota test.
WORKS = [work(1, [author(1, "Sender One"), author(2, "Close Two")]), work(2, [author(2), author(3, "Far Three")]),
         work(4, [author(4, "Lone Four")]), work(5, [author(5, "Unclaimed Five")])]


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    yield from serving(settings_for("postgres", tmp_path, pg_schema, PEERLEDGER_RATE_LIMIT_SCALE="1000"), WORKS)


@pytest.fixture(params=["postgres", "sqlite"])
def any_client(request, tmp_path) -> Iterator[TestClient]:
    """PostgreSQL, and the embedded default."""
    yield from serving(settings_on(request.param, request, tmp_path, PEERLEDGER_RATE_LIMIT_SCALE="1000"), WORKS)


def assert_invalid(response, key: str, part: str) -> None:
    """A 400 naming the field that is wrong, and how."""
    body = assert_problem(response, 400, "Validation failed")
    assert any(e["key"] == key or key in e["message"] for e in body["errors"]), body
    assert part in json.dumps(body), body


def box(client, who: dict, name: str = "inbox", **params) -> dict:
    assert client.app.state.services.wait_for_projections()
    response = client.get("/me/invitations", params={"box": name, **params}, headers=who["headers"])
    assert response.status_code == 200, response.text
    return response.json()


def test_invite_accept_and_talk(any_client):
    client = any_client
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    sent = invite(client, sender, "A2", topic="T1", work_id="https://openalex.org/W1")
    assert sent.status_code == 201, sent.text
    invitation = sent.json()
    assert (invitation["status"], invitation["recipient_id"], invitation["topic"]) == ("pending", str(recipient["id"]),
                                                                                       "T1")
    assert invitation["message"] == "Shall we work together?"

    inbox = box(client, recipient)
    assert [i["id"] for i in inbox["items"]] == [invitation["id"]]
    assert inbox["pending_received"] == 1 and inbox["items"][0]["message"] is None  # notes only in the detail
    assert [i["id"] for i in box(client, sender, "sent")["items"]] == [invitation["id"]]
    assert box(client, recipient, status="accepted")["items"] == []
    assert [i["id"] for i in box(client, recipient, status="pending")["items"]] == [invitation["id"]]
    assert invitation["work_id"] == "W1"  # the canonical URL, stored as the short id

    accepted = client.post(f"/invitations/{invitation['id']}/accept", headers=recipient["headers"])
    assert accepted.status_code == 200, accepted.text
    conversation_id = accepted.json()["conversation_id"]
    assert accepted.json()["status"] == "accepted" and conversation_id

    path = f"/conversations/{conversation_id}"
    assert client.post(path + "/messages", json={"text": "Hello!"}, headers=sender["headers"]).status_code == 201
    talk = client.post(path + "/messages", json={"text": "Hi, gladly."}, headers=recipient["headers"]).json()
    assert [(m["number"], m["text"]) for m in talk["messages"]] == [(1, "Hello!"), (2, "Hi, gladly.")]
    assert box(client, sender, "sent")["unread_messages"] == 1  # the reply
    assert client.post(path + "/read", json={"up_to": 2}, headers=sender["headers"]).json()["read"][str(sender["id"])] == 2
    assert box(client, sender, "sent")["unread_messages"] == 0
    assert_problem(client.post(path + "/read", json={"up_to": 3}, headers=sender["headers"]), 422, "has 2 messages")

    closed = client.post(path + "/close", headers=recipient["headers"]).json()
    assert closed["closed"] is True
    assert_problem(client.post(path + "/messages", json={"text": "One more"}, headers=sender["headers"]), 409,
                   "closed")


def test_who_cannot_invite_and_what_cannot_be_invited(client):
    sender = person(client, "Sender One", owns="A1")
    person(client, "Close Two", owns="A2")
    nobody_verified = person(client, "Plain Reader")
    assert_problem(invite(client, nobody_verified, "A2"), 403, "claim your author record and verify it")
    assert_problem(invite(client, sender, "A5"), 409, "not claimed")
    assert_problem(invite(client, sender, "A1"), 422, "cannot invite yourself")
    assert_problem(invite(client, sender, "A999999"), 404, "no researcher")
    assert_invalid(invite(client, sender, "A2", message="x" * 2_001), "message", "length <= 2000")
    assert_invalid(invite(client, sender, "A2", colour="blue"), "colour", "unknown field")
    assert_invalid(invite(client, sender, "A2", work_id="not-a-work"), "work_id", "an OpenAlex work id")
    assert_invalid(invite(client, sender, "A2", topic="a\u0000b"), "topic", "an OpenAlex topic id")
    assert invite(client, sender, "A2").status_code == 201
    assert_problem(invite(client, sender, "A2"), 409, "already pending")
    # ... also the other way round: the pair is the two people.
    back = person(client, "Lone Four", owns="A4")
    assert invite(client, back, "A1").status_code == 201
    assert_problem(invite(client, sender, "A4"), 409, "already pending")
    assert client.get("/me/invitations", params={"box": "outbox"}, headers=sender["headers"]).status_code == 400
    lost = assert_problem(client.get("/me/invitations", params={"status": "lost"}, headers=sender["headers"]), 400,
                          "Validation failed")
    assert (lost["code"], lost["field"]) == ("validation_failed", "status")


def test_a_disputed_record_cannot_be_invited_and_its_invitations_cannot_be_accepted(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    invitation = invite(client, sender, "A2").json()
    challenger = person(client, "Challenger")
    client.app.state.services.claims.open_claim(challenger["id"], facts(client, "A2"), [
        EvidenceIn("statement", text="No, it is me.", links=("https://example.org/x",))])
    assert_problem(client.post(f"/invitations/{invitation['id']}/accept", headers=recipient["headers"]), 409,
                   "frozen")
    other = person(client, "Far Three", owns="A3")
    assert_problem(invite(client, other, "A2"), 409, "disputed")


def test_the_recipient_decides_who_may_invite(client):
    sender = person(client, "Sender One", owns="A1")
    far = person(client, "Far Three", owns="A3")  # co-author of a co-author of A1
    put_policy = lambda policy: client.put("/me/invitation-policy", json={"policy": policy},  # noqa: E731
                                           headers=far["headers"])
    assert put_policy("coauthors").json() == {"policy": "coauthors", "blocked": []}
    refused = assert_problem(invite(client, sender, "A3"), 403, "does not accept invitations from you")
    assert put_policy("nobody").status_code == 200
    assert_problem(invite(client, sender, "A3"), 403, "does not accept invitations from you")
    assert put_policy("coauthors_of_coauthors").status_code == 200
    assert client.put(f"/me/blocks/{sender['id']}", headers=far["headers"]).status_code == 204
    blocked = assert_problem(invite(client, sender, "A3"), 403, "does not accept invitations from you")
    assert blocked == refused  # the sender cannot tell a block from a policy
    assert client.get("/me/invitation-policy", headers=far["headers"]).json()["blocked"] == [str(sender["id"])]
    assert client.delete(f"/me/blocks/{sender['id']}", headers=far["headers"]).status_code == 204
    assert invite(client, sender, "A3").status_code == 201
    assert_invalid(put_policy("friends"), "policy", "Invalid enum value")
    assert client.put(f"/me/blocks/{uuid.uuid4()}", headers=far["headers"]).status_code == 204  # tells nothing
    assert_problem(client.put(f"/me/blocks/{far['id']}", headers=far["headers"]), 422, "block yourself")


def test_decline_and_withdraw_start_a_cool_down_and_only_the_right_party_may_act(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    first = invite(client, sender, "A2").json()["id"]
    assert_problem(client.post(f"/invitations/{first}/accept", headers=sender["headers"]), 403, "only the recipient")
    assert_problem(client.post(f"/invitations/{first}/withdraw", headers=recipient["headers"]), 403, "only the sender")
    assert client.post(f"/invitations/{first}/decline", headers=recipient["headers"]).json()["status"] == "declined"
    assert_problem(client.post(f"/invitations/{first}/accept", headers=recipient["headers"]), 409, "declined already")
    assert_problem(invite(client, sender, "A2"), 409, "invite again from")
    assert_problem(invite(client, recipient, "A1"), 409, "invite again from")  # either direction

    third = person(client, "Lone Four", owns="A4")
    second = invite(client, sender, "A4").json()["id"]
    assert client.post(f"/invitations/{second}/withdraw", headers=sender["headers"]).json()["status"] == "withdrawn"
    assert_problem(invite(client, sender, "A4"), 409, "invite again from")
    client.app.state.services.invitations.clock = lambda: Clock().now + timedelta(days=400)
    assert invite(client, third, "A1").status_code == 201  # 21 days later


def test_a_third_person_sees_neither_invitation_nor_conversation(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    stranger = person(client, "Stranger")
    invitation = invite(client, sender, "A2").json()["id"]
    for method, path in (("get", ""), ("post", "/accept"), ("post", "/decline"), ("post", "/withdraw")):
        assert_problem(getattr(client, method)(f"/invitations/{invitation}{path}", headers=stranger["headers"]),
                       404, "no such invitation")
    conversation = client.post(f"/invitations/{invitation}/accept", headers=recipient["headers"]).json()["conversation_id"]
    assert_problem(client.get(f"/conversations/{conversation}", headers=stranger["headers"]), 404, "no such conversation")
    assert_problem(client.post(f"/conversations/{conversation}/messages", json={"text": "hi"},
                               headers=stranger["headers"]), 404, "no such conversation")
    assert box(client, stranger)["items"] == []
    assert client.get(f"/invitations/{invitation}").status_code == 401


def test_a_hundred_concurrent_invitations_spend_exactly_the_daily_quota(client):
    services = client.app.state.services
    import_body(services.catalogue, json.dumps([work(100 + n, [author(100 + n, f"Recipient {n}")])
                                                for n in range(100)]).encode())
    assert services.wait_for_projections()
    sender = person(client, "Sender One", owns="A1")
    for n in range(100):
        account = services.accounts.register(f"recipient{n}@example.org", PASSWORD, f"Recipient {n}")
        own(client, account, f"A{100 + n}")
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda n: invite(client, sender, f"A{100 + n}"), range(100)))
    assert Counter(a.status_code for a in answers) == {201: 10, 429: 90}
    refused = next(a for a in answers if a.status_code == 429)
    assert "allowed in 24 hours" in refused.json()["detail"] and int(refused.headers["retry-after"]) > 0
    assert len(box(client, sender, "sent")["items"]) == 10


def test_accept_racing_withdraw_ends_in_exactly_one_state(client, monkeypatch):
    services = client.app.state.services
    import_body(services.catalogue, json.dumps([work(300 + n, [author(300 + n)]) for n in range(8)]).encode())
    assert services.wait_for_projections()
    sender = person(client, "Sender One", owns="A1", level="L3")
    save = services.invitations.save
    for n in range(8):
        recipient = person(client, f"Recipient {n}", owns=f"A{300 + n}")
        invitation = invite(client, sender, f"A{300 + n}").json()["id"]
        # Both requests read the invitation before either saves: the race is real every time.
        barrier, first = threading.Barrier(2, timeout=10), threading.local()

        def save_after_both_read(*aggregates, _barrier=barrier, _first=first):
            if not getattr(_first, "passed", False):
                _first.passed = True
                _barrier.wait()
            return save(*aggregates)

        monkeypatch.setattr(services.invitations, "save", save_after_both_read)
        with ThreadPoolExecutor(2) as pool:
            accept = pool.submit(client.post, f"/invitations/{invitation}/accept", headers=recipient["headers"])
            withdraw = pool.submit(client.post, f"/invitations/{invitation}/withdraw", headers=sender["headers"])
            codes = sorted((accept.result().status_code, withdraw.result().status_code))
        monkeypatch.setattr(services.invitations, "save", save)
        assert codes == [200, 409]
        final = client.get(f"/invitations/{invitation}", headers=sender["headers"]).json()["status"]
        assert final == ("accepted" if accept.result().status_code == 200 else "withdrawn")


def test_the_worker_expires_invitations_after_fourteen_days_and_frees_the_pair(client):
    services = client.app.state.services
    clock = Clock()
    services.invitations.clock = clock
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    invitation = invite(client, sender, "A2").json()["id"]
    clock.now += timedelta(days=13, hours=23)
    assert expire_due(services) == 0
    clock.now += timedelta(hours=2)
    assert_problem(client.post(f"/invitations/{invitation}/accept", headers=recipient["headers"]), 409, "expired")
    assert expire_due(services) == 1
    assert client.get(f"/invitations/{invitation}", headers=sender["headers"]).json()["status"] == "expired"
    assert expire_due(services) == 0
    assert box(client, recipient, status="expired")["items"][0]["id"] == invitation
    assert invite(client, sender, "A2").status_code == 201  # no cool-down after an expiry


def test_reports_reach_moderators_and_shrink_the_senders_quota(client):
    services = client.app.state.services
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    invitation = invite(client, sender, "A2").json()["id"]
    assert_problem(client.post(f"/invitations/{invitation}/report", json={"reason": "spam"},
                               headers=sender["headers"]), 403, "only the recipient")
    reported = client.post(f"/invitations/{invitation}/report", json={"reason": "Spam, again."},
                           headers=recipient["headers"])
    assert reported.status_code == 200 and reported.json()["status"] == "declined"
    assert reported.json()["report_reason"] == "Spam, again."
    assert_problem(client.post(f"/invitations/{invitation}/report", json={"reason": "x"},
                               headers=recipient["headers"]), 409, "reported this invitation already")
    assert services.invitations.get(UUID(invitation), sender["id"])[2] is None  # the sender never sees the reason
    moderator = person(client, "Mod Erator")
    assert client.get("/moderation/reports", headers=moderator["headers"]).status_code == 403
    services.accounts.grant_role(moderator["email"], "moderator", "test")
    client.app.state.session_gate.forget_account(moderator["id"])  # roles are re-read within 5 s anyway
    assert services.wait_for_projections()  # the reports list is a read model
    response = client.get("/moderation/reports", headers=moderator["headers"])
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [(r["invitation_id"], r["reason"]) for r in rows] == [(invitation, "Spam, again.")]
    assert services.invitations.repository.get(inviter_id(sender["id"])).reports == 1


def test_erasing_an_account_shreds_its_notes_and_messages(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    invitation = invite(client, sender, "A2", message="A personal note").json()["id"]
    conversation = client.post(f"/invitations/{invitation}/accept", headers=recipient["headers"]).json()["conversation_id"]
    client.post(f"/conversations/{conversation}/messages", json={"text": "From the sender"}, headers=sender["headers"])
    client.post(f"/conversations/{conversation}/messages", json={"text": "From the recipient"},
                headers=recipient["headers"])
    other = person(client, "Lone Four", owns="A4")
    pending = invite(client, sender, "A4").json()["id"]
    assert client.delete("/me", headers=sender["headers"]).status_code == 204
    assert client.get(f"/invitations/{invitation}", headers=recipient["headers"]).json()["message"] is None
    talk = client.get(f"/conversations/{conversation}", headers=recipient["headers"]).json()
    assert [m["text"] for m in talk["messages"]] == [None, "From the recipient"]
    # Nobody answers, or writes to, someone who is gone.
    assert talk["closed"] is True
    assert client.get(f"/invitations/{pending}", headers=other["headers"]).json()["status"] == "expired"
    assert_problem(client.post(f"/invitations/{pending}/accept", headers=other["headers"]), 409, "expired")


def test_many_senders_at_once_are_all_served(client):
    # Each send holds its sender's lock on a connection of the shared pool; nothing else it
    # does may need a second one from that pool, or a dozen senders starve it.
    services = client.app.state.services
    import_body(services.catalogue, json.dumps([work(500 + n, [author(500 + n)]) for n in range(12)]).encode())
    assert services.wait_for_projections()
    recipient = person(client, "Close Two", owns="A2")
    senders = [person(client, f"Sender {n}", owns=f"A{500 + n}") for n in range(12)]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda s: invite(client, s, "A2"), senders))
    assert [a.status_code for a in answers] == [201] * 12
    assert box(client, recipient)["pending_received"] == 12


def test_only_the_records_current_owner_can_accept(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    invitation = invite(client, sender, "A2").json()["id"]
    client.app.state.services.claims.release(facts(client, "A2"), recipient["id"], "not mine after all")
    assert_problem(client.post(f"/invitations/{invitation}/accept", headers=recipient["headers"]), 409,
                   "no longer own")


def test_a_record_whose_owner_erased_their_account_cannot_be_invited(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    assert client.delete("/me", headers=recipient["headers"]).status_code == 204
    assert_problem(invite(client, sender, "A2"), 409, "not claimed")


def test_my_conversations_list_the_latest_activity_first_with_the_other_party_and_unread_counts(client):
    sender, close, far = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2"), \
        person(client, "Far Three", owns="A3")
    first = invite(client, sender, "A2").json()["id"]
    second = invite(client, sender, "A3").json()["id"]
    to_close = client.post(f"/invitations/{first}/accept", headers=close["headers"]).json()["conversation_id"]
    to_far = client.post(f"/invitations/{second}/accept", headers=far["headers"]).json()["conversation_id"]
    for text in ("one", "two"):
        client.post(f"/conversations/{to_close}/messages", json={"text": text}, headers=close["headers"])
    client.post(f"/conversations/{to_far}/messages", json={"text": "latest"}, headers=sender["headers"])
    runner = client.app.state.services.invitations_runner
    assert runner.wait(runner.head(), 10)

    page = client.get("/me/conversations", headers=sender["headers"], params={"limit": 1})
    assert page.status_code == 200, page.text
    [latest] = page.json()["items"]
    rest = client.get("/me/conversations", headers=sender["headers"],
                      params={"limit": 1, "cursor": page.json()["next_cursor"]}).json()

    assert (latest["id"], latest["other_party_name"], latest["unread"]) == (to_far, "Far Three", 0)
    [older] = rest["items"]
    assert (older["id"], older["invitation_id"], older["other_party_id"], older["other_party_name"]) == (
        to_close, first, str(close["id"]), "Close Two")
    assert (older["messages"], older["unread"], older["closed"]) == (2, 2, False)
    assert rest["next_cursor"] is None
    far_side = client.get("/me/conversations", headers=far["headers"]).json()["items"]
    assert [(c["id"], c["unread"]) for c in far_side] == [(to_far, 1)]


def test_my_conversations_refuses_strangers_and_bad_paging(client):
    sender = person(client, "Sender One", owns="A1")

    assert_problem(client.get("/me/conversations"), 401, "")
    assert client.get("/me/conversations", headers=sender["headers"]).json() == {"items": [], "next_cursor": None}
    assert client.get("/me/conversations", headers=sender["headers"], params={"cursor": "%%%"}).status_code == 400
    assert client.get("/me/conversations", headers=sender["headers"], params={"limit": 0}).status_code == 400
    assert client.get("/me/conversations", headers=sender["headers"], params={"colour": "x"}).status_code == 400


def test_each_refusal_names_its_cause_in_a_code_with_the_facts_to_act_on(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    reader = person(client, "Plain Reader")

    def code(response, status: int) -> dict:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["type"] == "urn:peerledger:problem:" + body["code"] and body["status"] == status
        assert body["instance"] == response.request.url.path
        return body

    assert code(invite(client, reader, "A2"), 403)["code"] == "sender_not_verified"
    assert code(invite(client, sender, "A5"), 409)["code"] == "recipient_unclaimed"
    assert code(invite(client, sender, "A1"), 422)["code"] == "invitation_to_self"
    assert code(invite(client, sender, "A999999"), 404)["code"] == "not_found"
    for field, value, cause in [("work_id", "W999", "unknown_work"), ("topic", "https://openalex.org/T999", "unknown_topic")]:
        body = code(invite(client, sender, "A2", **{field: value}), 422)
        assert (body["code"], body["field"]) == (cause, field)
    for field, value in [("work_id", "W0"), ("work_id", "T1"), ("topic", "T"), ("topic", "https://example.org/T1")]:
        assert code(invite(client, sender, "A2", **{field: value}), 400)["code"] == "validation_failed"
    first = invite(client, sender, "https://openalex.org/A2").json()["id"]  # canonical URLs wherever ids go
    assert code(invite(client, sender, "A2"), 409)["code"] == "invitation_pending"
    client.post(f"/invitations/{first}/decline", headers=recipient["headers"])
    answered = code(client.post(f"/invitations/{first}/accept", headers=recipient["headers"]), 409)
    assert (answered["code"], answered["invitation_status"]) == ("invitation_not_pending", "declined")
    cooling = code(invite(client, recipient, "A1"), 409)
    assert cooling["code"] == "invitation_cooldown"
    until = datetime.fromisoformat(cooling["until"])
    assert until.tzinfo is not None and cooling["until"][:10] in cooling["detail"]


def test_each_party_sees_what_the_other_just_did_in_their_boxes(client):
    sender, recipient = person(client, "Sender One", owns="A1"), person(client, "Close Two", owns="A2")
    services = client.app.state.services
    runner = services.invitations_runner
    services.stop_runners("invitations")
    runner.idle_wait = 3600.0  # unwatched: only a box read's own wait moves it
    runner.start()
    try:
        invitation = invite(client, sender, "A2").json()["id"]
        [received] = client.get("/me/invitations", headers=recipient["headers"]).json()["items"]
        assert (received["id"], received["status"]) == (invitation, "pending")

        accepted = client.post(f"/invitations/{invitation}/accept", headers=recipient["headers"]).json()
        [sent] = client.get("/me/invitations", params={"box": "sent"}, headers=sender["headers"]).json()["items"]
        assert (sent["status"], sent["conversation_id"]) == ("accepted", accepted["conversation_id"])
        [conversation] = client.get("/me/conversations", headers=sender["headers"]).json()["items"]
        assert conversation["id"] == accepted["conversation_id"]
    finally:
        runner.stop()
        services.start_runners("invitations")
