"""Linking records into one person: POST /researchers/{id}/links by the owner of a claimed record,
the moderators' queue of link requests and their decisions, DELETE to unlink.

Links are events on the claims area's records (a request waiting for the moderators is a
LinkRequest); every record of a person then reads the person's profile, folded by the profiles
projection. A link made at once, a decision and an unlink are answered once the profile shows
them, so the next read sees it.
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
from api.own_writes import caught_up, settled
from api.researchers import Cursor, Limit, decode_cursor, queue_page, resolve_researcher
from api.text import free_text
from domain.claims.application import EvidenceIn, LinkRequestView
from domain.errors import LinkRequestNotFoundError
from projections.vocabulary import EvidenceKind, EvidenceStatus, EvidenceStrength


class LinkIn(Strict):
    record: free_text(64)  # the other record's UUID or OpenAlex id (A...)
    evidence: Annotated[list[EvidenceBody], msgspec.Meta(min_length=1, max_length=5)]


class LinkOut(msgspec.Struct):
    person: UUID  # the person's own record (the one the owner claimed)
    record: UUID  # the record asked to be linked
    # linked at once, waiting for the moderators, or (a record someone else owns) disputed: not linked
    status: Literal["linked", "pending", "disputed"]
    request_id: UUID | None  # the link request, when the moderators decide
    records: list[UUID]  # the person's records now, its own first
    position: int | None  # the last event's position
    claim_id: UUID | None = None  # disputed: your claim on the record (GET /claims/{id}), for the moderators


class PersonOut(msgspec.Struct):
    person: UUID
    records: list[UUID]  # the person's records now, its own first
    position: int | None


class Shared(msgspec.Struct):
    id: str
    display_name: str | None


class LinkSummary(msgspec.Struct):
    """What the two records have in common, for a moderator to judge (from the profiles view)."""

    shared_coauthors: list[Shared]
    shared_institutions: list[Shared]
    shared_topics: list[Shared]
    name_forms: dict[str, list[str]]  # person / record -> the names works list each under
    years: dict[str, list[int | None]]  # person / record -> [first, last] year of their works
    overlapping_years: list[int] | None  # the years both published in, [first, last]


class LinkEvidenceOut(msgspec.Struct):
    id: str
    kind: EvidenceKind
    strength: EvidenceStrength
    status: EvidenceStatus
    text: str | None = None
    links: list[str] = []


class LinkRequestOut(msgspec.Struct):
    id: UUID
    person: UUID
    record: UUID
    requested_by: UUID
    status: Literal["pending", "approved", "rejected"]
    evidence: list[LinkEvidenceOut]
    reason: str | None  # the moderator's, once decided
    opened_at: datetime
    summary: LinkSummary | None = None  # in the moderators' queue and their reads
    records: list[UUID] | None = None  # after a decision: the person's records now
    position: int | None = None


class LinkRequestPageOut(msgspec.Struct):
    items: list[LinkRequestOut]
    next_cursor: str | None


LINKED = ResponseSpec(LinkOut, description="Linked at once: the record's ORCID iD is one the owner proved")
DISPUTED = ResponseSpec(LinkOut, description="Not linked: the record is someone else's, and asking opened a dispute"
                        " of it (`claim_id`: your claim, decided by the moderators)")
LINK_REQUESTS_PER_HOUR = 10  # per account: each may become a moderator's task


def person_records(state: State, person: UUID) -> list[UUID]:
    return [UUID(r) for r in state.services.profiles_view.person_records(str(person))]


def request_out(state: State, view: LinkRequestView, *, with_summary: bool = False) -> LinkRequestOut:
    evidence = [LinkEvidenceOut(e["id"], e["kind"], e["strength"], e["status"], e.get("text"), e.get("links", []))
                for e in view.evidence]
    summary = None
    if with_summary:
        summary = msgspec.convert(state.services.profiles_view.link_summary(str(view.person), str(view.record)),
                                  LinkSummary)
    return LinkRequestOut(view.id, view.person, view.record, view.account_id, view.status,  # type: ignore[arg-type]
                          evidence, view.reason, view.opened_at, summary)


class LinksController(Controller):
    """What the owner of a person does."""

    tags = ["claims"]
    response_headers = NO_STORE

    @post("/researchers/{researcher_id:str}/links", status_code=201, sync_to_thread=True,
          summary="Link another record into your person (the owner of a record verified at L2 or above)",
          description="Evidence as for claims: `orcid` when the record's ORCID iD is one you proved links at"
          " once (200); statements go to the moderators (201, with the request's id). The record is given by"
          " its UUID or OpenAlex id; it must be part of no person. A record someone else owns is not linked:"
          " asking opens a dispute of it with this evidence (202, with your claim's id).",
          responses={200: LINKED, 202: DISPUTED})
    def link(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str],
             data: JSONBody[LinkIn]) -> Response[LinkOut]:
        person = facts_for(state, researcher_id)  # 404 for an unknown record
        other = facts_for(state, data.record)
        services, me = state.services, request.user.account_id
        services.rate_limiter.hit(f"link requests:{me}",
                                  int(LINK_REQUESTS_PER_HOUR * services.settings.rate_limit_scale), 3600, "link requests")
        evidence = [EvidenceIn(e.kind, e.email, e.text, tuple(e.links)) for e in data.evidence]
        done = services.claims.link(person, other, me, evidence, asked_as=data.record)
        if done.linked:
            settled(state, done.position)
        status = "linked" if done.linked else "disputed" if done.claim_id is not None else "pending"
        out = LinkOut(done.person, done.record, status, done.request_id,  # type: ignore[arg-type]
                      person_records(state, done.person), done.position, done.claim_id)
        return Response(out, status_code={"linked": 200, "disputed": 202}.get(status, 201))

    @delete("/researchers/{researcher_id:str}/links/{record:str}", status_code=200, sync_to_thread=True,
            summary="Unlink a record from the person (its owner, or a moderator)",
            description="Both records read their own profiles again, as if never linked.")
    def unlink(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str],
               record: FromPath[str]) -> PersonOut:
        person = facts_for(state, researcher_id)
        member = resolve_researcher(state.services.profiles_view, record)
        me = request.user
        position = state.services.claims.unlink(person, UUID(member), me.account_id, is_moderator=is_moderator(me),
                                                asked_as=record)
        settled(state, position)
        return PersonOut(person.researcher_id, person_records(state, person.researcher_id), position)

    @get("/links/{request_id:uuid}", summary="A link request (its owner and moderators without a side in it)",
         sync_to_thread=True)
    def get_request(self, request: Request[Principal, Any, State], state: State,
                    request_id: FromPath[UUID]) -> LinkRequestOut:
        me = request.user
        view = state.services.claims.link_request(request_id)
        if view.account_id == me.account_id:
            return request_out(state, view)
        if not is_moderator(me):
            raise LinkRequestNotFoundError  # another person's request does not exist for them
        return request_out(state, state.services.claims.link_request_for(request_id, me.account_id),
                           with_summary=True)


class LinkModerationController(Controller):
    """What moderators do with link requests."""

    tags = ["moderation"]
    guards = [requires_role("moderator", "admin")]
    response_headers = NO_STORE

    @get("/moderation/links", sync_to_thread=True,
         summary="Link requests waiting for a decision, oldest first, each with what the two records share")
    def queue(self, request: Request[Principal, Any, State], state: State, limit: Limit = 20,
              cursor: Cursor = None) -> LinkRequestPageOut:
        after = decode_cursor(cursor, 2) if cursor else None
        caught_up(state.services.runner_of("profiles", "Claims"))  # a request made a moment ago is listed
        rows = state.services.profiles_view.pending_link_requests(after, limit + 1)  # type: ignore[arg-type]

        def item(request_id: UUID) -> LinkRequestOut | None:
            try:
                view = state.services.claims.link_request_for(request_id, request.user.account_id)
            except LinkRequestNotFoundError:
                return None
            return request_out(state, view, with_summary=True)

        return LinkRequestPageOut(*queue_page(rows, limit, item))

    @post("/links/{request_id:uuid}/approve", status_code=200, sync_to_thread=True,
          summary="Approve a link request with a reason: the record joins the person's profile")
    def approve(self, request: Request[Principal, Any, State], state: State, request_id: FromPath[UUID],
                data: JSONBody[Decision]) -> LinkRequestOut:
        return decide(state, request.user.account_id, request_id, approve=True, reason=data.reason)

    @post("/links/{request_id:uuid}/reject", status_code=200, sync_to_thread=True,
          summary="Reject a link request with a reason")
    def reject(self, request: Request[Principal, Any, State], state: State, request_id: FromPath[UUID],
               data: JSONBody[Decision]) -> LinkRequestOut:
        return decide(state, request.user.account_id, request_id, approve=False, reason=data.reason)


def decide(state: State, moderator_id: UUID, request_id: UUID, *, approve: bool, reason: str) -> LinkRequestOut:
    view = state.services.claims.decide_link(request_id, moderator_id, approve=approve, reason=reason)
    settled(state, view.position)
    out = request_out(state, view)
    out.records, out.position = person_records(state, view.person), view.position
    return out
