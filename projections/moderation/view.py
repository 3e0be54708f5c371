"""ModerationView: one row per claim with its status (and what it follows from), oldest first for
the queue; one row per flag on a record (the flags' queue)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking

from domain.claims.model import ClaimProgress

from projections.sqlview import PostgresSqlView, SQLiteSqlView, SqlView

WAITING_FOR_MODERATORS = ("pending", "disputing")


class ModerationView(SqlView):
    TABLES = ("claims", "flags")
    SQLITE_PREFIX = "moderation"
    SCHEMA_VERSION = 3  # 2: what the status follows from (disputes, checks) kept beside it; 3: flags

    def _schema_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {claims} (id TEXT PRIMARY KEY, researcher_id TEXT NOT NULL,"
            " account_id TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
            " disputes INTEGER NOT NULL, checks TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {claims}_queue ON {claims} (status, opened_at, id)",
            "CREATE INDEX IF NOT EXISTS {claims}_claimant ON {claims} (account_id, updated_at, id)",
            "CREATE TABLE IF NOT EXISTS {flags} (id TEXT PRIMARY KEY, researcher_id TEXT NOT NULL,"
            " work_id TEXT NOT NULL, account_id TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {flags}_queue ON {flags} (status, opened_at, id)",
        ]

    def apply_batch(self, rows: list[dict[str, Any]], tracking: Tracking,
                    flags: Sequence[tuple[str, ...]] = ()) -> None:
        """`flags`: (id, researcher, work, account, status, opened at, updated at) as they are now."""
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, tracking)
            if flags:
                c.executemany(
                    self._sql(
                        "INSERT INTO {flags} (id, researcher_id, work_id, account_id, status, opened_at, updated_at)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
                        " status = excluded.status, updated_at = excluded.updated_at"
                    ),
                    list(flags),
                )
            c.executemany(
                self._sql(
                    "INSERT INTO {claims} (id, researcher_id, account_id, status, opened_at, updated_at, disputes,"
                    " checks) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
                    " status = excluded.status, updated_at = excluded.updated_at, checks = excluded.checks"
                ),
                [(r["id"], r["researcher_id"], r["account_id"], r["progress"].status, r["opened_at"], r["updated_at"],
                  int(r["progress"].disputes), ",".join(sorted(r["progress"].checks))) for r in rows],
            )

    def rows_for(self, claim_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored claims, each with its progress."""
        return {row["id"]: {"id": row["id"], "researcher_id": row["researcher_id"], "account_id": row["account_id"],
                            "opened_at": row["opened_at"],
                            "progress": ClaimProgress(row["status"], bool(row["disputes"]),
                                                      frozenset(c for c in row["checks"].split(",") if c))}
                for row in self._rows_in(None, "SELECT id, researcher_id, account_id, opened_at, status, disputes,"
                                               " checks FROM {claims} WHERE {in}", "id", claim_ids)}

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

    def open_flags(self, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """(opened_at, flag id) of flags waiting for a moderator, oldest first."""
        where, params = "status = 'open'", []
        if after is not None:
            where += " AND (opened_at > %s OR (opened_at = %s AND id > %s))"
            params = [after[0], after[0], after[1]]
        rows = self._query("SELECT opened_at, id FROM {flags} WHERE " + where + " ORDER BY opened_at, id LIMIT %s",
                           [*params, limit])
        return [(row["opened_at"], row["id"]) for row in rows]

    def claims_by(self, account_id: str, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """(updated_at, claim id) of an account's claims, the latest change first."""
        where, params = "account_id = %s", [account_id]
        if after is not None:
            where += " AND (updated_at < %s OR (updated_at = %s AND id < %s))"
            params += [after[0], after[0], after[1]]
        rows = self._query("SELECT updated_at, id FROM {claims} WHERE " + where
                           + " ORDER BY updated_at DESC, id DESC LIMIT %s", [*params, limit])
        return [(row["updated_at"], row["id"]) for row in rows]


class SQLiteModerationView(ModerationView, SQLiteSqlView):
    pass


class PostgresModerationView(ModerationView, PostgresSqlView):
    pass
