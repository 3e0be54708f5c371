"""The parts of an OpenAlex snapshot whose events are all stored, so a run resumes after them.

A part is known by its path inside the works folder (`updated_date=2024-01-01/part_000.gz`, the
same on every machine that mounts the snapshot) and its size: a part replaced by a different
file is imported again. A part is marked only after its last batch is saved; a run killed
before that imports it again, which writes nothing for the works already stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from adapters.sqlstore import SqlStore


class ImportLedger:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        with store.schema_lock():
            store.execute(
                f"CREATE TABLE IF NOT EXISTS peerledger_import_parts (part TEXT NOT NULL, size {store.bigint} NOT NULL,"
                f" records {store.bigint} NOT NULL, events {store.bigint} NOT NULL, done_at TEXT NOT NULL,"
                f" PRIMARY KEY (part, size))")

    def done(self) -> set[tuple[str, int]]:
        return {(part, int(size)) for part, size in self.store.execute("SELECT part, size FROM peerledger_import_parts")}

    def mark_done(self, part: str, size: int, records: int, events: int) -> None:
        self.store.execute(
            "INSERT INTO peerledger_import_parts (part, size, records, events, done_at) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (part, size) DO NOTHING",
            (part, size, records, events, datetime.now(UTC).isoformat()))

    @contextmanager
    def claim(self, part: str) -> Iterator[bool]:
        """Whether this process may import the part now: False while another holds it (another
        job, or another machine importing into the same PostgreSQL database)."""
        with self.store.try_hold(f"peerledger import part {part}") as held:
            yield held
