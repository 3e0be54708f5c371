"""AccountPagesController: register, confirm by the mailed code, ask for a new code, reset a forgotten
password, and change the display name and password, through the API's own account functions (its
request Structs, rate limits and answers included)."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, get, post
from litestar.response import Redirect, Template

from api.accounts import (
    AskPasswordReset,
    ChangeAccount,
    ChangePassword,
    ConfirmEmail,
    RegisterAccount,
    ResendCode,
    ResetPassword,
    change_password,
    client_address,
    confirm_account,
    erase_account,
    password_reset_later,
    register_account,
    resend_code_later,
    reset_password,
)
from api.pages.forms import FORM, as_request, posted, readable, status_of, text
from api.pages.rendering import PAGE_HEADERS, PageController, page, see_other
from api.pages.session import expired_session_cookie, page_principal
from domain.errors import DomainError, InvalidInputError


class AccountPagesController(PageController):
    path = "/p"

    # -- register and confirm ---------------------------------------------------------------------

    @get("/register")
    async def register_form(self, request: Request) -> Template:
        return await page(request, "register.html", await page_principal(request), email="", display_name="",
                          error=None)

    @post("/register", opt=FORM, status_code=303)
    async def register(self, request: Request) -> Redirect | Template:
        form = await posted(request)
        email, name = text(form, "email", 300).strip(), text(form, "display_name", 300)
        try:
            data = as_request(RegisterAccount, {"email": email, "password": text(form, "password", 2000),
                                                "display_name": name})
            await register_account(request.app.state, client_address(request), data)
        except DomainError as refused:
            return await page(request, "register.html", None, status=status_of(refused), email=email,
                              display_name=name, error=readable(refused))
        return see_other("/p/confirm?done=registered")

    @get("/confirm")
    async def confirm_form(self, request: Request) -> Template:
        return await self._confirm_page(request, 200, None)

    async def _confirm_page(self, request: Request, status: int, error: str | None, email: str = "") -> Template:
        return await page(request, "confirm.html", await page_principal(request), status=status, email=email,
                          error=error)

    @post("/confirm", opt=FORM, status_code=303)
    async def confirm(self, request: Request) -> Redirect | Template:
        form = await posted(request)
        email = text(form, "email", 300).strip()
        try:
            data = as_request(ConfirmEmail, {"email": email, "code": text(form, "code", 20)})
            await anyio.to_thread.run_sync(confirm_account, request.app.state, client_address(request), data)
        except DomainError as refused:
            return await self._confirm_page(request, status_of(refused), readable(refused), email)
        if await page_principal(request) is not None:
            return see_other("/p/account?done=confirmed")
        return see_other("/p/login?done=confirmed")

    @post("/confirm/resend", opt=FORM, status_code=303)
    async def resend(self, request: Request) -> Redirect | Template:
        form = await posted(request)
        email = text(form, "email", 300).strip()
        try:
            data = as_request(ResendCode, {"email": email})
            task = await anyio.to_thread.run_sync(resend_code_later, request.app.state, client_address(request), data)
        except DomainError as refused:
            return await self._confirm_page(request, status_of(refused), readable(refused), email)
        return Redirect("/p/confirm?done=code-sent", status_code=303, headers=PAGE_HEADERS, background=task)

    # -- a forgotten password -----------------------------------------------------------------------

    @get("/password-reset")
    async def reset_form(self, request: Request) -> Template:
        return await page(request, "password_reset.html", await page_principal(request), email="", error=None)

    @post("/password-reset", opt=FORM, status_code=303)
    async def ask_reset(self, request: Request) -> Redirect | Template:
        form = await posted(request)
        email = text(form, "email", 300).strip()
        try:
            data = as_request(AskPasswordReset, {"email": email})
            task = await anyio.to_thread.run_sync(password_reset_later, request.app.state, client_address(request),
                                                  data)
        except DomainError as refused:
            return await page(request, "password_reset.html", None, status=status_of(refused), email=email,
                              error=readable(refused))
        return Redirect("/p/password-reset/confirm?done=reset-sent", status_code=303, headers=PAGE_HEADERS,
                        background=task)

    @get("/password-reset/confirm")
    async def reset_confirm_form(self, request: Request) -> Template:
        return await page(request, "password_reset_confirm.html", await page_principal(request), email="",
                          error=None)

    @post("/password-reset/confirm", opt=FORM, status_code=303)
    async def reset(self, request: Request) -> Redirect | Template:
        form = await posted(request)
        email = text(form, "email", 300).strip()
        try:
            data = as_request(ResetPassword, {"email": email, "code": text(form, "code", 20),
                                              "new_password": text(form, "new_password", 2000)})
            await reset_password(request.app.state, client_address(request), data)
        except DomainError as refused:
            return await page(request, "password_reset_confirm.html", None, status=status_of(refused), email=email,
                              error=readable(refused))
        return see_other("/p/login?done=password-reset")

    # -- a signed-in person's account ---------------------------------------------------------------

    @get("/account")
    async def account(self, request: Request) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/account")
        return await self._account_page(request, principal, 200)

    async def _account_page(self, request: Request, principal: Any, status: int, **errors: Any) -> Template:
        account = await anyio.to_thread.run_sync(request.app.state.services.accounts.view, principal.account_id)
        return await page(request, "account.html", principal, status=status, account=account,
                          name_error=errors.get("name_error"), password_error=errors.get("password_error"),
                          display_name=errors.get("display_name", account.display_name or ""))

    @post("/account/name", opt=FORM, status_code=303)
    async def change_name(self, request: Request) -> Redirect | Template:
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/account")
        name = text(form, "display_name", 300)
        try:
            data = as_request(ChangeAccount, {"display_name": name})
            await anyio.to_thread.run_sync(request.app.state.services.accounts.change_display_name,
                                           principal.account_id, data.display_name)
        except DomainError as refused:
            return await self._account_page(request, principal, status_of(refused), name_error=readable(refused),
                                            display_name=name)
        return see_other("/p/account?done=name-changed")

    @post("/account/password", opt=FORM, status_code=303)
    async def new_password(self, request: Request) -> Redirect | Template:
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/account")
        try:
            data = as_request(ChangePassword, {"current_password": text(form, "current_password", 2000),
                                               "new_password": text(form, "new_password", 2000)})
            await change_password(request.app.state, principal, data)
        except DomainError as refused:
            return await self._account_page(request, principal, status_of(refused),
                                            password_error=readable(refused))
        return see_other("/p/account?done=password-changed")

    # -- erasure ---------------------------------------------------------------------------------

    @get("/account/erase")
    async def erase_form(self, request: Request) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/account/erase")
        return await self._erase_page(request, principal, 200, None, "")

    async def _erase_page(self, request: Request, principal: Any, status: int, error: str | None,
                          typed: str) -> Template:
        account = await anyio.to_thread.run_sync(request.app.state.services.accounts.view, principal.account_id)
        return await page(request, "erase.html", principal, status=status, error=error, email=account.email,
                          typed=typed)

    @post("/account/erase", opt=FORM, status_code=303)
    async def erase(self, request: Request) -> Redirect | Template:
        """The API's DELETE /me, once the person has typed their address: a slip of the hand erases nothing."""
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/account/erase")
        state = request.app.state
        typed = text(form, "confirm_email", 300)
        account = await anyio.to_thread.run_sync(state.services.accounts.view, principal.account_id)
        if typed.strip().casefold() != (account.email or "").casefold():
            refused = InvalidInputError("type your email address exactly as it is shown to confirm the erasure; "
                                        "nothing was erased")
            return await self._erase_page(request, principal, status_of(refused), readable(refused), typed)
        await anyio.to_thread.run_sync(erase_account, state, principal.account_id)
        return see_other("/p/login?done=erased", [expired_session_cookie(request)])
