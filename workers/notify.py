"""`peerledger worker notify`: notifications from the JetStream stream (durable consumer)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import nats

from runtime.metrics import gauge, render, serve_metrics
from runtime.notify import Notifier, consume
from runtime.services import Services
from runtime.settings import Settings

log = logging.getLogger("peerledger.workers")


def run_notify(settings: Settings) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped while starting
    services = Services(settings)
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
