"""SignInPagesController: sign in and out from the pages, through the API's own login and logout."""

from __future__ import annotations

import secrets
from typing import Any

import anyio
from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.accounts import client_address, limited_login
from api.pages.forms import CSRF_REFUSED, FORM
from api.pages.rendering import PageController, page, safe_next, see_other
from api.pages.session import (
    csrf_cookie,
    csrf_holds,
    expired_session_cookie,
    page_principal,
    page_session,
    session_cookie,
)
from domain.errors import ForbiddenError, InvalidCredentialsError, InvalidInputError, InvalidRefreshTokenError


class SignInPagesController(PageController):
    path = "/p"

    @get("/login")
    async def login_form(self, request: Request) -> Template:
        principal = await page_principal(request)
        return await page(request, "login.html", principal,
                          next=safe_next(request.query_params.get("next"), "/p/account"),
                          email="", error=None)

    @post("/login", opt=FORM, status_code=303)
    async def login(self, request: Request) -> Redirect | Template:
        form = await request.form()
        if not csrf_holds(request, form):
            raise ForbiddenError(CSRF_REFUSED)
        state = request.app.state
        email, password = _text(form, "email", 254).strip(), _text(form, "password", 1024)
        next_path = safe_next(form.get("next"))
        try:
            if not email or not password:
                raise InvalidCredentialsError
            logged_in = await limited_login(state, client_address(request), email, password)
        except (InvalidCredentialsError, InvalidInputError):
            return await page(request, "login.html", None, status=401, next=next_path, email=email,
                              error="Wrong email address or password.")
        cookies = [session_cookie(state, request, logged_in.account_id, logged_in.refresh_token,
                                  logged_in.refresh_expires_at),
                   csrf_cookie(request, secrets.token_urlsafe(32))]  # a new CSRF seed for the new session
        return see_other(next_path, cookies)

    @post("/logout", opt=FORM, status_code=303)
    async def logout(self, request: Request) -> Redirect:
        form = await request.form()
        if not csrf_holds(request, form):
            raise ForbiddenError(CSRF_REFUSED)
        session = page_session(request)
        if session is not None:
            state = request.app.state
            try:
                await anyio.to_thread.run_sync(state.services.accounts.logout, session.refresh_token)
            except InvalidRefreshTokenError:
                pass  # it had ended already: signed out all the same
            state.session_gate.forget(session.session_id)
        return see_other(safe_next(form.get("next")), [expired_session_cookie(request)])


def _text(form: Any, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""
