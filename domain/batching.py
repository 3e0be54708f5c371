"""Reading many aggregates at once: imports and follows decide on hundreds in one go."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import StoredEvent


@runtime_checkable
class SelectsEventsOfMany(Protocol):
    """A recorder that reads the events of many aggregates in one query (adapters/recorders.py)."""

    def select_events_of_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]: ...


class ReadsManyAggregates(Application[UUID]):
    def get_many(self, ids: Iterable[UUID]) -> dict[UUID, Any]:
        """Current state of the aggregates that exist among `ids`: one query where the recorder
        can batch; the in-memory store answers per id without a round trip."""
        ids = list(ids)
        recorder = self.recorder
        if not isinstance(recorder, SelectsEventsOfMany):
            found = {}
            for i in ids:
                try:
                    found[i] = self.repository.get(i)
                except AggregateNotFoundError:
                    pass
            return found
        aggregates: dict[UUID, Any] = {}
        for stored in recorder.select_events_of_many(ids):
            domain_event = self.mapper.to_domain_event(stored)
            oid = domain_event.originator_id
            aggregates[oid] = domain_event.mutate(aggregates.get(oid))
        return aggregates
