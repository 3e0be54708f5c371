"""Catalogue: imports public records in batches, idempotently, recording corrections as events."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.batching import ReadsManyAggregates
from domain.catalogue.model import (
    Institution,
    institution_id_for,
    Researcher,
    Work,
    researcher_id_for,
    work_id_for,
)
from domain.errors import ConflictError, InvalidInputError, ResearcherNotFoundError, WorkNotFoundError


_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class InstitutionRecord(TypedDict):
    openalex_id: str | None
    display_name: str | None
    ror: str | None
    country_code: str | None


class AuthorshipRecord(TypedDict):
    openalex_id: str  # author id, "A..."
    display_name: str
    orcid: str | None
    position: str | None
    institutions: list[InstitutionRecord]


class WorkRecord(TypedDict):
    """One work as read from an OpenAlex file, already validated and normalised."""

    openalex_id: str  # "W..."
    doi: str | None
    title: str | None
    publication_year: int | None
    publication_date: str | None
    type: str | None
    venue: dict[str, Any] | None
    cited_by_count: int
    abstract: str | None
    topics: list[dict[str, Any]]
    authorships: list[AuthorshipRecord]


@dataclass
class ImportReport:
    """What one import changed. Counts add up over batches."""

    works_created: int = 0
    works_corrected: int = 0
    works_unchanged: int = 0
    researchers_created: int = 0
    events: int = 0
    position: int | None = None  # notification id of the last event written


class Catalogue(ReadsManyAggregates):
    """Public author and work records. One table, one write lock: batches keep it fast."""

    name = "Catalogue"
    save_retries = 12

    def import_works(self, records: Sequence[WorkRecord]) -> ImportReport:
        """Create or correct the works and their authors, all in one atomic save.

        Safe to repeat: unchanged records add no events. A concurrent import of the same
        records makes the save conflict; the batch is then re-read and retried.
        """
        for attempt in range(self.save_retries):
            aggregates, report = self._plan_import(records)
            if not aggregates:
                return report
            events = [e for a in aggregates for e in a.collect_events()]
            try:
                recordings = self._save_registering(events, report)
            except IntegrityError:
                if attempt + 1 == self.save_retries:
                    raise ConflictError(
                        "the records changed concurrently; try the import again"
                    ) from None
                # A work changed meanwhile (imported twice at once): back off a random while,
                # so parallel imports stop planning and colliding in step, and plan again.
                time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
                continue
            report.events = len(recordings)
            report.position = recordings[-1].notification.id if recordings else None
            return report
        raise AssertionError("unreachable")  # pragma: no cover

    def _save_registering(self, events: list[Any], report: ImportReport) -> list[Any]:
        """Save the batch's events. Parallel imports of parts that share authors often register
        the same new author at once, and the later save conflicts: the registrations stored
        meanwhile are dropped and the rest saved again, without planning the batch again
        (which cost a part as much as its parsing). Raises IntegrityError for other conflicts."""
        for _ in range(self.save_retries):
            try:
                return self.save_events(events)
            except IntegrityError:
                registering = [e.originator_id for e in events if isinstance(e, Researcher.Registered)]
                stored = self.existing(registering) if registering else set()
                if not stored:
                    raise
                events = [e for e in events if not (isinstance(e, Researcher.Registered) and e.originator_id in stored)]
                report.researchers_created -= len(stored)
                if not events:
                    return []
        raise IntegrityError("the batch's authors kept being registered concurrently")

    def get_researcher(self, researcher_id: UUID) -> Researcher:
        try:
            return self.repository.get(researcher_id)
        except AggregateNotFoundError:
            raise ResearcherNotFoundError(str(researcher_id)) from None

    def get_work(self, work_id: UUID) -> Work:
        try:
            return self.repository.get(work_id)
        except AggregateNotFoundError:
            raise WorkNotFoundError(str(work_id)) from None

    def set_institution_domains(self, openalex_id: str, domains: list[str]) -> list[str]:
        """Which email domains belong to an institution (replaces the previous list)."""
        cleaned = sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})
        for domain in cleaned:
            if not _DOMAIN.match(domain):
                raise InvalidInputError(f"{domain!r} is not a domain name")
        try:
            institution: Institution = self.repository.get(institution_id_for(openalex_id))
        except AggregateNotFoundError:
            institution = Institution(openalex_id=openalex_id, domains=cleaned)
        else:
            if institution.domains == cleaned:
                return cleaned
            institution.set_domains(cleaned)
        self.save(institution)
        return cleaned

    def institution_domains(self, openalex_id: str) -> frozenset[str]:
        try:
            institution: Institution = self.repository.get(institution_id_for(openalex_id))
        except AggregateNotFoundError:
            return frozenset()
        return frozenset(institution.domains)

    def _plan_import(self, records: Sequence[WorkRecord]) -> tuple[list[Aggregate], ImportReport]:
        report = ImportReport()
        works: dict[UUID, dict[str, Any]] = {}  # the last occurrence of a work in the batch wins
        authors: dict[UUID, dict[str, Any]] = {}
        for record in records:
            authorships = []
            for a in record["authorships"]:
                rid = researcher_id_for(a["openalex_id"])
                # A new record is registered as first seen; what it is called later is up to
                # the works (see Researcher).
                authors.setdefault(rid, {"openalex_id": a["openalex_id"], "display_name": a["display_name"],
                                         "orcid": a["orcid"]})
                authorships.append({"researcher_id": str(rid), **a})
            works[work_id_for(record["openalex_id"])] = {**record, "authorships": authorships}

        stored_works = self.get_many(works)  # a re-import corrects them: their state is needed
        known_authors = self.existing(authors)  # of authors, only whether they exist
        changed: list[Aggregate] = []
        for wid, fields in works.items():
            work = stored_works.get(wid)
            if work is None:
                changed.append(Work(**fields))
                report.works_created += 1
            elif work.correct({k: v for k, v in fields.items() if k != "openalex_id"}):
                changed.append(work)
                report.works_corrected += 1
            else:
                report.works_unchanged += 1
        for rid, identity in authors.items():
            if rid not in known_authors:
                changed.append(Researcher(**identity))
                report.researchers_created += 1
        return changed, report
