"""ClaimPagesController: "Log in to claim" as pages: choose evidence for a record, enter the code mailed
to an institutional address, follow each claim's status and next step, answer a question, withdraw,
appeal. Every step is the API's own claim function (api/claims.py), so the rules are its rules."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

import anyio
import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.auth import Principal
from api.claims import (
    AddEvidence,
    Decision,
    EmailCode,
    OpenClaim,
    add_evidence_to,
    claim_of_orcid_state,
    claim_out,
    claims_of,
    enter_claim_code,
    finish_orcid_sign_in,
    open_claim_for,
    with_sign_in,
)
from api.pages.forms import FORM, as_request, posted, readable, status_of, text
from api.pages.profile import profile_of
from api.pages.rendering import PageController, page, see_other
from api.pages.session import page_principal
from domain.errors import DomainError, InvalidInputError, NotFoundError

OPEN = ("awaiting_verification", "pending", "info_requested", "disputing")
STATUS_LABELS = {
    "awaiting_verification": "Waiting for your proof",
    "pending": "Waiting for a moderator",
    "info_requested": "A moderator asked a question",
    "disputing": "Disputed: waiting for a moderator",
    "approved": "Approved",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn",
}


def next_step(claim: dict[str, Any]) -> str:
    """What the claimant can do now, in a sentence."""
    status = claim["status"]
    if status == "awaiting_verification":
        if any(e["kind"] == "institutional_email" and e["status"] == "pending" for e in claim["evidence"]):
            return "Enter the code we mailed to your institutional address."
        return "Sign in with ORCID to prove the iD."
    return {
        "pending": "Nothing to do: a moderator will decide, and you will be notified.",
        "info_requested": "Answer the moderator's question with a statement or links.",
        "disputing": "The record has an owner: add what shows it is yours; a moderator decides.",
        "approved": f"You own this record, verified at {claim['level']}.",
        "rejected": "You may appeal once; another moderator decides." if not claim["appealed"]
        else "Rejected on appeal too: nothing more to do here.",
        "withdrawn": "You withdrew this claim. You may claim the record again.",
    }.get(status, "")


def record_name(state: State, researcher_id: str) -> str:
    try:
        return profile_of(state, researcher_id, None)[1]["display_name"]
    except NotFoundError:
        return "an author record"


def claim_form_data(state: State, raw_id: str, principal: Principal) -> dict[str, Any]:
    internal_id, profile = profile_of(state, raw_id, principal)
    return {"raw_id": raw_id, "p": profile, "orcid": state.services.orcid.configured,
            "mine": internal_id in state.services.profiles_view.records_owned_by(str(principal.account_id))}


def evidence_from(form: Any) -> list[dict[str, Any]]:
    """The evidence the claim form offers, as the API's evidence bodies (those the person filled in)."""
    evidence: list[dict[str, Any]] = []
    statement = text(form, "statement", 6_000).strip()
    links = [line.strip() for line in text(form, "links", 30_000).splitlines() if line.strip()]
    if statement or links:
        evidence.append({"kind": "statement", "text": statement, "links": links})
    email = text(form, "institutional_email", 300).strip()
    if email:
        evidence.append({"kind": "institutional_email", "email": email})
    if form.get("orcid") == "yes":
        evidence.append({"kind": "orcid"})
    if not evidence:
        raise InvalidInputError("give at least one piece of evidence: a statement with links, an institutional "
                                "email address, or ORCID sign-in")
    return evidence


def claim_page_data(state: State, claim_id: UUID, principal: Principal) -> dict[str, Any]:
    view = state.services.claims.view(claim_id, principal.account_id, is_moderator=False)
    claim = msgspec.to_builtins(with_sign_in(state, view) if view.account_id == principal.account_id
                                else claim_out(view))
    return {"claim": claim, "record_name": record_name(state, claim["researcher_id"]),
            "status_label": STATUS_LABELS.get(claim["status"], claim["status"]), "next_step": next_step(claim),
            "is_open": claim["status"] in OPEN,
            "code_waiting": claim["status"] == "awaiting_verification" and any(
                e["kind"] == "institutional_email" and e["status"] == "pending" for e in claim["evidence"])}


class ClaimPagesController(PageController):

    @get("/r/{researcher_id:str}/claim")
    async def claim_form(self, request: Request, researcher_id: FromPath[str]) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/r/{researcher_id}/claim")
        data = await anyio.to_thread.run_sync(claim_form_data, request.app.state, researcher_id, principal)
        return await page(request, "claim_new.html", principal, error=None, statement="", links="",
                          institutional_email="", **data)

    @post("/r/{researcher_id:str}/claim", opt=FORM, status_code=303)
    async def open_claim(self, request: Request, researcher_id: FromPath[str]) -> Template | Redirect:
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/r/{researcher_id}/claim")
        state = request.app.state
        try:
            data = as_request(OpenClaim, {"evidence": evidence_from(form)})
            claim = await anyio.to_thread.run_sync(open_claim_for, state, principal.account_id, researcher_id, data)
        except DomainError as refused:
            context = await anyio.to_thread.run_sync(claim_form_data, state, researcher_id, principal)
            return await page(request, "claim_new.html", principal, status=status_of(refused),
                              error=readable(refused), statement=text(form, "statement", 6_000),
                              links=text(form, "links", 30_000),
                              institutional_email=text(form, "institutional_email", 300), **context)
        return see_other(f"/p/claims/{claim.id}")

    @get("/p/claims")
    async def my_claims(self, request: Request) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/claims")
        state = request.app.state
        cursor = request.query_params.get("cursor")

        def read() -> dict[str, Any]:
            found = claims_of(state, principal.account_id, 20, cursor)
            claims = msgspec.to_builtins(found.items)
            return {"claims": [{**c, "record_name": record_name(state, c["researcher_id"]),
                                "status_label": STATUS_LABELS.get(c["status"], c["status"]),
                                "next_step": next_step(c)} for c in claims],
                    "cursor": cursor, "next_cursor": found.next_cursor}

        return await page(request, "claims.html", principal, **await anyio.to_thread.run_sync(read))

    @get("/p/claims/{claim_id:uuid}")
    async def claim(self, request: Request, claim_id: FromPath[UUID]) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/p/claims/{claim_id}")
        return await self._claim_page(request, principal, claim_id, 200, None)

    async def _claim_page(self, request: Request, principal: Principal, claim_id: UUID, status: int,
                          error: str | None) -> Template:
        data = await anyio.to_thread.run_sync(claim_page_data, request.app.state, claim_id, principal)
        return await page(request, "claim.html", principal, status=status, error=error, **data)

    async def _act(self, request: Request, claim_id: UUID, act: Any) -> Template | Redirect:
        """Run `act(state, account_id, form)` for the signed-in claimant; back to the claim, with the
        refusal beside its forms if there is one."""
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/p/claims/{claim_id}")
        try:
            await anyio.to_thread.run_sync(act, request.app.state, principal.account_id, form)
        except DomainError as refused:
            if isinstance(refused, NotFoundError):
                raise
            return await self._claim_page(request, principal, claim_id, status_of(refused), readable(refused))
        return see_other(f"/p/claims/{claim_id}")

    @get("/p/orcid/callback")
    async def orcid_callback(self, request: Request) -> Template | Redirect:
        """Where ORCID sends the browser back (PEERLEDGER_ORCID_REDIRECT_URI pointing here): the
        API's own sign-in check for the signed-in claimant, then the claim's page."""
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next={quote(request.url.path + '?' + request.url.query, safe='')}")
        query = request.query_params
        values = {name: query.get(name, "")[:512] for name in ("code", "state", "error")}
        state = request.app.state
        claim_id = await anyio.to_thread.run_sync(claim_of_orcid_state, state, principal.account_id, values["state"])
        try:
            await anyio.to_thread.run_sync(finish_orcid_sign_in, state, principal.account_id, claim_id,
                                           values["code"], values["error"] or None)
        except DomainError as refused:
            if isinstance(refused, NotFoundError):
                raise
            return await self._claim_page(request, principal, claim_id, status_of(refused), readable(refused))
        return see_other(f"/p/claims/{claim_id}")

    @post("/p/claims/{claim_id:uuid}/code", opt=FORM, status_code=303)
    async def code(self, request: Request, claim_id: FromPath[UUID]) -> Template | Redirect:
        return await self._act(request, claim_id, lambda state, me, form: enter_claim_code(
            state, me, claim_id, as_request(EmailCode, {"code": text(form, "code", 20)})))

    @post("/p/claims/{claim_id:uuid}/evidence", opt=FORM, status_code=303)
    async def evidence(self, request: Request, claim_id: FromPath[UUID]) -> Template | Redirect:
        return await self._act(request, claim_id, lambda state, me, form: add_evidence_to(
            state, me, claim_id, as_request(AddEvidence, {"evidence": evidence_from(form)})))

    @post("/p/claims/{claim_id:uuid}/withdraw", opt=FORM, status_code=303)
    async def withdraw(self, request: Request, claim_id: FromPath[UUID]) -> Template | Redirect:
        return await self._act(request, claim_id, lambda state, me, form: state.services.claims.withdraw(claim_id, me))

    @post("/p/claims/{claim_id:uuid}/appeal", opt=FORM, status_code=303)
    async def appeal(self, request: Request, claim_id: FromPath[UUID]) -> Template | Redirect:
        return await self._act(request, claim_id, lambda state, me, form: state.services.claims.appeal(
            claim_id, me, as_request(Decision, {"reason": text(form, "reason", 3_000)}).reason))
