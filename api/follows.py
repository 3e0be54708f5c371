"""FollowsController: the Follow button, and the lists of followers and of those followed.

PUT and DELETE go through the process's follow writer (group commit) without taking a worker
thread: the handler waits on the writer's future. Each answer carries `position`: pass it as
`consistent_with` when reading a profile to see your own follow counted.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.datastructures import State
from litestar.params import FromPath

from api.accounts import NO_STORE
from api.own_writes import caught_up
from api.auth import PUBLIC, Principal
from api.researchers import (
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    parse_researcher_id,
    reject_unknown_query,
    resolve_researcher,
)
from domain.errors import ErrorCode, ForbiddenError, UnavailableError
from domain.follows.application import FollowCommand


class FollowOut(msgspec.Struct):
    researcher_id: UUID
    following: bool
    position: int | None  # pass as consistent_with to read your own follow back


class FollowerOut(msgspec.Struct):
    display_name: str | None
    since: str


class FollowerPageOut(msgspec.Struct):
    items: list[FollowerOut]
    next_cursor: str | None


class FollowingOut(msgspec.Struct):
    researcher_id: UUID
    since: str
    display_name: str | None = None  # the record's name as its profile shows it


class FollowingPageOut(msgspec.Struct):
    items: list[FollowingOut]
    next_cursor: str | None


async def researcher_uuid(state: State, raw: str) -> UUID:
    """Without a query for UUIDs and OpenAlex ids (the follow writer checks existence per batch)."""
    internal_id, _ = parse_researcher_id(raw)
    if internal_id is None:  # an ORCID iD: look it up
        internal_id = await anyio.to_thread.run_sync(resolve_researcher, state.services.profiles_view, raw)
    return UUID(internal_id)


async def require_confirmed(state: State, me: Principal) -> None:
    """Only people who confirmed their address follow (and count as followers). The session
    check is a few seconds old at most: a refusal looks at the account itself first."""
    if me.email_confirmed:
        return
    account = await anyio.to_thread.run_sync(state.services.accounts.view, me.account_id)
    if not account.email_confirmed:
        raise ForbiddenError("confirm your email address first (POST /accounts/confirm), then follow",
                             code=ErrorCode.EMAIL_UNCONFIRMED)


COMMAND_TIMEOUT = 10.0


async def run_command(state: State, command: FollowCommand) -> Any:
    future = state.follow_writer.submit(command)
    try:
        outcome = await asyncio.wait_for(asyncio.wrap_future(future), COMMAND_TIMEOUT)
    except TimeoutError:
        raise UnavailableError("the follow could not be saved in time; try again") from None
    if outcome.error is not None:
        raise outcome.error
    return outcome


class FollowsController(Controller):
    tags = ["follows"]

    @put("/me/following/{researcher_id:str}", summary="Follow a researcher (201 new, 200 already)",
         response_headers=NO_STORE, responses={201: ResponseSpec(FollowOut, description="a new follow")})
    async def follow(self, request: Request[Principal, Any, State], state: State,
                     researcher_id: FromPath[str]) -> Response[FollowOut]:
        await require_confirmed(state, request.user)
        rid = await researcher_uuid(state, researcher_id)
        outcome = await run_command(state, FollowCommand(request.user.account_id, rid, True, confirmed=True))
        state.own_writes.followed(request.user.account_id, outcome.position)
        return Response(FollowOut(rid, True, outcome.position), status_code=201 if outcome.changed else 200)

    @delete("/me/following/{researcher_id:str}", summary="Unfollow (200 with my state, also when not following)",
             response_headers=NO_STORE, status_code=200)
    async def unfollow(self, request: Request[Principal, Any, State], state: State,
                       researcher_id: FromPath[str]) -> FollowOut:
        rid = await researcher_uuid(state, researcher_id)
        outcome = await run_command(state, FollowCommand(request.user.account_id, rid, False))
        state.own_writes.followed(request.user.account_id, outcome.position)
        return FollowOut(rid, False, outcome.position)

    @get("/me/following", summary="Researchers I follow, newest first", sync_to_thread=True,
         response_headers=NO_STORE)
    def following(self, request: Request[Principal, Any, State], state: State, limit: Limit = 20,
                  cursor: Cursor = None) -> FollowingPageOut:
        reject_unknown_query(request, {"limit", "cursor"})
        after = decode_cursor(cursor, 2) if cursor else None
        caught_up(state.services.followers_runner)  # my own follows just made are in the list
        rows = state.services.followers_view.following(str(request.user.account_id), after, limit + 1)
        names = state.services.profiles_view.researcher_names([r for _, r in rows[:limit]])
        next_cursor = encode_cursor(*rows[limit - 1]) if len(rows) > limit else None
        return FollowingPageOut([FollowingOut(UUID(r), since, names.get(r)) for since, r in rows[:limit]], next_cursor)

    @get("/researchers/{researcher_id:str}/followers", summary="A researcher's followers, newest first",
         opt=PUBLIC, sync_to_thread=True)
    def followers(self, request: Request, state: State, researcher_id: FromPath[str], limit: Limit = 20,
                  cursor: Cursor = None) -> FollowerPageOut:
        reject_unknown_query(request, {"limit", "cursor"})
        view = state.services.read_view("profiles")
        internal_id = resolve_researcher(view, researcher_id)
        after = decode_cursor(cursor, 2) if cursor else None
        rows = state.services.read_view("followers").followers_of(internal_id, after, limit + 1)
        names = view.owner_names([a for _, a in rows[:limit]])
        next_cursor = encode_cursor(*rows[limit - 1]) if len(rows) > limit else None
        return FollowerPageOut([FollowerOut(names.get(a), since) for since, a in rows[:limit]], next_cursor)
