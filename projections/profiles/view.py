"""The profiles read model: each record's facts kept up to date one work at a time.

A batch of catalogue events changes some works. Each change takes the work's old contribution
away and adds its new one: work counts, topic tallies, co-author pairs and institutions move by
deltas, summed over the batch and written in a few set-based statements whatever else the
authors wrote. The facts that say "the newest work that names the author" compare the work with
the newest one stored, and look further (an index range, newest first) only when the work that
gave them changes. The profiles a batch touches are then encoded from those facts by
projections/profiles/build.py, the function time travel uses too.

Both backends share the SQL: `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`; only the
parameter marker, a few type names and the `IN` list differ. Profiles and works are stored
pre-encoded (JSON bytes), so a read is one primary-key lookup and no encoding.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
from eventsourcing.persistence import Tracking

from projections.profiles.build import (
    CLOSE_COLLABORATOR_SHARED_WORKS,
    MAX_AUTHORS_FOR_COLLABORATION,
    ProfileFacts,
    WorkFacts,
    encode_profile,
    facts_from_works,
    encode_work,
    shown_name,
    sorted_topics,
    as_shown,
)
from projections.sqlview import PostgresSqlView, SQLiteSqlView, SqlView, chunks
from domain.catalogue.model import recency_key

_json = msgspec.json.Encoder(order="sorted")  # several times as fast as json.dumps, and stable
PROFILES_PER_WRITE = 2_000  # profile documents encoded and written at a time
DEFERRED_PER_TRANSACTION = 20_000  # deferred documents written in one transaction
# Behind an import, documents are written at least this often (and whenever a batch ends where
# the log does): a batch of an import names thousands of profiles, a prolific author's in every one.
BEHIND_WRITE_SECONDS = 30.0
# Behind an import, on SQLite, batches also share one transaction until their documents are
# written, and for at most this long (see ProfilesView.apply_batch).
GROUP_SECONDS = 30.0
ADJACENT_CANDIDATES = 500  # collaborators' newest works ranked for "adjacent works"
SUMMED_DEPTH = 2_000  # pairs read per record and side for summed co-authors, at most, before summing all
SUMMED_LOOKUPS = 1_000  # pairs looked up by key for summed co-authors, at most (beyond: read on)
IDENTITY = {  # fact -> (column holding the sort key of the work it came from, the authorship column)
    "name": ("name_sort", "author_name"),
    "work_orcid": ("orcid_sort", "author_orcid"),
    "affiliation": ("aff_sort", "first_institution"),
}


@dataclass
class WorkChange:
    """A work as stored before the batch (None when new) and as the batch leaves it."""

    old: dict[str, Any] | None
    new: dict[str, Any]
    sort_key: str = ""
    doc: bytes = b""
    # Where in its batch the last catalogue event that imported or corrected it is (-1: changed
    # by a decision). A topic's name is the one the last such event in the log gives, whatever
    # the batches: a batch takes each topic's name from its work with the highest `seq`.
    seq: int = -1
    # What the works table keeps when `old` and `new` are the work as the profiles show it
    # (decisions applied): OpenAlex's listing, so a decision taken back can restore it.
    stored: dict[str, Any] | None = None


@dataclass
class BatchChanges:
    """What a batch of events changes, and the researchers whose profiles must be rebuilt."""

    researchers: dict[str, dict[str, Any]] = field(default_factory=dict)  # registered identities
    works: dict[str, WorkChange] = field(default_factory=dict)
    ownership: dict[str, dict[str, Any]] = field(default_factory=dict)  # record id -> row
    owner_names: dict[str, str | None] = field(default_factory=dict)  # account id -> name (None: forget)
    preferences: dict[str, str] = field(default_factory=dict)  # invitation preferences id -> account id
    policies: dict[str, str] = field(default_factory=dict)  # invitation preferences id -> who may invite
    affected: set[str] = field(default_factory=set)
    affected_owners: set[str] = field(default_factory=set)  # accounts whose records must be rebuilt
    # "Not mine" decisions in event order: (researcher id, work id, True: disowned / False: undone)
    attributions: list[tuple[str, str, bool]] = field(default_factory=list)
    # Links in event order: (person's record, member record, True: linked / False: unlinked)
    links: list[tuple[str, str, bool]] = field(default_factory=list)
    # Link requests opened (id -> person, record, opened at) or decided (id -> None)
    link_requests: dict[str, tuple[str, str, str] | None] = field(default_factory=dict)
    # Adoptions in event order: (adopter, work id, from record, True: adopted / False: undone)
    adoptions: list[tuple[str, str, str, bool]] = field(default_factory=list)
    # Adoption requests opened (id -> adopter, work id, from record, opened at) or decided (id -> None)
    adoption_requests: dict[str, tuple[str, str, str, str] | None] = field(default_factory=dict)

    # Events counted on a profile (domain/profile_counts.py): (event, researcher id, count, delta, at)
    counted: list[tuple[str, str, str, int, str]] = field(default_factory=list)

@dataclass
class Decisions:
    """What owners and moderators decided about one work: records that said "not mine", and
    adopters with the record each took it from and their own OpenAlex id."""

    hidden: set[str] = field(default_factory=set)
    adopted: dict[str, tuple[str, str]] = field(default_factory=dict)

    def shown(self, fields: dict[str, Any]) -> dict[str, Any]:
        return as_shown(fields, self.hidden, self.adopted)

    def copy(self) -> Decisions:
        return Decisions(set(self.hidden), dict(self.adopted))


def to_json(value: Any) -> str:
    return _json.encode(value).decode()


def listings(fields: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each author of a work once (an author listed twice: the first listing counts)."""
    found: dict[str, dict[str, Any]] = {}
    for a in fields["authorships"]:
        found.setdefault(a["researcher_id"], a)
    return found


def sort_key_of(fields: dict[str, Any]) -> str:
    return recency_key(fields["publication_date"], fields["publication_year"], fields["openalex_id"])


def year_of(sort_key: str) -> int | None:
    return int(sort_key[:4]) or None


def span(first: int | None, last: int | None, year: int | None) -> tuple[int | None, int | None]:
    """First and last year with `year` counted (undated works change neither)."""
    if year is None:
        return first, last
    return (year if first is None else min(first, year)), (year if last is None else max(last, year))


def place_key(institution: dict[str, Any]) -> str:
    return institution.get("openalex_id") or institution.get("display_name") or "?"


class Deltas:
    """A batch's changes to counts, tallies, pairs and places, summed, and the candidates for
    each researcher's newest-work facts."""

    def __init__(self) -> None:
        self.works: dict[str, int] = defaultdict(int)
        self.openalex: dict[str, str] = {}
        self.tallies: dict[tuple[str, str], int] = defaultdict(int)
        self.topic_names: dict[str, str | None] = {}
        self.topic_seq: dict[str, int] = {}  # the `seq` of the work each name in topic_names comes from
        self.pairs: dict[tuple[str, str], int] = defaultdict(int)
        self.pair_latest: dict[tuple[str, str], str] = {}
        self.pairs_lost: dict[tuple[str, str], set[str]] = defaultdict(set)  # pair -> sort keys of works it lost
        self.places: dict[tuple[str, str], int] = defaultdict(int)
        self.place_rows: dict[tuple[str, str], tuple[str, int | None, int | None]] = {}  # json, first, last
        self.places_lost: dict[tuple[str, str], set[int | None]] = defaultdict(set)  # place -> years of works it lost
        self.candidates: dict[str, dict[str, tuple[str, Any]]] = defaultdict(dict)  # rid -> fact -> (key, value)
        self.lost: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # rid -> fact -> keys

    def add(self, fields: dict[str, Any], sort_key: str, sign: int, *, in_sql: bool = False, seq: int = -1) -> None:
        """A work's contribution, added (sign 1) or taken away (-1). `in_sql`: its topic tallies
        and co-author pairs are counted by the database from the stored authorships instead (a
        new work: nothing to take away, and the quadratic part runs in C)."""
        authors = listings(fields)
        year = year_of(sort_key)
        if sign > 0 and seq >= 0:
            for t in fields["topics"]:
                if seq >= self.topic_seq.get(t["openalex_id"], -1):
                    self.topic_names[t["openalex_id"]], self.topic_seq[t["openalex_id"]] = t["display_name"], seq
        for rid, a in authors.items():
            self.works[rid] += sign
            self.openalex[rid] = a["openalex_id"]
            if not in_sql:
                for t in fields["topics"]:
                    self.tallies[(rid, t["openalex_id"])] += sign
            for inst in a["institutions"]:
                key = (rid, place_key(inst))
                self.places[key] += sign
                if sign > 0:
                    _, first, last = self.place_rows.get(key, ("", year, year))
                    self.place_rows[key] = (to_json(inst), *span(first, last, year))
                else:
                    self.places_lost[key].add(year)
            values = {"name": a["display_name"] or None, "work_orcid": a["orcid"],
                      "affiliation": to_json(a["institutions"][0]) if a["institutions"] else None}
            for fact, value in values.items():
                if value is None:
                    continue
                if sign > 0:
                    best = self.candidates[rid].get(fact)
                    if best is None or sort_key > best[0]:
                        self.candidates[rid][fact] = (sort_key, value)
                else:
                    self.lost[rid][fact].add(sort_key)
        if in_sql or len(fields["authorships"]) > MAX_AUTHORS_FOR_COLLABORATION:
            return  # hyperauthorship says little about who works with whom
        ordered = sorted(authors)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                self.pairs[(a, b)] += sign
                if sign > 0:
                    self.pair_latest[(a, b)] = max(sort_key, self.pair_latest.get((a, b), ""))
                else:
                    self.pairs_lost[(a, b)].add(sort_key)


class ProfilesView(SqlView):
    """Tables: researchers (identity and the facts kept per record), names (search keys), works,
    authorships (researcher x work), topics (names), tallies (researcher x topic), pairs
    (co-authors, each pair once, a < b), places (researcher x institution), topic_works and
    institution_works (which works carry a topic or an OpenAlex institution: the explorer's
    lists), ownership (from claims, with the owner's headline and about text), owners (account
    names), policies (who may invite each account: "Open to collaborate"), disowned (works a
    record said are not the person's: left out of its profile whatever OpenAlex lists), adopted
    (works a record took over from another record: the other's authorship shown under it), persons
    (records linked into a person's record: every one of them reads the person's profile, folded
    from the union of their authorships), link_requests and adoption_requests (waiting for the
    moderators), counted (each event counted on a profile, domain/profile_counts.py: the profile
    shows the sums), docs (encoded profiles, numbered by a view-wide sequence).

    Links touch no record's own facts: a person's document is folded from its records' stored
    authorships whenever a batch touches one of them, so unlinking gives each record back the
    document its own facts make, exactly as if it had never been linked.

    The works table keeps each work as OpenAlex lists it; every other table (authorships and
    all the facts, the works' encoded documents) holds the work with the decisions applied:
    disowned authorships left out, adopted ones moved, exactly as if OpenAlex had listed them so."""

    TABLES = ("researchers", "names", "works", "authorships", "topics", "tallies", "pairs", "coauthor_counts",
              "places", "topic_works", "institution_works", "ownership", "owners", "policies", "disowned", "adopted",
              "persons", "link_requests", "adoption_requests", "counted", "docs", "deferred", "seq", "new_works",
              "new_topics", "new_pairs")
    VERIFY_SKIP = {"docs": ("position",), "deferred": ("*",), "seq": ("*",), "new_works": ("*",),
                   "new_topics": ("*",), "new_pairs": ("*",)}
    # A record whose last co-author went keeps its row at zero; a rebuild never writes it.
    VERIFY_ZERO_IS_ABSENT = {"coauthor_counts": ("coauthors",)}
    SQLITE_PREFIX = "profiles"
    # 2: facts kept per record (tallies, pairs, places) instead of rebuilt from all works;
    # 3: topic_works and institution_works, filled from every work (the explorer routes);
    # 4: the owner's headline and about text, invitation policies (open to collaborate);
    # 5: "not mine" decisions (disowned), applied to the authorships and every fact;
    # 6: linked records (persons, link_requests), the documents' `records`
    # (counted came with no new version: no event counted on a profile existed before it);
    # 7: adopted works (adopted, adoption_requests), applied to the authorships and every fact;
    # 8: pairs ranked by index per record, coauthor_counts (the graph reads no record's every pair).
    SCHEMA_VERSION = 8
    defer_documents = False  # set by documents_deferred
    _noted_since: float | None = None  # when this process first left a document for later, unwritten since
    # SQLite: batches behind an import share a transaction (apply_batch). A commit there writes
    # every page its transaction changed, and one batch of skewed works (consortium papers of
    # a hundred authors) changes most pages of the pairs' and tallies' indexes: at 60,000 works a
    # batch of 3,000 events wrote about 450 MiB to the WAL and the file. PostgreSQL logs changes,
    # not pages, at a commit; there each batch commits. (Grouped there, one batch's co-author count over
    # the scratch pairs ran for minutes instead of seconds; likely the planner's statistics: ANALYZE
    # on its own connection sees none of an open transaction's rows.)
    GROUPS_BEHIND = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._writing = threading.RLock()  # one batch at a time in this process (four logs' runners)
        # The open transaction: its exit, cursor, start, and the log whose batches it holds.
        self._group: tuple[ExitStack, Any, float, str] | None = None
        super().__init__(*args, **kwargs)

    def _schema_statements(self) -> list[str]:
        b, i = self.blob, self.bigint
        return [
            "CREATE TABLE IF NOT EXISTS {researchers} (id TEXT PRIMARY KEY, openalex_id TEXT NOT NULL,"
            " registered_name TEXT NOT NULL, registered_orcid TEXT, display_name TEXT NOT NULL, orcid TEXT,"
            " name_key TEXT NOT NULL, works INTEGER NOT NULL, name_sort TEXT NOT NULL, name TEXT,"
            " orcid_sort TEXT NOT NULL, work_orcid TEXT, aff_sort TEXT NOT NULL, affiliation TEXT,"
            " close INTEGER NOT NULL)",
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
            " author_name TEXT, author_orcid TEXT, first_institution TEXT, PRIMARY KEY (researcher_id, work_id))",
            "CREATE INDEX IF NOT EXISTS {authorships}_work ON {authorships} (work_id)",
            "CREATE INDEX IF NOT EXISTS {authorships}_newest ON {authorships} (researcher_id, sort_key)",
            "CREATE TABLE IF NOT EXISTS {topics} (id TEXT PRIMARY KEY, display_name TEXT)",
            f"CREATE TABLE IF NOT EXISTS {{tallies}} (researcher_id TEXT NOT NULL, topic_id TEXT NOT NULL,"
            f" works {i} NOT NULL, PRIMARY KEY (researcher_id, topic_id))",
            "CREATE INDEX IF NOT EXISTS {tallies}_topic ON {tallies} (topic_id, works)",
            # Works with at most MAX_AUTHORS_FOR_COLLABORATION authors: how many each pair shares.
            f"CREATE TABLE IF NOT EXISTS {{pairs}} (a TEXT NOT NULL, b TEXT NOT NULL, shared {i} NOT NULL,"
            " latest TEXT NOT NULL, PRIMARY KEY (a, b))",
            # Each record's co-authors most shared first, on either side of its pairs: the graph
            # reads its first ones by index range (the (b) lookups use the second). Partial (every
            # pair has shared > 0): only a statement saying `shared > 0` uses them, so a pair's
            # lookup by (a, b) stays on the key, which the planner left for (b) ranges thousands
            # long for a prolific b.
            "CREATE INDEX IF NOT EXISTS {pairs}_a_ranked ON {pairs} (a, shared DESC, latest DESC) WHERE shared > 0",
            "CREATE INDEX IF NOT EXISTS {pairs}_b_ranked ON {pairs} (b, shared DESC, latest DESC) WHERE shared > 0",
            # How many co-authors each record has (its pairs): the graph's total, kept with them.
            f"CREATE TABLE IF NOT EXISTS {{coauthor_counts}} (researcher_id TEXT PRIMARY KEY, coauthors {i} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {{places}} (researcher_id TEXT NOT NULL, place TEXT NOT NULL,"
            f" institution TEXT NOT NULL, works {i} NOT NULL, first_year INTEGER, last_year INTEGER,"
            " PRIMARY KEY (researcher_id, place))",
            "CREATE INDEX IF NOT EXISTS {places}_place ON {places} (place, works)",
            # Each work under each of its topics and OpenAlex institutions, newest first by index.
            "CREATE TABLE IF NOT EXISTS {topic_works} (topic_id TEXT NOT NULL, work_id TEXT NOT NULL,"
            " sort_key TEXT NOT NULL, PRIMARY KEY (topic_id, work_id))",
            "CREATE INDEX IF NOT EXISTS {topic_works}_newest ON {topic_works} (topic_id, sort_key, work_id)",
            "CREATE INDEX IF NOT EXISTS {topic_works}_work ON {topic_works} (work_id)",
            "CREATE TABLE IF NOT EXISTS {institution_works} (institution_id TEXT NOT NULL, work_id TEXT NOT NULL,"
            " sort_key TEXT NOT NULL, PRIMARY KEY (institution_id, work_id))",
            "CREATE INDEX IF NOT EXISTS {institution_works}_newest ON {institution_works}"
            " (institution_id, sort_key, work_id)",
            "CREATE INDEX IF NOT EXISTS {institution_works}_work ON {institution_works} (work_id)",
            # What claims decided: one row per claimed-at-least-once record.
            "CREATE TABLE IF NOT EXISTS {ownership} (record_id TEXT PRIMARY KEY, researcher_id TEXT NOT NULL,"
            " owner_id TEXT, level TEXT, disputed INTEGER NOT NULL, headline TEXT, about TEXT)",
            "CREATE INDEX IF NOT EXISTS {ownership}_researcher ON {ownership} (researcher_id)",
            "CREATE INDEX IF NOT EXISTS {ownership}_owner ON {ownership} (owner_id)",
            # Owners' display names (personal data: deleted when the account is erased).
            "CREATE TABLE IF NOT EXISTS {owners} (account_id TEXT PRIMARY KEY, display_name TEXT)",
            "CREATE TABLE IF NOT EXISTS {policies} (preferences_id TEXT PRIMARY KEY, account_id TEXT NOT NULL,"
            " policy TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {policies}_account ON {policies} (account_id)",
            # A work's decisions are read whenever it is imported or corrected: keyed by work first.
            "CREATE TABLE IF NOT EXISTS {disowned} (work_id TEXT NOT NULL, researcher_id TEXT NOT NULL,"
            " PRIMARY KEY (work_id, researcher_id))",
            "CREATE TABLE IF NOT EXISTS {adopted} (work_id TEXT NOT NULL, researcher_id TEXT NOT NULL,"
            " from_record TEXT NOT NULL, openalex_id TEXT NOT NULL, PRIMARY KEY (work_id, researcher_id))",
            "CREATE INDEX IF NOT EXISTS {adopted}_researcher ON {adopted} (researcher_id)",
            "CREATE TABLE IF NOT EXISTS {adoption_requests} (id TEXT PRIMARY KEY, researcher_id TEXT NOT NULL,"
            " work_id TEXT NOT NULL, from_record TEXT NOT NULL, opened_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {adoption_requests}_opened ON {adoption_requests} (opened_at, id)",
            "CREATE TABLE IF NOT EXISTS {persons} (record_id TEXT PRIMARY KEY, person_id TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {persons}_person ON {persons} (person_id)",
            "CREATE TABLE IF NOT EXISTS {link_requests} (id TEXT PRIMARY KEY, person_id TEXT NOT NULL,"
            " record_id TEXT NOT NULL, opened_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {link_requests}_opened ON {link_requests} (opened_at, id)",
            "CREATE TABLE IF NOT EXISTS {counted} (event TEXT PRIMARY KEY, researcher_id TEXT NOT NULL,"
            " name TEXT NOT NULL, delta INTEGER NOT NULL, at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {counted}_researcher ON {counted} (researcher_id, at)",
            f"CREATE TABLE IF NOT EXISTS {{docs}} (id TEXT PRIMARY KEY, doc {b} NOT NULL, position {i} NOT NULL)",
            "CREATE INDEX IF NOT EXISTS {docs}_position ON {docs} (position)",
            # Profiles whose documents a from-scratch build writes at its end (documents_deferred).
            "CREATE TABLE IF NOT EXISTS {deferred} (id TEXT PRIMARY KEY)",
            # Scratch: a batch's new works, their topics and pairs, counted set-wise (emptied each batch).
            "CREATE TABLE IF NOT EXISTS {new_works} (work_id TEXT PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS {new_topics} (work_id TEXT NOT NULL, topic_id TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {{new_pairs}} (a TEXT NOT NULL, b TEXT NOT NULL, shared {i} NOT NULL,"
            " latest TEXT NOT NULL, PRIMARY KEY (a, b))",
            # Docs are numbered across all upstream applications: batches lock this row in turn,
            # so numbers follow commit order (what the API's profile cache relies on).
            f"CREATE TABLE IF NOT EXISTS {{seq}} (name TEXT PRIMARY KEY, n {i} NOT NULL)",
            "INSERT INTO {seq} (name, n) VALUES ('docs', 0) ON CONFLICT (name) DO NOTHING",
        ]

    # -- writes (one transaction per batch, with the tracking row) ----------------------------

    def apply_batch(self, changes: BatchChanges, tracking: Tracking) -> None:
        """Apply one batch in a transaction with its tracking row. Behind an import on SQLite
        (GROUPS_BEHIND), the transaction stays open for the next batches while their documents
        are left for later, for up to GROUP_SECONDS: they commit together, with the documents.
        Nothing is lost if the process stops meanwhile: the tracking rows go with the batches,
        so the log is applied again from the last commit (the runner reads its position back
        after any failure). Readers meanwhile see the last commit: facts and documents alike."""
        behind = getattr(tracking, "behind", None)
        with self._writing:
            if self._group is not None and self._group[3] != tracking.application_name:
                self._end_transaction(None)  # another log's batches commit before this one
            c = self._transaction(tracking.application_name)
            try:
                deferred = self._apply_batch(c, changes, tracking)
            except BaseException as e:
                self._end_transaction(e)
                raise
            assert self._group is not None
            if not (self.GROUPS_BEHIND and behind and deferred and time.monotonic() - self._group[2] < GROUP_SECONDS):
                self._end_transaction(None)

    def _transaction(self, application_name: str) -> Any:
        """The open transaction's cursor, or a new transaction's (for batches of that log)."""
        if self._group is None:
            stack = ExitStack()
            cursor = stack.enter_context(self.datastore.transaction(commit=True))
            self._group = (stack, cursor, time.monotonic(), application_name)
        return self._group[1]

    def _end_transaction(self, error: BaseException | None) -> None:
        """Commit the open transaction, or roll it back after `error`."""
        group, self._group = self._group, None
        if group is None:
            return
        if error is None:
            group[0].close()
        else:
            try:
                group[0].__exit__(type(error), error, error.__traceback__)
            except BaseException:  # noqa: BLE001 - the error that made the rollback is raised
                pass

    def commit_pending(self) -> None:
        """Commit batches left in an open transaction (a runner stopping, a write of its own)."""
        with self._writing:
            self._end_transaction(None)

    def roll_back_pending(self, application_name: str) -> None:
        """Roll back the batches of that log left in an open transaction (a later batch of the
        same log failed before it came here; its runner reads its position back)."""
        with self._writing:
            if self._group is not None and self._group[3] == application_name:
                self._end_transaction(RuntimeError("a later batch failed"))

    def _apply_batch(self, c: Any, changes: BatchChanges, tracking: Tracking) -> bool:
        # One batch at a time across the runners of the three upstream applications: the
        # deltas below are computed against what is stored, which a concurrent batch would change.
        c.execute(self._sql("UPDATE {seq} SET n = n WHERE name = 'docs'"))
        self._insert_tracking(c, tracking)
        if changes.researchers:
            self._register(c, changes.researchers)
        touched: set[str] = set()
        # A batch comes from one log: catalogue batches change works, claims batches decisions.
        works = dict(changes.works)
        if works:
            self._show_decided(c, works)
        if changes.attributions or changes.adoptions:
            works.update(self._apply_decisions(c, changes.attributions, changes.adoptions, set(works)))
        if works:
            touched = self._apply_works(c, works)
        self._apply_claims(c, changes)
        self._apply_policies(c, changes)
        self._apply_links(c, changes)
        self._apply_adoption_requests(c, changes)
        if changes.counted:
            self._many(c, "INSERT INTO {counted} (event, researcher_id, name, delta, at) SELECT event,"
                          " researcher_id, name, delta, at FROM {rows} WHERE true ON CONFLICT (event) DO NOTHING",
                       "event text, researcher_id text, name text, delta bigint, at text", changes.counted)
        affected = touched | set(changes.affected) | self._owned_by(c, changes.affected_owners)
        affected |= self._owned_by(c, self._owners_of(c, affected))  # their "same person" lists
        affected |= self._kin(c, affected)  # a person's profile is every one of its records'
        return self._documents(c, affected, getattr(tracking, "behind", None))

    def _documents(self, c: Any, affected: set[str], behind: bool | None) -> bool:
        """Write the documents of the profiles a batch changed, or note them for later (True): while a
        from-scratch build runs (documents_deferred), and while the projection is behind an
        import (`behind`: the catalogue's log had more past this batch), for up to
        BEHIND_WRITE_SECONDS. The catalogue's batch that ends where its log ended (`behind`
        False) writes what was noted too, so the documents are current whenever the projection
        has caught up; the other logs' batches (`behind` None: commands, whose senders wait to
        read their own writes) write only their own."""
        if self.defer_documents or (behind and (self._noted_since is None
                                                or time.monotonic() - self._noted_since < BEHIND_WRITE_SECONDS)):
            if affected:
                self._many(c, "INSERT INTO {deferred} (id) SELECT id FROM {rows} WHERE true"
                              " ON CONFLICT (id) DO NOTHING", "id text", [(rid,) for rid in sorted(affected)])
                if self._noted_since is None:
                    self._noted_since = time.monotonic()
            return True
        noted: set[str] = set()
        if behind is not None:
            c.execute(self._sql("SELECT id FROM {deferred}"))
            noted = {row["id"] for row in c.fetchall()}
            if noted:
                self._rows_in(c, "DELETE FROM {deferred} WHERE {in}", "id", sorted(noted))
            self._noted_since = None
        if affected | noted:
            self._write_profiles(c, sorted(affected | noted))
        return False

    @contextmanager
    def documents_deferred(self) -> Iterator[None]:
        """A from-scratch build (replay, verify): batches note which profiles they change instead
        of encoding them, and each document is written once at the end, from the final facts.
        Batch by batch, a prolific author's document was encoded and written again in every batch
        of an import (40% of a profiles build). Nobody reads a version being built; an
        interrupted build keeps its notes (the table) and writes them when it ends."""
        self.defer_documents = True
        try:
            yield
        finally:
            self.defer_documents = False
            self.commit_pending()  # the batches done, with their notes, stay done if it stops here
        self.write_deferred_documents()

    def has_deferred_documents(self) -> bool:
        self.commit_pending()  # what batches left in an open transaction, noted ones included
        return bool(self._query("SELECT id FROM {deferred} LIMIT 1", ()))

    def write_deferred_documents(self) -> int:
        """Write the documents batches left for later; returns how many."""
        self.commit_pending()
        written = 0
        self._noted_since = None
        while True:
            with self.datastore.transaction(commit=True) as c:
                c.execute(self._sql("UPDATE {seq} SET n = n WHERE name = 'docs'"))  # one batch at a time
                c.execute(self._sql("SELECT id FROM {deferred} ORDER BY id LIMIT %s"), (DEFERRED_PER_TRANSACTION,))
                ids = [row["id"] for row in c.fetchall()]
                if not ids:
                    return written
                self._write_profiles(c, ids)
                self._rows_in(c, "DELETE FROM {deferred} WHERE {in}", "id", ids)
                written += len(ids)

    def _register(self, c: Any, researchers: dict[str, dict[str, Any]]) -> None:
        """Researchers as first seen (a work naming one may have come first: its row is kept)."""
        self._many(
            c,
            "INSERT INTO {researchers} (id, openalex_id, registered_name, registered_orcid, display_name, orcid,"
            " name_key, works, name_sort, orcid_sort, aff_sort, close) SELECT id, openalex_id, registered_name,"
            " registered_orcid, registered_name, registered_orcid, '', 0, '', '', '', 0 FROM {rows} WHERE true"
            " ON CONFLICT (id) DO UPDATE SET openalex_id = excluded.openalex_id,"
            " registered_name = excluded.registered_name, registered_orcid = excluded.registered_orcid",
            "id text, openalex_id text, registered_name text, registered_orcid text",
            [(rid, r["openalex_id"], r["display_name"], r["orcid"]) for rid, r in researchers.items()],
        )

    def _decisions_of(self, c: Any, work_ids: Sequence[str]) -> dict[str, Decisions]:
        found: dict[str, Decisions] = defaultdict(Decisions)
        for row in self._rows_in(c, "SELECT work_id, researcher_id FROM {disowned} WHERE {in}", "work_id", work_ids):
            found[row["work_id"]].hidden.add(row["researcher_id"])
        for row in self._rows_in(c, "SELECT work_id, researcher_id, from_record, openalex_id FROM {adopted}"
                                    " WHERE {in}", "work_id", work_ids):
            found[row["work_id"]].adopted[row["researcher_id"]] = (row["from_record"], row["openalex_id"])
        return found

    def _show_decided(self, c: Any, works: dict[str, WorkChange]) -> None:
        """Imported or corrected works as the profiles show them: the authorships of records that
        said "not mine" left out and adopted ones moved, before and after alike (a re-import never
        undoes a decision)."""
        decided = self._decisions_of(c, sorted(works))
        for wid, decisions in decided.items():
            w = works[wid]
            w.stored = w.new
            w.old = None if w.old is None else decisions.shown(w.old)
            w.new = decisions.shown(w.new)
            w.doc = encode_work(wid, w.new["openalex_id"], w.new)

    def _apply_decisions(self, c: Any, attributions: list[tuple[str, str, bool]],
                         adoptions: list[tuple[str, str, str, bool]], skip: set[str]) -> dict[str, WorkChange]:
        """Store the decisions; each work they concern becomes a change of that work from how it
        was shown to how it is shown now ("with the author" to "without", or from one record to
        its adopter, or back), moved through the same deltas as an import. A work not imported
        yet changes nothing now: its import will find the decision."""
        work_ids = sorted(({wid for _, wid, _ in attributions} | {wid for _, wid, _, _ in adoptions}) - skip)
        before = self._decisions_of(c, work_ids)
        after = {wid: before[wid].copy() if wid in before else Decisions() for wid in work_ids}
        adopters = sorted({adopter for adopter, _, _, adopted in adoptions if adopted})
        openalex = {row["id"]: row["openalex_id"] for row in self._rows_in(
            c, "SELECT id, openalex_id FROM {researchers} WHERE {in}", "id", adopters)}
        # A claims batch holds the decisions in event order; attributions and adoptions concern
        # different records' listings, so each list is applied in its own order.
        for rid, wid, disowned in attributions:
            if wid in after:
                (after[wid].hidden.add if disowned else after[wid].hidden.discard)(rid)
        for adopter, wid, source, adopted in adoptions:
            if wid in after:
                if adopted:
                    after[wid].adopted[adopter] = (source, openalex.get(adopter, ""))
                else:
                    after[wid].adopted.pop(adopter, None)
        empty = Decisions()

        def pairs(decided: dict[str, Decisions], wid: str) -> tuple[set[tuple[str, str]], set[tuple[str, str, str, str]]]:
            d = decided.get(wid, empty)
            return ({(wid, rid) for rid in d.hidden},
                    {(wid, rid, source, oa) for rid, (source, oa) in d.adopted.items()})

        gone_hidden, added_hidden, gone_adopted, added_adopted = [], [], [], []
        for wid in work_ids:
            (h0, a0), (h1, a1) = pairs(before, wid), pairs(after, wid)
            gone_hidden += sorted(h0 - h1)
            added_hidden += sorted(h1 - h0)
            gone_adopted += sorted((w, r) for w, r, _, _ in a0 - a1)
            added_adopted += sorted(a1 - a0)
        if gone_hidden:
            self._many(c, "DELETE FROM {disowned} WHERE (work_id, researcher_id) IN"
                          " (SELECT work_id, researcher_id FROM {rows})", "work_id text, researcher_id text",
                       gone_hidden)
        if added_hidden:
            self._many(c, "INSERT INTO {disowned} (work_id, researcher_id) SELECT work_id, researcher_id"
                          " FROM {rows} WHERE true ON CONFLICT DO NOTHING", "work_id text, researcher_id text",
                       added_hidden)
        if gone_adopted:
            self._many(c, "DELETE FROM {adopted} WHERE (work_id, researcher_id) IN"
                          " (SELECT work_id, researcher_id FROM {rows})", "work_id text, researcher_id text",
                       gone_adopted)
        if added_adopted:
            self._many(c, "INSERT INTO {adopted} (work_id, researcher_id, from_record, openalex_id)"
                          " SELECT work_id, researcher_id, from_record, openalex_id FROM {rows} WHERE true"
                          " ON CONFLICT (work_id, researcher_id) DO UPDATE SET from_record = excluded.from_record,"
                          " openalex_id = excluded.openalex_id",
                       "work_id text, researcher_id text, from_record text, openalex_id text", added_adopted)
        changes: dict[str, WorkChange] = {}
        for row in self._rows_in(c, "SELECT id, fields FROM {works} WHERE {in}", "id", work_ids):
            wid, listed = row["id"], json.loads(row["fields"])
            old, new = before.get(wid, empty).shown(listed), after[wid].shown(listed)
            if old["authorships"] != new["authorships"]:  # else: nothing shown changes (not listed now)
                changes[wid] = WorkChange(old, new, sort_key_of(new), encode_work(wid, listed["openalex_id"], new),
                                          stored=listed)
        return changes

    def _apply_works(self, c: Any, works: dict[str, WorkChange]) -> set[str]:
        """Store the works and their authorships; move every fact by the works' old contributions
        taken away and new ones added. Returns the researchers whose facts may have changed."""
        self._many(
            c,
            "INSERT INTO {works} (id, sort_key, topics, fields, doc) SELECT id, sort_key, topics, fields, doc"
            " FROM {rows} WHERE true ON CONFLICT (id) DO UPDATE SET sort_key = excluded.sort_key,"
            " topics = excluded.topics, fields = excluded.fields, doc = excluded.doc",
            f"id text, sort_key text, topics text, fields text, doc {self.blob.lower()}",
            [(wid, w.sort_key, to_json(w.new["topics"]), to_json(w.stored or w.new), w.doc)
             for wid, w in works.items()],
        )
        self._rows_in(c, "DELETE FROM {authorships} WHERE {in}", "work_id",
                      [wid for wid, w in works.items() if w.old is not None])
        self._many(
            c,
            "INSERT INTO {authorships} (researcher_id, work_id, sort_key, institutions, authors_count, author_name,"
            " author_orcid, first_institution) SELECT researcher_id, work_id, sort_key, institutions, authors_count,"
            " author_name, author_orcid, first_institution FROM {rows}",
            "researcher_id text, work_id text, sort_key text, institutions text, authors_count bigint,"
            " author_name text, author_orcid text, first_institution text",
            [(rid, wid, w.sort_key, to_json(a["institutions"]), len(w.new["authorships"]), a["display_name"] or None,
              a["orcid"], to_json(a["institutions"][0]) if a["institutions"] else None)
             for wid, w in works.items() for rid, a in listings(w.new).items()],
        )
        self._index_works(c, works)
        deltas = Deltas()
        new = [wid for wid, w in works.items() if w.old is None]
        for w in works.values():
            if w.old is not None:
                deltas.add(w.old, sort_key_of(w.old), -1)
            deltas.add(w.new, w.sort_key, +1, in_sql=w.old is None, seq=w.seq)
        touched = set(deltas.works)
        self._apply_counts(c, deltas)
        touched |= self._apply_tallies(c, deltas)
        close = self._apply_pairs(c, deltas)
        if new:
            self._count_new_works(c, new, {wid: works[wid].new["topics"] for wid in new}, close)
        self._apply_places(c, deltas)
        self._apply_identity(c, deltas, close)
        return touched

    def _index_works(self, c: Any, works: dict[str, WorkChange]) -> None:
        """Each work under its topics and its authors' OpenAlex institutions (an author listed
        twice: the first listing, as the places count it), as the batch leaves it."""
        changed = [wid for wid, w in works.items() if w.old is not None]
        self._rows_in(c, "DELETE FROM {topic_works} WHERE {in}", "work_id", changed)
        self._rows_in(c, "DELETE FROM {institution_works} WHERE {in}", "work_id", changed)
        topics = {(t["openalex_id"], wid, w.sort_key) for wid, w in works.items() for t in w.new["topics"]}
        places = {(i["openalex_id"], wid, w.sort_key) for wid, w in works.items()
                  for a in listings(w.new).values() for i in a["institutions"] if i.get("openalex_id")}
        if topics:
            self._many(c, "INSERT INTO {topic_works} (topic_id, work_id, sort_key)"
                          " SELECT topic_id, work_id, sort_key FROM {rows}",
                       "topic_id text, work_id text, sort_key text", sorted(topics))
        if places:
            self._many(c, "INSERT INTO {institution_works} (institution_id, work_id, sort_key)"
                          " SELECT institution_id, work_id, sort_key FROM {rows}",
                       "institution_id text, work_id text, sort_key text", sorted(places))

    def _count_new_works(self, c: Any, new: list[str], topics: dict[str, list[dict[str, Any]]],
                         close: dict[str, int]) -> None:
        """Topic tallies and co-author pairs of works new in this batch, counted set-wise from their
        stored authorships; `close` gains the pairs that reach two shared works."""
        self._stage(c, "new_works", "work_id text", [(wid,) for wid in new])
        self._stage(c, "new_topics", "work_id text, topic_id text",
                    [(wid, t["openalex_id"]) for wid in new for t in topics[wid]])
        c.execute(self._sql(
            "INSERT INTO {tallies} (researcher_id, topic_id, works) SELECT a.researcher_id, t.topic_id, COUNT(*)"
            " FROM {new_topics} t JOIN {authorships} a ON a.work_id = t.work_id WHERE true"
            " GROUP BY a.researcher_id, t.topic_id"
            " ON CONFLICT (researcher_id, topic_id) DO UPDATE SET works = {tallies}.works + excluded.works"))
        c.execute(self._sql("DELETE FROM {new_pairs}"))
        c.execute(self._sql(
            "INSERT INTO {new_pairs} (a, b, shared, latest) SELECT x.researcher_id, y.researcher_id, COUNT(*),"
            " MAX(x.sort_key) FROM {new_works} n JOIN {authorships} x ON x.work_id = n.work_id"
            " JOIN {authorships} y ON y.work_id = x.work_id AND y.researcher_id > x.researcher_id"
            " WHERE x.authors_count <= %s GROUP BY x.researcher_id, y.researcher_id"),
            (MAX_AUTHORS_FOR_COLLABORATION,))
        c.execute(self._sql(
            "SELECT n.a, n.b FROM {new_pairs} n LEFT JOIN {pairs} p ON p.a = n.a AND p.b = n.b"
            " WHERE COALESCE(p.shared, 0) < %s AND COALESCE(p.shared, 0) + n.shared >= %s"),
            (CLOSE_COLLABORATOR_SHARED_WORKS, CLOSE_COLLABORATOR_SHARED_WORKS))
        for row in c.fetchall():
            close[row["a"]] += 1
            close[row["b"]] += 1
        self._count_new_coauthors(c)
        c.execute(self._sql(
            "INSERT INTO {pairs} (a, b, shared, latest) SELECT a, b, shared, latest FROM {new_pairs} WHERE true"
            " ON CONFLICT (a, b) DO UPDATE SET shared = {pairs}.shared + excluded.shared,"
            " latest = CASE WHEN excluded.latest > {pairs}.latest THEN excluded.latest ELSE {pairs}.latest END"))

    def _stage(self, c: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        """Fill a scratch table with this batch's rows (the batch's transaction holds it alone)."""
        c.execute(self._sql(f"DELETE FROM {{{table}}}"))
        if rows:
            names = ", ".join(column.split()[0] for column in columns.split(","))
            self._many(c, f"INSERT INTO {{{table}}} ({names}) SELECT {names} FROM {{rows}}", columns, rows)

    def _apply_counts(self, c: Any, d: Deltas) -> None:
        # A work may name a researcher before their Registered event is processed: the row starts here.
        self._many(
            c,
            "INSERT INTO {researchers} (id, openalex_id, registered_name, display_name, name_key, works, name_sort,"
            " orcid_sort, aff_sort, close) SELECT id, openalex_id, '', '', '', works, '', '', '', 0 FROM {rows}"
            " WHERE true ON CONFLICT (id) DO UPDATE SET works = {researchers}.works + excluded.works",
            "id text, openalex_id text, works bigint",
            [(rid, d.openalex[rid], n) for rid, n in d.works.items()],
        )

    def _apply_tallies(self, c: Any, d: Deltas) -> set[str]:
        """Topic names and tallies; returns the researchers whose topics were renamed (their
        profiles name their topics, also where this batch gives them no work)."""
        renamed: set[str] = set()
        if d.topic_names:
            stored = {row["id"]: row["display_name"] for row in self._rows_in(
                c, "SELECT id, display_name FROM {topics} WHERE {in}", "id", sorted(d.topic_names))}
            self._many(c, "INSERT INTO {topics} (id, display_name) SELECT id, display_name FROM {rows} WHERE true"
                          " ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name",
                       "id text, display_name text", list(d.topic_names.items()))
            changed = sorted(tid for tid, name in d.topic_names.items() if tid in stored and stored[tid] != name)
            renamed = {row["researcher_id"] for row in self._rows_in(
                c, "SELECT researcher_id FROM {tallies} WHERE {in}", "topic_id", changed)}
        moved = [(rid, tid, n) for (rid, tid), n in d.tallies.items() if n]
        if not moved:
            return renamed
        emptied = self._select_many(
            c,
            "INSERT INTO {tallies} (researcher_id, topic_id, works) SELECT researcher_id, topic_id, works FROM {rows}"
            " WHERE true ON CONFLICT (researcher_id, topic_id) DO UPDATE SET works = {tallies}.works + excluded.works"
            " RETURNING researcher_id, topic_id, works",
            "researcher_id text, topic_id text, works bigint", moved)
        gone = [(row["researcher_id"], row["topic_id"]) for row in emptied if row["works"] <= 0]
        if gone:
            self._many(c, "DELETE FROM {tallies} WHERE (researcher_id, topic_id) IN"
                          " (SELECT researcher_id, topic_id FROM {rows})", "researcher_id text, topic_id text", gone)
        return renamed

    def _apply_pairs(self, c: Any, d: Deltas) -> dict[str, int]:
        """Shared works per pair; returns how each researcher's count of close collaborators moved."""
        close: dict[str, int] = defaultdict(int)
        # A pair whose count did not move may still have a newer latest work (a work's date corrected).
        moved = [(a, b, n, d.pair_latest.get((a, b), "")) for (a, b), n in d.pairs.items()
                 if n or (a, b) in d.pair_latest]
        if not moved:
            return close
        rows = self._select_many(
            c,
            "INSERT INTO {pairs} (a, b, shared, latest) SELECT a, b, shared, latest FROM {rows} WHERE true"
            " ON CONFLICT (a, b) DO UPDATE SET shared = {pairs}.shared + excluded.shared,"
            " latest = CASE WHEN excluded.latest > {pairs}.latest THEN excluded.latest ELSE {pairs}.latest END"
            " RETURNING a, b, shared, latest",
            "a text, b text, shared bigint, latest text", moved)
        gone, stale = [], []
        coauthors: dict[str, int] = defaultdict(int)
        for row in rows:
            pair = (row["a"], row["b"])
            after = row["shared"]
            before = after - d.pairs[pair]
            was, is_ = before >= CLOSE_COLLABORATOR_SHARED_WORKS, after >= CLOSE_COLLABORATOR_SHARED_WORKS
            if was != is_:
                for rid in pair:
                    close[rid] += 1 if is_ else -1
            if (before > 0) != (after > 0):  # the two became co-authors, or are no longer
                for rid in pair:
                    coauthors[rid] += 1 if after > 0 else -1
            if after <= 0:
                gone.append(pair)
            elif row["latest"] in d.pairs_lost.get(pair, ()):
                stale.append(pair)  # the newest shared work was taken away: look again
        self._move_coauthor_counts(c, coauthors)
        if gone:
            self._many(c, "DELETE FROM {pairs} WHERE (a, b) IN (SELECT a, b FROM {rows})", "a text, b text", gone)
        for a, b in stale:
            c.execute(self._sql(
                "SELECT MAX(x.sort_key) AS latest FROM {authorships} x JOIN {authorships} y ON y.work_id = x.work_id"
                " WHERE x.researcher_id = %s AND y.researcher_id = %s AND x.authors_count <= %s"),
                (a, b, MAX_AUTHORS_FOR_COLLABORATION))
            c.execute(self._sql("UPDATE {pairs} SET latest = %s WHERE a = %s AND b = %s"),
                      (c.fetchone()["latest"], a, b))
        return close

    def _count_new_coauthors(self, c: Any) -> None:
        """Each record's count of co-authors gains the pairs of this batch's new works not stored
        yet (before they are)."""
        c.execute(self._sql(
            "WITH met AS (SELECT n.a, n.b FROM {new_pairs} n WHERE NOT EXISTS"
            " (SELECT 1 FROM {pairs} p WHERE p.a = n.a AND p.b = n.b))"
            " INSERT INTO {coauthor_counts} (researcher_id, coauthors) SELECT id, COUNT(*) FROM"
            " (SELECT a AS id FROM met UNION ALL SELECT b FROM met) AS m WHERE true GROUP BY id"
            " ON CONFLICT (researcher_id) DO UPDATE SET coauthors = {coauthor_counts}.coauthors + excluded.coauthors"))

    def _move_coauthor_counts(self, c: Any, moved: dict[str, int]) -> None:
        changed = [(rid, n) for rid, n in moved.items() if n]
        if changed:
            self._many(c, "INSERT INTO {coauthor_counts} (researcher_id, coauthors) SELECT researcher_id, coauthors"
                          " FROM {rows} WHERE true ON CONFLICT (researcher_id) DO UPDATE"
                          " SET coauthors = {coauthor_counts}.coauthors + excluded.coauthors",
                       "researcher_id text, coauthors bigint", changed)

    def _apply_places(self, c: Any, d: Deltas) -> None:
        # A place only taken away has no institution to write: "-" keeps the stored one.
        moved = [(rid, place, n, *d.place_rows.get((rid, place), ("-", None, None)))
                 for (rid, place), n in d.places.items() if n or (rid, place) in d.place_rows]
        if not moved:
            return
        rows = self._select_many(
            c,
            "INSERT INTO {places} (researcher_id, place, works, institution, first_year, last_year)"
            " SELECT researcher_id, place, works, institution, first_year, last_year FROM {rows} WHERE true"
            " ON CONFLICT (researcher_id, place) DO UPDATE SET works = {places}.works + excluded.works,"
            " institution = CASE WHEN excluded.institution = '-' THEN {places}.institution"
            " ELSE excluded.institution END,"
            " first_year = CASE WHEN {places}.first_year IS NULL OR excluded.first_year < {places}.first_year"
            " THEN COALESCE(excluded.first_year, {places}.first_year) ELSE {places}.first_year END,"
            " last_year = CASE WHEN {places}.last_year IS NULL OR excluded.last_year > {places}.last_year"
            " THEN COALESCE(excluded.last_year, {places}.last_year) ELSE {places}.last_year END"
            " RETURNING researcher_id, place, works, first_year, last_year",
            "researcher_id text, place text, works bigint, institution text, first_year bigint, last_year bigint",
            moved)
        gone, stale = [], []
        for row in rows:
            key = (row["researcher_id"], row["place"])
            if row["works"] <= 0:
                gone.append(key)
            elif d.places_lost.get(key, set()) & {row["first_year"], row["last_year"]}:
                stale.append(key)  # a work at the edge of the span was taken away: look again
        if gone:
            self._many(c, "DELETE FROM {places} WHERE (researcher_id, place) IN"
                          " (SELECT researcher_id, place FROM {rows})", "researcher_id text, place text", gone)
        for rid, place in stale:
            c.execute(self._sql("SELECT sort_key, institutions FROM {authorships} WHERE researcher_id = %s"), (rid,))
            first = last = None
            for row in c.fetchall():
                if any(place_key(i) == place for i in json.loads(row["institutions"])):
                    first, last = span(first, last, year_of(row["sort_key"]))
            c.execute(self._sql("UPDATE {places} SET first_year = %s, last_year = %s"
                                " WHERE researcher_id = %s AND place = %s"), (first, last, rid, place))

    def _apply_identity(self, c: Any, d: Deltas, close: dict[str, int]) -> None:
        """The facts that come from the newest work giving them, and the close collaborators' count."""
        rids = sorted(set(d.candidates) | set(d.lost) | set(close))
        if not rids:
            return
        stored = {row["id"]: dict(row) for row in self._rows_in(
            c, "SELECT id, name_sort, name, orcid_sort, work_orcid, aff_sort, affiliation, close FROM {researchers}"
               " WHERE {in}", "id", rids)}
        updates = []
        for rid in rids:
            row = stored[rid]
            for fact, (sort_column, authorship_column) in IDENTITY.items():
                if row[sort_column] and row[sort_column] in d.lost[rid].get(fact, ()):
                    # The work that gave it changed: the newest that gives it now, by index range.
                    c.execute(self._sql(f"SELECT sort_key, {authorship_column} AS value FROM {{authorships}}"
                                        f" WHERE researcher_id = %s AND {authorship_column} IS NOT NULL"
                                        " ORDER BY sort_key DESC LIMIT 1"), (rid,))
                    newest = c.fetchone()
                    row[sort_column], row[fact] = (newest["sort_key"], newest["value"]) if newest else ("", None)
                candidate = d.candidates[rid].get(fact) if rid in d.candidates else None
                if candidate is not None and candidate[0] > row[sort_column]:
                    row[sort_column], row[fact] = candidate
            row["close"] += close.get(rid, 0)
            updates.append((row["name_sort"], row["name"], row["orcid_sort"], row["work_orcid"], row["aff_sort"],
                            row["affiliation"], row["close"], rid))
        self._many(
            c,
            "UPDATE {researchers} SET name_sort = rows.name_sort, name = rows.name, orcid_sort = rows.orcid_sort,"
            " work_orcid = rows.work_orcid, aff_sort = rows.aff_sort, affiliation = rows.affiliation,"
            " close = rows.close FROM {rows} WHERE {researchers}.id = rows.id",
            "name_sort text, name text, orcid_sort text, work_orcid text, aff_sort text, affiliation text,"
            " close bigint, id text",
            updates,
        )

    def _apply_claims(self, c: Any, changes: BatchChanges) -> None:
        if changes.ownership:
            self._many(
                c,
                "INSERT INTO {ownership} (record_id, researcher_id, owner_id, level, disputed) SELECT record_id,"
                " researcher_id, owner_id, level, disputed FROM {rows} WHERE true ON CONFLICT (record_id) DO UPDATE"
                " SET owner_id = excluded.owner_id, level = excluded.level, disputed = excluded.disputed",
                "record_id text, researcher_id text, owner_id text, level text, disputed bigint",
                [(record_id, o["researcher_id"], o["owner_id"], o["level"], int(o["disputed"]))
                 for record_id, o in changes.ownership.items()],
            )
            # The owner's words only where this batch changed them: the text loaded with the row may
            # be older than an erasure another runner has committed since.
            worded = [(o["headline"], o["about"], record_id) for record_id, o in changes.ownership.items()
                      if o.get("worded")]
            if worded:
                self._many(c, "UPDATE {ownership} SET headline = rows.headline, about = rows.about FROM {rows}"
                              " WHERE {ownership}.record_id = rows.record_id",
                           "headline text, about text, record_id text", worded)
        for account_id, name in changes.owner_names.items():
            if name is None:  # erased: the name and the owner's words go
                c.execute(self._sql("DELETE FROM {owners} WHERE account_id = %s"), (account_id,))
                c.execute(self._sql("UPDATE {ownership} SET headline = NULL, about = NULL WHERE owner_id = %s"),
                          (account_id,))
            else:
                c.execute(self._sql("INSERT INTO {owners} (account_id, display_name) VALUES (%s, %s)"
                                    " ON CONFLICT (account_id) DO UPDATE SET display_name = excluded.display_name"),
                          (account_id, name))

    def _apply_policies(self, c: Any, changes: BatchChanges) -> None:
        """Who may invite each account; the accounts whose policy changed have their records rebuilt."""
        if changes.preferences:
            self._many(c, "INSERT INTO {policies} (preferences_id, account_id, policy) SELECT preferences_id,"
                          " account_id, 'verified' FROM {rows} WHERE true ON CONFLICT (preferences_id) DO NOTHING",
                       "preferences_id text, account_id text", list(changes.preferences.items()))
        if changes.policies:
            self._many(c, "UPDATE {policies} SET policy = rows.policy FROM {rows}"
                          " WHERE {policies}.preferences_id = rows.preferences_id",
                       "preferences_id text, policy text", list(changes.policies.items()))
            changes.affected_owners.update(row["account_id"] for row in self._rows_in(
                c, "SELECT account_id FROM {policies} WHERE {in}", "preferences_id", sorted(changes.policies)))

    def _apply_links(self, c: Any, changes: BatchChanges) -> None:
        """Which records are linked into which person, in event order; and the requests waiting."""
        for person, member, linked in changes.links:
            if linked:
                c.execute(self._sql("INSERT INTO {persons} (record_id, person_id) VALUES (%s, %s)"
                                    " ON CONFLICT (record_id) DO UPDATE SET person_id = excluded.person_id"),
                          (member, person))
            else:
                c.execute(self._sql("DELETE FROM {persons} WHERE record_id = %s AND person_id = %s"),
                          (member, person))
        for request_id, opened in changes.link_requests.items():
            if opened is None:
                c.execute(self._sql("DELETE FROM {link_requests} WHERE id = %s"), (request_id,))
            else:
                c.execute(self._sql("INSERT INTO {link_requests} (id, person_id, record_id, opened_at)"
                                    " VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"), (request_id, *opened))

    def _apply_adoption_requests(self, c: Any, changes: BatchChanges) -> None:
        for request_id, opened in changes.adoption_requests.items():
            if opened is None:
                c.execute(self._sql("DELETE FROM {adoption_requests} WHERE id = %s"), (request_id,))
            else:
                c.execute(self._sql("INSERT INTO {adoption_requests} (id, researcher_id, work_id, from_record,"
                                    " opened_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"),
                          (request_id, *opened))

    def _persons(self, c: Any, researcher_ids: Iterable[str]) -> dict[str, list[str]]:
        """The persons these records are part of (as the person's own record or a member):
        person -> its records, its own first, then the members in id order."""
        ids = sorted(set(researcher_ids))
        persons = {row["person_id"] for row in self._rows_in(
            c, "SELECT person_id FROM {persons} WHERE {in}", "record_id", ids)}
        persons |= {row["person_id"] for row in self._rows_in(
            c, "SELECT person_id FROM {persons} WHERE {in}", "person_id", ids)}
        members: dict[str, list[str]] = {p: [] for p in persons}
        for row in self._rows_in(c, "SELECT record_id, person_id FROM {persons} WHERE {in}", "person_id",
                                 sorted(persons)):
            members[row["person_id"]].append(row["record_id"])
        return {p: [p, *sorted(m)] for p, m in members.items()}

    def _kin(self, c: Any, researcher_ids: Iterable[str]) -> set[str]:
        return {r for records in self._persons(c, researcher_ids).values() for r in records}

    def _person_doc(self, c: Any, records: list[str]) -> bytes | None:
        """A person's profile: the person's own record's facts (owner, level, words) with what
        the union of its records' works says, each work once. Folded from the stored
        authorships (as time travel folds), so it costs a read of every member's works."""
        own = list(self._facts(c, records[:1], {}))
        if not own:
            return None
        facts = facts_from_works(own[0], self._union_works(c, records))
        # Topics by the names the topics table keeps (the log's last), as a record's own profile
        # names them: each work lists a topic by the name it had when it was imported.
        names = {row["id"]: row["display_name"] for row in self._rows_in(
            c, "SELECT id, display_name FROM {topics} WHERE {in}", "id", [tid for tid, _, _ in facts.topics])}
        facts.topics = sorted_topics((tid, names.get(tid, name), n) for tid, name, n in facts.topics)
        facts.records = list(records)
        facts.counts = self._counts(c, records)
        return encode_profile(facts)[0]

    def _union_works(self, c: Any, records: list[str]) -> list[WorkFacts]:
        """Each work of any of `records` once, as the first of them in `records` that is its author
        gives it (name, ORCID iD, institutions); its co-authors are the authors outside the person."""
        rank = {r: i for i, r in enumerate(records)}
        chosen: dict[str, dict[str, Any]] = {}
        for row in self._rows_in(
                c, "SELECT a.researcher_id, a.work_id, a.sort_key, a.institutions, a.author_name, a.author_orcid,"
                   " a.authors_count, w.topics FROM {authorships} a JOIN {works} w ON w.id = a.work_id WHERE {in}",
                "a.researcher_id", records):
            best = chosen.get(row["work_id"])
            if best is None or rank[row["researcher_id"]] < rank[best["researcher_id"]]:
                chosen[row["work_id"]] = dict(row)
        small = sorted(w for w, row in chosen.items() if row["authors_count"] <= MAX_AUTHORS_FOR_COLLABORATION)
        coauthors: dict[str, list[str]] = {w: [] for w in small}
        for row in self._rows_in(c, "SELECT work_id, researcher_id FROM {authorships} WHERE {in}", "work_id", small):
            if row["researcher_id"] not in rank:
                coauthors[row["work_id"]].append(row["researcher_id"])
        decode = msgspec.json.decode  # a person's every work: json.loads was half of a 10,000-work fold
        return [WorkFacts(row["sort_key"], decode(row["institutions"]), decode(row["topics"]),
                          row["author_name"], row["author_orcid"], coauthors.get(wid))
                for wid, row in chosen.items()]

    def _write_profiles(self, c: Any, affected: list[str]) -> None:
        c.execute(self._sql("UPDATE {seq} SET n = n + 1 WHERE name = 'docs' RETURNING n"))
        position = c.fetchone()["n"]
        # Every record of a person gets the person's document; its own row keeps its own name
        # and ORCID iD (search and ORCID lookups find the person under each record's).
        person_docs: dict[str, bytes | None] = {}
        person_of: dict[str, str] = {}
        for person, records in self._persons(c, affected).items():
            person_docs[person] = self._person_doc(c, records)
            person_of.update((r, person) for r in records)
        shown: dict[str, tuple[str, str | None, str]] = {}  # the name, ORCID iD and key stored now
        renamed: list[tuple[str, dict[str, Any]]] = []
        # A chunk of documents at a time: a batch of an import touches tens of thousands of
        # profiles, and holding all their documents (and the driver's copy of them) at once
        # was most of a worker's peak memory.
        for chunk in chunks(affected, PROFILES_PER_WRITE):
            built = [(facts.id, *encode_profile(facts)) for facts in self._facts(c, chunk, shown)]
            if not built:
                continue
            self._many(
                c,
                "INSERT INTO {docs} (id, doc, position) SELECT id, doc, position FROM {rows} WHERE true"
                " ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, position = excluded.position",
                f"id text, doc {self.blob.lower()}, position bigint",
                [(rid, person_docs.get(person_of.get(rid, "")) or doc, position) for rid, doc, _ in built],
            )
            # The name and ORCID iD the works give now, for search and ORCID lookups: written where they changed.
            renamed += [(rid, i) for rid, _, i in built if shown[rid] != (i["display_name"], i["orcid"], i["name_key"])]
        if not renamed:
            return
        self._many(
            c,
            "UPDATE {researchers} SET display_name = rows.display_name, orcid = rows.orcid,"
            " name_key = rows.name_key FROM {rows} WHERE {researchers}.id = rows.id",
            "display_name text, orcid text, name_key text, id text",
            [(i["display_name"], i["orcid"], i["name_key"], rid) for rid, i in renamed],
        )
        self._rows_in(c, "DELETE FROM {names} WHERE {in}", "researcher_id", [rid for rid, _ in renamed])
        keys = [(key, rid) for rid, i in renamed for key in i["search_keys"]]
        if keys:
            self._many(c, "INSERT INTO {names} (key, researcher_id) SELECT key, researcher_id FROM {rows}",
                       "key text, researcher_id text", keys)

    def _facts(self, c: Any, ids: Sequence[str], shown: dict[str, tuple[str, str | None, str]]
               ) -> Iterable[ProfileFacts]:
        """Each profile's facts as stored: the record's row, its topic tallies, what claims decided;
        and into `shown`, the name, ORCID iD and search key stored for it now."""
        for chunk in chunks(ids):
            clause, params = self._in("id", chunk)
            c.execute(self._sql("SELECT id, openalex_id, registered_name, registered_orcid, works, name, work_orcid,"
                                " affiliation, close, display_name, orcid, name_key FROM {researchers} WHERE "
                                + clause), params)
            rows = c.fetchall()
            shown.update((row["id"], (row["display_name"], row["orcid"], row["name_key"])) for row in rows)
            found = {row["id"]: ProfileFacts(
                id=row["id"], openalex_id=row["openalex_id"], registered_name=row["registered_name"],
                registered_orcid=row["registered_orcid"], works_count=row["works"], name=row["name"],
                orcid=row["work_orcid"], affiliation=json.loads(row["affiliation"]) if row["affiliation"] else None,
                close_collaborators=row["close"]) for row in rows}
            if not found:
                continue
            clause, params = self._in("t.researcher_id", list(found))
            c.execute(self._sql("SELECT t.researcher_id, t.topic_id, t.works, n.display_name FROM {tallies} t"
                                " LEFT JOIN {topics} n ON n.id = t.topic_id WHERE " + clause), params)
            topics: dict[str, list[tuple[str, str | None, int]]] = defaultdict(list)
            for row in c.fetchall():
                topics[row["researcher_id"]].append((row["topic_id"], row["display_name"], row["works"]))
            for rid, facts in found.items():
                facts.topics = sorted_topics(topics.get(rid, ()))
            self._add_ownership(c, found)
            for (rid, name), n in self._counts_by_record(c, list(found)).items():
                found[rid].counts[name] = n
            yield from found.values()

    def _add_ownership(self, c: Any, found: dict[str, ProfileFacts]) -> None:
        clause, params = self._in("o.researcher_id", list(found))
        c.execute(self._sql("SELECT o.researcher_id, o.owner_id, o.level, o.disputed, o.headline, o.about,"
                            " n.display_name, p.policy FROM {ownership} o LEFT JOIN {owners} n"
                            " ON n.account_id = o.owner_id LEFT JOIN {policies} p ON p.account_id = o.owner_id"
                            " WHERE " + clause), params)
        owners: dict[str, list[str]] = {}
        for row in c.fetchall():
            facts = found[row["researcher_id"]]
            facts.claimed_ever = True
            facts.owner_id, facts.level, facts.disputed = row["owner_id"], row["level"], bool(row["disputed"])
            facts.owner_name = row["display_name"]
            facts.headline, facts.about, facts.policy = row["headline"], row["about"], row["policy"]
            if row["owner_id"]:
                owners.setdefault(row["owner_id"], [])
        if owners:
            clause, params = self._in("owner_id", list(owners))
            c.execute(self._sql("SELECT owner_id, researcher_id FROM {ownership} WHERE " + clause), params)
            for row in c.fetchall():
                owners[row["owner_id"]].append(row["researcher_id"])
            for facts in found.values():
                if facts.owner_id:
                    facts.same_person = sorted(r for r in owners[facts.owner_id] if r != facts.id)

    def _counts_by_record(self, c: Any, researcher_ids: Sequence[str], at: str | None = None
                          ) -> dict[tuple[str, str], int]:
        """(record, count) -> the sum of what the events counted on it added (up to `at`, if given)."""
        sums: dict[tuple[str, str], int] = defaultdict(int)
        for row in self._rows_in(c, "SELECT researcher_id, name, delta, at FROM {counted} WHERE {in}",
                                 "researcher_id", researcher_ids):
            if at is None or row["at"] <= at:
                sums[row["researcher_id"], row["name"]] += row["delta"]
        return sums

    def _counts(self, c: Any, records: Sequence[str], at: str | None = None) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for (_, name), n in self._counts_by_record(c, records, at).items():
            totals[name] += n
        return dict(totals)

    def counts_at(self, records: Sequence[str], at: str) -> dict[str, int]:
        """A record's (or a person's) counts as they were at `at` (time travel)."""
        return self._counts(None, records, at)

    def _owned_by(self, c: Any, account_ids: Iterable[str]) -> set[str]:
        return {row["researcher_id"] for row in self._rows_in(
            c, "SELECT researcher_id FROM {ownership} WHERE {in}", "owner_id", sorted(account_ids))}

    def _owners_of(self, c: Any, researcher_ids: Iterable[str]) -> set[str]:
        return {row["owner_id"] for row in self._rows_in(
            c, "SELECT owner_id FROM {ownership} WHERE owner_id IS NOT NULL AND {in}", "researcher_id",
            sorted(researcher_ids))}

    def load_ownership(self, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {row["record_id"]: {"researcher_id": row["researcher_id"], "owner_id": row["owner_id"],
                                   "level": row["level"], "disputed": bool(row["disputed"]),
                                   "headline": row["headline"], "about": row["about"]}
                for row in self._batch_rows("SELECT record_id, researcher_id, owner_id, level, disputed,"
                                            " headline, about FROM {ownership} WHERE {in}", "record_id", record_ids)}

    def load_work_fields(self, work_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {row["id"]: json.loads(row["fields"])
                for row in self._batch_rows("SELECT id, fields FROM {works} WHERE {in}", "id", work_ids)}

    def _batch_rows(self, statement: str, column: str, values: Sequence[Any]) -> list[Any]:
        """What the projection reads before a batch: as the batches so far left it, those in an
        open transaction (apply_batch) included."""
        with self._writing:
            if self._group is not None:
                return self._rows_in(self._group[1], statement, column, values)
        return self._rows_in(None, statement, column, values)

    # -- reads ---------------------------------------------------------------------------------

    def record_facts(self, researcher_id: str) -> dict[str, Any] | None:
        """What claims need to know of a record: its ORCID iD, works and institutions."""
        rows = self._query("SELECT openalex_id, orcid, works FROM {researchers} WHERE id = %s", (researcher_id,))
        if not rows:
            return None
        places = self._query("SELECT institution FROM {places} WHERE researcher_id = %s", (researcher_id,))
        institutions = {i["openalex_id"] for i in (json.loads(p["institution"]) for p in places) if i.get("openalex_id")}
        has_identifier = bool(rows[0]["openalex_id"] or rows[0]["orcid"])
        return {
            "orcid": rows[0]["orcid"],
            "base_level": "L1" if has_identifier and rows[0]["works"] else "L0",
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
        for row in self._rows_in(None, "SELECT d.id, o.owner_id FROM {docs} d LEFT JOIN {ownership} o"
                                       " ON o.researcher_id = d.id AND o.owner_id IS NOT NULL WHERE {in}",
                                 "d.id", researcher_ids):
            known.add(row["id"])
            if row["owner_id"] is not None:
                owners[row["id"]] = row["owner_id"]
        return known, owners

    def owner_names(self, account_ids: Sequence[str]) -> dict[str, str]:
        """Accounts' display names as shown (none once an account is erased; names stored before
        they were checked lose their control and direction characters here)."""
        return {row["account_id"]: shown_name(row["display_name"]) for row in self._rows_in(
            None, "SELECT account_id, display_name FROM {owners} WHERE {in}", "account_id", account_ids)}

    def with_claims_record(self, researcher_ids: Sequence[str]) -> list[str]:
        """Which of these records the claims area has a record of (claimed once, or decided on)."""
        return sorted({row["researcher_id"] for row in self._rows_in(
            None, "SELECT researcher_id FROM {ownership} WHERE {in}", "researcher_id", researcher_ids)})

    def researcher_openalex_ids(self, researcher_ids: Sequence[str]) -> dict[str, str]:
        return {row["id"]: row["openalex_id"] for row in self._rows_in(
            None, "SELECT id, openalex_id FROM {researchers} WHERE {in}", "id", researcher_ids)}

    def researcher_names(self, researcher_ids: Sequence[str]) -> dict[str, str]:
        """Records' names as their profiles show them."""
        return {row["id"]: shown_name(row["display_name"]) for row in self._rows_in(
            None, "SELECT id, display_name FROM {researchers} WHERE {in}", "id", researcher_ids)}

    def records_owned_by(self, account_id: str) -> list[str]:
        rows = self._query("SELECT researcher_id FROM {ownership} WHERE owner_id = %s ORDER BY researcher_id",
                           (account_id,))
        return [row["researcher_id"] for row in rows]

    def levels_owned_by(self, account_id: str) -> dict[str, str]:
        """Records this account owns -> their verification levels."""
        rows = self._query("SELECT researcher_id, level FROM {ownership} WHERE owner_id = %s", (account_id,))
        return {row["researcher_id"]: row["level"] for row in rows}

    def _pairs_of(self, researcher_ids: Sequence[str]) -> tuple[str, list[Any]]:
        """Each pair of these researchers as (me, other, shared, latest): the pairs table holds a pair once."""
        a, a_params = self._in("a", list(researcher_ids))
        b, b_params = self._in("b", list(researcher_ids))
        return ("(SELECT a AS me, b AS other, shared, latest FROM {pairs} WHERE " + a
                + " UNION ALL SELECT b, a, shared, latest FROM {pairs} WHERE " + b + " AND shared > 0)",
                [*a_params, *b_params])  # shared > 0: all of them, by the b index

    def coauthor_distance(self, researcher_ids: Sequence[str], other: str | Sequence[str]) -> int | None:
        """1 if one of `researcher_ids` shares a work with `other` (or one of a person's records),
        2 if they share a co-author, None if further apart (works with over 100 authors make no
        co-authors)."""
        others = [other] if isinstance(other, str) else list(other)
        if not researcher_ids or not others:
            return None
        mine, params = self._pairs_of(researcher_ids)
        first = {row["other"] for row in self._query("SELECT other FROM " + mine + " p", params)} - set(researcher_ids)
        if first & set(others):
            return 1
        theirs, params = self._pairs_of(others)
        return 2 if first & {row["other"] for row in self._query("SELECT other FROM " + theirs + " p", params)} else None

    # -- the research graph around a record (GET /researchers/{id}/graph) -------------------------

    def coauthors(self, researcher_ids: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Co-authors of any of `researcher_ids` (not themselves), with their names: shared works,
        the latest one's sort key, and through how many of them; most shared first. Works with
        more than MAX_AUTHORS_FOR_COLLABORATION authors do not make collaborators.

        A prolific record has tens of thousands of pairs: each record's are read most shared
        first by index range, only as deep as it takes to be sure of the first ones."""
        ids = list(researcher_ids)
        wanted = limit + len(ids)
        if not ids:
            return []
        if len(ids) == 1:  # the first of its pairs on either side are its first co-authors
            ranked, params = self._ranked_pairs(ids, wanted)
            rows = self._query("SELECT p.other AS id, r.display_name, r.openalex_id, p.shared, p.latest, 1 AS via"
                               " FROM (" + ranked + ") AS p JOIN {researchers} r ON r.id = p.other"
                               " ORDER BY p.shared DESC, p.latest DESC, p.other LIMIT %s", [*params, wanted])
        else:
            rows = self._summed_coauthors(ids, wanted)
        return [dict(r) for r in rows if r["id"] not in ids][:limit]

    def _ranked_pairs(self, researcher_ids: Sequence[str], depth: int) -> tuple[str, list[Any]]:
        """Each record's first `depth` pairs on each side (a, b) as (me, other, shared, latest),
        most shared first, then latest: index ranges."""
        sides = ("SELECT * FROM (SELECT a AS me, b AS other, shared, latest FROM {pairs} WHERE a = %s AND shared > 0"
                 " ORDER BY shared DESC, latest DESC, b LIMIT %s) AS x UNION ALL"
                 " SELECT * FROM (SELECT b AS me, a AS other, shared, latest FROM {pairs} WHERE b = %s AND shared > 0"
                 " ORDER BY shared DESC, latest DESC, a LIMIT %s) AS y")
        return (" UNION ALL ".join(sides for _ in researcher_ids),
                [v for rid in researcher_ids for v in (rid, depth, rid, depth)])

    def _summed_coauthors(self, ids: list[str], wanted: int) -> list[dict[str, Any]]:
        """The first `wanted` co-authors of several records by their pairs summed (the graph's
        second degree). Each record's pairs are read most shared first, ever deeper, until the
        first sums are sure (Fagin's threshold algorithm): a pair not read yet is at most the
        last one read on its side, so a co-author not seen at all sums to at most those bounds
        summed (`unseen`), and one seen to what was read plus the bounds of the records it was
        not seen with; those that may be among the first have their other pairs looked up."""
        depth = wanted
        while depth <= SUMMED_DEPTH:
            ranked, params = self._ranked_pairs(ids, depth)
            read: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)  # other -> me -> (shared, latest)
            sides: dict[tuple[str, bool], list[int]] = defaultdict(list)
            for row in self._query(ranked, params):
                read[row["other"]][row["me"]] = (row["shared"], row["latest"])
                sides[(row["me"], row["other"] > row["me"])].append(row["shared"])
            # A record's pairs are on one side or the other: a pair not read is at most the
            # larger of its two sides' last ones; nothing, where both were read to the end.
            bound = {me: max((min(sides[(me, side)]) if len(sides[(me, side)]) == depth else 0)
                             for side in (False, True)) for me in ids}
            unseen = sum(bound.values())
            if not unseen:  # every pair read
                return self._named(self._first_summed(read, wanted))
            if len(read) >= wanted:
                low = {other: sum(shared for shared, _ in by.values()) for other, by in read.items()}
                floor = sorted(low.values(), reverse=True)[wanted - 1]  # the first `wanted` sum to at least this
                high = {other: low[other] + unseen - sum(bound[me] for me in by) for other, by in read.items()}
                candidates = [other for other in read if high[other] >= floor]
                missing = [(me, other) for other in candidates for me in ids
                           if bound[me] and me != other and me not in read[other]]
                if len(missing) <= SUMMED_LOOKUPS and sorted(high[c] for c in candidates)[-wanted] > unseen:
                    for me, other, shared, latest in self._pairs_between(missing):
                        read[other][me] = (shared, latest)
                    first = self._first_summed({other: read[other] for other in candidates}, wanted)
                    if first[-1]["shared"] > unseen:  # nobody left out sums to as much as the last one
                        return self._named(first)
            depth *= 4
        return self._sum_coauthors(ids, wanted)

    def _pairs_between(self, wanted: list[tuple[str, str]]) -> list[tuple[str, str, int, str]]:
        """The pairs of these (me, other) that exist, as (me, other, shared, latest): each by its key."""
        found = []
        for chunk in chunks(wanted):
            keys: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
            for me, other in chunk:
                keys[(min(me, other), max(me, other))].append((me, other))
            rows = self._query("SELECT p.a, p.b, p.shared, p.latest FROM (VALUES " + ", ".join(["(%s, %s)"] * len(keys))
                               + ") AS k JOIN {pairs} p ON p.a = k.column1 AND p.b = k.column2",
                               [value for key in keys for value in key])
            found += [(me, other, row["shared"], row["latest"])
                      for row in rows for me, other in keys[(row["a"], row["b"])]]
        return found

    @staticmethod
    def _first_summed(read: dict[str, dict[str, tuple[int, str]]], wanted: int) -> list[dict[str, Any]]:
        """The first `wanted` by shared works summed, then the latest (a sort key), then id: in
        code point order, as _sum_coauthors asks the database to compare them (COLLATE "C")."""
        summed = [{"id": other, "shared": sum(shared for shared, _ in by.values()),
                   "latest": max(latest for _, latest in by.values()), "via": len(by)} for other, by in read.items()]
        summed.sort(key=lambda c: c["id"])
        summed.sort(key=lambda c: c["latest"], reverse=True)  # stable: ties keep the id order
        summed.sort(key=lambda c: c["shared"], reverse=True)
        return summed[:wanted]

    def _named(self, coauthors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = {row["id"]: row for row in self._rows_in(None, "SELECT id, display_name, openalex_id FROM {researchers}"
                                                          " WHERE {in}", "id", [c["id"] for c in coauthors])}
        return [{"id": c["id"], "display_name": names[c["id"]]["display_name"],
                 "openalex_id": names[c["id"]]["openalex_id"], "shared": c["shared"], "latest": c["latest"],
                 "via": c["via"]} for c in coauthors]

    def _sum_coauthors(self, ids: list[str], wanted: int) -> list[Any]:
        """The first `wanted` co-authors of `ids` by their pairs summed, every pair read."""
        pairs, params = self._pairs_of(ids)
        # Ties in code point order, as _first_summed breaks them, whatever the database's locale.
        c = self.binary_collation
        # Names for the first ones only: joined before the limit, a prolific record's every co-author was looked up.
        return self._query(
            "SELECT s.id, r.display_name, r.openalex_id, s.shared, s.latest, s.via FROM (SELECT p.other AS id,"
            " CAST(SUM(p.shared) AS BIGINT) AS shared, MAX(p.latest) AS latest, COUNT(*) AS via FROM " + pairs + " p"
            f" GROUP BY p.other ORDER BY SUM(p.shared) DESC, MAX(p.latest){c} DESC, p.other{c} LIMIT %s) AS s"
            f" JOIN {{researchers}} r ON r.id = s.id ORDER BY s.shared DESC, s.latest{c} DESC, s.id{c}", [*params, wanted])

    def person_coauthors(self, records: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """A person's co-authors (outside its records), each work counted once however many of
        its records it lists: shared works, the latest one's sort key; most shared first."""
        clause, params = self._in("x.researcher_id", list(records))
        rows = self._query(
            "SELECT y.researcher_id AS id, r.display_name, r.openalex_id, COUNT(DISTINCT x.work_id) AS shared,"
            " MAX(x.sort_key) AS latest, 1 AS via FROM {authorships} x JOIN {authorships} y ON y.work_id = x.work_id"
            " JOIN {researchers} r ON r.id = y.researcher_id WHERE " + clause + " AND x.authors_count <= %s"
            " GROUP BY y.researcher_id, r.display_name, r.openalex_id"
            " ORDER BY COUNT(DISTINCT x.work_id) DESC, MAX(x.sort_key) DESC, y.researcher_id",
            [*params, MAX_AUTHORS_FOR_COLLABORATION])
        return [dict(r) for r in rows if r["id"] not in records][:limit]

    def person_places(self, records: Sequence[str]) -> list[dict[str, Any]]:
        """A person's institutions over time, from each of its works once (as the profile folds
        them): first and last year, number of works; the newest listing of each institution."""
        with self.datastore.transaction(commit=False) as c:
            works = self._union_works(c, list(records))
        spans: dict[str, dict[str, Any]] = {}
        for w in sorted(works, key=lambda w: w.sort_key):
            for place, institution in {place_key(i): i for i in w.institutions}.items():
                found = spans.setdefault(place, {"works": 0, "first_year": None, "last_year": None})
                found.update(institution)  # the newest listing last
                found["works"] += 1
                found["first_year"], found["last_year"] = span(found["first_year"], found["last_year"],
                                                               year_of(w.sort_key))
        return sorted(spans.values(), key=lambda s: (-(s["last_year"] or 0), -s["works"], str(s.get("openalex_id"))))

    def graph_totals(self, researcher_id: str) -> dict[str, int]:
        """How many co-authors and institutions the record has in all (the graph lists the first)."""
        [row] = self._query("SELECT (SELECT coauthors FROM {coauthor_counts} WHERE researcher_id = %s) AS coauthors,"
                            " (SELECT COUNT(*) FROM {places} WHERE researcher_id = %s) AS places",
                            (researcher_id, researcher_id))
        return {"coauthors": row["coauthors"] or 0, "institutions": row["places"]}

    def institutions_over_time(self, researcher_id: str) -> list[dict[str, Any]]:
        """Each institution on the researcher's works: first and last year, number of works."""
        rows = self._query("SELECT institution, works, first_year, last_year FROM {places} WHERE researcher_id = %s",
                           (researcher_id,))
        spans = [{**json.loads(r["institution"]), "works": r["works"], "first_year": r["first_year"],
                  "last_year": r["last_year"]} for r in rows]
        return sorted(spans, key=lambda s: (-(s["last_year"] or 0), -s["works"], str(s.get("openalex_id"))))

    def adjacent_works(self, researcher_id: str | Sequence[str], collaborators: Sequence[str], topics: set[str],
                       limit: int) -> tuple[list[dict[str, Any]], int]:
        """Works of `collaborators` sharing a topic with `topics` that `researcher_id` (or none of
        a person's records) did not write: most shared topics first, then newest; and how many
        such works there are among the collaborators' newest ADJACENT_CANDIDATES."""
        if not collaborators or not topics:
            return [], 0
        newest = dict(self._newest_works_of(collaborators, [researcher_id] if isinstance(researcher_id, str)
                                            else list(researcher_id), ADJACENT_CANDIDATES))
        rows = self._rows_in(None, "SELECT id AS work_id, topics FROM {works} WHERE {in}", "id", list(newest))
        ranked: dict[str, tuple[int, str]] = {}
        for row in rows:
            shared = len(topics & {t["openalex_id"] for t in json.loads(row["topics"])})
            if shared:
                ranked[row["work_id"]] = (shared, newest[row["work_id"]])
        best = sorted(ranked, key=lambda w: ranked[w][1], reverse=True)  # newest first ...
        best = sorted(best, key=lambda w: -ranked[w][0])[:limit]  # ... within the most shared topics
        docs = {}
        if best:
            clause, params = self._in("id", best)
            docs = {row["id"]: json.loads(bytes(row["doc"])) for row in self._query(
                "SELECT id, doc FROM {works} WHERE " + clause, params)}
        return [{"id": w, "openalex_id": docs[w]["openalex_id"], "title": docs[w]["title"],
                 "publication_year": docs[w]["publication_year"], "shared_topics": ranked[w][0]}
                for w in best if w in docs], len(ranked)

    def _newest_works_of(self, collaborators: Sequence[str], mine: list[str], count: int) -> list[tuple[str, str]]:
        """The newest `count` works of any of `collaborators` that none of `mine` wrote, newest
        first, as (work id, sort key). Each collaborator's are read newest first by index range, a
        few at a time, merged, until every collaborator is read to its end or to a work older
        than the first `count` read: a work not read yet is older than the last one read of its
        collaborator. (Reading `count` of each read thousands of rows for a prolific record's
        collaborators, and sorted them.)"""
        mine_clause, mine_params = self._in("m.researcher_id", mine)
        found: dict[str, str] = {}  # work -> sort key
        after: dict[str, str | None] = dict.fromkeys(collaborators)  # the last read of those with more
        step = min(count, count // len(collaborators) + 10)
        while after:
            branches, params = [], []
            for c, last in after.items():
                branches.append("SELECT * FROM (SELECT a.researcher_id, a.work_id, a.sort_key FROM {authorships} a"
                                " WHERE a.researcher_id = %s" + (" AND a.sort_key < %s" if last is not None else "")
                                + " AND NOT EXISTS (SELECT 1 FROM {authorships} m WHERE m.work_id = a.work_id AND "
                                + mine_clause + ") ORDER BY a.sort_key DESC LIMIT %s) AS c")
                params += [c, *([last] if last is not None else []), *mine_params, step]
            read: dict[str, list[str]] = defaultdict(list)
            for row in self._query(" UNION ALL ".join(branches), params):
                read[row["researcher_id"]].append(row["sort_key"])
                found[row["work_id"]] = row["sort_key"]
            # Those read to their end, or whose next works are older than the first `count` read
            # so far, have nothing more to give.
            newest = sorted(found.values(), reverse=True)
            after = {c: min(read[c]) for c in after if len(read[c]) == step
                     and (len(newest) < count or min(read[c]) > newest[count - 1])}
            step *= 2
        return sorted(found.items(), key=lambda w: w[1], reverse=True)[:count]

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

    def has_work(self, work_id: str) -> bool:
        return bool(self._query("SELECT 1 AS found FROM {works} WHERE id = %s", (work_id,)))

    def has_topic(self, openalex_id: str) -> bool:
        return bool(self._query("SELECT 1 AS found FROM {topics} WHERE id = %s", (openalex_id,)))

    def search(self, name_key: str, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str, bytes]]:
        """Profiles with a name word starting with `name_key`, in name order, after a cursor. A
        person is listed once, under its own record, found by any of its records' names."""
        cursor, params = "", []
        if after is not None:
            cursor, params = " AND (r.name_key > %s OR (r.name_key = %s AND r.id > %s))", [after[0], after[0], after[1]]
        select = "SELECT r.name_key, r.id, d.doc FROM {researchers} r JOIN {docs} d ON d.id = r.id WHERE "
        records = "NOT EXISTS (SELECT 1 FROM {persons} m WHERE m.record_id = r.id)"  # a member is its person
        if not name_key:
            rows = self._query(select + records + cursor + " ORDER BY r.name_key, r.id LIMIT %s", [*params, limit])
            return [(row["name_key"], row["id"], bytes(row["doc"])) for row in rows]
        keys = [name_key, name_key + "\U0010ffff"]  # a range on the key index: every key that starts with it
        # The records found by their own names, and the persons found by a member's (persons are
        # few), each in order and limited, then merged: asked as one IN (COALESCE or UNION inside),
        # PostgreSQL left the name index (0.3 ms -> 10 ms).
        rows = self._query(
            "SELECT * FROM (" + select + records + " AND r.id IN (SELECT researcher_id FROM {names}"
            " WHERE key >= %s AND key < %s)" + cursor + " ORDER BY r.name_key, r.id LIMIT %s) AS own UNION ALL"
            " SELECT * FROM (" + select + "r.id IN (SELECT p.person_id FROM {persons} p JOIN {names} n"
            " ON n.researcher_id = p.record_id WHERE n.key >= %s AND n.key < %s)" + cursor
            + " ORDER BY r.name_key, r.id LIMIT %s) AS persons ORDER BY name_key, id",
            [*keys, *params, limit, *keys, *params, limit])
        found: dict[str, tuple[str, str, bytes]] = {}  # a person found both ways comes twice, side by side
        for row in rows:
            found.setdefault(row["id"], (row["name_key"], row["id"], bytes(row["doc"])))
        return list(found.values())[:limit]

    def person_records(self, researcher_id: str) -> list[str]:
        """The records whose profile this record's is: the person's own record first and its
        members, or the record alone."""
        found = self._persons(None, [researcher_id])
        return next(iter(found.values())) if found else [researcher_id]

    def works_of(self, researcher_id: str | Sequence[str], after: tuple[str, str] | None,
                 limit: int) -> list[tuple[str, str, bytes]]:
        """Works of a researcher (or of a person's records, each work once), newest first, after
        a cursor (sort key, work id)."""
        if not isinstance(researcher_id, str):
            if len(researcher_id) > 1:
                return self._works_of_person(list(researcher_id), after, limit)
            researcher_id = researcher_id[0]
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

    def _works_of_person(self, records: list[str], after: tuple[str, str] | None,
                         limit: int) -> list[tuple[str, str, bytes]]:
        clause, params = self._in("researcher_id", records)
        where = "w.id IN (SELECT work_id FROM {authorships} WHERE " + clause + ")"
        if after is not None:
            where += " AND (w.sort_key < %s OR (w.sort_key = %s AND w.id < %s))"
            params += [after[0], after[0], after[1]]
        rows = self._query("SELECT w.sort_key, w.id, w.doc FROM {works} w WHERE " + where
                           + " ORDER BY w.sort_key DESC, w.id DESC LIMIT %s", [*params, limit])
        return [(row["sort_key"], row["id"], bytes(row["doc"])) for row in rows]

    # -- link requests, as moderators judge them ---------------------------------------------------

    def pending_link_requests(self, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """Link requests waiting for the moderators, oldest first: (opened at, id), after a cursor."""
        where, params = "", []
        if after is not None:
            where, params = " WHERE opened_at > %s OR (opened_at = %s AND id > %s)", [after[0], after[0], after[1]]
        rows = self._query("SELECT opened_at, id FROM {link_requests}" + where + " ORDER BY opened_at, id LIMIT %s",
                           [*params, limit])
        return [(row["opened_at"], row["id"]) for row in rows]

    def link_summary(self, person: str, record: str) -> dict[str, Any]:
        """What two records have in common, for a moderator to judge whether they are one person:
        co-authors, institutions and topics both have, the name forms each is listed under, and
        the years each published in (first, last)."""
        def shared_coauthors() -> list[dict[str, Any]]:
            # Intersected by the database: a prolific record has tens of thousands of co-authors,
            # and a capped list of each would miss shared ones.
            mine, mine_params = self._pairs_of([person])
            theirs, their_params = self._pairs_of([record])
            rows = self._query(
                "SELECT c.id, r.display_name FROM (SELECT other AS id FROM " + mine + " p INTERSECT"
                " SELECT other FROM " + theirs + " q) c JOIN {researchers} r ON r.id = c.id"
                " WHERE c.id <> %s AND c.id <> %s ORDER BY c.id",
                [*mine_params, *their_params, person, record])
            return [{"id": row["id"], "display_name": row["display_name"]} for row in rows]

        def places(rid: str) -> dict[str, str | None]:
            return {r["place"]: json.loads(r["institution"]).get("display_name") for r in self._query(
                "SELECT place, institution FROM {places} WHERE researcher_id = %s", (rid,))}

        def topics(rid: str) -> dict[str, str | None]:
            return {r["topic_id"]: r["display_name"] for r in self._query(
                "SELECT t.topic_id, n.display_name FROM {tallies} t LEFT JOIN {topics} n ON n.id = t.topic_id"
                " WHERE t.researcher_id = %s", (rid,))}

        def names(rid: str) -> list[str]:
            return sorted({shown_name(r["author_name"]) or "" for r in self._query(
                "SELECT DISTINCT author_name FROM {authorships} WHERE researcher_id = %s AND author_name IS NOT NULL",
                (rid,))} - {""})

        def years(rid: str) -> list[int | None]:
            # Undated works sort as year 0000 and say nothing of when; both ends read by index.
            [row] = self._query("SELECT MIN(sort_key) AS first, MAX(sort_key) AS last FROM {authorships}"
                                " WHERE researcher_id = %s AND sort_key >= '0001'", (rid,))
            return [year_of(row["first"]), year_of(row["last"])] if row["first"] else [None, None]

        def shared(of: Any) -> list[dict[str, Any]]:
            mine, theirs = of(person), of(record)
            return [{"id": k, "display_name": mine[k] or theirs[k]} for k in sorted(set(mine) & set(theirs))]

        spans = {"person": years(person), "record": years(record)}
        firsts, lasts = [y[0] for y in spans.values()], [y[1] for y in spans.values()]
        overlap = None
        if None not in firsts and max(firsts) <= min(lasts):  # type: ignore[type-var]
            overlap = [max(firsts), min(lasts)]  # type: ignore[type-var]
        return {"shared_coauthors": shared_coauthors(), "shared_institutions": shared(places),
                "shared_topics": shared(topics), "name_forms": {"person": names(person), "record": names(record)},
                "years": spans, "overlapping_years": overlap}

    # -- the explorer: works, topics and institutions with their researchers and works -----------

    def work(self, work_id: str) -> dict[str, Any] | None:
        """A work's fields as the profiles show it (authorships with their institutions; those of
        records that said "not mine" left out)."""
        listed = self.work_as_listed(work_id)
        if listed is None:
            return None
        decisions = Decisions({row["researcher_id"] for row in self._query(
            "SELECT researcher_id FROM {disowned} WHERE work_id = %s", (work_id,))})
        for row in self._query("SELECT researcher_id, from_record, openalex_id FROM {adopted} WHERE work_id = %s",
                               (work_id,)):
            decisions.adopted[row["researcher_id"]] = (row["from_record"], row["openalex_id"])
        return decisions.shown(listed)

    def work_as_listed(self, work_id: str) -> dict[str, Any] | None:
        """A work's fields as the catalogue last gave them (what OpenAlex lists)."""
        rows = self._query("SELECT fields FROM {works} WHERE id = %s", (work_id,))
        return json.loads(rows[0]["fields"]) if rows else None

    def disowned_works(self, researcher_id: str) -> set[str]:
        """The works this record said are not the person's."""
        return {row["work_id"] for row in self._query(
            "SELECT work_id FROM {disowned} WHERE researcher_id = %s", (researcher_id,))}

    def adopted_works(self, researcher_id: str) -> dict[str, str]:
        """The works this record adopted: work id -> the record it took each from."""
        return {row["work_id"]: row["from_record"] for row in self._query(
            "SELECT work_id, from_record FROM {adopted} WHERE researcher_id = %s", (researcher_id,))}

    def pending_adoption_requests(self, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str]]:
        """Adoption requests waiting for the moderators, oldest first: (opened at, id)."""
        where, params = "", []
        if after is not None:
            where, params = " WHERE opened_at > %s OR (opened_at = %s AND id > %s)", [after[0], after[0], after[1]]
        rows = self._query("SELECT opened_at, id FROM {adoption_requests}" + where
                           + " ORDER BY opened_at, id LIMIT %s", [*params, limit])
        return [(row["opened_at"], row["id"]) for row in rows]

    def topic(self, topic_id: str) -> dict[str, Any] | None:
        """A topic some work carries now: its name, its works and researchers (None: no work does)."""
        rows = self._query(
            "SELECT (SELECT display_name FROM {topics} WHERE id = %s) AS display_name,"
            " (SELECT COUNT(*) FROM {topic_works} WHERE topic_id = %s) AS works,"
            " (SELECT COUNT(*) FROM {tallies} WHERE topic_id = %s) AS researchers",
            (topic_id, topic_id, topic_id))
        return dict(rows[0]) if rows and rows[0]["works"] else None

    def institution(self, institution_id: str) -> dict[str, Any] | None:
        """An OpenAlex institution some work names now, as the newest such work gives it, with
        its works and researchers (None: no work names it)."""
        rows = self._query(
            "SELECT w.fields, (SELECT COUNT(*) FROM {institution_works} WHERE institution_id = %s) AS works,"
            " (SELECT COUNT(*) FROM {places} WHERE place = %s) AS researchers"
            " FROM {works} w WHERE w.id = (SELECT work_id FROM {institution_works} WHERE institution_id = %s"
            " ORDER BY sort_key DESC, work_id DESC LIMIT 1)",
            (institution_id, institution_id, institution_id))
        if not rows:
            return None
        fields = json.loads(rows[0]["fields"])
        given = next(i for a in fields["authorships"] for i in a["institutions"]
                     if i.get("openalex_id") == institution_id)
        return {**given, "works": rows[0]["works"], "researchers": rows[0]["researchers"]}

    def _works_under(self, table: str, column: str, key: str, after: tuple[str, str] | None,
                     limit: int) -> list[tuple[str, str, bytes]]:
        where, params = f"x.{column} = %s", [key]
        if after is not None:
            where += " AND (x.sort_key < %s OR (x.sort_key = %s AND x.work_id < %s))"
            params += [after[0], after[0], after[1]]
        rows = self._query(
            f"SELECT x.sort_key, x.work_id, w.doc FROM {{{table}}} x JOIN {{works}} w ON w.id = x.work_id"
            " WHERE " + where + " ORDER BY x.sort_key DESC, x.work_id DESC LIMIT %s",
            [*params, limit],
        )
        return [(row["sort_key"], row["work_id"], bytes(row["doc"])) for row in rows]

    def works_on_topic(self, topic_id: str, after: tuple[str, str] | None, limit: int) -> list[tuple[str, str, bytes]]:
        """Works carrying a topic, newest first, after a cursor (sort key, work id)."""
        return self._works_under("topic_works", "topic_id", topic_id, after, limit)

    def works_at_institution(self, institution_id: str, after: tuple[str, str] | None,
                             limit: int) -> list[tuple[str, str, bytes]]:
        """Works naming an institution for one of their authors, newest first, after a cursor."""
        return self._works_under("institution_works", "institution_id", institution_id, after, limit)

    def _researchers_under(self, sql: str, key: str, after: tuple[int, str, str] | None,
                           limit: int) -> list[dict[str, Any]]:
        name = "r.name_key" + self.binary_collation  # code point order, whatever the database's locale
        where, params = "", [key]
        if after is not None:
            where = (f" AND (x.works < %s OR (x.works = %s AND ({name} > %s"
                     f" OR ({name} = %s AND r.id > %s))))")
            params += [after[0], after[0], after[1], after[1], after[2]]
        rows = self._query(sql.replace("{where}", where) + f" ORDER BY x.works DESC, {name}, r.id LIMIT %s",
                           [*params, limit])
        return [dict(row) for row in rows]

    def researchers_on_topic(self, topic_id: str, after: tuple[int, str, str] | None,
                             limit: int) -> list[dict[str, Any]]:
        """Researchers with works on a topic: most such works first, then by name (accents and case
        ignored, as search orders them), after a cursor (works, name key, id)."""
        return self._researchers_under(
            "SELECT r.id, r.openalex_id, r.display_name, r.name_key, r.works AS works_count, x.works"
            " FROM {tallies} x JOIN {researchers} r ON r.id = x.researcher_id WHERE x.topic_id = %s{where}",
            topic_id, after, limit)

    def researchers_at_institution(self, institution_id: str, after: tuple[int, str, str] | None,
                                   limit: int) -> list[dict[str, Any]]:
        """Researchers with works naming an institution for them: most such works first, then by
        name, with the first and last year, after a cursor (works, name key, id)."""
        return self._researchers_under(
            "SELECT r.id, r.openalex_id, r.display_name, r.name_key, r.works AS works_count, x.works,"
            " x.first_year, x.last_year FROM {places} x JOIN {researchers} r ON r.id = x.researcher_id"
            " WHERE x.place = %s{where}",
            institution_id, after, limit)

    def docs_between(self, after: int, upto: int) -> list[tuple[str, bytes, int]]:
        """Profiles last rewritten by the batches numbered after `after` up to `upto`."""
        rows = self._query("SELECT id, doc, position FROM {docs} WHERE position > %s AND position <= %s",
                           (after, upto))
        return [(row["id"], bytes(row["doc"]), row["position"]) for row in rows]

    def docs_of(self, researcher_ids: Sequence[str]) -> dict[str, bytes]:
        return {row["id"]: bytes(row["doc"])
                for row in self._rows_in(None, "SELECT id, doc FROM {docs} WHERE {in}", "id", researcher_ids)}

    def changed_since(self, after: int) -> list[tuple[str, bytes, int]]:
        """Profiles rewritten after a position, with theirs: how API caches stay fresh."""
        rows = self._query("SELECT id, doc, position FROM {docs} WHERE position > %s", (after,))
        return [(row["id"], bytes(row["doc"]), row["position"]) for row in rows]


class SQLiteProfilesView(ProfilesView, SQLiteSqlView):
    GROUPS_BEHIND = True


class PostgresProfilesView(ProfilesView, PostgresSqlView):
    pass
