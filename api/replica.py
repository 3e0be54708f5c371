"""An in-memory replica of a read model, loaded at start and refreshed on a timer."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class PolledReplica(ABC):
    def __init__(self, *, refresh_seconds: float, name: str) -> None:
        self.refresh_seconds = refresh_seconds
        self.name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def warm(self) -> None:
        """Load from scratch (at start, and after the read model was rebuilt)."""

    @abstractmethod
    def refresh(self) -> None:
        """Take in what changed since the last refresh."""

    def start(self) -> None:
        self.warm()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopping.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:  # the store may be briefly unreachable; serve what is known, retry
                log.exception("%s refresh failed", self.name)
