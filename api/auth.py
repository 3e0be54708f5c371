"""Who is calling: JWT bearer tokens (Litestar's JWTAuth), deny by default, guards for roles.

Every route needs a valid access token unless its handler is marked `opt={"exclude_from_auth":
True}`; role routes add a guard. Access tokens are short-lived (15 minutes by default) and
carry the account's roles; sessions and their refresh tokens live in the Accounts application.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

from api.errors import ProblemError

ISSUER = "peerledger"
AUDIENCE = "peerledger-api"
PUBLIC = {"exclude_from_auth": True}


@dataclass(frozen=True)
class Principal:
    account_id: UUID
    roles: frozenset[str]
    session_id: UUID | None


def principal_from_token(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    try:
        account_id = UUID(token.sub)
        roles = frozenset(token.extras.get("roles", ()))
        sid = token.extras.get("sid")
        return Principal(account_id, roles, UUID(sid) if sid else None)
    except (ValueError, TypeError, AttributeError):
        return None


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


def requires_role(role: str):  # noqa: ANN201 - a Litestar guard
    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = connection.user
        if not isinstance(principal, Principal) or role not in principal.roles:
            raise ProblemError(403, f"this needs the {role} role")

    return guard
