"""ClaimsController, ModerationController and the ORCID callback: "Log in to claim" end to end.

A claim is visible to its claimant and to moderators only; to anyone else it does not exist
(404). Moderation routes need the moderator role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter

from api.accounts import NO_STORE, Strict
from api.own_writes import caught_up
from api.auth import Principal, requires_role
from api.text import free_text
from api.researchers import (
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    resolve_researcher,
)
from domain.claims.application import ClaimView, EvidenceIn
from domain.claims.ports import RecordFacts
from domain.errors import (
    ClaimNotFoundError,
    DomainError,
    ErrorCode,
    ForbiddenError,
    InvalidInputError,
)
from projections.vocabulary import ClaimProgress, EvidenceKind, EvidenceStatus, EvidenceStrength, Level

Reason = free_text(2_000)


class EvidenceBody(Strict):
    kind: Literal["orcid", "institutional_email", "statement"]
    email: free_text(254, min_length=0) | None = None
    text: free_text(5_000, min_length=0) | None = None
    links: Annotated[list[free_text(2_000)], msgspec.Meta(max_length=10)] = []


class OpenClaim(Strict):
    evidence: Annotated[list[EvidenceBody], msgspec.Meta(min_length=1, max_length=5)]


class AddEvidence(Strict):
    evidence: Annotated[list[EvidenceBody], msgspec.Meta(min_length=1, max_length=5)]


class EmailCode(Strict):
    code: Annotated[str, msgspec.Meta(pattern=r"^\s*\d{6}\s*$")]


class Decision(Strict):
    reason: Reason


class Approval(Strict):
    level: Literal["L2", "L3"]
    reason: Reason


class Question(Strict):
    question: Reason


class EvidenceOut(msgspec.Struct):
    id: str
    kind: EvidenceKind
    strength: EvidenceStrength
    status: EvidenceStatus
    email: str | None = None
    domain: str | None = None
    institution_id: str | None = None
    text: str | None = None
    links: list[str] = []
    failure: str | None = None
    by: str | None = None  # in a dispute: the record's owner's evidence


class ClaimOut(msgspec.Struct):
    id: UUID
    researcher_id: UUID
    claimant_id: UUID
    status: ClaimProgress
    evidence: list[EvidenceOut]
    question: str | None
    decided_by: str | None
    decision_reason: str | None
    level: Level | None
    appealed: bool
    opened_at: datetime
    updated_at: datetime
    orcid_sign_in_url: str | None = None
    claimant_name: str | None = None  # the claimant's public name, in the moderation queue


class ClaimPageOut(msgspec.Struct):
    items: list[ClaimOut]
    next_cursor: str | None


class LevelOut(msgspec.Struct):
    researcher_id: UUID
    verification_level: Level


class ClaimStatusOut(msgspec.Struct):
    claim_id: UUID
    status: ClaimProgress


def claim_out(view: ClaimView, orcid_url: str | None = None) -> ClaimOut:
    evidence = [
        EvidenceOut(
            id=e["id"], kind=e["kind"], strength=e["strength"], status=e["status"], email=e.get("email"),
            domain=e.get("domain"), institution_id=e.get("institution_id"), text=e.get("text"),
            links=e.get("links", []), failure=e.get("failure"), by=e.get("by"),
        )
        for e in view.evidence
    ]
    return ClaimOut(
        view.id, view.researcher_id, view.account_id, view.status, evidence, view.question, view.decided_by,
        view.decision_reason, view.level, view.appealed, view.opened_at, view.updated_at, orcid_url,
    )


def facts_for(state: State, raw_id: str) -> RecordFacts:
    """The record's facts as the claims rules read them (their RecordFactsSource port), for a record
    given by any of its ids; 404 if unknown."""
    internal_id = resolve_researcher(state.services.profiles_view, raw_id)
    return state.services.claims.facts_of(UUID(internal_id), asked_as=raw_id)


def claim_refusal(state: State, account_id: UUID, facts: RecordFacts) -> DomainError | None:
    """Why this account may not claim the record now whatever its evidence, or None: what a claim
    is refused for, and what the viewer of a profile is told before trying."""
    if not state.services.accounts.email_confirmed(account_id):
        return ForbiddenError("confirm your email address first (POST /accounts/confirm)",
                              code=ErrorCode.EMAIL_UNCONFIRMED)
    return state.services.claims.claim_refusal(account_id, facts)


def facts_of_claim(state: State, claim_id: FromPath[UUID]) -> RecordFacts:
    return facts_for(state, str(state.services.claims.claim_researcher(claim_id)))


def evidence_in(state: State, items: list[EvidenceBody]) -> list[EvidenceIn]:
    if any(e.kind == "orcid" for e in items) and not state.services.orcid.configured:
        raise InvalidInputError("ORCID sign-in is not configured on this server: use another kind of evidence",
                                code=ErrorCode.ORCID_NOT_CONFIGURED)
    return [EvidenceIn(e.kind, e.email, e.text, tuple(e.links)) for e in items]


def is_moderator(principal: Principal) -> bool:
    return "moderator" in principal.roles or "admin" in principal.roles


def with_sign_in(state: State, view: ClaimView) -> ClaimOut:
    waiting = any(e["kind"] == "orcid" and e["status"] == "pending" for e in view.evidence)
    url = state.services.orcid.start(view.id) if waiting and view.status == "awaiting_verification" else None
    return claim_out(view, url)


def claim_seen_by(state: State, me: Principal, claim_id: UUID) -> ClaimOut:
    """A claim as its claimant, or a moderator without a side in its record, reads it (404 to anyone else)."""
    view = state.services.claims.view(claim_id, me.account_id, is_moderator=is_moderator(me))
    return with_sign_in(state, view) if view.account_id == me.account_id else claim_out(view)


# What a claimant does, as functions: the API's handlers and the pages both call them.


def open_claim_for(state: State, account_id: UUID, researcher_id: str, data: OpenClaim) -> ClaimOut:
    facts = facts_for(state, researcher_id)
    refused = claim_refusal(state, account_id, facts)
    if refused is not None:
        raise refused
    claim_id = state.services.claims.open_claim(account_id, facts, evidence_in(state, data.evidence))
    return with_sign_in(state, state.services.claims.view(claim_id, account_id, is_moderator=False))


def add_evidence_to(state: State, account_id: UUID, claim_id: UUID, data: AddEvidence) -> ClaimOut:
    claims = state.services.claims
    claims.view(claim_id, account_id, is_moderator=False)  # 404 before anything else for strangers
    claims.add_evidence(claim_id, account_id, facts_of_claim(state, claim_id), evidence_in(state, data.evidence))
    view = claims.view(claim_id, account_id, is_moderator=False)
    return with_sign_in(state, view) if view.account_id == account_id else claim_out(view)


def enter_claim_code(state: State, account_id: UUID, claim_id: UUID, data: EmailCode) -> ClaimOut:
    claims = state.services.claims
    view = claims.view(claim_id, account_id, is_moderator=False)
    limit_code_entry(state, account_id, view.researcher_id)
    claims.confirm_email_code(claim_id, account_id, data.code, facts_of_claim(state, claim_id))
    return claim_out(claims.view(claim_id, account_id, is_moderator=False))


def claims_of(state: State, account_id: UUID, limit: int, cursor: str | None) -> ClaimPageOut:
    """The account's claims, the latest change first (with what was just done to them)."""
    after = decode_cursor(cursor, 2) if cursor else None
    caught_up(state.services.moderation_runner)
    rows = state.services.moderation_view.claims_by(str(account_id), after, limit + 1)  # type: ignore[arg-type]
    items = []
    for _, cid in rows[:limit]:
        try:
            items.append(claim_out(state.services.claims.view(UUID(cid), account_id, is_moderator=False)))
        except ClaimNotFoundError:
            continue
    next_cursor = encode_cursor(*rows[limit - 1]) if len(rows) > limit else None
    return ClaimPageOut(items, next_cursor)


class ClaimsController(Controller):
    """What a claimant does."""

    tags = ["claims"]
    response_headers = NO_STORE

    @post("/researchers/{researcher_id:str}/claims", summary="Claim an author record, with evidence",
          sync_to_thread=True, status_code=201)
    def open_claim(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str],
                   data: JSONBody[OpenClaim]) -> ClaimOut:
        return open_claim_for(state, request.user.account_id, researcher_id, data)

    @get("/claims/{claim_id:uuid}", summary="A claim (its claimant and moderators only)", sync_to_thread=True)
    def get_claim(self, request: Request[Principal, Any, State], state: State, claim_id: FromPath[UUID]) -> ClaimOut:
        return claim_seen_by(state, request.user, claim_id)

    @post("/claims/{claim_id:uuid}/evidence", summary="Add evidence to an open claim", sync_to_thread=True,
          status_code=200)
    def add_evidence(self, request: Request[Principal, Any, State], state: State, claim_id: FromPath[UUID],
                     data: JSONBody[AddEvidence]) -> ClaimOut:
        return add_evidence_to(state, request.user.account_id, claim_id, data)

    @post("/claims/{claim_id:uuid}/email-code", summary="Confirm an institutional address with its code",
          sync_to_thread=True, status_code=200)
    def email_code(self, request: Request[Principal, Any, State], state: State, claim_id: FromPath[UUID],
                   data: JSONBody[EmailCode]) -> ClaimOut:
        return enter_claim_code(state, request.user.account_id, claim_id, data)

    @post("/claims/{claim_id:uuid}/withdraw", summary="Withdraw an open claim", sync_to_thread=True, status_code=200)
    def withdraw(self, request: Request[Principal, Any, State], state: State, claim_id: FromPath[UUID]) -> ClaimOut:
        me = request.user
        state.services.claims.withdraw(claim_id, me.account_id)
        return claim_out(state.services.claims.view(claim_id, me.account_id, is_moderator=False))

    @post("/claims/{claim_id:uuid}/appeal", summary="Appeal a rejection once (a different moderator decides)",
          sync_to_thread=True, status_code=200)
    def appeal(self, request: Request[Principal, Any, State], state: State, claim_id: FromPath[UUID],
               data: JSONBody[Decision]) -> ClaimOut:
        me = request.user
        state.services.claims.appeal(claim_id, me.account_id, data.reason)
        return claim_out(state.services.claims.view(claim_id, me.account_id, is_moderator=False))

    @post("/researchers/{researcher_id:str}/owner/release", summary="The owner gives up the record",
          sync_to_thread=True, status_code=200)
    def release(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str],
                data: JSONBody[Decision]) -> None:
        state.services.claims.release(facts_for(state, researcher_id), request.user.account_id, data.reason)

    @post("/researchers/{researcher_id:str}/vouches", summary="Vouch for a co-author's record (two raise L2 to L3)",
          sync_to_thread=True, status_code=200)
    def vouch(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str]) -> LevelOut:
        me = request.user
        facts = facts_for(state, researcher_id)
        mine = state.services.profiles_view.coauthor_records_owned_by(str(facts.researcher_id), str(me.account_id))
        level = state.services.claims.vouch(facts, me.account_id, [facts_for(state, r) for r in mine])
        return LevelOut(facts.researcher_id, level)

    @get("/orcid/callback", summary="Finish ORCID sign-in (called with the claimant's token)", sync_to_thread=True,
         opt={"errors": (404, 409, 422)})
    def orcid_callback(
        self,
        request: Request[Principal, Any, State],
        state: State,
        code: Annotated[str, Parameter(max_length=512)] = "",
        state_: Annotated[str, QueryParameter(name="state", max_length=512)] = "",
        error: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> ClaimStatusOut:
        """ORCID redirects the browser to the front end's page (PEERLEDGER_ORCID_REDIRECT_URI),
        which passes `code` and `state` here with the claimant's access token: a sign-in
        completed in someone else's browser cannot verify the claim (404 to anyone but the
        claimant)."""
        claim_id = claim_of_orcid_state(state, request.user.account_id, state_)
        return finish_orcid_sign_in(state, request.user.account_id, claim_id, code, error)


def claim_of_orcid_state(state: State, account_id: UUID, signed_state: str) -> UUID:
    """The claim an ORCID sign-in was started for; 404 to anyone but its claimant."""
    claim_id = state.services.orcid.claim_for_state(signed_state)
    state.services.claims.view(claim_id, account_id, is_moderator=False)  # the claimant only
    return claim_id


def finish_orcid_sign_in(state: State, account_id: UUID, claim_id: UUID, code: str, error: str | None
                         ) -> ClaimStatusOut:
    """The iD ORCID proves for this sign-in, checked against the record (the API's callback and the page's)."""
    if error or not code:
        raise InvalidInputError("ORCID sign-in was cancelled or refused; start it again from the claim")
    proven = state.services.orcid.proven_orcid(code)
    status = state.services.claims.prove_orcid(claim_id, account_id, proven, facts_of_claim(state, claim_id))
    return ClaimStatusOut(claim_id, status)


def limit_code_entry(state: State, account_id: UUID, researcher_id: UUID) -> None:
    """Per claimant and record, not per claim: withdrawing and claiming again starts no new count."""
    scale = state.services.settings.rate_limit_scale
    state.services.rate_limiter.hit(f"claim codes:{account_id}:{researcher_id}", int(5 * scale), 900,
                                    "code attempts for this record")


class MyClaimsController(Controller):
    path = "/me/claims"
    tags = ["claims"]
    response_headers = NO_STORE

    @get("/", summary="My claims, the latest change first, each as GET /claims/{id} shows it", sync_to_thread=True)
    def mine(self, request: Request[Principal, Any, State], state: State, limit: Limit = 20,
             cursor: Cursor = None) -> ClaimPageOut:
        return claims_of(state, request.user.account_id, limit, cursor)


class ModerationController(Controller):
    """What moderators do."""

    tags = ["moderation"]
    guards = [requires_role("moderator", "admin")]
    response_headers = NO_STORE

    @get("/moderation/claims", summary="Claims waiting for a decision, oldest first, with their evidence",
         sync_to_thread=True)
    def queue(self, request: Request[Principal, Any, State], state: State, limit: Limit = 20,
              cursor: Cursor = None) -> ClaimPageOut:
        return moderation_queue(state, request.user.account_id, limit, cursor)

    @post("/claims/{claim_id:uuid}/approve", summary="Approve a claim at L2 or L3", sync_to_thread=True,
          status_code=200)
    def approve(self, request: Request[Principal, Any, State], state: State, claim_id: FromPath[UUID],
                data: JSONBody[Approval]) -> ClaimOut:
        return approve_claim(state, request.user.account_id, claim_id, data)

    @post("/claims/{claim_id:uuid}/reject", summary="Reject a claim with a reason", sync_to_thread=True,
          status_code=200)
    def reject(self, request: Request[Principal, Any, State], state: State, claim_id: FromPath[UUID],
               data: JSONBody[Decision]) -> ClaimOut:
        return reject_claim(state, request.user.account_id, claim_id, data)

    @post("/claims/{claim_id:uuid}/request-info", summary="Ask the claimant for more", sync_to_thread=True,
          status_code=200)
    def request_info(self, request: Request[Principal, Any, State], state: State, claim_id: FromPath[UUID],
                     data: JSONBody[Question]) -> ClaimOut:
        return ask_claimant(state, request.user.account_id, claim_id, data)

    @post("/researchers/{researcher_id:str}/owner/revoke", summary="Take a record from its owner, with a reason",
          sync_to_thread=True, status_code=200)
    def revoke(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str],
               data: JSONBody[Decision]) -> None:
        state.services.claims.revoke_owner(facts_for(state, researcher_id), request.user.account_id, data.reason)


# What a moderator does, as functions: the API's handlers and the moderation pages both call them.


def moderation_queue(state: State, moderator_id: UUID, limit: int, cursor: str | None) -> ClaimPageOut:
    """Claims waiting for a decision, oldest first, as this moderator may see them, with claimants' names."""
    after = decode_cursor(cursor, 2) if cursor else None
    caught_up(state.services.moderation_runner)  # a claim opened a moment ago is in the queue
    rows = state.services.moderation_view.queue(after, limit + 1)  # type: ignore[arg-type]
    claims = state.services.claims
    items = []
    for _, cid in rows[:limit]:
        try:
            items.append(claim_out(claims.view(UUID(cid), moderator_id, is_moderator=True)))
        except ClaimNotFoundError:
            continue  # about a record this moderator owns or has claimed: for others to decide
    names = state.services.profiles_view.owner_names(sorted({str(c.claimant_id) for c in items}))
    for claim in items:
        claim.claimant_name = names.get(str(claim.claimant_id))
    next_cursor = encode_cursor(*rows[limit - 1]) if len(rows) > limit else None
    return ClaimPageOut(items, next_cursor)


def approve_claim(state: State, moderator_id: UUID, claim_id: UUID, data: Approval) -> ClaimOut:
    claims = state.services.claims
    claims.approve(claim_id, moderator_id, data.level, data.reason, facts_of_claim(state, claim_id))
    return claim_out(claims.view(claim_id, moderator_id, is_moderator=True))


def reject_claim(state: State, moderator_id: UUID, claim_id: UUID, data: Decision) -> ClaimOut:
    state.services.claims.reject(claim_id, moderator_id, data.reason)
    return claim_out(state.services.claims.view(claim_id, moderator_id, is_moderator=True))


def ask_claimant(state: State, moderator_id: UUID, claim_id: UUID, data: Question) -> ClaimOut:
    state.services.claims.request_info(claim_id, moderator_id, data.question)
    return claim_out(state.services.claims.view(claim_id, moderator_id, is_moderator=True))
