"""Follower counts held in memory, kept fresh by the followers view's position; and the one
function that builds a served profile (`profile_body`).

Counts change far more often than profiles, so they are not part of the stored profile
document: the API adds them when it serves it. Every count is loaded at start; a refresh reads
the counts rewritten since the last one. Nothing is older than the last refresh; a client that
wants its own follow seen passes the position its command returned.
"""

from __future__ import annotations

import functools
import threading

import msgspec

from api.replica import Replica, Watch
from domain.trust import trust
from projections.followers.view import FollowersView
from projections.profiles.documents import ProfileDoc, ProfileOut, TrustOut, trust_inputs

_decode_doc = msgspec.json.Decoder(ProfileDoc).decode
_encode = msgspec.json.Encoder().encode


@functools.lru_cache(maxsize=20_000)  # bodies of about 2 KB: some 80 MB at most, with the documents
def profile_body(doc: bytes, counts: tuple[int, int], following: bool | None = None) -> bytes:
    """A profile as served (ProfileOut): the stored document, its follower counts, its trust score
    and tier worked out from both (domain.trust, the formula the trust projection uses), and for a
    signed-in reader whether they follow. Remembered: profiles come from the cache as the same
    bytes objects (whose hash Python keeps) and counts change rarely."""
    d = _decode_doc(doc)
    s = trust(trust_inputs(d, *counts))
    fields = {f: getattr(d, f) for f in ProfileDoc.__struct_fields__}
    return _encode(ProfileOut(**{**fields, "trust": TrustOut(s.score, s.tier)}, followers_count=counts[0],
                              verified_followers_count=counts[1], following=following))


class FollowerCounts(Replica):
    def __init__(self, view: FollowersView, *, refresh_seconds: float, watch: Watch | None = None) -> None:
        super().__init__(refresh_seconds=refresh_seconds, name="follower-counts", watch=watch)
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
