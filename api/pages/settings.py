"""SettingsPagesController: who may invite me (the invitation policy), whom I blocked, and which
notifications are mailed to me too; each form is the call the API's /me routes make
(PUT /me/invitation-policy, PUT and DELETE /me/blocks/{id}, PUT /me/notification-settings)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from api.auth import Principal
from api.invitations import PolicyIn
from api.notifications import MailSettings
from api.pages.forms import FORM, as_request, posted, readable, status_of, text
from api.pages.invitations import names_of
from api.pages.profile import POLICY_LABELS
from api.pages.rendering import PageController, page, see_other
from api.pages.session import page_principal
from domain.accounts.application import NOTIFICATION_KINDS
from domain.errors import DomainError, InvalidInputError
from domain.invitations.model import POLICIES
from operations.notifications import MAIL_SUBJECTS



def settings_data(state: State, me: UUID) -> dict[str, Any]:
    policy, blocked = state.services.invitations.policy(me)  # as GET /me/invitation-policy answers
    names = names_of(state, [str(b) for b in blocked])
    mailed = state.services.accounts.mail_notifications(me)[1]  # as GET /me/notification-settings answers
    return {"policy": policy, "policies": [(p, POLICY_LABELS.get(p, p)) for p in POLICIES],
            "blocked": [{"id": str(b), "name": names[str(b)]} for b in blocked],
            "kinds": [(k, MAIL_SUBJECTS.get(k, k)) for k in NOTIFICATION_KINDS], "mailed": mailed}


def account_id_from(form: Any) -> UUID:
    raw = text(form, "account_id", 100).strip()
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidInputError("Account id: expected an account id, such as "
                                "3f2b8c1e-9a4d-4e7f-8b21-5c6d7e8f9a0b") from None


class SettingsPagesController(PageController):
    path = "/p/settings"

    @get("/")
    async def settings(self, request: Request) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/settings")
        return await self._settings_page(request, principal, 200)

    async def _settings_page(self, request: Request, principal: Principal, status: int, **errors: Any) -> Template:
        data = await anyio.to_thread.run_sync(settings_data, request.app.state, principal.account_id)
        return await page(request, "settings.html", principal, status=status,
                          **{"policy_error": None, "block_error": None, "mail_error": None, "block_draft": ""}
                          | errors, **data)

    async def _change(self, request: Request, act: Any, done: str, error_name: str,
                      **kept: Any) -> Template | Redirect:
        """Run `act(state, account_id, form)` for the signed-in person; back to the settings with a notice,
        or with the refusal beside its form."""
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/settings")
        try:
            await anyio.to_thread.run_sync(act, request.app.state, principal.account_id, form)
        except DomainError as refused:
            extra = {k: text(form, v, 100) for k, v in kept.items()}
            return await self._settings_page(request, principal, status_of(refused),
                                             **{error_name: readable(refused)}, **extra)
        return see_other(f"/p/settings?done={done}")

    @post("/invitation-policy", opt=FORM, status_code=303)
    async def set_policy(self, request: Request) -> Template | Redirect:
        return await self._change(request, lambda state, me, form: state.services.invitations.set_policy(
            me, as_request(PolicyIn, {"policy": text(form, "policy", 40)}, {"policy": "Who may invite you"}).policy),
            "policy-changed", "policy_error")

    @post("/blocks", opt=FORM, status_code=303)
    async def block(self, request: Request) -> Template | Redirect:
        # Any id may be blocked, as the API allows: refusing unknown ones would tell who has an account.
        return await self._change(request, lambda state, me, form: state.services.invitations.block(
            me, account_id_from(form)), "blocked", "block_error", block_draft="account_id")

    @post("/blocks/remove", opt=FORM, status_code=303)
    async def unblock(self, request: Request) -> Template | Redirect:
        return await self._change(request, lambda state, me, form: state.services.invitations.unblock(
            me, account_id_from(form)), "unblocked", "block_error")

    @post("/mail", opt=FORM, status_code=303)
    async def mail(self, request: Request) -> Template | Redirect:
        return await self._change(request, lambda state, me, form: state.services.accounts.set_mail_notifications(
            me, as_request(MailSettings, {"mail": [k for k in form.getall("mail", []) if isinstance(k, str)]},
                           {"mail": "Mailed notifications"}).mail), "mail-changed", "mail_error")
