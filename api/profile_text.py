"""PATCH /researchers/{id}/profile: the owner writes the profile's headline and about text.

Recorded as an event on the claimed record (sealed with the owner's key, so erasing the account
erases the words); the answer comes once the profile shows it, so the owner's next read sees it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, patch
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from api.accounts import NO_STORE, Strict
from api.claims import facts_for
from api.own_writes import settled
from api.text import free_text, name
from domain.claims.application import MAX_ABOUT, MAX_HEADLINE, UNCHANGED
from domain.errors import ErrorCode, ForbiddenError


PROFILE_EDITS_PER_HOUR = 30  # per account and record: a person edits a few times; a script, without end


class ProfileTextIn(Strict):
    """Leave a member out to keep it; null removes it (a removed headline is generated again)."""

    headline: name(MAX_HEADLINE) | None | msgspec.UnsetType = msgspec.UNSET
    about: free_text(MAX_ABOUT, min_length=0) | None | msgspec.UnsetType = msgspec.UNSET


class ProfileTextOut(msgspec.Struct):
    researcher_id: UUID
    headline: str | None  # the owner's own; the profile shows a generated one while this is null
    about: str | None
    position: int | None  # the event's position (null when nothing changed)


class ProfileTextController(Controller):
    tags = ["researchers"]
    response_headers = NO_STORE

    @patch("/researchers/{researcher_id:str}/profile", summary="Edit my profile's headline and about text (owner)",
           sync_to_thread=True, status_code=200, opt={"areas": ("claims",)})
    def edit(self, request: Request[Any, Any, State], state: State, researcher_id: FromPath[str],
             data: JSONBody[ProfileTextIn]) -> ProfileTextOut:
        return edit_profile_text(state, request.user.account_id, researcher_id, data)


def edit_profile_text(state: State, account_id: UUID, researcher_id: str, data: ProfileTextIn) -> ProfileTextOut:
    """The owner's edit, as the API and the edit page make it: answered once the profile shows it."""
    facts = facts_for(state, researcher_id)  # 404 for an unknown record, 400 for a malformed id
    services = state.services
    # Each edit is an event kept for good: bounded, like claim codes (429 with Retry-After).
    services.rate_limiter.hit(f"profile text:{account_id}:{facts.researcher_id}",
                              int(PROFILE_EDITS_PER_HOUR * services.settings.rate_limit_scale), 3600,
                              "profile edits for this record")
    headline, about, position = services.claims.change_profile_text(
        facts.researcher_id, account_id,
        UNCHANGED if data.headline is msgspec.UNSET else data.headline,
        UNCHANGED if data.about is msgspec.UNSET else data.about,
    )
    settled(state, position)
    return ProfileTextOut(facts.researcher_id, headline, about, position)


def profile_text_of(state: State, account_id: UUID, researcher_id: str) -> tuple[UUID, str | None, str | None]:
    """The record and the owner's own headline and about text, for the edit page (403 for anyone else)."""
    facts = facts_for(state, researcher_id)
    record = state.services.claims.get_record(facts.researcher_id)
    if record is None or record.owner != account_id:
        raise ForbiddenError("only the record's owner can edit its profile", code=ErrorCode.NOT_OWNER)
    return (facts.researcher_id, *state.services.claims.profile_text(record))
