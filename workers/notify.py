"""`peerledger worker notify`: notifications from the JetStream stream, a durable pull consumer
with explicit acks, bounded redelivery with back-off and a dead-letter stream for what keeps
failing; and `LocalNotifier`, the embedded default's delivery straight from the logs."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import Any

import msgspec
import nats
from nats.js.errors import BadRequestError

from adapters.nats import RelayedEvent
from adapters.prometheus import gauge, serve_metrics
from bootstrap.services import Services
from bootstrap.settings import Settings
from operations.metrics import render
from operations.notifications import Notifier

log = logging.getLogger("peerledger.notify")

MAX_DELIVER = 5
BACKOFF = [1.0, 2.0, 5.0, 10.0]  # seconds before the 2nd, 3rd, 4th and 5th delivery
CONSUMER = "notify"


def run_notify(settings: Settings) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped while starting
    services = Services(settings)
    services.watch_store()  # its pools refreshed as soon as PostgreSQL is back after a restart
    try:
        return asyncio.run(_run(services, settings))
    finally:
        services.close()


async def _run(services: Services, settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    nc = await nats.connect(servers=list(settings.nats_urls), max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    stats: dict[str, float] = {}
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, host=settings.metrics_host, lines=lambda: render(services) + gauge(
            "peerledger_consumer_messages", "The notify consumer's messages by state (JetStream's count)",
            [({"consumer": "notify", "state": k}, v) for k, v in sorted(stats.items())]))
    try:
        log.info("notifications from stream %s", settings.nats_stream)
        await consume(Notifier(services, services.notifications), nc.jetstream(), stream=settings.nats_stream,
                      prefix=settings.nats_subject_prefix, stop=stop, stats=stats)
    finally:
        await nc.close()
    return 0


class LocalNotifier:
    """The embedded default's delivery: the logs read in process, a position per application."""

    def __init__(self, notifier: Notifier, interval: float = 1.0) -> None:
        self.notifier = notifier
        self.interval = interval  # a look without a wake-up, in case one was missed
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._unwatch: list[Any] = []

    def run_once(self) -> int:
        handled = 0
        store = self.notifier.store
        for name, app in self.notifier.apps.items():
            try:  # an event that cannot be handled holds up its own application only
                position = store.position(name)
                for n in app.recorder.select_notifications(start=position, limit=500, inclusive_of_start=False):
                    self.notifier.handle(RelayedEvent(name, n.id, str(n.originator_id), n.originator_version,
                                                      n.topic, msgspec.Raw(n.state)))
                    store.save_position(name, n.id)
                    handled += 1
            except Exception:  # noqa: BLE001 - logged; tried again next round
                log.exception("notifications from %s failed; retrying", name)
        return handled

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
        self._thread.start()
        self._unwatch = [self.notifier.services.watch_log(name, self._wake.set) for name in self.notifier.apps]

    def stop(self) -> None:
        for unwatch in self._unwatch:
            unwatch()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.run_once():
                    self._wake.wait(self.interval)
                    self._wake.clear()
            except Exception:  # noqa: BLE001 - logged, tried again
                log.exception("notifications failed; retrying")
                self._stop.wait(1.0)


TRANSIENT = (OSError, ConnectionError)  # with the store's own errors, added below


def is_transient(e: BaseException) -> bool:
    """The store or the mail server away: not the message's fault."""
    from eventsourcing.persistence import InterfaceError, OperationalError
    from psycopg import OperationalError as PsycopgOperationalError

    return isinstance(e, (*TRANSIENT, InterfaceError, OperationalError, PsycopgOperationalError))


async def consume(notifier: Notifier, js: Any, *, stream: str, prefix: str, stop: asyncio.Event,
                  backoff: list[float] = BACKOFF, stats: dict[str, float] | None = None) -> None:
    """The durable pull consumer: ack after handling. A message that fails for its own sake is
    nak'ed with a growing delay, and after MAX_DELIVER deliveries goes to the dead-letter stream
    with the reason; the consumer goes on. A failure of the store (or mail) is not the message's
    fault: the message is held (in progress) and tried again until the store is back."""
    from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

    dead_subject = f"{prefix}_dead"
    # A failed message is nak'ed with a growing delay (`backoff`); one whose handler died with
    # the process comes back after ack_wait.
    config = ConsumerConfig(durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=30,
                            max_deliver=MAX_DELIVER, max_ack_pending=1_000, filter_subject=f"{prefix}.>")
    subscription = None
    while subscription is None and not stop.is_set():  # the relay may not have made the stream yet
        try:
            try:
                await js.add_stream(StreamConfig(name=f"{stream}_DEAD", subjects=[f"{dead_subject}.>"],
                                                 storage=StorageType.FILE))
            except BadRequestError:
                pass  # it exists
            subscription = await js.pull_subscribe(f"{prefix}.>", durable=CONSUMER, stream=stream, config=config)
        except Exception as e:  # noqa: BLE001 - NATS or the stream not there yet
            log.warning("cannot subscribe to %s yet (%s)", stream, e)
            await _wait_for(stop, 1.0)
    stats = stats if stats is not None else {}
    while not stop.is_set():
        try:
            info = await subscription.consumer_info()
            stats.update(pending=info.num_pending or 0, ack_pending=info.num_ack_pending or 0,
                         redelivered=info.num_redelivered or 0)
        except Exception:  # noqa: BLE001 - only for /metrics
            pass
        try:
            messages = await subscription.fetch(100, timeout=1)
        except TimeoutError:
            continue
        except Exception as e:  # noqa: BLE001 - NATS away: the client reconnects
            log.warning("fetch failed (%s)", e)
            await _wait_for(stop, 1.0)
            continue
        for msg in messages:
            await _handle(notifier, js, msg, dead_subject, backoff, stats, stop)


async def _handle(notifier: Notifier, js: Any, msg: Any, dead_subject: str, backoff: list[float],
                  stats: dict[str, float], stop: asyncio.Event) -> None:
    delay = 0.5
    while not stop.is_set():
        try:
            event = msgspec.json.decode(msg.data, type=RelayedEvent)
            await asyncio.to_thread(notifier.handle, event)
        except Exception as e:  # noqa: BLE001 - sorted below
            if is_transient(e):
                log.warning("store away while handling %s (%s); holding it", msg.subject, e)
                await msg.in_progress()
                await _wait_for(stop, delay)
                delay = min(delay * 2, 10.0)
                continue
            delivered = msg.metadata.num_delivered
            if delivered >= MAX_DELIVER:
                log.error("message %s failed %d times, dead-lettered: %r", msg.subject, delivered, e)
                try:
                    await js.publish(f"{dead_subject}.{msg.subject}", msg.data, headers={
                        "Reason": f"{type(e).__name__}: {e}"[:500], "Original-Subject": msg.subject,
                        "Failed-At": datetime.now(timezone.utc).isoformat()})
                except Exception as dead:  # noqa: BLE001 - not lost: it comes back after ack_wait
                    log.error("could not dead-letter %s (%s)", msg.subject, dead)
                    return
                stats["dead_lettered"] = stats.get("dead_lettered", 0) + 1
                await msg.term()
            else:
                await msg.nak(delay=backoff[min(delivered, len(backoff)) - 1])
            return
        await msg.ack()
        return


async def _wait_for(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
