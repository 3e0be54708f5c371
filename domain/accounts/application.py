"""Accounts: registration, email confirmation, login sessions, roles and erasure."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.accounts.model import ROLES, Account, EmailAddress, Session, email_address_id
from domain.accounts.ports import Mailer, PasswordHasher, PersonalDataVault
from domain.text import check_name
from domain.errors import (
    AccountNotFoundError,
    EmailTakenError,
    InvalidConfirmationCodeError,
    InvalidCredentialsError,
    InvalidInputError,
    InvalidRefreshTokenError,
    InvalidResetCodeError,
    UnavailableError,
    WeakPasswordError,
    WrongPasswordError,
)

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
RESET_CODE_GUESSES = 5  # wrong codes before a reset code is void


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# A bare address (RFC 5321 dot-atom local part, DNS domain): no display names, comments,
# lists or quoting, so the address confirmed is exactly the one the code was mailed to.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def normalise_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not _ADDRESS.match(email):
        raise InvalidInputError(f"{email!r} is not an email address (a plain address like name@example.org)")
    return email.lower()


def check_display_name(name: str) -> str:
    return check_name("display_name", name)


def check_password(password: str, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().lower() == email.strip().lower():
        raise WeakPasswordError("the password must not be the email address")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class AccountView:
    """An account as its owner sees it (personal fields opened with the account's key)."""

    id: UUID
    email: str | None
    display_name: str | None
    email_confirmed: bool
    roles: list[str]
    erased: bool


@dataclass(frozen=True)
class LoggedIn:
    account_id: UUID
    roles: list[str]
    session_id: UUID
    refresh_token: str
    refresh_expires_at: datetime


NOTIFICATION_KINDS = ("new_follower", "invitation_received", "invitation_accepted", "invitation_declined",
                      "claim_approved", "claim_rejected", "verification_changed", "message_received",
                      "conversation_closed", "claim_question")


class Accounts(Application[UUID]):
    name = "Accounts"

    def __init__(
        self,
        env: Any = None,
        *,
        vault: PersonalDataVault,
        hasher: PasswordHasher,
        mailer: Mailer,
        clock: Callable[[], datetime] = utcnow,
        code_ttl: timedelta = timedelta(minutes=30),
        session_ttl: timedelta = timedelta(days=30),
    ) -> None:
        super().__init__(env)
        self.vault = vault
        self.hasher = hasher
        self.mailer = mailer
        self.clock = clock
        self.code_ttl = code_ttl
        self.session_ttl = session_ttl
        # Compared against when the address is unknown, so a login takes as long either way.
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(16))

    # -- registration and confirmation ------------------------------------------------------

    def register(self, email: str, password: str, display_name: str) -> UUID:
        email = normalise_email(email)
        check_password(password, email)
        display_name = check_display_name(display_name)
        email_key = self.vault.email_key(email)
        address = self._email_address(email_key)
        squatter = None
        if address is not None and address.account_id is not None:
            squatter = self._abandoned(address.account_id)
            if squatter is None:
                raise EmailTakenError
        account_id = uuid4()
        password_hash = self.hasher.hash(password)
        account = Account(
            account_id=account_id,
            sealed_email=self.vault.seal(account_id, email),
            sealed_display_name=self.vault.seal(account_id, display_name),
            sealed_password_hash=self.vault.seal(account_id, password_hash),
            email_key=email_key,
        )
        changed: list[Any] = [account]
        if squatter is not None:
            # Never confirmed, and its code has lapsed: the address goes to whoever can confirm it.
            self.vault.destroy(squatter.id)
            squatter.erase()
            changed.append(squatter)
        if address is None:
            address = EmailAddress(account_id=account_id, email_key=email_key)
        else:
            if address.account_id is not None:
                address.release()
            address.reserve_again(account_id)
        code = self._issue_code(account)
        try:
            # One atomic save: a concurrent registration of the same address conflicts here.
            self.save(*changed, address)
        except IntegrityError:
            self.vault.destroy(account_id)
            raise EmailTakenError from None
        self._send_code_or_log(email, code, account_id)
        return account_id

    def _abandoned(self, account_id: UUID) -> Account | None:
        """An account that never confirmed its address and whose last code has lapsed."""
        account = self._account(account_id)
        if account.email_confirmed or account.erased:
            return None
        if account.code_expires_at is not None and account.code_expires_at > self.clock():
            return None
        return account

    def resend_code(self, email: str) -> None:
        """Issue a new code. Says nothing about whether the address has an account."""
        account = self._account_by_email(normalise_email(email))
        if account is None or account.email_confirmed:
            return
        code = self._issue_code(account)
        self.save(account)
        address = self._open(account, account.sealed_email)
        if address:
            try:
                self._send_code(address, code, account.id)
            except Exception as e:  # noqa: BLE001 - any mail failure
                log.warning("confirmation mail not sent: %s", type(e).__name__)
                raise UnavailableError("the code could not be mailed just now; ask again in a little while") from None

    def confirm_email(self, email: str, code: str) -> UUID:
        """The account, once its code is right. A wrong or lapsed code gets the same refusal whether
        the address is unknown, unconfirmed or confirmed: the answer says nothing about an account
        to someone without the code. The right code again (within its 30 minutes) is harmless."""
        account = self._account_by_email(normalise_email(email))
        if (
            account is None
            or account.code_hash is None
            or account.code_expires_at is None
            or account.code_expires_at < self.clock()
            or not hmac.compare_digest(account.code_hash, self._code_hash(account.id, code))
        ):
            raise InvalidConfirmationCodeError
        if not account.email_confirmed:
            account.confirm_email()
            self.save(account)
        return account.id

    def _issue_code(self, account: Account) -> str:
        code = f"{secrets.randbelow(1_000_000):06d}"
        account.issue_confirmation_code(self._code_hash(account.id, code), self.clock() + self.code_ttl)
        return code

    @staticmethod
    def _code_hash(account_id: UUID, code: str) -> str:
        return _digest(f"{account_id}:{code.strip()}")

    def _send_code_or_log(self, email: str, code: str, account_id: UUID) -> None:
        """After registration the account exists whatever the mail does: a failure is logged
        (without the address) and the person asks for a new code."""
        try:
            self._send_code(email, code, account_id)
        except Exception as e:  # noqa: BLE001 - any mail failure
            log.warning("confirmation mail not sent: %s", type(e).__name__)

    def _send_code(self, email: str, code: str, account_id: UUID) -> None:
        self.mailer.send(
            account_id=account_id,
            to=email,
            subject="Your PeerLedger confirmation code",
            body=f"Your confirmation code is {code}.\n\nIt expires in {int(self.code_ttl.total_seconds() // 60)} "
            "minutes. If you did not create a PeerLedger account, ignore this message.\n",
        )

    # -- sessions ---------------------------------------------------------------------------

    def login(self, email: str, password: str) -> LoggedIn:
        try:
            account = self._account_by_email(normalise_email(email))
        except InvalidInputError:
            account = None
        password_hash = self._open(account, account.sealed_password_hash) if account else None
        if not self.hasher.verify(password_hash or self._dummy_hash, password) or account is None:
            raise InvalidCredentialsError
        changed: list[Any] = []
        if self.hasher.needs_rehash(password_hash):  # type: ignore[arg-type]
            account.rehash_password(self.vault.seal(account.id, self.hasher.hash(password)))
            changed.append(account)
        secret = secrets.token_urlsafe(32)
        expires_at = self.clock() + self.session_ttl
        session = Session(account_id=account.id, secret_hash=_digest(secret), expires_at=expires_at)
        self.save(session, *changed)
        return LoggedIn(account.id, sorted(account.roles), session.id, f"{session.id}.{secret}", expires_at)

    def refresh(self, refresh_token: str) -> LoggedIn:
        """Rotate the session's secret. An old secret presented again revokes the session."""
        session = self._session_for(refresh_token)
        secret = refresh_token.partition(".")[2]
        if not hmac.compare_digest(session.secret_hash, _digest(secret)):
            self._revoke(session.id, "a refresh token was used twice")
            raise InvalidRefreshTokenError
        account = self._account(session.account_id)
        if account.erased or not account.session_is_current(session.id, session.created_on):
            raise InvalidRefreshTokenError
        new_secret = secrets.token_urlsafe(32)
        expires_at = self.clock() + self.session_ttl
        session.rotate(_digest(new_secret), expires_at)
        try:
            self.save(session)
        except IntegrityError:
            # Another refresh with the same secret won the race: one of the two is a replay.
            self._revoke(session.id, "a refresh token was used twice")
            raise InvalidRefreshTokenError from None
        return LoggedIn(account.id, sorted(account.roles), session.id, f"{session.id}.{new_secret}", expires_at)

    def _revoke(self, session_id: UUID, reason: str) -> None:
        for _ in range(5):
            session: Session = self.repository.get(session_id)
            if session.revoked:
                return
            session.revoke(reason)
            try:
                self.save(session)
                return
            except IntegrityError:
                continue

    def logout(self, refresh_token: str) -> None:
        session = self._session_for(refresh_token)
        if not hmac.compare_digest(session.secret_hash, _digest(refresh_token.partition(".")[2])):
            raise InvalidRefreshTokenError
        self._revoke(session.id, "logged out")

    def session_principal(self, session_id: UUID) -> tuple[UUID, list[str], bool] | None:
        """The account, its current roles and whether its address is confirmed, behind a live
        session; None once it has ended (logged out, revoked, expired) or its account was erased."""
        try:
            session = self.repository.get(session_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(session, Session) or session.revoked or session.expires_at <= self.clock():
            return None
        account = self._account(session.account_id)
        if account.erased or not account.session_is_current(session.id, session.created_on):
            return None
        return account.id, sorted(account.roles), account.email_confirmed

    def _session_for(self, refresh_token: str) -> Session:
        session_part, dot, secret = refresh_token.partition(".")
        try:
            session = self.repository.get(UUID(session_part))
        except (ValueError, AggregateNotFoundError):
            raise InvalidRefreshTokenError from None
        if not isinstance(session, Session) or not dot or not secret:
            raise InvalidRefreshTokenError
        if session.revoked or session.expires_at < self.clock():
            raise InvalidRefreshTokenError
        return session

    # -- password and name -----------------------------------------------------------------

    def change_password(self, account_id: UUID, session_id: UUID | None, current: str, new: str) -> None:
        """With the current password asked again; every session but the caller's ends."""
        account = self._live_account(account_id)
        if not self.hasher.verify(self._open(account, account.sealed_password_hash) or self._dummy_hash, current):
            raise WrongPasswordError
        self._set_password(account, new, keep=session_id)

    def request_password_reset(self, email: str) -> None:
        """Mail a single-use code to a confirmed account's address. Says nothing about whether the
        address has one (the caller answers before this runs)."""
        account = self._account_by_email(normalise_email(email))
        if account is None or account.erased or not account.email_confirmed:
            return
        code = f"{secrets.randbelow(1_000_000):06d}"
        account.issue_reset_code(self._code_hash(account.id, f"reset:{code}"), self.clock() + self.code_ttl)
        self.save(account)
        address = self._open(account, account.sealed_email)
        if address:
            self.mailer.send(
                account_id=account.id, to=address, subject="Your PeerLedger password reset code",
                body=f"Your password reset code is {code}.\n\nIt expires in "
                     f"{int(self.code_ttl.total_seconds() // 60)} minutes and works once. If you did not ask "
                     "for it, ignore this message: your password stays as it is.\n",
            )

    def reset_password(self, email: str, code: str, new: str) -> UUID:
        """Set a new password with a mailed reset code; every session ends. A wrong code is refused
        the same way whether or not the address has an account; after RESET_CODE_GUESSES wrong
        codes the code is void."""
        account = self._account_by_email(normalise_email(email))
        if account is None or account.erased or account.reset_code_hash is None or account.reset_expires_at is None \
                or account.reset_expires_at < self.clock() or account.reset_failures >= RESET_CODE_GUESSES:
            raise InvalidResetCodeError
        if not hmac.compare_digest(account.reset_code_hash, self._code_hash(account.id, f"reset:{code}")):
            account.fail_reset_code()
            self.save(account)
            raise InvalidResetCodeError
        self._set_password(account, new, keep=None)
        return account.id

    def _set_password(self, account: Account, new: str, *, keep: UUID | None) -> None:
        check_password(new, self._open(account, account.sealed_email) or "")
        account.change_password(self.vault.seal(account.id, self.hasher.hash(new)), keep)
        try:
            self.save(account)
        except IntegrityError:  # changed meanwhile: the caller tries again
            raise UnavailableError("the account changed meanwhile; try again") from None

    def change_display_name(self, account_id: UUID, display_name: str) -> str:
        account = self._live_account(account_id)
        display_name = check_display_name(display_name)
        if display_name != self._open(account, account.sealed_display_name):
            account.change_display_name(self.vault.seal(account.id, display_name))
            self.save(account)
        return display_name

    def _live_account(self, account_id: UUID) -> Account:
        account = self._account(account_id)
        if account.erased:
            raise AccountNotFoundError
        return account

    # -- reading, roles, erasure ------------------------------------------------------------

    def set_mail_notifications(self, account_id: UUID, kinds: list[str]) -> list[str]:
        account = self._account(account_id)
        if account.erased:
            raise AccountNotFoundError
        unknown = sorted(set(kinds) - set(NOTIFICATION_KINDS))
        if unknown:
            raise InvalidInputError(f"unknown notification kinds: {', '.join(unknown)}; "
                                    f"there are: {', '.join(NOTIFICATION_KINDS)}")
        chosen = [k for k in NOTIFICATION_KINDS if k in kinds]
        if chosen != account.mail_notifications:
            account.set_mail_notifications(chosen)
            self.save(account)
        return chosen

    def mail_notifications(self, account_id: UUID) -> tuple[str | None, list[str]]:
        """Where to mail this account's notifications (None once erased or unconfirmed), and which."""
        account = self._account(account_id)
        if account.erased or not account.email_confirmed:
            return None, account.mail_notifications
        return self._open(account, account.sealed_email), account.mail_notifications

    def exists(self, account_id: UUID) -> bool:
        """A live account (not erased)."""
        try:
            return not self._account(account_id).erased
        except AccountNotFoundError:
            return False

    def display_name(self, account_id: UUID) -> str | None:
        """The live account's display name (view's, opening only that sealed field)."""
        account = self._account(account_id)
        if account.erased:
            raise AccountNotFoundError
        return self._open(account, account.sealed_display_name)

    def email_confirmed(self, account_id: UUID) -> bool:
        """Whether the live account confirmed its address (view's answer, without opening its sealed fields)."""
        account = self._account(account_id)
        if account.erased:
            raise AccountNotFoundError
        return account.email_confirmed

    def view(self, account_id: UUID) -> AccountView:
        account = self._account(account_id)
        if account.erased:
            raise AccountNotFoundError
        return AccountView(
            id=account.id,
            email=self._open(account, account.sealed_email),
            display_name=self._open(account, account.sealed_display_name),
            email_confirmed=account.email_confirmed,
            roles=sorted(account.roles),
            erased=account.erased,
        )

    def grant_role(self, email: str, role: str, granted_by: str) -> bool:
        account = self._live_account_by_email(email)
        self._check_role(role)
        changed = account.grant(role, granted_by)
        if changed:
            self.save(account)
        return changed

    def revoke_role(self, email: str, role: str, revoked_by: str) -> bool:
        account = self._live_account_by_email(email)
        self._check_role(role)
        changed = account.revoke(role, revoked_by)
        if changed:
            self.save(account)
        return changed

    def erase(self, account_id: UUID) -> None:
        """Crypto-shred: destroy the key first (so a crash afterwards still leaves the data
        unreadable), then record Erased and free the address for a new account."""
        for _ in range(5):
            account = self._account(account_id)
            if account.erased:
                raise AccountNotFoundError
            address_text = self._open(account, account.sealed_email)
            self.vault.destroy(account.id)
            self.mailer.forget(account.id, address_text)
            account.erase()
            address: EmailAddress = self.repository.get(email_address_id(account.email_key))
            if address.account_id == account.id:
                address.release()
            try:
                self.save(account, address)
                return
            except IntegrityError:
                continue  # changed meanwhile (a concurrent erase?): look again
        raise AccountNotFoundError

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLES or role == "member":
            raise InvalidInputError(f"role must be one of: {', '.join(r for r in ROLES if r != 'member')}")

    def _live_account_by_email(self, email: str) -> Account:
        account = self._account_by_email(normalise_email(email))
        if account is None:
            raise AccountNotFoundError
        return account

    def _account(self, account_id: UUID) -> Account:
        try:
            account = self.repository.get(account_id)
        except AggregateNotFoundError:
            raise AccountNotFoundError from None
        if not isinstance(account, Account):
            raise AccountNotFoundError
        return account

    def _email_address(self, email_key: str) -> EmailAddress | None:
        try:
            return self.repository.get(email_address_id(email_key))
        except AggregateNotFoundError:
            return None

    def _account_by_email(self, email: str) -> Account | None:
        address = self._email_address(self.vault.email_key(email))
        if address is None or address.account_id is None:
            return None
        return self.repository.get(address.account_id)

    def _open(self, account: Account, sealed: str) -> str | None:
        return self.vault.open(account.id, sealed)
