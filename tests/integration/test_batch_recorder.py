"""The batch recorder's insert (adapters/recorders.py) on PostgreSQL: a batch of megabytes that
waits for the events table's lock is stored once the lock is free. In psycopg's pipeline mode it
was left half sent, the server and the client each waiting for the other for ever."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from bootstrap.services import Services
from bootstrap.settings import Settings
from tests.conftest import pg_dsn

WAIT = 30.0  # seconds the insert may take once the lock is free (it takes well under one)


def big_batch(n: int = 2_000, size: int = 10_000) -> list[StoredEvent]:
    """About 20 MB: more than the socket takes while the server is not reading (10 MB hung the old
    insert now and then, 20 MB six times out of six)."""
    return [StoredEvent(uuid.uuid4(), 1, "tests:Big", os.urandom(size)) for _ in range(n)]


def test_a_large_batch_waiting_for_the_table_lock_is_stored_when_it_is_free(pg_settings: Settings) -> None:
    services = Services(pg_settings)
    try:
        recorder = services.catalogue.recorder
        events = big_batch()
        result: dict[str, Any] = {}

        def insert() -> None:
            try:
                result["ids"] = recorder.insert_events(events)
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e

        schema = pg_settings.store_env["POSTGRES_SCHEMA"]
        with psycopg.connect(pg_dsn()) as locker:
            locker.execute(f'LOCK TABLE "{schema}".catalogue_events IN EXCLUSIVE MODE')
            inserting = threading.Thread(target=insert, daemon=True)
            inserting.start()
            time.sleep(1.5)  # the insert is sent and waits for the lock
            assert not result, "the insert did not wait for the lock"
        inserting.join(WAIT)
        if inserting.is_alive():  # free the stuck connection, so the suite goes on
            # Its last statement named the schema (the lock, or the insert it waits to receive);
            # the library retries a failed insert, which may be stuck the same way again.
            with psycopg.connect(pg_dsn(), autocommit=True) as admin:
                while inserting.is_alive():
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'active'"
                                  " AND wait_event = 'ClientRead' AND position(%s in query) > 0", [schema])
                    inserting.join(1.0)
            pytest.fail(f"the insert was still waiting {WAIT:.0f} s after the lock was free")
        assert "error" not in result, result
        assert len(result["ids"]) == len(events)
        assert result["ids"] == sorted(result["ids"])
        stored = recorder.select_events_of_many([e.originator_id for e in events])
        assert {(e.originator_id, e.state) for e in stored} == {(e.originator_id, e.state) for e in events}
    finally:
        services.close()


def test_an_event_stored_twice_is_refused_and_nothing_of_its_batch_is_stored(pg_settings: Settings) -> None:
    services = Services(pg_settings)
    try:
        recorder = services.catalogue.recorder
        first = big_batch(3, 10)
        recorder.insert_events(first)
        again = [*big_batch(3, 10), first[1]]
        with pytest.raises(IntegrityError):
            recorder.insert_events(again)
        assert recorder.select_events_of_many([e.originator_id for e in again[:3]]) == []
        assert recorder.insert_events([]) is None
    finally:
        services.close()
