"""ProfilesProjection: which catalogue event changes which profile row, and how a profile is computed.

Rules (documented in README): the name and ORCID iD come from the newest work naming the
author; works_count counts authorships; topics are counted over the
researcher's works; a close collaborator shares at least two works (works with more than
100 authors do not make collaborators: hyperauthorship says little about who works with
whom, and would cost a quadratic join); the affiliation is the
last known institution (from the newest work that names one); an unclaimed record with an
OpenAlex id or ORCID iD and at least one work is verification level L1, otherwise L0.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.accounts.model import Account
from domain.catalogue.model import Researcher, Work, recency_key
from domain.claims.model import Record
from domain.text import clean_name
from projections.profiles.documents import (
    AuthorOut,
    InstitutionOut,
    OwnerOut,
    ProfileDoc,
    TopicCountOut,
    TopicOut,
    TrustOut,
    VenueOut,
    WorkOut,
)
from projections.profiles.view import BatchChanges, ProfileInputs, ProfilesView, WorkRow

_encoder = msgspec.json.Encoder()


def name_key(name: str) -> str:
    """Case- and accent-insensitive form of a name, for search ("Zoë" -> "zoe")."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def name_keys(name_key: str) -> list[str]:
    """Search keys: the name from each word on ("zhiwu lu" -> "zhiwu lu", "lu"), for prefix search."""
    words = name_key.split(" ")
    return sorted({" ".join(words[i:]) for i in range(len(words)) if words[i]})


def encode_work(work_id: str, openalex_id: str, fields: dict[str, Any]) -> bytes:
    venue = fields["venue"]
    return _encoder.encode(
        WorkOut(
            id=UUID(work_id),
            openalex_id=openalex_id,
            doi=fields["doi"],
            title=fields["title"],
            publication_year=fields["publication_year"],
            publication_date=fields["publication_date"],
            type=fields["type"],
            venue=VenueOut(**venue) if venue else None,
            cited_by_count=fields["cited_by_count"],
            abstract=fields["abstract"],
            topics=[TopicOut(t["openalex_id"], t["display_name"]) for t in fields["topics"]],
            authors=[
                AuthorOut(UUID(a["researcher_id"]), a["openalex_id"], shown_name(a["display_name"]), a["position"])
                for a in fields["authorships"]
            ],
        )
    )


def build_profiles(inputs: Iterable[ProfileInputs]) -> Iterable[tuple[str, bytes, dict[str, Any]]]:
    """Each profile's document, and its identity (name, ORCID iD, search keys) to store."""
    for p in inputs:
        topic_counts: Counter[str] = Counter()
        topic_names: dict[str, str | None] = {}
        affiliation = None
        newest_with_institution = newest_with_name = newest_with_orcid = ""
        display_name, orcid = p.identity["display_name"], p.identity["orcid"]
        for sort_key, institutions, topics, author_name, author_orcid in p.works:
            for t in topics:
                topic_counts[t["openalex_id"]] += 1
                topic_names[t["openalex_id"]] = t["display_name"]
            if institutions and sort_key > newest_with_institution:
                newest_with_institution, affiliation = sort_key, institutions[0]
            # The newest work that names the author says what they are called; a work that
            # leaves the ORCID iD out never erases one another work gave.
            if author_name and sort_key > newest_with_name:
                newest_with_name, display_name = sort_key, author_name
            if author_orcid and sort_key > newest_with_orcid:
                newest_with_orcid, orcid = sort_key, author_orcid
        works_count = len(p.works)
        has_identifier = bool(p.identity["openalex_id"] or p.identity["orcid"])
        level = "L1" if has_identifier and works_count > 0 else "L0"
        status, owner = "unclaimed", None
        ownership = p.ownership
        if ownership is not None:
            if ownership["owner_id"]:
                status, level = "claimed", ownership["level"] or level
                owner = OwnerOut(ownership["owner_name"])
            if ownership["disputed"]:
                status = "disputed"
        display_name = shown_name(display_name)
        profile = ProfileDoc(
            id=UUID(p.identity["id"]),
            display_name=display_name,
            affiliation=InstitutionOut(**affiliation) if affiliation else None,
            orcid=orcid,
            openalex_id=p.identity["openalex_id"],
            works_count=works_count,
            topics_count=len(topic_counts),
            topics=[
                TopicCountOut(tid, topic_names[tid], n)
                for tid, n in sorted(topic_counts.items(), key=lambda kv: (-kv[1], topic_names[kv[0]] or "", kv[0]))
            ],
            close_collaborators_count=p.close_collaborators,
            claim_status=status,
            verification_level=level,
            owner=owner,
            same_person=[UUID(r) for r in p.same_person],
            trust=TrustOut(),
        )
        key = name_key(display_name)
        identity = {"display_name": display_name, "orcid": orcid, "name_key": key, "search_keys": name_keys(key)}
        yield p.identity["id"], _encoder.encode(profile), identity


OpenSealed = Callable[[UUID, str], "str | None"]


def shown_name(name: str) -> str:
    """A name as a page may show it: names stored before they were checked at the door may hold
    control or text-direction characters; those are left out here."""
    return clean_name(name)[0] if name else name


class ProfilesProjection(Projection[ProfilesView]):
    """Catalogue, claims and accounts events -> profile, works and search rows.

    Follows three applications (one runner each, one tracking row each) and processes whole
    batches at once. Owners' names are sealed in the accounts events: `open_sealed` opens them,
    and gives None once the account's key is gone, so a replay after an erasure finds no name.
    """

    name = "profiles"
    topics = ()

    def __init__(self, view: ProfilesView, open_sealed: OpenSealed | None = None) -> None:
        super().__init__(view)
        self.open_sealed = open_sealed or (lambda _subject, _sealed: None)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([domain_event], tracking)

    def process_batch(self, events: Sequence[Any], tracking: Tracking) -> None:
        changes = BatchChanges()
        corrected = [str(e.originator_id) for e in events if isinstance(e, Work.Corrected)]
        stored_works = self.view.load_work_fields(corrected) if corrected else {}
        records = [str(e.originator_id) for e in events if isinstance(e, Record.Event)]
        changes.ownership = self.view.load_ownership(records) if records else {}
        for e in events:
            if isinstance(e, Record.Event | Account.Event):
                self._claims_or_accounts(changes, e)
                continue
            if isinstance(e, Researcher.Registered):
                rid = str(e.originator_id)
                # As first seen; the profile build below works out the name the works give now.
                changes.researchers[rid] = {
                    "openalex_id": e.openalex_id,
                    "orcid": e.orcid,
                    "display_name": e.display_name,
                    "name_key": name_key(e.display_name),
                }
                changes.affected.add(rid)
            elif isinstance(e, Work.Imported):
                fields = {
                    k: getattr(e, k)
                    for k in (
                        "openalex_id", "doi", "title", "publication_year", "publication_date", "type",
                        "venue", "cited_by_count", "abstract", "topics", "authorships",
                    )
                }
                self._put_work(changes, str(e.originator_id), fields, is_new=True)
            elif isinstance(e, Work.Corrected):
                wid = str(e.originator_id)
                row = changes.works.get(wid)
                fields = dict(row.fields) if row else stored_works.get(wid)
                if fields is None:
                    continue
                changes.affected.update(a["researcher_id"] for a in fields["authorships"])
                fields.update(e.changes)
                self._put_work(changes, wid, fields, is_new=row.is_new if row else False)
        self.view.apply_batch(changes, tracking, build_profiles)

    def _claims_or_accounts(self, changes: BatchChanges, e: Any) -> None:
        if isinstance(e, Account.Registered):
            name = self.open_sealed(e.originator_id, e.sealed_display_name)
            changes.owner_names[str(e.originator_id)] = shown_name(name) if name is not None else None
            changes.affected_owners.add(str(e.originator_id))
        elif isinstance(e, Account.Erased):
            changes.owner_names[str(e.originator_id)] = None
            changes.affected_owners.add(str(e.originator_id))
        elif isinstance(e, Record.Started):
            row = {"researcher_id": str(e.researcher_id), "owner_id": None, "level": e.level, "disputed": False}
            changes.ownership.setdefault(str(e.originator_id), row)
        elif isinstance(e, Record.Event):
            row = changes.ownership.get(str(e.originator_id))
            if row is None:  # a record always starts with Started; nothing to attach this to
                return
            if isinstance(e, Record.OwnerSet):
                row["owner_id"] = str(e.account_id)
            elif isinstance(e, Record.OwnerRemoved):
                row["owner_id"] = None
                changes.affected_owners.add(str(e.account_id))
            elif isinstance(e, Record.VerificationChanged):
                row["level"] = e.new_level
            elif isinstance(e, Record.DisputeOpened):
                row["disputed"] = True
            elif isinstance(e, Record.DisputeResolved):
                row["disputed"] = False
            changes.affected.add(row["researcher_id"])

    def _put_work(self, changes: BatchChanges, wid: str, fields: dict[str, Any], *, is_new: bool) -> None:
        oid = fields["openalex_id"]
        sort_key = recency_key(fields["publication_date"], fields["publication_year"], oid)
        changes.works[wid] = WorkRow(fields, sort_key, encode_work(wid, oid, fields), is_new=is_new)
        changes.affected.update(a["researcher_id"] for a in fields["authorships"])
