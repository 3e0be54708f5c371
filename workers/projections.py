"""`peerledger worker projections [NAME ...]`: runs projection runners outside the API process.

Exactly once through tracking rows: a batch is applied only where the view is. On PostgreSQL
each projection is also held by one worker at a time (a session advisory lock): a second worker
started for the same projection waits in the lock's queue, and takes over when the first stops
or dies (the server releases a dead session's locks): about a second after a kill -9 here.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import psycopg

from adapters.prometheus import serve_metrics
from operations.metrics import render
from bootstrap.services import Services
from bootstrap.settings import Settings
from adapters.sqlstore import postgres_conninfo

log = logging.getLogger("peerledger.workers")

LOCK_WAIT_SECONDS = 1.0  # a waiting worker looks whether it should stop this often


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
        services.follow_versions()  # `peerledger replay` switched readers: run the new version's runners
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
    """Wait for the projection's lock, run its runners while the lock holds, and go back to
    waiting if the lock's connection is lost (another worker may hold the lock then)."""
    if not settings.is_postgres:
        _run(services, name, stop, lambda: True)
        return
    key = f"peerledger projection {settings.store_env.get('POSTGRES_SCHEMA', 'public')}.{name}"
    while not stop.is_set():
        lock: Any = None
        try:
            lock = psycopg.connect(postgres_conninfo(settings.store_env), autocommit=True, connect_timeout=5)
            if _wait_for_lock(lock, key, name, stop):
                _run(services, name, stop, lambda: _alive(lock))
        except Exception as e:  # noqa: BLE001 - PostgreSQL away: wait for it, then for the lock again
            log.warning("projection %s: lock unavailable (%s); trying again", name, e)
            stop.wait(1.0)
        finally:
            if lock is not None and not lock.closed:
                lock.close()


def _wait_for_lock(lock: Any, key: str, name: str, stop: threading.Event) -> bool:
    """Queue for the lock in PostgreSQL itself, so a standby takes over the moment the holder's
    session ends (a killed worker's session ends when its socket closes), rather than at its
    next poll; lock_timeout only lets it look at `stop` now and then. True once held."""
    lock.execute(f"SET lock_timeout = '{int(LOCK_WAIT_SECONDS * 1000)}ms'")
    told = False
    while not stop.is_set():
        try:
            lock.execute("SELECT pg_advisory_lock(hashtext(%s))", [key])
            return True
        except psycopg.errors.LockNotAvailable:
            if not told:
                log.info("projection %s is run by another worker: waiting", name)
                told = True
    return False


def _alive(lock: Any) -> bool:
    try:
        lock.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - the session, and with it the lock, is gone
        return False


def _run(services: Services, name: str, stop: threading.Event, holding: Any) -> None:
    # The services run the version readers use, and move the runners when a replay switches them.
    services.start_runners(name)
    log.info("projection %s running", name)
    try:
        while not stop.wait(2.0):
            if not holding():
                log.warning("lost the lock of projection %s: stopping it", name)
                return
    finally:
        services.stop_runners(name)
