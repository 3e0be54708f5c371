"""The relay against a three-node NATS JetStream cluster of the test's own, the stream at three
replicas: the node leading the stream killed with -9 under load and started again, the stream
still holds every event exactly once and in order per area, and the relay moves on within seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import nats
import pytest

from bootstrap.services import Services
from bootstrap.settings import Settings
from tests.integration.test_relay import (
    assert_exactly_once_in_order,
    follow_events,
    heads,
    start_relay,
    stream_contents,
)
from workers.relay import RelayPositions
from tests.cluster.engines import NATS_SERVER, ClusterNode, start_nats_cluster
from tests.conftest import CHEAP_HASHING, PG, TEST_SECRET

pytestmark = pytest.mark.postgres


@pytest.fixture
def cluster(tmp_path) -> Iterator[list[ClusterNode]]:
    if not os.path.exists(NATS_SERVER):
        pytest.skip("nats-server is not installed")
    nodes = start_nats_cluster(tmp_path)
    yield nodes
    for node in nodes:
        node.stop()


def stream_leader(urls: list[str], stream: str) -> str:
    async def ask() -> str:
        nc = await nats.connect(servers=urls)
        try:
            for _ in range(100):
                try:
                    info = await nc.jetstream(timeout=2).stream_info(stream)
                    if info.cluster and info.cluster.leader:
                        return info.cluster.leader
                except Exception:  # noqa: BLE001 - the stream is being made
                    pass
                await asyncio.sleep(0.1)
            raise AssertionError("the stream has no leader")
        finally:
            await nc.close()

    return asyncio.run(ask())


def until_relayed(positions: RelayPositions, services: Services, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while positions.get("Follows") < heads(services)["Follows"]:
        assert time.monotonic() < deadline, "the relay did not catch up"
        time.sleep(0.1)


def test_the_stream_leader_killed_under_load_loses_nothing_and_the_relay_goes_on(tmp_path, pg_schema, cluster):
    urls = [n.url for n in cluster]
    env = {
        "PEERLEDGER_DATA_DIR": str(tmp_path / "var"), "PEERLEDGER_SECRET_KEY": TEST_SECRET, **CHEAP_HASHING,
        "PERSISTENCE_MODULE": "eventsourcing.postgres", **PG, "POSTGRES_SCHEMA": pg_schema,
        "PEERLEDGER_PROJECTIONS": "external", "PEERLEDGER_NATS_URL": ",".join(urls),
        "PEERLEDGER_NATS_STREAM": f"C{uuid.uuid4().hex[:8]}", "PEERLEDGER_NATS_SUBJECT_PREFIX": "t",
        "PEERLEDGER_NATS_REPLICAS": "3", "PEERLEDGER_LOG_LEVEL": "WARNING",
    }
    services = Services(Settings.from_env(env))
    positions = RelayPositions(services.sql)
    relay = start_relay(env)
    writing = threading.Event()
    writing.set()

    def write() -> None:
        while writing.is_set():
            follow_events(services, 250)
            time.sleep(0.05)

    stalls: list[float] = []

    def watch() -> None:
        """The longest time the relay's position stood still while events waited."""
        last, since = -1, time.monotonic()
        while writing.is_set():
            position, head = positions.get("Follows"), heads(services)["Follows"]
            if position != last or position >= head:
                last, since = position, time.monotonic()
            stalls.append(time.monotonic() - since)
            time.sleep(0.1)

    writer, watcher = threading.Thread(target=write), threading.Thread(target=watch)
    try:
        follow_events(services, 500)
        until_relayed(positions, services)  # the relay is up and has made the stream
        writer.start(), watcher.start()
        time.sleep(2)
        leader = next(n for n in cluster if n.name == stream_leader(urls, env["PEERLEDGER_NATS_STREAM"]))
        leader.kill()
        time.sleep(3)
        leader.start(cluster)
        time.sleep(3)
    finally:
        writing.clear()
        writer.join(), watcher.join()
    try:
        until_relayed(positions, services)
        assert relay.poll() is None, relay.stderr.read() if relay.stderr else ""
        found = stream_contents(env | {"PEERLEDGER_NATS_URL": urls[0] if leader is not cluster[0] else urls[1]})
        assert_exactly_once_in_order(found, services)
        assert max(stalls) < 10, f"the relay stood still for {max(stalls):.1f} s"
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=15)
        services.close()
