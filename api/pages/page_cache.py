"""Profile pages kept rendered in each API process: for signed-out readers the whole page with its
ETag, and for every reader the parts all of them see alike (a page of works, the graph picture).

Everything is keyed by the profile cache's stamp (how far it has taken in the profiles view): the
page is made of that view's rows, and any batch that changes one (a work, a name, a claim) moves
the stamp on, so nothing here is older than the JSON profile the same process serves. A signed-out
page is keyed by the record's follower counts too, and rendered with exactly those counts: counts
go down as well as up, so a page must never hold newer ones than its key says."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from litestar.datastructures import State

K = TypeVar("K")
V = TypeVar("V")

MAX_PAGES = 2_000  # signed-out pages of about 26 KB: some 50 MB at most
MAX_PARTS = 5_000


class Recent(Generic[K, V]):
    """At most `size` entries, the least recently used dropped first; safe across threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class ProfilePages:
    def __init__(self) -> None:
        self.signed_out: Recent[tuple[Any, ...], tuple[bytes, bytes]] = Recent(MAX_PAGES)  # (etag, body)
        self.parts: Recent[tuple[Any, ...], dict[str, Any]] = Recent(MAX_PARTS)


def profile_pages(state: State) -> ProfilePages:
    found = state.get("profile_pages")
    if found is None:
        found = state.profile_pages = ProfilePages()
    return found


def stamp(state: State) -> tuple[int, int]:
    return state.profile_cache.stamp  # unique across replicas (`peerledger replay` swaps them)
