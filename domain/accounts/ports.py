"""What the accounts area needs from outside: sealing personal data, hashing passwords, mail."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class PersonalDataVault(Protocol):
    """Encrypts personal fields with a key per subject, kept outside the events.

    Destroying a subject's key makes every sealed value of that subject unreadable forever
    (crypto-shredding): the events keep their place in history, their personal content is gone.
    """

    def seal(self, subject_id: UUID, plaintext: str) -> str: ...

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        """The plaintext, or None once the subject's key was destroyed."""

    def destroy(self, subject_id: UUID) -> None: ...

    def email_key(self, email: str) -> str:
        """A keyed hash of a normalised email address: finds an account without storing the address."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str, *, account_id: UUID | None = None,
             idempotency_key: str | None = None) -> None:
        """Mail `to`; `account_id` is the person the mail is for or about (a claimant's code goes to
        an institutional address that is not the account's own). Sent again with the same
        `idempotency_key`, it is the same message (the same Message-ID; one file in the folder)."""

    def forget(self, account_id: UUID, address: str | None) -> None:
        """Drop any copy kept on our side of mail for this account or to this address (erasure)."""
