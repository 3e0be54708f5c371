"""Flags on unclaimed records: POST /researchers/{id}/works/{work}/flags by anyone signed in (a
suspected misattribution, for the moderators), the moderators' queue and their decisions.

A flag is a Flag aggregate in the claims area; upholding it is "not mine" said by the moderator
(the attribution route's own path), answered once the profile shows it. The queue is the
moderation read model's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from api.accounts import NO_STORE, Strict
from api.auth import Principal, requires_role
from api.claims import Decision, facts_for, is_moderator
from api.explorer import parse_work_id
from api.own_writes import caught_up, settled
from api.researchers import Cursor, Limit, decode_cursor, queue_page
from api.text import free_text
from domain.claims.flagging import MAX_FLAG_REASON, FlagView
from domain.errors import ErrorCode, FlagNotFoundError, ForbiddenError

FLAGS_PER_HOUR = 10  # per account: each is a moderator's task


class FlagIn(Strict):
    reason: free_text(MAX_FLAG_REASON)  # personal: sealed with the writer's key, erased with the account


class FlagOut(msgspec.Struct):
    id: UUID
    researcher_id: UUID
    work_id: UUID
    work_openalex_id: str | None
    work_title: str | None
    flagged_by: UUID  # the account that raised it
    status: Literal["open", "upheld", "dismissed"]
    reason: str | None  # the flagger's (null once their account is erased)
    decision_reason: str | None  # the moderator's, once decided
    opened_at: datetime
    decided_at: datetime | None
    position: int | None = None  # the last event's position, after a command


class FlagPageOut(msgspec.Struct):
    items: list[FlagOut]
    next_cursor: str | None


def flag_out(state: State, view: FlagView) -> FlagOut:
    listed = state.services.profiles_view.work_as_listed(str(view.work_id)) or {}
    return FlagOut(view.id, view.researcher_id, view.work_id, listed.get("openalex_id"), listed.get("title"),
                   view.account_id, view.status, view.reason, view.decision_reason,  # type: ignore[arg-type]
                   view.opened_at, view.decided_at, view.position)


class FlagsController(Controller):
    """What anyone signed in does."""

    tags = ["claims"]
    response_headers = NO_STORE

    @post("/researchers/{researcher_id:str}/works/{work_id:str}/flags", status_code=201, sync_to_thread=True,
          summary="Flag a suspected misattribution on an unclaimed record, for the moderators",
          description="The work is given by its UUID or OpenAlex id (W...); the reason is yours (sealed with your"
          " key, erased with your account). Nothing changes on the record until a moderator upholds the flag."
          " A record with an owner is theirs to decide (409 record_claimed).")
    def raise_flag(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str],
                   work_id: FromPath[str], data: JSONBody[FlagIn]) -> FlagOut:
        work = UUID(parse_work_id(work_id))  # 400 for a malformed id
        facts = facts_for(state, researcher_id)  # 404 for an unknown record
        services = state.services
        me = request.user.account_id
        if not services.accounts.email_confirmed(me):
            raise ForbiddenError("confirm your email address first (POST /accounts/confirm)",
                                 code=ErrorCode.EMAIL_UNCONFIRMED)
        # Each flag is kept for good and asks a moderator for time: bounded per account (429).
        services.rate_limiter.hit(f"flags:{me}", int(FLAGS_PER_HOUR * services.settings.rate_limit_scale), 3600,
                                  "flags")
        view = services.claims.raise_flag(facts, work, me, data.reason, asked_as=work_id)
        return flag_out(state, view)

    @get("/flags/{flag_id:uuid}", summary="A flag (its author, and moderators without a side in the record)",
         sync_to_thread=True)
    def get_flag(self, request: Request[Principal, Any, State], state: State, flag_id: FromPath[UUID]) -> FlagOut:
        me = request.user
        return flag_out(state, state.services.claims.flag_seen_by(flag_id, me.account_id,
                                                                  is_moderator=is_moderator(me)))


class FlagModerationController(Controller):
    """What moderators do with flags."""

    tags = ["moderation"]
    guards = [requires_role("moderator", "admin")]
    response_headers = NO_STORE

    @get("/moderation/flags", sync_to_thread=True, summary="Open flags, oldest first")
    def queue(self, request: Request[Principal, Any, State], state: State, limit: Limit = 20,
              cursor: Cursor = None) -> FlagPageOut:
        after = decode_cursor(cursor, 2) if cursor else None
        services = state.services
        caught_up(services.moderation_runner)  # a flag raised a moment ago is listed
        rows = services.moderation_view.open_flags(after, limit + 1)  # type: ignore[arg-type]

        def item(flag_id: UUID) -> FlagOut | None:
            try:
                return flag_out(state, services.claims.flag_view(services.claims.flag_for_moderator(
                    flag_id, request.user.account_id)))
            except FlagNotFoundError:
                return None

        return FlagPageOut(*queue_page(rows, limit, item))

    @post("/flags/{flag_id:uuid}/uphold", status_code=200, sync_to_thread=True,
          summary="Uphold a flag with a reason: the work is \"not mine\" on the record, decided by you",
          description="As PUT /researchers/{id}/works/{work}/attribution by a moderator; answered once the"
          " profile shows it.")
    def uphold(self, request: Request[Principal, Any, State], state: State, flag_id: FromPath[UUID],
               data: JSONBody[Decision]) -> FlagOut:
        return decide(state, request.user.account_id, flag_id, uphold=True, reason=data.reason)

    @post("/flags/{flag_id:uuid}/dismiss", status_code=200, sync_to_thread=True,
          summary="Dismiss a flag with a reason: nothing changes on the record")
    def dismiss(self, request: Request[Principal, Any, State], state: State, flag_id: FromPath[UUID],
                data: JSONBody[Decision]) -> FlagOut:
        return decide(state, request.user.account_id, flag_id, uphold=False, reason=data.reason)


def decide(state: State, moderator_id: UUID, flag_id: UUID, *, uphold: bool, reason: str) -> FlagOut:
    claims = state.services.claims
    facts = facts_for(state, str(claims.flag_researcher(flag_id)))  # 404 for an unknown flag
    view = claims.decide_flag(flag_id, moderator_id, facts, uphold=uphold, reason=reason)
    settled(state, view.position)
    return flag_out(state, view)
