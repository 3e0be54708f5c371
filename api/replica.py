"""An in-memory replica of a read model, loaded at start and refreshed when its read model changes.

Given `watch` (Services.watch_log on the read model's changes), a replica refreshes as soon as a
batch of its read model commits, and otherwise every `refresh_seconds` only as a safety net for a
wake-up lost while LISTEN reconnects. Without it (see api/app.py for when), every
`refresh_seconds`.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

log = logging.getLogger(__name__)

# Given the replica's wake-up, have it called whenever the read model changes; returns the unwatch.
Watch = Callable[[Callable[[], None]], Callable[[], None]]


class Replica(ABC):
    def __init__(self, *, refresh_seconds: float, name: str, watch: Watch | None = None) -> None:
        self.refresh_seconds = refresh_seconds  # the longest wait without a wake-up
        self.name = name
        self._watch = watch
        self._unwatch: Callable[[], None] | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def warm(self) -> None:
        """Load from scratch (at start, and after the read model was rebuilt)."""

    @abstractmethod
    def refresh(self) -> None:
        """Take in what changed since the last refresh."""

    def start(self) -> None:
        if self._watch is not None:  # before warming: a change committed meanwhile is then refreshed
            self._unwatch = self._watch(self.wake)
        self.warm()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.refresh_seconds)
            self._wake.clear()  # before reading: a change committed during the refresh wakes it again
            if self._stopping.is_set():
                return
            try:
                self.refresh()
            except Exception:  # the store may be briefly unreachable; serve what is known, retry
                log.exception("%s refresh failed", self.name)
