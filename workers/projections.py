"""`peerledger worker projections [NAME ...]`: runs projection runners outside the API process.

Exactly once through tracking rows: a batch is applied only where the view is. On PostgreSQL
each projection is also held by one worker at a time (a session advisory lock): a second worker
started for the same projection waits, and takes over when the first stops or dies (the server
releases a dead session's locks).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import psycopg

from runtime.metrics import render, serve_metrics
from runtime.services import Services
from runtime.settings import Settings
from runtime.sqlstore import postgres_conninfo

log = logging.getLogger("peerledger.workers")


def run_projections(settings: Settings, names: list[str] | None = None, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    services = Services(settings)
    try:
        known = list(dict.fromkeys(r.projection_name for r in services.runners))
        unknown = sorted(set(names or []) - set(known))
        if unknown:
            log.error("no projection called %s; there are: %s", ", ".join(unknown), ", ".join(known))
            return 2
        chosen = names or known
        if settings.metrics_port:
            serve_metrics(settings.metrics_port, host=settings.metrics_host, lines=lambda: render(services))
        threads = [threading.Thread(target=_hold_and_run, name=f"projection-{name}", daemon=True,
                                    args=(services, settings, name, stop)) for name in chosen]
        for thread in threads:
            thread.start()
        while not stop.wait(1.0):
            for runner in services.runners:
                if runner.error is not None:
                    log.warning("projection %s is failing: %r", runner.name, runner.error)
        for thread in threads:
            thread.join(timeout=15)
    finally:
        services.close()
    return 0


def _hold_and_run(services: Services, settings: Settings, name: str, stop: threading.Event) -> None:
    runners = [r for r in services.runners if r.projection_name == name]
    lock: Any = None
    if settings.is_postgres:
        lock = psycopg.connect(postgres_conninfo(settings.store_env), autocommit=True)
        key = f"peerledger projection {settings.store_env.get('POSTGRES_SCHEMA', 'public')}.{name}"
        while not stop.is_set():
            if lock.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key]).fetchone()[0]:
                break
            log.info("projection %s is run by another worker: waiting", name)
            stop.wait(1.0)
        if stop.is_set():
            lock.close()
            return
    try:
        for runner in runners:
            runner.catch_up()
            runner.start()
        log.info("projection %s running", name)
        stop.wait()
    finally:
        for runner in runners:
            runner.stop()
        if lock is not None:
            lock.close()
