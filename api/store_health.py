"""While PostgreSQL does not answer, requests are answered 503 at once.

Otherwise a request in an outage waits for a pooled connection (POSTGRES_CONNECT_TIMEOUT) once
per retry eventsourcing makes (ten), close to two minutes, and the session check before it as
long again. A thread connects once a second with a short timeout; the guard, the outermost
middleware but for the error table, turns requests away while the last try failed. Requests
already waiting when the server went away still wait for their pools; every later one does not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from api.errors import ProblemError

log = logging.getLogger("peerledger.api")

OPEN_WHILE_DOWN = ("/health", "/schema")  # answered without the store
# What a connection attempt says when no server is there to answer (not when one is busy: "too many
# clients" means it answers, and its requests wait for pools as usual).
UNREACHABLE = ("connection refused", "could not connect", "timeout expired", "shutting down", "starting up",
               "no route to host", "server closed the connection", "terminating connection")


class StoreHealth:
    def __init__(self, probe: Callable[[], None], interval: float = 1.0, failures_before_down: int = 2,
                 on_back: Callable[[], None] | None = None) -> None:
        self.probe = probe  # raises when the store does not answer
        self.on_back = on_back  # called when it answers again (the pools' dead connections replaced)
        self.interval = interval
        self.failures_before_down = failures_before_down
        self.down = False
        self._failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="store-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.probe()
            except Exception as e:  # noqa: BLE001 - sorted below
                if not any(words in str(e).lower() for words in UNREACHABLE):
                    continue  # the server answered, if with an error: not an outage
                self._failures += 1
                if self._failures >= self.failures_before_down and not self.down:
                    log.warning("the store does not answer (%s): requests get 503 until it does", type(e).__name__)
                    self.down = True
            else:
                if self.down:
                    log.warning("the store answers again")
                    if self.on_back is not None:
                        try:
                            self.on_back()
                        except Exception:  # noqa: BLE001 - each checkout is still pre-pinged
                            log.exception("after the store came back")
                self._failures, self.down = 0, False


def store_guard(app: Any) -> Any:
    """ASGI middleware: a 503 problem for every request but OPEN_WHILE_DOWN while the store is down."""

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(OPEN_WHILE_DOWN):
            health: StoreHealth | None = getattr(scope["app"].state, "store_health", None)
            if health is not None and health.down:
                raise ProblemError(503, "the service cannot reach its store right now; try again shortly",
                                   headers={"Retry-After": "5"})
        await app(scope, receive, send)

    return guarded
