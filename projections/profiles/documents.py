"""The shapes of the profile read model, encoded once by the projection and served as bytes."""

from __future__ import annotations

from uuid import UUID

import msgspec

from domain.trust import TrustInputs
from projections.vocabulary import ClaimStatus, Level, Role, Tier


class InstitutionOut(msgspec.Struct):
    openalex_id: str | None
    display_name: str | None
    ror: str | None
    country_code: str | None


class TopicCountOut(msgspec.Struct):
    openalex_id: str
    display_name: str | None
    works_count: int


class TrustOut(msgspec.Struct):
    """Stored empty: the API fills it in at read time from the document and the follower counts
    (domain.trust), so the score always matches the counts shown beside it."""

    score: int | None = None
    tier: Tier | None = None


class OwnerOut(msgspec.Struct):
    """Who claimed the record. The name is null once the owner's account was erased."""

    display_name: str | None


class ProfileDoc(msgspec.Struct, omit_defaults=True):
    """A profile as the profiles projection stores it; the API appends the follower counts.
    Only `counts` has a default, and is left out while empty."""

    id: UUID
    display_name: str
    headline: str | None  # the owner's one line, or one made from the top topics (headline_generated)
    headline_generated: bool
    about: str | None  # the owner's words about themselves
    role: Role
    affiliation: InstitutionOut | None
    affiliation_imported: bool  # false: the data source gave no institution ("Affiliation not imported")
    open_to_collaborate: bool  # unclaimed, or claimed by an owner who takes invitations (not disputed)
    orcid: str | None
    openalex_id: str
    works_count: int
    topics_count: int
    topics: list[TopicCountOut]
    close_collaborators_count: int
    claim_status: ClaimStatus
    verification_level: Level
    owner: OwnerOut | None
    same_person: list[UUID]  # other records approved for the same account
    trust: TrustOut
    # The records this profile is made of: the record alone, or a person's own record first and
    # the records linked into it (every one of their ids reads this same document).
    records: list[UUID]
    # Counts of events declared on the event (domain/profile_counts.py), by name; absent while none.
    counts: dict[str, int] = {}


class ProfileOut(ProfileDoc, omit_defaults=True, kw_only=True):
    """What GET /researchers/{id} returns: the stored document and the follower counts, and
    `following` for a signed-in reader only (api/follower_counts.py: profile_body builds it)."""

    followers_count: int
    verified_followers_count: int  # followers who own a record verified at L2 or L3
    following: bool | None = None  # only for a signed-in reader: whether they follow


class VenueOut(msgspec.Struct):
    openalex_id: str | None
    display_name: str | None
    type: str | None


class TopicOut(msgspec.Struct):
    openalex_id: str
    display_name: str | None


class AuthorOut(msgspec.Struct):
    id: UUID
    openalex_id: str
    display_name: str
    position: str | None


class WorkOut(msgspec.Struct):
    id: UUID
    openalex_id: str
    doi: str | None
    title: str | None
    publication_year: int | None
    publication_date: str | None
    type: str | None
    venue: VenueOut | None
    cited_by_count: int
    abstract: str | None
    topics: list[TopicOut]
    authors: list[AuthorOut]


class ResearcherPageOut(msgspec.Struct):
    items: list[ProfileOut]
    next_cursor: str | None


class WorkPageOut(msgspec.Struct):
    items: list[WorkOut]
    next_cursor: str | None


class ScoredFields(msgspec.Struct):
    """The fields of a profile document the trust score reads (a quick decode of just these)."""

    verification_level: Level
    claim_status: ClaimStatus
    works_count: int
    topics_count: int
    close_collaborators_count: int


_decode_scored = msgspec.json.Decoder(ScoredFields).decode


def trust_inputs(doc: bytes | ProfileDoc | ScoredFields, followers: int, verified_followers: int) -> TrustInputs:
    """What the trust formula reads of a profile, with its follower counts: the one place they meet
    (the served profile, the trust snapshot, its history and time travel all come through here)."""
    d = _decode_scored(doc) if isinstance(doc, bytes) else doc
    return TrustInputs(d.verification_level, d.claim_status, d.works_count, d.topics_count,
                       d.close_collaborators_count, followers, verified_followers)
