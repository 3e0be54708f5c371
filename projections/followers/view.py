"""FollowersView: follow relations, counts per record, and who is verified.

A batch writes all its changes in one transaction with its tracking row: a few statements per
batch whatever its size, which is what lets the projection catch up at tens of thousands of
events a second. Counts are adjusted by deltas computed from the relations as stored, so a
follow repeated or an unfollow of nothing never moves them. Only accounts that confirmed their
address count (and are listed): a follow stored before its account confirms counts from then. A record's owner never counts among
its followers: a follow made before the account became the owner is kept apart (`counted` 2,
whichever log's event comes first) until the correcting Unfollowed event removes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from domain.claims.model import record_id_for
from projections.bulk import NotBulkable, RawLog, load_follow_events
from projections.sqlview import BatchTracking, PostgresSqlView, SQLiteSqlView, SqlView


class FollowersView(SqlView):
    TABLES = ("follows", "counts", "owned", "verified", "erased", "seq", "confirmed", "persons")
    # 2: only confirmed accounts count; 3: an owner's follow of its own record does not;
    # 4: the records of a person count each account once (persons).
    SCHEMA_VERSION = 4
    VERIFY_SKIP = {"counts": ("position",), "seq": ("*",)}
    VERIFY_ZERO_IS_ABSENT = {"counts": ("followers", "verified")}
    SQLITE_PREFIX = "followers"

    def _schema_statements(self) -> list[str]:
        i = self.bigint
        return [
            # counted: 1 the follower had confirmed their address (only such follows count and are listed);
            # 0 not yet confirmed; 2 the follower owns the record (never counted, ended by a correcting event)
            "CREATE TABLE IF NOT EXISTS {follows} (researcher_id TEXT NOT NULL, account_id TEXT NOT NULL,"
            " since TEXT NOT NULL, counted INTEGER NOT NULL, PRIMARY KEY (researcher_id, account_id))",
            "CREATE INDEX IF NOT EXISTS {follows}_newest ON {follows} (researcher_id, since, account_id)",
            "CREATE INDEX IF NOT EXISTS {follows}_account ON {follows} (account_id, since, researcher_id)",
            "CREATE INDEX IF NOT EXISTS {follows}_owners ON {follows} (researcher_id) WHERE counted = 2",
            f"CREATE TABLE IF NOT EXISTS {{counts}} (researcher_id TEXT PRIMARY KEY, followers {i} NOT NULL,"
            f" verified {i} NOT NULL, position {i} NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {counts}_position ON {counts} (position)",
            # Records' owners and levels (from claims): an account is verified while it owns an L2+ record.
            "CREATE TABLE IF NOT EXISTS {owned} (record_id TEXT PRIMARY KEY, owner_id TEXT, level TEXT)",
            "CREATE INDEX IF NOT EXISTS {owned}_owner ON {owned} (owner_id)",
            "CREATE TABLE IF NOT EXISTS {verified} (account_id TEXT PRIMARY KEY)",
            # Erased accounts never follow again, whichever runner gets to its events first.
            "CREATE TABLE IF NOT EXISTS {erased} (account_id TEXT PRIMARY KEY)",
            f"CREATE TABLE IF NOT EXISTS {{seq}} (name TEXT PRIMARY KEY, n {i} NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {confirmed} (account_id TEXT PRIMARY KEY)",
            "INSERT INTO {seq} (name, n) VALUES ('counts', 0) ON CONFLICT (name) DO NOTHING",
            # Records linked into a person (from claims): each of them counts the person's followers,
            # every account once however many of its records it follows.
            "CREATE TABLE IF NOT EXISTS {persons} (record_id TEXT PRIMARY KEY, person_id TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {persons}_person ON {persons} (person_id)",
        ]

    # -- writes -------------------------------------------------------------------------------

    def apply_batch(self, changes: FollowerChanges, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            # One batch at a time across the runners of every upstream application: the deltas
            # below are computed from what is stored, which a concurrent batch would change.
            c.execute(self._sql("UPDATE {seq} SET n = n WHERE name = 'counts'"))
            self._insert_tracking(c, tracking)
            deltas: dict[str, list[int]] = {}  # researcher -> [followers, verified]

            def bump(researcher_id: str, account_id: str, sign: int, verified: set[str]) -> None:
                d = deltas.setdefault(researcher_id, [0, 0])
                d[0] += sign
                if account_id in verified:
                    d[1] += sign

            # 0. Accounts that confirmed their address: follows they made before now count.
            if changes.confirmed:
                self._many(c, "INSERT INTO {confirmed} (account_id) SELECT account_id FROM {rows} WHERE true"
                           " ON CONFLICT (account_id) DO NOTHING", "account_id text", [(a,) for a in changes.confirmed])
                waiting = self._select_many(c, "SELECT f.researcher_id, f.account_id FROM {follows} f JOIN {rows}"
                                               " ON f.account_id = rows.account_id WHERE f.counted = 0",
                                            "account_id text", [(a,) for a in sorted(changes.confirmed)])
                verified_now = self._verified(c, {row["account_id"] for row in waiting})
                for row in waiting:
                    bump(row["researcher_id"], row["account_id"], +1, verified_now)
                self._many(c, "UPDATE {follows} SET counted = 1 WHERE counted = 0"
                              " AND account_id IN (SELECT account_id FROM {rows})",
                           "account_id text", [(a,) for a in changes.confirmed])

            # 1. Ownership and levels: who is verified after this batch.
            if changes.owned:
                before = self._verified(c, {o["owner_id"] for o in changes.owned.values() if o["owner_id"]}
                                        | changes.owner_touched)
                self._many(
                    c,
                    "INSERT INTO {owned} (record_id, owner_id, level) SELECT record_id, owner_id, level"
                    " FROM {rows} WHERE true ON CONFLICT (record_id) DO UPDATE SET owner_id = excluded.owner_id,"
                    " level = excluded.level",
                    "record_id text, owner_id text, level text",
                    [(r, o["owner_id"], o["level"]) for r, o in changes.owned.items()],
                )
                touched = {o["owner_id"] for o in changes.owned.values() if o["owner_id"]} | changes.owner_touched
                now = self._verified_by_ownership(c, touched) - self._erased(c, touched)
                for account in touched:
                    was, is_ = account in before, account in now
                    if was == is_:
                        continue
                    sql = ("INSERT INTO {verified} (account_id) VALUES (%s) ON CONFLICT (account_id) DO NOTHING"
                           if is_ else "DELETE FROM {verified} WHERE account_id = %s")
                    c.execute(self._sql(sql), (account,))
                    # Every record this account follows, and counts, gains or loses a verified follower.
                    c.execute(self._sql("SELECT researcher_id FROM {follows} WHERE account_id = %s AND counted = 1"),
                              (account,))
                    for row in c.fetchall():
                        deltas.setdefault(row["researcher_id"], [0, 0])[1] += 1 if is_ else -1
                # An account that becomes a record's owner stops counting as its follower, at once.
                own = self._owners_counted_follows(c, {(r, o["owner_id"]) for r, o in changes.owned.items()
                                                       if o["owner_id"]})
                if own:
                    verified_now = self._verified(c, {a for _, a in own})
                    for researcher_id, account_id in own:
                        bump(researcher_id, account_id, -1, verified_now)
                    self._many(c, "UPDATE {follows} SET counted = 2 WHERE (researcher_id, account_id) IN"
                               " (SELECT researcher_id, account_id FROM {rows})",
                               "researcher_id text, account_id text", own)

            # 2. Follow relations: compare the batch's final state of each pair with what is stored.
            if changes.pairs:
                stored = self._stored_pairs(c, list(changes.pairs))
                accounts = {a for _, a in changes.pairs}
                verified = self._verified(c, accounts)
                erased = self._erased(c, accounts) | changes.erased
                confirmed = self._confirmed(c, accounts)
                owners = self._owners(c, {r for r, _ in changes.pairs})  # researcher -> owner
                inserts, deletes, restarted, recounted = [], [], [], []
                for pair, (active, since) in changes.pairs.items():
                    researcher_id, account_id = pair
                    if active and account_id in erased:
                        continue
                    if active and pair not in stored and owners.get(researcher_id) == account_id:
                        inserts.append((researcher_id, account_id, since, 2))  # its owner: never counted
                    elif active and pair not in stored:
                        # Followed while confirmed (the event says so), or by an account known to
                        # have confirmed since: counted; otherwise stored, and counted on confirmation.
                        counted = pair in changes.confirmed_pairs or account_id in confirmed
                        inserts.append((researcher_id, account_id, since, int(counted)))
                        if counted:
                            bump(researcher_id, account_id, +1, verified)
                    elif active and pair in changes.restarted:
                        restarted.append((since, researcher_id, account_id))  # followed again: newest
                        if not stored[pair] and pair in changes.confirmed_pairs:
                            recounted.append((researcher_id, account_id))
                            bump(researcher_id, account_id, +1, verified)
                    elif not active and pair in stored:
                        deletes.append(pair)
                        if stored[pair]:
                            bump(researcher_id, account_id, -1, verified)
                if restarted:
                    self._many(c, "UPDATE {follows} SET since = rows.since FROM {rows}"
                               " WHERE {follows}.researcher_id = rows.researcher_id"
                               " AND {follows}.account_id = rows.account_id",
                               "since text, researcher_id text, account_id text", restarted)
                if recounted:
                    self._many(c, "UPDATE {follows} SET counted = 1 WHERE (researcher_id, account_id) IN"
                               " (SELECT researcher_id, account_id FROM {rows})",
                               "researcher_id text, account_id text", recounted)
                if inserts:
                    self._many(c, "INSERT INTO {follows} (researcher_id, account_id, since, counted)"
                               " SELECT researcher_id, account_id, since, counted FROM {rows}",
                               "researcher_id text, account_id text, since text, counted bigint", inserts)
                if deletes:
                    self._many(c, "DELETE FROM {follows} WHERE (researcher_id, account_id) IN"
                               " (SELECT researcher_id, account_id FROM {rows})",
                               "researcher_id text, account_id text", deletes)

            # 3. Erased accounts: their follows disappear from lists and counts.
            for account_id in sorted(changes.erased):
                verified = self._verified(c, {account_id})
                c.execute(self._sql("SELECT researcher_id FROM {follows} WHERE account_id = %s AND counted = 1"),
                          (account_id,))
                for row in c.fetchall():
                    bump(row["researcher_id"], account_id, -1, verified)
                c.execute(self._sql("DELETE FROM {follows} WHERE account_id = %s"), (account_id,))
                c.execute(self._sql("DELETE FROM {verified} WHERE account_id = %s"), (account_id,))
                c.execute(self._sql("INSERT INTO {erased} (account_id) VALUES (%s) ON CONFLICT (account_id)"
                                    " DO NOTHING"), (account_id,))

            # 4. Links: a person's records are counted together below; an unlinked record alone again.
            linked = self._apply_links(c, changes.links)
            recount = self._groups(c, set(deltas) | linked)
            grouped = {r for records in recount for r in records}
            recount += [[r] for r in sorted(linked - grouped)]  # unlinked: its own followers again
            deltas = {r: d for r, d in deltas.items() if d != [0, 0]}
            if not deltas and not recount:
                return
            c.execute(self._sql("UPDATE {seq} SET n = n + 1 WHERE name = 'counts' RETURNING n"))
            position = c.fetchone()["n"]
            if deltas:
                self._add_deltas(c, deltas, position)
            self._recount(c, recount, position)

    def _add_deltas(self, c: Any, deltas: dict[str, list[int]], position: int) -> None:
        self._many(
                c,
                "INSERT INTO {counts} (researcher_id, followers, verified, position)"
                " SELECT researcher_id, followers, verified, position FROM {rows} WHERE true"
                " ON CONFLICT (researcher_id) DO UPDATE SET followers = {counts}.followers + excluded.followers,"
                " verified = {counts}.verified + excluded.verified, position = excluded.position",
                "researcher_id text, followers bigint, verified bigint, position bigint",
                [(r, d[0], d[1], position) for r, d in deltas.items()],
            )

    def _apply_links(self, c: Any, links: list[tuple[str, str, bool]]) -> set[str]:
        """Store which records are linked into which person, in event order; returns the records
        the links concern (their counts are worked out again)."""
        for person, member, linked in links:
            if linked:
                c.execute(self._sql("INSERT INTO {persons} (record_id, person_id) VALUES (%s, %s)"
                                    " ON CONFLICT (record_id) DO UPDATE SET person_id = excluded.person_id"),
                          (member, person))
            else:
                c.execute(self._sql("DELETE FROM {persons} WHERE record_id = %s AND person_id = %s"), (member, person))
        return {r for person, member, _ in links for r in (person, member)}

    def _groups(self, c: Any, researcher_ids: set[str]) -> list[list[str]]:
        """The persons these records belong to, each as its records (its own first): their counts
        are worked out from the follows; the counts of records in no person move by deltas."""
        ids = sorted(researcher_ids)
        persons = {row["person_id"] for row in self._rows_in(c, "SELECT person_id FROM {persons} WHERE {in}",
                                                             "record_id", ids)}
        persons |= {row["person_id"] for row in self._rows_in(c, "SELECT person_id FROM {persons} WHERE {in}",
                                                              "person_id", ids)}
        groups: dict[str, list[str]] = {p: [p] for p in persons}
        for row in self._rows_in(c, "SELECT record_id, person_id FROM {persons} WHERE {in}", "person_id",
                                 sorted(persons)):
            groups[row["person_id"]].append(row["record_id"])
        return list(groups.values())

    def _recount(self, c: Any, groups: list[list[str]], position: int) -> None:
        """Each group's counts from its follows: every counted account once, however many of the
        group's records it follows; written on every record of the group."""
        rows = []
        for records in groups:
            clause, params = self._in("f.researcher_id", records)
            c.execute(self._sql("SELECT COUNT(DISTINCT f.account_id) AS followers,"
                                " COUNT(DISTINCT v.account_id) AS verified FROM {follows} f LEFT JOIN {verified} v"
                                " ON v.account_id = f.account_id WHERE f.counted = 1 AND " + clause), params)
            found = c.fetchone()
            rows += [(r, found["followers"], found["verified"], position) for r in records]
        if rows:
            self._many(c, "INSERT INTO {counts} (researcher_id, followers, verified, position) SELECT researcher_id,"
                          " followers, verified, position FROM {rows} WHERE true ON CONFLICT (researcher_id) DO UPDATE"
                          " SET followers = excluded.followers, verified = excluded.verified,"
                          " position = excluded.position",
                       "researcher_id text, followers bigint, verified bigint, position bigint", rows)

    def apply_follows_log(self, log: RawLog) -> int:
        """The whole follows log at once, set-wise, into a view that has taken none of it (see
        projections/bulk.py); returns how many events that was. What apply_batch does with one
        batch holding every follow: each pair's last event decides; an active pair is stored
        unless its follower is erased, kept apart if the follower owns the record, counted if its
        last follow says the follower had confirmed (or the account is known to have since)."""
        with self.datastore.transaction(commit=True) as c:
            # The log is decoded before the view is locked: the other logs' batches wait only for the writes.
            head = load_follow_events(c, log)
            if not head:
                return 0
            c.execute(self._sql("UPDATE {seq} SET n = n WHERE name = 'counts'"))  # as apply_batch: one at a time
            self._insert_tracking(c, BatchTracking(log.application, head, after=0))
            c.execute(self._sql("SELECT EXISTS (SELECT 1 FROM {follows}) AS found"))
            if c.fetchone()["found"]:
                raise NotBulkable("followers: follows stored already")
            c.execute("CREATE TEMPORARY TABLE bulk_pairs ON COMMIT DROP AS SELECT DISTINCT ON (researcher_id,"
                      " account_id) researcher_id, account_id, active, since, confirmed FROM bulk_follows"
                      " ORDER BY researcher_id, account_id, id DESC")
            # Owners, by researcher: records are keyed by a uuid5 of the researcher, made in Python.
            c.execute(self._sql("SELECT record_id, owner_id FROM {owned} WHERE owner_id IS NOT NULL"))
            owned = {row["record_id"]: row["owner_id"] for row in c.fetchall()}
            c.execute("CREATE TEMPORARY TABLE bulk_owners (researcher_id text PRIMARY KEY, owner_id text) ON COMMIT DROP")
            if owned:
                c.execute("SELECT DISTINCT researcher_id FROM bulk_pairs WHERE active")
                owners = [(r, owned[record]) for r in (row["researcher_id"] for row in c.fetchall())
                          if (record := str(record_id_for(UUID(r)))) in owned]
                if owners:
                    c.executemany("INSERT INTO bulk_owners (researcher_id, owner_id) VALUES (%s, %s)", owners)
            c.execute(self._sql(
                "INSERT INTO {follows} (researcher_id, account_id, since, counted)"
                " SELECT p.researcher_id, p.account_id, p.since, CASE WHEN o.owner_id = p.account_id THEN 2"
                " WHEN p.confirmed OR EXISTS (SELECT 1 FROM {confirmed} k WHERE k.account_id = p.account_id) THEN 1"
                " ELSE 0 END FROM bulk_pairs p LEFT JOIN bulk_owners o ON o.researcher_id = p.researcher_id"
                " WHERE p.active AND NOT EXISTS (SELECT 1 FROM {erased} x WHERE x.account_id = p.account_id)"
                " ORDER BY p.researcher_id, p.account_id"))
            c.execute(self._sql("SELECT EXISTS (SELECT 1 FROM {follows} WHERE counted = 1) AS found"))
            if c.fetchone()["found"]:
                c.execute(self._sql("UPDATE {seq} SET n = n + 1 WHERE name = 'counts' RETURNING n"))
                position = c.fetchone()["n"]
                c.execute(self._sql(
                    "INSERT INTO {counts} (researcher_id, followers, verified, position)"
                    " SELECT f.researcher_id, COUNT(*), COUNT(v.account_id), %s FROM {follows} f"
                    " LEFT JOIN {verified} v ON v.account_id = f.account_id WHERE f.counted = 1 GROUP BY f.researcher_id"
                    " ON CONFLICT (researcher_id) DO UPDATE SET followers = {counts}.followers + excluded.followers,"
                    " verified = {counts}.verified + excluded.verified, position = excluded.position"), (position,))
                # Persons the claims log linked before this pass: counted together, as apply_batch does.
                c.execute(self._sql("SELECT record_id FROM {persons}"))
                self._recount(c, self._groups(c, {row["record_id"] for row in c.fetchall()}), position)
            c.execute("SELECT COUNT(*) AS n FROM bulk_follows")
            return c.fetchone()["n"]

    def _stored_pairs(self, c: Any, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        """The pairs stored, each with whether it is counted."""
        rows = self._select_many(c, "SELECT f.researcher_id, f.account_id, f.counted FROM {follows} f JOIN {rows}"
                                 " ON f.researcher_id = rows.researcher_id AND f.account_id = rows.account_id",
                                 "researcher_id text, account_id text", pairs)
        return {(row["researcher_id"], row["account_id"]): row["counted"] == 1 for row in rows}

    def _owners(self, c: Any, researchers: Iterable[str]) -> dict[str, str]:
        """researcher -> its owner's account, for those with an owner (claims key records by their own id)."""
        record_of = {str(record_id_for(UUID(r))): r for r in researchers}
        return {record_of[row["record_id"]]: row["owner_id"] for row in self._rows_in(
            c, "SELECT record_id, owner_id FROM {owned} WHERE owner_id IS NOT NULL AND {in}", "record_id",
            sorted(record_of))}

    def _owners_counted_follows(self, c: Any, owned: set[tuple[str, str]]) -> list[tuple[str, str]]:
        """(researcher, account) pairs, counted, where the account owns the researcher's record."""
        found = []
        for record_id, account_id in sorted(owned):
            c.execute(self._sql("SELECT researcher_id FROM {follows} WHERE account_id = %s AND counted = 1"),
                      (account_id,))
            found += [(row["researcher_id"], account_id) for row in c.fetchall()
                      if str(record_id_for(UUID(row["researcher_id"]))) == record_id]
        return found

    def owners_following_their_records(self, limit: int = 1000) -> list[tuple[str, str]]:
        """(researcher, account) where the account follows a record it owns: follows to end."""
        rows = self._query("SELECT researcher_id, account_id FROM {follows} WHERE counted = 2"
                           " ORDER BY researcher_id, account_id LIMIT %s", (limit,))
        return [(r["researcher_id"], r["account_id"]) for r in rows]

    def _accounts_in(self, c: Any, table: str, accounts: Iterable[str]) -> set[str]:
        """Which of `accounts` the table (verified, confirmed, erased) holds."""
        return {row["account_id"] for row in self._rows_in(
            c, f"SELECT account_id FROM {{{table}}} WHERE {{in}}", "account_id", sorted(accounts))}

    def _verified(self, c: Any, accounts: Iterable[str]) -> set[str]:
        return self._accounts_in(c, "verified", accounts)

    def _confirmed(self, c: Any, accounts: Iterable[str]) -> set[str]:
        return self._accounts_in(c, "confirmed", accounts)

    def _erased(self, c: Any, accounts: Iterable[str]) -> set[str]:
        return self._accounts_in(c, "erased", accounts)

    def _verified_by_ownership(self, c: Any, accounts: Iterable[str]) -> set[str]:
        return {row["owner_id"] for row in self._rows_in(
            c, "SELECT DISTINCT owner_id FROM {owned} WHERE level IN ('L2', 'L3') AND {in}", "owner_id",
            sorted(accounts))}

    def load_owned(self, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {row["record_id"]: {"owner_id": row["owner_id"], "level": row["level"]} for row in self._rows_in(
            None, "SELECT record_id, owner_id, level FROM {owned} WHERE {in}", "record_id", record_ids)}

    # -- reads --------------------------------------------------------------------------------

    def counts_position(self) -> int:
        rows = self._query("SELECT n FROM {seq} WHERE name = 'counts'", ())
        return rows[0]["n"] if rows else 0

    def counts_since(self, after: int) -> list[tuple[str, int, int, int]]:
        rows = self._query("SELECT researcher_id, followers, verified, position FROM {counts} WHERE position > %s",
                           (after,))
        return [(r["researcher_id"], r["followers"], r["verified"], r["position"]) for r in rows]

    def counts_between(self, after: int, upto: int) -> list[tuple[str, int, int, int]]:
        rows = self._query("SELECT researcher_id, followers, verified, position FROM {counts}"
                           " WHERE position > %s AND position <= %s", (after, upto))
        return [(r["researcher_id"], r["followers"], r["verified"], r["position"]) for r in rows]

    def counts_of(self, researcher_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        return {r["researcher_id"]: (r["followers"], r["verified"]) for r in self._rows_in(
            None, "SELECT researcher_id, followers, verified FROM {counts} WHERE {in}", "researcher_id",
            researcher_ids)}

    def all_counts(self) -> list[tuple[str, int, int]]:
        return [(r["researcher_id"], r["followers"], r["verified"])
                for r in self._query("SELECT researcher_id, followers, verified FROM {counts}", ())]

    def follows(self, researcher_id: str, account_id: str) -> bool:
        return bool(self._query("SELECT 1 AS yes FROM {follows} WHERE researcher_id = %s AND account_id = %s",
                                (researcher_id, account_id)))

    def followed_by(self, account_id: str, limit: int) -> list[str]:
        """The records the account follows (at most `limit`)."""
        return [r["researcher_id"] for r in self._query(
            "SELECT researcher_id FROM {follows} WHERE account_id = %s LIMIT %s", (account_id, limit))]

    def followers_of(self, researcher_id: str, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """(since, account id), newest first."""
        where, params = "researcher_id = %s", [researcher_id]
        if after is not None:
            where += " AND (since < %s OR (since = %s AND account_id < %s))"
            params += [after[0], after[0], after[1]]
        where += " AND counted = 1"
        rows = self._query("SELECT since, account_id FROM {follows} WHERE " + where
                           + " ORDER BY since DESC, account_id DESC LIMIT %s", [*params, limit])
        return [(r["since"], r["account_id"]) for r in rows]

    def following(self, account_id: str, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """(since, researcher id), newest first."""
        where, params = "account_id = %s", [account_id]
        if after is not None:
            where += " AND (since < %s OR (since = %s AND researcher_id < %s))"
            params += [after[0], after[0], after[1]]
        rows = self._query("SELECT since, researcher_id FROM {follows} WHERE " + where
                           + " ORDER BY since DESC, researcher_id DESC LIMIT %s", [*params, limit])
        return [(r["since"], r["researcher_id"]) for r in rows]


class FollowerChanges:
    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], tuple[bool, str]] = {}  # (researcher, account) -> (active, since)
        self.restarted: set[tuple[str, str]] = set()  # unfollowed, then followed again, in this batch
        self.erased: set[str] = set()
        self.owned: dict[str, dict[str, Any]] = {}  # record id -> owner and level after the batch
        self.owner_touched: set[str] = set()  # accounts that lost a record
        self.confirmed: set[str] = set()  # accounts that confirmed their address
        self.confirmed_pairs: set[tuple[str, str]] = set()  # pairs whose last follow says the follower had
        self.links: list[tuple[str, str, bool]] = []  # (person, member, linked) in event order


class SQLiteFollowersView(FollowersView, SQLiteSqlView):
    pass


class PostgresFollowersView(FollowersView, PostgresSqlView):
    pass
