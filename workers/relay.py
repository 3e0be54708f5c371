"""`peerledger worker relay`: publishes every application's events to NATS JetStream."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from runtime.metrics import render, serve_metrics
from runtime.relay import Relay, RelayPositions
from runtime.services import Services
from runtime.settings import Settings

log = logging.getLogger("peerledger.workers")


def run_relay(settings: Settings) -> int:
    if not settings.is_postgres:
        log.error("the relay tails PostgreSQL's event logs: set PERSISTENCE_MODULE=eventsourcing.postgres")
        return 2
    # Stopped while starting: nothing was published yet, so a plain exit is clean.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    services = Services(settings)
    try:
        return asyncio.run(_run(services, settings))
    finally:
        services.close()


def relay_for(services: Services, settings: Settings) -> Relay:
    apps = [services.catalogue, services.accounts, services.claims, services.follows, services.invitations]
    return Relay(apps, RelayPositions(services.sql), urls=settings.nats_urls, stream=settings.nats_stream,
                 prefix=settings.nats_subject_prefix, store_env=settings.store_env)


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
