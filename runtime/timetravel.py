"""Time travel: a profile and its trust snapshot as they were at a moment, rebuilt from events.

The profile is worked out by the same function the profiles projection uses (build_profiles),
from inputs folded out of the events up to the moment:
- the record's own Registered event, and every event of every work that ever named it (read
  from the catalogue's log in one query, and folded up to the moment);
- who owned it, at what level, and whether it was disputed, from the history view's spans
  (themselves folded from the claims log, event by event);
- its followers then, and which of them owned a record verified at L2 or L3 then, from the
  history view's follow edges and spans.

Owners' names are today's (null once erased): erasure is not undone by looking back.
Followers whose accounts were erased are left out, as they are from today's counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from domain.catalogue.model import Researcher, Work, recency_key
from domain.claims.model import record_id_for
from domain.trust import TrustInputs
from projections.history.view import stamp
from projections.profiles.documents import ProfileDoc
from projections.profiles.projection import build_profiles
from projections.profiles.view import (
    CLOSE_COLLABORATOR_SHARED_WORKS,
    MAX_AUTHORS_FOR_COLLABORATION,
    ProfileInputs,
)
from runtime.services import Services

WORK_FIELDS = ("openalex_id", "doi", "title", "publication_year", "publication_date", "type", "venue",
               "cited_by_count", "abstract", "topics", "authorships")


@dataclass(frozen=True)
class PastProfile:
    doc: bytes  # encoded as the profiles projection stores it
    followers: int
    verified_followers: int

    def trust_inputs(self) -> TrustInputs:
        d = msgspec.json.decode(self.doc, type=ProfileDoc)
        return TrustInputs(d.verification_level, d.claim_status, d.works_count, d.topics_count,
                           d.close_collaborators_count, self.followers, self.verified_followers)


def profile_at(services: Services, researcher_id: str, moment: datetime) -> PastProfile | None:
    """The profile as it was at `moment`, or None if the record did not exist yet."""
    at = stamp(moment)
    rid = UUID(researcher_id)
    registered = [e for e in _events(services, [rid]) if isinstance(e, Researcher.Registered) and stamp(e.timestamp) <= at]
    if not registered:
        return None
    first = registered[0]
    inputs = ProfileInputs({"id": researcher_id, "openalex_id": first.openalex_id, "orcid": first.orcid,
                            "display_name": first.display_name}, [], 0)
    works = _works_at(_events(services, [UUID(w) for w in services.history_view.works_of(researcher_id)]), at)
    shared: dict[str, int] = {}
    for fields in works:
        listing = next((a for a in fields["authorships"] if a["researcher_id"] == researcher_id), None)
        if listing is None:
            continue  # a correction took the researcher off this work before the moment
        key = recency_key(fields["publication_date"], fields["publication_year"], fields["openalex_id"])
        inputs.works.append((key, listing["institutions"], fields["topics"], listing["display_name"] or None,
                             listing["orcid"]))
        if len(fields["authorships"]) <= MAX_AUTHORS_FOR_COLLABORATION:
            for other in {a["researcher_id"] for a in fields["authorships"]} - {researcher_id}:
                shared[other] = shared.get(other, 0) + 1
    inputs.close_collaborators = sum(1 for n in shared.values() if n >= CLOSE_COLLABORATOR_SHARED_WORKS)
    span = services.history_view.span_at(str(record_id_for(rid)), at)
    if span is not None:
        owner = span["owner"]
        names = services.profiles_view.owner_names([owner]) if owner else {}
        inputs.ownership = {"owner_id": owner, "level": span["level"], "disputed": bool(span["disputed"]),
                            "owner_name": names.get(owner)}
        if owner:
            inputs.same_person = sorted(set(services.history_view.owned_at(owner, at)) - {researcher_id})
    _, doc, _ = next(iter(build_profiles([inputs])))
    followers, verified = services.history_view.followers_at(researcher_id, at)
    return PastProfile(doc, followers, verified)


def _events(services: Services, originator_ids: list[UUID]) -> list[Any]:
    if not originator_ids:
        return []
    catalogue = services.catalogue
    stored = catalogue.recorder.select_events_of_many(originator_ids)  # type: ignore[attr-defined]
    return [catalogue.mapper.to_domain_event(s) for s in stored]


def _works_at(events: Iterable[Any], at: str) -> list[dict[str, Any]]:
    """Each work's fields as its events up to `at` left them (events come in version order)."""
    works: dict[UUID, dict[str, Any]] = {}
    for e in events:
        if stamp(e.timestamp) > at:
            continue
        if isinstance(e, Work.Imported):
            works[e.originator_id] = {k: getattr(e, k) for k in WORK_FIELDS}
        elif isinstance(e, Work.Corrected) and e.originator_id in works:
            works[e.originator_id] = {**works[e.originator_id], **e.changes}
    return list(works.values())
