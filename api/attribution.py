"""PUT and DELETE /researchers/{id}/works/{work}/attribution: "not mine", and taking it back.

Recorded as events on the claimed record (the reason sealed with the key of whoever gave it);
the profiles projection leaves a disowned work out of that record's profile whatever OpenAlex
lists, and the answer comes once the profile shows it, so the owner's next read sees it.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, delete, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from api.accounts import NO_STORE, Strict
from api.claims import facts_for, is_moderator
from api.explorer import parse_work_id
from api.own_writes import settled
from api.text import free_text
from domain.claims.application import MAX_ATTRIBUTION_REASON, Attribution

PATH = "/researchers/{researcher_id:str}/works/{work_id:str}/attribution"
ATTRIBUTION_CHANGES_PER_HOUR = 60  # per account and record: enough for a person's many misattributed works
WORK_HELP = " The work is given by its UUID or OpenAlex id (W...)."


class AttributionIn(Strict):
    decision: Literal["not_mine"]
    reason: free_text(MAX_ATTRIBUTION_REASON) | None = None  # personal: erased with the account that wrote it


class AttributionOut(msgspec.Struct):
    researcher_id: UUID
    work_id: UUID
    decision: Literal["not_mine"] | None  # null: the profile follows OpenAlex for this work
    decided_by: Literal["owner", "moderator"] | None  # the role of who decided
    reason: str | None  # null when none was given, or once its writer's account is erased
    position: int | None  # the event's position (null when nothing changed)


class AttributionController(Controller):
    tags = ["researchers"]
    response_headers = NO_STORE

    @put(PATH, summary="Say a work is not mine (the record's owner, or a moderator)", status_code=200,
         description="The work leaves this record's profile, counts, topics, graph and trust, also after"
         " re-imports that still list the authorship; co-authors keep it." + WORK_HELP,
         sync_to_thread=True, opt={"areas": ("claims",)})
    def disown(self, request: Request[Any, Any, State], state: State, researcher_id: FromPath[str],
               work_id: FromPath[str], data: JSONBody[AttributionIn]) -> AttributionOut:
        return change_attribution(state, request, researcher_id, work_id, not_mine=True, reason=data.reason)

    @delete(PATH, summary="Take back a \"not mine\" (the record's owner, or a moderator)", status_code=200,
            description="The profile follows OpenAlex for this work again." + WORK_HELP,
            sync_to_thread=True, opt={"areas": ("claims",)})
    def undo(self, request: Request[Any, Any, State], state: State, researcher_id: FromPath[str],
             work_id: FromPath[str]) -> AttributionOut:
        return change_attribution(state, request, researcher_id, work_id, not_mine=False)


def change_attribution(state: State, request: Request[Any, Any, State], researcher_id: str, work_id: str, *,
                       not_mine: bool, reason: str | None = None) -> AttributionOut:
    """The decision, answered once the profile shows it."""
    work = UUID(parse_work_id(work_id))  # 400 for a malformed id
    facts = facts_for(state, researcher_id)  # 404 for an unknown record
    services = state.services
    me = request.user
    # Each change is an event kept for good: bounded like profile edits (429 with Retry-After).
    services.rate_limiter.hit(f"attribution:{me.account_id}:{facts.researcher_id}",
                              int(ATTRIBUTION_CHANGES_PER_HOUR * services.settings.rate_limit_scale), 3600,
                              "attribution changes for this record")
    done: Attribution = services.claims.change_attribution(
        facts, work, me.account_id, is_moderator=is_moderator(me), not_mine=not_mine, reason=reason,
        asked_as=work_id)
    settled(state, done.position)
    return AttributionOut(done.researcher_id, done.work_id, done.decision, done.role,  # type: ignore[arg-type]
                          done.reason, done.position)
