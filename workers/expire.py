"""`peerledger worker expire`: operations.expiry's pass every minute until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading

from operations.expiry import expire_loop
from adapters.prometheus import serve_metrics
from operations.metrics import render
from bootstrap.services import Services
from bootstrap.settings import Settings


def run_expire(settings: Settings, interval: float = 60.0, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    services = Services(settings)
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, host=settings.metrics_host, lines=lambda: render(services))
    try:
        expire_loop(services, interval, stop)
    finally:
        services.close()
    return 0
