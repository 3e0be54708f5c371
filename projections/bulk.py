"""A from-scratch build's first pass over a log, set-wise in the database.

A projection decoding each event in Python costs tens of microseconds an event; the follows log
is most of every store's events, and what the followers and history views keep of it (the last
state of each pair, follow edges, daily totals) are pure aggregates of its rows. When a view has
taken nothing from that log yet, and the log's stored states are plain JSON in the same
database, the view computes them in SQL from the raw rows in one transaction with its tracking
row (the same result as batches of any size: the views' batches keep only each pair's final
state and fold days in event order). Anything unexpected in the rows and the view refuses
(NotBulkable): the runner then reads the log as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

FOLLOW = "domain.follows.model:Follow"
FOLLOW_TOPICS = (f"{FOLLOW}.Started", f"{FOLLOW}.Followed", f"{FOLLOW}.Unfollowed")
UNFOLLOWED = f"{FOLLOW}.Unfollowed"


class NotBulkable(Exception):
    """The log's rows are not what the set-wise pass understands: read it event by event."""


@dataclass(frozen=True)
class RawLog:
    """An application's stored events, as a table a view's own connection can read."""

    application: str
    table: str  # schema-qualified, quoted

    @classmethod
    def of(cls, app: Any, view: Any) -> RawLog | None:
        """The log of `app` as seen from `view`, or None: not both on PostgreSQL in one database, or
        stored states ciphered or compressed (only the application can read those)."""
        recorder, mapper = app.recorder, app.mapper
        if mapper.cipher is not None or mapper.compressor is not None:
            return None
        if type(mapper.transcoder).__name__ != "JSONTranscoder":
            return None
        mine, theirs = getattr(view, "datastore", None), getattr(recorder, "datastore", None)
        if not isinstance(mine, PostgresDatastore) or not isinstance(theirs, PostgresDatastore):
            return None  # SQLite: each application and view has its own file
        where = ("host", "port", "dbname")
        if any(str(mine.pool.kwargs.get(k)) != str(theirs.pool.kwargs.get(k)) for k in where):
            return None
        table = Identifier(theirs.schema, recorder.events_table_name).as_string(None)
        return cls(app.name, table)


def load_follow_events(c: Any, log: RawLog) -> int:
    """Decode the follows log up to its head into the temporary table `bulk_follows` (dropped at
    commit), one row per event; returns the head (0: an empty log). Raises NotBulkable for a row
    that is not one of the three follow events as this code's events encode them."""
    c.execute(SQL("SELECT MAX(notification_id) AS head FROM {}").format(SQL(log.table)))
    head = c.fetchone()["head"] or 0
    if not head:
        return 0
    # Rows committed later than `head` are left to the event-by-event pass: ids are given under
    # the table's lock, so none at or below it can still appear.
    # Each row's JSON is parsed once (jsonb_to_record; OFFSET 0 keeps the planner from parsing it
    # again for every field), checked, then converted: a bad hex id fails the cast (NotBulkable).
    try:
        c.execute(SQL(
            "CREATE TEMPORARY TABLE bulk_follows ON COMMIT DROP AS SELECT id, active, followed, confirmed, ok,"
            " CASE WHEN ok THEN researcher_hex::uuid::text END AS researcher_id,"
            " CASE WHEN ok THEN account_hex::uuid::text END AS account_id, since,"
            " CASE WHEN ok THEN to_char(since::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END AS at"
            " FROM (SELECT *, COALESCE(known AND types = 'uuid_hex uuid_hex datetime_iso'"
            " AND length(researcher_hex) = 32 AND length(account_hex) = 32"
            " AND substr(since, length(since) - 5, 1) IN ('+', '-'), false) AS ok"  # aware: an offset
            " FROM (SELECT e.notification_id AS id, e.topic <> %s AS active, e.topic = %s AS followed,"
            " e.topic = ANY(%s) AS known, r.researcher_id ->> '_data_' AS researcher_hex,"
            " r.account_id ->> '_data_' AS account_hex, r.\"timestamp\" ->> '_data_' AS since,"
            " concat_ws(' ', r.researcher_id ->> '_type_', r.account_id ->> '_type_', r.\"timestamp\" ->> '_type_') AS types,"
            " COALESCE(r.confirmed, false) AS confirmed"  # v1 follows: not recorded (Follow's upcast)
            " FROM {} AS e, jsonb_to_record(convert_from(e.state, 'UTF8')::jsonb)"
            " AS r(researcher_id jsonb, account_id jsonb, \"timestamp\" jsonb, confirmed boolean)"
            " WHERE e.notification_id <= %s OFFSET 0) AS raw OFFSET 0) AS checked").format(SQL(log.table)),
            (UNFOLLOWED, f"{FOLLOW}.Followed", list(FOLLOW_TOPICS), head))
    except psycopg.errors.DataError as e:
        raise NotBulkable(f"{log.application}: {e}") from e
    # Ids as the projections write them (str(UUID)), `since` as datetime.isoformat() gives it
    # back (the stored text is that very text), `at` as history's stamp() writes it.
    c.execute("SELECT COUNT(*) FILTER (WHERE NOT ok) AS bad FROM bulk_follows")
    if c.fetchone()["bad"]:
        raise NotBulkable(f"{log.application}: events other than follows, or encoded otherwise")
    return head
