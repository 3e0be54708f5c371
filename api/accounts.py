"""AccountsController and AuthController: registration, confirmation, login, sessions, /me."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, TypeVar
from uuid import UUID

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from api.auth import PUBLIC, Principal, issue_access_token
from api.errors import ApiCode, ProblemError
from api.text import name
from domain.accounts.application import LoggedIn, normalise_email
from domain.errors import AccountNotFoundError, InvalidCredentialsError
from domain.text import FREE_TEXT_PATTERN

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=FREE_TEXT_PATTERN)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
DisplayName = name(200)
Code = Annotated[str, msgspec.Meta(pattern=r"^\s*\d{6}\s*$")]
RefreshToken = Annotated[str, msgspec.Meta(min_length=10, max_length=200)]

log = logging.getLogger("peerledger.api")
T = TypeVar("T")
NO_STORE = {"Cache-Control": "no-store"}
PUBLIC_401 = {**PUBLIC, "errors": (401,)}  # public, and refusing bad credentials or refresh tokens

# Limits per (what, scope): attempts per window in seconds. Counted in the database.
LIMITS = {
    ("registrations", "address"): (20, 600),
    ("login attempts", "address"): (30, 60),
    # Only failures count against an account, per address (so a stranger cannot lock it out
    # from elsewhere), under a higher ceiling for the account across all addresses.
    ("failed login attempts", "account from address"): (5, 300),
    ("failed login attempts", "account"): (50, 300),
    ("confirmation attempts", "address"): (20, 600),
    ("confirmation attempts", "account"): (5, 900),
    ("confirmation codes", "account"): (3, 900),
    ("confirmation codes a day", "account"): (10, 86_400),
    ("password reset requests", "address"): (20, 600),
    ("password reset codes", "account"): (3, 900),
    ("password reset codes a day", "account"): (10, 86_400),
    ("password reset attempts", "address"): (20, 600),
    ("password changes", "account"): (10, 3_600),
}


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    """Request bodies: unknown fields are refused (400), types are strict."""


class RegisterAccount(Strict):
    email: Email
    password: Password
    display_name: DisplayName


class ConfirmEmail(Strict):
    email: Email
    code: Code


class ResendCode(Strict):
    email: Email


class LogIn(Strict):
    email: Email
    password: Password


class ChangePassword(Strict):
    current_password: Password
    new_password: Password


class AskPasswordReset(Strict):
    email: Email


class ResetPassword(Strict):
    email: Email
    code: Code
    new_password: Password


class ChangeAccount(Strict):
    display_name: DisplayName


class UseRefreshToken(Strict):
    refresh_token: RefreshToken


class OwnedRecordOut(msgspec.Struct):
    researcher_id: UUID
    verification_level: str


class AccountCardOut(msgspec.Struct):
    """What anyone may see of an account: its public name and the records it owns."""

    id: UUID
    display_name: str
    owned_records: list[OwnedRecordOut]


class AccountCreatedOut(msgspec.Struct):
    id: UUID
    email_confirmed: bool
    detail: str


class AcceptedOut(msgspec.Struct):
    detail: str


class TokensOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime


class MeOut(msgspec.Struct):
    id: UUID
    email: str | None
    display_name: str | None
    email_confirmed: bool
    roles: list[str]
    claimed_researchers: list[UUID]


MAX_WAITING_FOR_HASHING = 64


async def hashing(state: State, work: Callable[[], T]) -> T:
    """Run work that hashes a password on threads of its own, so that a login flood cannot take
    the threads every other blocking route needs; past a queue bound, answer 503."""
    limiter: anyio.CapacityLimiter = state.hash_limiter
    if limiter.statistics().tasks_waiting >= MAX_WAITING_FOR_HASHING:
        raise ProblemError(503, "too many logins and registrations at once; try again shortly",
                           headers={"Retry-After": "2"}, code=ApiCode.OVERLOADED)
    return await anyio.to_thread.run_sync(work, limiter=limiter)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limit(state: State, what: str, scope: str, key: str, *, count: bool = True) -> None:
    """Refuse with 429 past the limit; `count=False` only checks (the caller counts failures)."""
    attempts, window = LIMITS[(what, scope)]
    scaled = int(attempts * state.services.settings.rate_limit_scale)
    limiter = state.services.rate_limiter
    (limiter.hit if count else limiter.check)(f"{what}:{scope}:{key}", scaled, window, what)


def tokens(state: State, logged_in) -> TokensOut:  # noqa: ANN001
    settings = state.services.settings
    return TokensOut(
        access_token=issue_access_token(state.jwt_auth, logged_in.account_id, logged_in.roles, logged_in.session_id),
        token_type="Bearer",
        expires_in=settings.access_token_minutes * 60,
        refresh_token=logged_in.refresh_token,
        refresh_expires_at=logged_in.refresh_expires_at,
    )


async def limited_login(state: State, address: str, email: str, password: str) -> LoggedIn:
    """Log in under the login rate limits (the API's tokens and the pages' cookie both start here)."""

    def run() -> LoggedIn:
        limit(state, "login attempts", "address", address)
        # Per account only failures count: a person logging in often is not an attack on them.
        account_key = state.services.vault.email_key(email.strip().lower())
        limit(state, "failed login attempts", "account from address", f"{account_key}:{address}", count=False)
        limit(state, "failed login attempts", "account", account_key, count=False)
        try:
            return state.services.accounts.login(email, password)
        except InvalidCredentialsError:
            limit(state, "failed login attempts", "account from address", f"{account_key}:{address}")
            limit(state, "failed login attempts", "account", account_key)
            raise

    return await hashing(state, run)


# The account use cases under their limits, as functions: the API's handlers and the pages both call them.


async def register_account(state: State, address: str, data: RegisterAccount) -> UUID:
    def run() -> UUID:
        limit(state, "registrations", "address", address)
        return state.services.accounts.register(data.email, data.password, data.display_name)

    return await hashing(state, run)


def confirm_account(state: State, address: str, data: ConfirmEmail) -> UUID:
    limit(state, "confirmation attempts", "address", address)
    limit(state, "confirmation attempts", "account", state.services.vault.email_key(data.email.strip().lower()))
    return state.services.accounts.confirm_email(data.email, data.code)


RESEND_ANSWER = "if the address has an unconfirmed account, a new code is on its way to it"
RESET_ANSWER = "if the address has a confirmed account, a reset code is on its way to it"


def resend_code_later(state: State, address: str, data: ResendCode) -> BackgroundTask:
    return code_mail_later(state, address, data.email, "confirmation attempts", "confirmation codes",
                           state.services.accounts.resend_code)


def password_reset_later(state: State, address: str, data: AskPasswordReset) -> BackgroundTask:
    return code_mail_later(state, address, data.email, "password reset requests", "password reset codes",
                           state.services.accounts.request_password_reset)


def code_mail_later(state: State, address: str, email: str, per_address: str, codes: str,
                    mail: Callable[[str], None]) -> BackgroundTask:
    """A code mailed on request (confirmation, password reset): a flood or a malformed address is
    refused now; the task makes and mails the code after the response, so the answer reads the
    same, and takes as long, whether or not the address has an account (or the mail server answers)."""
    limit(state, per_address, "address", address)
    account_key = state.services.vault.email_key(email.strip().lower())
    limit(state, codes, "account", account_key)
    limit(state, f"{codes} a day", "account", account_key)
    normalise_email(email)

    async def after_answering() -> None:
        try:
            await anyio.to_thread.run_sync(mail, email)
        except Exception:  # noqa: BLE001 - nobody is waiting for this answer any more
            log.warning("a code could not be mailed (%s)", codes, exc_info=True)

    return BackgroundTask(after_answering)


async def reset_password(state: State, address: str, data: ResetPassword) -> UUID:
    """Every session of the account ends, in this process at once."""
    def run() -> UUID:
        limit(state, "password reset attempts", "address", address)
        return state.services.accounts.reset_password(data.email, data.code, data.new_password)

    account_id = await hashing(state, run)
    state.session_gate.forget_account(account_id)
    return account_id


async def change_password(state: State, me: Principal, data: ChangePassword) -> None:
    """The caller's session stays; every other session of the account ends."""
    def run() -> None:
        limit(state, "password changes", "account", str(me.account_id))
        state.services.accounts.change_password(me.account_id, me.session_id, data.current_password,
                                                data.new_password)

    await hashing(state, run)
    state.session_gate.forget_account(me.account_id)


class AccountsController(Controller):
    path = "/accounts"
    tags = ["accounts"]
    response_headers = NO_STORE

    @post("/", summary="Create an account; a confirmation code is mailed", opt=PUBLIC, status_code=201)
    async def register(self, request: Request, state: State, data: JSONBody[RegisterAccount]) -> AccountCreatedOut:
        account_id = await register_account(state, client_address(request), data)
        return AccountCreatedOut(account_id, False, "a confirmation code was sent to the email address")

    @get("/{account_id:uuid}", summary="An account's public card: its name and the records it owns", opt=PUBLIC,
         sync_to_thread=True)
    def card(self, state: State, account_id: FromPath[UUID]) -> AccountCardOut:
        view = state.services.profiles_view
        name = view.owner_names([str(account_id)]).get(str(account_id))
        if not name:  # unknown, or erased: nothing to show
            raise AccountNotFoundError
        owned = sorted(view.levels_owned_by(str(account_id)).items())
        return AccountCardOut(account_id, name, [OwnedRecordOut(UUID(r), level) for r, level in owned])

    @post("/confirm", summary="Confirm the email address with the mailed code", opt=PUBLIC, sync_to_thread=True,
          status_code=200)
    def confirm(self, request: Request, state: State, data: JSONBody[ConfirmEmail]) -> MeOut:
        account_id = confirm_account(state, client_address(request), data)
        return me_out(state, account_id)

    @post("/confirm/resend", summary="Mail a new confirmation code", opt=PUBLIC, sync_to_thread=True,
          status_code=202)
    def resend(self, request: Request, state: State, data: JSONBody[ResendCode]) -> Response[AcceptedOut]:
        task = resend_code_later(state, client_address(request), data)
        return Response(AcceptedOut(RESEND_ANSWER), status_code=202, background=task)


class AuthController(Controller):
    path = "/auth"
    tags = ["accounts"]
    response_headers = NO_STORE

    @post("/login", summary="Log in: an access token and a refresh token", opt=PUBLIC_401, status_code=200)
    async def login(self, request: Request, state: State, data: JSONBody[LogIn]) -> TokensOut:
        logged_in = await limited_login(state, client_address(request), data.email, data.password)
        return tokens(state, logged_in)

    @post("/refresh", summary="New tokens for a refresh token (which is then spent)", opt=PUBLIC_401,
          sync_to_thread=True, status_code=200)
    def refresh(self, state: State, data: JSONBody[UseRefreshToken]) -> TokensOut:
        return tokens(state, state.services.accounts.refresh(data.refresh_token))

    @post("/password-reset", summary="Mail a single-use code that sets a new password (30 minutes)", opt=PUBLIC,
          sync_to_thread=True, status_code=202)
    def ask_password_reset(self, request: Request, state: State, data: JSONBody[AskPasswordReset]
                           ) -> Response[AcceptedOut]:
        task = password_reset_later(state, client_address(request), data)
        return Response(AcceptedOut(RESET_ANSWER), status_code=202, background=task)

    @post("/password-reset/confirm", summary="Set a new password with the mailed reset code; every session ends",
          opt=PUBLIC, status_code=204)
    async def reset_password(self, request: Request, state: State, data: JSONBody[ResetPassword]) -> None:
        await reset_password(state, client_address(request), data)

    @post("/logout", summary="Revoke the session of a refresh token", opt=PUBLIC_401, sync_to_thread=True,
          status_code=204)
    def logout(self, state: State, data: JSONBody[UseRefreshToken]) -> None:
        state.services.accounts.logout(data.refresh_token)
        state.session_gate.forget(UUID(data.refresh_token.partition(".")[0]))


def me_out(state: State, account_id: UUID) -> MeOut:
    view = state.services.accounts.view(account_id)
    claimed = [UUID(r) for r in state.services.profiles_view.records_owned_by(str(account_id))]
    return MeOut(view.id, view.email, view.display_name, view.email_confirmed, view.roles, claimed)


class MeController(Controller):
    path = "/me"
    tags = ["accounts"]
    response_headers = NO_STORE

    @get("/", summary="The caller's account, roles and claimed researcher records", sync_to_thread=True)
    def me(self, request: Request[Principal, object, State], state: State) -> MeOut:
        return me_out(state, request.user.account_id)

    @patch("/", summary="Change the caller's display name", sync_to_thread=True)
    def change(self, request: Request[Principal, object, State], state: State, data: JSONBody[ChangeAccount]) -> MeOut:
        state.services.accounts.change_display_name(request.user.account_id, data.display_name)
        return me_out(state, request.user.account_id)

    @post("/password", summary="Change the password (the current one asked again); other sessions end",
          status_code=204)
    async def change_password(self, request: Request[Principal, object, State], state: State,
                              data: JSONBody[ChangePassword]) -> None:
        await change_password(state, request.user, data)

    @delete("/", summary="Erase the caller's personal data (crypto-shredding); history stays", sync_to_thread=True,
            opt={"errors": (404,)})  # erased meanwhile (by a concurrent request)
    def erase(self, request: Request[Principal, object, State], state: State) -> None:
        erase_account(state, request.user.account_id)


def erase_account(state: State, me: UUID) -> None:
    """Crypto-shred the account, end its sessions here at once, and close what others could still
    answer or write to (the API's DELETE /me and the erasure page both call this)."""
    state.services.accounts.erase(me)
    state.session_gate.forget_account(me)
    # Nobody should answer, or write to, someone who is gone.
    services = state.services
    services.invitations_runner.wait(services.invitations_runner.head(), 2.0)
    invitations, conversations = services.invitations_view.open_for(str(me))
    services.invitations.end_for_erased(me, [UUID(i) for i in invitations], [UUID(c) for c in conversations])
