"""Follower counts held in memory, kept fresh by the followers view's position.

Counts change far more often than profiles, so they are not part of the stored profile
document: the API appends them to it (`with_counts`). Every count is loaded at start; a
refresh reads the counts rewritten since the last one. Nothing is older than the last
refresh; a client that wants its own follow seen passes the position its command returned.
"""

from __future__ import annotations

import functools
import threading

import msgspec

from api.replica import PolledReplica
from domain.trust import TrustInputs, trust
from projections.followers.view import FollowersView
from projections.trust.runner import DocInputs

TRUST_PLACEHOLDER = b'"trust":{"score":null,"tier":null}}'
_decode_inputs = msgspec.json.Decoder(DocInputs).decode


@functools.lru_cache(maxsize=20_000)  # bodies of about 2 KB: some 80 MB at most, with the documents
def _served(doc: bytes, counts: tuple[int, int]) -> bytes:
    """The body for one stored document and its counts. Remembered: profiles come from the cache
    as the same bytes objects (whose hash Python keeps) and counts change rarely, so a repeated
    read skips decoding the document and working out the score."""
    if doc.endswith(TRUST_PLACEHOLDER):
        d = _decode_inputs(doc)
        s = trust(TrustInputs(d.verification_level, d.claim_status, d.works_count, d.topics_count,
                              d.close_collaborators_count, counts[0], counts[1]))
        doc = doc[: -len(TRUST_PLACEHOLDER)] + b'"trust":{"score":%d,"tier":"%s"}}' % (s.score, s.tier.encode())
    return doc[:-1] + b',"followers_count":%d,"verified_followers_count":%d}' % counts


def with_counts(doc: bytes, counts: tuple[int, int]) -> bytes:
    """The stored profile document (a JSON object) with the counts appended as its last fields,
    and its trust score and tier worked out from the document and those counts (domain.trust):
    the same formula, over the same inputs, as the trust projection."""
    return _served(doc, counts)


class FollowerCounts(PolledReplica):
    def __init__(self, view: FollowersView, *, refresh_seconds: float) -> None:
        super().__init__(refresh_seconds=refresh_seconds, name="follower-counts")
        self.view = view
        self._counts: dict[str, tuple[int, int]] = {}
        self._seen = 0
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()

    def get(self, researcher_id: str) -> tuple[int, int]:
        return self._counts.get(researcher_id, (0, 0))

    def warm(self) -> None:
        position = self.view.counts_position()
        counts = {r: (n, v) for r, n, v in self.view.all_counts()}
        with self._lock:
            self._counts, self._seen = counts, position

    def refresh(self) -> None:
        """Called by the refresher and by requests that read their own writes: one at a time,
        so a slower refresh never puts older counts back over newer ones."""
        with self._refreshing:
            position = self.view.counts_position()
            if position < self._seen:  # rebuilt from scratch
                self.warm()
                return
            if position == self._seen:
                return
            changed = self.view.counts_since(self._seen)
            with self._lock:
                for researcher_id, n, v, _ in changed:
                    self._counts[researcher_id] = (n, v)
                self._seen = max([position, *(p for *_, p in changed)])
