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

from s3api.account.routes import router as account_router
from s3api.auth.routes import router as auth_router
from s3api.common.host_lock import HostLock
from s3api.context import AppContext
from s3api.db.migrate import upgrade_to_head
from s3api.delivery.embedded_worker import run_embedded_worker
from s3api.delivery.routes import router as delivery_router
from s3api.dispatch.dispatcher import run_dispatcher
from s3api.dispatch.target import PushTarget
from s3api.health.routes import router as health_router
from s3api.http.body_rules import refuse_nul_characters
from s3api.http.handlers import install_exception_handlers
from s3api.http.middleware import ApiEdgeMiddleware, BodyLimit, CorsPolicy
from s3api.http.openapi import install_openapi
from s3api.jobs.routes import router as jobs_router
from s3api.logging_setup import configure_logging
from s3api.presets.routes import router as presets_router
from s3api.rules.routes import router as rules_router
from s3api.settings import Settings
from s3api.storage.factory import local_object_router

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
    database already migrated by the parent, the once-per-host duties behind the lock."""
    settings = Settings()
    configure_logging(settings.log_level)
    lock_path = os.environ.get(HOST_DUTIES_LOCK_ENV)
    return create_app(
        settings, migrate=False, host_duties_lock=Path(lock_path) if lock_path else None
    )


def create_app(
    settings: Settings | None = None,
    *,
    migrate: bool | None = None,
    host_duties_lock: Path | None = None,
) -> FastAPI:
    """Build the API. `migrate` defaults to on for the embedded SQLite database. With
    `host_duties_lock`, only the process holding that lock runs the background duties, the
    embedded worker and the push dispatcher; the others take over when it exits."""
    settings = (settings or Settings()).prepare()
    push_target = PushTarget.from_settings(settings)
    context = AppContext.build(settings)
    should_migrate = context.database.is_sqlite if migrate is None else migrate
    duties_lock = HostLock(host_duties_lock) if host_duties_lock is not None else None

    def duties(stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        runs: list[Coroutine[Any, Any, None]] = []
        if settings.run_background:
            runs.append(context.background.run_forever(stop))
        if push_target is not None:
            runs.append(run_dispatcher(context.delivery, settings, push_target, stop))
        elif settings.runs_embedded_worker:
            runs.append(run_embedded_worker(settings, context.delivery, stop))
        return runs

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if should_migrate:
            await upgrade_to_head(context.database)
        stop = asyncio.Event()
        tasks = []
        if duties_lock is None:
            tasks = [asyncio.create_task(run) for run in duties(stop)]
        else:
            duties_lock.try_acquire()  # decided before serving; retried while it is elsewhere
            tasks = [asyncio.create_task(_run_when_elected(duties_lock, stop, duties))]
        try:
            yield
        finally:
            stop.set()
            if tasks:
                _, unfinished = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
                for task in unfinished:
                    task.cancel()
                for task in tasks:
                    with suppress(asyncio.CancelledError):
                        await task
            if duties_lock is not None:
                duties_lock.release()
            await context.close()

    app = FastAPI(
        title="S3 API",
        redirect_slashes=False,
        version="0.1.0",
        description="Batch AI photo editing backend. Every answer uses the "
        "`{success, data, error, meta}` envelope.",
        lifespan=lifespan,
    )
    app.state.context = context
    app.state.host_duties_lock = duties_lock
    for name, collaborator in context.state_entries().items():
        setattr(app.state, name, collaborator)
    install_exception_handlers(app)
    install_openapi(app)
    for router in (
        health_router,
        auth_router,
        account_router,
        presets_router,
        rules_router,
        jobs_router,
        delivery_router,
    ):
        app.include_router(router)
    object_router = local_object_router(context.storage)
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
            rules=(refuse_nul_characters,),
        ),
    )
    return app


async def _run_when_elected(
    lock: HostLock,
    stop: asyncio.Event,
    duties: Callable[[asyncio.Event], list[Coroutine[Any, Any, None]]],
) -> None:
    """Run the duties once this process holds `lock`, until `stop`."""
    while not lock.try_acquire():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=HOST_DUTIES_RETRY_SECONDS)
        if stop.is_set():
            return
    await asyncio.gather(*duties(stop))
