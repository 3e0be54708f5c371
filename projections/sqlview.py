"""The SQL a view needs on both backends, written once.

Views write their rows and their tracking row in one transaction. Statements are written with
%s markers and {table} names; SQLite gets ? markers and PostgreSQL schema-qualified names. Both
take `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`; only a few type names and `IN` differ.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL

BATCH_IN = 500  # ids per IN (...) list


def chunks(values: Sequence[Any], size: int = BATCH_IN) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class SqlView(TrackingRecorder):
    TABLES: tuple[str, ...] = ()
    SQLITE_PREFIX = ""  # SQLite: each view has its own file, so a fixed prefix is enough
    blob = "BLOB"
    bigint = "INTEGER"
    binary_collation = ""  # SQLite compares text by code point already

    @abstractmethod
    def _schema_statements(self) -> list[str]: ...

    @abstractmethod
    def _sql(self, statement: str) -> Any:
        """Adapt a statement written with %s markers and {table} names to the backend."""

    @abstractmethod
    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]: ...

    def _query(self, statement: str, params: Sequence[Any]) -> list[Any]:
        """One read-only statement: a single round trip where the backend allows it."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(statement), params)
            return c.fetchall()


class SQLiteSqlView(SqlView, SQLiteTrackingRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before the recorder's own set-up, which asks for the create statements.
        self._tables = {name: f"{self.SQLITE_PREFIX}_{name}" for name in self.TABLES}
        self._tables["tracking"] = "tracking"
        self._cache: dict[str, str] = {}
        super().__init__(*args, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + [
            s.format(**self._tables) for s in self._schema_statements()
        ]

    def _sql(self, statement: str) -> str:
        cached = self._cache.get(statement)
        if cached is None:
            cached = self._cache[statement] = statement.format(**self._tables).replace("%s", "?")
        return cached

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({','.join(['%s'] * len(values))})", list(values)


class PostgresSqlView(SqlView, PostgresTrackingRecorder):
    blob = "BYTEA"
    bigint = "BIGINT"
    binary_collation = ' COLLATE "C"'  # code point order, so a prefix is one index range

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = self.datastore.schema
        prefix = self.tracking_table_name.removesuffix("_tracking")
        self._tables = {name: f'"{schema}"."{prefix}_{name}"' for name in self.TABLES}
        self._tables["tracking"] = f'"{schema}"."{self.tracking_table_name}"'
        create = {name: f"{prefix}_{name}" for name in self.TABLES}  # index names are unqualified
        for statement in self._schema_statements():
            if statement.startswith("CREATE INDEX"):
                head, _, tail = statement.partition(" ON ")
                sql = head.format(**create) + " ON " + tail.format(**self._tables)
            else:
                sql = statement.format(**self._tables)
            self.sql_create_statements.append(SQL(sql))  # type: ignore[arg-type]
        self._cache: dict[str, bytes] = {}

    def _sql(self, statement: str) -> Any:
        cached = self._cache.get(statement)
        if cached is None:
            cached = self._cache[statement] = statement.format(**self._tables).encode()
        return cached

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(%s)", [list(values)]

    def _query(self, statement: str, params: Sequence[Any]) -> list[Any]:
        # Autocommit: one round trip instead of BEGIN, SELECT, ROLLBACK.
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(self._sql(statement), params, prepare=True)
            return c.fetchall()
