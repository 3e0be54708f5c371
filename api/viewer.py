"""What the signed-in viewer of a profile may do there: follow, claim (and with what evidence),
invite. Each answer comes from the function that refuses the command itself (follow_refusal,
claim_refusal, Invitations.refusal), so the page, the API and the refusal never disagree.

A route of its own, not part of the profile: the profile is the hottest read and is served from
a cache; these answers read the viewer's own state in the applications (a few lookups each)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import FromPath

from api.accounts import NO_STORE
from api.auth import Principal
from api.claims import claim_refusal, facts_for
from api.invitations import send_facts
from domain.errors import DomainError
from domain.follows.application import follow_refusal


class Refusal(msgspec.Struct):
    code: str  # as the refusal's problem document says it
    detail: str
    facts: dict[str, Any] = {}  # until, claim_id, retry_after... where the refusal has them


class ViewerOut(msgspec.Struct):
    researcher_id: UUID
    following: bool
    can_follow: bool
    can_claim: bool
    evidence_kinds: list[str]  # what can back a claim of this record: orcid, institutional_email, statement
    can_invite: bool
    refusals: dict[str, Refusal]  # "follow", "claim", "invite": why not, for each that is refused


def refusal_out(error: DomainError) -> Refusal:
    return Refusal(str(error.code), error.detail, dict(error.facts))


class ViewerController(Controller):
    tags = ["researchers"]
    response_headers = NO_STORE

    @get("/researchers/{researcher_id:str}/viewer", summary="What I may do on this profile: follow, claim, invite "
         "(and why not)", sync_to_thread=True)
    def viewer(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str]) -> ViewerOut:
        me = request.user.account_id
        services = state.services
        facts = facts_for(state, researcher_id)  # 404 for an unknown record, 400 for a malformed id
        rid = str(facts.researcher_id)
        _, owners = services.follows.records.existing_and_owners([facts.researcher_id])  # as a follow reads it
        owner = owners.get(facts.researcher_id)
        confirmed = services.accounts.email_confirmed(me)
        refusals = {
            what: refusal_out(refused) for what, refused in (
                ("follow", follow_refusal(me, confirmed=confirmed, owner=owner)),
                ("claim", claim_refusal(state, me, facts)),
                ("invite", services.invitations.refusal(me, send_facts(state, me, rid))),
            ) if refused is not None
        }
        return ViewerOut(
            researcher_id=facts.researcher_id,
            following=services.followers_view.follows(rid, str(me)),
            can_follow="follow" not in refusals,
            can_claim="claim" not in refusals,
            evidence_kinds=services.claims.evidence_kinds(facts, orcid_sign_in=services.orcid.configured),
            can_invite="invite" not in refusals,
            refusals=refusals,
        )
