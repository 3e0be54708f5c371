"""create_app(settings) -> Litestar: routes, error table, OpenAPI, and the process's resources."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.datastructures import ResponseHeader
from litestar.exceptions import SerializationException
from litestar.openapi import OpenAPIConfig

from api.accounts import AccountsController, AuthController, MeController
from api.auth import SessionGate, make_jwt_auth
from api.conditional import PeerLedgerApp, conditional_get
from api.contract import apply_contract
from api.claims import ClaimsController, ModerationController, MyClaimsController
from api.viewer import ViewerController
from api.profile_text import ProfileTextController
from api.adoption import AdoptionController, AdoptionModerationController
from api.attribution import AttributionController
from api.links import LinkModerationController, LinksController
from api.flags import FlagModerationController, FlagsController
from api.errors import EXCEPTION_HANDLERS, SECURITY_HEADERS, ProblemError
from api.explorer import InstitutionsController, TopicsController, WorksController
from api.follower_counts import FollowerCounts
from api.follows import FollowsController
from api.history import HistoryController
from api.imports import make_import_handler
from api.invitations import ConversationsController, InvitationsController
from api.metrics import count_responses, metrics
from api.notifications import NotificationsController
from api.pages import PAGE_ROUTES, TEMPLATE_CONFIG
from api.schema_page import OfflineSwaggerPlugin
from api.profile_cache import ProfileCache
from api.replica import Watch
from api.researchers import ResearchersController
from api.store_health import StoreHealth, store_guard
from api.system import health, ready
from api.trust import TrustController
from operations.demo import load_demo_data
from operations.expiry import expire_loop
from operations.notifications import Notifier
from workers.follow_writer import FollowWriter
from api.own_writes import OwnWrites, ReaderFollows
from workers.notify import LocalNotifier
from adapters.sqlstore import postgres_conninfo
from projections.sqlview import view_changes
from bootstrap.collector import tune_collector
from bootstrap.services import WATCHED_IDLE_WAIT, Services, derive, secret_key
from bootstrap.settings import Settings

log = logging.getLogger("peerledger.api")

# Every response carries them; error responses get the same set from api/errors.py.
RESPONSE_HEADERS = [ResponseHeader(name=k, value=v) for k, v in SECURITY_HEADERS.items()]


def replica_refresh(svc: Services, settings: Settings) -> tuple[float, Callable[[str], Watch | None]]:
    """How the API's in-memory replicas (profiles, follower counts) learn of changes: the seconds
    they wait without a wake-up, and what wakes them per read model.

    Woken by each batch of the read model (its runner in this process, its NOTIFY on PostgreSQL),
    they look without one only once a second, in case a wake-up was lost. Two setups keep the
    `cache_refresh_seconds` poll: a hot standby (the NOTIFY comes from the primary at commit,
    before the standby has replayed the batch, and a standby cannot LISTEN), and SQLite with
    the projections in another process (SQLite has no notifications)."""
    woken = svc.standby is None and (settings.is_postgres or settings.projections_in_process)
    if not woken:
        return settings.cache_refresh_seconds, lambda projection: None
    return (max(settings.cache_refresh_seconds, WATCHED_IDLE_WAIT),
            lambda projection: functools.partial(svc.watch_log, view_changes(projection)))


def app_shape(settings: Settings) -> tuple[Any, ...]:
    """What of the settings create_app builds into the app itself: its body limits, CORS and token
    key. The lifespan reads everything else from app.state at each start (see restart_on)."""
    return (settings.max_body_bytes, settings.import_max_bytes, settings.cors_origins,
            settings.access_token_minutes, _SecretOnly(settings).jwt_secret)


def restart_on(app: Litestar, settings: Settings, services: Services | None = None) -> None:
    """Have an app that create_app made, stopped, start next on `settings` (of the same app_shape)
    and `services`, with nothing left of its earlier runs in app.state. Tests reuse one route table
    this way: building it is most of the cost of an app (Litestar reads every handler's signature)."""
    shape = app_shape(settings)
    if shape != app.state.shape:
        raise ValueError("these settings shape a different app: build it with create_app")
    app.state.clear()
    app.state.update(shape=shape, settings=settings, given_services=services)


def create_app(settings: Settings, services: Services | None = None) -> Litestar:
    """The HTTP API. Pass `services` to share them (tests); otherwise the app builds its own."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        settings, services = app.state.settings, app.state.given_services  # this run's (restart_on)
        owned = services is None
        svc = services or await anyio.to_thread.run_sync(Services, settings)
        app.state.services = svc
        app.state.jwt_auth = jwt_auth
        app.state.session_gate = SessionGate(svc.accounts)
        app.state.hash_limiter = anyio.CapacityLimiter(max(2, settings.hash_concurrency * 2))
        app.state.follow_writer = FollowWriter(svc.follows)
        app.state.own_writes = OwnWrites(reader_follows=ReaderFollows(svc.followers_view.followed_by))
        health = None
        if settings.is_postgres:
            conninfo = postgres_conninfo(settings.store_env)
            health = app.state.store_health = StoreHealth(lambda: psycopg.connect(conninfo, connect_timeout=2).close(),
                                                            on_back=svc.refresh_pools)
            health.start()
        if owned and settings.demo_data:
            summary = await anyio.to_thread.run_sync(load_demo_data, svc.catalogue)
            log.info("demo data: %s works created, %s unchanged", summary.works_created, summary.works_unchanged)
        expiry_stop = threading.Event()
        notifier = None
        if owned and settings.projections_in_process:
            await anyio.to_thread.run_sync(svc.start_projections)
            # No separate workers in the embedded default: expiry runs here too.
            threading.Thread(target=expire_loop, args=(svc, 60.0, expiry_stop), name="expiry", daemon=True).start()
            # No NATS either: notifications are made from the logs in process.
            notifier = LocalNotifier(Notifier(svc, svc.notifications))
            notifier.start()
        refresh, watch = replica_refresh(svc, settings)
        replicas = {"profile_cache": ("profiles", lambda view: ProfileCache(
                        view, refresh_seconds=refresh, max_entries=settings.profile_cache_entries,
                        watch=watch("profiles"))),
                    "follower_counts": ("followers", lambda view: FollowerCounts(
                        view, refresh_seconds=refresh, watch=watch("followers")))}
        for attr, (projection, make) in replicas.items():
            replica = make(svc.read_view(projection))  # the standby's, if there is one
            await anyio.to_thread.run_sync(replica.start)
            setattr(app.state, attr, replica)

        def replicas_of(views: dict[str, Any]) -> Any:
            """When `peerledger replay` switches readers: replicas of the new versions, warmed while
            the old ones serve, put in place as the services move (handlers look them up per request)."""
            made = {attr: make(views[projection]) for attr, (projection, make) in replicas.items() if projection in views}
            for replica in made.values():
                replica.start()

            def put_in_place() -> None:
                for attr, replica in made.items():
                    old = getattr(app.state, attr)
                    setattr(app.state, attr, replica)
                    old.stop()

            return put_in_place

        unsubscribe = svc.on_switch(replicas_of)
        svc.follow_versions()
        try:
            yield
        finally:
            unsubscribe()
            if health is not None:
                health.stop()
            app.state.follow_writer.stop()
            expiry_stop.set()
            if notifier is not None:
                notifier.stop()
            app.state.profile_cache.stop()
            app.state.follower_counts.stop()
            if owned:
                await anyio.to_thread.run_sync(svc.close)

    route_handlers: list[Any] = [
        health,
        ready,
        metrics,
        ResearchersController,
        AccountsController,
        AuthController,
        MeController,
        ClaimsController,
        MyClaimsController,
        ViewerController,
        ProfileTextController,
        AttributionController,
        AdoptionController,
        AdoptionModerationController,
        LinksController,
        LinkModerationController,
        FlagsController,
        FlagModerationController,
        ModerationController,
        FollowsController,
        InvitationsController,
        ConversationsController,
        TrustController,
        WorksController,
        TopicsController,
        InstitutionsController,
        HistoryController,
        NotificationsController,
        make_import_handler(settings.import_max_bytes),
        *PAGE_ROUTES,
    ]
    # The token secret comes from the data folder or the settings; build it before the app.
    jwt_secret = (services or _SecretOnly(settings)).jwt_secret
    jwt_auth = make_jwt_auth(jwt_secret, settings.access_token_minutes)
    app = PeerLedgerApp(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        middleware=[store_guard, conditional_get],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TEMPLATE_CONFIG,
        request_max_body_size=settings.max_body_bytes,
        response_headers=RESPONSE_HEADERS,
        before_request=require_json_bodies,
        before_send=[count_responses],
        on_app_init=[jwt_auth.on_app_init],
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="PeerLedger",
            version="0.1.0",
            description="Researcher profiles, claims and collaboration, event-sourced.",
            path="/schema",
            render_plugins=[OfflineSwaggerPlugin()],
        ),
        debug=False,
    )
    app.state.shape = app_shape(settings)
    restart_on(app, settings, services)
    return apply_contract(app)


JSON_TYPES = ("application/json",)


async def require_json_bodies(request: Request) -> None:
    """Bodies are JSON unless a route says otherwise (opt "body_types"): else 415.

    Async on purpose: a plain function here would be run in a worker thread on every request."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return
    accepted = request.route_handler.opt.get("body_types", JSON_TYPES)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in accepted:
        raise ProblemError(415, f"send the body as {' or '.join(accepted)}")
    if media_type == "application/json" and "body_types" not in request.route_handler.opt:
        # Decoded here once (Litestar keeps the result for the handler): a body that is not UTF-8, or
        # nested past the decoder's depth, is the client's error on every route, never a 500.
        try:
            await request.json()
        except UnicodeDecodeError:
            raise ProblemError(400, "the body is not valid JSON: it must be UTF-8 text") from None
        except RecursionError:
            raise ProblemError(400, "the body is not valid JSON: it is nested too deeply") from None
        except SerializationException:
            # msgspec 0.23 and later say "Invalid UTF-8" this way rather than with UnicodeDecodeError.
            body = await request.body()
            try:
                body.decode()
            except UnicodeDecodeError:
                raise ProblemError(400, "the body is not valid JSON: it must be UTF-8 text") from None
            raise ProblemError(400, "the body is not valid JSON") from None


class _SecretOnly:
    """The JWT secret without building every service (the lifespan builds those)."""

    def __init__(self, settings: Settings) -> None:
        self.jwt_secret = derive(secret_key(settings), "jwt").hex()


def create_app_from_env() -> Litestar:
    """For servers that start several API processes: each reads the settings itself."""
    app = create_app(Settings.from_env())
    tune_collector()
    return app
