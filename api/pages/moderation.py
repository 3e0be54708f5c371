"""ModerationPagesController: the claim queue and the reported invitations for moderators, and a
claim's detail with approve (at a level), reject and request information. Every step is the API's
own moderation function (api/claims.py, api/invitations.py): who may decide what, a moderator with
a side in a record included, is refused there, in the API's words."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.auth import Principal
from api.claims import (
    Approval,
    Decision,
    Question,
    approve_claim,
    ask_claimant,
    claim_seen_by,
    is_moderator,
    moderation_queue,
    reject_claim,
)
from api.invitations import reports_page
from api.pages.claims import OPEN, record_name
from api.pages.forms import FORM, as_request, posted, readable, status_of, text
from api.pages.invitations import names_of
from api.pages.rendering import PageController, page, see_other
from api.pages.session import page_principal
from api.researchers import encode_cursor
from domain.errors import DomainError, ForbiddenError, NotFoundError

# The API's guard says "this needs the moderator or admin role": the same rule, in a page's words.
MODERATORS_ONLY = "this page is for moderators: it needs the moderator or admin role"
PER_PAGE = 20

STATUS_LABELS = {
    "awaiting_verification": "Waiting for the claimant's proof",
    "pending": "Waiting for a decision",
    "info_requested": "Question asked: waiting for the claimant's answer",
    "disputing": "Disputed: waiting for a decision",
    "approved": "Approved",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn",
}
KINDS = {"statement": "Statement", "institutional_email": "Institutional address", "orcid": "ORCID iD"}


def evidence_summary(evidence: list[dict[str, Any]]) -> list[str]:
    """Each piece of evidence in a line: its kind, what it names, its strength and status."""
    lines = []
    for e in evidence:
        what = KINDS.get(e["kind"], e["kind"])
        if e["kind"] == "statement":
            said = (e.get("text") or "").strip()
            what += f" with {len(e['links'])} link{'' if len(e['links']) == 1 else 's'}"
            if said:
                what += f": {said[:120]}{'…' if len(said) > 120 else ''}"
        elif e.get("email") or e.get("domain"):
            what += f" {e.get('email') or e.get('domain')}"
        by = " (the owner's)" if e.get("by") else ""
        lines.append(f"{what}{by}; {e['strength']}, {e['status']}")
    return lines


def queue_data(state: State, me: UUID, cursor: str | None) -> dict[str, Any]:
    found = moderation_queue(state, me, PER_PAGE, cursor)
    claims = msgspec.to_builtins(found.items)
    return {"claims": [c | {"record_name": record_name(state, c["researcher_id"]),
                            "status_label": STATUS_LABELS.get(c["status"], c["status"]),
                            "summary": evidence_summary(c["evidence"])} for c in claims],
            "cursor": cursor, "next_cursor": found.next_cursor}


def claim_data(state: State, me: Principal, claim_id: UUID) -> dict[str, Any]:
    claim = msgspec.to_builtins(claim_seen_by(state, me, claim_id))  # 404 where the API answers 404
    names = state.services.profiles_view.owner_names([claim["claimant_id"]])
    return {"claim": claim, "record_name": record_name(state, claim["researcher_id"]),
            "claimant_name": names.get(claim["claimant_id"]) or "an erased account",
            "status_label": STATUS_LABELS.get(claim["status"], claim["status"]),
            "is_open": claim["status"] in OPEN, "summary": evidence_summary(claim["evidence"])}


def reports_data(state: State, cursor: str | None) -> dict[str, Any]:
    reports = msgspec.to_builtins(reports_page(state, PER_PAGE, cursor))
    names = names_of(state, [r[k] for r in reports for k in ("sender_id", "recipient_id")])
    last = reports[-1] if len(reports) == PER_PAGE else None
    return {"reports": [r | {"sender": names[r["sender_id"]], "recipient": names[r["recipient_id"]]}
                        for r in reports],
            "cursor": cursor, "next_cursor": encode_cursor(last["reported_at"], last["invitation_id"]) if last else None}


class ModerationPagesController(PageController):
    path = "/p/moderation"

    @staticmethod
    async def _moderator(request: Request, back: str) -> Principal | Redirect:
        """The signed-in moderator; signed out, a way to sign in; anyone else, a 403 page."""
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next={back}")
        if not is_moderator(principal):
            raise ForbiddenError(MODERATORS_ONLY)
        return principal

    @get("/")
    async def queue(self, request: Request) -> Template | Redirect:
        moderator = await self._moderator(request, "/p/moderation")
        if isinstance(moderator, Redirect):
            return moderator
        data = await anyio.to_thread.run_sync(queue_data, request.app.state, moderator.account_id,
                                              request.query_params.get("cursor"))
        return await page(request, "moderation.html", moderator, **data)

    @get("/claims/{claim_id:uuid}")
    async def claim(self, request: Request, claim_id: FromPath[UUID]) -> Template | Redirect:
        moderator = await self._moderator(request, f"/p/moderation/claims/{claim_id}")
        if isinstance(moderator, Redirect):
            return moderator
        return await self._claim_page(request, moderator, claim_id, 200, None, {})

    async def _claim_page(self, request: Request, moderator: Principal, claim_id: UUID, status: int,
                          error: str | None, drafts: dict[str, str]) -> Template:
        data = await anyio.to_thread.run_sync(claim_data, request.app.state, moderator, claim_id)
        return await page(request, "moderation_claim.html", moderator, status=status, error=error,
                          drafts={"level": "L2", "approve_reason": "", "reject_reason": "", "question": ""} | drafts,
                          **data)

    async def _decide(self, request: Request, claim_id: UUID, done: str, decide: Any,
                      drafts: dict[str, str]) -> Template | Redirect:
        """Run `decide(state, moderator_id)`; back to the claim with a notice, or with the refusal beside
        the forms and what was typed kept. A claim this moderator may not even read (a side in its record)
        shows the refusal alone, as the API gives it."""
        back = f"/p/moderation/claims/{claim_id}"
        moderator = await self._moderator(request, back)
        if isinstance(moderator, Redirect):
            return moderator
        try:
            await anyio.to_thread.run_sync(decide, request.app.state, moderator.account_id)
        except DomainError as refused:
            if isinstance(refused, NotFoundError):
                raise
            try:
                return await self._claim_page(request, moderator, claim_id, status_of(refused), readable(refused),
                                              drafts)
            except NotFoundError:
                raise refused from None
        return see_other(f"{back}?done={done}")

    @post("/claims/{claim_id:uuid}/approve", opt=FORM, status_code=303)
    async def approve(self, request: Request, claim_id: FromPath[UUID]) -> Template | Redirect:
        form = await posted(request)
        fields = {"level": text(form, "level", 10), "reason": text(form, "reason", 3_000)}
        return await self._decide(request, claim_id, "approved", lambda state, me: approve_claim(
            state, me, claim_id, as_request(Approval, fields, {"level": "Level", "reason": "Reason for approving"})),
            {"level": fields["level"], "approve_reason": fields["reason"]})

    @post("/claims/{claim_id:uuid}/reject", opt=FORM, status_code=303)
    async def reject(self, request: Request, claim_id: FromPath[UUID]) -> Template | Redirect:
        form = await posted(request)
        reason = text(form, "reason", 3_000)
        return await self._decide(request, claim_id, "rejected", lambda state, me: reject_claim(
            state, me, claim_id, as_request(Decision, {"reason": reason}, {"reason": "Reason for rejecting"})),
            {"reject_reason": reason})

    @post("/claims/{claim_id:uuid}/request-info", opt=FORM, status_code=303)
    async def request_info(self, request: Request, claim_id: FromPath[UUID]) -> Template | Redirect:
        form = await posted(request)
        question = text(form, "question", 3_000)
        return await self._decide(request, claim_id, "asked", lambda state, me: ask_claimant(
            state, me, claim_id, as_request(Question, {"question": question}, {"question": "Question for the claimant"})),
            {"question": question})

    @get("/reports")
    async def reports(self, request: Request) -> Template | Redirect:
        moderator = await self._moderator(request, "/p/moderation/reports")
        if isinstance(moderator, Redirect):
            return moderator
        data = await anyio.to_thread.run_sync(reports_data, request.app.state, request.query_params.get("cursor"))
        return await page(request, "moderation_reports.html", moderator, **data)
