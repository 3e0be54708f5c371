"""`peerledger replay`: rebuild read models from the event log.

`replay()` builds each projection into a new version (bootstrap/versions.py) while the current
one keeps serving, then switches readers over in one transaction once the new version has
caught up with the log. Interrupted, the next run resumes the same version from its tracking
rows. The previous version's tables stay until `drop_old()`.

`verify()` (`--verify`) rebuilds into scratch tables and reports every row that differs from the
live ones. Run it while writes are quiet: events recorded during the rebuild reach the scratch
tables and the live ones at different moments. Columns a rebuild numbers differently (batch
positions) and the trust history (stamped when processed) are left out of the comparison.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from projections.runner import BatchProjectionRunner, bulk_catch_up, catch_up_together
from bootstrap.registry import PROJECTIONS, READS, VIEW_CLASSES
from bootstrap.services import Services, store_env
from bootstrap.settings import Settings
from adapters.sqlstore import postgres_conninfo
from bootstrap.versions import version_prefix

NEARLY_CAUGHT_UP = 1_000  # events (or changes) left behind when the switch's last catch-up starts
DROP_GRACE_SECONDS = 60.0  # a retired version is kept at least this long after the switch


class ReplayRunningError(Exception):
    """Another `peerledger replay` holds this store."""


@dataclass
class Built:
    projection: str
    version: int
    previous: int  # the version readers used before the switch
    resumed: bool
    events: int  # processed by this run
    unit: str  # events, or for a projection built from other read models, records it looked at


@dataclass
class Dropped:
    projection: str
    version: int
    storage: list[str]


def with_readers(names: list[str]) -> list[str]:
    """`names` and every projection built from them (transitively), each after what it reads."""
    chosen = set(names)
    while True:
        more = {p for p, reads in READS.items() if chosen & set(reads)} - chosen
        if not more:
            break
        chosen |= more
    ordered: list[str] = []
    for name in PROJECTIONS:
        for upstream in READS.get(name, ()):
            if upstream in chosen and upstream not in ordered:
                ordered.append(upstream)
        if name in chosen and name not in ordered:
            ordered.append(name)
    return ordered


def replay(services: Services, names: list[str] | None = None, progress: Progress | None = None,
           on_batch: Callable[[], None] | None = None) -> list[Built]:
    """Build `names` (all by default, and what is built from them) into new versions, resuming an
    interrupted build, and switch readers over to them together once caught up with the log."""
    progress = progress or Progress(None)
    chosen = with_readers(names or list(PROJECTIONS))
    with replay_lock(services.settings):
        rows = services.versions.all()
        plan: dict[str, int] = {}
        resumed: dict[str, bool] = {}
        for name in chosen:
            row = rows[name]
            reads = ",".join(f"{up}:{plan.get(up, rows[up].version)}" for up in sorted(READS.get(name, ())))
            if row.building is not None and (row.building_reads or "") == reads:
                plan[name], resumed[name] = row.building, True
                continue
            # A fresh build; an unfinished one built from other versions of its inputs is dropped.
            if row.building is not None:
                drop_version(services, name, row.building)
            plan[name], resumed[name] = row.version + 1, False
            drop_version(services, name, plan[name])
            services.versions.begin(name, plan[name], reads)
        views = {name: services.open_view(name, version=plan[name]) for name in chosen}
        try:
            runners = {name: services.runners_for(name, views[name], views) for name in chosen}
            every = [runner for name in chosen for runner in runners[name]]

            ticking = threading.Lock()

            def tick() -> None:
                with ticking:
                    progress.tick()
                    if on_batch is not None:
                        on_batch()

            processed = dict.fromkeys(chosen, 0)
            # Projections read from the logs are built together: each log is read and decoded once
            # for every projection that follows it, the logs side by side, each in its thread (the
            # database works for one while Python decodes another). Those built from other read
            # models come after them.
            for stage in ([n for n in chosen if n not in READS], [n for n in chosen if n in READS]):
                if not stage:
                    continue
                for name in stage:
                    progress.begin(name, plan[name], runners[name], resumed=resumed[name], bar=False)
                progress.begin(", ".join(stage), None, [r for name in stage for r in runners[name]], resumed=False)
                by_log: dict[str, list[Any]] = {}
                owner: dict[int, str] = {}
                derived = []
                for name in stage:
                    for runner in runners[name]:
                        if isinstance(runner, BatchProjectionRunner):
                            by_log.setdefault(runner.app.name, []).append(runner)
                            owner[id(runner)] = name
                        else:
                            derived.append((name, runner))
                with (deferred_documents(views[name] for name in stage),
                      ThreadPoolExecutor(max(1, len(by_log)), thread_name_prefix="replay") as pool):
                    for future in [pool.submit(catch_up_together, group, tick) for group in by_log.values()]:
                        for runner_id, n in future.result().items():
                            processed[owner[runner_id]] += n
                for name, runner in derived:
                    processed[name] += runner.catch_up(on_batch=tick)
                progress.end()
            # The log moved on meanwhile: catch up again until little is left, then once more
            # just before the switch.
            while (behind := sum(max(0, r.head() - r.position()) for r in every)) > NEARLY_CAUGHT_UP:
                progress.note(f"catching up with {behind:,} events recorded meanwhile")
                for name in chosen:
                    processed[name] += sum(runner.catch_up(on_batch=tick) for runner in runners[name])
            for name in chosen:
                processed[name] += sum(runner.catch_up() for runner in runners[name])
            services.versions.switch(plan, time.time())
            # The retired versions stop where they are (refused on PostgreSQL; in the other processes
            # once they notice): bring the new ones up to the log's head, past them.
            for name in chosen:
                processed[name] += sum(runner.catch_up() for runner in runners[name])
        finally:
            services.close_views(views.values())
    return [Built(name, plan[name], rows[name].version, resumed[name], processed[name],
                  "records" if name in READS else "events") for name in chosen]


@contextmanager
def deferred_documents(views: Iterable[Any]) -> Iterator[None]:
    """While versions are built from scratch, the views that can (profiles) write their documents
    once at the end instead of in every batch (ProfilesView.documents_deferred): before the
    projections built from them read them, and before any switch."""
    with ExitStack() as stack:
        for view in views:
            if hasattr(view, "documents_deferred"):
                stack.enter_context(view.documents_deferred())
        yield


@contextmanager
def replay_lock(settings: Settings) -> Iterator[None]:
    """One replay at a time per store; released when the process ends, however it ends."""
    if settings.is_postgres:
        conn = psycopg.connect(postgres_conninfo(settings.store_env), autocommit=True, connect_timeout=10)
        try:
            key = f"peerledger replay {settings.store_env.get('POSTGRES_SCHEMA', 'public')}"
            row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key]).fetchone()
            if not (row and row[0]):
                raise ReplayRunningError("another `peerledger replay` is running on this store")
            yield
        finally:
            conn.close()
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "replay.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReplayRunningError("another `peerledger replay` is running on this data folder") from None
        yield


def old_versions(services: Services, names: list[str] | None = None) -> list[Dropped]:
    """The versions no reader uses any more whose tables (or files) are still there."""
    rows = services.versions.all()
    found = []
    for name in names or list(PROJECTIONS):
        for version in range(1, rows[name].version):
            storage = version_storage(services, name, version)
            if storage:
                found.append(Dropped(name, version, storage))
    return found


def drop_old(services: Services, names: list[str] | None = None, grace: float = DROP_GRACE_SECONDS,
             now: Callable[[], float] = time.time) -> tuple[list[Dropped], dict[str, float]]:
    """Drop the versions readers left at least `grace` seconds ago (every process has moved by
    then); returns what was dropped, and per projection kept back, the seconds still to wait."""
    with replay_lock(services.settings):
        rows = services.versions.all()
        dropped, waiting = [], {}
        for old in old_versions(services, names):
            retired_at = rows[old.projection].retired_at
            if retired_at is not None and now() - retired_at < grace:
                waiting[old.projection] = grace - (now() - retired_at)
                continue
            drop_version(services, old.projection, old.version)
            dropped.append(old)
        return dropped, waiting


def _tables(services: Services, projection: str, version: int) -> list[str]:
    prefix = version_prefix(projection, version)
    view_class = VIEW_CLASSES[projection][services.settings.persistence_module]
    return [f"{prefix}_{table}" for table in view_class.TABLES] + [f"{prefix}_tracking"]


def _sqlite_path(services: Services, projection: str, version: int) -> str:
    prefix = version_prefix(projection, version)
    return store_env(services.settings, prefix)[f"{prefix.upper()}_SQLITE_DBNAME"]


@contextmanager
def _postgres(services: Services, projection: str, version: int) -> Iterator[tuple[Any, str]]:
    """A connection to where the version's tables are (a view may be configured elsewhere)."""
    prefix = version_prefix(projection, version)
    factory: Any = InfrastructureFactory.construct(Environment(prefix, store_env(services.settings, prefix)))
    try:
        with factory.datastore.get_connection() as conn:
            yield conn, factory.datastore.schema
    finally:
        factory.close()


def version_storage(services: Services, projection: str, version: int) -> list[str]:
    """The tables (PostgreSQL) or the file (SQLite) of one version of a read model, if it has any."""
    if not services.settings.is_postgres:
        path, tables = _sqlite_tables(services, projection, version)
        return [path] if tables & _sqlite_tables_in(path) else []
    with _postgres(services, projection, version) as (conn, schema):
        found = []
        for table in _tables(services, projection, version):
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS found", [f'"{schema}"."{table}"']).fetchone()
            if (row["found"] if isinstance(row, dict) else row[0]):
                found.append(table)
        return found


def drop_version(services: Services, projection: str, version: int) -> None:
    """Remove one version's tables (nothing if there are none).

    On SQLite a view's file may also hold an application's events (version 1 of the invitations
    view shares invitations.sqlite with the Invitations application): only the view's own tables
    go, and the file only once nothing else is in it."""
    if not services.settings.is_postgres:
        path, tables = _sqlite_tables(services, projection, version)
        if not tables & _sqlite_tables_in(path):
            return
        with closing(sqlite3.connect(path, timeout=30)) as db:
            for table in sorted(tables):
                db.execute(f'DROP TABLE IF EXISTS "{table}"')
            db.commit()
        if not _sqlite_tables_in(path):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(f"{path}{suffix}"):
                    os.remove(f"{path}{suffix}")
        return
    with _postgres(services, projection, version) as (conn, schema):
        for table in _tables(services, projection, version):
            conn.execute(f'DROP TABLE IF EXISTS "{schema}"."{table}"'.encode())


def _sqlite_tables(services: Services, projection: str, version: int) -> tuple[str, set[str]]:
    """A version's SQLite file and the tables its view keeps there."""
    view_class = VIEW_CLASSES[projection][services.settings.persistence_module]
    return _sqlite_path(services, projection, version), {f"{view_class.SQLITE_PREFIX}_{t}" for t in view_class.TABLES} | {"tracking"}


def _sqlite_tables_in(path: str) -> set[str]:
    if not os.path.exists(path):
        return set()
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


class Progress:
    """A rebuild's progress, one stage at a time (the projections built side by side): on a terminal a bar redrawn in place (done,
    speed, time left); otherwise a plain line every few seconds. `out` None: silent."""

    def __init__(self, out: TextIO | None, *, tty: bool | None = None, every: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.tty = bool(out is not None and out.isatty()) if tty is None else tty
        self.every = every if every is not None else (0.2 if self.tty else 5.0)
        self.clock = clock
        self.name = ""
        self.runners: list[Any] = []
        self._from = 0
        self._started = self._shown = 0.0

    def begin(self, name: str, version: int | None, runners: list[Any], *, resumed: bool, bar: bool = True) -> None:
        """Announce `name` at `version` (None: no line), and with `bar`, show its progress from now on."""
        done, total = sum(r.position() for r in runners), sum(r.head() for r in runners)
        if version is not None:
            unit = "events" if all(isinstance(r, BatchProjectionRunner) for r in runners) else "batches"
            self._write(f"{name}: {'resuming' if resumed else 'building'} version {version}"
                        + (f" at {done:,} of {max(done, total):,} {unit}" if resumed else "") + "\n")
        if not bar:
            return
        self.name, self.runners = name, runners
        self._started = self._shown = self.clock()
        self._from = done
        if self.tty:
            self._show()

    def tick(self) -> None:
        if self.out is not None and self.clock() - self._shown >= self.every:
            self._show()

    def end(self) -> None:
        self._show()
        if self.tty:
            self._write("\n")

    def note(self, line: str) -> None:
        self._write(f"{line}\n")

    def _unit(self) -> str:
        # A projection built from other read models counts their batches (its feeds), not events.
        return "events" if all(isinstance(r, BatchProjectionRunner) for r in self.runners) else "batches"

    def _counts(self) -> tuple[int, int]:
        # Positions in each upstream log (or feed): what is done of everything there is.
        done = sum(r.position() for r in self.runners)
        return done, max(done, sum(r.head() for r in self.runners))

    def _show(self) -> None:
        if self.out is None:
            return
        self._shown = now = self.clock()
        done, total = self._counts()
        elapsed = now - self._started
        rate = (done - self._from) / elapsed if elapsed > 0 else 0.0
        left = f"{_duration((total - done) / rate)} left" if rate > 0 else "time left unknown"
        if total == done:
            left = f"done in {_duration(elapsed)}"
        fraction = done / total if total else 1.0
        unit = self._unit()
        if self.tty:
            bar = "#" * int(30 * fraction) + "." * (30 - int(30 * fraction))
            self._write(f"\r{self.name:<12} [{bar}] {fraction:6.1%}  {done:,}/{total:,} {unit}  {rate:,.0f}/s"
                        f"  {left}\x1b[K")
        else:
            self._write(f"{self.name}: {fraction:.0%} ({done:,} of {total:,} {unit}), {rate:,.0f} {unit}/s, {left}\n")

    def _write(self, text: str) -> None:
        if self.out is not None:
            self.out.write(text)
            self.out.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class Difference:
    table: str
    only_live: list[Any] = field(default_factory=list)
    only_rebuilt: list[Any] = field(default_factory=list)


@dataclass
class Verified:
    projection: str
    rows: int
    events: int
    differences: list[Difference]


def verify(services: Services, names: list[str] | None = None,
           progress: Callable[[str], None] = lambda _: None) -> list[Verified]:
    results = []
    for name in names or list(PROJECTIONS):
        live = getattr(services, f"{name}_view")
        prefix = f"verify{uuid.uuid4().hex[:6]}_{name}"
        scratch = services.open_view(name, table_prefix=prefix)
        try:
            progress(f"{name}: rebuilding from the event log")
            # As replay builds: set-wise first where a projection can, so the live views (built
            # event by event) check that pass too.
            with deferred_documents([scratch]):
                events = sum(bulk_catch_up(runner) + runner.catch_up() if isinstance(runner, BatchProjectionRunner)
                             else runner.catch_up() for runner in services.runners_for(name, scratch))
            differences, rows = [], 0
            for table in live.TABLES:
                if "*" in live.VERIFY_SKIP.get(table, ()):
                    continue
                mine, theirs = live.dump(table), scratch.dump(table)
                rows += len(mine)
                only_live = sorted(set(mine) - set(theirs), key=repr)
                only_rebuilt = sorted(set(theirs) - set(mine), key=repr)
                if only_live or only_rebuilt:
                    differences.append(Difference(table, only_live, only_rebuilt))
            results.append(Verified(name, rows, events, differences))
        finally:
            drop(services, scratch, prefix)
    return results


def drop(services: Services, view: Any, prefix: str) -> None:
    """Remove a scratch view's tables (or its SQLite file)."""
    if services.settings.is_postgres:
        with view.datastore.get_connection() as conn:
            for table in (*view._tables.values(),):
                conn.execute(f"DROP TABLE IF EXISTS {table}".encode())
    else:
        path = services.settings.data_dir / f"{prefix.lower()}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.remove(f"{path}{suffix}")
