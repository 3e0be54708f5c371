"""Wakes whoever tails an application's log as soon as the application records events.

Projection runners, the relay and the embedded notifier used to find new events by polling
every 50 ms. Now they wait to be woken: at once when the application saves in this process
(its `_notify` hook), and through PostgreSQL's LISTEN/NOTIFY when another process saved (one
connection and one thread for every log; the recorder sends NOTIFY on its channel in the
transaction that inserts). Waiters keep a slow poll as a safety net: a notification lost
while the LISTEN connection reconnects, or a write by another process on SQLite (which has
no notifications), is then picked up within that poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


class LogWatch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakers: dict[str, list[Callable[[], None]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = False  # a LISTEN connection is open (PostgreSQL)
        # Called when the LISTEN connection is back after being lost: the server restarted, and
        # pooled connections elsewhere in the process are dead too.
        self.on_reconnect: Callable[[], None] | None = None

    def watch(self, application: str, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` whenever `application` records events; returns the way to stop."""
        with self._lock:
            self._wakers.setdefault(application, []).append(wake)

        def unwatch() -> None:
            with self._lock:
                wakers = self._wakers.get(application, [])
                if wake in wakers:
                    wakers.remove(wake)

        return unwatch

    def saved(self, application: str) -> None:
        with self._lock:
            wakers = list(self._wakers.get(application, ()))
        for wake in wakers:
            try:
                wake()
            except Exception:  # noqa: BLE001 - a waiter's trouble must not fail the writer's save
                log.exception("waking a reader of %s failed", application)

    def attach(self, app: Any) -> None:
        """Wake this application's readers after each of its saves in this process."""
        original = app._notify  # noqa: SLF001 - eventsourcing's documented hook for "events were saved"

        def notify(recordings: Any) -> None:
            original(recordings)
            self.saved(app.name)

        app._notify = notify  # noqa: SLF001

    def listen(self, conninfo: str, channels: dict[str, str]) -> None:
        """Listen on each application's channel ({channel: application}) in one thread."""
        if not channels:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, args=(conninfo, channels), name="log-watch",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen(self, conninfo: str, channels: dict[str, str]) -> None:
        lost = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                    for channel in channels:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    if lost and self.on_reconnect is not None:
                        try:
                            self.on_reconnect()
                        except Exception:  # noqa: BLE001 - a hook's trouble must not stop the watch
                            log.exception("after reconnecting")
                    lost = False
                    # Whatever was recorded while the connection was away: everyone reads again.
                    self._wake_all(channels.values())
                    self.listening = True
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            application = channels.get(notice.channel)
                            if application is not None:
                                self.saved(application)
            except psycopg.Error as e:
                if self.listening or not self._stop.is_set():
                    log.warning("LISTEN connection lost (%s); readers poll until it is back", e)
                self.listening, lost = False, True
                self._stop.wait(1.0)
        self.listening = False

    def _wake_all(self, applications: Iterable[str]) -> None:
        for application in set(applications):
            self.saved(application)
