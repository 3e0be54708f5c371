"""What the claims area needs to know from outside it: the facts of an author record.

The catalogue owns the records; the claims rules only need a few of their facts (the ORCID iD,
whether the record is worth L1 unclaimed, its institutions). Commands read them through
`RecordFactsSource`, so the rules never depend on how a process keeps them (adapters/records.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class RecordFacts:
    """What the catalogue knows of an author record, as the claims rules need it."""

    researcher_id: UUID
    orcid: str | None
    base_level: str  # L0 or L1: what the record is worth unclaimed
    institution_ids: frozenset[str]


class RecordFactsSource(Protocol):
    def record_facts(self, researcher_id: UUID) -> RecordFacts | None:
        """The record's facts, or None when there is no such record."""

    def work_authors(self, work_id: UUID) -> frozenset[UUID] | None:
        """The records OpenAlex lists as the work's authors now, or None when there is no such work."""

    def work_orcids(self, work_id: UUID) -> dict[UUID, str | None] | None:
        """Each record OpenAlex lists on the work now with the ORCID iD its authorship carries
        (None: none), or None when there is no such work."""


class NoRecords:
    """Knows no record: the source of an application made without a catalogue (tests of other
    rules pass the facts themselves)."""

    def record_facts(self, researcher_id: UUID) -> RecordFacts | None:
        return None

    def work_authors(self, work_id: UUID) -> frozenset[UUID] | None:
        return None

    def work_orcids(self, work_id: UUID) -> dict[UUID, str | None] | None:
        return None
