"""Profile tables for SQLite and PostgreSQL, written in the same transaction as the tracking row.

The SQL is shared: both backends take `INSERT ... ON CONFLICT DO UPDATE`; only the parameter
marker, a few type names and the `IN` list differ. Each profile and each work is stored
pre-encoded (JSON bytes), so a read is one primary-key lookup and no encoding.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import Tracking

from projections.sqlview import PostgresSqlView, SQLiteSqlView, SqlView
from projections.sqlview import chunks as _chunks


class ProfilesView(SqlView):
    """Tables: researchers, works, authorships (researcher x work), ownership (from claims),
    owners (account names), and docs (encoded profiles, numbered by a view-wide sequence)."""

    TABLES = ("researchers", "names", "works", "authorships", "ownership", "owners", "docs", "seq")
    VERIFY_SKIP = {"docs": ("position",), "seq": ("*",)}
    SQLITE_PREFIX = "profiles"

    def _schema_statements(self) -> list[str]:
        b, i = self.blob, self.bigint
        return [
            "CREATE TABLE IF NOT EXISTS {researchers} (id TEXT PRIMARY KEY, openalex_id TEXT NOT NULL,"
            " orcid TEXT, display_name TEXT NOT NULL, name_key TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {researchers}_orcid ON {researchers} (orcid)",
            "CREATE INDEX IF NOT EXISTS {researchers}_name ON {researchers} (name_key, id)",
            # Each name from each word on ("zhiwu lu", "lu"): word-prefix search by index range.
            f"CREATE TABLE IF NOT EXISTS {{names}} (key TEXT{self.binary_collation} NOT NULL,"
            " researcher_id TEXT NOT NULL, PRIMARY KEY (key, researcher_id))",
            "CREATE INDEX IF NOT EXISTS {names}_researcher ON {names} (researcher_id)",
            f"CREATE TABLE IF NOT EXISTS {{works}} (id TEXT PRIMARY KEY, sort_key TEXT NOT NULL,"
            f" topics TEXT NOT NULL, fields TEXT NOT NULL, doc {b} NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {authorships} (researcher_id TEXT NOT NULL, work_id TEXT NOT NULL,"
            " sort_key TEXT NOT NULL, institutions TEXT NOT NULL, authors_count INTEGER NOT NULL,"
            " author_name TEXT, author_orcid TEXT, PRIMARY KEY (researcher_id, work_id))",
            "CREATE INDEX IF NOT EXISTS {authorships}_work ON {authorships} (work_id)",
            "CREATE INDEX IF NOT EXISTS {authorships}_newest ON {authorships} (researcher_id, sort_key)",
            # What claims decided: one row per claimed-at-least-once record.
            "CREATE TABLE IF NOT EXISTS {ownership} (record_id TEXT PRIMARY KEY, researcher_id TEXT NOT NULL,"
            " owner_id TEXT, level TEXT, disputed INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {ownership}_researcher ON {ownership} (researcher_id)",
            "CREATE INDEX IF NOT EXISTS {ownership}_owner ON {ownership} (owner_id)",
            # Owners' display names (personal data: deleted when the account is erased).
            "CREATE TABLE IF NOT EXISTS {owners} (account_id TEXT PRIMARY KEY, display_name TEXT)",
            f"CREATE TABLE IF NOT EXISTS {{docs}} (id TEXT PRIMARY KEY, doc {b} NOT NULL, position {i} NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {docs}_position ON {docs} (position)",
            # Docs are numbered across all upstream applications: batches lock this row in turn,
            # so numbers follow commit order (what the API's profile cache relies on).
            f"CREATE TABLE IF NOT EXISTS {{seq}} (name TEXT PRIMARY KEY, n {i} NOT NULL)",
            "INSERT INTO {seq} (name, n) VALUES ('docs', 0) ON CONFLICT (name) DO NOTHING",
        ]

    # -- writes (one transaction per batch, with the tracking row) ----------------------------

    def apply_batch(self, changes: BatchChanges, tracking: Tracking, build: BuildProfiles) -> None:
        """Write the rows, then rebuild the affected profiles with `build` from what is now stored."""
        with self.datastore.transaction(commit=True) as c:
            # One batch at a time across the runners of the three upstream applications: profiles
            # are rebuilt from what is stored, which a concurrent batch would be changing.
            c.execute(self._sql("UPDATE {seq} SET n = n WHERE name = 'docs'"))
            self._insert_tracking(c, tracking)
            if changes.researchers:
                self._many(
                    c,
                    "INSERT INTO {researchers} (id, openalex_id, orcid, display_name, name_key)"
                    " SELECT id, openalex_id, orcid, display_name, name_key FROM {rows} WHERE true"
                    " ON CONFLICT (id) DO UPDATE SET"
                    " openalex_id = excluded.openalex_id, orcid = excluded.orcid,"
                    " display_name = excluded.display_name, name_key = excluded.name_key",
                    "id text, openalex_id text, orcid text, display_name text, name_key text",
                    [
                        (rid, r["openalex_id"], r["orcid"], r["display_name"], r["name_key"])
                        for rid, r in changes.researchers.items()
                    ],
                )
            if changes.works:
                self._many(
                    c,
                    "INSERT INTO {works} (id, sort_key, topics, fields, doc)"
                    " SELECT id, sort_key, topics, fields, doc FROM {rows} WHERE true"
                    " ON CONFLICT (id) DO UPDATE SET sort_key = excluded.sort_key, topics = excluded.topics,"
                    " fields = excluded.fields, doc = excluded.doc",
                    f"id text, sort_key text, topics text, fields text, doc {self.blob.lower()}",
                    [
                        (wid, w.sort_key, json.dumps(w.fields["topics"]), w.fields_json, w.doc)
                        for wid, w in changes.works.items()
                    ],
                )
                replaced = [wid for wid, w in changes.works.items() if not w.is_new]
                for chunk in _chunks(replaced):
                    clause, params = self._in("work_id", chunk)
                    c.execute(self._sql("DELETE FROM {authorships} WHERE " + clause), params)
                self._many(
                    c,
                    "INSERT INTO {authorships} (researcher_id, work_id, sort_key, institutions, authors_count,"
                    " author_name, author_orcid) SELECT researcher_id, work_id, sort_key, institutions,"
                    " authors_count, author_name, author_orcid FROM {rows} WHERE true"
                    " ON CONFLICT (researcher_id, work_id) DO UPDATE SET"
                    " sort_key = excluded.sort_key, institutions = excluded.institutions,"
                    " authors_count = excluded.authors_count, author_name = excluded.author_name,"
                    " author_orcid = excluded.author_orcid",
                    "researcher_id text, work_id text, sort_key text, institutions text, authors_count integer,"
                    " author_name text, author_orcid text",
                    list({  # an author listed twice on one work is one authorship (first listing wins)
                        (a["researcher_id"], wid): (a["researcher_id"], wid, w.sort_key, json.dumps(a["institutions"]),
                                                    len(w.fields["authorships"]), a["display_name"] or None, a["orcid"])
                        for wid, w in changes.works.items()
                        for a in reversed(w.fields["authorships"])
                    }.values()),
                )
            if changes.ownership:
                c.executemany(
                    self._sql(
                        "INSERT INTO {ownership} (record_id, researcher_id, owner_id, level, disputed)"
                        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (record_id) DO UPDATE SET"
                        " owner_id = excluded.owner_id, level = excluded.level, disputed = excluded.disputed"
                    ),
                    [
                        (record_id, o["researcher_id"], o["owner_id"], o["level"], int(o["disputed"]))
                        for record_id, o in changes.ownership.items()
                    ],
                )
            for account_id, name in changes.owner_names.items():
                if name is None:
                    c.execute(self._sql("DELETE FROM {owners} WHERE account_id = %s"), (account_id,))
                else:
                    c.execute(
                        self._sql(
                            "INSERT INTO {owners} (account_id, display_name) VALUES (%s, %s)"
                            " ON CONFLICT (account_id) DO UPDATE SET display_name = excluded.display_name"
                        ),
                        (account_id, name),
                    )
            affected = set(changes.affected) | self._owned_by(c, changes.affected_owners)
            affected |= self._owned_by(c, self._owners_of(c, affected))  # their "same person" lists
            if not affected:
                return
            c.execute(self._sql("UPDATE {seq} SET n = n + 1 WHERE name = 'docs' RETURNING n"))
            position = c.fetchone()["n"]
            built = list(build(self._profile_inputs(c, sorted(affected))))
            if not built:
                return
            self._many(
                c,
                "INSERT INTO {docs} (id, doc, position) SELECT id, doc, position FROM {rows} WHERE true"
                " ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, position = excluded.position",
                f"id text, doc {self.blob.lower()}, position bigint",
                [(rid, doc, position) for rid, doc, _ in built],
            )
            # The name and ORCID iD the works give now: for search and ORCID lookups.
            self._many(
                c,
                "UPDATE {researchers} SET display_name = rows.display_name, orcid = rows.orcid,"
                " name_key = rows.name_key FROM {rows} WHERE {researchers}.id = rows.id",
                "display_name text, orcid text, name_key text, id text",
                [(i["display_name"], i["orcid"], i["name_key"], rid) for rid, _, i in built],
            )
            for chunk in _chunks([rid for rid, _, _ in built]):
                clause, params = self._in("researcher_id", chunk)
                c.execute(self._sql("DELETE FROM {names} WHERE " + clause), params)
            keys = [(key, rid) for rid, _, i in built for key in i["search_keys"]]
            if keys:
                self._many(c, "INSERT INTO {names} (key, researcher_id) SELECT key, researcher_id FROM {rows}",
                           "key text, researcher_id text", keys)

    def _owned_by(self, c: Any, account_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(account_ids)):
            clause, params = self._in("owner_id", chunk)
            c.execute(self._sql("SELECT researcher_id FROM {ownership} WHERE " + clause), params)
            found.update(row["researcher_id"] for row in c.fetchall())
        return found

    def _owners_of(self, c: Any, researcher_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(researcher_ids)):
            clause, params = self._in("researcher_id", chunk)
            c.execute(self._sql("SELECT owner_id FROM {ownership} WHERE owner_id IS NOT NULL AND " + clause), params)
            found.update(row["owner_id"] for row in c.fetchall())
        return found

    def load_ownership(self, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(record_ids):
            clause, params = self._in("record_id", chunk)
            for row in self._query(
                "SELECT record_id, researcher_id, owner_id, level, disputed FROM {ownership} WHERE " + clause, params
            ):
                found[row["record_id"]] = {
                    "researcher_id": row["researcher_id"],
                    "owner_id": row["owner_id"],
                    "level": row["level"],
                    "disputed": bool(row["disputed"]),
                }
        return found

    def load_work_fields(self, work_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        with self.datastore.transaction(commit=False) as c:
            for chunk in _chunks(work_ids):
                clause, params = self._in("id", chunk)
                c.execute(self._sql("SELECT id, fields FROM {works} WHERE " + clause), params)
                found.update((row["id"], json.loads(row["fields"])) for row in c.fetchall())
        return found

    def _profile_inputs(self, c: Any, ids: Sequence[str]) -> Iterable[ProfileInputs]:
        for chunk in _chunks(ids):
            inputs = {}
            clause, params = self._in("id", chunk)
            c.execute(self._sql("SELECT id, openalex_id, orcid, display_name FROM {researchers} WHERE " + clause), params)
            for row in c.fetchall():
                inputs[row["id"]] = ProfileInputs(dict(row), [], 0)
            if not inputs:
                continue
            clause, params = self._in("a.researcher_id", list(inputs))
            c.execute(
                self._sql(
                    "SELECT a.researcher_id, a.sort_key, a.institutions, a.author_name, a.author_orcid, w.topics"
                    " FROM {authorships} a JOIN {works} w ON w.id = a.work_id WHERE " + clause
                ),
                params,
            )
            for row in c.fetchall():
                inputs[row["researcher_id"]].works.append(
                    (row["sort_key"], json.loads(row["institutions"]), json.loads(row["topics"]),
                     row["author_name"], row["author_orcid"])
                )
            c.execute(
                self._sql(
                    "SELECT a.researcher_id, COUNT(*) AS shared FROM {authorships} a"
                    " JOIN {authorships} b ON b.work_id = a.work_id AND b.researcher_id <> a.researcher_id"
                    " WHERE " + clause + " AND a.authors_count <= %s"
                    " GROUP BY a.researcher_id, b.researcher_id"
                ),
                [*params, MAX_AUTHORS_FOR_COLLABORATION],
            )
            for row in c.fetchall():
                if row["shared"] >= CLOSE_COLLABORATOR_SHARED_WORKS:
                    inputs[row["researcher_id"]].close_collaborators += 1
            rclause, rparams = self._in("o.researcher_id", list(inputs))
            c.execute(
                self._sql(
                    "SELECT o.researcher_id, o.owner_id, o.level, o.disputed, n.display_name FROM {ownership} o"
                    " LEFT JOIN {owners} n ON n.account_id = o.owner_id WHERE " + rclause
                ),
                rparams,
            )
            owners: dict[str, list[str]] = {}
            for row in c.fetchall():
                p = inputs[row["researcher_id"]]
                p.ownership = {"owner_id": row["owner_id"], "level": row["level"], "disputed": bool(row["disputed"]),
                               "owner_name": row["display_name"]}
                if row["owner_id"]:
                    owners.setdefault(row["owner_id"], [])
            if owners:
                oclause, oparams = self._in("owner_id", list(owners))
                c.execute(self._sql("SELECT owner_id, researcher_id FROM {ownership} WHERE " + oclause), oparams)
                for row in c.fetchall():
                    owners[row["owner_id"]].append(row["researcher_id"])
                for p in inputs.values():
                    if p.ownership and p.ownership["owner_id"]:
                        p.same_person = sorted(r for r in owners[p.ownership["owner_id"]] if r != p.identity["id"])
            yield from inputs.values()

    # -- reads ---------------------------------------------------------------------------------

    def record_facts(self, researcher_id: str) -> dict[str, Any] | None:
        """What claims need to know of a record: its ORCID iD, works and institutions."""
        rows = self._query("SELECT openalex_id, orcid FROM {researchers} WHERE id = %s", (researcher_id,))
        if not rows:
            return None
        works = self._query("SELECT institutions FROM {authorships} WHERE researcher_id = %s", (researcher_id,))
        institutions = {i["openalex_id"] for w in works for i in json.loads(w["institutions"]) if i["openalex_id"]}
        has_identifier = bool(rows[0]["openalex_id"] or rows[0]["orcid"])
        return {
            "orcid": rows[0]["orcid"],
            "base_level": "L1" if has_identifier and works else "L0",
            "institution_ids": frozenset(institutions),
        }

    def coauthor_records_owned_by(self, researcher_id: str, account_id: str) -> list[str]:
        """Records owned by `account_id` that share at least one work with `researcher_id`."""
        rows = self._query(
            "SELECT DISTINCT b.researcher_id FROM {authorships} a JOIN {authorships} b ON b.work_id = a.work_id"
            " JOIN {ownership} o ON o.researcher_id = b.researcher_id"
            " WHERE a.researcher_id = %s AND b.researcher_id <> a.researcher_id AND o.owner_id = %s",
            (researcher_id, account_id),
        )
        return sorted(row["researcher_id"] for row in rows)

    def owned_records(self) -> list[str]:
        rows = self._query("SELECT researcher_id FROM {ownership} WHERE owner_id IS NOT NULL ORDER BY researcher_id", ())
        return [row["researcher_id"] for row in rows]

    def existing_and_owners(self, researcher_ids: Sequence[str]) -> tuple[set[str], dict[str, str]]:
        """Which of these records exist, and the owners of those that have one (one query)."""
        known: set[str] = set()
        owners: dict[str, str] = {}
        for chunk in _chunks(researcher_ids):
            clause, params = self._in("d.id", chunk)
            for row in self._query(
                "SELECT d.id, o.owner_id FROM {docs} d LEFT JOIN {ownership} o"
                " ON o.researcher_id = d.id AND o.owner_id IS NOT NULL WHERE " + clause, params
            ):
                known.add(row["id"])
                if row["owner_id"] is not None:
                    owners[row["id"]] = row["owner_id"]
        return known, owners

    def owner_names(self, account_ids: Sequence[str]) -> dict[str, str]:
        """Accounts' display names (none once an account is erased)."""
        found: dict[str, str] = {}
        for chunk in _chunks(account_ids):
            clause, params = self._in("account_id", chunk)
            for row in self._query("SELECT account_id, display_name FROM {owners} WHERE " + clause, params):
                found[row["account_id"]] = row["display_name"]
        return found

    def records_owned_by(self, account_id: str) -> list[str]:
        rows = self._query("SELECT researcher_id FROM {ownership} WHERE owner_id = %s ORDER BY researcher_id",
                           (account_id,))
        return [row["researcher_id"] for row in rows]

    def levels_owned_by(self, account_id: str) -> dict[str, str]:
        """Records this account owns -> their verification levels."""
        rows = self._query("SELECT researcher_id, level FROM {ownership} WHERE owner_id = %s", (account_id,))
        return {row["researcher_id"]: row["level"] for row in rows}

    def coauthor_distance(self, researcher_ids: Sequence[str], other: str) -> int | None:
        """1 if one of `researcher_ids` shares a work with `other`, 2 if they share a co-author,
        None if further apart."""
        if not researcher_ids:
            return None
        mine, params = self._in("a.researcher_id", list(researcher_ids))
        near = self._query(
            "SELECT DISTINCT b.researcher_id FROM {authorships} a JOIN {authorships} b ON b.work_id = a.work_id"
            " WHERE " + mine + " AND a.authors_count <= %s", [*params, MAX_AUTHORS_FOR_COLLABORATION])
        first = {row["researcher_id"] for row in near} - set(researcher_ids)
        if other in first:
            return 1
        theirs = self._query(
            "SELECT DISTINCT b.researcher_id FROM {authorships} a JOIN {authorships} b ON b.work_id = a.work_id"
            " WHERE a.researcher_id = %s AND a.authors_count <= %s", (other, MAX_AUTHORS_FOR_COLLABORATION))
        return 2 if first & {row["researcher_id"] for row in theirs} else None

    # -- the research graph around a record (GET /researchers/{id}/graph) -------------------------

    def coauthors(self, researcher_ids: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Co-authors of any of `researcher_ids` (not themselves), with their names: shared works,
        the latest one's sort key, and through how many of them; most shared first. Works with more than
        MAX_AUTHORS_FOR_COLLABORATION authors do not make collaborators."""
        clause, params = self._in("a.researcher_id", list(researcher_ids))
        rows = self._query(
            "SELECT b.researcher_id AS id, r.display_name, r.openalex_id, COUNT(*) AS shared,"
            " MAX(b.sort_key) AS latest, COUNT(DISTINCT a.researcher_id) AS via FROM {authorships} a"
            " JOIN {authorships} b ON b.work_id = a.work_id AND b.researcher_id <> a.researcher_id"
            " JOIN {researchers} r ON r.id = b.researcher_id"
            " WHERE " + clause + " AND a.authors_count <= %s GROUP BY b.researcher_id, r.display_name, r.openalex_id"
            " ORDER BY COUNT(*) DESC, MAX(b.sort_key) DESC, b.researcher_id LIMIT %s",
            [*params, MAX_AUTHORS_FOR_COLLABORATION, limit + len(researcher_ids)],
        )
        return [dict(r) for r in rows if r["id"] not in researcher_ids][:limit]

    def institutions_over_time(self, researcher_id: str) -> list[dict[str, Any]]:
        """Each institution on the researcher's works: first and last year, number of works."""
        spans: dict[str, dict[str, Any]] = {}
        for row in self._query("SELECT sort_key, institutions FROM {authorships} WHERE researcher_id = %s",
                               (researcher_id,)):
            year = int(row["sort_key"][:4]) or None
            for inst in json.loads(row["institutions"]):
                key = inst.get("openalex_id") or inst.get("display_name") or "?"
                span = spans.setdefault(key, {**inst, "first_year": year, "last_year": year, "works": 0})
                span["works"] += 1
                if year is not None:
                    span["first_year"] = min(y for y in (span["first_year"], year) if y is not None)
                    span["last_year"] = max(y for y in (span["last_year"], year) if y is not None)
        return sorted(spans.values(), key=lambda s: (-(s["last_year"] or 0), -s["works"], str(s.get("openalex_id"))))

    def adjacent_works(self, researcher_id: str, collaborators: Sequence[str], topics: set[str],
                       limit: int) -> list[dict[str, Any]]:
        """Works of `collaborators` sharing a topic with `topics` that `researcher_id` did not
        write: most shared topics first, then newest."""
        if not collaborators or not topics:
            return []
        clause, params = self._in("a.researcher_id", list(collaborators))
        rows = self._query(
            "SELECT a.work_id, w.sort_key, w.topics FROM {authorships} a JOIN {works} w ON w.id = a.work_id"
            " WHERE " + clause + " AND NOT EXISTS (SELECT 1 FROM {authorships} m"
            " WHERE m.work_id = a.work_id AND m.researcher_id = %s)"
            " ORDER BY a.sort_key DESC LIMIT %s",  # the newest works only: bounded whatever they wrote
            [*params, researcher_id, ADJACENT_CANDIDATES],
        )
        ranked: dict[str, tuple[int, str]] = {}
        for row in rows:
            shared = len(topics & {t["openalex_id"] for t in json.loads(row["topics"])})
            if shared:
                ranked[row["work_id"]] = (shared, row["sort_key"])
        best = sorted(ranked, key=lambda w: ranked[w][1], reverse=True)  # newest first ...
        best = sorted(best, key=lambda w: -ranked[w][0])[:limit]  # ... within the most shared topics
        docs = {}
        if best:
            clause, params = self._in("id", best)
            docs = {row["id"]: json.loads(bytes(row["doc"])) for row in self._query(
                "SELECT id, doc FROM {works} WHERE " + clause, params)}
        return [{"id": w, "openalex_id": docs[w]["openalex_id"], "title": docs[w]["title"],
                 "publication_year": docs[w]["publication_year"], "shared_topics": ranked[w][0]}
                for w in best if w in docs]

    def docs_position(self) -> int:
        """The number of the last batch that rewrote profiles (all upstream applications)."""
        rows = self._query("SELECT n FROM {seq} WHERE name = 'docs'", ())
        return rows[0]["n"] if rows else 0

    def profile(self, researcher_id: str) -> tuple[bytes, int] | None:
        """The encoded profile and the docs position, read together (one snapshot)."""
        rows = self._query(
            "SELECT d.doc, (SELECT n FROM {seq} WHERE name = 'docs') AS position FROM {docs} d WHERE d.id = %s",
            (researcher_id,),
        )
        return (bytes(rows[0]["doc"]), rows[0]["position"] or 0) if rows else None

    def profiles(self, after_id: str, limit: int) -> list[tuple[str, bytes]]:
        """Encoded profiles in id order, for warming a cache."""
        rows = self._query("SELECT id, doc FROM {docs} WHERE id > %s ORDER BY id LIMIT %s", (after_id, limit))
        return [(row["id"], bytes(row["doc"])) for row in rows]

    def researcher_id_for_orcid(self, orcid: str) -> str | None:
        rows = self._query("SELECT id FROM {researchers} WHERE orcid = %s ORDER BY id LIMIT 1", (orcid,))
        return rows[0]["id"] if rows else None

    def exists(self, researcher_id: str) -> bool:
        return bool(self._query("SELECT 1 AS found FROM {docs} WHERE id = %s", (researcher_id,)))

    def search(
        self, name_key: str, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str, bytes]]:
        """Profiles with a name word starting with `name_key`, in name order, after a cursor."""
        where, params = "1 = 1", []
        if name_key:
            # A range on the key index: every key that starts with name_key.
            where = "r.id IN (SELECT researcher_id FROM {names} WHERE key >= %s AND key < %s)"
            params = [name_key, name_key + "\U0010ffff"]
        if after is not None:
            where += " AND (r.name_key > %s OR (r.name_key = %s AND r.id > %s))"
            params += [after[0], after[0], after[1]]
        rows = self._query(
            "SELECT r.name_key, r.id, d.doc FROM {researchers} r JOIN {docs} d ON d.id = r.id"
            " WHERE " + where + " ORDER BY r.name_key, r.id LIMIT %s",
            [*params, limit],
        )
        return [(row["name_key"], row["id"], bytes(row["doc"])) for row in rows]

    def works_of(
        self, researcher_id: str, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str, bytes]]:
        """Works of a researcher, newest first, after a cursor (sort key, work id)."""
        where, params = "a.researcher_id = %s", [researcher_id]
        if after is not None:
            where += " AND (a.sort_key < %s OR (a.sort_key = %s AND a.work_id < %s))"
            params += [after[0], after[0], after[1]]
        rows = self._query(
            "SELECT a.sort_key, a.work_id, w.doc FROM {authorships} a JOIN {works} w ON w.id = a.work_id"
            " WHERE " + where + " ORDER BY a.sort_key DESC, a.work_id DESC LIMIT %s",
            [*params, limit],
        )
        return [(row["sort_key"], row["work_id"], bytes(row["doc"])) for row in rows]

    def docs_between(self, after: int, upto: int) -> list[tuple[str, bytes, int]]:
        """Profiles last rewritten by the batches numbered after `after` up to `upto`."""
        rows = self._query("SELECT id, doc, position FROM {docs} WHERE position > %s AND position <= %s",
                           (after, upto))
        return [(row["id"], bytes(row["doc"]), row["position"]) for row in rows]

    def docs_of(self, researcher_ids: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for chunk in _chunks(researcher_ids):
            clause, params = self._in("id", chunk)
            found.update((row["id"], bytes(row["doc"])) for row in self._query(
                "SELECT id, doc FROM {docs} WHERE " + clause, params))
        return found

    def changed_since(self, after: int) -> list[tuple[str, bytes, int]]:
        """Profiles rewritten after a position, with theirs: how API caches stay fresh."""
        rows = self._query("SELECT id, doc, position FROM {docs} WHERE position > %s", (after,))
        return [(row["id"], bytes(row["doc"]), row["position"]) for row in rows]


CLOSE_COLLABORATOR_SHARED_WORKS = 2
ADJACENT_CANDIDATES = 500  # collaborators' newest works ranked for "adjacent works"
MAX_AUTHORS_FOR_COLLABORATION = 100


class ProfileInputs:
    """What one profile is computed from: identity, (sort key, institutions, topics) per work,
    collaborators, and what claims decided (owner, level, dispute, the owner's other records)."""

    __slots__ = ("identity", "works", "close_collaborators", "ownership", "same_person")

    def __init__(self, identity: dict[str, Any], works: list[tuple[str, list, list]], close: int) -> None:
        self.identity = identity
        self.works = works
        self.close_collaborators = close
        self.ownership: dict[str, Any] | None = None
        self.same_person: list[str] = []


BuildProfiles = Callable[[Iterable[ProfileInputs]], Iterable[tuple[str, bytes, dict[str, Any]]]]


class WorkRow:
    __slots__ = ("fields", "fields_json", "sort_key", "doc", "is_new")

    def __init__(self, fields: dict[str, Any], sort_key: str, doc: bytes, *, is_new: bool) -> None:
        self.fields = fields
        self.fields_json = json.dumps(fields)
        self.sort_key = sort_key
        self.doc = doc
        self.is_new = is_new


class BatchChanges:
    """Rows a batch of events writes, and the researchers whose profiles must be rebuilt."""

    def __init__(self) -> None:
        self.researchers: dict[str, dict[str, Any]] = {}
        self.works: dict[str, WorkRow] = {}
        self.ownership: dict[str, dict[str, Any]] = {}  # record id -> row
        self.owner_names: dict[str, str | None] = {}  # account id -> name (None: forget)
        self.affected: set[str] = set()
        self.affected_owners: set[str] = set()  # accounts whose records must be rebuilt


class SQLiteProfilesView(ProfilesView, SQLiteSqlView):
    pass


class PostgresProfilesView(ProfilesView, PostgresSqlView):
    pass
