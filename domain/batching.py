"""Reading and saving many aggregates at once: imports and follows decide on hundreds in one go."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording, StoredEvent


@runtime_checkable
class SelectsEventsOfMany(Protocol):
    """A recorder that reads the events of many aggregates in one query (adapters/recorders.py)."""

    def select_events_of_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]: ...

    def select_existing(self, originator_ids: Sequence[UUID]) -> set[UUID]: ...


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

    def existing(self, ids: Iterable[UUID]) -> set[UUID]:
        """Which of `ids` exist, without reading their events (a prolific author's record is
        named by most batches of an import: decoding it each time only to learn it exists cost
        a fifth of the import)."""
        ids = list(ids)
        recorder = self.recorder
        if isinstance(recorder, SelectsEventsOfMany):
            return recorder.select_existing(ids)
        return {i for i in ids if recorder.select_events(i, limit=1)}

    def save_all(self, aggregates: Sequence[Aggregate]) -> list[Recording[UUID]]:
        """`save(*aggregates)` for many aggregates at once, in one transaction."""
        return self.save_events([e for aggregate in aggregates for e in aggregate.collect_events()])

    def save_events(self, events: Sequence[Any]) -> list[Recording[UUID]]:
        """Store aggregates' pending events (collected with `collect_events()`) in one transaction.

        The library's save asks of each object whether it is an event or an aggregate through
        two runtime-checkable protocols (about 30 µs an aggregate, a tenth of an import). Given
        the events, the rest is save's own sequence (pinned: eventsourcing 9.5); no snapshots
        are taken (the applications that use this take none)."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        processing.events.extend(events)
        recordings = self._record(processing)
        self._notify(recordings)
        self.notify(processing.events)  # deprecated in the library, still called by its save
        return recordings
