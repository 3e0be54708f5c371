"""Wiring: builds the applications, views and projection runners for the configured store.

One application per business area, each with its own table (PostgreSQL) or file (SQLite).
On SQLite every application and every view gets its own file under the data folder, since
eventsourcing's SQLite tables have fixed names.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from domain.catalogue.application import Catalogue
from projections.profiles.projection import ProfilesProjection
from projections.profiles.view import PostgresProfilesView, ProfilesView, SQLiteProfilesView
from projections.runner import BatchProjectionRunner
from runtime.settings import Settings

RECORDERS = {
    "eventsourcing.sqlite": "runtime.recorders:SQLiteCatalogueRecorder",
    "eventsourcing.postgres": "runtime.recorders:PostgresCatalogueRecorder",
}
VIEWS: dict[str, type[ProfilesView]] = {
    "eventsourcing.sqlite": SQLiteProfilesView,
    "eventsourcing.postgres": PostgresProfilesView,
}


def store_env(settings: Settings, name: str) -> dict[str, str]:
    """eventsourcing settings for one application or view called `name`."""
    env = dict(settings.store_env)
    prefix = name.upper()
    if settings.persistence_module == "eventsourcing.sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env.setdefault(f"{prefix}_SQLITE_DBNAME", str(settings.data_dir / f"{name.lower()}.sqlite"))
        env.setdefault(f"{prefix}_SQLITE_LOCK_TIMEOUT", "30")
    if settings.persistence_module in RECORDERS and name == Catalogue.name:
        env.setdefault(f"{prefix}_APPLICATION_RECORDER_TOPIC", RECORDERS[settings.persistence_module])
    return env


class Services:
    """Everything a process needs to serve requests or run workers; close() releases it all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalogue = Catalogue(env=store_env(settings, Catalogue.name))
        view_class = VIEWS[settings.persistence_module]
        name = ProfilesProjection.name
        factory: Any = InfrastructureFactory.construct(Environment(name, store_env(settings, name)))
        self.profiles_view: ProfilesView = factory.tracking_recorder(view_class)
        self._factories = [factory]
        self.profiles = ProfilesProjection(view=self.profiles_view)
        self.profiles_runner = BatchProjectionRunner(self.catalogue, self.profiles)
        self.runners = [self.profiles_runner]

    def start_projections(self) -> None:
        for runner in self.runners:
            runner.catch_up()
            runner.start()

    def close(self) -> None:
        for runner in self.runners:
            runner.stop()
        self.catalogue.close()
        for factory in self._factories:
            factory.close()
