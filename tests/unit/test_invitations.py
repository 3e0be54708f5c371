"""Invitation rules on the in-memory event store: quotas by level, reports, cool-downs, policies."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from domain.errors import ConflictError, ForbiddenError, TooManyRequestsError
from domain.invitations.application import REFUSED, Invitations, SendFacts
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
