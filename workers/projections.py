"""`peerledger worker projections`: runs the projection runners outside the API process."""

from __future__ import annotations

import logging
import signal
import threading

from runtime.services import Services
from runtime.settings import Settings

log = logging.getLogger("peerledger.workers")


def run_projections(settings: Settings, stop: threading.Event | None = None) -> int:
    """Catch up, then follow the log until SIGTERM/SIGINT. Exactly once through tracking rows:
    a second worker on the same projection cannot apply a batch twice (its tracking insert fails).
    """
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    services = Services(settings)
    try:
        services.start_projections()
        log.info("projections running: %s", ", ".join(r.name for r in services.runners))
        while not stop.wait(1.0):
            for runner in services.runners:
                if runner.error is not None:
                    log.warning("projection %s is failing: %r", runner.name, runner.error)
    finally:
        services.close()
    return 0
