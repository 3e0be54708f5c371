"""GET /metrics in Prometheus' text format: requests by status class, projection lag, relay lag.

Responses are counted by a `before_send` hook (a dict increment per response). Lags are read
when scraped: each projection's position against its log's head, and the relay's position per
application against the head of that application's log (PostgreSQL only).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from litestar.types import Message, Scope

from api.auth import PUBLIC

REQUESTS: Counter[str] = Counter()


async def count_responses(message: Message, scope: Scope) -> None:
    """A `before_send` hook: sees every response the app sends, error responses included."""
    if message["type"] == "http.response.start":
        REQUESTS[f"{message['status'] // 100}xx"] += 1


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@get("/metrics", summary="Prometheus metrics: requests, projection lag, relay lag", tags=["operations"],
     opt=PUBLIC, sync_to_thread=True, media_type="text/plain; version=0.0.4")
def metrics(state: State) -> Response[str]:
    services = state.services
    lines = ["# HELP peerledger_http_responses_total HTTP responses sent by this process, by status class",
             "# TYPE peerledger_http_responses_total counter"]
    lines += [f'peerledger_http_responses_total{{status="{k}"}} {v}' for k, v in sorted(REQUESTS.items())]
    lines += ["# HELP peerledger_projection_lag_events Events in the upstream log not yet in the read model",
              "# TYPE peerledger_projection_lag_events gauge"]
    errors = []
    for runner in services.runners:
        name = _label(runner.name)
        lines.append(f'peerledger_projection_lag_events{{projection="{name}"}} {runner.head() - runner.position()}')
        errors.append(f'peerledger_projection_failing{{projection="{name}"}} {int(runner.error is not None)}')
    lines += ["# HELP peerledger_projection_failing 1 while a projection's last batch failed",
              "# TYPE peerledger_projection_failing gauge", *errors]
    relay = relay_positions(services)
    if relay:
        lines += ["# HELP peerledger_log_head Last notification id of each application's event log",
                  "# TYPE peerledger_log_head gauge"]
        lines += [f'peerledger_log_head{{application="{a}"}} {head}' for a, (head, _) in relay.items()]
        lines += ["# HELP peerledger_relay_position Last notification id the relay has had acknowledged",
                  "# TYPE peerledger_relay_position gauge"]
        lines += [f'peerledger_relay_position{{application="{a}"}} {pos}' for a, (_, pos) in relay.items()]
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


def relay_positions(services: Any) -> dict[str, tuple[int, int]]:
    if not services.settings.is_postgres:
        return {}
    rows = services.sql.execute("SELECT to_regclass('peerledger_relay_positions') IS NOT NULL")
    stored = dict(services.sql.execute("SELECT application, position FROM peerledger_relay_positions")) \
        if rows and rows[0][0] else {}
    apps = (services.catalogue, services.accounts, services.claims, services.follows, services.invitations)
    return {a.name: (a.recorder.max_notification_id() or 0, int(stored.get(a.name, 0))) for a in apps}
