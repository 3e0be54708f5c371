"""eventsourcing's SQLite store, with write transactions that wait their turn across processes.

eventsourcing opens every transaction with a deferred BEGIN. A writing transaction that reads
first (a table created if missing, then its seed row; a view's tracking row, then its rows)
holds a read snapshot when it asks for the write lock, and SQLite then answers "database is
locked" at once, without the busy timeout, whenever another process is writing: the waiting
could otherwise deadlock. So a CLI command run beside `peerledger serve` failed within
milliseconds. BEGIN IMMEDIATE takes the write lock first, waiting up to SQLITE_LOCK_TIMEOUT.
Selected by bootstrap/services.py: store_env (PERSISTENCE_MODULE names this factory).

Read models' files (`SQLITE_SYNCHRONOUS=NORMAL`, set by Services.open_view) commit without
waiting for the disk: in WAL mode a commit is then still atomic and ordered, and a power failure
can only take back the last transactions whole, each with its tracking row, so the projection
applies the same events again. The applications' files keep SQLite's FULL: an acknowledged
event is on disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import (
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteTransaction,
)

FACTORY_TOPIC = "adapters.sqlite_writers:WaitingSQLiteFactory"
PAGE_CACHE_KIB = 32 * 1024  # per connection, filled only as pages are used


class WaitingSQLiteTransaction(SQLiteTransaction):
    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE" if self.commit else "BEGIN")
        except sqlite3.OperationalError as e:  # still locked after the busy timeout
            raise OperationalError(e) from e
        return cursor


class WaitingSQLiteConnection(SQLiteConnection):
    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[SQLiteCursor]:
        with WaitingSQLiteTransaction(self, commit=commit) as curs, curs:
            yield curs


class WaitingSQLiteConnectionPool(SQLiteConnectionPool):
    def __init__(self, *args: Any, synchronous: str = "FULL", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.synchronous = synchronous

    def _create_connection(self) -> SQLiteConnection:
        plain = super()._create_connection()
        plain._sqlite_conn.execute(f"PRAGMA synchronous = {self.synchronous}")  # noqa: SLF001
        # SQLite's page cache is 2 MiB by default: a profiles batch inserting tens of thousands of
        # rows into indexes larger than that read most pages back from the file each time.
        plain._sqlite_conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")  # noqa: SLF001
        return WaitingSQLiteConnection(sqlite_conn=plain._sqlite_conn, max_age=self.max_age)  # noqa: SLF001


class WaitingSQLiteDatastore(SQLiteDatastore):
    def __init__(self, db_name: str, *, synchronous: str = "FULL", **kwargs: Any) -> None:
        super().__init__(db_name, **kwargs)
        pool_options = {k: v for k, v in kwargs.items() if k not in ("single_row_tracking", "originator_id_type")}
        self.pool = WaitingSQLiteConnectionPool(db_name=db_name, synchronous=synchronous, **pool_options)


class WaitingSQLiteFactory(SQLiteFactory):
    SQLITE_SYNCHRONOUS = "SQLITE_SYNCHRONOUS"

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        synchronous = (self.env.get(self.SQLITE_SYNCHRONOUS) or "FULL").upper()
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"SQLITE_SYNCHRONOUS must be FULL or NORMAL, not {synchronous!r}")
        plain = self.datastore
        self.datastore = WaitingSQLiteDatastore(
            plain.pool.db_name,
            lock_timeout=plain.pool.lock_timeout,
            synchronous=synchronous,
            single_row_tracking=plain.single_row_tracking,
            originator_id_type=plain.originator_id_type,
        )
        plain.close()
