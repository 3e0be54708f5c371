"""Encoded profiles kept in memory, dropped as soon as the projection rewrites them.

A poller reads the view's position P and the ids of profiles rewritten since the last poll,
and drops them. A profile read from the view is cached only if it was read together with a
view position at or after the poller's: otherwise a newer version could already have been
dropped, and caching the older one would keep it stale. So a cached profile is never older
than the last poll: freshness is bounded by the refresh interval.
"""

from __future__ import annotations

import logging
import threading

from projections.profiles.view import ProfilesView

log = logging.getLogger(__name__)


class ProfileCache:
    def __init__(
        self, view: ProfilesView, application_name: str, *, refresh_seconds: float, max_entries: int = 500_000
    ) -> None:
        self.view = view
        self.application_name = application_name
        self.refresh_seconds = refresh_seconds
        self.max_entries = max_entries
        self._docs: dict[str, bytes] = {}
        self._seen = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self, researcher_id: str) -> bytes | None:
        return self._docs.get(researcher_id)

    def load(self, researcher_id: str) -> bytes | None:
        """Read through to the view (call off the event loop)."""
        row = self.view.profile(researcher_id, self.application_name)
        if row is None:
            return None
        doc, read_at = row
        with self._lock:
            if read_at >= self._seen and len(self._docs) < self.max_entries:
                self._docs[researcher_id] = doc
        return doc

    def refresh(self) -> None:
        """Drop the profiles rewritten since the last refresh."""
        position = self.view.position(self.application_name)
        with self._lock:
            if position < self._seen:  # the view was rebuilt from scratch
                self._docs.clear()
            elif position > self._seen:
                for researcher_id in self.view.changed_since(self._seen, position):
                    self._docs.pop(researcher_id, None)
            self._seen = position

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="profile-cache", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopping.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:  # the store may be briefly unreachable; keep polling
                log.exception("profile cache refresh failed")
                with self._lock:
                    self._docs.clear()
