"""GET /metrics in Prometheus' text format: requests by status class, projection lag, relay lag.

Responses are counted by a `before_send` hook (a dict increment per response). Lags are read
when scraped: each projection's position against its log's head, and the relay's position per
application against the head of that application's log (PostgreSQL only).
"""

from __future__ import annotations

from collections import Counter

from litestar import Response, get
from litestar.datastructures import State
from litestar.types import Message, Scope

from api.auth import LIVE
from adapters.prometheus import CONTENT_TYPE
from operations.metrics import render

REQUESTS: Counter[str] = Counter()


async def count_responses(message: Message, scope: Scope) -> None:
    """A `before_send` hook: sees every response the app sends, error responses included."""
    if message["type"] == "http.response.start":
        REQUESTS[f"{message['status'] // 100}xx"] += 1


@get("/metrics", summary="Prometheus metrics: responses, projection lag, relay lag", tags=["operations"],
     opt=LIVE, sync_to_thread=True, media_type=CONTENT_TYPE)
def metrics(state: State) -> Response[str]:
    lines = ["# HELP peerledger_http_responses_total HTTP responses sent by this process, by status class",
             "# TYPE peerledger_http_responses_total counter"]
    lines += [f'peerledger_http_responses_total{{status="{k}"}} {v}' for k, v in sorted(REQUESTS.items())]
    lines += render(state.services)
    return Response("\n".join(lines) + "\n", media_type=CONTENT_TYPE)
