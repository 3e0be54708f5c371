"""A read model built by an older PeerLedger is refused at start with the replay to run; the
replay builds the current schema beside it and the next start serves it."""

from __future__ import annotations

import sqlite3

import pytest

from bootstrap.services import OutdatedReadModelsError, Services
from operations.replay import replay
from tests.conftest import settings_for


def forget_version(settings, projection: str) -> None:
    """As an older PeerLedger left the view: its tables, no version stamped (even if it is empty)."""
    with sqlite3.connect(settings.data_dir / f"{projection}.sqlite") as db:
        db.execute(f"DELETE FROM {projection}_schema")


def test_a_view_an_older_version_built_asks_for_a_replay_even_when_empty(tmp_path):
    settings = settings_for("sqlite", tmp_path, None)
    Services(settings).close()  # created and stamped by this version
    forget_version(settings, "followers")  # nobody ever followed: an empty view, but the old shape
    with pytest.raises(OutdatedReadModelsError, match=r"run `peerledger replay followers`"):
        Services(settings)
    rebuilder = Services(settings, allow_outdated=True)
    try:
        assert rebuilder.outdated == ["followers"]
        replay(rebuilder, ["followers"])
    finally:
        rebuilder.close()
    services = Services(settings)  # the new version of followers serves now
    try:
        assert services.version_of("followers") == 2 and services.outdated == []
    finally:
        services.close()
