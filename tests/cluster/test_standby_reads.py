"""Profiles and follower counts read from a streaming hot standby (pg_basebackup -R on a port of
the test's own): a plain read is the standby's, however far behind it is; `consistent_with` sees
the reader's follow, from the standby once it has replayed it, else from the primary after
PEERLEDGER_READ_MAX_WAIT; /metrics shows how far behind the standby is."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from bootstrap.settings import Settings
from bootstrap.standby import primary_position
from tests.cluster.engines import PgServer, needs_postgres_binaries
from tests.conftest import CHEAP_HASHING, TEST_SECRET
from tests.e2e.support import person, serving
from tests.factories import author, work


@pytest.fixture
def servers() -> Iterator[tuple[PgServer, PgServer]]:
    needs_postgres_binaries()
    primary = PgServer()
    primary.start()
    standby = None
    try:
        standby = PgServer(standby_of=primary)
        standby.start()
        yield primary, standby
    finally:
        for server in (standby, primary):
            if server is not None:
                server.remove()


def metric(client, name: str, labels: str = "") -> float:
    text = client.get("/metrics").text
    return float(re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M).group(1))


def followers_count(client, record: str, **params: str) -> int:
    r = client.get(f"/researchers/{record}", params=params)
    assert r.status_code == 200, r.text
    return r.json()["followers_count"]


def test_reads_come_from_the_standby_and_a_readers_own_follow_is_seen_however_far_behind_it_is(servers, tmp_path):
    primary, standby = servers
    assert standby.query("SELECT pg_is_in_recovery()") == [(True,)]
    settings = Settings.from_env({
        "PEERLEDGER_DATA_DIR": str(tmp_path / "var"), "PEERLEDGER_SECRET_KEY": TEST_SECRET, **CHEAP_HASHING,
        "PEERLEDGER_DEMO_DATA": "no", "PERSISTENCE_MODULE": "eventsourcing.postgres", **primary.env,
        "PEERLEDGER_READ_POSTGRES_HOST": "127.0.0.1", "PEERLEDGER_READ_POSTGRES_PORT": str(standby.port),
        "PEERLEDGER_READ_MAX_WAIT": "0.5", "PEERLEDGER_RATE_LIMIT_SCALE": "1000"})
    for client in serving(settings, [work(n, [author(n)]) for n in range(1, 4)]):
        services = client.app.state.services
        reader = person(client, "Ada Reader")
        assert services.standby.wait_for(primary_position(settings), 10)
        assert followers_count(client, "A1") == 0

        # The standby stops replaying: plain reads stay where it is; the reader's own follow is
        # still seen with consistent_with, from the primary once the bound has passed.
        standby.query("SELECT pg_wal_replay_pause()")
        followed = client.put("/me/following/A1", headers=reader["headers"])
        assert followed.status_code == 201
        position = str(followed.json()["position"])
        assert services.wait_for_projections()
        time.sleep(0.3)  # the API's caches refresh (from the standby) every 50 ms
        assert followers_count(client, "A1") == 0, "a plain read did not come from the standby"
        started = time.monotonic()
        assert followers_count(client, "A1", consistent_with=position) == 1
        assert 0.5 <= time.monotonic() - started < 3
        assert metric(client, "peerledger_standby_replay_lag_bytes") > 0
        assert metric(client, "peerledger_standby_consistent_reads", '{served_by="primary"}') == 1

        # Replaying again: the next consistent read waits for the standby only, and plain reads catch up.
        standby.query("SELECT pg_wal_replay_resume()")
        followed = client.put("/me/following/A2", headers=reader["headers"])
        assert services.wait_for_projections()
        started = time.monotonic()
        assert followers_count(client, "A2", consistent_with=str(followed.json()["position"])) == 1
        assert time.monotonic() - started < 0.5
        # Two: the test's own wait for the standby above was the first.
        assert metric(client, "peerledger_standby_consistent_reads", '{served_by="standby"}') == 2
        deadline = time.monotonic() + 10
        while followers_count(client, "A1") != 1:
            assert time.monotonic() < deadline, "plain reads never caught up with the standby"
            time.sleep(0.1)
        deadline = time.monotonic() + 10
        while metric(client, "peerledger_standby_replay_lag_bytes") != 0:
            assert time.monotonic() < deadline, "the standby's lag never went back to 0"
            time.sleep(0.1)
        assert metric(client, "peerledger_standby_replay_lag_seconds") == 0
