"""Wiring: builds the applications, views and projection runners for the configured store.

One application per business area, each with its own table (PostgreSQL) or file (SQLite).
On SQLite every application and every view gets its own file under the data folder, since
eventsourcing's SQLite tables have fixed names.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
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
from projections.followers.projection import FollowersProjection
from projections.followers.view import (
    FollowersView,
    PostgresFollowersView,
    SQLiteFollowersView,
)
from projections.history.projection import HistoryProjection
from projections.history.view import HistoryView, PostgresHistoryView, SQLiteHistoryView
from projections.invitations.projection import InvitationsProjection
from projections.invitations.view import (
    InvitationsView,
    PostgresInvitationsView,
    SQLiteInvitationsView,
)
from projections.moderation.projection import ModerationProjection
from projections.moderation.view import (
    ModerationView,
    PostgresModerationView,
    SQLiteModerationView,
)
from projections.profiles.projection import ProfilesProjection
from projections.profiles.view import (
    PostgresProfilesView,
    ProfilesView,
    SQLiteProfilesView,
)
from projections.runner import BatchProjectionRunner
from projections.trust.runner import TrustRunner
from projections.trust.view import PostgresTrustView, SQLiteTrustView, TrustView
from runtime.follow_writer import FollowWriter
from runtime.mail import FolderMailer, SmtpMailer
from runtime.notify import NotificationStore
from runtime.orcid import OrcidSignIn
from runtime.passwords import Argon2Hasher
from runtime.ratelimit import RateLimiter
from runtime.settings import Settings
from runtime.sqlstore import PostgresStore, SQLiteStore, SqlStore
from runtime.vault import SqlVault

RECORDERS = {
    "eventsourcing.sqlite": "runtime.recorders:SQLiteBatchRecorder",
    "eventsourcing.postgres": "runtime.recorders:PostgresBatchRecorder",
}
VIEWS: dict[str, type[ProfilesView]] = {
    "eventsourcing.sqlite": SQLiteProfilesView,
    "eventsourcing.postgres": PostgresProfilesView,
}
FOLLOWERS_VIEWS: dict[str, type[FollowersView]] = {
    "eventsourcing.sqlite": SQLiteFollowersView,
    "eventsourcing.postgres": PostgresFollowersView,
}
INVITATIONS_VIEWS: dict[str, type[InvitationsView]] = {
    "eventsourcing.sqlite": SQLiteInvitationsView,
    "eventsourcing.postgres": PostgresInvitationsView,
}
TRUST_VIEWS: dict[str, type[TrustView]] = {
    "eventsourcing.sqlite": SQLiteTrustView,
    "eventsourcing.postgres": PostgresTrustView,
}
HISTORY_VIEWS: dict[str, type[HistoryView]] = {
    "eventsourcing.sqlite": SQLiteHistoryView,
    "eventsourcing.postgres": PostgresHistoryView,
}
PROJECTIONS = ("profiles", "moderation", "followers", "invitations", "history", "trust")
MODERATION_VIEWS: dict[str, type[ModerationView]] = {
    "eventsourcing.sqlite": SQLiteModerationView,
    "eventsourcing.postgres": PostgresModerationView,
}
VIEW_CLASSES: dict[str, dict[str, type[Any]]] = {
    "profiles": VIEWS, "moderation": MODERATION_VIEWS, "followers": FOLLOWERS_VIEWS,
    "invitations": INVITATIONS_VIEWS, "history": HISTORY_VIEWS, "trust": TRUST_VIEWS,
}


def store_env(settings: Settings, name: str) -> dict[str, str]:
    """eventsourcing settings for one application or view called `name`."""
    env = dict(settings.store_env)
    prefix = name.upper()
    if settings.is_postgres:
        # Several applications and views per process, each with its own pool: small pools that
        # grow on demand keep a few processes well inside PostgreSQL's 100 connections.
        env.setdefault("POSTGRES_POOL_SIZE", "1")
        env.setdefault("POSTGRES_MAX_OVERFLOW", "9")
    if settings.persistence_module == "eventsourcing.sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env.setdefault(f"{prefix}_SQLITE_DBNAME", str(settings.data_dir / f"{name.lower()}.sqlite"))
        env.setdefault(f"{prefix}_SQLITE_LOCK_TIMEOUT", "30")
    if settings.persistence_module in RECORDERS and name in (Catalogue.name, Follows.name):
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


class Services:
    """Everything a process needs to serve requests or run workers; close() releases it all."""

    def __init__(self, settings: Settings) -> None:
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
            self.orcid = OrcidSignIn(
                client_id=settings.orcid_client_id,
                client_secret=settings.orcid_client_secret,
                authorize_url=settings.orcid_authorize_url,
                token_url=settings.orcid_token_url,
                redirect_uri=settings.orcid_redirect_uri,
                state_secret=derive(secret, "orcid-state"),
            )
            self.accounts = Accounts(
                env=store_env(settings, Accounts.name), vault=self.vault, hasher=self.hasher, mailer=self.mailer
            )
            self.catalogue = Catalogue(env=store_env(settings, Catalogue.name))
            self.claims = Claims(
                env=store_env(settings, Claims.name),
                vault=self.vault,
                mailer=self.mailer,
                institution_domains=self.catalogue.institution_domains,
            )
            self.follows = Follows(env=store_env(settings, Follows.name))
            self.invitations = Invitations(env=store_env(settings, Invitations.name), vault=self.vault,
                                           exclusive=self.sql.exclusive)
            self._factories: list[Any] = []
            self.profiles_view: ProfilesView = self.open_view("profiles")
            self.moderation_view: ModerationView = self.open_view("moderation")
            self.followers_view: FollowersView = self.open_view("followers")
            self.invitations_view: InvitationsView = self.open_view("invitations")
            self.history_view: HistoryView = self.open_view("history")
            self.trust_view: TrustView = self.open_view("trust")
            by_projection = {name: self.runners_for(name, getattr(self, f"{name}_view")) for name in PROJECTIONS}
            self.profiles = by_projection["profiles"][0].projection
            self.profiles_runner = by_projection["profiles"][0]
            self.followers_runner = by_projection["followers"][0]
            self.invitations_runner = by_projection["invitations"][0]
            self.trust_runner = by_projection["trust"][0]
            # In this order: trust, last, reads the profile documents and follower counts.
            self.runners = [runner for name in PROJECTIONS for runner in by_projection[name]]
        self._follow_writer: FollowWriter | None = None

    def open_view(self, projection: str, table_prefix: str | None = None) -> Any:
        """A projection's view; `table_prefix` gives it other tables (a rebuild to compare)."""
        name = table_prefix or projection
        factory: Any = InfrastructureFactory.construct(Environment(name, store_env(self.settings, name)))
        self._factories.append(factory)
        return factory.tracking_recorder(VIEW_CLASSES[projection][self.settings.persistence_module])

    def runners_for(self, projection: str, view: Any) -> list[Any]:
        """The runners that build `projection` into `view`: one per upstream application."""
        if projection == "profiles":
            profiles = ProfilesProjection(view=view, open_sealed=self.vault.open)
            return [BatchProjectionRunner(app, profiles) for app in (self.catalogue, self.claims, self.accounts)]
        if projection == "moderation":
            return [BatchProjectionRunner(self.claims, ModerationProjection(view, claim_status=self.claims.claim_status))]
        if projection == "followers":
            followers = FollowersProjection(view)
            return [BatchProjectionRunner(app, followers, batch_size=5_000)
                    for app in (self.follows, self.accounts, self.claims)]
        if projection == "invitations":
            return [BatchProjectionRunner(self.invitations, InvitationsProjection(view))]
        if projection == "history":
            history = HistoryProjection(view)
            return [BatchProjectionRunner(app, history, batch_size=2_000)
                    for app in (self.catalogue, self.claims, self.follows, self.accounts)]
        if projection == "trust":
            return [TrustRunner(view, self.profiles_view, self.followers_view)]
        raise ValueError(f"no projection called {projection!r}")

    @property
    def follow_writer(self) -> FollowWriter:
        """Started on first use: only processes that take follows need the writer thread."""
        if self._follow_writer is None:
            self._follow_writer = FollowWriter(self.follows, self._existing_and_owners)
        return self._follow_writer

    def _existing_and_owners(self, researcher_ids: list[UUID]) -> tuple[set[UUID], dict[UUID, UUID]]:
        known, owners = self.profiles_view.existing_and_owners([str(r) for r in researcher_ids])
        return {UUID(k) for k in known}, {UUID(r): UUID(o) for r, o in owners.items()}

    def start_projections(self) -> None:
        for runner in self.runners:
            runner.catch_up()
            runner.start()

    def wait_for_projections(self, timeout: float = 10.0) -> bool:
        """Until every runner has processed its application's log as it is now (read-your-writes)."""
        return all(runner.wait(runner.head(), timeout) for runner in self.runners)

    def close(self) -> None:
        if self._follow_writer is not None:
            self._follow_writer.stop()
        for runner in self.runners:
            runner.stop()
        self.catalogue.close()
        self.claims.close()
        self.follows.close()
        self.invitations.close()
        self.accounts.close()
        self.sql.close()
        for factory in self._factories:
            factory.close()
