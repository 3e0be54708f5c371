"""NotificationPagesController: the reader's notifications, newest first, each said in a sentence with
a link to what it is about; mark one or all read. The list, the unread count and marking read are
the API's own functions (api/notifications.py)."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

from api.notifications import MarkRead, mark_notifications_read, notifications_of
from api.pages.forms import FORM, as_request, posted, text
from api.pages.rendering import PageController, page, see_other
from api.pages.session import page_principal

PER_PAGE = 20


def said(n: dict[str, Any], records: dict[str, str]) -> tuple[str, str | None]:
    """A notification as a sentence, and the page it is about."""
    d = n["data"]
    record = records.get(d.get("researcher_id", ""), "your record")
    someone = d.get("follower_name") or d.get("sender_name") or d.get("author_name") or "Someone"
    kinds: dict[str, tuple[str, str | None]] = {
        "new_follower": (f"{someone} follows {record}.", f"/r/{d.get('researcher_id')}"),
        "invitation_received": (f"{someone} invites you to collaborate.", f"/p/invitations/{d.get('invitation_id')}"),
        "invitation_accepted": ("Your invitation was accepted.", f"/p/invitations/{d.get('invitation_id')}"),
        "invitation_declined": ("Your invitation was declined.", f"/p/invitations/{d.get('invitation_id')}"),
        "message_received": (f"New message from {someone}.", f"/p/conversations/{d.get('conversation_id')}"),
        "conversation_closed": (f"{someone} closed your conversation.", f"/p/conversations/{d.get('conversation_id')}"),
        "claim_approved": ("Your claim was approved.", f"/p/claims/{d.get('claim_id')}"),
        "claim_rejected": ("Your claim was rejected.", f"/p/claims/{d.get('claim_id')}"),
        "claim_question": ("A moderator asks about your claim: " + str(d.get("question") or ""),
                           f"/p/claims/{d.get('claim_id')}"),
        "verification_changed": (f"The verification of {record} changed from {d.get('old_level')} to "
                                 f"{d.get('new_level')}.", f"/r/{d.get('researcher_id')}"),
    }
    return kinds.get(n["kind"], (n["kind"].replace("_", " ").capitalize() + ".", None))


def notifications_data(state: State, me: Any, unread_only: bool, cursor: str | None) -> dict[str, Any]:
    found = notifications_of(state, me, unread_only, PER_PAGE, cursor)
    items = msgspec.to_builtins(found.items)
    records = state.services.profiles_view.researcher_names(
        sorted({n["data"]["researcher_id"] for n in items if "researcher_id" in n["data"]}))
    shown = []
    for n in items:
        sentence, link = said(n, records)
        shown.append(n | {"sentence": sentence, "link": link})
    return {"items": shown, "unread_count": found.unread_count, "unread_only": unread_only, "cursor": cursor,
            "next_cursor": found.next_cursor}


class NotificationPagesController(PageController):
    path = "/p/notifications"

    @get("/")
    async def notifications(self, request: Request) -> Template | Redirect:
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/notifications")
        unread_only = request.query_params.get("unread") == "1"
        data = await anyio.to_thread.run_sync(notifications_data, request.app.state, principal.account_id,
                                              unread_only, request.query_params.get("cursor"))
        return await page(request, "notifications.html", principal, **data)

    @post("/read", opt=FORM, status_code=303)
    async def mark_read(self, request: Request) -> Redirect:
        """One notification (`key`), or all of them (no key), as POST /me/notifications/read marks them."""
        form = await posted(request)
        principal = await page_principal(request)
        if principal is None:
            return see_other("/p/login?next=/p/notifications")
        key = text(form, "key", 300)
        data = as_request(MarkRead, {"keys": [key] if key else None}, {"keys": "Notification"})
        await anyio.to_thread.run_sync(mark_notifications_read, request.app.state, principal.account_id, data)
        back = "/p/notifications?unread=1&done=read" if form.get("unread") == "1" else "/p/notifications?done=read"
        return see_other(back)
