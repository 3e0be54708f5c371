"""Wiring: builds the applications, views and projection runners for the configured store.

One application per business area, each with its own table (PostgreSQL) or file (SQLite).
On SQLite every application and every view gets its own file under the data folder, since
eventsourcing's SQLite tables have fixed names.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from domain.accounts.application import Accounts
from domain.catalogue.application import Catalogue
from domain.claims.application import Claims
from domain.follows.application import Follows
from domain.invitations.application import Invitations
from projections.followers.view import FollowersView
from projections.history.view import HistoryView
from projections.invitations.view import InvitationsView
from projections.moderation.view import ModerationView
from projections.profiles.projection import ProfilesProjection
from projections.profiles.view import ProfilesView
from projections.runner import BatchProjectionRunner
from projections.sqlview import changes_channel, view_changes
from projections.trust.runner import TrustRunner
from projections.trust.view import TrustView
from adapters.mail import FolderMailer, SmtpMailer
from adapters.notification_store import NotificationStore
from adapters.orcid import OrcidSignIn
from adapters.passwords import Argon2Hasher
from adapters.ratelimit import RateLimiter
from adapters.records import ProfileRecords
from bootstrap.settings import Settings
from adapters.postgres_sessions import FACTORY_TOPIC as POSTGRES_FACTORY_TOPIC
from adapters.sqlite_writers import FACTORY_TOPIC as SQLITE_FACTORY_TOPIC
from adapters.sqlstore import PostgresStore, SQLiteStore, SqlStore, postgres_conninfo
from adapters.logwatch import LogWatch
from adapters.vault import SqlVault
from bootstrap.registry import AREAS, POSTGRES, PROJECTIONS, READ_MODEL, READS, SQLITE, VIEW_CLASSES
from bootstrap.standby import StandbyReads
from bootstrap.versions import ProjectionVersions, postgres_fence, version_prefix

log = logging.getLogger("peerledger.versions")

RECORDERS = {SQLITE: "adapters.recorders:SQLiteBatchRecorder", POSTGRES: "adapters.recorders:PostgresBatchRecorder"}
# (key, attempts, window in seconds, what): claim-code mails, counted before each is sent.
CLAIM_CODE_MAIL_LIMITS = (
    ("claim code mails:claimant:{account}", 10, 86_400, "claim codes mailed for your claims today"),
    ("claim code mails:address:{mailbox}", 3, 3_600, "claim codes mailed to this address in the last hour"),
    ("claim code mails:address-day:{mailbox}", 5, 86_400, "claim codes mailed to this address today"),
)
SQLITE_LOCK_SECONDS = 30  # how long an embedded write waits for another process's (SQLITE_LOCK_TIMEOUT)
RETIRED_VIEWS_CLOSE_AFTER = 10.0  # seconds: requests still reading a retired version finish first


class OutdatedReadModelsError(RuntimeError):
    """Read models whose stored rows an older PeerLedger built, with a meaning this one changed."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"the read models {', '.join(names)} were built by an older PeerLedger: run "
                         f"`peerledger replay {' '.join(names)}`, then start again")
        self.names = names


def store_env(settings: Settings, name: str) -> dict[str, str]:
    """eventsourcing settings for one application or view called `name`."""
    env = dict(settings.store_env)
    prefix = name.upper()
    if settings.is_postgres:
        # Several applications and views per process, each with its own pool: small pools that
        # grow on demand keep a few processes well inside PostgreSQL's 100 connections.
        env.setdefault("POSTGRES_POOL_SIZE", "1")
        env.setdefault("POSTGRES_MAX_OVERFLOW", "9")
        # After the server restarts, pooled connections are dead: each is checked when taken
        # (a round trip on loopback) so the first request after a restart gets a live one, and
        # a server that is down fails a request within 10 s (the follow command timeout) instead of 30.
        env.setdefault("POSTGRES_PRE_PING", "y")
        env.setdefault("POSTGRES_CONNECT_TIMEOUT", "10")
        env["PERSISTENCE_MODULE"] = POSTGRES_FACTORY_TOPIC  # the session settings (JIT off)
    if settings.persistence_module == "eventsourcing.sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env.setdefault(f"{prefix}_SQLITE_DBNAME", str(settings.data_dir / f"{name.lower()}.sqlite"))
        env.setdefault(f"{prefix}_SQLITE_LOCK_TIMEOUT", env.get("SQLITE_LOCK_TIMEOUT") or str(SQLITE_LOCK_SECONDS))
        # Writes wait for the write lock up to that timeout, also beside another process's writes.
        env["PERSISTENCE_MODULE"] = SQLITE_FACTORY_TOPIC
    if settings.persistence_module in RECORDERS and name in (Catalogue.name, Follows.name):  # batch writers
        env.setdefault(f"{prefix}_APPLICATION_RECORDER_TOPIC", RECORDERS[settings.persistence_module])
    return env


def secret_key(settings: Settings) -> bytes:
    """The configured secret, or (embedded only) one generated once into the data folder."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def derive(secret: bytes, purpose: str) -> bytes:
    """One secret, a separate key per purpose (a leak of one use does not expose the others)."""
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def sql_store(settings: Settings) -> SqlStore:
    if settings.is_postgres:
        return PostgresStore(settings.store_env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(settings.data_dir / "security.sqlite")


def mailer(settings: Settings) -> Any:
    if settings.smtp_host:
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            tls=settings.smtp_tls,
            user=settings.smtp_user,
            password=settings.smtp_password,
            sender=settings.smtp_from,
        )
    return FolderMailer(settings.data_dir / "mail", settings.smtp_from)


# How long a runner woken by the log watch waits before looking anyway (a safety net for a wake-up
# lost while LISTEN reconnects, or a write by another process on SQLite).
WATCHED_IDLE_WAIT = 1.0


class Services:
    """Everything a process needs to serve requests or run workers; close() releases it all.

    Each projection's view (`<name>_view`) and runners are those of the version readers use; with
    follow_versions() the process moves over when `peerledger replay` switches readers."""

    catalogue: Catalogue
    accounts: Accounts
    claims: Claims
    follows: Follows
    invitations: Invitations
    profiles_view: ProfilesView
    moderation_view: ModerationView
    followers_view: FollowersView
    invitations_view: InvitationsView
    history_view: HistoryView
    trust_view: TrustView

    def __init__(self, settings: Settings, *, allow_outdated: bool = False) -> None:
        """`allow_outdated`: open read models an older version built (replay rebuilds them);
        otherwise they are refused with OutdatedReadModelsError."""
        self.settings = settings
        secret = secret_key(settings)
        self.jwt_secret = derive(secret, "jwt").hex()
        self.sql = sql_store(settings)
        with self.sql.schema_lock():  # creating tables
            self.vault = SqlVault(self.sql, derive(secret, "email"))
            self.rate_limiter = RateLimiter(self.sql, derive(secret, "rate-limit"))
            self.notifications = NotificationStore(self.sql)
            self.hasher = Argon2Hasher(
                time_cost=settings.argon2_time_cost,
                memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
                max_concurrent=settings.hash_concurrency,
            )
            self.mailer = mailer(settings)
            # What claims and follows commands know of a record (their domain ports), read from the
            # profiles view readers use at the time of the call.
            self.records = ProfileRecords(lambda: self.profiles_view)
            self.orcid = OrcidSignIn(
                client_id=settings.orcid_client_id,
                client_secret=settings.orcid_client_secret,
                authorize_url=settings.orcid_authorize_url,
                token_url=settings.orcid_token_url,
                redirect_uri=settings.orcid_redirect_uri,
                state_secret=derive(secret, "orcid-state"),
            )
            # Every business area's application (bootstrap/registry.py), by name and as an attribute.
            self.applications: dict[str, Any] = {}
            self.log_watch = LogWatch()  # wakes the readers of a log when it records events
            self.log_watch.on_reconnect = self.refresh_pools
            for area in AREAS:
                app = self.applications[area.name] = area.build(self, store_env(settings, area.name))
                setattr(self, area.attribute, app)
                self.log_watch.attach(app)
            self.versions = ProjectionVersions(self.sql, PROJECTIONS)
            self._factories: dict[int, Any] = {}  # id(view) -> the factory that opened it
            current = self.versions.all()
            self._open = {name: current[name].version for name in PROJECTIONS}
            for name in PROJECTIONS:
                setattr(self, f"{name}_view", self.open_view(name, version=self._open[name]))
            self.outdated = [name for name in PROJECTIONS if not getattr(self, f"{name}_view").schema_current]
            if self.outdated and not allow_outdated:
                self._close_stores()
                raise OutdatedReadModelsError(self.outdated)
            # Public reads from a hot standby, if there is one (bootstrap/standby.py).
            self.standby = StandbyReads(settings, store_env, self._open) if settings.read_postgres_host else None
            self._runners = {name: self.runners_for(name, getattr(self, f"{name}_view")) for name in PROJECTIONS}
            # In this order: trust, last, reads the profile documents and follower counts.
            self.runners = [runner for name in PROJECTIONS for runner in self._runners[name]]
        self._lifecycle = threading.RLock()  # which runners run, and which views readers use
        self._started: dict[str, list[Any]] = {}  # projection -> its runners this process runs
        self._pending: dict[str, list[Any]] = {}  # projection -> runners of a version not yet read
        self._listeners: list[Callable[[dict[str, Any]], Callable[[], None]]] = []
        self._switching = threading.Lock()
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None
        self._timers: list[threading.Timer] = []
        self._unwatch: dict[int, list[Callable[[], None]]] = {}  # id(runner) -> its log watches
        self._log_watch_started = False

    def claim_code_quota(self, account_id: UUID, mailbox: str) -> None:
        """Claim codes mailed: per claimant a day, per address an hour and a day (a claimant
        cannot flood an address, nor many claimants one address)."""
        scale = self.settings.rate_limit_scale
        for key, limit, window, what in CLAIM_CODE_MAIL_LIMITS:
            self.rate_limiter.hit(key.format(account=account_id, mailbox=mailbox), int(limit * scale), window, what)

    @property
    def profiles(self) -> ProfilesProjection:
        return self._runners["profiles"][0].projection

    @property
    def profiles_runner(self) -> BatchProjectionRunner:
        return self._runners["profiles"][0]

    def runner_of(self, projection: str, area: str) -> Any:
        """The runner that brings `area`'s events into `projection`'s read model."""
        return next(r for r in self._runners[projection] if r.app.name == area)

    @property
    def followers_runner(self) -> BatchProjectionRunner:
        return self._runners["followers"][0]

    @property
    def invitations_runner(self) -> BatchProjectionRunner:
        return self._runners["invitations"][0]

    @property
    def moderation_runner(self) -> BatchProjectionRunner:
        return self._runners["moderation"][0]

    @property
    def trust_runner(self) -> TrustRunner:
        return self._runners["trust"][0]

    def read_view(self, projection: str) -> Any:
        """The view public reads use: the standby's, if there is one, else the primary's."""
        if self.standby is not None and projection in self.standby.views:
            return self.standby.views[projection]
        return getattr(self, f"{projection}_view")

    def version_of(self, projection: str) -> int:
        """The version of the projection's read model this process reads."""
        return self._open[projection]

    def open_view(self, projection: str, table_prefix: str | None = None, *, version: int | None = None) -> Any:
        """A projection's view at `version` (bootstrap/versions.py), or in other tables given by
        `table_prefix` (a scratch rebuild to compare)."""
        name = table_prefix or version_prefix(projection, version or 1)
        env = store_env(self.settings, name)
        if not self.settings.is_postgres:
            env["SQLITE_SYNCHRONOUS"] = "NORMAL"  # a read model's commit need not wait for the disk (adapters/sqlite_writers.py)
        factory: Any = InfrastructureFactory.construct(Environment(name, env))
        view = factory.tracking_recorder(VIEW_CLASSES[projection][self.settings.persistence_module])
        self._factories[id(view)] = factory
        view.schema_current = view.schema_is_current()  # and a new view is stamped with its version now
        if version is not None and version == self._open.get(projection):
            self._announce_changes(projection, view)  # a version being built stays silent until its switch
        if version is not None and self.settings.is_postgres:
            view.fence = postgres_fence(view, projection, version)
        return view

    def _announce_changes(self, projection: str, view: Any) -> None:
        """Have the view readers use NOTIFY its changes (PostgreSQL), so that its readers in other
        processes (trust, the API's caches) are woken."""
        if self.settings.is_postgres:
            view.changes_channel = changes_channel(projection)

    def close_views(self, views: Any) -> None:
        for view in views:
            factory = self._factories.pop(id(view), None)
            if factory is not None:
                factory.close()

    def runners_for(self, projection: str, view: Any, reads: Mapping[str, Any] | None = None) -> list[Any]:
        """The runners that build `projection` into `view`: one per upstream application. A
        projection built from other read models reads `reads[name]`, else the current ones."""
        if projection not in READ_MODEL:
            raise ValueError(f"no projection called {projection!r}")
        runners = READ_MODEL[projection].runners(self, view, self._upstream(projection, reads))
        for runner in runners:  # each batch it commits wakes the view's readers in this process
            runner.on_applied = functools.partial(self.log_watch.saved, view_changes(projection))
        return runners

    def _upstream(self, projection: str, reads: Mapping[str, Any] | None) -> dict[str, Any]:
        return {name: (reads or {}).get(name) or getattr(self, f"{name}_view") for name in READS.get(projection, ())}

    def start_projections(self) -> None:
        for name in PROJECTIONS:
            self.start_runners(name)

    def start_runners(self, projection: str) -> None:
        """Catch the projection's runners up, then follow the log in their threads. After a
        switch (follow_versions) the runners of the new version run instead."""
        for runner in self._runners_to_run(projection):
            try:
                runner.catch_up()  # outside the lock: a long backlog must not hold up a switch
            except Exception:  # noqa: BLE001 - one bad event must not keep the process from starting
                log.exception("projection %s could not catch up; its thread keeps trying", runner.name)
        with self._lifecycle:
            for runner in self._started.pop(projection, []):
                self._stop(runner)
            runners = self._runners_to_run(projection)
            for runner in runners:
                self._start(runner)
            self._started[projection] = runners

    def stop_runners(self, projection: str) -> None:
        with self._lifecycle:
            for runner in self._started.pop(projection, []):
                self._stop(runner)

    def watch_log(self, application: str, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` when `application` records events (here at once; from other processes
        through LISTEN/NOTIFY on PostgreSQL). Returns the way to stop."""
        self.watch_store()
        return self.log_watch.watch(application, wake)

    def watch_store(self) -> None:
        """Keep the log watch's connection open (PostgreSQL) even with nobody to wake, so that
        pooled connections are refreshed as soon as the server is back (refresh_pools)."""
        with self._lifecycle:
            if not self._log_watch_started and self.settings.is_postgres:
                channels = {app.recorder.channel_name: name for name, app in self.applications.items()}
                channels |= {changes_channel(name): view_changes(name) for name in PROJECTIONS}
                self.log_watch.listen(postgres_conninfo(self.settings.store_env), channels)
            self._log_watch_started = True

    def refresh_pools(self) -> None:
        """After PostgreSQL restarted: check every pooled connection now and replace the dead ones.
        Otherwise each checkout that meets a dead connection (pre-ping) sleeps psycopg_pool's
        back-off, a second and doubling, before the next one: a few seconds per pool."""
        if not self.settings.is_postgres:
            return
        pools = [getattr(getattr(app.factory, "datastore", None), "pool", None) for app in self.applications.values()]
        pools += [getattr(getattr(f, "datastore", None), "pool", None) for f in list(self._factories.values())]
        pools.append(getattr(self.sql, "pool", None))
        for pool in pools:
            if pool is None:
                continue
            try:
                pool.check()
            except Exception:  # noqa: BLE001 - the server went away again: pre-ping still guards each checkout
                log.warning("refreshing a connection pool failed", exc_info=True)

    def _start(self, runner: Any) -> None:
        """Run it in its thread, woken when a log it reads records events."""
        self._stop(runner)
        runner.start()
        self._unwatch[id(runner)] = [self.watch_log(name, runner.wake) for name in runner.applications]
        if self._unwatch[id(runner)]:
            runner.idle_wait = WATCHED_IDLE_WAIT

    def _stop(self, runner: Any) -> None:
        for unwatch in self._unwatch.pop(id(runner), []):
            unwatch()
        runner.stop()

    def _runners_to_run(self, projection: str) -> list[Any]:
        with self._lifecycle:
            return self._pending.get(projection) or self._runners[projection]

    # -- moving to the versions readers use (peerledger replay) -----------------------------------

    def on_switch(self, listener: Callable[[dict[str, Any]], Callable[[], None]]) -> Callable[[], None]:
        """`listener(new views)` prepares what depends on them (the API's replicas, warmed) and
        returns what makes them current; it runs as readers move. Returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def follow_versions(self, interval: float = 1.0) -> None:
        """Check the versions table every `interval` seconds and move this process's readers and
        runners to the versions `peerledger replay` switched to."""
        with self._lifecycle:
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._follow, args=(interval,), name="projection-versions",
                                                 daemon=True)
                self._watcher.start()

    def _follow(self, interval: float) -> None:
        # A poll, on purpose: the table changes once per `peerledger replay`, written by another
        # process, on SQLite too (no notifications); a second before moving over costs nothing,
        # while a missed wake-up would leave this process reading a retired version.
        while not self._closing.wait(interval):
            try:
                self.check_versions()
            except Exception:  # noqa: BLE001 - the store may be away: keep serving, look again
                log.exception("checking the read models' versions failed; trying again")

    def check_versions(self) -> bool:
        """Move to the versions readers should use, if they changed; True once moved."""
        with self._switching:
            rows = self.versions.all()
            wanted = {name: rows[name].version for name in PROJECTIONS
                      if name in rows and rows[name].version != self._open[name]}
            return bool(wanted) and self._switch(wanted)

    def _switch(self, wanted: dict[str, int]) -> bool:
        """Open the new versions, run their runners where this process ran the old ones, wait
        until each has caught up with the old one, then move readers over all at once."""
        names = [name for name in PROJECTIONS if name in wanted]
        log.info("moving to %s", ", ".join(f"{name} version {wanted[name]}" for name in names))
        views = {name: self.open_view(name, version=wanted[name]) for name in names}
        new = {name: self.runners_for(name, views[name], views) for name in names}
        old = {name: self._runners[name] for name in names}
        with self._lifecycle:
            self._pending.update(new)
            for name in names:
                if name in self._started:  # the old version is retired: its runners have no more to do
                    for runner in self._started[name]:
                        self._stop(runner)
                    for runner in new[name]:
                        self._start(runner)
                    self._started[name] = new[name]
        if not self._wait_until_caught_up(names, old, new, wanted):
            with self._lifecycle:
                for name in names:
                    self._pending.pop(name, None)
                    if self._started.get(name) is new[name]:
                        for runner in new[name]:
                            self._stop(runner)
                        if not self._closing.is_set():
                            for runner in old[name]:
                                self._start(runner)
                        self._started[name] = old[name]
            self.close_views(views.values())
            return False
        commits = [listener(views) for listener in list(self._listeners)]
        with self._lifecycle:
            retired = [getattr(self, f"{name}_view") for name in names]
            for name in names:
                setattr(self, f"{name}_view", views[name])
                self._announce_changes(name, views[name])
                self._runners[name] = new[name]
                self._pending.pop(name, None)
            self.runners = [runner for name in PROJECTIONS for runner in self._runners[name]]
            for commit in commits:
                commit()
            for name in names:  # last: once a process says it moved, all of it has
                self._open[name] = wanted[name]
        timer = threading.Timer(RETIRED_VIEWS_CLOSE_AFTER, self.close_views, args=(retired,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)
        log.info("readers moved to %s", ", ".join(f"{name} version {wanted[name]}" for name in names))
        return True

    def _wait_until_caught_up(self, names: list[str], old: dict[str, list[Any]], new: dict[str, list[Any]],
                              wanted: dict[str, int]) -> bool:
        """Until every new runner is at least where the old one stopped (the old version no longer
        moves: refused on PostgreSQL, stopped here otherwise), so no reader sees anything older
        than before. A runner built from other read models: until it has read them as they were
        once the others caught up. False if the versions changed again meanwhile, or on close."""
        targets: dict[int, int] = {}
        checked = time.monotonic()
        while not self._closing.is_set():
            pairs = [(o, n) for name in names for o, n in zip(old[name], new[name], strict=True)]
            if all(n.position() >= o.position() for o, n in pairs if isinstance(n, BatchProjectionRunner)):
                derived = [n for _, n in pairs if not isinstance(n, BatchProjectionRunner)]
                if all(n.position() >= targets.setdefault(id(n), n.head()) for n in derived):
                    return True
            if time.monotonic() - checked >= 1.0:
                checked = time.monotonic()
                rows = self.versions.all()
                if any(rows[name].version != wanted[name] for name in names):
                    return False
            # Polled: only while a switch waits for the new version's runners, a few seconds at most.
            self._closing.wait(0.05)
        return False

    def wait_for_projections(self, timeout: float = 10.0) -> bool:
        """Until every runner has processed its application's log as it is now (read-your-writes)."""
        return all(runner.wait(runner.head(), timeout) for runner in self.runners)

    def close(self) -> None:
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join(timeout=15)
        for timer in self._timers:
            timer.cancel()
        with self._lifecycle:
            running = [runner for runners in (*self._started.values(), *self._pending.values()) for runner in runners]
        for runner in [*self.runners, *running]:
            self._stop(runner)
        self.log_watch.close()
        if self.standby is not None:
            self.standby.close()
        self._close_stores()

    def _close_stores(self) -> None:
        for app in self.applications.values():
            app.close()
        self.sql.close()
        for factory in list(self._factories.values()):
            factory.close()
