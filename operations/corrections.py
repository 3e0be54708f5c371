"""Corrections for the data source: every attribution decision and link as JSON Lines, fit to report upstream.

OpenAlex keeps its listing; PeerLedger's profiles apply the decisions its owners and moderators
took. This export says which, in the order they were recorded: the work (ours and OpenAlex's id),
the record it concerns (ours and OpenAlex's), the decision, who decided (a role, never an
account) and when; a link says which record is the same person as which (`from_record` is
linked into `to_record`'s person, or unlinked from it); an adoption moves a work from
`from_record` to `to_record` (or back, when undone). Personal text (the reasons) is left out.
Reads only: it records nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import BinaryIO, Literal
from uuid import UUID

import msgspec
from eventsourcing.utils import get_topic

from domain.claims.model import Record, record_id_for
from bootstrap.services import Services
from operations.export import notifications_to_head

PAGE = 500
# What backs each decision, by who took it: the owner speaks for themselves; a moderator judged it.
EVIDENCE = {"owner": "owner_statement", "moderator": "moderator_review"}
LINK_EVIDENCE = {"orcid": "orcid_proven", "moderator_review": "moderator_review"}
TOPICS = frozenset(get_topic(cls) for cls in (Record.WorkDisowned, Record.DisownUndone, Record.Linked,
                                               Record.Unlinked, Record.WorkAdopted, Record.AdoptionUndone))


class Correction(msgspec.Struct):
    """One decision: the work leaves the record's profile (`not_mine`), or comes back (`undone`);
    or a record is the same person as another (`linked`), or no longer (`unlinked`); or the work
    moves from `from_record` to `to_record` (`adopted`), or back (`adoption_undone`)."""

    at: datetime  # UTC
    decision: Literal["not_mine", "undone", "linked", "unlinked", "adopted", "adoption_undone"]
    work_id: UUID | None  # None for a link
    work_openalex_id: str | None  # None for a link, or a work the profiles have not seen imported
    from_record: UUID  # the author record the work is taken from (or given back to), or that is linked
    from_record_openalex_id: str | None
    evidence_kind: str  # owner_statement, moderator_review, or orcid_proven (a link)
    actor_role: Literal["owner", "moderator"]
    notification_id: int  # where the event is stored: a later export resumes after it
    to_record: UUID | None = None  # a link's person (the record `from_record` is linked into), or an adopter
    to_record_openalex_id: str | None = None


def corrections(services: Services, since: datetime | None = None) -> Iterator[Correction]:
    """The claims log's attribution events from `since` (all when None), up to the log's head when
    the export began, a page at a time."""
    claims = services.claims
    view = services.profiles_view
    researcher_of = lru_cache(maxsize=10_000)(lambda record: claims.repository.get(record).researcher_id)

    @lru_cache(maxsize=10_000)
    def work_openalex(work_id: UUID) -> str | None:
        listed = view.work_as_listed(str(work_id))
        return None if listed is None else listed["openalex_id"]

    @lru_cache(maxsize=10_000)
    def record_openalex(researcher_id: UUID) -> str | None:
        return view.researcher_openalex_ids([str(researcher_id)]).get(str(researcher_id))

    for n in notifications_to_head(claims, PAGE):
        if n.topic not in TOPICS:
            continue  # decoded only when it is one of ours: the claims log holds far more
        e = claims.mapper.to_domain_event(n)
        if since is not None and e.timestamp < since:
            continue
        if isinstance(e, Record.Linked | Record.Unlinked):
            if e.originator_id != record_id_for(e.member):
                continue  # both records carry a link: the member's event says it once
            yield Correction(e.timestamp, "linked" if isinstance(e, Record.Linked) else "unlinked", None, None,
                             e.member, record_openalex(e.member),
                             LINK_EVIDENCE.get(getattr(e, "evidence_kind", ""), EVIDENCE.get(e.role, e.role)),
                             e.role, n.id, e.person, record_openalex(e.person))
            continue
        if isinstance(e, Record.WorkAdopted | Record.AdoptionUndone):
            if e.originator_id != record_id_for(e.adopter):
                continue  # both records carry an adoption: the adopter's event says it once
            adopted = isinstance(e, Record.WorkAdopted)
            yield Correction(e.timestamp, "adopted" if adopted else "adoption_undone", e.work_id,
                             work_openalex(e.work_id), e.from_record, record_openalex(e.from_record),
                             e.evidence_kind if adopted else EVIDENCE.get(e.role, e.role), e.role, n.id,
                             e.adopter, record_openalex(e.adopter))
            continue
        researcher = researcher_of(e.originator_id)
        yield Correction(e.timestamp, "not_mine" if isinstance(e, Record.WorkDisowned) else "undone",
                         e.work_id, work_openalex(e.work_id), researcher, record_openalex(researcher),
                         EVIDENCE.get(e.role, e.role), e.role, n.id)


def export_corrections(services: Services, out: BinaryIO, *, since: datetime | None = None) -> int:
    """Write the decisions as JSON Lines; returns how many."""
    encoder = msgspec.json.Encoder()
    count = 0
    for correction in corrections(services, since):
        out.write(encoder.encode(correction) + b"\n")
        count += 1
    return count
