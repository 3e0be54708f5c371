"""TrustView: each record's trust snapshot, and its history: one point per change of score.

Its inputs are two read models that are themselves projections of the event log: the profile
documents (works, topics, close collaborators, level, claim status) and the follower counts.
It tracks how far it has read each one's change feed (their batch numbers) in its own tracking
table, in the same transaction as its rows, like every other view.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from projections.sqlview import PostgresSqlView, SQLiteSqlView, SqlView

DOCS_FEED, COUNTS_FEED = "profiles-docs", "followers-counts"


class TrustView(SqlView):
    TABLES = ("trust", "history")
    VERIFY_SKIP = {"trust": ("points",), "history": ("*",)}
    SQLITE_PREFIX = "trust"

    def _schema_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {trust} (researcher_id TEXT PRIMARY KEY, score INTEGER NOT NULL,"
            " tier TEXT NOT NULL, snapshot TEXT NOT NULL, points INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {history} (researcher_id TEXT NOT NULL, number INTEGER NOT NULL,"
            " at TEXT NOT NULL, score INTEGER NOT NULL, tier TEXT NOT NULL, cause TEXT NOT NULL,"
            " PRIMARY KEY (researcher_id, number))",
        ]

    def apply_batch(self, rows: list[dict[str, Any]], trackings: Sequence[Tracking],
                    read_at: tuple[int, int]) -> None:
        """New snapshots (with their history point) and the feeds' positions, in one transaction.
        `read_at`: the (docs, counts) positions the batch was read at. A batch is refused unless
        both still hold: one built from older counts must not overwrite a newer snapshot."""
        with self.datastore.transaction(commit=True) as c:
            self._lock_position(c, "trust")
            stored = (self._max_tracking_id(DOCS_FEED, c) or 0, self._max_tracking_id(COUNTS_FEED, c) or 0)
            if stored != read_at:
                raise IntegrityError(f"trust is at {stored}, not at {read_at} where this batch was read")
            for tracking in trackings:
                self._insert_tracking(c, tracking)
            # A few statements per batch whatever its size (a rebuild writes every record's first
            # snapshot: a statement per row was most of trust's share of a replay).
            moved = [(json.dumps(r["snapshot"]), r["researcher_id"]) for r in rows if not r["point"]]
            if moved:  # the inputs moved, the score did not: no new history point
                self._many(c, "UPDATE {trust} SET snapshot = rows.snapshot FROM {rows}"
                              " WHERE {trust}.researcher_id = rows.researcher_id",
                           "snapshot text, researcher_id text", moved)
            scored = [r for r in rows if r["point"]]
            if not scored:
                return
            numbers = {row["researcher_id"]: row["points"] for row in self._select_many(
                c, "INSERT INTO {trust} (researcher_id, score, tier, snapshot, points) SELECT researcher_id, score,"
                   " tier, snapshot, 1 FROM {rows} WHERE true ON CONFLICT (researcher_id) DO UPDATE SET"
                   " score = excluded.score, tier = excluded.tier, snapshot = excluded.snapshot,"
                   " points = {trust}.points + 1 RETURNING researcher_id, points",
                "researcher_id text, score bigint, tier text, snapshot text",
                [(r["researcher_id"], r["score"], r["tier"], json.dumps(r["snapshot"])) for r in scored])}
            self._many(c, "INSERT INTO {history} (researcher_id, number, at, score, tier, cause)"
                          " SELECT researcher_id, number, at, score, tier, cause FROM {rows}",
                       "researcher_id text, number bigint, at text, score bigint, tier text, cause text",
                       [(r["researcher_id"], numbers[r["researcher_id"]], r["at"], r["score"], r["tier"],
                         json.dumps(r["cause"])) for r in scored])

    def feed_position(self, feed: str) -> int:
        return self.max_tracking_id(feed) or 0

    def snapshots(self, researcher_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {row["researcher_id"]: json.loads(row["snapshot"]) for row in self._rows_in(
            None, "SELECT researcher_id, snapshot FROM {trust} WHERE {in}", "researcher_id", researcher_ids)}

    def all_scores(self) -> dict[str, tuple[int, str]]:
        return {r["researcher_id"]: (r["score"], r["tier"])
                for r in self._query("SELECT researcher_id, score, tier FROM {trust}", ())}

    def history(self, researcher_id: str, after: int | None, limit: int, newest_first: bool) -> list[dict[str, Any]]:
        where, params = "researcher_id = %s", [researcher_id]
        if after is not None:
            where += " AND number < %s" if newest_first else " AND number > %s"
            params.append(after)
        order = "DESC" if newest_first else "ASC"
        rows = self._query("SELECT number, at, score, tier, cause FROM {history} WHERE " + where
                           + f" ORDER BY number {order} LIMIT %s", [*params, limit])
        return [{**dict(r), "cause": json.loads(r["cause"])} for r in rows]


class SQLiteTrustView(TrustView, SQLiteSqlView):
    pass


class PostgresTrustView(TrustView, PostgresSqlView):
    pass
