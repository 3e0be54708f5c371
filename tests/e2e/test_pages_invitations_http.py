"""Direct collaboration pages over plain HTTP: who sees the invitation form, sending, the API's refusals
as sentences with its status, the inbox, accept, messages both ways, and strangers kept out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from api.pages.forms import readable
from tests.conftest import settings_for
from tests.e2e.pages_support import alert, as_, csrf_of, demo_works
from tests.e2e.support import person, serving

ANN_RECORD, BEN_RECORD = "A5999000101", "A5999000102"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from serving(settings_for("sqlite", tmp_path, None, PEERLEDGER_RATE_LIMIT_SCALE="100"), demo_works())


@pytest.fixture
def ann(client):
    return person(client, "Ann Inviter", owns=ANN_RECORD)


@pytest.fixture
def ben(client):
    return person(client, "Ben Invitee", owns=BEN_RECORD)


def invite(client: TestClient, record: str, **fields: str):
    token = csrf_of(client.get(f"/r/{record}").text)
    return client.post(f"/r/{record}/invite", data={"csrf_token": token, **fields}, follow_redirects=False)


def test_only_a_verified_viewer_sees_the_invitation_form_on_a_claimed_record(client, ann, ben):
    as_(client, None)
    assert 'action="/r/A5999000102/invite"' not in client.get(f"/r/{BEN_RECORD}").text
    assert "to invite." in client.get(f"/r/{BEN_RECORD}").text
    as_(client, person(client, "Cal Unverified"))
    page = client.get(f"/r/{BEN_RECORD}").text
    assert 'action="/r/A5999000102/invite"' not in page and "Claim your own author record" in page
    as_(client, ann)
    assert 'action="/r/A5999000102/invite"' in client.get(f"/r/{BEN_RECORD}").text
    assert 'action="/r/A5999000101/invite"' not in client.get(f"/r/{ANN_RECORD}").text  # not to oneself
    assert "Claim this author entity first" in client.get("/r/A5999000103").text  # unclaimed: locked


def test_invite_accept_and_exchange_messages(client, ann, ben):
    as_(client, ann)
    sent = invite(client, BEN_RECORD, message="Shall we work on few-shot learning together?", topic="",
                  work_id="")
    assert sent.status_code == 303 and sent.headers["location"].startswith("/p/invitations/")
    invitation = sent.headers["location"]
    page = client.get(invitation).text
    assert "To Ben Invitee" in page and "Waiting for an answer" in page and "Withdraw the invitation" in page
    again = invite(client, BEN_RECORD, message="Hello again")
    assert again.status_code == 409 and "pending" in alert(again.text)
    assert "Hello again" in again.text  # the draft stays in the form

    as_(client, ben)
    inbox = client.get("/p/invitations").text
    assert "From Ann Inviter" in inbox and "1 invitation waiting for your answer" in inbox
    page = client.get(invitation).text
    assert "Shall we work on few-shot learning together?" in page
    accepted = client.post(invitation + "/accept", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"].startswith("/p/conversations/")
    conversation = accepted.headers["location"]
    page = client.get(conversation).text
    assert "Conversation with Ann Inviter" in page
    wrote = client.post(conversation + "/messages", data={"csrf_token": csrf_of(page), "text": "Yes, gladly."},
                        follow_redirects=False)
    assert wrote.status_code == 303 and wrote.headers["location"] == conversation + "#messages"
    empty = client.post(conversation + "/messages", data={"csrf_token": csrf_of(page), "text": ""},
                        follow_redirects=False)
    assert empty.status_code == 422 and alert(empty.text) == "Message: this field is required."
    twice = client.post(invitation + "/accept", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert twice.status_code == 409 and alert(twice.text)

    as_(client, ann)
    assert "1 unread message" in client.get("/p/invitations?box=sent").text
    page = client.get(conversation).text
    assert "Yes, gladly." in page and "Ben Invitee" in page
    client.post(conversation + "/messages", data={"csrf_token": csrf_of(page), "text": "Great: next week?"})
    assert "0 unread messages" in client.get("/p/invitations").text  # shown is read
    as_(client, ben)
    assert "Great: next week?" in client.get(conversation).text


def test_a_recipient_who_takes_no_invitations_is_refused_with_the_apis_sentence(client, ann, ben):
    assert client.put("/me/invitation-policy", headers=ben["headers"], json={"policy": "nobody"}).status_code == 200
    as_(client, ann)
    refused = invite(client, BEN_RECORD, message="Hello")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    api = client.post(f"/researchers/{BEN_RECORD}/invitations", headers=ann["headers"], json={"message": "Hello"})
    assert api.status_code == 403 and alert(refused.text) == readable(api.json()["detail"])


def test_an_invitation_and_its_conversation_are_nobody_elses(client, ann, ben):
    as_(client, ann)
    invitation = invite(client, BEN_RECORD, message="Hi").headers["location"]
    as_(client, person(client, "Dee Stranger"))
    assert client.get(invitation).status_code == 404
    token = csrf_of(client.get("/p/invitations").text)
    assert client.post(invitation + "/accept", data={"csrf_token": token}, follow_redirects=False).status_code == 404


def test_invitation_forms_without_their_csrf_token_are_refused(client, ann, ben):
    as_(client, ann)
    invitation = invite(client, BEN_RECORD, message="Hi").headers["location"]
    for target in (f"/r/{BEN_RECORD}/invite", invitation + "/accept", invitation + "/withdraw",
                   "/p/conversations/00000000-0000-0000-0000-000000000000/messages"):
        refused = client.post(target, data={"message": "x", "text": "x"}, follow_redirects=False)
        assert refused.status_code == 403 and "did not come from this site" in refused.text, target


def test_signed_out_the_invitation_pages_lead_to_sign_in(client):
    for path in ("/p/invitations", "/p/conversations/00000000-0000-0000-0000-000000000000"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/p/login?next={path}"
