"""A small SQL handle for the service's own tables (keys, rate limits): SQLite or PostgreSQL.

Statements are written with %s markers; on SQLite they become ?. Both backends accept
`INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING`.
"""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool


class SqlStore:
    blob = "BLOB"
    bigint = "INTEGER"

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.transaction() as run:
            return run(statement, params)

    @contextmanager
    def transaction(self) -> Iterator[Any]:  # yields run(statement, params) -> rows
        raise NotImplementedError

    @contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Held while a process creates its tables, so processes starting together take turns."""
        with self.exclusive("peerledger schema"):
            yield

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """One holder at a time for `name`, across the processes sharing this store."""
        raise NotImplementedError
        yield

    @contextmanager
    def try_hold(self, name: str) -> Iterator[bool]:
        """Whether this process holds `name`, without waiting, until the block ends (or the
        process dies): one holder across the processes and machines sharing this store."""
        raise NotImplementedError
        yield

    def close(self) -> None:
        pass


class SQLiteStore(SqlStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()  # one writer at a time inside this process
        self._names_lock = threading.Lock()
        self._named: dict[str, threading.Lock] = {}

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        conn = self._connection()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield lambda statement, params=(): conn.execute(statement.replace("%s", "?"), params).fetchall()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        # A lock per name in this process, and a lock file across the processes beside it (CLI
        # commands, import jobs) that start on a fresh store together and create its tables.
        with self._names_lock:
            lock = self._named.setdefault(name, threading.Lock())
        with lock, self._lock_file(name) as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def _lock_file(self, name: str) -> Any:
        # The kernel releases a lock on it when the process dies.
        folder = self.path.parent / "locks"
        folder.mkdir(exist_ok=True)
        return (folder / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock").open("a")

    @contextmanager
    def try_hold(self, name: str) -> Iterator[bool]:
        with self._lock_file(name) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def postgres_conninfo(env: dict[str, str]) -> str:
    """libpq's connection string from eventsourcing's POSTGRES_* variables."""
    return " ".join(
        f"{key}={env[var]!s}"
        for key, var in (
            ("host", "POSTGRES_HOST"),
            ("port", "POSTGRES_PORT"),
            ("dbname", "POSTGRES_DBNAME"),
            ("user", "POSTGRES_USER"),
            ("password", "POSTGRES_PASSWORD"),
        )
        if env.get(var)
    )


class PostgresStore(SqlStore):
    blob = "BYTEA"
    bigint = "BIGINT"

    def __init__(self, env: dict[str, str], *, max_size: int = 8) -> None:
        conninfo = postgres_conninfo(env)
        schema = env.get("POSTGRES_SCHEMA", "public")
        self.schema = schema
        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            kwargs={"options": f"-c search_path={schema}", "connect_timeout": 5},
            timeout=float(env.get("POSTGRES_CONNECT_TIMEOUT", "10")),
            check=ConnectionPool.check_connection,  # dead connections (a server restart) are replaced when taken
            open=True,
        )

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:

            def run(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                cur.execute(statement.encode(), params)
                return cur.fetchall() if cur.description else []

            yield run

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        # A transaction-scoped advisory lock: released by the commit, or by the server if this
        # process dies. The schema lock uses it too: PostgreSQL refuses concurrent CREATE ... IF
        # NOT EXISTS on one catalogue row ("tuple concurrently updated").
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self._lock_key(name)])
            yield

    def _lock_key(self, name: str) -> str:
        # Advisory locks are the database's, not a schema's: two installations (or test runs)
        # in schemas of one database must not hold each other's names.
        return f"{self.schema}:{name}"

    @contextmanager
    def try_hold(self, name: str) -> Iterator[bool]:
        # A session advisory lock on a connection kept for the block: the server releases it
        # if this process or its machine goes away.
        with self.pool.connection() as conn:
            conn.autocommit = True
            key = self._lock_key(name)
            held = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key]).fetchone()[0]
            try:
                yield bool(held)
            finally:
                if held:
                    conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
                conn.autocommit = False

    def close(self) -> None:
        self.pool.close()
