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
from litestar.types import Receive, Scope, Send

from api.conditional import etag_of, matches

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


class KeptPage:
    """A signed-out page as the ASGI messages that answer it, encoded once: the hottest page of the
    site costs a dictionary lookup and two sends (Litestar's Response would build its headers anew)."""

    __slots__ = ("etag", "_body", "_full", "_not_modified")

    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        self.etag = etag_of(body)
        common = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        common.append((b"etag", self.etag))
        self._full = {"type": "http.response.start", "status": 200, "headers": [
            *common, (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]}
        self._not_modified = {"type": "http.response.start", "status": 304, "headers": common}
        self._body = body

    def answer(self, if_none_match: str | None) -> Any:
        """The ASGI app that answers a request with this If-None-Match: the page, or a 304."""
        if if_none_match is not None and matches(if_none_match.encode("latin-1"), self.etag):
            return self._send_not_modified
        return self._send_page

    async def _send_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(self._full)  # type: ignore[arg-type]
        await send({"type": "http.response.body", "body": self._body, "more_body": False})

    async def _send_not_modified(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(self._not_modified)  # type: ignore[arg-type]
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class ProfilePages:
    def __init__(self) -> None:
        self.signed_out: Recent[tuple[Any, ...], KeptPage] = Recent(MAX_PAGES)
        self.parts: Recent[tuple[Any, ...], dict[str, Any]] = Recent(MAX_PARTS)


def profile_pages(state: State) -> ProfilePages:
    found = state.get("profile_pages")
    if found is None:
        found = state.profile_pages = ProfilePages()
    return found


def stamp(state: State) -> tuple[int, int]:
    return state.profile_cache.stamp  # unique across replicas (`peerledger replay` swaps them)
