"""ModerationView: one row per claim with its status, oldest first for the queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking

from projections.sqlview import PostgresSqlView, SQLiteSqlView, SqlView, chunks

WAITING_FOR_MODERATORS = ("pending", "disputing")


class ModerationView(SqlView):
    TABLES = ("claims",)
    SQLITE_PREFIX = "moderation"

    def _schema_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {claims} (id TEXT PRIMARY KEY, researcher_id TEXT NOT NULL,"
            " account_id TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {claims}_queue ON {claims} (status, opened_at, id)",
        ]

    def apply_batch(self, rows: list[dict[str, Any]], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, tracking)
            c.executemany(
                self._sql(
                    "INSERT INTO {claims} (id, researcher_id, account_id, status, opened_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
                    " status = excluded.status, updated_at = excluded.updated_at"
                ),
                [(r["id"], r["researcher_id"], r["account_id"], r["status"], r["opened_at"], r["updated_at"])
                 for r in rows],
            )

    def rows_for(self, claim_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunks(claim_ids):
            clause, params = self._in("id", chunk)
            for row in self._query(
                "SELECT id, researcher_id, account_id, opened_at FROM {claims} WHERE " + clause, params
            ):
                found[row["id"]] = dict(row)
        return found

    def queue(self, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """(opened_at, claim id) of claims waiting for a moderator, oldest first."""
        waiting = ", ".join(f"'{s}'" for s in WAITING_FOR_MODERATORS)
        where, params = f"status IN ({waiting})", []
        if after is not None:
            where += " AND (opened_at > %s OR (opened_at = %s AND id > %s))"
            params = [after[0], after[0], after[1]]
        rows = self._query(
            "SELECT opened_at, id FROM {claims} WHERE " + where + " ORDER BY opened_at, id LIMIT %s",
            [*params, limit],
        )
        return [(row["opened_at"], row["id"]) for row in rows]

    def claims_of(self, account_id: str) -> Sequence[Any]:
        return self._query("SELECT id, status FROM {claims} WHERE account_id = %s ORDER BY opened_at", (account_id,))


class SQLiteModerationView(ModerationView, SQLiteSqlView):
    pass


class PostgresModerationView(ModerationView, PostgresSqlView):
    pass
