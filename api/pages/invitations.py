"""InvitationPagesController: "Direct collaboration" as pages: the invitation form on a claimed record's
profile, the inbox and sent box, accept, decline, withdraw, and the conversation with its messages.
Every step is the call the API's handlers make (api/invitations.py), refusals included."""

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
from api.invitations import (
    InvitationIn,
    MessageIn,
    ReportIn,
    accept_invitation,
    conversation_out,
    invitation_detail,
    invitation_out,
    send_invitation,
)
from api.pages.forms import FORM, as_request, posted, readable, status_of, text
from api.pages.profile import profile_of, profile_page_data
from api.pages.rendering import PageController, page, see_other
from api.pages.session import page_principal
from api.researchers import decode_cursor, encode_cursor
from domain.errors import DomainError, NotFoundError

STATUS_LABELS = {"pending": "Waiting for an answer", "accepted": "Accepted", "declined": "Declined",
                 "withdrawn": "Withdrawn", "expired": "Expired", "reported": "Reported"}


def names_of(state: State, account_ids: list[str]) -> dict[str, str]:
    found = state.services.profiles_view.owner_names(sorted(set(account_ids)))
    return {a: found.get(a) or "an erased account" for a in account_ids}


def record_names(state: State, record_ids: list[str]) -> dict[str, str]:
    names = {}
    for r in set(record_ids):
        try:
            names[r] = profile_of(state, r, None)[1]["display_name"]
        except NotFoundError:
            names[r] = "an author record"
    return names


def box_data(state: State, me: UUID, box: str, cursor: str | None) -> dict[str, Any]:
    view = state.services.invitations_view
    after = decode_cursor(cursor, 2) if cursor else None
    rows = view.box(str(me), box, None, after, 21)
    next_cursor = encode_cursor(rows[19]["sent_at"], rows[19]["id"]) if len(rows) > 20 else None
    items = [msgspec.to_builtins(invitation_out(r)) | {"sent_at": r["sent_at"]} for r in rows[:20]]
    other = "sender_id" if box == "inbox" else "recipient_id"
    people = names_of(state, [i[other] for i in items])
    records = record_names(state, [i["sender_record" if box == "inbox" else "recipient_record"] for i in items])
    return {"box": box, "cursor": cursor, "next_cursor": next_cursor, "pending": view.pending_received(str(me)),
            "unread": view.unread_messages(str(me)),
            "items": [i | {"person": people[i[other]], "status_label": STATUS_LABELS.get(i["status"], i["status"]),
                           "record": records[i["sender_record" if box == "inbox" else "recipient_record"]]}
                      for i in items]}


def invitation_data(state: State, me: UUID, invitation_id: UUID) -> dict[str, Any]:
    invitation = msgspec.to_builtins(invitation_detail(state, invitation_id, me))
    people = names_of(state, [invitation["sender_id"], invitation["recipient_id"]])
    records = record_names(state, [invitation["sender_record"], invitation["recipient_record"]])
    return {"inv": invitation, "sender": people[invitation["sender_id"]],
            "recipient": people[invitation["recipient_id"]], "records": records,
            "received": invitation["recipient_id"] == str(me),
            "status_label": STATUS_LABELS.get(invitation["status"], invitation["status"])}


def conversation_data(state: State, me: UUID, conversation_id: UUID) -> dict[str, Any]:
    conversation = msgspec.to_builtins(conversation_out(state, conversation_id, me))
    people = names_of(state, conversation["participants"])
    if conversation["messages"]:  # read on showing, as the API's read marker counts it
        last = conversation["messages"][-1]["number"]
        if conversation["read"].get(str(me), 0) < last:
            state.services.invitations.mark_read(conversation_id, me, last)
    other = next((p for p in conversation["participants"] if p != str(me)), str(me))
    return {"conv": conversation, "me": str(me), "people": people, "other": people[other]}


class InvitationPagesController(PageController):

    @post("/r/{researcher_id:str}/invite", opt=FORM, status_code=303)
    async def invite(self, request: Request, researcher_id: FromPath[str]) -> Template | Redirect:
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/r/{researcher_id}")
        state = request.app.state
        fields = {"message": text(form, "message", 3_000), "topic": text(form, "topic", 20) or None,
                  "work_id": text(form, "work_id", 20) or None}
        try:
            data = as_request(InvitationIn, fields)
            sent = await anyio.to_thread.run_sync(send_invitation, state, principal.account_id, researcher_id, data)
        except DomainError as refused:
            if isinstance(refused, NotFoundError):
                raise
            context = await anyio.to_thread.run_sync(profile_page_data, state, researcher_id, principal, None)
            context |= {"invite_error": readable(refused), "invite_message": fields["message"],
                        "invite_topic": fields["topic"], "invite_work": fields["work_id"]}
            return await page(request, "profile.html", principal, status=status_of(refused), **context)
        return see_other(f"/p/invitations/{sent.id}")

    @get("/p/invitations")
    async def box(self, request: Request) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/invitations")
        box = "sent" if request.query_params.get("box") == "sent" else "inbox"
        data = await anyio.to_thread.run_sync(box_data, request.app.state, principal.account_id, box,
                                              request.query_params.get("cursor"))
        return await page(request, "invitations.html", principal, **data)

    @get("/p/invitations/{invitation_id:uuid}")
    async def invitation(self, request: Request, invitation_id: FromPath[UUID]) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/p/invitations/{invitation_id}")
        return await self._invitation_page(request, principal, invitation_id, 200, None)

    async def _invitation_page(self, request: Request, principal: Principal, invitation_id: UUID, status: int,
                               error: str | None) -> Template:
        data = await anyio.to_thread.run_sync(invitation_data, request.app.state, principal.account_id,
                                              invitation_id)
        return await page(request, "invitation.html", principal, status=status, error=error, report_error=None,
                          report_draft="", **data)

    async def _answer(self, request: Request, invitation_id: UUID, act: Any) -> Template | Redirect:
        await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/p/invitations/{invitation_id}")
        try:
            done = await anyio.to_thread.run_sync(act, request.app.state, principal.account_id)
        except DomainError as refused:
            if isinstance(refused, NotFoundError):
                raise
            return await self._invitation_page(request, principal, invitation_id, status_of(refused),
                                               readable(refused))
        if done is not None and done.conversation_id is not None:
            return see_other(f"/p/conversations/{done.conversation_id}")
        return see_other(f"/p/invitations/{invitation_id}")

    @post("/p/invitations/{invitation_id:uuid}/accept", opt=FORM, status_code=303)
    async def accept(self, request: Request, invitation_id: FromPath[UUID]) -> Template | Redirect:
        return await self._answer(request, invitation_id, lambda state, me: accept_invitation(state, me, invitation_id))

    @post("/p/invitations/{invitation_id:uuid}/decline", opt=FORM, status_code=303)
    async def decline(self, request: Request, invitation_id: FromPath[UUID]) -> Template | Redirect:
        return await self._answer(request, invitation_id,
                                  lambda state, me: state.services.invitations.decline(invitation_id, me))

    @post("/p/invitations/{invitation_id:uuid}/withdraw", opt=FORM, status_code=303)
    async def withdraw(self, request: Request, invitation_id: FromPath[UUID]) -> Template | Redirect:
        return await self._answer(request, invitation_id,
                                  lambda state, me: state.services.invitations.withdraw(invitation_id, me))

    @post("/p/invitations/{invitation_id:uuid}/report", opt=FORM, status_code=303)
    async def report(self, request: Request, invitation_id: FromPath[UUID]) -> Template | Redirect:
        """The recipient reports abuse, as POST /invitations/{id}/report does (a pending one is declined)."""
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/p/invitations/{invitation_id}")
        reason = text(form, "reason", 3_000)
        try:
            data = as_request(ReportIn, {"reason": reason}, {"reason": "What is wrong with it"})
            await anyio.to_thread.run_sync(request.app.state.services.invitations.report, invitation_id,
                                           principal.account_id, data.reason)
        except DomainError as refused:
            if isinstance(refused, NotFoundError):
                raise
            data = await anyio.to_thread.run_sync(invitation_data, request.app.state, principal.account_id,
                                                  invitation_id)
            return await page(request, "invitation.html", principal, status=status_of(refused), error=None,
                              report_error=readable(refused), report_draft=reason, **data)
        return see_other(f"/p/invitations/{invitation_id}?done=reported")

    @get("/p/conversations/{conversation_id:uuid}")
    async def conversation(self, request: Request, conversation_id: FromPath[UUID]) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/p/conversations/{conversation_id}")
        return await self._conversation_page(request, principal, conversation_id, 200, None, "")

    async def _conversation_page(self, request: Request, principal: Principal, conversation_id: UUID, status: int,
                                 error: str | None, draft: str) -> Template:
        data = await anyio.to_thread.run_sync(conversation_data, request.app.state, principal.account_id,
                                              conversation_id)
        return await page(request, "conversation.html", principal, status=status, error=error, draft=draft, **data)

    @post("/p/conversations/{conversation_id:uuid}/messages", opt=FORM, status_code=303)
    async def write(self, request: Request, conversation_id: FromPath[UUID]) -> Template | Redirect:
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other(f"/p/login?next=/p/conversations/{conversation_id}")
        draft = text(form, "text", 5_000)
        try:
            data = as_request(MessageIn, {"text": draft}, {"text": "Message"})
            await anyio.to_thread.run_sync(request.app.state.services.invitations.post, conversation_id,
                                           principal.account_id, data.text)
        except DomainError as refused:
            if isinstance(refused, NotFoundError):
                raise
            return await self._conversation_page(request, principal, conversation_id, status_of(refused),
                                                 readable(refused), draft)
        return see_other(f"/p/conversations/{conversation_id}#messages")
