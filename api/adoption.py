"""Adopting a work OpenAlex attributes to another record: POST and DELETE
/researchers/{id}/works/{work}/adoption by the owner, the moderators' queue of adoption requests
and their decisions.

Adoptions are events on the claims area's records (a request waiting for the moderators is an
AdoptionRequest); the profiles projection moves the authorship from the other record to the
adopter whatever later imports say. A move made at once, a decision and an undo are answered
once the profiles show them, so the next read sees it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from api.accounts import NO_STORE, Strict
from api.auth import Principal, requires_role
from api.claims import Decision, EvidenceBody, facts_for, is_moderator
from api.explorer import parse_work_id
from api.links import LinkEvidenceOut, LinkSummary
from api.own_writes import caught_up, settled
from api.researchers import Cursor, Limit, decode_cursor, queue_page
from api.text import free_text
from domain.claims.adoption import Adoption, AdoptionRequestView
from domain.claims.application import EvidenceIn
from domain.errors import AdoptionRequestNotFoundError

PATH = "/researchers/{researcher_id:str}/works/{work_id:str}/adoption"
ADOPTIONS_PER_HOUR = 30  # per account, adopting and undoing together: each may be a moderator's task


class AdoptionIn(Strict):
    evidence: Annotated[list[EvidenceBody], msgspec.Meta(min_length=1, max_length=5)]
    # The record OpenAlex lists the work under (UUID or OpenAlex id, A...); left out: the one
    # authorship of the work that carries an ORCID iD you proved.
    from_record: free_text(64) | None = None


class AdoptionOut(msgspec.Struct):
    researcher_id: UUID  # the adopting record
    work_id: UUID
    from_record: UUID | None  # the record the work was taken from (null: the work follows OpenAlex)
    status: Literal["adopted", "pending"] | None  # moved, waiting for the moderators, or neither
    decided_by: Literal["owner", "moderator"] | None  # owner: ORCID-proven; moderator: approved
    evidence_kind: Literal["orcid_proven", "moderator_review"] | None
    request_id: UUID | None  # the adoption request, when the moderators decide
    position: int | None  # the last event's position (null when nothing changed)


class AdoptionRequestOut(msgspec.Struct):
    id: UUID
    researcher_id: UUID  # the adopting record
    work_id: UUID
    from_record: UUID
    requested_by: UUID
    status: Literal["pending", "approved", "rejected"]
    evidence: list[LinkEvidenceOut]
    reason: str | None  # the moderator's, once decided
    opened_at: datetime
    position: int | None = None
    # In the moderators' queue and their reads: what the adopting record (`person`) and the record
    # the work is listed under (`record`) share, from the profiles view, as for links.
    summary: LinkSummary | None = None


class AdoptionRequestPageOut(msgspec.Struct):
    items: list[AdoptionRequestOut]
    next_cursor: str | None


ADOPTED = ResponseSpec(AdoptionOut, description="Moved at once: the authorship carries an ORCID iD the owner proved")


def limited(state: State, account_id: UUID) -> None:
    """Adoptions and their undoing are events kept for good (four a round, on both records), and
    a request is a moderator's task: bounded per account like links and flags (429 with Retry-After)."""
    services = state.services
    services.rate_limiter.hit(f"adoptions:{account_id}", int(ADOPTIONS_PER_HOUR * services.settings.rate_limit_scale),
                              3600, "adoptions")


def adoption_out(done: Adoption) -> AdoptionOut:
    return AdoptionOut(done.researcher_id, done.work_id, done.from_record, done.status,  # type: ignore[arg-type]
                       done.decided_by, done.evidence_kind, done.request_id, done.position)  # type: ignore[arg-type]


def request_out(view: AdoptionRequestView, state: State | None = None) -> AdoptionRequestOut:
    """The request; with `state`, the summary for a moderator."""
    evidence = [LinkEvidenceOut(e["id"], e["kind"], e["strength"], e["status"], e.get("text"), e.get("links", []))
                for e in view.evidence]
    summary = None
    if state is not None:
        summary = msgspec.convert(state.services.profiles_view.link_summary(str(view.adopter), str(view.from_record)),
                                  LinkSummary)
    return AdoptionRequestOut(view.id, view.adopter, view.work_id, view.from_record, view.account_id,
                              view.status, evidence, view.reason, view.opened_at, view.position,  # type: ignore[arg-type]
                              summary)


class AdoptionController(Controller):
    """What the owner of a record does."""

    tags = ["claims"]
    response_headers = NO_STORE

    @post(PATH, status_code=201, sync_to_thread=True,
          summary="Adopt a work OpenAlex attributes to another record (the owner of a record verified at L2+)",
          description="Evidence as for links: `orcid` when the work's authorship under `from_record` carries an"
          " ORCID iD you proved moves the work at once (200); statements go to the moderators (201, with the"
          " request's id). The work is given by its UUID or OpenAlex id (W...), `from_record` by UUID or OpenAlex"
          " id; left out, it is the one authorship carrying an iD you proved. The other record must be nobody's.",
          responses={200: ADOPTED})
    def adopt(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str],
              work_id: FromPath[str], data: JSONBody[AdoptionIn]) -> Response[AdoptionOut]:
        work = UUID(parse_work_id(work_id))  # 400 for a malformed id
        adopter = facts_for(state, researcher_id)  # 404 for an unknown record
        limited(state, request.user.account_id)
        source = None if data.from_record is None else facts_for(state, data.from_record)
        evidence = [EvidenceIn(e.kind, e.email, e.text, tuple(e.links)) for e in data.evidence]
        done = state.services.claims.adopt(adopter, work, request.user.account_id, evidence, source,
                                           asked_as=work_id)
        if done.status == "adopted":
            settled(state, done.position)
        return Response(adoption_out(done), status_code=201 if done.status == "pending" else 200)

    @delete(PATH, status_code=200, sync_to_thread=True,
            summary="Undo an adoption (the adopting record's owner, or a moderator)",
            description="The work follows OpenAlex's attribution again. Undoing what is not adopted changes nothing"
            " (`position` null).")
    def undo(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str],
             work_id: FromPath[str]) -> AdoptionOut:
        work = UUID(parse_work_id(work_id))
        adopter = facts_for(state, researcher_id)
        me = request.user
        limited(state, me.account_id)
        done = state.services.claims.undo_adoption(adopter, work, me.account_id, is_moderator=is_moderator(me))
        settled(state, done.position)
        return adoption_out(done)

    @get("/adoptions/{request_id:uuid}", sync_to_thread=True,
         summary="An adoption request (its owner and moderators without a side in it)")
    def get_request(self, request: Request[Principal, Any, State], state: State,
                    request_id: FromPath[UUID]) -> AdoptionRequestOut:
        me = request.user
        view = state.services.claims.adoption_request(request_id)
        if view.account_id == me.account_id:
            return request_out(view)
        if not is_moderator(me):
            raise AdoptionRequestNotFoundError  # another person's request does not exist for them
        return request_out(state.services.claims.adoption_request_for(request_id, me.account_id), state)


class AdoptionModerationController(Controller):
    """What moderators do with adoption requests."""

    tags = ["moderation"]
    guards = [requires_role("moderator", "admin")]
    response_headers = NO_STORE

    @get("/moderation/adoptions", sync_to_thread=True, summary="Adoption requests waiting for a decision, oldest first")
    def queue(self, request: Request[Principal, Any, State], state: State, limit: Limit = 20,
              cursor: Cursor = None) -> AdoptionRequestPageOut:
        after = decode_cursor(cursor, 2) if cursor else None
        caught_up(state.services.runner_of("profiles", "Claims"))  # a request made a moment ago is listed
        rows = state.services.profiles_view.pending_adoption_requests(after, limit + 1)  # type: ignore[arg-type]

        def item(request_id: UUID) -> AdoptionRequestOut | None:
            try:
                return request_out(state.services.claims.adoption_request_for(request_id, request.user.account_id),
                                   state)
            except AdoptionRequestNotFoundError:
                return None

        return AdoptionRequestPageOut(*queue_page(rows, limit, item))

    @post("/adoptions/{request_id:uuid}/approve", status_code=200, sync_to_thread=True,
          summary="Approve an adoption request with a reason: the work moves to the adopting record")
    def approve(self, request: Request[Principal, Any, State], state: State, request_id: FromPath[UUID],
                data: JSONBody[Decision]) -> AdoptionRequestOut:
        return decide(state, request.user.account_id, request_id, approve=True, reason=data.reason)

    @post("/adoptions/{request_id:uuid}/reject", status_code=200, sync_to_thread=True,
          summary="Reject an adoption request with a reason")
    def reject(self, request: Request[Principal, Any, State], state: State, request_id: FromPath[UUID],
               data: JSONBody[Decision]) -> AdoptionRequestOut:
        return decide(state, request.user.account_id, request_id, approve=False, reason=data.reason)


def decide(state: State, moderator_id: UUID, request_id: UUID, *, approve: bool, reason: str) -> AdoptionRequestOut:
    view = state.services.claims.decide_adoption(request_id, moderator_id, approve=approve, reason=reason)
    settled(state, view.position)
    return request_out(view)
