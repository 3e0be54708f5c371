"""Invitation rules on the in-memory event store: quotas by level, reports, cool-downs, policies."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from domain.errors import (ConflictError, ErrorCode, ForbiddenError, InvalidInputError, NotFoundError,
                           TooManyRequestsError)
from domain.invitations.application import QUOTAS, REFUSED, Invitations, SendFacts
from adapters.sqlstore import SQLiteStore
from adapters.vault import SqlVault
from tests.fakes import Clock

SENDER, SENDER_RECORD = uuid4(), uuid4()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(tmp_path, clock):
    invitations = Invitations(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                              vault=SqlVault(SQLiteStore(tmp_path / "keys.sqlite"), b"k"),
                              exclusive=lambda _: nullcontext(), clock=clock)
    yield invitations
    invitations.close()


def facts(recipient: UUID, *, level: str = "L2", status: str = "claimed", distance: int | None = None) -> SendFacts:
    return SendFacts({SENDER_RECORD: level}, uuid4(), recipient, status, distance)


def send_many(app, n: int, level: str = "L2") -> list[UUID]:
    return [app.send(SENDER, facts(uuid4(), level=level), "hello", None, None) for _ in range(n)]


@pytest.mark.parametrize(("level", "daily"), [("L2", 10), ("L3", 20)])
def test_the_daily_quota_doubles_at_l3_and_refills_after_a_day(app, clock, level, daily):
    send_many(app, daily, level)
    with pytest.raises(TooManyRequestsError, match="allowed in 24 hours") as refused:
        send_many(app, 1, level)
    assert 0 < refused.value.retry_after <= 24 * 3600 + 1
    clock.now += timedelta(days=1, seconds=1)
    send_many(app, 1, level)


def test_pending_invitations_are_capped_until_some_are_answered(app, clock):
    sent = []
    for _ in range(2):  # 20 pending at L2, over two days of 10
        sent += send_many(app, 10)
        clock.now += timedelta(days=1, seconds=1)
    with pytest.raises(TooManyRequestsError, match="most pending invitations allowed"):
        send_many(app, 1)
    app.withdraw(sent[0], SENDER)
    send_many(app, 1)


def test_each_report_lowers_the_senders_quotas(app):
    first, second = send_many(app, 2)
    for invitation in (first, second):
        recipient = app.get(invitation, SENDER)[0].recipient_id
        app.report(invitation, recipient, "unwanted")
    send_many(app, 4)  # the daily 10, less 2 per report, less the 2 already sent
    with pytest.raises(TooManyRequestsError):
        send_many(app, 1)


def test_declining_starts_a_cool_down_of_21_days_for_the_pair(app, clock):
    recipient = uuid4()
    invitation = app.send(SENDER, facts(recipient), "hello", None, None)
    app.decline(invitation, recipient)
    clock.now += timedelta(days=20)
    with pytest.raises(ConflictError, match="invite again from"):
        app.send(SENDER, facts(recipient), "again?", None, None)
    clock.now += timedelta(days=1, seconds=1)
    app.send(SENDER, facts(recipient), "again?", None, None)


@pytest.mark.parametrize(("policy", "distance", "allowed"), [
    ("verified", None, True), ("coauthors", 1, True), ("coauthors", 2, False),
    ("coauthors_of_coauthors", 2, True), ("coauthors_of_coauthors", None, False), ("nobody", 1, False),
])
def test_the_recipients_policy_decides(app, policy, distance, allowed):
    recipient = uuid4()
    app.set_policy(recipient, policy)
    if allowed:
        app.send(SENDER, facts(recipient, distance=distance), "hello", None, None)
    else:
        with pytest.raises(ForbiddenError, match=REFUSED):
            app.send(SENDER, facts(recipient, distance=distance), "hello", None, None)


def test_an_unverified_sender_is_told_to_verify_first(app):
    with pytest.raises(ForbiddenError, match="verify it"):
        app.send(SENDER, SendFacts({SENDER_RECORD: "L1"}, uuid4(), uuid4(), "claimed", 1), "hello", None, None)


OWNER = uuid4()  # a recipient who owns a claimed record


@pytest.mark.parametrize(("facts", "error", "code"), [
    (SendFacts({}, uuid4(), OWNER, "claimed", 1), ForbiddenError, ErrorCode.SENDER_NOT_VERIFIED),
    (SendFacts({SENDER_RECORD: "L0", uuid4(): "L1"}, uuid4(), OWNER, "claimed", 1), ForbiddenError,
     ErrorCode.SENDER_NOT_VERIFIED),
    (SendFacts({SENDER_RECORD: "L1"}, uuid4(), SENDER, "claimed", 1), ForbiddenError,
     ErrorCode.SENDER_NOT_VERIFIED),  # the sender's own standing is looked at first
    (SendFacts({SENDER_RECORD: "L3"}, uuid4(), OWNER, "claimed", 1, frozenset({SENDER_RECORD})), ConflictError,
     ErrorCode.SENDER_DISPUTED),
    (SendFacts({SENDER_RECORD: "L2"}, uuid4(), SENDER, "claimed", None), InvalidInputError,
     ErrorCode.INVITATION_TO_SELF),
    (SendFacts({SENDER_RECORD: "L2"}, uuid4(), OWNER, "disputed", 1), ConflictError, ErrorCode.RECIPIENT_DISPUTED),
    (SendFacts({SENDER_RECORD: "L2"}, uuid4(), None, "disputed", 1), ConflictError, ErrorCode.RECIPIENT_DISPUTED),
    (SendFacts({SENDER_RECORD: "L2"}, uuid4(), None, "unclaimed", 1), ConflictError, ErrorCode.RECIPIENT_UNCLAIMED),
], ids=["no-record", "below-l2", "unverified-to-self", "own-record-disputed", "to-self", "recipient-disputed",
        "disputed-without-owner", "recipient-unclaimed"])
def test_who_may_invite_whom_is_refused_before_anything_is_written(app, facts, error, code):
    refused = app.refusal(SENDER, facts)
    assert isinstance(refused, error) and refused.code == code, refused
    with pytest.raises(error) as sent:
        app.send(SENDER, facts, "hello", None, None)
    assert sent.value.code == code
    assert not app.recorder.max_notification_id()


def test_an_undisputed_verified_record_is_enough_when_another_of_the_senders_is_disputed(app):
    disputed = uuid4()
    facts = SendFacts({disputed: "L3", SENDER_RECORD: "L2"}, uuid4(), OWNER, "claimed", 1, frozenset({disputed}))
    assert app.refusal(SENDER, facts) is None
    app.send(SENDER, facts, "hello", None, None)


def test_the_senders_best_verified_record_sets_the_quota(app):
    records = {SENDER_RECORD: "L2", uuid4(): "L3"}
    for _ in range(20):  # L3's daily 20, not L2's 10
        app.send(SENDER, SendFacts(records, uuid4(), uuid4(), "claimed", None), "hello", None, None)
    with pytest.raises(TooManyRequestsError, match="allowed in 24 hours"):
        app.send(SENDER, SendFacts(records, uuid4(), uuid4(), "claimed", None), "hello", None, None)


def test_a_blocked_sender_is_refused_whatever_the_policy_until_unblocked(app):
    app.block(OWNER, SENDER)
    refused = app.refusal(SENDER, facts(OWNER, distance=1))
    assert isinstance(refused, ForbiddenError) and (refused.code, refused.detail) == (ErrorCode.INVITATION_REFUSED,
                                                                                      REFUSED)
    app.unblock(OWNER, SENDER)
    assert app.refusal(SENDER, facts(OWNER, distance=1)) is None


def test_one_pending_invitation_per_pair_whichever_way(app):
    app.send(SENDER, facts(OWNER), "hello", None, None)
    refused = app.refusal(SENDER, facts(OWNER))
    assert isinstance(refused, ConflictError) and refused.code == ErrorCode.INVITATION_PENDING
    back = SendFacts({uuid4(): "L2"}, SENDER_RECORD, SENDER, "claimed", None)  # the recipient invites back
    with pytest.raises(ConflictError, match="already pending"):
        app.send(OWNER, back, "hello to you", None, None)


def test_the_cool_down_ends_exactly_21_days_after_the_withdrawal(app, clock):
    invitation = app.send(SENDER, facts(OWNER), "hello", None, None)
    withdrawn_at = clock.now
    app.withdraw(invitation, SENDER)
    clock.now = withdrawn_at + timedelta(days=21) - timedelta(seconds=1)
    refused = app.refusal(SENDER, facts(OWNER))
    assert isinstance(refused, ConflictError) and refused.code == ErrorCode.INVITATION_COOLDOWN
    assert refused.facts == {"until": (withdrawn_at + timedelta(days=21)).isoformat()}
    clock.now = withdrawn_at + timedelta(days=21)
    assert app.refusal(SENDER, facts(OWNER)) is None


def test_the_daily_quota_counts_the_last_24_hours_and_says_when_a_place_frees(app, clock):
    start = clock.now
    send_many(app, 1)
    clock.now = start + timedelta(hours=1)
    send_many(app, 9)
    clock.now = start + timedelta(hours=2)
    with pytest.raises(TooManyRequestsError) as refused:
        send_many(app, 1)
    assert refused.value.retry_after == 22 * 3600 + 1  # the first send leaves the window 22 hours from now
    clock.now = start + timedelta(days=1) - timedelta(seconds=1)
    with pytest.raises(TooManyRequestsError) as refused:
        send_many(app, 1)
    assert refused.value.retry_after == 2
    clock.now = start + timedelta(days=1)  # a send exactly a day old no longer counts
    send_many(app, 1)
    with pytest.raises(TooManyRequestsError) as refused:
        send_many(app, 1)
    assert refused.value.retry_after == 3600 + 1


@pytest.mark.parametrize(("reports", "left", "says"), [
    (0, 10, "allowed in 24 hours"), (1, 7, "allowed in 24 hours"), (2, 4, "allowed in 24 hours"),
    (3, 1, "allowed in 24 hours"), (4, 0, "allowed in 24 hours"), (5, 0, "most pending invitations allowed"),
])
def test_each_report_takes_2_from_the_daily_and_4_from_the_pending_quota_down_to_none(app, reports, left, says):
    for invitation in send_many(app, reports):
        app.report(invitation, app.get(invitation, SENDER)[0].recipient_id, "unwanted")  # declined, so not pending
    send_many(app, left)  # L2: 10 a day and 20 pending, less what was already sent today
    with pytest.raises(TooManyRequestsError, match=says) as refused:
        send_many(app, 1)
    assert refused.value.code == ErrorCode.INVITATION_QUOTA


def test_a_daily_quota_reports_took_to_none_refuses_with_a_days_wait_while_pending_has_room(app, clock,
                                                                                          monkeypatch):
    # Today both quotas reach none at the same report; with more pending room the daily one ran
    # out first and the refusal looked for the oldest send of the last day among none (a 500).
    monkeypatch.setitem(QUOTAS, "L2", (24, 10))
    for invitation in send_many(app, 5):
        app.report(invitation, app.get(invitation, SENDER)[0].recipient_id, "unwanted")
    clock.now += timedelta(days=2)
    with pytest.raises(TooManyRequestsError, match="allowed in 24 hours") as refused:
        send_many(app, 1)
    assert (refused.value.code, refused.value.retry_after) == (ErrorCode.INVITATION_QUOTA, 86_400)


def accept(app, invitation, account, status: str = "claimed", owner: UUID | None = OWNER):
    return app.accept(invitation, account, recipient_record_status=status, recipient_record_owner=owner)


def test_only_the_sender_withdraws_and_only_the_recipient_answers_or_reports(app):
    invitation = app.send(SENDER, facts(OWNER), "hello", None, None)
    refusals = []
    for attempt in (lambda: app.withdraw(invitation, OWNER), lambda: app.decline(invitation, SENDER),
                    lambda: accept(app, invitation, SENDER), lambda: app.report(invitation, SENDER, "spam")):
        with pytest.raises(ForbiddenError) as refused:
            attempt()
        refusals.append((refused.value.code, refused.value.detail))
    assert refusals == [("not_a_party", "only the sender can withdraw an invitation")] + \
        [("not_a_party", "only the recipient can answer an invitation")] * 2 + \
        [("not_a_party", "only the recipient can report an invitation")]
    with pytest.raises(NotFoundError, match="no such invitation"):  # to anyone else it does not exist
        app.withdraw(invitation, uuid4())
    assert app.get(invitation, SENDER)[0].status == "pending"


def test_an_invitation_is_answered_once_and_not_after_it_expires(app, clock):
    answered = app.send(SENDER, facts(OWNER), "hello", None, None)
    app.decline(answered, OWNER)
    with pytest.raises(ConflictError, match="this invitation is declined already") as again:
        accept(app, answered, OWNER)
    assert (again.value.code, again.value.facts) == ("invitation_not_pending", {"invitation_status": "declined"})

    early, late = uuid4(), uuid4()
    sent = {who: app.send(SENDER, facts(who), "hello", None, None) for who in (early, late)}
    clock.now += timedelta(days=14) - timedelta(seconds=1)
    assert accept(app, sent[early], early, owner=early)  # a second before it expires
    clock.now += timedelta(seconds=1)  # 14 days after it was sent: expired
    with pytest.raises(ConflictError, match="has expired") as expired:
        accept(app, sent[late], late, owner=late)
    assert expired.value.code == "invitation_expired"


def test_an_invitation_is_accepted_only_by_the_records_undisputed_current_owner(app):
    invitation = app.send(SENDER, facts(OWNER), "hello", None, None)
    with pytest.raises(ConflictError) as disputed:
        accept(app, invitation, OWNER, status="disputed")
    with pytest.raises(ConflictError) as released:
        accept(app, invitation, OWNER, owner=None)
    assert (disputed.value.code, released.value.code) == ("recipient_disputed", "not_owner")
    assert accept(app, invitation, OWNER)  # the conversation it opens


def test_a_closed_conversation_takes_no_more_messages(app):
    invitation = app.send(SENDER, facts(OWNER), "hello", None, None)
    conversation = accept(app, invitation, OWNER)
    assert app.post(conversation, SENDER, "first") == 1
    app.close_conversation(conversation, OWNER)
    with pytest.raises(ConflictError, match="this conversation is closed") as closed:
        app.post(conversation, SENDER, "second")
    assert closed.value.code == "conversation_closed"
    with pytest.raises(NotFoundError):
        app.post(conversation, uuid4(), "a stranger's words")
