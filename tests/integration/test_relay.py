"""The relay against real PostgreSQL and a real nats-server of the test's own (so it can be
stopped): killed at random points, or with NATS down for 10 seconds, the stream ends up holding
every event exactly once, in order per area."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import msgspec
import nats
import pytest

from domain.follows.application import FollowCommand
from adapters.nats import RelayedEvent
from workers.relay import RelayPositions
from bootstrap.services import Services
from bootstrap.settings import Settings
from tests.cluster.engines import NATS_SERVER, NatsServer
from tests.conftest import CHEAP_HASHING, PG, TEST_SECRET

pytestmark = pytest.mark.postgres
@pytest.fixture
def nats_server(tmp_path) -> Iterator[NatsServer]:
    if not os.path.exists(NATS_SERVER):
        pytest.skip("nats-server is not installed")
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path, pg_schema, nats_server) -> dict[str, str]:
    return {
        "PEERLEDGER_DATA_DIR": str(tmp_path / "var"), "PEERLEDGER_SECRET_KEY": TEST_SECRET, **CHEAP_HASHING,
        "PERSISTENCE_MODULE": "eventsourcing.postgres", **PG, "POSTGRES_SCHEMA": pg_schema,
        "PEERLEDGER_PROJECTIONS": "external", "PEERLEDGER_NATS_URL": nats_server.url,
        "PEERLEDGER_NATS_STREAM": f"T{uuid.uuid4().hex[:8]}", "PEERLEDGER_NATS_SUBJECT_PREFIX": "t",
        "PEERLEDGER_LOG_LEVEL": "WARNING",
    }


def start_relay(env: dict[str, str]) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PEERLEDGER_", "POSTGRES_", "PERSISTENCE_"))}
    return subprocess.Popen([sys.executable, "-m", "peerledger", "worker", "relay"], env=clean | env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def follow_events(services: Services, n: int, batch: int = 250) -> None:
    """`n` events in the Follows log, a batch per transaction."""
    researchers = [uuid.uuid4() for _ in range(50)]
    for _ in range(max(1, n // batch)):
        commands = [FollowCommand(uuid.uuid4(), random.choice(researchers), True, confirmed=True) for _ in range(min(n, batch))]
        services.follows.apply_all(commands, known=set(researchers), owners={})


def heads(services: Services) -> dict[str, int]:
    return {a.name: a.recorder.max_notification_id() or 0 for a in
            (services.catalogue, services.accounts, services.claims, services.follows, services.invitations)}


def wait_until_relayed(services: Services, timeout: float = 60) -> None:
    positions = RelayPositions(services.sql)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(positions.get(name) >= head for name, head in heads(services).items()):
            return
        time.sleep(0.2)
    raise AssertionError(f"relay behind: {heads(services)}")


def stream_contents(env: dict[str, str]) -> list[tuple[str, RelayedEvent]]:
    async def read() -> list[tuple[str, RelayedEvent]]:
        nc = await nats.connect(env["PEERLEDGER_NATS_URL"])
        js = nc.jetstream()
        info = await js.stream_info(env["PEERLEDGER_NATS_STREAM"])
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(env["PEERLEDGER_NATS_STREAM"], seq)
            found.append((msg.headers["Nats-Msg-Id"], msgspec.json.decode(msg.data, type=RelayedEvent)))
        await nc.close()
        return found

    return asyncio.run(read())


def assert_exactly_once_in_order(found: list[tuple[str, RelayedEvent]], services: Services) -> None:
    ids = [msg_id for msg_id, _ in found]
    assert len(ids) == len(set(ids)), "a message is in the stream twice"
    per_app: dict[str, list[int]] = {}
    for msg_id, event in found:
        assert msg_id == f"{event.application}:{event.notification_id}"
        per_app.setdefault(event.application, []).append(event.notification_id)
    for name, numbers in per_app.items():
        assert numbers == sorted(numbers), f"{name} out of order"
    for app in (services.follows, services.catalogue):
        stored = [n.id for n in app.recorder.select_notifications(start=0, limit=1_000_000)]
        assert per_app.get(app.name, []) == stored, f"{app.name}: the stream is not the log"


def test_killed_at_random_points_the_relay_publishes_each_event_exactly_once(env):
    services = Services(Settings.from_env(env))
    # 10,000 events are written while the relay is started and killed (-9) at random moments.
    writer = threading.Thread(target=lambda: [follow_events(services, 100) or time.sleep(0.05) for _ in range(100)])
    writer.start()
    positions = RelayPositions(services.sql)
    try:
        rng = random.Random(4)
        behind_at_kill = 0
        while writer.is_alive():
            relay = start_relay(env)
            time.sleep(rng.uniform(1.0, 2.0))
            relay.kill()
            relay.wait()
            behind_at_kill += positions.get(services.follows.name) < heads(services)[services.follows.name]
        writer.join()
        assert behind_at_kill >= 1  # killed while it had work in hand
        relay = start_relay(env)
        try:
            wait_until_relayed(services)
        finally:
            relay.terminate()
            relay.wait(timeout=20)
            assert "Traceback" not in relay.stderr.read()
        found = stream_contents(env)
        assert len(found) == 10_000
        assert_exactly_once_in_order(found, services)

        # The worst case, made certain: published, then killed before its position was saved.
        services.sql.execute("UPDATE peerledger_relay_positions SET position = position - 2500")
        relay = start_relay(env)
        try:
            wait_until_relayed(services)
        finally:
            relay.terminate()
            relay.wait(timeout=20)
        again = stream_contents(env)
        assert len(again) == 10_000  # the stream dropped all 2,500 by their Msg-Id
        assert_exactly_once_in_order(again, services)
    finally:
        writer.join()
        services.close()


def test_nats_down_for_ten_seconds_under_load_loses_nothing(env, nats_server):
    services = Services(Settings.from_env(env))
    relay = start_relay(env)
    try:
        follow_events(services, 1_000)
        nats_server.stop()
        stopped = time.monotonic()
        while time.monotonic() - stopped < 10:  # commands go on while NATS is away
            follow_events(services, 250)
            time.sleep(0.5)
        nats_server.start()
        follow_events(services, 1_000)
        wait_until_relayed(services, timeout=90)
        assert_exactly_once_in_order(stream_contents(env), services)  # the whole log, once, in order
    finally:
        relay.terminate()
        relay.wait(timeout=20)
        services.close()


def test_the_notify_consumer_is_idempotent_and_dead_letters_a_poison_message(env, tmp_path):
    from domain.claims.application import EvidenceIn, RecordFacts
    from domain.catalogue.model import researcher_id_for
    from operations.importing import import_body
    from operations.notifications import Notifier
    from workers.notify import consume
    from tests.factories import author, register_confirmed, work
    from workers.relay import relay_for

    settings = Settings.from_env(env)
    services = Services(settings)
    notifier = Notifier(services, services.notifications)
    import_body(services.catalogue, msgspec.json.encode([work(n, [author(n)]) for n in (1, 2)]))
    services.profiles_runner.catch_up()

    def approve(n: int) -> uuid.UUID:
        account = register_confirmed(services, f"p{n}@example.org", f"P {n}")
        rid = researcher_id_for(f"A{n}")
        f = services.profiles_view.record_facts(str(rid))
        facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
        claim = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="me", links=("https://x.org/",))])
        services.claims.approve(claim, uuid.uuid4(), "L2", "ok", facts)
        return account

    stats: dict[str, float] = {}

    async def scenario() -> None:
        stop = asyncio.Event()
        nc = await nats.connect(env["PEERLEDGER_NATS_URL"])
        js = nc.jetstream()
        relay = asyncio.create_task(relay_for(services, settings).run(stop))
        consumer = None
        try:
            first = await asyncio.to_thread(approve, 1)
            while (await asyncio.to_thread(services.notifications.unread, str(first))) < 1:
                if consumer is None:
                    await asyncio.sleep(0.5)  # the relay has made the stream
                    consumer = asyncio.create_task(consume(notifier, js, stream=settings.nats_stream, prefix="t",
                                                           stop=stop, backoff=[0.05] * 4, stats=stats))
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            kinds = sorted(n["kind"] for n in services.notifications.page(str(first), False, None, 10))
            assert kinds == ["claim_approved", "verification_changed"]

            # A message that cannot be handled: retried, then dead-lettered with the reason.
            await js.publish("t.claims.Claim.Mangled", b"not an event", stream=settings.nats_stream)
            dead = None
            for _ in range(200):
                try:
                    dead = await js.get_last_msg(f"{settings.nats_stream}_DEAD", "t_dead.t.claims.Claim.Mangled")
                    break
                except Exception:  # noqa: BLE001 - not there yet
                    await asyncio.sleep(0.05)
            assert dead is not None and dead.data == b"not an event"
            assert "DecodeError" in dead.headers["Reason"]
            assert stats["dead_lettered"] == 1
            # ... and the consumer goes on.
            second = await asyncio.to_thread(approve, 2)
            for _ in range(200):
                if await asyncio.to_thread(services.notifications.unread, str(second)) == 2:
                    break
                await asyncio.sleep(0.05)
            assert services.notifications.unread(str(second)) == 2
        finally:
            stop.set()
            await asyncio.gather(relay, *([consumer] if consumer else []))
            await nc.close()

    try:
        asyncio.run(scenario())
        # Redelivery changes nothing: the same event handled again adds no notification.
        n = services.claims.recorder.select_notifications(start=0, limit=100)
        approved = next(x for x in n if x.topic.endswith("Claim.Approved"))
        again = RelayedEvent("Claims", approved.id, str(approved.originator_id), approved.originator_version,
                             approved.topic, msgspec.Raw(approved.state))
        assert notifier.handle(again) == 0
        # An event too large for one NATS message goes without its state; the consumer reads it
        # from the log instead.
        from adapters.nats import encode
        slim = msgspec.json.decode(encode("Claims", approved, max_payload=1_100), type=RelayedEvent)
        assert slim.state_omitted
        services.sql.execute("DELETE FROM peerledger_notifications WHERE key LIKE %s", (f"Claims:{approved.id}:%",))
        assert notifier.handle(slim) == 1
    finally:
        services.close()


def test_a_relay_that_lost_its_position_past_the_duplicate_window_publishes_nothing_twice(env, monkeypatch):
    """The position is saved after the acknowledgements: a crash in between, and a restart later
    than the stream's duplicate window, would publish the batch again but for the resume from the
    stream's own last message of each application."""
    import workers.relay as relay_module

    monkeypatch.setattr(relay_module, "DUPLICATE_WINDOW", 0.5)  # the stream forgets Msg-Ids after this
    settings = Settings.from_env(env)
    services = Services(settings)
    try:
        follow_events(services, 500)

        async def relay_until_relayed() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(relay_module.relay_for(services, settings).run(stop))
            await asyncio.to_thread(wait_until_relayed, services)
            stop.set()
            await task

        asyncio.run(relay_until_relayed())
        # A crash between the acknowledgements and the position's update:
        services.sql.execute("UPDATE peerledger_relay_positions SET position = 0 WHERE application = 'Follows'")
        time.sleep(1.0)  # past the duplicate window
        follow_events(services, 250)
        asyncio.run(relay_until_relayed())

        assert_exactly_once_in_order(stream_contents(env), services)
    finally:
        services.close()
