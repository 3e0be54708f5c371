"""Encoded profiles held in memory: a replica of the view's documents, kept fresh by position.

At start the cache loads up to `max_entries` documents. Every refresh reads the view's
position P and the documents rewritten since the last refresh, and replaces them. A
profile loaded on a miss is cached only if it was read together with a view position at
or after the last refresh: otherwise a newer version may already have passed by, and
caching the older one would keep it stale. So no cached profile is older than the last
refresh, which follows each batch of the profiles projection (api/replica.py).
"""

from __future__ import annotations

import itertools
import threading

from api.replica import Replica, Watch
from projections.profiles.view import ProfilesView

WARM_PAGE = 5_000
_GENERATIONS = itertools.count(1)


class ProfileCache(Replica):
    def __init__(self, view: ProfilesView, *, refresh_seconds: float, max_entries: int = 100_000,
                 watch: Watch | None = None) -> None:
        super().__init__(refresh_seconds=refresh_seconds, name="profile-cache", watch=watch)
        self.view = view
        self.max_entries = max_entries
        self._docs: dict[str, bytes] = {}
        self._seen = 0
        self._generation = 0  # a new one at each warm, unique in the process: the view may have been rebuilt
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def stamp(self) -> tuple[int, int]:
        """How far this replica has taken in the view: what is derived from profiles (the profile
        pages) is never older than what was derived under the same stamp."""
        with self._lock:
            return self._generation, self._seen

    def get(self, researcher_id: str) -> bytes | None:
        return self._docs.get(researcher_id)

    def load(self, researcher_id: str) -> bytes | None:
        """Read through to the view (call off the event loop)."""
        row = self.view.profile(researcher_id)
        if row is None:
            return None
        doc, read_at = row
        with self._lock:
            if read_at >= self._seen and len(self._docs) < self.max_entries:
                self._docs[researcher_id] = doc
        return doc

    def warm(self) -> None:
        """Load documents up to capacity; anything rewritten meanwhile comes with the next refresh."""
        with self._lock:
            self._seen = self.view.docs_position()
            self._generation = next(_GENERATIONS)
            self._docs.clear()
        after = ""
        while len(self._docs) < self.max_entries:
            rows = self.view.profiles(after, min(WARM_PAGE, self.max_entries - len(self._docs)))
            if not rows:
                break
            with self._lock:
                for researcher_id, doc in rows:
                    self._docs.setdefault(researcher_id, doc)  # a refresh may have put a newer one
            after = rows[-1][0]

    def refresh(self) -> None:
        """Replace the profiles rewritten since the last refresh."""
        position = self.view.docs_position()
        if position < self._seen:  # the view was rebuilt from scratch
            self.warm()
            return
        if position == self._seen:
            return
        # No upper bound: a profile rewritten again after `position` was read comes back with
        # its newer position, and every batch up to the newest one seen has committed (batches
        # commit in tracking order), so nothing at or below the new mark can still appear.
        changed = self.view.changed_since(self._seen)
        with self._lock:
            for researcher_id, doc, _ in changed:
                if researcher_id in self._docs or len(self._docs) < self.max_entries:
                    self._docs[researcher_id] = doc
            self._seen = max([position, *(p for _, _, p in changed)])
