"""Notifications as stored for people to read: one row per (event, recipient), read marks, the
in-process notifier's positions, when a notification of a kind last went out for a subject, and
the mail outbox (a notification's mail is stored with it and marked once sent)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from adapters.sqlstore import SqlStore


class NotificationStore:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        store.execute(
            "CREATE TABLE IF NOT EXISTS peerledger_notifications (key TEXT PRIMARY KEY, account_id TEXT NOT NULL,"
            " kind TEXT NOT NULL, data TEXT NOT NULL, created_at TEXT NOT NULL, seen INTEGER NOT NULL)")
        store.execute("CREATE INDEX IF NOT EXISTS peerledger_notifications_account"
                      " ON peerledger_notifications (account_id, created_at, key)")
        store.execute(f"CREATE TABLE IF NOT EXISTS peerledger_notify_positions (application TEXT PRIMARY KEY,"
                      f" position {store.bigint} NOT NULL)")
        # The last time a notification of a kind went out for a subject (a follower of a record).
        store.execute("CREATE TABLE IF NOT EXISTS peerledger_notify_windows (key TEXT PRIMARY KEY, at TEXT NOT NULL)")
        # Mail owed for a notification: written with it, so a crash before sending leaves it owed.
        store.execute("CREATE TABLE IF NOT EXISTS peerledger_mail_outbox (key TEXT PRIMARY KEY,"
                      " account_id TEXT NOT NULL, sent INTEGER NOT NULL)")

    def add(self, key: str, account_id: str, kind: str, data: dict[str, Any], at: str,
            once_per: tuple[str, timedelta] | None = None, *, mail: bool = False) -> bool:
        """Store a notification unless it is stored already; with `once_per=(subject, window)`,
        also unless one for the same subject went out within `window` before `at` (event times,
        so a replay or a redelivery decides the same); with `mail`, its mail is owed (the
        outbox). True when stored."""
        with self.store.transaction() as run:
            if once_per is not None:
                subject, window = once_per
                cutoff = (datetime.fromisoformat(at) - window).isoformat()
                if not run("INSERT INTO peerledger_notify_windows (key, at) VALUES (%s, %s) ON CONFLICT (key)"
                           " DO UPDATE SET at = excluded.at WHERE peerledger_notify_windows.at <= %s RETURNING key",
                           (subject, at, cutoff)):
                    return False
            rows = run(
                "INSERT INTO peerledger_notifications (key, account_id, kind, data, created_at, seen)"
                " VALUES (%s, %s, %s, %s, %s, 0) ON CONFLICT (key) DO NOTHING RETURNING key",
                (key, account_id, kind, json.dumps(data), at))
            if rows and mail:
                run("INSERT INTO peerledger_mail_outbox (key, account_id, sent) VALUES (%s, %s, 0)"
                    " ON CONFLICT (key) DO NOTHING", (key, account_id))
            return bool(rows)

    def owed_mail(self, key: str) -> dict[str, Any] | None:
        """The notification whose mail is owed under `key`, or None (none owed, or sent)."""
        rows = self.store.execute(
            "SELECT n.account_id, n.kind, n.data FROM peerledger_mail_outbox o JOIN peerledger_notifications n"
            " ON n.key = o.key WHERE o.key = %s AND o.sent = 0", (key,))
        return {"account_id": rows[0][0], "kind": rows[0][1], "data": json.loads(rows[0][2])} if rows else None

    def mail_sent(self, key: str) -> None:
        self.store.execute("UPDATE peerledger_mail_outbox SET sent = 1 WHERE key = %s", (key,))

    def owed_mail_keys(self, limit: int = 100) -> list[str]:
        rows = self.store.execute("SELECT key FROM peerledger_mail_outbox WHERE sent = 0 LIMIT %s", (limit,))
        return [r[0] for r in rows]

    def page(self, account_id: str, unread_only: bool, after: tuple[str, str] | None,
             limit: int) -> list[dict[str, Any]]:
        where, params = "account_id = %s", [account_id]
        if unread_only:
            where += " AND seen = 0"
        if after is not None:
            where += " AND (created_at < %s OR (created_at = %s AND key < %s))"
            params += [after[0], after[0], after[1]]
        rows = self.store.execute(
            "SELECT key, kind, data, created_at, seen FROM peerledger_notifications WHERE " + where
            + " ORDER BY created_at DESC, key DESC LIMIT %s", [*params, limit])
        return [{"key": r[0], "kind": r[1], "data": json.loads(r[2]), "created_at": r[3], "read": bool(r[4])}
                for r in rows]

    def unread(self, account_id: str) -> int:
        rows = self.store.execute(
            "SELECT COUNT(*) FROM peerledger_notifications WHERE account_id = %s AND seen = 0", (account_id,))
        return int(rows[0][0])

    def mark_read(self, account_id: str, keys: list[str] | None) -> None:
        """The given notifications of this account, or all of them."""
        if keys is None:
            self.store.execute("UPDATE peerledger_notifications SET seen = 1 WHERE account_id = %s AND seen = 0",
                               (account_id,))
            return
        for key in keys:
            self.store.execute("UPDATE peerledger_notifications SET seen = 1 WHERE account_id = %s AND key = %s",
                               (account_id, key))

    def position(self, application: str) -> int:
        rows = self.store.execute("SELECT position FROM peerledger_notify_positions WHERE application = %s",
                                  (application,))
        return int(rows[0][0]) if rows else 0

    def save_position(self, application: str, position: int) -> None:
        self.store.execute(
            "INSERT INTO peerledger_notify_positions (application, position) VALUES (%s, %s)"
            " ON CONFLICT (application) DO UPDATE SET position = excluded.position", (application, position))
