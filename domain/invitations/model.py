"""Invitation, Pair, Inviter, Preferences and Conversation aggregates.

An Invitation goes from one owner of a verified record to the owner of another claimed record.
The Pair (both people, in either direction) holds "at most one pending" and the cool-down after
a decline or a withdrawal; the Inviter holds what the quotas count; Preferences hold who may
invite a person and whom they blocked. Accepting opens a Conversation. Texts (the invitation's
note, messages, report reasons) are sealed with their author's key: erasing the author shreds
them and leaves the history in place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.catalogue.model import PEERLEDGER_NAMESPACE

POLICIES = ("verified", "coauthors", "coauthors_of_coauthors", "nobody")
PENDING = "pending"  # one word for it everywhere: README, API, query filters
TERMINAL = ("accepted", "declined", "withdrawn", "expired")


def pair_id(a: UUID, b: UUID) -> UUID:
    first, second = sorted((str(a), str(b)))
    return uuid5(PEERLEDGER_NAMESPACE, f"invitations:pair:{first}:{second}")


def inviter_id(account_id: UUID) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"invitations:inviter:{account_id}")


def preferences_id(account_id: UUID) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"invitations:preferences:{account_id}")


def conversation_id_for(invitation_id: UUID) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"invitations:conversation:{invitation_id}")


class Invitation(Aggregate):
    class Sent(Aggregate.Created):
        sender_id: UUID
        recipient_id: UUID
        sender_record: UUID
        recipient_record: UUID
        sealed_message: str
        topic: str | None
        work_id: str | None
        expires_at: datetime

    class Accepted(Aggregate.Event):
        conversation_id: UUID

    class Declined(Aggregate.Event):
        pass

    class Withdrawn(Aggregate.Event):
        pass

    class Expired(Aggregate.Event):
        pass

    class Reported(Aggregate.Event):
        sealed_reason: str  # sealed with the recipient's key

    @event(Sent)
    def __init__(self, sender_id: UUID, recipient_id: UUID, sender_record: UUID, recipient_record: UUID,
                 sealed_message: str, topic: str | None, work_id: str | None, expires_at: datetime) -> None:
        self.sender_id = sender_id
        self.recipient_id = recipient_id
        self.sender_record = sender_record
        self.recipient_record = recipient_record
        self.sealed_message = sealed_message
        self.topic = topic
        self.work_id = work_id
        self.expires_at = expires_at
        self.status = PENDING
        self.conversation_id: UUID | None = None
        self.sealed_report: str | None = None

    def party(self, account_id: UUID) -> bool:
        return account_id in (self.sender_id, self.recipient_id)

    @event(Accepted)
    def accept(self, conversation_id: UUID) -> None:
        self.status = "accepted"
        self.conversation_id = conversation_id

    @event(Declined)
    def decline(self) -> None:
        self.status = "declined"

    @event(Withdrawn)
    def withdraw(self) -> None:
        self.status = "withdrawn"

    @event(Expired)
    def expire(self) -> None:
        self.status = "expired"

    @event(Reported)
    def report(self, sealed_reason: str) -> None:
        self.sealed_report = sealed_reason


class Pair(Aggregate):
    """Two people, whichever invited whom: one pending invitation at most, and the cool-down."""

    class Started(Aggregate.Created):
        a: UUID
        b: UUID

    class Pending(Aggregate.Event):
        invitation_id: UUID

    class Settled(Aggregate.Event):
        invitation_id: UUID
        cool_down_until: datetime | None

    @event(Started)
    def __init__(self, a: UUID, b: UUID) -> None:
        self.a, self.b = a, b
        self.pending: UUID | None = None
        self.cool_down_until: datetime | None = None

    @classmethod
    def create_id(cls, a: UUID, b: UUID, **_: Any) -> UUID:
        return pair_id(a, b)

    @event(Pending)
    def hold(self, invitation_id: UUID) -> None:
        self.pending = invitation_id

    @event(Settled)
    def settle(self, invitation_id: UUID, cool_down_until: datetime | None) -> None:
        self.pending = None
        if cool_down_until is not None:
            self.cool_down_until = cool_down_until


class Inviter(Aggregate):
    """What a sender's quotas count: pending invitations, those sent in the last day, reports."""

    class Started(Aggregate.Created):
        account_id: UUID

    class Invited(Aggregate.Event):
        invitation_id: UUID
        at: datetime

    class Settled(Aggregate.Event):
        invitation_id: UUID

    class Reported(Aggregate.Event):
        invitation_id: UUID

    @event(Started)
    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id
        self.pending: list[str] = []
        self.recent: list[datetime] = []  # send times within the last day
        self.reports = 0

    @classmethod
    def create_id(cls, account_id: UUID, **_: Any) -> UUID:
        return inviter_id(account_id)

    def sent_since(self, since: datetime) -> int:
        return sum(1 for at in self.recent if at > since)

    @event(Invited)
    def invited(self, invitation_id: UUID, at: datetime) -> None:
        self.pending.append(str(invitation_id))
        self.recent = [t for t in self.recent if t > at - timedelta(days=1)] + [at]

    @event(Settled)
    def settled(self, invitation_id: UUID) -> None:
        if str(invitation_id) in self.pending:
            self.pending.remove(str(invitation_id))

    @event(Reported)
    def reported(self, invitation_id: UUID) -> None:
        self.reports += 1


class Preferences(Aggregate):
    """Who may invite this person, and whom they blocked."""

    class Started(Aggregate.Created):
        account_id: UUID

    class PolicySet(Aggregate.Event):
        policy: str

    class Blocked(Aggregate.Event):
        account_id: UUID

    class Unblocked(Aggregate.Event):
        account_id: UUID

    @event(Started)
    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id
        self.policy = "verified"
        self.blocked: list[str] = []

    @classmethod
    def create_id(cls, account_id: UUID, **_: Any) -> UUID:
        return preferences_id(account_id)

    @event(PolicySet)
    def set_policy(self, policy: str) -> None:
        self.policy = policy

    @event(Blocked)
    def block(self, account_id: UUID) -> None:
        self.blocked.append(str(account_id))

    @event(Unblocked)
    def unblock(self, account_id: UUID) -> None:
        self.blocked.remove(str(account_id))


class Conversation(Aggregate):
    class Opened(Aggregate.Created):
        invitation_id: UUID
        participants: list[UUID]

    class MessagePosted(Aggregate.Event):
        author_id: UUID
        sealed_text: str
        at: datetime

    class ReadUpTo(Aggregate.Event):
        account_id: UUID
        number: int

    class Closed(Aggregate.Event):
        by: UUID

    @event(Opened)
    def __init__(self, invitation_id: UUID, participants: list[UUID]) -> None:
        self.invitation_id = invitation_id
        self.participants = participants
        self.messages: list[dict[str, Any]] = []  # number, author, sealed text, time
        self.read: dict[str, int] = {str(p): 0 for p in participants}
        self.closed_by: UUID | None = None

    @classmethod
    def create_id(cls, invitation_id: UUID, **_: Any) -> UUID:
        return conversation_id_for(invitation_id)

    @event(MessagePosted)
    def post(self, author_id: UUID, sealed_text: str, at: datetime) -> None:
        number = len(self.messages) + 1
        self.messages.append({"number": number, "author_id": str(author_id), "sealed": sealed_text,
                              "at": at.isoformat()})
        self.read[str(author_id)] = number  # one has read what one wrote

    @event(ReadUpTo)
    def mark_read(self, account_id: UUID, number: int) -> None:
        self.read[str(account_id)] = number

    @event(Closed)
    def close(self, by: UUID) -> None:
        self.closed_by = by
