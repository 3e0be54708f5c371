"""Application recorders that read the events of many aggregates in one query.

Imports compare thousands of records with what is stored; one query per aggregate would cost
a round trip each. Selected through eventsourcing's APPLICATION_RECORDER_TOPIC setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

SQLITE_MAX_PARAMS = 900  # well under SQLite's bound on host parameters per statement


class SQLiteBatchRecorder(SQLiteApplicationRecorder):
    def select_events_of_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        keys = [i.hex if isinstance(i, UUID) else i for i in originator_ids]
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(keys), SQLITE_MAX_PARAMS):
                chunk = keys[start : start + SQLITE_MAX_PARAMS]
                marks = ",".join("?" * len(chunk))
                c.execute(
                    f"SELECT originator_id, originator_version, topic, state "  # noqa: S608
                    f"FROM {self.events_table_name} WHERE originator_id IN ({marks}) "
                    f"ORDER BY originator_id, originator_version",
                    chunk,
                )
                found.extend(
                    StoredEvent(
                        originator_id=self.convert_originator_id(row["originator_id"]),
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=row["state"],
                    )
                    for row in c.fetchall()
                )
        return found

    def select_existing(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Which of `originator_ids` have events (their first, by the primary key's index)."""
        found: set[UUID] = set()
        keys = [i.hex if isinstance(i, UUID) else i for i in originator_ids]
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(keys), SQLITE_MAX_PARAMS):
                chunk = keys[start : start + SQLITE_MAX_PARAMS]
                c.execute(
                    f"SELECT originator_id FROM {self.events_table_name} "  # noqa: S608
                    f"WHERE originator_id IN ({','.join('?' * len(chunk))}) AND originator_version = 1",
                    chunk,
                )
                found.update(self.convert_originator_id(row["originator_id"]) for row in c.fetchall())
        return found


class PostgresBatchRecorder(PostgresApplicationRecorder):
    """Also inserts as four binary arrays instead of one array of a composite type.

    The library's composite array is dumped as text, escaping every byte of every state;
    for batches of thousands of events that escaping was the largest cost of an import.
    Same table, same lock and NOTIFY, same RETURNING of notification ids in insert order.

    And not in pipeline mode. The library sends the lock, the NOTIFY and the insert in a
    pipeline, then `Pipeline.sync()`. psycopg (3.3.9, both implementations) stops sending once
    its queue of commands is empty, even when the socket took only part of the last one, and
    then waits to read: a batch of megabytes (an import's thousand works) that had to wait for
    the table lock (another import job, another machine) was left half sent, the server waiting
    for the rest and the client for an answer, for ever. Three statements one after the other
    cost two round trips more per batch; each is sent whole before its answer is awaited.
    """

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.insert_events_statement = SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::{2}[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(
            Identifier(self.datastore.schema),
            Identifier(self.events_table_name),
            Identifier(self.datastore.originator_id_type),
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return None  # as the library answers an empty batch
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **_: Any) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self.insert_events_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )

    def select_events_of_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [list(originator_ids)])
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def select_existing(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        statement = SQL(
            "SELECT originator_id FROM {0}.{1} WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [list(originator_ids)])
            return {row["originator_id"] for row in curs.fetchall()}
