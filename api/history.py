"""HistoryController: what happened to a record or a claim, and who may see which part of it.

Three audiences: the public sees what happened and the role of who did it; the record's owner
(or the claim's claimant) also sees reasons written by people and the personal parts naming
themselves; moderators see everything. Once an account named in an entry is erased, the entry's
personal parts read "erased".
"""

from __future__ import annotations

import json
from typing import Any, Literal
from uuid import UUID

import anyio
import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery

from api.auth import PUBLIC, Principal, optional_principal
from api.claims import is_moderator
from api.researchers import ID_HELP, Cursor, Limit, decode_cursor, encode_cursor, reject_unknown_query
from api.trust import profile_doc
from domain.errors import ClaimNotFoundError

ERASED = "erased"
Order = Literal["oldest", "newest"]


class ActorOut(msgspec.Struct):
    role: str  # system, owner, claimant, moderator, voucher, followers
    id: str | None  # the account, to moderators (and to a person for their own acts); "erased" once erased


class HistoryEntryOut(msgspec.Struct):
    at: str
    area: str  # catalogue, claims, follows
    kind: str  # e.g. record.imported, work.added, claim.approved, verification.changed, followers.daily
    actor: ActorOut
    reason: str | None
    changes: dict[str, Any]
    personal: dict[str, Any] | None  # null to the public


class HistoryPageOut(msgspec.Struct):
    items: list[HistoryEntryOut]
    next_cursor: str | None


def entries_out(state: State, rows: list[Any], audience: str, me: str | None) -> list[HistoryEntryOut]:
    """Rows as `audience` may see them: "public", "party" (the record's owner or the claim's
    claimant, reading as `me`) or "moderator".

    A party sees an entry's personal parts, and reasons people wrote, only where the entry names
    them (as actor or party): the owner of a record does not read what a former owner or another
    claimant wrote. Once anyone the entry names is erased, its personal parts and its reason
    read "erased" for everyone, the system's reasons too (they may quote what that person gave)."""
    named = {a for row in rows for a in [*filter(None, row["parties"].split(",")), row["actor_id"]] if a}
    erased = state.services.history_view.erased_among(sorted(named))
    items = []
    for row in rows:
        actor_id = row["actor_id"]
        names = set(filter(None, row["parties"].split(","))) | ({actor_id} if actor_id else set())
        shredded = bool(names & erased)
        sees_personal = audience == "moderator" or (audience == "party" and me in names)
        shown_id = None
        if actor_id is not None and (audience == "moderator" or actor_id == me):
            shown_id = ERASED if actor_id in erased else actor_id
        reason = row["reason"]
        if reason is not None:
            if shredded:
                reason = ERASED if row["reason_public"] or sees_personal else None
            elif not (row["reason_public"] or sees_personal):
                reason = None
        personal = None
        if audience != "public":
            personal = json.loads(row["personal"])
            if shredded or not sees_personal:
                personal = {k: ERASED if shredded else None for k in personal}
        items.append(HistoryEntryOut(row["at"], row["area"], row["kind"], ActorOut(row["actor_role"], shown_id),
                                     reason, json.loads(row["changes"]), personal))
    return items


def page_of(state: State, subject: str, order: Order, limit: int, cursor: str | None, audience: str,
            me: str | None) -> HistoryPageOut:
    after = decode_cursor(cursor, 3) if cursor else None
    rows = state.services.history_view.entries(subject, after, limit + 1,  # type: ignore[arg-type]
                                               newest_first=order == "newest")
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = encode_cursor(last["at"], last["app"], last["ref"]) if last is not None else None
    return HistoryPageOut(entries_out(state, rows[:limit], audience, me), next_cursor)


class HistoryController(Controller):
    tags = ["history"]

    @get("/researchers/{researcher_id:str}/history", opt=PUBLIC,
         summary="Everything that happened to a record, across areas",
         description=ID_HELP + " The public sees what happened; the owner and moderators also see reasons"
         " and personal parts. Follows are one entry per day.")
    async def record_history(self, request: Request, state: State, researcher_id: FromPath[str],
                             order: FromQuery[Order] = "oldest", limit: Limit = 20,
                             cursor: Cursor = None) -> HistoryPageOut:
        reject_unknown_query(request, {"order", "limit", "cursor"})
        principal = await optional_principal(request) if "authorization" in request.headers else None
        return await anyio.to_thread.run_sync(self._record_history, state, researcher_id, order, limit, cursor,
                                              principal)

    @staticmethod
    def _record_history(state: State, raw: str, order: Order, limit: int, cursor: str | None,
                        principal: Principal | None) -> HistoryPageOut:
        internal_id, _ = profile_doc(state, raw)
        audience, me = "public", None
        if principal is not None:
            me = str(principal.account_id)
            _, owners = state.services.profiles_view.existing_and_owners([internal_id])
            if is_moderator(principal):
                audience = "moderator"
            elif owners.get(internal_id) == me:
                audience = "party"
        return page_of(state, internal_id, order, limit, cursor, audience, me)

    @get("/claims/{claim_id:uuid}/history", sync_to_thread=True,
         summary="Everything that happened to a claim (its claimant and moderators only)")
    def claim_history(self, request: Request[Principal, Any, State], state: State, claim_id: FromPath[UUID],
                      order: FromQuery[Order] = "oldest", limit: Limit = 20, cursor: Cursor = None) -> HistoryPageOut:
        reject_unknown_query(request, {"order", "limit", "cursor"})
        me = request.user
        found = state.services.history_view.claims_of([str(claim_id)]).get(str(claim_id))
        moderator = is_moderator(me)
        if found is None or not (moderator or found[1] == str(me.account_id)):
            raise ClaimNotFoundError  # as GET /claims/{id}: others cannot tell it exists
        return page_of(state, str(claim_id), order, limit, cursor, "moderator" if moderator else "party",
                       str(me.account_id))
