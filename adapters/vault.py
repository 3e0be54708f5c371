"""Per-subject keys for personal data, kept in their own table, never in the events.

Each sealed value is AES-256-GCM with the subject's key, the subject id as associated data
(a value cannot be moved to another subject), and a version prefix. Destroying the key
makes every value sealed with it unreadable: that is how an account is erased. An empty key is
left in its place (a tombstone), so nothing sealed for an erased subject afterwards (a request
that passed its checks just before the erasure, a session another process still trusts for a
few seconds) gets a new, readable key: sealing for it is refused as for an unknown account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.sqlstore import SqlStore
from domain.errors import AccountNotFoundError

ERASED = b""  # the tombstone a destroyed key leaves

PREFIX = "v1:"


class SqlVault:
    def __init__(self, store: SqlStore, email_secret: bytes) -> None:
        self.store = store
        self.email_secret = email_secret
        store.execute(
            f"CREATE TABLE IF NOT EXISTS peerledger_subject_keys (subject_id TEXT PRIMARY KEY, key {store.blob} NOT NULL)"
        )

    def _key(self, subject_id: UUID, *, create: bool) -> bytes | None:
        with self.store.transaction() as run:
            rows = run("SELECT key FROM peerledger_subject_keys WHERE subject_id = %s", (str(subject_id),))
            if rows:
                key = bytes(rows[0][0])
                if key == ERASED:
                    if create:
                        raise AccountNotFoundError  # erased: nothing new is sealed for it
                    return None
                return key
            if not create:
                return None
            key = AESGCM.generate_key(bit_length=256)
            run("INSERT INTO peerledger_subject_keys (subject_id, key) VALUES (%s, %s)", (str(subject_id), key))
            return key

    def seal(self, subject_id: UUID, plaintext: str) -> str:
        key = self._key(subject_id, create=True)
        assert key is not None
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), str(subject_id).encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        key = self._key(subject_id, create=False)
        if key is None or not sealed.startswith(PREFIX):
            return None
        raw = base64.b64decode(sealed[len(PREFIX) :])
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], str(subject_id).encode()).decode()
        except InvalidTag:
            return None

    def destroy(self, subject_id: UUID) -> None:
        self.store.execute("INSERT INTO peerledger_subject_keys (subject_id, key) VALUES (%s, %s)"
                           " ON CONFLICT (subject_id) DO UPDATE SET key = excluded.key", (str(subject_id), ERASED))

    def email_key(self, email: str) -> str:
        return hmac.new(self.email_secret, email.encode(), hashlib.sha256).hexdigest()
