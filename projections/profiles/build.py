"""A profile from its facts: the one function that turns what is known of a record into the
document the API serves, whether the facts were kept up to date a work at a time (the profiles
view) or folded from a list of works (time travel, and tests that check the former).

Rules (README, "The profile read model"): the name and ORCID iD come from the newest work that
names the author (by publication date, then year); a work that leaves the ORCID iD out never
erases one another work gave; works_count counts the authorships; topics are counted over those
works; a close collaborator shares at least two works (works with more than 100 authors make no
collaborators); the affiliation is the first institution on the newest work that names one; an
unclaimed record with an OpenAlex id or ORCID iD and a work is L1, otherwise L0. The headline is
the owner's, else a sentence made from the top topics (marked generated); a record is open to
collaborate while unclaimed (as the page shows it) and while its owner, not erased, takes
invitations from anyone at all; never under dispute.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec

from domain.text import clean_name, needs_cleaning
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

CLOSE_COLLABORATOR_SHARED_WORKS = 2
HEADLINE_TOPICS = 3
MAX_AUTHORS_FOR_COLLABORATION = 100

_encoder = msgspec.json.Encoder()


@dataclass
class ProfileFacts:
    """Everything a profile says, before it is encoded."""

    id: str
    openalex_id: str
    registered_name: str  # as the record was first seen: shown until a work names the author
    registered_orcid: str | None
    works_count: int = 0
    name: str | None = None  # from the newest work that names the author
    orcid: str | None = None  # from the newest work that gives one
    affiliation: dict[str, Any] | None = None  # the first institution on the newest work naming one
    topics: list[tuple[str, str | None, int]] = field(default_factory=list)  # id, name, works
    close_collaborators: int = 0
    owner_id: str | None = None
    owner_name: str | None = None
    level: str | None = None  # what claims decided, if anything
    disputed: bool = False
    claimed_ever: bool = False  # a claims record exists (owner or not)
    same_person: list[str] = field(default_factory=list)  # the owner's other records
    headline: str | None = None  # the owner's words
    about: str | None = None
    policy: str | None = None  # who may invite the owner (invitations' preferences; None: the default)
    records: list[str] = field(default_factory=list)  # a person's records, its own first (empty: this one)
    counts: dict[str, int] = field(default_factory=dict)  # events counted on it (domain/profile_counts.py)


@dataclass
class WorkFacts:
    """One work as it concerns one of its authors (what facts_from_works folds)."""

    sort_key: str
    institutions: list[dict[str, Any]]
    topics: list[dict[str, Any]]
    name: str | None
    orcid: str | None
    coauthors: list[str] | None  # None: too many authors to make collaborators


def name_key(name: str) -> str:
    """Case- and accent-insensitive form of a name, for search ("Zoë" -> "zoe")."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def name_keys(key: str) -> list[str]:
    """Search keys: the name from each word on ("zhiwu lu" -> "zhiwu lu", "lu"), for prefix search."""
    words = key.split(" ")
    return sorted({" ".join(words[i:]) for i in range(len(words)) if words[i]})


def shown_name(name: str | None) -> str | None:
    """A name as a page may show it: names stored before they were checked at the door may hold
    control or text-direction characters; those are left out here."""
    return clean_name(name)[0] if name and needs_cleaning(name) else name


def without_authors(fields: dict[str, Any], hidden: set[str] | frozenset[str]) -> dict[str, Any]:
    """A work as the profiles show it: the authorships of records that said "not mine" left out,
    as if OpenAlex had never listed them (the catalogue keeps what OpenAlex says)."""
    if not hidden:
        return fields
    return {**fields, "authorships": [a for a in fields["authorships"] if a["researcher_id"] not in hidden]}


def as_shown(fields: dict[str, Any], hidden: set[str] | frozenset[str],
             adopted: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """A work as the profiles show it with the decisions on it applied: "not mine" (`hidden`)
    as in `without_authors`, and adoptions (`adopted`: adopter -> the record it took the work
    from, the adopter's OpenAlex id). An adopted authorship is the other record's listing (name,
    ORCID iD, institutions, position) under the adopter; where OpenAlex lists the adopter too,
    the other record's is left out; where it no longer lists the other record, the adopter is
    added at the end without a name or institutions."""
    if not adopted:
        return without_authors(fields, hidden)
    moved = {source: (adopter, openalex_id) for adopter, (source, openalex_id) in adopted.items()}
    listed = {a["researcher_id"] for a in fields["authorships"]}
    shown, placed = [], set()
    for a in fields["authorships"]:
        rid = a["researcher_id"]
        if rid in moved:
            adopter, openalex_id = moved[rid]
            if adopter not in listed and adopter not in placed:
                shown.append({**a, "researcher_id": adopter, "openalex_id": openalex_id})
                placed.add(adopter)
        elif rid in adopted:  # OpenAlex lists the adopter itself now: an adoption is never hidden
            shown.append(a)
            placed.add(rid)
        elif rid not in hidden:
            shown.append(a)
    for adopter, (_, openalex_id) in sorted(adopted.items()):
        if adopter not in placed:
            shown.append({"researcher_id": adopter, "openalex_id": openalex_id, "display_name": "", "orcid": None,
                          "position": "middle", "institutions": []})
    return {**fields, "authorships": shown}


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


def sorted_topics(counts: Iterable[tuple[str, str | None, int]]) -> list[tuple[str, str | None, int]]:
    """Most works first, then by name and id: the order the profile lists topics in."""
    return sorted(counts, key=lambda t: (-t[2], t[1] or "", t[0]))


def facts_from_works(facts: ProfileFacts, works: Iterable[WorkFacts]) -> ProfileFacts:
    """`facts` with what the record's works say, folded from the whole list."""
    counts: Counter[str] = Counter()
    names: dict[str, str | None] = {}
    shared: Counter[str] = Counter()
    newest_name = newest_orcid = newest_affiliation = ""
    facts.works_count = 0
    for w in works:
        facts.works_count += 1
        for t in w.topics:
            counts[t["openalex_id"]] += 1
            names[t["openalex_id"]] = t["display_name"]
        if w.name and w.sort_key > newest_name:
            newest_name, facts.name = w.sort_key, w.name
        if w.orcid and w.sort_key > newest_orcid:
            newest_orcid, facts.orcid = w.sort_key, w.orcid
        if w.institutions and w.sort_key > newest_affiliation:
            newest_affiliation, facts.affiliation = w.sort_key, w.institutions[0]
        shared.update(w.coauthors or ())
    facts.topics = sorted_topics((tid, names[tid], n) for tid, n in counts.items())
    facts.close_collaborators = sum(1 for n in shared.values() if n >= CLOSE_COLLABORATOR_SHARED_WORKS)
    return facts


def generated_headline(name: str, topics: list[tuple[str, str | None, int]]) -> str | None:
    """One line from the top topics: "Ada Lovelace contributes to research on A, B and C."."""
    named = [topic_name for _, topic_name, _ in topics if topic_name][:HEADLINE_TOPICS]
    if not name or not named:
        return None
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return f"{name} contributes to research on {listed}."


def open_to_collaborate(status: str, owner: OwnerOut | None, policy: str | None) -> bool:
    if status == "unclaimed":
        return True
    return status == "claimed" and owner is not None and owner.display_name is not None and policy != "nobody"


def encode_profile(facts: ProfileFacts) -> tuple[bytes, dict[str, Any]]:
    """The profile document, and the identity to store beside it (shown name, ORCID iD, search keys)."""
    display_name = shown_name(facts.name or facts.registered_name) or ""
    orcid = facts.orcid or facts.registered_orcid
    level = "L1" if (facts.openalex_id or orcid) and facts.works_count > 0 else "L0"
    status, owner = "unclaimed", None
    if facts.claimed_ever:
        if facts.owner_id:
            status, level, owner = "claimed", facts.level or level, OwnerOut(facts.owner_name)
        if facts.disputed:
            status = "disputed"
    named = owner is not None and owner.display_name is not None  # an erased owner's words are gone too
    headline = facts.headline if named else None
    doc = ProfileDoc(
        id=UUID(facts.id),
        display_name=display_name,
        headline=headline or generated_headline(display_name, facts.topics),
        headline_generated=headline is None,
        about=facts.about if named else None,
        role="researcher",
        affiliation=InstitutionOut(**facts.affiliation) if facts.affiliation else None,
        affiliation_imported=facts.affiliation is not None,
        open_to_collaborate=open_to_collaborate(status, owner, facts.policy),
        orcid=orcid,
        openalex_id=facts.openalex_id,
        works_count=facts.works_count,
        topics_count=len(facts.topics),
        topics=[TopicCountOut(tid, name, n) for tid, name, n in facts.topics],
        close_collaborators_count=facts.close_collaborators,
        claim_status=status,
        verification_level=level,
        owner=owner,
        same_person=[UUID(r) for r in facts.same_person if r not in facts.records],
        trust=TrustOut(),
        records=[UUID(r) for r in facts.records or [facts.id]],
        counts={name: n for name, n in sorted(facts.counts.items()) if n},
    )
    key = name_key(display_name)
    return _encoder.encode(doc), {"display_name": display_name, "orcid": orcid, "name_key": key,
                                  "search_keys": name_keys(key)}
