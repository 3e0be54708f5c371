"""Invitations: direct collaboration between claimed, verified identities, consent first.

The caller reads what other areas know (who owns what at which level, the record's claim
status, how close the two are in the co-author graph) and passes it as facts; this application
decides. Quotas count per sender and are checked and spent under `exclusive(key)`, a lock that
every API process shares (PostgreSQL), so 100 concurrent invitations from one sender cannot
overspend them. Every other race (accept against withdraw, two sends to one pair) ends in one
save conflicting: the loser reads again and is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.accounts.ports import PersonalDataVault
from domain.errors import ConflictError, ErrorCode, DomainError, ForbiddenError, InvalidInputError, NotFoundError, TooManyRequestsError
from domain.text import check_free_text
from domain.invitations.model import (
    PENDING,
    POLICIES,
    Conversation,
    Invitation,
    Inviter,
    Pair,
    Preferences,
    inviter_id,
    pair_id,
    preferences_id,
)

EXPIRES_AFTER = timedelta(days=14)
COOL_DOWN = timedelta(days=21)
MAX_MESSAGES = 1_000
# (pending, per day) by the sender's best verification level; each report takes off this much.
QUOTAS = {"L2": (20, 10), "L3": (40, 20)}
REPORT_PENALTY = (4, 2)
REFUSED = "this researcher does not accept invitations from you"  # the same for every reason

A = TypeVar("A", bound=Aggregate)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class SendFacts:
    """What other areas know, read by the caller from their read models and applications."""

    # Records linked into one person count as the person: its own record stands for all of them.
    sender_records: dict[UUID, str]  # the sender's persons' own records -> their levels
    recipient_record: UUID  # the person's own record, whichever of its records was asked for
    recipient_owner: UUID | None
    recipient_status: str  # unclaimed, claimed, disputed
    distance: int | None  # 1: co-authors; 2: co-authors of co-authors; None: further or unknown
    sender_disputed: frozenset[UUID] = frozenset()  # sender's records under dispute: frozen, as for recipients


@dataclass(frozen=True)
class MessageView:
    number: int
    author_id: UUID
    text: str | None  # None once the author's account is erased
    at: str


class Invitations(Application[UUID]):
    name = "Invitations"

    def __init__(
        self,
        env: Any = None,
        *,
        vault: PersonalDataVault,
        exclusive: Callable[[str], AbstractContextManager[Any]],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(env)
        self.vault = vault
        self.exclusive = exclusive
        self.clock = clock

    # -- sender ---------------------------------------------------------------------------------

    def refusal(self, sender_id: UUID, facts: SendFacts) -> DomainError | None:
        """Why `sender_id` may not invite the record's owner now, or None: the rules `send` applies,
        read without writing (what a profile shows a viewer before they try)."""
        try:
            level, _ = self._sender_level(sender_id, facts)
            recipient = self._recipient(sender_id, facts)
            now = self.clock()
            self._check_quota(self._find(Inviter, inviter_id(sender_id)) or Inviter(account_id=sender_id), level, now)
            self._check_pair(self._find(Pair, pair_id(sender_id, recipient)) or Pair(a=sender_id, b=recipient), now)
        except DomainError as refused:
            return refused
        return None

    def send(self, sender_id: UUID, facts: SendFacts, message: str, topic: str | None, work_id: str | None) -> UUID:
        check_free_text("message", message)
        level, sender_record = self._sender_level(sender_id, facts)
        recipient = self._recipient(sender_id, facts)
        sealed_message = self.vault.seal(sender_id, message)  # before the lock: it needs a connection too
        with self.exclusive(f"inviter:{sender_id}"):
            for _ in range(5):
                now = self.clock()
                inviter = self._find(Inviter, inviter_id(sender_id)) or Inviter(account_id=sender_id)
                self._check_quota(inviter, level, now)
                pair = self._find(Pair, pair_id(sender_id, recipient)) or Pair(a=sender_id, b=recipient)
                self._check_pair(pair, now)
                invitation = Invitation(
                    sender_id=sender_id, recipient_id=recipient, sender_record=sender_record,
                    recipient_record=facts.recipient_record, sealed_message=sealed_message,
                    topic=topic, work_id=work_id, expires_at=now + EXPIRES_AFTER,
                )
                pair.hold(invitation.id)
                inviter.invited(invitation.id, now)
                try:
                    self.save(invitation, pair, inviter)
                    return invitation.id
                except IntegrityError:
                    continue  # the pair or the inviter changed meanwhile (an answer, a report)
        raise ConflictError("invitations between you two are changing too fast; try again", code=ErrorCode.CHANGED_CONCURRENTLY)

    @staticmethod
    def _sender_level(sender_id: UUID, facts: SendFacts) -> tuple[str, UUID]:
        """The sender's best verified, undisputed record and its level; refused without one."""
        verified = {r: level for r, level in facts.sender_records.items() if level in QUOTAS}
        if not verified:
            raise ForbiddenError("only owners of a verified record (L2 or above) can send invitations: claim your "
                                 "author record and verify it with ORCID or an institutional email address first",
                                 code=ErrorCode.SENDER_NOT_VERIFIED)
        verified = {r: level for r, level in verified.items() if r not in facts.sender_disputed}
        if not verified:
            raise ConflictError("your record's ownership is disputed: you can send invitations again once the "
                                "dispute is settled", code=ErrorCode.SENDER_DISPUTED)
        level = max(verified.values())
        return level, min((r for r, lvl in verified.items() if lvl == level), key=str)

    def _recipient(self, sender_id: UUID, facts: SendFacts) -> UUID:
        """The record's owner, if they can be invited by this sender at all."""
        if facts.recipient_owner == sender_id:
            raise InvalidInputError("you cannot invite yourself", code=ErrorCode.INVITATION_TO_SELF)
        if facts.recipient_status == "disputed":
            raise ConflictError("this record's ownership is disputed: invitations to it are frozen until "
                                "the dispute is settled", code=ErrorCode.RECIPIENT_DISPUTED)
        if facts.recipient_owner is None:
            raise ConflictError("this record is not claimed: direct invitations open once its author claims it",
                                code=ErrorCode.RECIPIENT_UNCLAIMED)
        preferences = self._find(Preferences, preferences_id(facts.recipient_owner))
        if preferences is not None and not self._allows(preferences, sender_id, facts.distance):
            raise ForbiddenError(REFUSED, code=ErrorCode.INVITATION_REFUSED)
        return facts.recipient_owner

    @staticmethod
    def _check_pair(pair: Pair, now: datetime) -> None:
        if pair.pending is not None:
            raise ConflictError("an invitation between you two is already pending", code=ErrorCode.INVITATION_PENDING)
        if pair.cool_down_until is not None and pair.cool_down_until > now:
            raise ConflictError("a recent invitation between you two was declined or withdrawn: you can "
                                f"invite again from {pair.cool_down_until.date().isoformat()}",
                                code=ErrorCode.INVITATION_COOLDOWN, until=pair.cool_down_until.isoformat())

    def withdraw(self, invitation_id: UUID, account_id: UUID) -> None:
        self._settle(invitation_id, account_id, "withdraw")

    # -- recipient ------------------------------------------------------------------------------

    def accept(self, invitation_id: UUID, account_id: UUID, *, recipient_record_status: str,
               recipient_record_owner: UUID | None) -> UUID:
        if recipient_record_status == "disputed":
            raise ConflictError("your record's ownership is disputed: invitations are frozen until it is settled",
                                code=ErrorCode.RECIPIENT_DISPUTED)
        if recipient_record_owner != account_id and self._visible(invitation_id, account_id).recipient_id == account_id:
            raise ConflictError("you no longer own the record this invitation was sent to", code=ErrorCode.NOT_OWNER)
        return self._settle(invitation_id, account_id, "accept")

    def decline(self, invitation_id: UUID, account_id: UUID) -> None:
        self._settle(invitation_id, account_id, "decline")

    def report(self, invitation_id: UUID, account_id: UUID, reason: str) -> None:
        """The recipient reports abuse: the sender's quotas shrink, moderators see it, and a
        pending invitation is declined."""
        check_free_text("reason", reason)
        for _ in range(5):
            invitation = self._visible(invitation_id, account_id)
            if invitation.recipient_id != account_id:
                raise ForbiddenError("only the recipient can report an invitation", code=ErrorCode.NOT_A_PARTY)
            if invitation.sealed_report is not None:
                raise ConflictError("you have reported this invitation already", code=ErrorCode.ALREADY_REPORTED)
            invitation.report(self.vault.seal(account_id, reason))
            inviter = self._get(Inviter, inviter_id(invitation.sender_id))
            inviter.reported(invitation.id)
            changed: list[Aggregate] = [invitation, inviter]
            if invitation.status == PENDING:
                changed += self._close(invitation, "decline", inviter)
            try:
                self.save(*{a.id: a for a in changed}.values())
                return
            except IntegrityError:
                continue
        raise ConflictError("this invitation is changing too fast; try again", code=ErrorCode.CHANGED_CONCURRENTLY)

    # -- either party -----------------------------------------------------------------------------

    def get(self, invitation_id: UUID, account_id: UUID) -> tuple[Invitation, str | None, str | None]:
        """The invitation with its note and (for the recipient) the report reason, opened."""
        invitation = self._visible(invitation_id, account_id)
        note = self.vault.open(invitation.sender_id, invitation.sealed_message)
        reason = None
        if invitation.sealed_report is not None and account_id == invitation.recipient_id:
            reason = self.vault.open(invitation.recipient_id, invitation.sealed_report)
        return invitation, note, reason

    def report_reason(self, invitation_id: UUID) -> str | None:
        """For moderators."""
        invitation = self._get(Invitation, invitation_id)
        if invitation.sealed_report is None:
            return None
        return self.vault.open(invitation.recipient_id, invitation.sealed_report)

    # -- policy and blocks ------------------------------------------------------------------------

    def set_policy(self, account_id: UUID, policy: str) -> None:
        if policy not in POLICIES:
            raise InvalidInputError(f"policy must be one of: {', '.join(POLICIES)}")
        preferences = self._find(Preferences, preferences_id(account_id)) or Preferences(account_id=account_id)
        if preferences.policy != policy:
            preferences.set_policy(policy)
        self._save_or_conflict(preferences)

    def policy(self, account_id: UUID) -> tuple[str, list[UUID]]:
        preferences = self._find(Preferences, preferences_id(account_id))
        if preferences is None:
            return "verified", []
        return preferences.policy, [UUID(a) for a in preferences.blocked]

    def block(self, account_id: UUID, blocked: UUID) -> bool:
        """True if newly blocked."""
        if blocked == account_id:
            raise InvalidInputError("you cannot block yourself")
        preferences = self._find(Preferences, preferences_id(account_id)) or Preferences(account_id=account_id)
        if str(blocked) in preferences.blocked:
            return False
        preferences.block(blocked)
        self._save_or_conflict(preferences)
        return True

    def unblock(self, account_id: UUID, blocked: UUID) -> None:
        preferences = self._find(Preferences, preferences_id(account_id))
        if preferences is None or str(blocked) not in preferences.blocked:
            return
        preferences.unblock(blocked)
        self._save_or_conflict(preferences)

    # -- worker -----------------------------------------------------------------------------------

    def expire(self, invitation_id: UUID) -> bool:
        """Expire a pending invitation whose time is up; False if there was nothing to do."""
        for _ in range(5):
            invitation = self._get(Invitation, invitation_id)
            if invitation.status != PENDING or invitation.expires_at > self.clock():
                return False
            changed = self._close(invitation, "expire", None)
            try:
                self.save(*changed)
                return True
            except IntegrityError:
                continue
        return False

    def end_for_erased(self, account_id: UUID, invitation_ids: list[UUID], conversation_ids: list[UUID]) -> int:
        """An account was erased: its pending invitations end (as expired) and its conversations
        close, so nobody answers or writes to someone who is gone. Returns how many changed."""
        changed = 0
        for invitation_id in invitation_ids:
            for _ in range(5):
                invitation = self._find(Invitation, invitation_id)
                if invitation is None or invitation.status != PENDING or not invitation.party(account_id):
                    break
                try:
                    self.save(*self._close(invitation, "expire", None))
                    changed += 1
                    break
                except IntegrityError:
                    continue
        for conversation_id in conversation_ids:
            conversation = self._find(Conversation, conversation_id)
            if conversation is None or conversation.closed_by is not None or account_id not in conversation.participants:
                continue
            conversation.close(account_id)
            try:
                self.save(conversation)
                changed += 1
            except IntegrityError:
                pass  # written to at that moment: closed at the next erasure sweep, if any
        return changed

    # -- conversations ----------------------------------------------------------------------------

    def conversation(self, conversation_id: UUID, account_id: UUID) -> tuple[Conversation, list[MessageView]]:
        conversation = self._conversation(conversation_id, account_id)
        messages = [
            MessageView(m["number"], UUID(m["author_id"]), self.vault.open(UUID(m["author_id"]), m["sealed"]), m["at"])
            for m in conversation.messages
        ]
        return conversation, messages

    def post(self, conversation_id: UUID, account_id: UUID, text: str) -> int:
        check_free_text("text", text)
        for _ in range(5):
            conversation = self._conversation(conversation_id, account_id)
            if conversation.closed_by is not None:
                raise ConflictError("this conversation is closed", code=ErrorCode.CONVERSATION_CLOSED)
            if len(conversation.messages) >= MAX_MESSAGES:
                raise ConflictError(f"this conversation has reached {MAX_MESSAGES} messages: start a new one",
                                    code=ErrorCode.CONVERSATION_FULL)
            conversation.post(account_id, self.vault.seal(account_id, text), self.clock())
            try:
                self.save(conversation)
                return len(conversation.messages)
            except IntegrityError:
                continue  # the other side wrote at the same moment
        raise ConflictError("this conversation is changing too fast; try again", code=ErrorCode.CHANGED_CONCURRENTLY)

    def mark_read(self, conversation_id: UUID, account_id: UUID, number: int) -> None:
        conversation = self._conversation(conversation_id, account_id)
        if number > len(conversation.messages):
            raise InvalidInputError(f"this conversation has {len(conversation.messages)} messages")
        if number > conversation.read.get(str(account_id), 0):
            conversation.mark_read(account_id, number)
            self._save_or_conflict(conversation)

    def close_conversation(self, conversation_id: UUID, account_id: UUID) -> None:
        conversation = self._conversation(conversation_id, account_id)
        if conversation.closed_by is None:
            conversation.close(account_id)
            self._save_or_conflict(conversation)

    # -- inside -----------------------------------------------------------------------------------

    @staticmethod
    def _allows(preferences: Preferences, sender_id: UUID, distance: int | None) -> bool:
        if str(sender_id) in preferences.blocked:
            return False
        if preferences.policy == "nobody":
            return False
        if preferences.policy == "coauthors":
            return distance == 1
        if preferences.policy == "coauthors_of_coauthors":
            return distance in (1, 2)
        return True

    def _check_quota(self, inviter: Inviter, level: str, now: datetime) -> None:
        pending_limit, daily_limit = QUOTAS[level]
        pending_limit = max(0, pending_limit - REPORT_PENALTY[0] * inviter.reports)
        daily_limit = max(0, daily_limit - REPORT_PENALTY[1] * inviter.reports)
        # The same words whatever the limit is, so a sender cannot read reports off it.
        if len(inviter.pending) >= pending_limit:
            raise TooManyRequestsError("you have reached the most pending invitations allowed: wait for answers "
                                       "or withdraw one", retry_after=3600, code=ErrorCode.INVITATION_QUOTA)
        day_ago = now - timedelta(days=1)
        if inviter.sent_since(day_ago) >= daily_limit:
            recent = [at for at in inviter.recent if at > day_ago]
            # Reports can take the daily quota to none: then no send of the last day frees a place.
            wait = int((min(recent) + timedelta(days=1) - now).total_seconds()) + 1 if recent else 86_400
            raise TooManyRequestsError("you have sent the most invitations allowed in 24 hours",
                                       retry_after=max(wait, 1), code=ErrorCode.INVITATION_QUOTA)

    def _settle(self, invitation_id: UUID, account_id: UUID, how: str) -> Any:
        for _ in range(5):
            invitation = self._visible(invitation_id, account_id)
            who = invitation.sender_id if how == "withdraw" else invitation.recipient_id
            if account_id != who:
                raise ForbiddenError("only the sender can withdraw an invitation" if how == "withdraw"
                                     else "only the recipient can answer an invitation", code=ErrorCode.NOT_A_PARTY)
            if invitation.status != PENDING:
                raise ConflictError(f"this invitation is {invitation.status} already",
                                    code=ErrorCode.INVITATION_NOT_PENDING, invitation_status=invitation.status)
            if invitation.expires_at <= self.clock():
                raise ConflictError("this invitation has expired", code=ErrorCode.INVITATION_EXPIRED)
            inviter = self._get(Inviter, inviter_id(invitation.sender_id))
            changed = self._close(invitation, how, inviter)
            try:
                self.save(*changed)
            except IntegrityError:
                continue  # answered, withdrawn or reported meanwhile: read it again
            return invitation.conversation_id
        raise ConflictError("this invitation is changing too fast; try again", code=ErrorCode.CHANGED_CONCURRENTLY)

    def _close(self, invitation: Invitation, how: str, inviter: Inviter | None) -> list[Aggregate]:
        """The invitation's end, with what it changes on the pair and the sender's count."""
        inviter = inviter or self._get(Inviter, inviter_id(invitation.sender_id))
        pair = self._get(Pair, pair_id(invitation.sender_id, invitation.recipient_id))
        changed: list[Aggregate] = [invitation, pair, inviter]
        cool_down = None
        if how == "accept":
            conversation = Conversation(invitation_id=invitation.id,
                                        participants=[invitation.sender_id, invitation.recipient_id])
            invitation.accept(conversation.id)
            changed.append(conversation)
        elif how == "decline":
            invitation.decline()
            cool_down = self.clock() + COOL_DOWN
        elif how == "withdraw":
            invitation.withdraw()
            cool_down = self.clock() + COOL_DOWN
        else:
            invitation.expire()
        pair.settle(invitation.id, cool_down)
        inviter.settled(invitation.id)
        return changed

    def _visible(self, invitation_id: UUID, account_id: UUID) -> Invitation:
        invitation = self._find(Invitation, invitation_id)
        if invitation is None or not invitation.party(account_id):
            raise NotFoundError("no such invitation")  # the same for those who may not see it
        return invitation

    def _conversation(self, conversation_id: UUID, account_id: UUID) -> Conversation:
        conversation = self._find(Conversation, conversation_id)
        if conversation is None or account_id not in conversation.participants:
            raise NotFoundError("no such conversation")
        return conversation

    def _find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    def _get(self, kind: type[A], aggregate_id: UUID) -> A:
        found = self._find(kind, aggregate_id)
        if found is None:
            raise DomainError(f"missing {kind.__name__} {aggregate_id}")
        return found

    def _save_or_conflict(self, *aggregates: Aggregate) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise ConflictError("this changed at the same moment elsewhere; try again", code=ErrorCode.CHANGED_CONCURRENTLY) from None

