"""The embedded store's connections (adapters/sqlite_writers.py): the applications' files commit
to disk (synchronous FULL), read models' files commit without waiting for it (NORMAL), an
unknown setting is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.sqlite_writers import FACTORY_TOPIC
from bootstrap.services import Services
from tests.conftest import settings_for

FULL, NORMAL = 2, 1  # what PRAGMA synchronous answers


def synchronous(datastore: object) -> int:
    with datastore.transaction(commit=False) as c:  # type: ignore[attr-defined]
        c.execute("PRAGMA synchronous")
        return int(c.fetchone()[0])


def test_events_are_synced_and_read_models_are_not(tmp_path: Path) -> None:
    services = Services(settings_for("sqlite", tmp_path, None))
    try:
        found = {"catalogue": synchronous(services.catalogue.recorder.datastore),
                 "follows": synchronous(services.follows.recorder.datastore),
                 "profiles view": synchronous(services.profiles_view.datastore),
                 "followers view": synchronous(services.followers_view.datastore)}
    finally:
        services.close()
    assert found == {"catalogue": FULL, "follows": FULL, "profiles view": NORMAL, "followers view": NORMAL}


def test_an_unknown_synchronous_setting_is_refused(tmp_path: Path) -> None:
    env = Environment("scratch", {"PERSISTENCE_MODULE": FACTORY_TOPIC,
                                  "SQLITE_DBNAME": str(tmp_path / "scratch.sqlite"), "SQLITE_SYNCHRONOUS": "off"})
    with pytest.raises(ValueError, match="SQLITE_SYNCHRONOUS must be FULL or NORMAL, not 'OFF'"):
        InfrastructureFactory.construct(env)
