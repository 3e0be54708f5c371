"""Who is calling: JWT bearer tokens (Litestar's JWTAuth), deny by default, guards for roles.

Every route needs a valid access token unless its handler is marked `opt={"exclude_from_auth":
True}`; role routes add a guard. Access tokens are short-lived (15 minutes by default) and end
with their session (SessionGate); sessions and refresh tokens live in the Accounts application.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import anyio
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token

from api.errors import ProblemError

ISSUER = "peerledger"
AUDIENCE = "peerledger-api"
PUBLIC = {"exclude_from_auth": True}
# Public, and about this moment only: never cached (api/conditional.py), never a 304.
LIVE = {"exclude_from_auth": True, "cache": "no-store"}


@dataclass(frozen=True)
class Principal:
    account_id: UUID
    roles: frozenset[str]
    session_id: UUID | None
    email_confirmed: bool  # as of the session check (SessionGate's ttl): confirm_email_now() to be sure


class SessionGate:
    """An access token is good only while its session lives and its account is not erased.

    Checked against the Accounts application, and remembered for `ttl` seconds per session,
    so a logout or an erasure in another API process takes effect within `ttl`; in this
    process at once (`forget`). Roles come from the account, not from the token.
    """

    def __init__(self, accounts: Any, ttl: float = 5.0, max_entries: int = 100_000) -> None:
        self.accounts = accounts
        self.ttl = ttl
        self.max_entries = max_entries
        self._known: dict[UUID, tuple[float, Principal | None]] = {}

    async def principal(self, token: Token) -> Principal | None:
        try:
            account_id = UUID(token.sub)
            session_id = UUID(token.extras["sid"])
        except (KeyError, ValueError, TypeError, AttributeError):
            return None
        return await self.principal_of_session(account_id, session_id)

    async def principal_of_session(self, account_id: UUID, session_id: UUID) -> Principal | None:
        """The same check for a session named another way (the pages' signed session cookie)."""
        now = time.monotonic()
        known = self._known.get(session_id)
        if known is None or known[0] <= now:
            found = await anyio.to_thread.run_sync(self.accounts.session_principal, session_id)
            principal = None
            if found is not None and found[0] == account_id:
                principal = Principal(account_id, frozenset(found[1]), session_id, found[2])
            if len(self._known) >= self.max_entries:
                self._known.clear()
            known = self._known[session_id] = (now + self.ttl, principal)
        return known[1]

    def forget(self, session_id: UUID) -> None:
        self._known.pop(session_id, None)

    def forget_account(self, account_id: UUID) -> None:
        for session_id, (_, principal) in list(self._known.items()):
            if principal is not None and principal.account_id == account_id:
                self._known.pop(session_id, None)


class TokenCache:
    """Access tokens already verified in this process, by their encoded form.

    Verifying an HS256 signature and its claims cost about a fifth of a follow request. The
    same encoded token under the same secret always decodes to the same claims, so a token
    seen before is trusted again as long as it has not expired; anything else is decoded in
    full. Bounded: emptied when full.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._tokens: dict[tuple[str, str], Token] = {}

    def decode(self, encoded: str, secret: str) -> Token:
        key = (secret, encoded)
        token = self._tokens.get(key)
        if token is not None:
            if token.exp.timestamp() > time.time():
                return token
            del self._tokens[key]
            raise NotAuthorizedException("Invalid token")
        token = Token.decode(encoded, secret=secret, algorithm="HS256", audience=AUDIENCE, issuer=ISSUER,
                             require_claims=["exp", "sub", "iss", "aud"])
        if len(self._tokens) >= self.max_entries:
            self._tokens.clear()
        self._tokens[key] = token
        return token


TOKENS = TokenCache()


class CachingJWTMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware, with verified tokens remembered (TokenCache), and only the
    Bearer scheme accepted (Litestar takes whatever word comes before the token)."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        scheme, _, _ = connection.headers.get(self.auth_header, "").partition(" ")
        if scheme and scheme.lower() != "bearer":
            raise NotAuthorizedException("only the Bearer scheme is accepted")
        return await super().authenticate_request(connection)

    async def authenticate_token(self, encoded_token: str,
                                 connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = TOKENS.decode(encoded_token, self.token_secret)
        user = await self.retrieve_user_handler(token, connection)
        if not user:
            raise NotAuthorizedException()
        return AuthenticationResult(user=user, auth=token)


async def optional_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """On a public route: who is reading, if they sent a valid token. A token that is not valid
    (expired, revoked, malformed, another scheme) reads as anonymous on every public route, the
    same as no token: public reads never answer 401."""
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    state = connection.app.state
    try:
        if scheme.lower() != "bearer":
            raise ValueError
        token = TOKENS.decode(encoded, state.jwt_auth.token_secret)
    except Exception:  # noqa: BLE001 - any undecodable token
        token = None
    return await state.session_gate.principal(token) if token is not None else None


async def principal_from_token(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    return await connection.app.state.session_gate.principal(token)


def make_jwt_auth(secret: str, minutes: int) -> JWTAuth[Principal, Token]:
    return JWTAuth[Principal, Token](
        token_secret=secret,
        retrieve_user_handler=principal_from_token,
        algorithm="HS256",
        default_token_expiration=timedelta(minutes=minutes),
        accepted_issuers=[ISSUER],
        accepted_audiences=[AUDIENCE],
        require_claims=["exp", "sub", "iss", "aud"],
        exclude=["^/schema"],
        authentication_middleware_class=CachingJWTMiddleware,
        description="Access token from POST /auth/login",
    )


def issue_access_token(auth: JWTAuth[Principal, Token], account_id: UUID, roles: list[str], session_id: UUID) -> str:
    return auth.create_token(
        identifier=str(account_id),
        token_issuer=ISSUER,
        token_audience=AUDIENCE,
        token_unique_jwt_id=uuid.uuid4().hex,
        token_extras={"roles": roles, "sid": str(session_id)},
    )


def requires_role(*roles: str):  # noqa: ANN201 - a Litestar guard
    """Any one of `roles` opens the route."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # preflight and OPTIONS pass the auth middleware untouched: nothing to guard
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal) or not principal.roles.intersection(roles):
            raise ProblemError(403, f"this needs the {' or '.join(roles)} role")

    return guard
