"""Argon2id password hashing, bounded so that concurrent logins cannot exhaust memory."""

from __future__ import annotations

import threading

import argon2


class Argon2Hasher:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int, max_concurrent: int) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=argon2.Type.ID
        )
        # Each hash holds `memory_kib` of memory; at most this many run at once (they run in
        # worker threads and release the GIL, so the event loop is never blocked by them).
        self._slots = threading.BoundedSemaphore(max_concurrent)

    def hash(self, password: str) -> str:
        with self._slots:
            return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._slots:
            try:
                return self._hasher.verify(password_hash, password)
            except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
                return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
