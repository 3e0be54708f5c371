"""`peerledger worker expire`: operations.expiry's pass every minute until SIGTERM/SIGINT; its
/metrics says how long ago the last pass worked (an alert on it finds a stalled worker)."""

from __future__ import annotations

import signal
import threading
import time

from operations.expiry import expire_loop
from adapters.prometheus import gauge, serve_metrics
from operations.metrics import render
from bootstrap.services import Services
from bootstrap.settings import Settings


def run_expire(settings: Settings, interval: float = 60.0, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    services = Services(settings)
    services.watch_store()  # its pools refreshed as soon as PostgreSQL is back after a restart
    last_pass = [time.monotonic()]  # the start counts as one: the age says how long it has not worked
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, host=settings.metrics_host, lines=lambda: render(services) + gauge(
            "peerledger_expiry_seconds_since_pass", "Seconds since an expiry pass last worked",
            [({}, round(time.monotonic() - last_pass[0], 3))]))
    try:
        expire_loop(services, interval, stop, passed=lambda: last_pass.__setitem__(0, time.monotonic()))
    finally:
        services.close()
    return 0
