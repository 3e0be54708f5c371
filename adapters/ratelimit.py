"""Fixed-window rate limits counted in the database, so every API process shares them."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable

from domain.errors import TooManyRequestsError
from adapters.sqlstore import SqlStore

PRUNE_EVERY = 1_000


class RateLimiter:
    def __init__(self, store: SqlStore, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.secret = secret  # keys hold addresses; only their keyed hashes are stored
        self.clock = clock
        self._hits = 0
        store.execute(
            f"CREATE TABLE IF NOT EXISTS peerledger_rate_limits (key TEXT NOT NULL, window_start {store.bigint} NOT NULL,"
            " hits INTEGER NOT NULL, PRIMARY KEY (key, window_start))"
        )

    def _key(self, key: str) -> str:
        return hmac.new(self.secret, key.encode(), hashlib.sha256).hexdigest()[:40]

    def check(self, key: str, limit: int, window_seconds: int, what: str) -> None:
        """Refuse if `limit` attempts were already counted in the window, without counting one."""
        now = self.clock()
        window_start = int(now // window_seconds * window_seconds)
        rows = self.store.execute(
            "SELECT hits FROM peerledger_rate_limits WHERE key = %s AND window_start = %s",
            (self._key(key), window_start),
        )
        if rows and rows[0][0] >= limit:
            retry_after = max(1, math.ceil(window_start + window_seconds - now))
            raise TooManyRequestsError(f"too many {what}; try again in {retry_after} seconds", retry_after)

    def hit(self, key: str, limit: int, window_seconds: int, what: str) -> None:
        """Count one attempt; raise TooManyRequestsError once `limit` is passed in the window."""
        now = self.clock()
        window_start = int(now // window_seconds * window_seconds)
        hashed = self._key(key)
        [(hits,)] = self.store.execute(
            "INSERT INTO peerledger_rate_limits (key, window_start, hits) VALUES (%s, %s, 1)"
            " ON CONFLICT (key, window_start) DO UPDATE SET hits = peerledger_rate_limits.hits + 1"
            " RETURNING hits",
            (hashed, window_start),
        )
        self._hits += 1
        if self._hits % PRUNE_EVERY == 0:
            self.store.execute("DELETE FROM peerledger_rate_limits WHERE window_start < %s", (int(now) - 86_400,))
        if hits > limit:
            retry_after = max(1, math.ceil(window_start + window_seconds - now))
            raise TooManyRequestsError(f"too many {what}; try again in {retry_after} seconds", retry_after)
