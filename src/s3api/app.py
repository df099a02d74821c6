"""The application factory: everything is built from one settings object."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from s3api.account.routes import router as account_router
from s3api.auth.routes import router as auth_router
from s3api.common.heap import freeze_startup_heap
from s3api.common.host_lock import HostLock
from s3api.context import AppContext
from s3api.db.readiness import (
    DatabaseUnreachableError,
    SchemaOutOfDateError,
    ensure_schema,
    wait_for_schema,
)
from s3api.delivery.embedded_worker import run_embedded_worker
from s3api.delivery.routes import router as delivery_router
from s3api.dispatch.dispatcher import run_dispatcher
from s3api.dispatch.target import PushTarget
from s3api.health.metrics_routes import router as metrics_router
from s3api.health.routes import health
from s3api.health.routes import router as health_router
from s3api.http.body_rules import refuse_non_utf8, refuse_nul_characters
from s3api.http.handlers import install_exception_handlers
from s3api.http.middleware import ApiEdgeMiddleware, BodyLimit, CorsPolicy
from s3api.http.openapi import install_openapi
from s3api.http.stack import answer_before_routing, fold_middleware_stack
from s3api.jobs.analysis.routes import router as analysis_router
from s3api.jobs.output_sets.routes import router as output_set_router
from s3api.jobs.routes import router as jobs_router
from s3api.logging_setup import configure_logging
from s3api.presets.routes import list_presets
from s3api.presets.routes import router as presets_router
from s3api.rules.routes import router as rules_router
from s3api.settings import Settings
from s3api.shares.routes import page_router as share_page_router
from s3api.shares.routes import router as shares_router
from s3api.storage.factory import local_object_router
from s3api.webhooks.dispatcher import run_webhook_dispatcher
from s3api.worker.engine.registry import ImageEngine

logger = logging.getLogger("s3api")

LOCALHOST_ORIGIN = r"^http://(localhost|127\.0\.0\.1)(:\d+)?$"
OBJECT_ROUTES_PREFIX = "/objects/"
# background tasks get this long to finish their step (e.g. an in-flight push) on shutdown
SHUTDOWN_GRACE_SECONDS = 10.0
# set by `s3api serve --workers N` for its worker processes: the lock that elects the one
# process running the background duties, the embedded worker and the push dispatcher
HOST_DUTIES_LOCK_ENV = "S3API_HOST_DUTIES_LOCK"
# how often a process without the duties checks whether their holder has gone
HOST_DUTIES_RETRY_SECONDS = 5.0


def create_app_from_environment() -> FastAPI:
    """The app of one `s3api serve --workers N` process: settings from the environment, the
    database already migrated (SQLite) or checked (PostgreSQL) by the parent, the
    once-per-host duties behind the lock."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    lock_path = os.environ.get(HOST_DUTIES_LOCK_ENV)
    app = create_app(
        settings, migrate=False, host_duties_lock=Path(lock_path) if lock_path else None
    )
    freeze_startup_heap()
    return app


def create_app(
    settings: Settings | None = None,
    *,
    migrate: bool | None = None,
    worker_engine: ImageEngine | None = None,
    stop_server: Callable[[], None] | None = None,
    host_duties_lock: Path | None = None,
) -> FastAPI:
    """Build the API. `migrate` defaults to on for the embedded SQLite database;
    `worker_engine` is the embedded worker's image engine, if already built.

    On a database schema behind this version's migrations the app records the reason in
    `app.state.refused`, starts none of its duties and calls `stop_server`.

    With `host_duties_lock`, every process waits for its database on its own (its health
    answers 503 meanwhile), but only the process holding that lock runs the background
    duties, the webhook dispatcher and the embedded worker or push dispatcher; another
    takes over when it exits.
    """
    settings = (settings or Settings()).prepare()
    push_target = PushTarget.from_settings(settings)
    context = AppContext.build(settings)
    should_migrate = context.database.is_sqlite if migrate is None else migrate
    duties_lock = HostLock(host_duties_lock) if host_duties_lock is not None else None

    def refuse_to_serve(reason: str) -> None:
        logger.error("%s", reason)
        app.state.refused = reason
        if stop_server is not None:
            stop_server()

    async def run_duties(stop: asyncio.Event, ready: bool) -> None:
        """Wait for the database if needed (health answers 503 meanwhile), then run the
        background duties and the embedded worker or dispatcher until `stop`."""
        if not ready:
            try:
                if not await wait_for_schema(context.database, migrate=should_migrate, stop=stop):
                    return
            except SchemaOutOfDateError as exc:
                refuse_to_serve(str(exc))
                return
            logger.info("database is ready")
        if duties_lock is not None and not await _elected(duties_lock, stop):
            return
        for outcome in await asyncio.gather(*host_duties(stop), return_exceptions=True):
            if isinstance(outcome, Exception):
                logger.error("background duty failed", exc_info=outcome)

    def host_duties(stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """What runs once per host: the background duties (retention included), the webhook
        dispatcher, and the embedded worker or the push dispatcher."""
        duties: list[Coroutine[Any, Any, None]] = []
        if settings.run_background:
            duties.append(context.background.run_forever(stop))
            duties.append(
                run_webhook_dispatcher(
                    context.database,
                    context.webhook_queue,
                    context.jobs,
                    context.webhook_secrets,
                    context.webhook_policy,
                    stop,
                )
            )
        if push_target is not None:
            duties.append(run_dispatcher(context.delivery, settings, push_target, stop))
        elif settings.runs_embedded_worker:
            duties.append(run_embedded_worker(settings, context.delivery, stop, worker_engine))
        return duties

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        ready = True
        try:
            await ensure_schema(context.database, migrate=should_migrate)
        except DatabaseUnreachableError:
            ready = False  # the duties' first try logs it; requests meanwhile get 503
        except SchemaOutOfDateError as exc:
            refuse_to_serve(str(exc))
            stop.set()  # no duty starts
        if duties_lock is not None and ready and not stop.is_set():
            # decided before serving when the database is ready, else once it is; retried
            # while the lock is elsewhere
            duties_lock.try_acquire()
        duties = asyncio.create_task(run_duties(stop, ready))
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait({duties}, timeout=SHUTDOWN_GRACE_SECONDS)
            if not duties.done():
                duties.cancel()
            with suppress(asyncio.CancelledError):
                await duties
            if duties_lock is not None:
                duties_lock.release()
            await context.close()

    # Swagger UI and ReDoc assets come from the installed package: /docs works offline
    app = FastAPIOffline(
        title="S3 API",
        redirect_slashes=False,
        version="0.1.0",
        description="Batch AI photo editing backend. Every answer uses the "
        "`{success, data, error, meta}` envelope.",
        lifespan=lifespan,
        # metrics are Prometheus's (`/metrics`); FastAPI's OpenTelemetry hooks, never set up
        # here, would still look up three providers on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.context = context
    app.state.host_duties_lock = duties_lock
    for name, collaborator in context.state_entries().items():
        setattr(app.state, name, collaborator)
    app.state.refused = None
    install_exception_handlers(app)
    install_openapi(app)
    for router in (
        health_router,
        auth_router,
        account_router,
        presets_router,
        rules_router,
        jobs_router,
        output_set_router,
        delivery_router,
        shares_router,
        share_page_router,
        metrics_router,
    ):
        app.include_router(router)
    if settings.analysis_enabled:
        app.include_router(analysis_router)
    object_router = local_object_router(context.storage, context.upload_admission)
    if object_router is not None:
        app.include_router(object_router)
    app.add_middleware(
        ApiEdgeMiddleware,
        cors=CorsPolicy(
            allow_origins=settings.cors_origins,
            allow_origin_regex=LOCALHOST_ORIGIN,
            expose_headers=["X-Request-ID"],
        ),
        body=BodyLimit(
            max_body_bytes=settings.max_body_bytes,
            exempt_prefixes=(OBJECT_ROUTES_PREFIX,),
            rules=(refuse_non_utf8, refuse_nul_characters),
        ),
    )
    # the client address comes from X-Forwarded-For only when the peer is a trusted proxy
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    # the two most requested reads with no parameter: the health check and the catalog
    answer_before_routing(app, "/health", health)
    answer_before_routing(app, "/presets", list_presets)
    fold_middleware_stack(app)
    return app


async def _elected(lock: HostLock, stop: asyncio.Event) -> bool:
    """Wait until this process holds `lock` (True) or `stop` is set (False)."""
    while not lock.try_acquire():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=HOST_DUTIES_RETRY_SECONDS)
        if stop.is_set():
            return False
    return True
