"""Liveness and readiness for operators and orchestrators."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.datastructures import State

from api.auth import LIVE
from api.errors import ApiCode, problem


class HealthOut(msgspec.Struct):
    status: str


class ProjectionStatusOut(msgspec.Struct):
    name: str
    position: int
    head: int
    lag: int
    error: str | None = None


class ReadyOut(msgspec.Struct):
    status: str
    projections: list[ProjectionStatusOut]


_HEALTH = msgspec.json.encode(HealthOut("ok"))


@get("/health", summary="The process is up", tags=["operations"], opt=LIVE)
async def health() -> Response[HealthOut]:
    return Response(_HEALTH, media_type="application/json")


@get("/ready", summary="The store answers and projections are caught up", tags=["operations"], opt=LIVE,
     sync_to_thread=True)
def ready(state: State) -> Response[ReadyOut]:
    services = state.services
    try:
        statuses = []
        for runner in services.runners:
            head, position = runner.head(), runner.position()
            error = None
            if runner.error is not None:
                at = f" at {runner.failed_event}" if getattr(runner, "failed_event", None) else ""
                error = f"projection is failing{at}: {type(runner.error).__name__}"
            statuses.append(ProjectionStatusOut(runner.name, position, head, head - position, error))
    except Exception:
        return problem(503, "the event store does not answer", headers={"Retry-After": "5"}, code=ApiCode.STORE_UNAVAILABLE)
    max_lag = services.settings.ready_max_lag
    behind = [s for s in statuses if s.lag > max_lag or s.error]
    if behind:
        names = ", ".join(f"{s.name} ({s.error or f'{s.lag} events behind'})" for s in behind)
        return problem(503, f"projections not ready: {names}", headers={"Retry-After": "5"}, code=ApiCode.NOT_READY)
    return Response(ReadyOut("ready", statuses))
