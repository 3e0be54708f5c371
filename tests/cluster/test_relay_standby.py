"""Two relays, as production runs them: one publishes, the other stands by on PostgreSQL's lock;
the active one killed with -9 under load, the standby takes over and the stream still holds the
log exactly once, in order."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from bootstrap.services import Services
from bootstrap.settings import Settings
from tests.cluster.engines import NATS_SERVER, NatsServer, PgServer, needs_postgres_binaries, peerledger, stop_all
from tests.conftest import CHEAP_HASHING, TEST_SECRET
from tests.integration.test_relay import assert_exactly_once_in_order, follow_events, stream_contents, wait_until_relayed


@pytest.fixture
def env(tmp_path) -> Iterator[dict[str, str]]:
    needs_postgres_binaries()
    if not os.path.exists(NATS_SERVER):
        pytest.skip("nats-server is not installed")
    primary, broker = PgServer(), NatsServer(tmp_path / "nats")
    primary.start()
    broker.start()
    try:
        yield {"PEERLEDGER_DATA_DIR": str(tmp_path / "var"), "PEERLEDGER_SECRET_KEY": TEST_SECRET, **CHEAP_HASHING,
               "PERSISTENCE_MODULE": "eventsourcing.postgres", **primary.env, "PEERLEDGER_PROJECTIONS": "external",
               "PEERLEDGER_NATS_URL": broker.url, "PEERLEDGER_NATS_STREAM": "STANDBY",
               "PEERLEDGER_NATS_SUBJECT_PREFIX": "t", "PEERLEDGER_LOG_LEVEL": "INFO"}
    finally:
        broker.stop()
        primary.remove()


def test_a_standby_relay_waits_and_takes_over_from_a_killed_one(env, tmp_path):
    services = Services(Settings.from_env(env))
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = peerledger(env, "worker", "relay", log=first_log)
    writer = None
    try:
        deadline = time.monotonic() + 60
        while "this relay is the active one" not in first_log.read_text():
            assert time.monotonic() < deadline, first_log.read_text()
            time.sleep(0.1)
        second = peerledger(env, "worker", "relay", log=second_log)
        while "another relay is active: standing by" not in second_log.read_text():
            assert time.monotonic() < deadline, second_log.read_text()
            time.sleep(0.1)
        writer = threading.Thread(target=lambda: [follow_events(services, 100) or time.sleep(0.05) for _ in range(40)])
        writer.start()
        time.sleep(1.0)
        killed_at = time.monotonic()
        first.kill()
        first.wait()
        while "this relay is the active one" not in second_log.read_text():
            assert time.monotonic() - killed_at < 5, "the standby relay did not take over within 5 s"
            time.sleep(0.05)
        print(f"the standby relay took over {time.monotonic() - killed_at:.2f} s after the kill")
        writer.join()
        wait_until_relayed(services)
        assert_exactly_once_in_order(stream_contents(env), services)
    finally:
        if writer is not None and writer.is_alive():
            writer.join()
        stop_all([p for p in (first, locals().get("second")) if p is not None])
        services.close()
