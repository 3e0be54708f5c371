"""HistoryView: what happened to each record and claim, and what time travel needs.

Tables:
- entries: one row per event and subject (a researcher record or a claim), in event time, with
  who did it, why, the public changes and the personal ones. Follows are one row per record and
  day (gained, lost, total) rather than one per follower.
- edges: who followed whom from when until when (time travel's follower counts).
- spans: each record's owner, level and dispute over time (time travel's ownership, and which
  followers were verified at a moment).
- works: which works ever named a researcher (time travel folds their events).
- erased: erased accounts. Personal parts of entries naming them read as "erased"; their
  follows leave the edges, as they leave the live counts.
- totals: each record's follower total (the daily rows' running total).

Times are stored as fixed-width UTC texts (`stamp`), so they compare as they sort.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking

from domain.text import safe_text
from projections.bulk import NotBulkable, RawLog, load_follow_events
from projections.sqlview import BatchTracking, PostgresSqlView, SQLiteSqlView, SqlView

VERIFIED_LEVELS = ("L2", "L3")


# Entries whose reason was sealed with its writer's key (the actor's): shredded on their erasure,
# as a rebuild, which can no longer open them, writes them.
SEALED_REASON_KINDS = ("attribution.changed", "link.added", "link.rejected", "attribution.adopted",
                       "attribution.adoption_requested", "attribution.adoption_rejected", "flag.raised",
                       "flag.upheld", "flag.dismissed")


def stamp(moment: datetime) -> str:
    """A fixed-width UTC text for a moment: texts compare as the moments do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Entry:
    subject: str
    at: str
    app: str
    ref: str  # the event (originator and version), or the day of a daily row
    area: str
    kind: str
    actor_role: str  # system, owner, claimant, moderator, voucher, follower...
    actor_id: str | None
    reason: str | None
    reason_public: bool
    changes: dict[str, Any]  # public
    personal: dict[str, Any]  # owner and moderators only; "erased" once a party is erased
    parties: list[str]  # accounts whose erasure erases the personal part
    record: str | None = None  # a claims record's event: its owners then are parties too (not stored)

    def row(self) -> tuple[Any, ...]:
        # A reason stored before free text was checked at the door may hold NUL, which PostgreSQL
        # text refuses: written with the controls replaced, so one event never stops the view.
        reason = safe_text(self.reason) if self.reason is not None else None
        return (self.subject, self.at, self.app, self.ref, self.area, self.kind, self.actor_role, self.actor_id,
                reason, int(self.reason_public), json.dumps(self.changes, sort_keys=True),
                json.dumps(self.personal, sort_keys=True), ",".join(self.parties))


@dataclass
class HistoryChanges:
    entries: list[Entry] = field(default_factory=list)
    # (researcher, day) -> [first time, gained, lost]
    follow_days: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    follows: list[tuple[str, str, str, bool]] = field(default_factory=list)  # researcher, follower, at, on
    spans: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # record, at, new state
    works: set[tuple[str, str]] = field(default_factory=set)  # researcher, work
    erased: list[str] = field(default_factory=list)
    confirmed: list[tuple[str, str]] = field(default_factory=list)  # account, when it confirmed its address
    claims: list[tuple[str, str, str]] = field(default_factory=list)  # claim, researcher, claimant
    records: dict[str, str] = field(default_factory=dict)  # record -> researcher


class HistoryView(SqlView):
    TABLES = ("entries", "edges", "spans", "works", "claims", "erased", "totals", "snapshots", "lock", "confirmed",
              "due")
    SCHEMA_VERSION = 2  # 2: time travel counts followers from when they confirmed their address
    VERIFY_SKIP = {"lock": ("*",), "snapshots": ("*",), "due": ("*",)}
    SQLITE_PREFIX = "history"

    def _schema_statements(self) -> list[str]:
        i = self.bigint
        return [
            "CREATE TABLE IF NOT EXISTS {entries} (subject TEXT NOT NULL, at TEXT NOT NULL, app TEXT NOT NULL,"
            " ref TEXT NOT NULL, area TEXT NOT NULL, kind TEXT NOT NULL, actor_role TEXT NOT NULL, actor_id TEXT,"
            " reason TEXT, reason_public INTEGER NOT NULL, changes TEXT NOT NULL, personal TEXT NOT NULL,"
            " parties TEXT NOT NULL, PRIMARY KEY (subject, app, ref))",
            "CREATE INDEX IF NOT EXISTS {entries}_order ON {entries} (subject, at, app, ref)",
            "CREATE TABLE IF NOT EXISTS {edges} (researcher TEXT NOT NULL, follower TEXT NOT NULL,"
            " since TEXT NOT NULL, until TEXT, PRIMARY KEY (researcher, follower, since))",
            "CREATE INDEX IF NOT EXISTS {edges}_follower ON {edges} (follower)",
            # `former`: the owner just removed, until the next owner (its release or revocation
            # reasons, given with the level change that follows, are about them).
            "CREATE TABLE IF NOT EXISTS {spans} (record TEXT NOT NULL, since TEXT NOT NULL, researcher TEXT NOT NULL,"
            " owner TEXT, former TEXT, level TEXT NOT NULL, disputed INTEGER NOT NULL, until TEXT,"
            " PRIMARY KEY (record, since))",
            "CREATE INDEX IF NOT EXISTS {spans}_owner ON {spans} (owner, since)",
            "CREATE TABLE IF NOT EXISTS {works} (researcher TEXT NOT NULL, work TEXT NOT NULL,"
            " PRIMARY KEY (researcher, work))",
            "CREATE INDEX IF NOT EXISTS {works}_work ON {works} (work)",
            "CREATE TABLE IF NOT EXISTS {claims} (claim TEXT PRIMARY KEY, researcher TEXT NOT NULL,"
            " claimant TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {erased} (account TEXT PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS {confirmed} (account TEXT PRIMARY KEY, at TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {{totals}} (researcher TEXT PRIMARY KEY, followers {i} NOT NULL)",
            # Time travel's snapshots: a record's works as they stood at a moment (written by reads).
            f"CREATE TABLE IF NOT EXISTS {{snapshots}} (researcher TEXT NOT NULL, at TEXT NOT NULL,"
            f" works {self.blob} NOT NULL, PRIMARY KEY (researcher, at))",
            "CREATE TABLE IF NOT EXISTS {lock} (name TEXT PRIMARY KEY)",
            # Work events per record since its last time-travel snapshot: housekeeping takes one past 500.
            f"CREATE TABLE IF NOT EXISTS {{due}} (researcher TEXT PRIMARY KEY, works {i} NOT NULL)",
            "INSERT INTO {lock} (name) VALUES ('history') ON CONFLICT (name) DO NOTHING",
        ]

    # -- writes --------------------------------------------------------------------------------

    def apply_batch(self, changes: HistoryChanges, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            # One batch at a time across the upstream logs: an erasure and a follow of the same
            # account, or two changes of one record's spans, must not interleave.
            c.execute(self._sql("UPDATE {lock} SET name = name"))
            self._insert_tracking(c, tracking)
            if changes.erased:
                self._erase(c, changes.erased)
            if changes.confirmed:
                self._many(c, "INSERT INTO {confirmed} (account, at) SELECT account, at FROM {rows} WHERE true"
                              " ON CONFLICT (account) DO NOTHING", "account text, at text", changes.confirmed)
            if changes.works:
                self._many(c, "INSERT INTO {works} (researcher, work) SELECT researcher, work FROM {rows}"
                              " WHERE true ON CONFLICT (researcher, work) DO NOTHING",
                           "researcher text, work text", sorted(changes.works))
            if changes.claims:
                self._many(c, "INSERT INTO {claims} (claim, researcher, claimant) SELECT claim, researcher, claimant"
                              " FROM {rows} WHERE true ON CONFLICT (claim) DO NOTHING",
                           "claim text, researcher text, claimant text", changes.claims)
            if changes.follows:
                self._follow(c, changes.follows)
            if changes.follow_days:
                changes.entries.extend(self._follow_days(c, changes.follow_days))
            owners = self._spans(c, changes.spans) if changes.spans else {}
            # Entries of records whose owner did not change at that moment: the owner then, from
            # the spans (kept in event order, so a rebuild in batches of any size finds the same).
            unchanged = sorted({e.record for e in changes.entries
                                if e.record is not None and (e.record, e.at) not in owners})
            spans: dict[str, list[Any]] = defaultdict(list)
            for row in self._rows_in(c, "SELECT record, since, until, owner FROM {spans} WHERE {in}", "record",
                                     unchanged) if unchanged else ():
                spans[row["record"]].append(row)
            for e in changes.entries:
                if e.record is not None:
                    then = owners.get((e.record, e.at))
                    if then is None:
                        then = {row["owner"] for row in spans.get(e.record, ())
                                if row["owner"] and row["since"] <= e.at and (row["until"] is None or e.at < row["until"])}
                    e.parties = sorted(set(e.parties) | then)
            work_events: dict[str, int] = {}
            for e in changes.entries:
                if e.kind in ("work.added", "work.corrected"):
                    work_events[e.subject] = work_events.get(e.subject, 0) + 1
            if work_events:
                self._many(c, "INSERT INTO {due} (researcher, works) SELECT researcher, works FROM {rows} WHERE true"
                              " ON CONFLICT (researcher) DO UPDATE SET works = {due}.works + excluded.works",
                           "researcher text, works bigint", sorted(work_events.items()))
            if changes.entries:
                self._many(
                    c,
                    "INSERT INTO {entries} (subject, at, app, ref, area, kind, actor_role, actor_id, reason,"
                    " reason_public, changes, personal, parties) SELECT subject, at, app, ref, area, kind,"
                    " actor_role, actor_id, reason, reason_public, changes, personal, parties FROM {rows}"
                    " WHERE true ON CONFLICT (subject, app, ref) DO UPDATE SET changes = excluded.changes",
                    "subject text, at text, app text, ref text, area text, kind text, actor_role text,"
                    " actor_id text, reason text, reason_public bigint, changes text, personal text, parties text",
                    [e.row() for e in changes.entries],
                )

    def apply_follows_log(self, log: RawLog) -> int:
        """The whole follows log at once, set-wise, into a view that has taken none of it (see
        projections/bulk.py); returns how many events that was. What apply_batch does with one
        batch holding every follow: an edge from each follow to the unfollow after it (none for
        an erased follower), and per record and day the first moment, follows, unfollows and the
        running total, in the very texts _follow_days writes."""
        with self.datastore.transaction(commit=True) as c:
            # The log is decoded before the view is locked: the other logs' batches wait only for the writes.
            head = load_follow_events(c, log)
            if not head:
                return 0
            c.execute(self._sql("UPDATE {lock} SET name = name"))  # as apply_batch: one batch at a time
            self._insert_tracking(c, BatchTracking(log.application, head, after=0))
            c.execute(self._sql("SELECT EXISTS (SELECT 1 FROM {edges}) OR EXISTS (SELECT 1 FROM {totals}) AS found"))
            if c.fetchone()["found"]:
                raise NotBulkable("history: follows stored already")
            # A follow's events alternate (the aggregate refuses a follow while following): an edge
            # runs from a follow to the event after it. Two follows in a row would need the
            # event-by-event rules (the second is ignored there).
            c.execute("SELECT EXISTS (SELECT 1 FROM (SELECT active, lag(active) OVER (PARTITION BY researcher_id,"
                      " account_id ORDER BY id) AS before FROM bulk_follows) AS t WHERE active AND before) AS found")
            if c.fetchone()["found"]:
                raise NotBulkable("history: a follow follows a follow")
            c.execute(self._sql(
                "INSERT INTO {edges} (researcher, follower, since, until)"
                " SELECT DISTINCT ON (researcher_id, account_id, at) researcher_id, account_id, at, until FROM"
                " (SELECT id, researcher_id, account_id, active, at, lead(at) OVER (PARTITION BY researcher_id,"
                " account_id ORDER BY id) AS until FROM bulk_follows) AS e"
                " WHERE active AND NOT EXISTS (SELECT 1 FROM {erased} x WHERE x.account = e.account_id)"
                " ORDER BY researcher_id, account_id, at, id DESC"))
            c.execute("CREATE TEMPORARY TABLE bulk_days ON COMMIT DROP AS"
                      " SELECT researcher_id, day, at, gained, lost, (SUM(gained - lost) OVER (PARTITION BY"
                      " researcher_id ORDER BY day))::bigint AS total FROM (SELECT researcher_id, left(at, 10) AS day,"
                      " (array_agg(at ORDER BY id))[1] AS at, COUNT(*) FILTER (WHERE active) AS gained,"
                      " COUNT(*) FILTER (WHERE NOT active) AS lost FROM bulk_follows GROUP BY researcher_id,"
                      " left(at, 10)) AS d")
            # changes as json.dumps(..., sort_keys=True) writes them. Sent without parameters, so the %s
            # are format()'s; {{ }} are braces once the table names are in.
            c.execute(self._sql(
                "INSERT INTO {entries} (subject, at, app, ref, area, kind, actor_role, actor_id, reason, reason_public,"
                " changes, personal, parties) SELECT researcher_id, at, 'follows.daily', day, 'follows',"
                " 'followers.daily', 'followers', NULL, NULL, 1, format('{{\"day\": \"%s\", \"followed\": %s,"
                " \"followers\": %s, \"unfollowed\": %s}}', day, gained, total, lost), '{{}}', ''"
                " FROM bulk_days ORDER BY researcher_id, day"))
            c.execute(self._sql(
                "INSERT INTO {totals} (researcher, followers) SELECT DISTINCT ON (researcher_id) researcher_id, total"
                " FROM bulk_days ORDER BY researcher_id, day DESC"))
            c.execute("SELECT COUNT(*) AS n FROM bulk_follows")
            return c.fetchone()["n"]

    def _erase(self, c: Any, accounts: list[str]) -> None:
        self._many(c, "INSERT INTO {erased} (account) SELECT account FROM {rows} WHERE true"
                      " ON CONFLICT (account) DO NOTHING", "account text", [(a,) for a in accounts])
        self._rows_in(c, "DELETE FROM {edges} WHERE {in}", "follower", accounts)
        # Reasons sealed with the erased account's key were opened into entries: shred them here too.
        kinds = ", ".join(f"'{kind}'" for kind in SEALED_REASON_KINDS)
        self._rows_in(c, f"UPDATE {{entries}} SET reason = 'erased' WHERE kind IN ({kinds})"
                         " AND reason IS NOT NULL AND {in}", "actor_id", accounts)

    def _follow(self, c: Any, follows: list[tuple[str, str, str, bool]]) -> None:
        """Open and close follow edges, in event order; an erased follower's follows are left out."""
        erased = {row["account"] for row in self._select_many(
            c, "SELECT e.account FROM {erased} e JOIN {rows} ON e.account = rows.account", "account text",
            [(f,) for f in sorted({f for _, f, _, _ in follows})])}
        pairs = sorted({(r, f) for r, f, _, _ in follows if f not in erased})
        if not pairs:
            return
        open_since: dict[tuple[str, str], str] = {
            (row["researcher"], row["follower"]): row["since"]
            for row in self._select_many(
                c, "SELECT e.researcher, e.follower, e.since FROM {edges} e JOIN {rows}"
                   " ON e.researcher = rows.researcher AND e.follower = rows.follower WHERE e.until IS NULL",
                "researcher text, follower text", pairs)
        }
        rows: dict[tuple[str, str, str], str | None] = {}
        for researcher, follower, at, on in follows:
            pair = (researcher, follower)
            if follower in erased:
                continue
            since = open_since.get(pair)
            if on and since is None:
                open_since[pair] = at
                rows[(researcher, follower, at)] = None
            elif not on and since is not None:
                rows[(researcher, follower, since)] = at
                del open_since[pair]
        self._many(c, "INSERT INTO {edges} (researcher, follower, since, until) SELECT researcher, follower,"
                      " since, until FROM {rows} WHERE true ON CONFLICT (researcher, follower, since)"
                      " DO UPDATE SET until = excluded.until",
                   "researcher text, follower text, since text, until text",
                   [(*key, until) for key, until in rows.items()])

    def _follow_days(self, c: Any, days: dict[tuple[str, str], list[Any]]) -> list[Entry]:
        """One history entry per record and day: followers gained, lost, and the total after."""
        keys = sorted(days)
        stored = {
            (row["subject"], row["ref"]): row for row in self._select_many(
                c, "SELECT e.subject, e.ref, e.at, e.changes FROM {entries} e JOIN {rows}"
                   " ON e.subject = rows.subject AND e.ref = rows.ref WHERE e.app = 'follows.daily'",
                "subject text, ref text", keys)
        }
        researchers = sorted({r for r, _ in keys})
        totals: dict[str, int] = {r: 0 for r in researchers}
        for row in self._select_many(c, "SELECT t.researcher, t.followers FROM {totals} t JOIN {rows}"
                                        " ON t.researcher = rows.researcher", "researcher text", [(r,) for r in researchers]):
            totals[row["researcher"]] = row["followers"]
        entries = []
        for researcher, day in keys:  # days in order per record, as the keys sort
            first, gained, lost = days[(researcher, day)]
            before = stored.get((researcher, day))
            if before is not None:
                old = json.loads(before["changes"])
                first, gained, lost = before["at"], old["followed"] + gained, old["unfollowed"] + lost
                totals[researcher] += gained - old["followed"] - (lost - old["unfollowed"])
            else:
                totals[researcher] += gained - lost
            entries.append(Entry(researcher, first, "follows.daily", day, "follows", "followers.daily", "followers",
                                 None, None, True, {"day": day, "followed": gained, "unfollowed": lost,
                                                    "followers": totals[researcher]}, {}, []))
        self._many(c, "INSERT INTO {totals} (researcher, followers) SELECT researcher, followers FROM {rows}"
                      " WHERE true ON CONFLICT (researcher) DO UPDATE SET followers = excluded.followers",
                   "researcher text, followers bigint", sorted(totals.items()))
        return entries

    def _spans(self, c: Any, spans: list[tuple[str, str, dict[str, Any]]]) -> dict[tuple[str, str], set[str]]:
        """Close each record's open span and open one with the new state, in event order; returns
        the owners before and after each change (its personal parts are theirs too)."""
        records = sorted({record for record, _, _ in spans})
        current: dict[str, dict[str, Any]] = {
            row["record"]: dict(row) for row in self._select_many(
                c, "SELECT s.record, s.since, s.researcher, s.owner, s.former, s.level, s.disputed FROM {spans} s JOIN {rows}"
                   " ON s.record = rows.record WHERE s.until IS NULL", "record text", [(r,) for r in records])
        }
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        owners: dict[tuple[str, str], set[str]] = {}
        for record, at, state in spans:
            now = current.get(record)
            if now is not None:
                owners.setdefault((record, at), set()).update(filter(None, (now["owner"], now["former"])))
                if "owner" in state:
                    state = {**state, "former": now["owner"] if state["owner"] is None else None}
            if now is not None and now["since"] == at:  # two changes at one instant: one span
                now.update(state)
            elif now is not None:
                rows[(record, now["since"])] = {**now, "until": at}
                now = current[record] = {**now, **state, "since": at}
            else:
                if "researcher" not in state:
                    continue  # a record always starts with Started; nothing to attach this to
                now = current[record] = {"record": record, "since": at, "owner": None, "former": None, "disputed": 0,
                                         **state}
            rows[(record, at)] = {**now, "until": None}
            owners.setdefault((record, at), set()).update(filter(None, (now["owner"], now["former"])))
        self._many(c, "INSERT INTO {spans} (record, since, researcher, owner, former, level, disputed, until)"
                      " SELECT record, since, researcher, owner, former, level, disputed, until FROM {rows} WHERE true"
                      " ON CONFLICT (record, since) DO UPDATE SET owner = excluded.owner, former = excluded.former,"
                      " level = excluded.level, disputed = excluded.disputed, until = excluded.until",
                   "record text, since text, researcher text, owner text, former text, level text, disputed bigint,"
                   " until text",
                   [(r["record"], r["since"], r["researcher"], r["owner"], r["former"], r["level"], int(r["disputed"]),
                     r["until"]) for r in rows.values()])
        return owners

    # -- reads ---------------------------------------------------------------------------------

    def entries(self, subject: str, after: tuple[str, str, str] | None, limit: int, *,
                newest_first: bool) -> list[Any]:
        where, params = "subject = %s", [subject]
        if after is not None:
            op = "<" if newest_first else ">"
            where += f" AND (at {op} %s OR (at = %s AND (app {op} %s OR (app = %s AND ref {op} %s))))"
            at, app, ref = after
            params += [at, at, app, app, ref]
        order = "DESC" if newest_first else "ASC"
        return self._query(f"SELECT * FROM {{entries}} WHERE {where} ORDER BY at {order}, app {order},"
                           f" ref {order} LIMIT %s", [*params, limit])

    def authors_of(self, works: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for row in self._rows_in(None, "SELECT work, researcher FROM {works} WHERE {in}", "work", sorted(set(works))):
            found.setdefault(row["work"], set()).add(row["researcher"])
        return found

    def claims_of(self, claims: Sequence[str]) -> dict[str, tuple[str, str]]:
        return {row["claim"]: (row["researcher"], row["claimant"]) for row in self._rows_in(
            None, "SELECT claim, researcher, claimant FROM {claims} WHERE {in}", "claim", sorted(set(claims)))}

    def researchers_of_records(self, records: Sequence[str]) -> dict[str, str]:
        return {row["record"]: row["researcher"] for row in self._rows_in(
            None, "SELECT DISTINCT record, researcher FROM {spans} WHERE {in}", "record", sorted(set(records)))}

    def erased_among(self, accounts: Sequence[str]) -> set[str]:
        if not accounts:
            return set()
        clause, params = self._in("account", list(accounts))
        return {row["account"] for row in self._query("SELECT account FROM {erased} WHERE " + clause, params)}

    def works_of(self, researcher: str) -> list[str]:
        return [row["work"] for row in self._query("SELECT work FROM {works} WHERE researcher = %s", (researcher,))]

    def works_changed(self, researcher: str, after: str, upto: str) -> list[str]:
        """Works added to or corrected on the researcher's record in (after, upto]."""
        rows = self._query("SELECT changes FROM {entries} WHERE subject = %s AND at > %s AND at <= %s"
                           " AND kind IN ('work.added', 'work.corrected')", (researcher, after, upto))
        return sorted({json.loads(row["changes"])["work_id"] for row in rows})

    def snapshot_before(self, researcher: str, at: str) -> tuple[str, bytes] | None:
        rows = self._query("SELECT at, works FROM {snapshots} WHERE researcher = %s AND at <= %s"
                           " ORDER BY at DESC LIMIT 1", (researcher, at))
        return (rows[0]["at"], bytes(rows[0]["works"])) if rows else None

    def save_snapshot(self, researcher: str, at: str, works: bytes) -> None:
        """A snapshot of a record's works, and the count of work events since it starting again."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql("INSERT INTO {snapshots} (researcher, at, works) VALUES (%s, %s, %s)"
                                " ON CONFLICT (researcher, at) DO NOTHING"), (researcher, at, works))
            c.execute(self._sql("UPDATE {due} SET works = (SELECT COUNT(*) FROM {entries} WHERE subject = %s"
                                " AND at > %s AND kind IN ('work.added', 'work.corrected')) WHERE researcher = %s"),
                      (researcher, at, researcher))

    def snapshots_due(self, threshold: int) -> list[str]:
        return [row["researcher"] for row in self._query(
            "SELECT researcher FROM {due} WHERE works >= %s ORDER BY works DESC LIMIT 1000", (threshold,))]

    def span_at(self, record: str, at: str) -> dict[str, Any] | None:
        rows = self._query("SELECT researcher, owner, level, disputed FROM {spans} WHERE record = %s AND since <= %s"
                           " AND (until IS NULL OR until > %s)", (record, at, at))
        return dict(rows[0]) if rows else None

    def owned_at(self, owner: str, at: str) -> list[str]:
        """The records `owner` owned at `at`."""
        return [row["researcher"] for row in self._query(
            "SELECT researcher FROM {spans} WHERE owner = %s AND since <= %s AND (until IS NULL OR until > %s)",
            (owner, at, at))]

    def followers_at(self, researcher: str | Sequence[str], at: str) -> tuple[int, int]:
        """Followers at `at` (accounts that had confirmed their address by then), and how many of
        them then owned a record verified at L2 or L3; of a person's records, each account once."""
        if not isinstance(researcher, str):
            if len(researcher) > 1:
                return self._person_followers_at(list(researcher), at)
            researcher = researcher[0]
        rows = self._query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM {spans} s WHERE s.owner = e.follower"
            " AND s.level IN ('L2', 'L3') AND s.since <= %s AND (s.until IS NULL OR s.until > %s))"
            " THEN 1 ELSE 0 END), 0) AS verified FROM {edges} e"
            " WHERE e.researcher = %s AND e.since <= %s AND (e.until IS NULL OR e.until > %s)"
            " AND EXISTS (SELECT 1 FROM {confirmed} c WHERE c.account = e.follower AND c.at <= %s)",
            (at, at, researcher, at, at, at))
        return rows[0]["n"], rows[0]["verified"]


    def _person_followers_at(self, researchers: list[str], at: str) -> tuple[int, int]:
        clause, params = self._in("e.researcher", researchers)
        rows = self._query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM {spans} s WHERE s.owner = f.follower"
            " AND s.level IN ('L2', 'L3') AND s.since <= %s AND (s.until IS NULL OR s.until > %s))"
            " THEN 1 ELSE 0 END), 0) AS verified FROM (SELECT DISTINCT e.follower FROM {edges} e WHERE " + clause
            + " AND e.since <= %s AND (e.until IS NULL OR e.until > %s)"
            " AND EXISTS (SELECT 1 FROM {confirmed} c WHERE c.account = e.follower AND c.at <= %s)) f",
            [at, at, *params, at, at, at])
        return rows[0]["n"], rows[0]["verified"]


class SQLiteHistoryView(HistoryView, SQLiteSqlView):
    pass


class PostgresHistoryView(HistoryView, PostgresSqlView):
    pass
