"""Account, EmailAddress and Session aggregates.

Personal fields (email, display name, password hash) are stored sealed with the account's own
key; erasure destroys the key and records `Erased`. An EmailAddress aggregate, whose id is
derived from a keyed hash of the address, makes an address belong to at most one live account,
whatever the timing. A Session holds the hash of its current refresh secret, rotated on use.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.catalogue.model import PEERLEDGER_NAMESPACE

ROLES = ("member", "moderator", "admin")


def email_address_id(email_key: str) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"email:{email_key}")


class Account(Aggregate):
    class Registered(Aggregate.Created):
        account_id: UUID  # chosen before creation: personal fields are sealed with its key
        sealed_email: str
        sealed_display_name: str
        sealed_password_hash: str
        email_key: str

    class ConfirmationCodeIssued(Aggregate.Event):
        code_hash: str
        expires_at: datetime

    class EmailConfirmed(Aggregate.Event):
        pass

    class PasswordRehashed(Aggregate.Event):
        sealed_password_hash: str

    class RoleGranted(Aggregate.Event):
        role: str
        granted_by: str

    class RoleRevoked(Aggregate.Event):
        role: str
        revoked_by: str

    class Erased(Aggregate.Event):
        pass

    class MailNotificationsSet(Aggregate.Event):
        kinds: list[str]  # the notifications this person also wants by mail

    class PasswordChanged(Aggregate.Event):
        sealed_password_hash: str
        kept_session: UUID | None  # the session that changed it; every other one ends

        def apply(self, aggregate: Account) -> None:
            aggregate.sealed_password_hash = self.sealed_password_hash
            aggregate.sessions_ended_at = self.timestamp  # sessions are timed by their events too
            aggregate.kept_session = self.kept_session
            aggregate.reset_code_hash = aggregate.reset_expires_at = None  # a reset code is spent, or void

    class PasswordResetCodeIssued(Aggregate.Event):
        code_hash: str
        expires_at: datetime

    class PasswordResetCodeFailed(Aggregate.Event):
        pass

    class DisplayNameChanged(Aggregate.Event):
        sealed_display_name: str

    # Defaults for accounts recorded (or snapshotted) before these facts existed.
    sessions_ended_at: datetime | None = None  # sessions started before then have ended...
    kept_session: UUID | None = None  # ...but this one
    reset_code_hash: str | None = None
    reset_expires_at: datetime | None = None
    reset_failures = 0

    @event(Registered)
    def __init__(
        self, account_id: UUID, sealed_email: str, sealed_display_name: str, sealed_password_hash: str, email_key: str
    ) -> None:
        self.sealed_email = sealed_email
        self.sealed_display_name = sealed_display_name
        self.sealed_password_hash = sealed_password_hash
        self.email_key = email_key
        self.email_confirmed = False
        self.code_hash: str | None = None
        self.code_expires_at: datetime | None = None
        self.roles: set[str] = {"member"}
        self.erased = False

    @classmethod
    def create_id(cls, account_id: UUID, **_: object) -> UUID:
        return account_id

    @property
    def mail_notifications(self) -> list[str]:
        return getattr(self, "_mail_notifications", [])

    @event(MailNotificationsSet)
    def set_mail_notifications(self, kinds: list[str]) -> None:
        self._mail_notifications = kinds

    @event(ConfirmationCodeIssued)
    def issue_confirmation_code(self, code_hash: str, expires_at: datetime) -> None:
        self.code_hash = code_hash
        self.code_expires_at = expires_at

    @event(EmailConfirmed)
    def confirm_email(self) -> None:
        # The code stays until it lapses, so confirming twice with it is harmless; nothing else opens it.
        self.email_confirmed = True

    @event(PasswordRehashed)
    def rehash_password(self, sealed_password_hash: str) -> None:
        self.sealed_password_hash = sealed_password_hash

    def grant(self, role: str, granted_by: str) -> bool:
        if role in self.roles:
            return False
        self._grant(role, granted_by)
        return True

    @event(RoleGranted)
    def _grant(self, role: str, granted_by: str) -> None:
        self.roles.add(role)

    def revoke(self, role: str, revoked_by: str) -> bool:
        if role not in self.roles or role == "member":
            return False
        self._revoke(role, revoked_by)
        return True

    @event(RoleRevoked)
    def _revoke(self, role: str, revoked_by: str) -> None:
        self.roles.discard(role)

    def change_password(self, sealed_password_hash: str, kept_session: UUID | None) -> None:
        self.trigger_event(self.PasswordChanged, sealed_password_hash=sealed_password_hash, kept_session=kept_session)

    def session_is_current(self, session_id: UUID, started_at: datetime) -> bool:
        """A session lives on after a password change only if it made the change."""
        return self.sessions_ended_at is None or session_id == self.kept_session or started_at > self.sessions_ended_at

    @event(PasswordResetCodeIssued)
    def issue_reset_code(self, code_hash: str, expires_at: datetime) -> None:
        self.reset_code_hash = code_hash
        self.reset_expires_at = expires_at
        self.reset_failures = 0

    @event(PasswordResetCodeFailed)
    def fail_reset_code(self) -> None:
        self.reset_failures += 1

    @event(DisplayNameChanged)
    def change_display_name(self, sealed_display_name: str) -> None:
        self.sealed_display_name = sealed_display_name

    @event(Erased)
    def erase(self) -> None:
        self.erased = True
        self.roles = set()
        self.code_hash = None
        self.reset_code_hash = None


class EmailAddress(Aggregate):
    """Which live account an address belongs to. Released on erasure, so it can be used again."""

    class Reserved(Aggregate.Created):
        account_id: UUID
        email_key: str

    class Released(Aggregate.Event):
        pass

    class ReservedAgain(Aggregate.Event):
        account_id: UUID

    @event(Reserved)
    def __init__(self, account_id: UUID, email_key: str) -> None:
        self.account_id: UUID | None = account_id
        self.email_key = email_key

    @classmethod
    def create_id(cls, account_id: UUID, email_key: str) -> UUID:  # noqa: ARG003
        return email_address_id(email_key)

    @event(Released)
    def release(self) -> None:
        self.account_id = None

    @event(ReservedAgain)
    def reserve_again(self, account_id: UUID) -> None:
        self.account_id = account_id


class Session(Aggregate):
    """A login: refresh secrets rotate on every use; presenting an old one revokes the session."""

    class Started(Aggregate.Created):
        account_id: UUID
        secret_hash: str
        expires_at: datetime

    class Rotated(Aggregate.Event):
        secret_hash: str
        expires_at: datetime

    class Revoked(Aggregate.Event):
        reason: str

    @event(Started)
    def __init__(self, account_id: UUID, secret_hash: str, expires_at: datetime) -> None:
        self.account_id = account_id
        self.secret_hash = secret_hash
        self.expires_at = expires_at
        self.revoked = False

    @event(Rotated)
    def rotate(self, secret_hash: str, expires_at: datetime) -> None:
        self.secret_hash = secret_hash
        self.expires_at = expires_at

    @event(Revoked)
    def revoke(self, reason: str) -> None:
        self.revoked = True
