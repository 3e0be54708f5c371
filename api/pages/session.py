"""Who reads a page, and proof that a posted form came from one: signed cookies for the pages only.

A page session is an API session (Accounts.login) whose refresh token the browser keeps in an
HttpOnly, SameSite=Lax cookie (Secure over https), signed so that it is checked without a
lookup; its liveness is the SessionGate's, as for tokens. The JSON API never reads this
cookie: it authenticates with Bearer tokens only. Forms carry a CSRF token bound to a random
cookie by an HMAC (the signed double-submit pattern): a site that can make a browser post here
can neither read the cookie nor compute the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.datastructures import Cookie, State

from api.auth import Principal
from bootstrap.services import derive, secret_key

SESSION_COOKIE = "pl_session"
CSRF_COOKIE = "pl_csrf"
CSRF_FIELD = "csrf_token"


def _key(state: State) -> bytes:
    key = state.get("pages_key")
    if key is None:
        key = derive(secret_key(state.services.settings), "page-cookies")
        state.pages_key = key
    return key


def _mac(state: State, purpose: str, value: str) -> str:
    digest = hmac.new(_key(state), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class PageSession:
    account_id: UUID
    refresh_token: str  # "<session id>.<secret>", as the API's login returns it

    @property
    def session_id(self) -> UUID:
        return UUID(self.refresh_token.partition(".")[0])


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def session_cookie(state: State, request: Request, account_id: UUID, refresh_token: str,
                   expires_at: datetime) -> Cookie:
    value = f"{account_id}.{refresh_token}"
    return Cookie(key=SESSION_COOKIE, value=f"{value}.{_mac(state, 'session', value)}", path="/",
                  httponly=True, samesite="lax", secure=_secure(request),
                  max_age=max(0, int((expires_at - datetime.now(UTC)).total_seconds())))


def expired_session_cookie(request: Request) -> Cookie:
    return Cookie(key=SESSION_COOKIE, value="", path="/", httponly=True, samesite="lax",
                  secure=_secure(request), max_age=0)


def page_session(request: Request) -> PageSession | None:
    """The session the cookie names, if its signature holds (its liveness is checked apart)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw or raw.count(".") != 3:
        return None
    value, _, mac = raw.rpartition(".")
    if not hmac.compare_digest(mac, _mac(request.app.state, "session", value)):
        return None
    account, _, refresh_token = value.partition(".")
    try:
        session = PageSession(UUID(account), refresh_token)
        session.session_id  # noqa: B018 - a malformed session id is no session
    except ValueError:
        return None
    return session


async def page_principal(request: Request) -> Principal | None:
    """The signed-in reader, or None (no cookie, a bad signature, a session that ended)."""
    session = page_session(request)
    if session is None:
        return None
    return await request.app.state.session_gate.principal_of_session(session.account_id, session.session_id)


# -- CSRF ------------------------------------------------------------------------------------


def csrf_seed(request: Request) -> tuple[str, Cookie | None]:
    """The browser's CSRF seed, and the cookie to set when it has none yet (or a new one)."""
    seed = request.cookies.get(CSRF_COOKIE)
    if seed and len(seed) == 43:
        return seed, None
    seed = secrets.token_urlsafe(32)
    return seed, csrf_cookie(request, seed)


def csrf_cookie(request: Request, seed: str) -> Cookie:
    return Cookie(key=CSRF_COOKIE, value=seed, path="/", httponly=True, samesite="lax", secure=_secure(request))


def csrf_token(state: State, seed: str) -> str:
    return _mac(state, "csrf", seed)


def csrf_holds(request: Request, form: Any) -> bool:
    seed = request.cookies.get(CSRF_COOKIE)
    sent = form.get(CSRF_FIELD) if form is not None else None
    if not seed or not isinstance(sent, str):
        return False
    return hmac.compare_digest(sent, csrf_token(request.app.state, seed))
