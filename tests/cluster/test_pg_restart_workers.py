"""PostgreSQL stopped with `-m immediate` for 5 s under follow load and started again: the relay,
projections, notify and expire workers (separate `peerledger worker` processes) all recover
without a restart; every acknowledged follow is in the store, the stream holds the log exactly
once, and the follower counts and the owner's notifications equal a recount from the log."""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from uuid import UUID

import httpx
import nats
import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from bootstrap.services import VIEW_CLASSES, Services, store_env
from bootstrap.settings import Settings
from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from domain.follows.application import FollowCommand
from domain.follows.model import Follow, follow_id
from operations.importing import import_body
from projections.followers.projection import FollowersProjection
from projections.runner import BatchProjectionRunner
from tests.cluster.engines import NATS_SERVER, free_port, NatsServer, PgServer, needs_postgres_binaries, peerledger, stop_all
from tests.conftest import CHEAP_HASHING, TEST_SECRET
from tests.factories import author, register_confirmed, work
from tests.integration.test_relay import assert_exactly_once_in_order, stream_contents
from workers.relay import RelayPositions

RESEARCHERS = 30


@pytest.fixture
def primary() -> Iterator[PgServer]:
    needs_postgres_binaries()
    server = PgServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def nats_server(tmp_path) -> Iterator[NatsServer]:
    import os

    if not os.path.exists(NATS_SERVER):
        pytest.skip("nats-server is not installed")
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


def eventually(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)


def claimed_record(services: Services) -> tuple[UUID, UUID]:
    """Records A1..A30, A1 claimed (approved) by an owner: follows of it notify the owner."""
    import_body(services.catalogue, json.dumps([work(n, [author(n)]) for n in range(1, RESEARCHERS + 1)]).encode())
    services.profiles_runner.catch_up()
    owner = register_confirmed(services, "owner@example.org", "Owner One")
    rid = researcher_id_for("A1")
    f = services.profiles_view.record_facts(str(rid))
    facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
    claim = services.claims.open_claim(owner, facts, [EvidenceIn("statement", text="me", links=("https://x.org/",))])
    services.claims.approve(claim, uuid.uuid4(), "L2", "checked", facts)
    services.profiles_runner.catch_up()
    return rid, owner


def consumer_idle(env: dict[str, str]) -> bool:
    async def ask() -> bool:
        nc = await nats.connect(env["PEERLEDGER_NATS_URL"])
        try:
            info = await nc.jetstream().consumer_info(env["PEERLEDGER_NATS_STREAM"], "notify")
            return info.num_pending == 0 and info.num_ack_pending == 0
        finally:
            await nc.close()

    try:
        return asyncio.run(ask())
    except Exception:  # noqa: BLE001 - not made yet
        return False


def seconds_since_expiry_pass(port: int) -> float:
    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    return float(re.search(r"^peerledger_expiry_seconds_since_pass (\S+)$", scraped, re.M).group(1))


def test_every_worker_recovers_from_a_postgres_restart_under_load_and_nothing_is_lost(primary, nats_server, tmp_path):
    env = {"PEERLEDGER_DATA_DIR": str(tmp_path / "var"), "PEERLEDGER_SECRET_KEY": TEST_SECRET, **CHEAP_HASHING,
           "PERSISTENCE_MODULE": "eventsourcing.postgres", **primary.env, "PEERLEDGER_PROJECTIONS": "external",
           "PEERLEDGER_NATS_URL": nats_server.url, "PEERLEDGER_NATS_STREAM": "RESTART",
           "PEERLEDGER_NATS_SUBJECT_PREFIX": "t", "PEERLEDGER_LOG_LEVEL": "WARNING",
           "PEERLEDGER_EXPIRE_INTERVAL": "1"}
    services = Services(Settings.from_env(env))
    record, owner = claimed_record(services)
    researchers = [researcher_id_for(f"A{n}") for n in range(1, RESEARCHERS + 1)]
    logs = {kind: tmp_path / f"{kind}.log" for kind in ("projections", "relay", "notify", "expire")}
    expire_metrics = free_port()
    workers = {kind: peerledger(env | ({"PEERLEDGER_METRICS_PORT": str(expire_metrics)} if kind == "expire" else {}),
                                "worker", kind, log=logs[kind]) for kind in logs}
    acknowledged: list[UUID] = []
    failures: list[str] = []
    slowest = [0.0]  # a save that waited for the server to come back
    stop = threading.Event()

    def follow_load() -> None:  # new followers in small batches, each batch acknowledged or not
        rng = random.Random(19)
        while not stop.is_set():
            commands = [FollowCommand(uuid.uuid4(), rng.choice(researchers), True, confirmed=True) for _ in range(10)]
            began = time.monotonic()
            try:
                services.follows.apply_all(commands, known=set(researchers), owners={record: owner})
            except Exception as e:  # noqa: BLE001 - the outage: not acknowledged
                failures.append(type(e).__name__)
                stop.wait(0.2)
                continue
            slowest[0] = max(slowest[0], time.monotonic() - began)
            acknowledged.extend(follow_id(c.account_id, c.researcher_id) for c in commands)
            stop.wait(0.05)

    writer = threading.Thread(target=follow_load)
    try:
        time.sleep(3)  # the workers started and caught up
        writer.start()
        time.sleep(3)
        primary.stop_immediately()
        time.sleep(5)
        primary.start()
        time.sleep(5)
        stop.set()
        writer.join(timeout=30)
        # The writer's saves either failed in the outage or waited for the server (eventsourcing retries).
        assert failures or slowest[0] > 2, "the writer never saw the outage"
        assert {kind: p.poll() for kind, p in workers.items()} == dict.fromkeys(workers), "a worker died"

        # Every worker is back at work without a restart.
        head = services.follows.recorder.max_notification_id()
        eventually(lambda: services.followers_runner.position() >= head, 60, "the followers projection caught up")
        positions = RelayPositions(services.sql)
        apps = list(services.applications.values())
        eventually(lambda: all(positions.get(a.name) >= (a.recorder.max_notification_id() or 0) for a in apps), 60,
                   "the relay published every log")
        eventually(lambda: consumer_idle(env), 60, "the notify worker handled the whole stream")
        eventually(lambda: seconds_since_expiry_pass(expire_metrics) < 1.5, 30, "an expiry pass worked again")

        # No acknowledged follow is missing; the stream is the log, once and in order.
        stored = [n for n in services.follows.recorder.select_notifications(start=0, limit=1_000_000)]
        started = {n.originator_id for n in stored}
        missing = [f for f in acknowledged if f not in started]
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged follows are missing"
        assert_exactly_once_in_order(stream_contents(env), services)

        # Counts equal a recount: the follower counts rebuilt from the log, and one notification
        # for the owner per follower of the claimed record.
        name = "followers_recount"
        factory = InfrastructureFactory.construct(Environment(name, store_env(services.settings, name)))
        try:
            recount = factory.tracking_recorder(VIEW_CLASSES["followers"][services.settings.persistence_module])
            BatchProjectionRunner(services.follows, FollowersProjection(recount)).catch_up()
            assert sorted(services.followers_view.all_counts()) == sorted(recount.all_counts())
        finally:
            factory.close()
        followers_of_record = {e.account_id for e in map(services.follows.mapper.to_domain_event, stored)
                               if isinstance(e, Follow.Started | Follow.Followed) and e.researcher_id == record}
        [(told,)] = services.sql.execute("SELECT COUNT(*) FROM peerledger_notifications"
                                         " WHERE account_id = %s AND kind = 'new_follower'", (str(owner),))
        assert told == len(followers_of_record) > 0
    finally:
        stop.set()
        if writer.is_alive():
            writer.join(timeout=30)
        stop_all(list(workers.values()))
        services.close()
