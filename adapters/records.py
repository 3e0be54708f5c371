"""The domain's record ports answered from the profiles read model's tables.

Claims need a record's ORCID iD, base level and institutions (domain/claims/ports.py); follows
need which records exist and their owners (domain/follows/ports.py). The catalogue's own events
hold neither a record's works count nor its institutions (those come from its works), so the
answers come from the tables the profiles projection keeps per record. The view is looked up at
each call: `peerledger replay` may switch readers to another version of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from domain.claims.ports import RecordFacts
from projections.profiles.view import ProfilesView


class ProfileRecords:
    """RecordFactsSource and RecordDirectory over the profiles view readers use."""

    def __init__(self, view: Callable[[], ProfilesView]) -> None:
        self._view = view

    def record_facts(self, researcher_id: UUID) -> RecordFacts | None:
        found = self._view().record_facts(str(researcher_id))
        if found is None:
            return None
        return RecordFacts(researcher_id, found["orcid"], found["base_level"], found["institution_ids"])

    def work_authors(self, work_id: UUID) -> frozenset[UUID] | None:
        fields = self._view().work_as_listed(str(work_id))  # decisions not applied
        if fields is None:
            return None
        return frozenset(UUID(a["researcher_id"]) for a in fields["authorships"])

    def work_orcids(self, work_id: UUID) -> dict[UUID, str | None] | None:
        fields = self._view().work_as_listed(str(work_id))  # decisions not applied
        if fields is None:
            return None
        found: dict[UUID, str | None] = {}
        for a in fields["authorships"]:  # an author listed twice: the first listing counts
            found.setdefault(UUID(a["researcher_id"]), a["orcid"])
        return found

    def existing_and_owners(self, researcher_ids: Sequence[UUID]) -> tuple[set[UUID], dict[UUID, UUID]]:
        known, owners = self._view().existing_and_owners([str(r) for r in researcher_ids])
        return {UUID(k) for k in known}, {UUID(r): UUID(o) for r, o in owners.items()}
