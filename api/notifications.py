"""GET /me/notifications and marking them read."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody

from api.accounts import NO_STORE, Strict
from api.auth import Principal
from api.text import free_text
from domain.text import FREE_TEXT_PATTERN
from api.researchers import (
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    reject_unknown_query,
)
from projections.vocabulary import Level, NotificationKind


class NotificationData(msgspec.Struct, omit_defaults=True):
    """What a notification is about; which members each kind has:
    new_follower: researcher_id, follower_id, follower_name;
    invitation_received: invitation_id, sender_id, sender_name;
    invitation_accepted, invitation_declined: invitation_id;
    message_received, conversation_closed: conversation_id, author_id, author_name (who closed it);
    claim_approved, claim_rejected: claim_id; claim_question: claim_id, question;
    verification_changed: researcher_id, old_level, new_level.
    Members without a value are left out (a name, once that account was erased)."""

    researcher_id: UUID | None = None
    follower_id: UUID | None = None
    follower_name: str | None = None
    invitation_id: UUID | None = None
    sender_id: UUID | None = None
    sender_name: str | None = None
    conversation_id: UUID | None = None
    author_id: UUID | None = None
    author_name: str | None = None
    claim_id: UUID | None = None
    question: str | None = None
    old_level: Level | None = None
    new_level: Level | None = None


class NotificationOut(msgspec.Struct):
    key: str
    kind: NotificationKind
    data: NotificationData
    created_at: str
    read: bool


class NotificationPageOut(msgspec.Struct):
    items: list[NotificationOut]
    unread_count: int
    next_cursor: str | None


class MarkRead(Strict):
    keys: Annotated[list[free_text(200)], msgspec.Meta(max_length=500)] | None = None
    # None: all of them


class MailSettings(Strict):
    mail: Annotated[list[Annotated[str, msgspec.Meta(max_length=40, pattern=FREE_TEXT_PATTERN)]], msgspec.Meta(max_length=20)]


class MailSettingsOut(msgspec.Struct):
    mail: list[str]


class NotificationsController(Controller):
    tags = ["notifications"]
    response_headers = NO_STORE

    @get("/me/notifications", summary="My notifications, newest first, with the unread count", sync_to_thread=True)
    def notifications(self, request: Request[Principal, Any, State], state: State,
                      unread: FromQuery[bool] = False, limit: Limit = 20, cursor: Cursor = None) -> NotificationPageOut:
        reject_unknown_query(request, {"unread", "limit", "cursor"})
        return notifications_of(state, request.user.account_id, unread, limit, cursor)

    @put("/me/notification-settings", summary="Which notifications to get by mail too", sync_to_thread=True)
    def mail_settings(self, request: Request[Principal, Any, State], state: State,
                      data: JSONBody[MailSettings]) -> MailSettingsOut:
        return MailSettingsOut(state.services.accounts.set_mail_notifications(request.user.account_id, data.mail))

    @get("/me/notification-settings", summary="Which notifications I get by mail too", sync_to_thread=True)
    def get_mail_settings(self, request: Request[Principal, Any, State], state: State) -> MailSettingsOut:
        return MailSettingsOut(state.services.accounts.mail_notifications(request.user.account_id)[1])

    @post("/me/notifications/read", summary="Mark notifications read (`keys`), or all of them", sync_to_thread=True,
          status_code=200)
    def mark_read(self, request: Request[Principal, Any, State], state: State,
                  data: JSONBody[MarkRead]) -> NotificationPageOut:
        return mark_notifications_read(state, request.user.account_id, data)


# The reader's notifications, as functions: the API's handlers and the notifications page both call them.


def notifications_of(state: State, account_id: UUID, unread: bool, limit: int, cursor: str | None
                     ) -> NotificationPageOut:
    me = str(account_id)
    store = state.services.notifications
    after = decode_cursor(cursor, 2) if cursor else None
    rows = store.page(me, unread, after, limit + 1)
    next_cursor = encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["key"]) if len(rows) > limit else None
    return NotificationPageOut([msgspec.convert(r, NotificationOut) for r in rows[:limit]], store.unread(me), next_cursor)


def mark_notifications_read(state: State, account_id: UUID, data: MarkRead) -> NotificationPageOut:
    """`data.keys` read (the reader's own only), or all of them; then the first page."""
    state.services.notifications.mark_read(str(account_id), data.keys)
    return notifications_of(state, account_id, False, 20, None)
