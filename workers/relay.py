"""`peerledger worker relay`, the relay: every application's event log in PostgreSQL, published to a JetStream stream.

Each event goes to `<prefix>.<area>.<Aggregate>.<Event>` (for example
`peerledger.claims.Claim.Approved`) as a msgspec-encoded `RelayedEvent`, with `Nats-Msg-Id`
`<application>:<notification id>`. The relay's position per application lives in PostgreSQL and
moves only after JetStream has acknowledged every message up to it, so:

- killed at any point, it publishes again from its last position, and the stream drops what it
  already holds by Msg-Id (the duplicate window is an hour: longer than any retry here); and as
  it starts it reads the stream's last message of each application and moves its position past
  it, so a relay that was down for longer than the duplicate window publishes nothing twice;
- while NATS is down it keeps retrying the same batch, and the API, which never waits for NATS,
  goes on recording events;
- notification ids have gaps; it reads "greater than the last id seen", so a gap is never a stall.

It is woken by the services' log watch (adapters/logwatch.py: PostgreSQL's LISTEN/NOTIFY, which
eventsourcing sends on each application's channel with every insert), and polls once a second in
case a wake-up was missed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import nats
import psycopg
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from adapters.nats import encode, subject_for
from adapters.prometheus import serve_metrics
from adapters.sqlstore import SqlStore, postgres_conninfo
from bootstrap.services import Services
from bootstrap.settings import Settings
from operations.metrics import render

log = logging.getLogger("peerledger.relay")

DUPLICATE_WINDOW = 3600.0  # seconds
# How long a batch waits for its acknowledgements before it is sent again (a cluster electing a new
# stream leader answers nothing meanwhile; a repeat is dropped by its Msg-Id).
PUBLISH_TIMEOUT = 2.0


class RelayPositions:
    """How far the relay has published each application's log (PostgreSQL, shared by restarts)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        store.execute(f"CREATE TABLE IF NOT EXISTS peerledger_relay_positions (application TEXT PRIMARY KEY,"
                      f" position {store.bigint} NOT NULL)")

    def get(self, application: str) -> int:
        rows = self.store.execute("SELECT position FROM peerledger_relay_positions WHERE application = %s",
                                  (application,))
        return int(rows[0][0]) if rows else 0

    def save(self, application: str, position: int) -> None:
        self.store.execute(
            "INSERT INTO peerledger_relay_positions (application, position) VALUES (%s, %s)"
            " ON CONFLICT (application) DO UPDATE SET position = excluded.position"
            " WHERE peerledger_relay_positions.position < excluded.position",
            (application, position),
        )


class Relay:
    def __init__(self, apps: Sequence[Any], positions: RelayPositions, *, urls: Sequence[str], stream: str,
                 prefix: str, watch: Callable[[str, Callable[[], None]], Callable[[], None]],
                 replicas: int = 1, batch: int = 1_000) -> None:
        self.apps = list(apps)
        self.positions = positions
        self.urls = list(urls)
        self.stream = stream
        self.prefix = prefix
        self.watch = watch  # (application, wake) -> unwatch
        self.replicas = replicas
        self.batch = batch
        self.published = 0
        self._position = {app.name: positions.get(app.name) for app in self.apps}
        self._wake = asyncio.Event()

    def position(self, application: str) -> int:
        return self._position[application]

    async def run(self, stop: asyncio.Event) -> None:
        nc = await nats.connect(servers=self.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                allow_reconnect=True, connect_timeout=2)
        loop = asyncio.get_running_loop()
        unwatch = [self.watch(app.name, lambda: loop.call_soon_threadsafe(self._wake.set)) for app in self.apps]
        try:
            js = nc.jetstream(timeout=PUBLISH_TIMEOUT)
            await self._ensure_stream(js, stop)
            await self._resume_when_possible(js, stop)
            backoff = 0.2
            while not stop.is_set():
                moved, failed = 0, False
                for app in self.apps:  # one application's trouble does not hold the others up
                    try:
                        moved += await self._relay_batch(js, app, nc.max_payload)
                    except Exception as e:  # noqa: BLE001 - NATS or PostgreSQL away: the same batch again, later
                        log.warning("relaying %s failed (%s); retrying in %.1f s", app.name, e, backoff)
                        failed = True
                if failed:
                    await _wait(stop, backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.2
                if not moved:
                    self._wake.clear()
                    await _wait(stop, 1.0, self._wake)
        finally:
            for stop_watching in unwatch:
                stop_watching()
            await nc.drain() if nc.is_connected else await nc.close()

    async def _ensure_stream(self, js: Any, stop: asyncio.Event) -> None:
        config = StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"], storage=StorageType.FILE,
                              duplicate_window=DUPLICATE_WINDOW, num_replicas=self.replicas)
        while not stop.is_set():
            try:
                try:
                    await js.add_stream(config)
                except BadRequestError:
                    await js.update_stream(config)  # it exists: make its settings ours
                return
            except Exception as e:  # noqa: BLE001 - NATS not there yet
                log.warning("cannot set up stream %s yet (%s)", self.stream, e)
                await _wait(stop, 1.0)

    async def _resume_when_possible(self, js: Any, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._resume_from_stream(js)
                return
            except Exception as e:  # noqa: BLE001 - NATS or PostgreSQL away: ask again
                log.warning("cannot read the stream's last events yet (%s)", e)
                await _wait(stop, 1.0)

    async def _resume_from_stream(self, js: Any) -> None:
        """Move each application's position past the last event the stream holds of it: what was
        acknowledged before a crash that lost the position's update is not published again, however
        long ago that was (the stream's own duplicate check forgets after its window)."""
        for app in self.apps:
            try:
                last = await js.get_last_msg(self.stream, subject_for(self.prefix, app.name, ">"))
            except NotFoundError:
                continue  # nothing of this application in the stream yet
            application, _, number = (last.headers or {}).get("Nats-Msg-Id", "").partition(":")
            if application != app.name or not number.isdigit():
                continue
            if int(number) > self._position[app.name]:
                log.info("%s: the stream holds events up to %s; resuming after it", app.name, number)
                await asyncio.to_thread(self.positions.save, app.name, int(number))
                self._position[app.name] = int(number)

    async def _relay_batch(self, js: Any, app: Any, max_payload: int) -> int:
        start = self._position[app.name]
        notifications = await asyncio.to_thread(
            app.recorder.select_notifications, start=start, limit=self.batch, inclusive_of_start=False)
        if not notifications:
            return 0
        # Sent in order on one connection, so the stream stores them in order; then every ack.
        acks = await asyncio.gather(*(
            js.publish(subject_for(self.prefix, app.name, n.topic), encode(app.name, n, max_payload),
                       stream=self.stream, headers={"Nats-Msg-Id": f"{app.name}:{n.id}"})
            for n in notifications
        ))
        last = notifications[-1].id
        await asyncio.to_thread(self.positions.save, app.name, last)
        self._position[app.name] = last
        self.published += sum(1 for ack in acks if not ack.duplicate)
        return len(notifications)


async def _wait(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    waits = [asyncio.create_task(stop.wait())] + ([asyncio.create_task(wake.wait())] if wake else [])
    done, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def run_relay(settings: Settings) -> int:
    if not settings.is_postgres:
        log.error("the relay tails PostgreSQL's event logs: set PERSISTENCE_MODULE=eventsourcing.postgres")
        return 2
    # Stopped while starting (or while standing by): nothing was published yet, so a plain exit is clean.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    lock = hold_relay_lock(settings)
    services = Services(settings)
    try:
        return asyncio.run(_run(services, settings))
    finally:
        services.close()
        lock.close()


def hold_relay_lock(settings: Settings) -> Any:
    """One relay publishes at a time: a second one (a standby on another host) waits here, queued
    for a session lock in PostgreSQL, and takes over the moment the first one's session ends. Two
    relays publishing at once would lose nothing and reorder nothing (each publishes in order and
    the stream keeps the first copy of each Msg-Id) but would send everything twice. If the lock's
    session is lost while PostgreSQL restarts, both may publish for a while: harmless, as said."""
    key = f"peerledger relay {settings.store_env.get('POSTGRES_SCHEMA', 'public')} {settings.nats_stream}"
    told = False
    while True:
        lock = None
        try:
            lock = psycopg.connect(postgres_conninfo(settings.store_env), autocommit=True, connect_timeout=5)
            lock.execute("SET lock_timeout = '1s'")  # SIGTERM is seen between tries
            while True:
                try:
                    lock.execute("SELECT pg_advisory_lock(hashtext(%s))", [key])
                    log.info("this relay is the active one")
                    return lock
                except psycopg.errors.LockNotAvailable:
                    if not told:
                        log.info("another relay is active: standing by")
                        told = True
        except psycopg.Error as e:  # PostgreSQL away: wait for it
            if lock is not None:
                lock.close()
            log.warning("cannot take the relay's lock yet (%s)", e)
            time.sleep(1.0)


def relay_for(services: Services, settings: Settings) -> Relay:
    apps = list(services.applications.values())
    return Relay(apps, RelayPositions(services.sql), urls=settings.nats_urls, stream=settings.nats_stream,
                 prefix=settings.nats_subject_prefix, watch=services.watch_log, replicas=settings.nats_replicas)


async def _run(services: Services, settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    relay = relay_for(services, settings)
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, host=settings.metrics_host, lines=lambda: render(services))
    log.info("relaying to stream %s at %s", settings.nats_stream, ", ".join(settings.nats_urls))
    await relay.run(stop)
    return 0
