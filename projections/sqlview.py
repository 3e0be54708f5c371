"""The SQL a view needs on both backends, written once.

Views write their rows and their tracking row in one transaction. Statements are written with
%s markers and {table} names; SQLite gets ? markers and PostgreSQL schema-qualified names. Both
take `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`; only a few type names and `IN` differ.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL

BATCH_IN = 500  # ids per IN (...) list
SEPARATOR = "\x1f"  # between the values of a column sent as one text (PostgresSqlView._many)


def changes_channel(projection: str) -> str:
    """The PostgreSQL channel a projection's view NOTIFYs when a batch commits (any version: a
    wake-up is only a hint to look)."""
    return f"peerledger_{projection}_changed"


def view_changes(projection: str) -> str:
    """The log watch's name for "the projection's read model changed" (adapters/logwatch.py), beside
    the applications' names."""
    return f"view:{projection}"


def chunks(values: Sequence[Any], size: int = BATCH_IN) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class ViewRetiredError(Exception):
    """The view's version no longer serves readers (a replay switched them to another): its
    batches are refused, so it stays where it was at the switch."""


@dataclass(frozen=True)
class BatchTracking(Tracking):
    """The position a batch ends at, the one it was read from (`after`), and whether the log
    had more when it was read (`behind`; None from runners not told to say so)."""

    after: int = 0
    behind: bool | None = None


class SqlView(TrackingRecorder):
    TABLES: tuple[str, ...] = ()
    # The shape of the view's tables and what its rows mean. Raise it with a change that rows
    # already stored do not have (a new table filled from events already past, a new column):
    # a start then finds the stored version older and asks for `peerledger replay NAME`.
    SCHEMA_VERSION = 1
    # What a rebuild may number differently: whole tables ("*") or columns, by table.
    VERIFY_SKIP: dict[str, tuple[str, ...]] = {}
    # Rows whose counters (these columns) are all zero, which a rebuild may not write at all: a
    # follow and an unfollow in one batch leave no row; in two, a row at zero.
    VERIFY_ZERO_IS_ABSENT: dict[str, tuple[str, ...]] = {}
    SQLITE_PREFIX = ""  # SQLite: each view has its own file, so a fixed prefix is enough
    blob = "BLOB"
    bigint = "INTEGER"
    binary_collation = ""  # SQLite compares text by code point already
    # Checked at the start of each batch's transaction (raising ViewRetiredError): set for a view
    # opened at a version of its projection (bootstrap/versions.py); None for scratch views.
    fence: Any = None
    # PostgreSQL: the channel each batch's transaction NOTIFYs as it commits (changes_channel), so
    # readers of the view in other processes (trust, the API's caches) are woken; None: silent.
    changes_channel: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TABLES and "schema" not in cls.TABLES:
            cls.TABLES = (*cls.TABLES, "schema")  # every view keeps its schema version in a table

    @abstractmethod
    def _schema_statements(self) -> list[str]: ...

    def _all_schema_statements(self) -> list[str]:
        return [*self._schema_statements(),
                "CREATE TABLE IF NOT EXISTS {schema} (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)"]

    def schema_is_current(self) -> bool:
        """Whether the stored rows are of this code's SCHEMA_VERSION. A view without a version
        row is stamped: a new one with the current version; one whose tables were there before
        this process created what was missing (an older PeerLedger made them) with 1."""
        rows = self._query("SELECT version FROM {schema} WHERE id = 1", ())
        if rows:
            return int(rows[0]["version"]) >= self.SCHEMA_VERSION
        built = bool(getattr(self, "tracking_table_exists", False))  # eventsourcing notes it when creating tables
        version = 1 if built else self.SCHEMA_VERSION
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql("INSERT INTO {schema} (id, version) VALUES (1, %s) ON CONFLICT (id) DO NOTHING"),
                      (version,))
        return self.schema_is_current() if built else True

    @abstractmethod
    def _sql(self, statement: str) -> Any:
        """Adapt a statement written with %s markers and {table} names to the backend."""

    @abstractmethod
    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]: ...

    @abstractmethod
    def _many(self, c: Any, statement: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run `statement` over many rows, which it reads from `{rows}`: a table whose columns
        are `columns` ("name type, ..."; types are text or bigint)."""

    @abstractmethod
    def _select_many(self, c: Any, statement: str, columns: str, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """Like _many, for a SELECT: the rows it finds for all the given rows."""

    def _rows_in(self, c: Any, statement: str, column: str, values: Iterable[Any]) -> list[Any]:
        """The rows of `statement`, whose `{in}` stands for "`column` is one of `values`", asked in
        chunks of BATCH_IN: in the transaction `c`, or in a read of its own when `c` is None.
        Statements without rows (DELETE, UPDATE) return none."""
        found: list[Any] = []
        for chunk in chunks(list(values)):
            clause, params = self._in(column, chunk)
            sql = statement.replace("{in}", clause)
            if c is None:
                found.extend(self._query(sql, params))
                continue
            c.execute(self._sql(sql), params)
            if sql.startswith("SELECT"):
                found.extend(c.fetchall())
        return found

    def _insert_tracking(self, c: Any, tracking: Tracking) -> None:
        """Record the batch's position, refusing a batch that does not start where the view is.

        eventsourcing's single-row tracking refuses a position at or below the stored one, but
        two runners whose batches overlap and end at different places (10-15 and 10-20) would
        both be applied if the shorter one committed first. With the batch's start compared
        under a lock, every event is applied exactly once, whichever runner commits first."""
        if self.fence is not None:
            self.fence(c)
        if isinstance(tracking, BatchTracking):
            self._lock_position(c, tracking.application_name)
            stored = self._max_tracking_id(tracking.application_name, c) or 0
            if stored != tracking.after:
                raise IntegrityError(f"{tracking.application_name}: the view is at {stored}, "
                                     f"not at {tracking.after} where this batch starts")
        super()._insert_tracking(c, tracking)  # type: ignore[misc]
        self._notify_changed(c)

    def _notify_changed(self, c: Any) -> None:
        """SQLite has no notifications: readers in this process are woken by the runner."""

    def _lock_position(self, c: Any, application_name: str) -> None:
        """SQLite: the write transaction already excludes every other writer."""

    def analyze(self) -> None:
        """Refresh the planner's statistics of the view's tables (see PostgresSqlView)."""

    def dump(self, table: str) -> list[tuple[tuple[str, Any], ...]]:
        """Every row of one of the view's tables, as sorted (column, value) pairs, leaving out the
        columns a rebuild may number differently (VERIFY_SKIP)."""
        if table == "schema":
            return []  # what built the rows, not what they say: a rebuild is stamped when opened
        skip = self.VERIFY_SKIP.get(table, ())
        zero = self.VERIFY_ZERO_IS_ABSENT.get(table, ())
        rows = [row for row in self._query("SELECT * FROM {" + table + "}", ())
                if not zero or any(row[column] for column in zero)]
        return sorted((tuple((k, bytes(v) if isinstance(v, memoryview) else v) for k, v in sorted(dict(row).items())
                             if k not in skip) for row in rows), key=repr)  # repr: NULLs sort beside texts

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
        self._staging: dict[str, str] = {}  # columns -> the temporary table _stage_rows fills
        super().__init__(*args, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + [
            s.format(**self._tables) for s in self._all_schema_statements()
        ]

    def _sql(self, statement: str) -> str:
        cached = self._cache.get(statement)
        if cached is None:
            cached = self._cache[statement] = statement.format(**self._tables).replace("%s", "?")
        return cached

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({','.join(['%s'] * len(values))})", list(values)

    def _many(self, c: Any, statement: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        c.execute(self._sql(statement.replace("{rows}", self._stage_rows(c, columns, rows))))

    def _select_many(self, c: Any, statement: str, columns: str, rows: Sequence[Sequence[Any]]) -> list[Any]:
        c.execute(self._sql(statement.replace("{rows}", self._stage_rows(c, columns, rows))))
        return c.fetchall()

    def _stage_rows(self, c: Any, columns: str, rows: Sequence[Sequence[Any]]) -> str:
        """The rows in a temporary table, for one statement over all of them: SQLite's
        executemany returns no rows, and a statement per row (a subquery of parameters each)
        spent most of a profiles batch on the way in. Returns the table, named `rows`."""
        table = self._staging.get(columns)
        if table is None:
            table = self._staging[columns] = f"temp.peerledger_rows_{len(self._staging)}"
        c.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns})")  # per connection
        c.execute(f"DELETE FROM {table}")
        marks = ", ".join("?" * len(columns.split(",")))
        c.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)  # noqa: S608 - our own names
        return f"{table} AS rows"


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
        self._made_by: dict[int, str] = {}  # id(statement) -> what it creates or seeds
        for statement in self._all_schema_statements():
            if statement.startswith("CREATE INDEX"):
                head, _, tail = statement.partition(" ON ")
                sql = head.format(**create) + " ON " + tail.format(**self._tables)
                made = f'"{schema}"."{head.format(**create).split()[-1]}"'
            else:
                sql = statement.format(**self._tables)
                key = statement.partition("{")[2].partition("}")[0]
                made = self._tables[key] if statement.startswith(("CREATE TABLE", "INSERT INTO")) else ""
            self.sql_create_statements.append(SQL(sql))  # type: ignore[arg-type]
            if made:
                self._made_by[id(self.sql_create_statements[-1])] = made
        self._cache: dict[str, bytes] = {}

    def _create_table(self, curs: Any) -> None:
        # Only what is missing: CREATE INDEX IF NOT EXISTS locks its table even when the index is
        # there, and a process starting while a worker wrote batches deadlocked with it (both
        # waiting on the other's locks). A table's seed rows go in when the table is created.
        names = sorted(set(self._made_by.values()))
        curs.execute("SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL", (names,))
        existing = {row["name"] for row in curs.fetchall()}
        statements = self.sql_create_statements
        self.sql_create_statements = [s for s in statements if self._made_by.get(id(s)) not in existing]
        try:
            super()._create_table(curs)
        finally:
            self.sql_create_statements = statements

    def _sql(self, statement: str) -> Any:
        cached = self._cache.get(statement)
        if cached is None:
            cached = self._cache[statement] = statement.format(**self._tables).encode()
        return cached

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(%s)", [list(values)]

    def analyze(self) -> None:
        # A view filled from empty by a catch-up outgrows its statistics at once: with none, the
        # planner took hash joins over whole tables (400 ms instead of 0.4 ms per profile batch
        # query at 100,000 works). Autovacuum may be slow to notice, or off.
        with self.datastore.get_connection() as conn:  # autocommit, as eventsourcing's pool sets it
            for name in self.TABLES:
                conn.execute(f"ANALYZE {self._tables[name]}".encode())

    def _notify_changed(self, c: Any) -> None:
        # Delivered when the batch commits, never before; PostgreSQL folds repeats within one
        # transaction (trust records two feeds' tracking) into one notification.
        if self.changes_channel is not None:
            c.execute("SELECT pg_notify(%s, '')", (self.changes_channel,))

    def _lock_position(self, c: Any, application_name: str) -> None:
        # Held to the end of the transaction: one batch at a time per view and upstream log.
        c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                  (f"{self.datastore.schema}.{self.tracking_table_name}:{application_name}",))

    def _many(self, c: Any, statement: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        # One statement over all the rows: a statement per row spent most of a batch in psycopg's
        # per-row work, and even arrays cost a Python call per element to send. So a column
        # goes as one text, split by the server, when none of its values holds the separator or
        # is empty ('' then stands for NULL); other columns, and bytes, go as arrays.
        if rows:  # no rows, nothing to apply (and no column to send)
            c.execute(*self._unnest(statement, columns, rows))

    def _select_many(self, c: Any, statement: str, columns: str, rows: Sequence[Sequence[Any]]) -> list[Any]:
        if not rows:
            return []
        c.execute(*self._unnest(statement, columns, rows))
        return c.fetchall()

    def _unnest(self, statement: str, columns: str, rows: Sequence[Sequence[Any]]) -> tuple[Any, list[Any]]:
        pairs = [column.split() for column in columns.split(",")]
        arrays, params = [], []
        for (_, kind), column in zip(pairs, zip(*rows, strict=True), strict=True):
            text = None
            if kind != "bytea":
                text = SEPARATOR.join("" if v is None else str(v) for v in column)
                if text.count(SEPARATOR) != len(column) - 1 or "" in column:
                    text = None  # free text holding the separator, or an empty string: send an array
            if text is None:
                arrays.append(f"%s::{kind}[]")
                params.append(list(column))
            else:
                arrays.append(f"string_to_array(%s, E'\\x1f', '')::{kind}[]")
                params.append(text)
        source = "unnest(" + ", ".join(arrays) + ") AS rows(" + ", ".join(name for name, _ in pairs) + ")"
        return self._sql(statement.replace("{rows}", source)), params

    def _query(self, statement: str, params: Sequence[Any]) -> list[Any]:
        # Autocommit: one round trip instead of BEGIN, SELECT, ROLLBACK.
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(self._sql(statement), params, prepare=True)
            return c.fetchall()
