"""The owner's edit page for the profile's headline and about text: /r/{id}/edit, through the
API's own edit function (its request Struct, owner check and wait included)."""

from __future__ import annotations

import anyio
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.pages.forms import FORM, as_request, posted, readable, status_of, text
from api.pages.rendering import PageController, page, see_other
from api.pages.session import page_principal
from api.profile_text import ProfileTextIn, edit_profile_text, profile_text_of
from domain.claims.application import MAX_ABOUT, MAX_HEADLINE
from domain.errors import DomainError

LABELS = {"headline": "Headline", "about": "About"}


class ProfileTextPagesController(PageController):
    path = "/r"

    @get("/{researcher_id:str}/edit")
    async def edit_page(self, request: Request, researcher_id: FromPath[str]) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/r/{researcher_id}/edit")
        _, headline, about = await anyio.to_thread.run_sync(profile_text_of, request.app.state,
                                                            principal.account_id, researcher_id)
        return await self._form(request, principal, researcher_id, 200, headline or "", about or "")

    @post("/{researcher_id:str}/edit", opt=FORM, status_code=303)
    async def edit(self, request: Request, researcher_id: FromPath[str]) -> Template | Redirect:
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/r/{researcher_id}/edit")
        headline, about = text(form, "headline", MAX_HEADLINE * 4), text(form, "about", MAX_ABOUT * 4)
        try:
            # A blank field removes that part (the profile shows a generated headline again).
            data = as_request(ProfileTextIn, {"headline": headline.strip() or None, "about": about.strip() or None},
                              LABELS)
            await anyio.to_thread.run_sync(edit_profile_text, request.app.state, principal.account_id,
                                           researcher_id, data)
        except DomainError as refused:
            return await self._form(request, principal, researcher_id, status_of(refused), headline, about,
                                    readable(refused))
        return see_other(f"/r/{researcher_id}")

    @staticmethod
    async def _form(request: Request, principal: object, researcher_id: str, status: int, headline: str,
                    about: str, error: str | None = None) -> Template:
        return await page(request, "profile_edit.html", principal, status=status, raw_id=researcher_id,
                          headline=headline, about=about, error=error, max_headline=MAX_HEADLINE,
                          max_about=MAX_ABOUT)
