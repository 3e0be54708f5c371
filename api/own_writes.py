"""A person reads their own writes without asking: the follow position each account wrote last,
remembered for a short while in this API process, is waited for (briefly) when the same account
reads a profile; a private list (my invitations, conversations, claims) is read once its read
model has caught up with the log as it is at the request, so both parties see what either did.

Per process: behind a load balancer without sticky sessions, a follow's answer carries its
`position`, and `GET /researchers/{id}?consistent_with=<position>` works on any process."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

REMEMBER_SECONDS = 30.0  # long enough for the page that follows the write
WAIT_SECONDS = 2.0  # the most a read waits for a read model


class OwnWrites:
    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._positions: dict[UUID, tuple[float, int]] = {}  # account -> (until, follow position)

    def followed(self, account_id: UUID, position: int | None) -> None:
        if position is None:
            return
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


def caught_up(runner: Any) -> bool:
    """Wait (briefly) until `runner`'s read model has the log as it is now (in a worker thread)."""
    return runner.wait(runner.head(), WAIT_SECONDS)
