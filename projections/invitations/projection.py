"""InvitationsProjection: invitation and conversation events -> boxes, counts and reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.invitations.model import Conversation, Invitation
from projections.invitations.view import InvitationsView

STATUS = {Invitation.Declined: "declined", Invitation.Withdrawn: "withdrawn", Invitation.Expired: "expired"}


class InvitationsProjection(Projection[InvitationsView]):
    name = "invitations"
    topics = ()

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([domain_event], tracking)

    def process_batch(self, events: Sequence[Any], tracking: Tracking) -> None:
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for e in events:
            iid = str(e.originator_id)
            if isinstance(e, Invitation.Sent):
                statements.append((
                    "INSERT INTO {invitations} (id, sender_id, recipient_id, sender_record, recipient_record,"
                    " status, topic, work_id, sent_at, expires_at) VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING",
                    (iid, str(e.sender_id), str(e.recipient_id), str(e.sender_record), str(e.recipient_record),
                     e.topic, e.work_id, e.timestamp.isoformat(), e.expires_at.isoformat()),
                ))
            elif isinstance(e, Invitation.Accepted):
                statements.append(("UPDATE {invitations} SET status = 'accepted', conversation_id = %s WHERE id = %s",
                                   (str(e.conversation_id), iid)))
            elif type(e) in STATUS:
                statements.append(("UPDATE {invitations} SET status = %s WHERE id = %s", (STATUS[type(e)], iid)))
            elif isinstance(e, Invitation.Reported):
                statements.append((
                    "INSERT INTO {reports} (invitation_id, sender_id, recipient_id, reported_at)"
                    " SELECT id, sender_id, recipient_id, %s FROM {invitations} WHERE id = %s"
                    " ON CONFLICT (invitation_id) DO NOTHING",
                    (e.timestamp.isoformat(), iid),
                ))
            elif isinstance(e, Conversation.Opened):
                first, second = (str(p) for p in e.participants)
                statements.append((
                    "INSERT INTO {conversations} (id, first_id, second_id, messages, first_read, second_read, closed,"
                    " invitation_id, active_at) VALUES (%s, %s, %s, 0, 0, 0, 0, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (iid, first, second, str(e.invitation_id), e.timestamp.isoformat())))
            elif isinstance(e, Conversation.MessagePosted | Conversation.ReadUpTo):
                author = str(e.author_id if isinstance(e, Conversation.MessagePosted) else e.account_id)
                posted = isinstance(e, Conversation.MessagePosted)
                bump = "messages = messages + 1, active_at = %s, " if posted else ""
                number = "messages + 1" if posted else "%s"
                params: tuple[Any, ...] = () if posted else (e.number,)
                statements.append((
                    f"UPDATE {{conversations}} SET {bump}"
                    f"first_read = CASE WHEN first_id = %s THEN {number} ELSE first_read END,"
                    f" second_read = CASE WHEN second_id = %s THEN {number} ELSE second_read END WHERE id = %s",
                    ((e.timestamp.isoformat(),) if posted else ()) + (author, *params, author, *params, iid)))
            elif isinstance(e, Conversation.Closed):
                statements.append(("UPDATE {conversations} SET closed = 1, active_at = %s WHERE id = %s",
                                   (e.timestamp.isoformat(), iid)))
        self.view.apply_batch(statements, tracking)
