"""A person reads their own writes without asking: the follow position each account wrote last,
remembered for a short while in this API process, is waited for (briefly) when the same account
reads a profile; a private list (my invitations, conversations, claims) is read once its read
model has caught up with the log as it is at the request, so both parties see what either did.

Per process: behind a load balancer without sticky sessions, a follow's answer carries its
`position`, and `GET /researchers/{id}?consistent_with=<position>` works on any process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

REMEMBER_SECONDS = 30.0  # long enough for the page that follows the write
WAIT_SECONDS = 2.0  # the most a read waits for a read model


class OwnWrites:
    def __init__(self, max_entries: int = 100_000, reader_follows: ReaderFollows | None = None) -> None:
        self.max_entries = max_entries
        self.reader_follows = reader_follows
        self._lock = threading.Lock()
        self._positions: dict[UUID, tuple[float, int]] = {}  # account -> (until, follow position)

    def followed(self, account_id: UUID, position: int | None) -> None:
        if position is None:
            return
        if self.reader_follows is not None:
            self.reader_follows.forget(account_id)
        with self._lock:
            if len(self._positions) >= self.max_entries:
                now = time.monotonic()
                self._positions = {a: p for a, p in self._positions.items() if p[0] > now}
            self._positions[account_id] = (time.monotonic() + REMEMBER_SECONDS, position)

    def follow_position(self, account_id: UUID) -> int | None:
        with self._lock:
            found = self._positions.get(account_id)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]


def settled(state: Any, position: int | None) -> None:
    """A claims command's answer waits (briefly) until the profiles show its event at `position`,
    and this process's cached profiles with them: the writer's next read sees the change."""
    if position is not None and state.services.runner_of("profiles", "Claims").wait(position, WAIT_SECONDS):
        state.profile_cache.refresh()


def caught_up(runner: Any) -> bool:
    """Wait (briefly) until `runner`'s read model has the log as it is now (in a worker thread)."""
    return runner.wait(runner.head(), WAIT_SECONDS)


class ReaderFollows:
    """The records each signed-in reader follows, kept for a few seconds, so a signed-in profile
    read answers `following` without a query. The reader's own follow or unfollow in this process
    forgets theirs at once (and the read waits for it to be counted first: OwnWrites); one made
    through another process shows within KEEP_SECONDS, or at once with `consistent_with`, as
    the counts do. While the reader's own follow is recent (OwnWrites), reads ask the view. A reader who follows more than `max_follows` records is asked each time."""

    KEEP_SECONDS = 10.0

    def __init__(self, load: Callable[[str, int], list[str]], max_readers: int = 50_000,
                 max_follows: int = 5_000) -> None:
        self._load = load
        self.max_readers = max_readers
        self.max_follows = max_follows
        self._lock = threading.Lock()
        self._kept: dict[UUID, tuple[float, frozenset[str]]] = {}
        self._generation: dict[UUID, int] = {}  # bumped by forget: a load begun before is not kept
        self._epoch = 0  # bumped when the generations are dropped (too many): no load across it is kept

    def get(self, account_id: UUID) -> frozenset[str] | None:
        found = self._kept.get(account_id)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def load(self, account_id: UUID) -> frozenset[str] | None:
        """Read the reader's follows (blocking); None when there are too many to keep."""
        generation = (self._epoch, self._generation.get(account_id, 0))
        followed = self._load(str(account_id), self.max_follows + 1)
        if len(followed) > self.max_follows:
            return None
        kept = frozenset(followed)
        with self._lock:
            if (self._epoch, self._generation.get(account_id, 0)) == generation:
                if len(self._kept) >= self.max_readers:
                    self._kept.clear()
                self._kept[account_id] = (time.monotonic() + self.KEEP_SECONDS, kept)
        return kept

    def forget(self, account_id: UUID) -> None:
        with self._lock:
            self._kept.pop(account_id, None)
            self._generation[account_id] = self._generation.get(account_id, 0) + 1
            if len(self._generation) > self.max_readers:
                self._generation, self._epoch = {}, self._epoch + 1
