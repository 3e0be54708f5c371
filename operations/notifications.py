"""Notifications for people: new followers, invitations received and answered, messages and
closed conversations, moderators' questions on claims, claims decided, verification changed.
Each carries the ids it is about and the public names a list needs to show it.

`Notifier.handle` turns one relayed event into the notifications it causes and stores them
keyed by (application, notification id, recipient), so handling an event twice changes nothing.
Events come either from JetStream (`peerledger worker notify`) or, in the embedded default,
straight from the logs in process (workers/notify.py: `LocalNotifier`).
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from adapters.nats import RelayedEvent
from adapters.notification_store import NotificationStore
from domain.claims.model import Claim, Record
from domain.follows.model import Follow
from domain.invitations.model import Conversation, Invitation

MAIL_SUBJECTS = {
    "new_follower": "You have a new follower",
    "invitation_received": "You have an invitation to collaborate",
    "invitation_accepted": "Your invitation was accepted",
    "invitation_declined": "Your invitation was declined",
    "claim_approved": "Your claim was approved",
    "claim_rejected": "Your claim was rejected",
    "verification_changed": "Your record's verification changed",
    "message_received": "You have a new message",
    "conversation_closed": "A conversation was closed",
    "claim_question": "A moderator asks about your claim",
}
FOLLOW_WINDOW = timedelta(hours=24)  # one new_follower per follower and record in this time
MESSAGE_WINDOW = timedelta(minutes=15)  # one message_received per conversation and reader in this time
NAMED = {"follower_id": "follower_name", "sender_id": "sender_name", "author_id": "author_name"}


class Notifier:
    def __init__(self, services: Any, store: NotificationStore) -> None:
        self.services = services
        self.store = store
        self.apps = dict(services.applications)

    def handle(self, event: RelayedEvent) -> int:
        """Store the notifications `event` causes; returns how many were new."""
        app = self.apps[event.application]
        if event.state_omitted:  # too large for NATS: read from the log
            [n] = app.recorder.select_notifications(start=event.notification_id, limit=1)
            stored = StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
        else:
            stored = StoredEvent(UUID(event.originator_id), event.originator_version, event.topic,
                                 bytes(event.state))
        domain_event = app.mapper.to_domain_event(stored)
        at = domain_event.timestamp.astimezone(timezone.utc).isoformat()
        new = 0
        for account, kind, data in self.with_names(self.notifications_for(domain_event)):
            once_per = None
            if kind == "new_follower":  # following and unfollowing again and again tells the owner once
                once_per = (f"new_follower:{account}:{data['researcher_id']}:{data['follower_id']}", FOLLOW_WINDOW)
            elif kind == "message_received":  # a lively conversation tells its reader now and then
                once_per = (f"message_received:{account}:{data['conversation_id']}", MESSAGE_WINDOW)
            key = f"{event.application}:{event.notification_id}:{account}"
            address, wanted = self.services.accounts.mail_notifications(account)
            if self.store.add(key, str(account), kind, data, at, once_per, mail=address is not None and kind in wanted):
                new += 1
            # New, or stored by a try that died before its mail went out: the outbox says which.
            self.send_owed_mail(key)
        return new

    def send_owed_mail(self, key: str) -> bool:
        """Send the mail owed for a notification, then mark it sent. A crash between the two sends
        it again with the same Message-ID (the mailer's idempotency key): one message to the reader."""
        owed = self.store.owed_mail(key)
        if owed is None:
            return False
        address, _ = self.services.accounts.mail_notifications(UUID(owed["account_id"]))
        if address is not None:  # else erased or unconfirmed since: nobody to mail
            subject = MAIL_SUBJECTS.get(owed["kind"], "News on PeerLedger")
            details = "\n".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(owed["data"].items()))
            self.services.mailer.send(address, subject, f"{subject}.\n\n{details}\n\nChange what we mail you at "
                                                        "PUT /me/notification-settings.",
                                      account_id=UUID(owed["account_id"]), idempotency_key=f"notification:{key}")
        self.store.mail_sent(key)
        return True

    def with_names(self, found: list[tuple[UUID, str, dict[str, Any]]]) -> list[tuple[UUID, str, dict[str, Any]]]:
        """Each account a notification names (follower, sender, author, closer) with its public name
        beside it (null once erased), read when the notification is made."""
        people = {v for _, _, data in found for k, v in data.items() if k in NAMED}
        names = self.services.profiles_view.owner_names(sorted(people)) if people else {}
        return [(account, kind, {**data, **{NAMED[k]: names.get(v) for k, v in data.items() if k in NAMED}})
                for account, kind, data in found]

    def notifications_for(self, e: Any) -> list[tuple[UUID, str, dict[str, Any]]]:
        s = self.services
        if isinstance(e, Follow.Started | Follow.Followed):
            _, owners = s.profiles_view.existing_and_owners([str(e.researcher_id)])
            owner = owners.get(str(e.researcher_id))
            if owner and owner != str(e.account_id):
                return [(UUID(owner), "new_follower", {"researcher_id": str(e.researcher_id),
                                                       "follower_id": str(e.account_id)})]
        elif isinstance(e, Invitation.Sent):
            return [(e.recipient_id, "invitation_received", {"invitation_id": str(e.originator_id),
                                                             "sender_id": str(e.sender_id)})]
        elif isinstance(e, Invitation.Accepted | Invitation.Declined):
            invitation = s.invitations.repository.get(e.originator_id)
            kind = "invitation_accepted" if isinstance(e, Invitation.Accepted) else "invitation_declined"
            return [(invitation.sender_id, kind, {"invitation_id": str(e.originator_id)})]
        elif isinstance(e, Claim.Approved | Claim.Rejected):
            kind = "claim_approved" if isinstance(e, Claim.Approved) else "claim_rejected"
            return [(s.claims.claimant(e.originator_id), kind, {"claim_id": str(e.originator_id)})]
        elif isinstance(e, Conversation.MessagePosted | Conversation.Closed):
            conversation = s.invitations.repository.get(e.originator_id)
            by = e.author_id if isinstance(e, Conversation.MessagePosted) else e.by
            kind = "message_received" if isinstance(e, Conversation.MessagePosted) else "conversation_closed"
            return [(other, kind, {"conversation_id": str(e.originator_id), "author_id": str(by)})
                    for other in conversation.participants if other != by]
        elif isinstance(e, Claim.InfoRequested):
            return [(s.claims.claimant(e.originator_id), "claim_question", {"claim_id": str(e.originator_id),
                                                                            "question": e.question})]
        elif isinstance(e, Record.VerificationChanged):
            record = s.claims.repository.get(e.originator_id)
            if record.owner is not None:
                return [(record.owner, "verification_changed", {
                    "researcher_id": str(record.researcher_id), "old_level": e.old_level, "new_level": e.new_level})]
        return []
