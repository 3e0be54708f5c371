"""Researcher and Work aggregates: public records as OpenAlex publishes them.

Ids are uuid5 over the OpenAlex id, so a record exists at most once whatever the timing,
and an OpenAlex id maps to its internal id without a lookup. A re-import that changes a
record records a `Corrected` event with only the fields that changed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

# Fixed namespace for PeerLedger's deterministic ids (never change it: ids are stored).
PEERLEDGER_NAMESPACE = UUID("6f1c2f4e-8a53-4d1e-9a7e-2b1f0c9d5e01")

RESEARCHER_FIELDS = ("display_name", "orcid")
WORK_FIELDS = (
    "doi",
    "title",
    "publication_year",
    "publication_date",
    "type",
    "venue",
    "cited_by_count",
    "abstract",
    "topics",
    "authorships",
)


@lru_cache(maxsize=200_000)
def researcher_id_for(openalex_author_id: str) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"openalex:author:{openalex_author_id}")


@lru_cache(maxsize=200_000)
def work_id_for(openalex_work_id: str) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"openalex:work:{openalex_work_id}")


def recency_key(publication_date: str | None, publication_year: int | None, openalex_id: str) -> str:
    """Orders works newest first by date, then year (undated last); unique per work."""
    when = publication_date or (f"{publication_year:04d}" if publication_year is not None else "0000")
    return f"{when}|{openalex_id}"


class Researcher(Aggregate):
    """A public author record: it exists, with the name and ORCID iD it was first seen with.

    Works name their authors, and two works may name one differently; each work's authorship
    keeps the name it gives (a change is the work's correction). The name a profile shows is
    the newest work's, worked out by the profiles projection, so it does not depend on the
    order of files or batches, and a newer work does not rewrite the record.
    """

    class Registered(Aggregate.Created):
        openalex_id: str
        display_name: str
        orcid: str | None

    @event(Registered)
    def __init__(self, openalex_id: str, display_name: str, orcid: str | None) -> None:
        self.openalex_id = openalex_id
        self.display_name = display_name
        self.orcid = orcid

    @classmethod
    def create_id(cls, openalex_id: str, **_: Any) -> UUID:
        return researcher_id_for(openalex_id)

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RESEARCHER_FIELDS}


class Work(Aggregate):
    """A published work and its authorships, which carry the researchers' ids and the names
    and ORCID iDs the work gives them. Re-imports record only the fields that changed."""

    class Imported(Aggregate.Created):
        openalex_id: str
        doi: str | None
        title: str | None
        publication_year: int | None
        publication_date: str | None
        type: str | None
        venue: dict[str, Any] | None
        cited_by_count: int
        abstract: str | None
        topics: list[dict[str, Any]]
        authorships: list[dict[str, Any]]

    class Corrected(Aggregate.Event):
        changes: dict[str, Any]

    @event(Imported)
    def __init__(
        self,
        openalex_id: str,
        doi: str | None,
        title: str | None,
        publication_year: int | None,
        publication_date: str | None,
        type: str | None,  # noqa: A002 - OpenAlex's field name
        venue: dict[str, Any] | None,
        cited_by_count: int,
        abstract: str | None,
        topics: list[dict[str, Any]],
        authorships: list[dict[str, Any]],
    ) -> None:
        self.openalex_id = openalex_id
        self.doi = doi
        self.title = title
        self.publication_year = publication_year
        self.publication_date = publication_date
        self.type = type
        self.venue = venue
        self.cited_by_count = cited_by_count
        self.abstract = abstract
        self.topics = topics
        self.authorships = authorships

    @classmethod
    def create_id(cls, openalex_id: str, **_: Any) -> UUID:
        return work_id_for(openalex_id)

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in WORK_FIELDS}

    def correct(self, incoming: dict[str, Any]) -> bool:
        """Record what changed, as one Corrected event; returns False when nothing did."""
        current = self.fields()
        changes = {k: v for k, v in incoming.items() if current.get(k) != v}
        if changes:
            self._correct(changes)
        return bool(changes)

    @event(Corrected)
    def _correct(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)


def institution_id_for(openalex_institution_id: str) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"openalex:institution:{openalex_institution_id}")


class Institution(Aggregate):
    """An institution's email domains, set by operators: the evidence that an address
    (name@dept.uni.example) belongs to an institution of an author record."""

    class Registered(Aggregate.Created):
        openalex_id: str
        domains: list[str]

    class DomainsSet(Aggregate.Event):
        domains: list[str]

    @event(Registered)
    def __init__(self, openalex_id: str, domains: list[str]) -> None:
        self.openalex_id = openalex_id
        self.domains = domains

    @classmethod
    def create_id(cls, openalex_id: str, **_: Any) -> UUID:
        return institution_id_for(openalex_id)

    @event(DomainsSet)
    def set_domains(self, domains: list[str]) -> None:
        self.domains = domains
