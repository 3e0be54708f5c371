"""InvitationsView: each person's inbox and sent box, conversations' counts, reports for moderators.

Rows carry ids, states and times only: notes, messages and report reasons stay sealed in the
events and are opened per request (so erasure needs nothing here).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from projections.sqlview import PostgresSqlView, SQLiteSqlView, SqlView


class InvitationsView(SqlView):
    TABLES = ("invitations", "conversations", "reports")
    SQLITE_PREFIX = "invitations"
    SCHEMA_VERSION = 2  # 2: a pending invitation is "pending" (was "sent"); a conversation's invitation and
    # latest activity, for the list of them

    def _schema_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS {invitations} (id TEXT PRIMARY KEY, sender_id TEXT NOT NULL,"
            " recipient_id TEXT NOT NULL, sender_record TEXT NOT NULL, recipient_record TEXT NOT NULL,"
            " status TEXT NOT NULL, topic TEXT, work_id TEXT, sent_at TEXT NOT NULL, expires_at TEXT NOT NULL,"
            " conversation_id TEXT)",
            "CREATE INDEX IF NOT EXISTS {invitations}_inbox ON {invitations} (recipient_id, sent_at, id)",
            "CREATE INDEX IF NOT EXISTS {invitations}_sent ON {invitations} (sender_id, sent_at, id)",
            "CREATE INDEX IF NOT EXISTS {invitations}_due ON {invitations} (status, expires_at)",
            "CREATE TABLE IF NOT EXISTS {conversations} (id TEXT PRIMARY KEY, first_id TEXT NOT NULL,"
            " second_id TEXT NOT NULL, messages INTEGER NOT NULL, first_read INTEGER NOT NULL,"
            " second_read INTEGER NOT NULL, closed INTEGER NOT NULL, invitation_id TEXT NOT NULL,"
            " active_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {conversations}_first ON {conversations} (first_id, active_at, id)",
            "CREATE INDEX IF NOT EXISTS {conversations}_second ON {conversations} (second_id, active_at, id)",
            "CREATE TABLE IF NOT EXISTS {reports} (invitation_id TEXT PRIMARY KEY, sender_id TEXT NOT NULL,"
            " recipient_id TEXT NOT NULL, reported_at TEXT NOT NULL)",
        ]

    def apply_batch(self, statements: list[tuple[str, tuple[Any, ...]]], tracking: Tracking) -> None:
        """The batch's changes in event order, with its tracking row, in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            self._insert_tracking(c, tracking)
            for statement, params in statements:
                c.execute(self._sql(statement), params)

    # -- reads --------------------------------------------------------------------------------

    def box(self, account_id: str, box: str, status: str | None, after: tuple[str, str] | None,
            limit: int) -> list[dict[str, Any]]:
        """Invitations received (inbox) or sent, newest first."""
        column = "recipient_id" if box == "inbox" else "sender_id"
        where, params = f"{column} = %s", [account_id]
        if status is not None:
            where += " AND status = %s"
            params.append(status)
        if after is not None:
            where += " AND (sent_at < %s OR (sent_at = %s AND id < %s))"
            params += [after[0], after[0], after[1]]
        rows = self._query("SELECT * FROM {invitations} WHERE " + where
                           + " ORDER BY sent_at DESC, id DESC LIMIT %s", [*params, limit])
        return [dict(r) for r in rows]

    def conversations_of(self, account_id: str, after: tuple[str, str] | None, limit: int) -> list[dict[str, Any]]:
        """The conversations this account takes part in, the latest message (or opening, or
        closing) first, each with the other party and how many messages this account has not read."""
        where, params = "(first_id = %s OR second_id = %s)", [account_id, account_id]
        if after is not None:
            where += " AND (active_at < %s OR (active_at = %s AND id < %s))"
            params += [after[0], after[0], after[1]]
        rows = self._query(
            "SELECT id, invitation_id, active_at, messages, closed,"
            " CASE WHEN first_id = %s THEN second_id ELSE first_id END AS other_id,"
            " CASE WHEN first_id = %s THEN messages - first_read ELSE messages - second_read END AS unread"
            " FROM {conversations} WHERE " + where + " ORDER BY active_at DESC, id DESC LIMIT %s",
            [account_id, account_id, *params, limit])
        return [dict(r) for r in rows]

    def pending_received(self, account_id: str) -> int:
        rows = self._query("SELECT COUNT(*) AS n FROM {invitations} WHERE recipient_id = %s AND status = 'pending'",
                           (account_id,))
        return rows[0]["n"]

    def unread_messages(self, account_id: str) -> int:
        rows = self._query(
            "SELECT COALESCE(SUM(CASE WHEN first_id = %s THEN messages - first_read ELSE messages - second_read END), 0)"
            " AS n FROM {conversations} WHERE first_id = %s OR second_id = %s", (account_id, account_id, account_id))
        return int(rows[0]["n"])

    def open_for(self, account_id: str) -> tuple[list[str], list[str]]:
        """Pending invitations and open conversations this account takes part in."""
        invitations = self._query("SELECT id FROM {invitations} WHERE status = 'pending'"
                                  " AND (sender_id = %s OR recipient_id = %s)", (account_id, account_id))
        conversations = self._query("SELECT id FROM {conversations} WHERE closed = 0"
                                    " AND (first_id = %s OR second_id = %s)", (account_id, account_id))
        return [r["id"] for r in invitations], [r["id"] for r in conversations]

    def due(self, now: str, limit: int = 500) -> list[str]:
        """Pending invitations whose time is up."""
        rows = self._query("SELECT id FROM {invitations} WHERE status = 'pending' AND expires_at <= %s"
                           " ORDER BY expires_at LIMIT %s", (now, limit))
        return [r["id"] for r in rows]

    def reports(self, after: tuple[str, str] | None, limit: int) -> list[dict[str, Any]]:
        """Reports of abuse, newest first (for moderators)."""
        where, params = "1 = 1", []
        if after is not None:
            where = "(reported_at < %s OR (reported_at = %s AND invitation_id < %s))"
            params = [after[0], after[0], after[1]]
        rows = self._query("SELECT * FROM {reports} WHERE " + where
                           + " ORDER BY reported_at DESC, invitation_id DESC LIMIT %s", [*params, limit])
        return [dict(r) for r in rows]


class SQLiteInvitationsView(InvitationsView, SQLiteSqlView):
    pass


class PostgresInvitationsView(InvitationsView, PostgresSqlView):
    pass
