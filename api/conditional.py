"""HTTP semantics every route gets without saying so: HEAD for every GET, canonical OpenAlex and
ORCID URLs in paths, and ETag, Cache-Control and 304 on public reads (api/contract.py documents
the same rule)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from litestar import Litestar


# A public read may be reused for this long without asking; after that, If-None-Match makes it a 304.
PUBLIC_MAX_AGE = 10
PUBLIC_CACHE = f"public, max-age={PUBLIC_MAX_AGE}, must-revalidate".encode()
# With a token the answer may differ per reader (`following`, what history shows): not for shared caches.
PRIVATE_CACHE = b"private, no-cache"

# https://openalex.org/A123, https://openalex.org/authors/A123, https://orcid.org/0000-...: the id
# alone. Clients percent-encode the slashes or not; servers decode them before routing, so both come here.
_CANONICAL = re.compile(r"https?:/{1,2}(?:www\.)?(?:api\.)?(?:openalex\.org/(?:(?:authors|works|topics)/)?|orcid\.org/)",
                        re.IGNORECASE)


def canonical_path(path: str) -> str:
    return _CANONICAL.sub("", path) if "://" in path or ":/" in path else path


class PeerLedgerApp(Litestar):
    """Litestar, with what must happen before routing: HEAD answered as GET without the body,
    and canonical id URLs in paths shortened to the ids the routes take."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = canonical_path(scope["path"])
            if path != scope["path"]:
                scope = {**scope, "path": path, "raw_path": path.encode()}
            if scope["method"] == "HEAD":
                scope = {**scope, "method": "GET"}
                send = _without_body(send)
        await super().__call__(scope, receive, send)


def _without_body(send: Any) -> Any:
    async def send_head(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body"):
                return
            message = {**message, "body": b""}
        await send(message)

    return send_head


def etag_of(body: bytes) -> bytes:
    return b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'


def matches(if_none_match: bytes, etag: bytes) -> bool:
    tags = {t.strip().removeprefix(b"W/") for t in if_none_match.split(b",")}
    return b"*" in tags or etag in tags


def conditional_get(app: Any) -> Any:
    """ASGI middleware: on a public GET, a 200's body gets its ETag and Cache-Control, and a
    matching If-None-Match turns it into a 304 without a body."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        opt = getattr(scope.get("route_handler"), "opt", None)
        if scope["method"] != "GET" or not opt or not opt.get("exclude_from_auth") or opt.get("cache") == "no-store":
            await app(scope, receive, send)
            return
        cache_control, if_none_match = PUBLIC_CACHE, None
        for name, value in scope["headers"]:
            if name == b"authorization":
                cache_control = PRIVATE_CACHE
            elif name == b"if-none-match":
                if_none_match = value
        started: dict[str, Any] | None = None
        has_policy = False

        async def send_with_validator(message: dict[str, Any]) -> None:
            nonlocal started, has_policy
            if message["type"] == "http.response.start":
                if message["status"] == 200:
                    for name, value in message["headers"]:
                        name = name.lower()
                        # A handler that set its own validator (files) or no-store (pages) keeps it.
                        if name == b"etag" or (name == b"cache-control" and b"no-store" in value):
                            break
                        has_policy = has_policy or name == b"cache-control"
                    else:
                        started = message  # held until the body is known
                        return
                await send(message)
                return
            if started is None:
                await send(message)
                return
            if message.get("more_body"):  # a stream: no validator, sent as it comes
                await send(started)
                started = None
                await send(message)
                return
            etag = etag_of(message.get("body", b""))
            headers = [*started["headers"], (b"etag", etag), (b"vary", b"Authorization")]
            if not has_policy:
                headers.append((b"cache-control", cache_control))
            if if_none_match is not None and matches(if_none_match, etag):
                kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
                await send({**started, "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**started, "headers": headers})
            await send(message)

        await app(scope, receive, send_with_validator)

    return middleware

