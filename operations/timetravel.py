"""Time travel: a profile and its trust snapshot as they were at a moment, rebuilt from events.

The profile is encoded by the same function the profiles projection uses (encode_profile), from
facts folded out of the events up to the moment (facts_from_works):
- the record's own Registered event, and every event of every work that ever named it (read
  from the catalogue's log in one query, and folded up to the moment);
- who owned it, at what level, and whether it was disputed, from the history view's spans
  (themselves folded from the claims log, event by event);
- its followers then, and which of them owned a record verified at L2 or L3 then, from the
  history view's follow edges and spans;
- the "not mine" decisions in force then, of the record and of its co-authors (their records'
  events on the claims log, one query): a work the record disowned is left out, and a co-author
  who disowned a work is no co-author on it, as the profiles projection applies them today;
- the adoptions in force then (the same records' events): a work the record adopted is its, with
  the listing of the record it was taken from; a work adopted from it is not; a co-author whose
  authorship another record adopted is that record on it;
- the counts events added to it up to then (domain/profile_counts.py), from the profiles view's
  rows of those events, which keep when each happened;
- the person the record was part of then (the links on its claims record and its person's): the
  person's profile, folded over the union of its records' works then, each work once, with its
  followers counted once per account.

Owners' names are today's (null once erased): erasure is not undone by looking back.
Followers whose accounts were erased are left out, as they are from today's counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.utils import get_topic

from domain.catalogue.model import WORK_FIELDS, Researcher, Work, recency_key
from domain.claims.model import Record, record_id_for
from domain.trust import TrustInputs
from projections.history.view import stamp
from projections.profiles.build import (
    MAX_AUTHORS_FOR_COLLABORATION,
    ProfileFacts,
    WorkFacts,
    encode_profile,
    facts_from_works,
)
from projections.profiles.documents import trust_inputs
from bootstrap.services import Services

SNAPSHOT_AFTER = 500  # works folded from events by one read, beyond which it saves a snapshot
SETTLED = timedelta(minutes=1)  # every event stamped this long ago is committed
ATTRIBUTION_TOPICS = frozenset(get_topic(cls) for cls in (Record.WorkDisowned, Record.DisownUndone,
                                                           Record.WorkAdopted, Record.AdoptionUndone))
LINK_TOPICS = frozenset(get_topic(cls) for cls in (Record.Linked, Record.Unlinked))


@dataclass(frozen=True)
class PastProfile:
    doc: bytes  # encoded as the profiles projection stores it
    followers: int
    verified_followers: int

    def trust_inputs(self) -> TrustInputs:
        return trust_inputs(self.doc, self.followers, self.verified_followers)


def profile_at(services: Services, researcher_id: str, moment: datetime) -> PastProfile | None:
    """The profile as it was at `moment`, or None if the record did not exist yet."""
    at = stamp(moment)
    if not _registered_by(services, researcher_id, at):
        return None
    records = person_at(services, researcher_id, at)
    researcher_id, rid = records[0], UUID(records[0])  # a person's profile is its own record's
    [first, *_] = _registered_by(services, researcher_id, at)
    works: dict[str, list[Any]] = {}
    for record in records:  # each work once: as the first of the records that wrote it lists it
        for wid, work in as_decided(services, record, works_at(services, record, at), at).items():
            works.setdefault(wid, work)
    if len(records) > 1:  # the person's own records are no co-authors of it
        works = {wid: [*w[:5], None if w[5] is None else [c for c in w[5] if c not in records]]
                 for wid, w in works.items()}
    facts = facts_from_works(
        ProfileFacts(researcher_id, first.openalex_id, first.display_name, first.orcid),
        (WorkFacts(*work) for work in works.values()))
    facts.records = records if len(records) > 1 else []
    facts.counts = services.profiles_view.counts_at(records, at)
    span = services.history_view.span_at(str(record_id_for(rid)), at)
    if span is not None:
        owner = span["owner"]
        facts.claimed_ever, facts.owner_id, facts.level, facts.disputed = True, owner, span["level"], bool(span["disputed"])
        if owner:
            facts.owner_name = services.profiles_view.owner_names([owner]).get(owner)
            facts.same_person = sorted(set(services.history_view.owned_at(owner, at)) - {researcher_id})
    doc, _ = encode_profile(facts)
    followers, verified = services.history_view.followers_at(records, at)
    return PastProfile(doc, followers, verified)


def _registered_by(services: Services, researcher_id: str, at: str) -> list[Any]:
    return [e for e in _events(services, [UUID(researcher_id)])
            if isinstance(e, Researcher.Registered) and stamp(e.timestamp) <= at]


def person_at(services: Services, researcher_id: str, at: str) -> list[str]:
    """The records of the person `researcher_id` was part of at `at`, the person's own first
    (the record alone when it was in none), from the links on the claims records."""
    def links(record: str) -> tuple[str | None, set[str]]:
        person, members = None, set()
        if not services.profiles_view.with_claims_record([record]):
            return person, members
        for stored in services.claims.recorder.select_events(record_id_for(UUID(record))):  # in version order
            if stored.topic not in LINK_TOPICS:
                continue
            e = services.claims.mapper.to_domain_event(stored)
            if stamp(e.timestamp) > at:
                break
            linked = isinstance(e, Record.Linked)
            if str(e.member) == record:
                person = str(e.person) if linked else None
            else:
                (members.add if linked else members.discard)(str(e.member))
        return person, members

    person, members = links(researcher_id)
    if person is not None:
        _, members = links(person)
        return [person, *sorted(members)]
    return [researcher_id, *sorted(members)]


def as_decided(services: Services, researcher_id: str, works: dict[str, list[Any]],
               at: str) -> dict[str, list[Any]]:
    """The works as the profile showed them at `at`: those the record had disowned or that were
    adopted from it then left out, those it had adopted added (as the record they were taken from
    was listed), co-authors who had disowned a work taken off its co-authors and co-authors whose
    authorship was adopted replaced by the adopter."""
    own = decisions_at(services, [researcher_id], at)
    adopted, away = own.adopted.get(researcher_id, {}), own.away.get(researcher_id, {})
    works = {wid: work for wid, work in works.items() if wid not in away}
    for wid, source in sorted(adopted.items()):
        if wid in works:
            continue  # OpenAlex listed the record itself then: its own listing counts
        work = adopted_work(services, wid, source, researcher_id, at)
        if work is not None:
            works[wid] = work
    coauthors = sorted({c for work in works.values() for c in (work[5] or ())})
    others = decisions_at(services, coauthors, at)
    mine = own.hidden.get(researcher_id, set()) - set(adopted)
    if not (mine or others.hidden or others.away):
        return works
    shown = {}
    for wid, work in works.items():
        if wid in mine:
            continue
        if work[5]:
            kept: set[str] = set()
            for c in work[5]:
                adopter = others.away.get(c, {}).get(wid)
                if adopter is not None:
                    if adopter != researcher_id:
                        kept.add(adopter)
                elif wid not in others.hidden.get(c, ()):
                    kept.add(c)
            work = [*work[:5], sorted(kept)]
        shown[wid] = work
    return shown


def adopted_work(services: Services, work_id: str, source: str, adopter: str, at: str) -> list[Any] | None:
    """A work `adopter` had adopted from `source`, as time travel keeps works (see works_at): the
    listing of `source` on it then, or no name nor institutions when OpenAlex no longer listed it."""
    fields = _fold(_events(services, [UUID(work_id)]), at).get(work_id)
    if fields is None:
        return None
    listing = next((a for a in fields["authorships"] if a["researcher_id"] == source), None)
    authors = {a["researcher_id"] for a in fields["authorships"]}
    coauthors = None
    if len(fields["authorships"]) + (listing is None) <= MAX_AUTHORS_FOR_COLLABORATION:
        coauthors = sorted(authors - {source, adopter})
    key = recency_key(fields["publication_date"], fields["publication_year"], fields["openalex_id"])
    if listing is None:
        return [key, [], fields["topics"], None, None, coauthors]
    return [key, listing["institutions"], fields["topics"], listing["display_name"] or None, listing["orcid"],
            coauthors]


@dataclass
class DecisionsThen:
    hidden: dict[str, set[str]]  # record -> the works it had said were not the person's
    adopted: dict[str, dict[str, str]]  # record -> the works it had adopted -> from which record
    away: dict[str, dict[str, str]]  # record -> the works adopted from it -> by which record


def decisions_at(services: Services, researcher_ids: list[str], at: str) -> DecisionsThen:
    """The "not mine" decisions and adoptions in force at `at` on these records."""
    claims = services.claims
    found = DecisionsThen(defaultdict(set), defaultdict(dict), defaultdict(dict))
    # Only records claims ever started can hold decisions: one query finds them among co-authors.
    for researcher in services.profiles_view.with_claims_record(researcher_ids):
        for stored in claims.recorder.select_events(record_id_for(UUID(researcher))):  # in version order
            if stored.topic not in ATTRIBUTION_TOPICS:
                continue
            e = claims.mapper.to_domain_event(stored)
            if stamp(e.timestamp) > at:
                break
            wid = str(e.work_id)
            if isinstance(e, Record.WorkDisowned | Record.DisownUndone):
                works = found.hidden[researcher]
                (works.add if isinstance(e, Record.WorkDisowned) else works.discard)(wid)
            elif str(e.adopter) == researcher:
                if isinstance(e, Record.WorkAdopted):
                    found.adopted[researcher][wid] = str(e.from_record)
                else:
                    found.adopted[researcher].pop(wid, None)
            elif isinstance(e, Record.WorkAdopted):
                found.away[researcher][wid] = str(e.adopter)
            else:
                found.away[researcher].pop(wid, None)
    return DecisionsThen({r: w for r, w in found.hidden.items() if w}, {r: w for r, w in found.adopted.items() if w},
                         {r: w for r, w in found.away.items() if w})


def _events(services: Services, originator_ids: list[UUID]) -> list[Any]:
    if not originator_ids:
        return []
    catalogue = services.catalogue
    stored = catalogue.recorder.select_events_of_many(originator_ids)  # type: ignore[attr-defined]
    return [catalogue.mapper.to_domain_event(s) for s in stored]


def works_at(services: Services, researcher_id: str, at: str) -> dict[str, list[Any]]:
    """work id -> [sort key, institutions, topics, name, ORCID iD, co-authors] for each work that
    named the researcher at `at`: a snapshot's, with the works changed since folded on top. Reads
    write nothing: snapshots are taken by housekeeping (take_snapshots)."""
    view = services.history_view
    snapshot = view.snapshot_before(researcher_id, at)
    if snapshot is None:
        works, changed = {}, view.works_of(researcher_id)
    else:
        works, changed = msgspec.json.decode(snapshot[1]), view.works_changed(researcher_id, snapshot[0], at)
    events = _events(services, [UUID(w) for w in changed])
    return _overlay(works, changed, _fold(events, at), researcher_id)


def take_snapshots(services: Services, now: datetime | None = None) -> int:
    """Snapshots of the works of records that gained SNAPSHOT_AFTER work events or more since
    their last one (the history view counts them), so time travel folds only what changed
    since. Each is taken at the stamp of the newest work event over SETTLED old: every event
    stamped up to then is committed (a save takes seconds, not minutes) and, once the history
    view has caught up with the catalogue's log, processed, so a snapshot never goes stale.
    Run by housekeeping (operations/expiry.py). Returns how many were taken."""
    view, catalogue = services.history_view, services.catalogue
    if (view.max_tracking_id(catalogue.name) or 0) < (catalogue.recorder.max_notification_id() or 0):
        return 0  # the view has not processed every event yet: what changed since would be wrong
    limit = stamp((now or datetime.now(UTC)) - SETTLED)
    taken = 0
    for researcher_id in view.snapshots_due(SNAPSHOT_AFTER):
        snapshot = view.snapshot_before(researcher_id, limit)
        since = snapshot[0] if snapshot else None
        changed = view.works_changed(researcher_id, since, limit) if since else view.works_of(researcher_id)
        events = _events(services, [UUID(w) for w in changed])
        settled = [t for t in (stamp(e.timestamp) for e in events) if t <= limit and (since is None or t > since)]
        if len(settled) < SNAPSHOT_AFTER:
            continue  # the events that made it due are too recent yet: next time
        moment = max(settled)
        works = msgspec.json.decode(snapshot[1]) if snapshot else {}
        view.save_snapshot(researcher_id, moment, msgspec.json.encode(
            _overlay(works, changed, _fold(events, moment), researcher_id)))
        taken += 1
    return taken


def _overlay(works: dict[str, list[Any]], changed: list[str], fields: dict[str, dict[str, Any]],
             researcher_id: str) -> dict[str, list[Any]]:
    for wid in changed:
        works.pop(wid, None)
        f = fields.get(wid)
        listing = f and next((a for a in f["authorships"] if a["researcher_id"] == researcher_id), None)
        if not listing:
            continue  # not imported yet, or a correction took the researcher off it
        coauthors = None
        if len(f["authorships"]) <= MAX_AUTHORS_FOR_COLLABORATION:
            coauthors = sorted({a["researcher_id"] for a in f["authorships"]} - {researcher_id})
        works[wid] = [recency_key(f["publication_date"], f["publication_year"], f["openalex_id"]),
                      listing["institutions"], f["topics"], listing["display_name"] or None, listing["orcid"],
                      coauthors]
    return works


def _fold(events: Iterable[Any], at: str) -> dict[str, dict[str, Any]]:
    """Each work's fields as its events up to `at` left them (events come in version order)."""
    works: dict[str, dict[str, Any]] = {}
    for e in events:
        if stamp(e.timestamp) > at:
            continue
        wid = str(e.originator_id)
        if isinstance(e, Work.Imported):
            works[wid] = {k: getattr(e, k) for k in ("openalex_id", *WORK_FIELDS)}
        elif isinstance(e, Work.Corrected) and wid in works:
            works[wid] = {**works[wid], **e.changes}
    return works
