"""Which version of each read model readers use, and which one `peerledger replay` is building.

Version 1 of a projection's read model lives under the projection's name (tables `profiles_*`
on PostgreSQL, the file profiles.sqlite on SQLite), version n > 1 under `<name>_v<n>`. One row per
projection says which version readers use (`version`) and which one a replay is building
(`building`; for a projection built from other read models, `building_reads` names the versions
of those it is built from). Switching readers is one transaction over the rows of everything
rebuilt together.

On PostgreSQL each batch of a versioned view reads its projection's row FOR SHARE in the batch's
own transaction and is refused (ViewRetiredError) once its version is neither used nor being
built: the switch waits for the batches in flight, and the version it retires stops moving at
that moment. Processes can then move readers to the new version as soon as it has caught up
with the old one, and never show anything older than what they showed before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from projections.sqlview import ViewRetiredError
from adapters.sqlstore import SqlStore

TABLE = "peerledger_projection_versions"


def version_prefix(projection: str, version: int) -> str:
    """What a version's tables (PostgreSQL) or file (SQLite) are named after."""
    return projection if version == 1 else f"{projection}_v{version}"


@dataclass(frozen=True)
class VersionRow:
    version: int
    building: int | None = None
    building_reads: str | None = None  # "followers:2,profiles:2": what a derived build reads
    retired_at: float | None = None  # when readers left the previous version (Unix time)


class ProjectionVersions:
    def __init__(self, store: SqlStore, projections: Iterable[str]) -> None:
        self.store = store
        store.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (projection TEXT PRIMARY KEY, version INTEGER NOT NULL,"
            " building INTEGER, building_reads TEXT, retired_at DOUBLE PRECISION)"
        )
        # A row for every projection, so a batch's FOR SHARE always has a row to lock.
        with store.transaction() as run:
            for name in projections:
                run(f"INSERT INTO {TABLE} (projection, version) VALUES (%s, 1) ON CONFLICT (projection) DO NOTHING",
                    (name,))

    def all(self) -> dict[str, VersionRow]:
        rows = self.store.execute(f"SELECT projection, version, building, building_reads, retired_at FROM {TABLE}")
        return {name: VersionRow(int(v), None if b is None else int(b), reads, None if at is None else float(at))
                for name, v, b, reads, at in rows}

    def begin(self, projection: str, building: int, reads: str) -> None:
        self.store.execute(f"UPDATE {TABLE} SET building = %s, building_reads = %s WHERE projection = %s",
                           (building, reads, projection))

    def switch(self, versions: dict[str, int], at: float) -> None:
        """Readers move to each projection's built version, all at once or not at all."""
        with self.store.transaction() as run:
            for name, version in versions.items():
                done = run(f"UPDATE {TABLE} SET version = building, building = NULL, building_reads = NULL,"
                           " retired_at = %s WHERE projection = %s AND building = %s RETURNING projection",
                           (at, name, version))
                if not done:
                    raise RuntimeError(f"{name}: version {version} is no longer the one being built")


def postgres_fence(view: Any, projection: str, version: int) -> Callable[[Any], None] | None:
    """The check a view's batches make in their own transaction (see the module's comment); None
    when the versions table is not in the view's database (a view configured elsewhere)."""
    schema = view.datastore.schema
    table = f'"{schema}".{TABLE}'
    with view.datastore.get_connection() as conn, conn.cursor() as c:
        c.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (table,))
        if not _values(c.fetchone())[0]:
            return None
    statement = f"SELECT version, building FROM {table} WHERE projection = %s FOR SHARE".encode()

    def fence(c: Any) -> None:
        c.execute(statement, (projection,))
        row = c.fetchone()
        if row is not None and version not in _values(row):
            raise ViewRetiredError(f"{projection} version {version} no longer serves readers")

    return fence


def _values(row: Any) -> tuple[Any, ...]:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)
