"""The `s3api` command line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError

from s3api.common.errors import ConfigurationError
from s3api.common.heap import freeze_startup_heap
from s3api.demo.command import demo
from s3api.logging_setup import configure_logging
from s3api.settings import Settings
from s3api.users.plans import Plan

app = typer.Typer(help="Batch AI photo editing backend.", no_args_is_help=True)


# settings whose value a message must not repeat (passwords inside URLs, keys)
_SECRET_SETTINGS = frozenset(
    {
        "database_url",
        "jwt_secret",
        "gpu_callback_secret",
        "device_hash_secret",
        "metrics_token",
        "s3_secret_access_key",
        "r2_secret_access_key",
        "dispatch_auth_header",
        "rate_limit_storage_url",
    }
)


def configuration_problem(error: ValidationError, flags: Mapping[str, str] | None = None) -> str:
    """One line naming each bad setting as its environment variable, e.g. `S3API_ENV: …`, or
    as the command-line flag in `flags` (setting name → flag) when that was typed."""
    problems = []
    for detail in error.errors():
        setting = ".".join(str(part) for part in detail["loc"])
        name = (flags or {}).get(setting) or setting.upper() or "settings"
        shown = "input" in detail and setting not in _SECRET_SETTINGS
        given = f" (got {detail['input']!r})" if shown else ""
        problems.append(f"{name}: {detail['msg']}{given}")
    return "; ".join(problems)


def _refuse(message: str) -> typer.Exit:
    typer.echo(f"configuration error: {message}", err=True)
    return typer.Exit(code=2)


def _settings(flags: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings, or exit 2 with one line; `flags` names the typed flags of overrides."""
    from s3api.db.engine import async_database_url

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        configure_logging(settings.log_level, settings.log_format)
        async_database_url(settings.resolved_database_url)
        return settings.prepare()
    except ConfigurationError as exc:
        raise _refuse(str(exc)) from exc
    except ValidationError as exc:
        raise _refuse(configuration_problem(exc, flags)) from None


def _typed_flags(context: typer.Context, names: Sequence[str]) -> dict[str, str]:
    """Setting name → flag, for the options given on the command line (not defaults)."""
    return {
        name: "--" + name.replace("_", "-")
        for name in names
        # by name: typer may bring its own copy of click's enum
        if getattr(context.get_parameter_source(name), "name", None) == "COMMANDLINE"
    }


@app.command()
def serve(
    context: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8787, help="Port to listen on (the mobile client uses 8787)."),
    limit_concurrency: int | None = typer.Option(
        None, help="Answer 503 beyond this many open connections and tasks [LIMIT_CONCURRENCY]."
    ),
    timeout_keep_alive: int | None = typer.Option(
        None, help="Close idle keep-alive connections after this many seconds [default: 5]."
    ),
    workers: int = typer.Option(
        1, min=1, help="Processes serving the port; the once-per-host duties run in one of them."
    ),
) -> None:
    """Run the API with the background duties (and, by default, the embedded worker)."""
    settings = _settings(
        _typed_flags(context, ("host", "port", "limit_concurrency", "timeout_keep_alive")),
        host=host,
        port=port,
        limit_concurrency=limit_concurrency,
        timeout_keep_alive=timeout_keep_alive,
    )
    _refuse_an_out_of_date_schema(settings)
    if workers == 1:
        _serve_in_this_process(settings)
    else:
        _serve_in_worker_processes(settings, workers)


def _serve_in_this_process(settings: Settings) -> None:
    from s3api.app import create_app
    from s3api.delivery.embedded_worker import embedded_worker_settings
    from s3api.worker.engine.registry import ImageEngine, build_engine

    engine: ImageEngine | None = None
    if settings.runs_embedded_worker:
        # Built before listening, so a bad engine setup stops `serve` with one clear line.
        try:
            engine = build_engine(embedded_worker_settings(settings))
        except ConfigurationError as exc:
            raise _refuse(str(exc)) from exc
    application = create_app(settings, worker_engine=engine, stop_server=_stop_this_server)
    freeze_startup_heap()
    uvicorn.run(application, **_uvicorn_options(settings))
    if application.state.refused is not None:
        raise typer.Exit(code=1)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What every `serve` hands uvicorn, in one process or many."""
    return {
        "host": settings.host,
        "port": settings.port,
        "limit_concurrency": settings.limit_concurrency,
        "timeout_keep_alive": settings.timeout_keep_alive,
        "log_config": None,
        "access_log": False,
        # proxy headers are applied by the app itself, trusting only FORWARDED_ALLOW_IPS
        "proxy_headers": False,
    }


def _serve_in_worker_processes(settings: Settings, workers: int) -> None:
    """`workers` processes on one port; the one holding the host lock runs the duties (and
    builds the embedded worker's engine when it takes them)."""
    from s3api.app import HOST_DUTIES_LOCK_ENV
    from s3api.db.engine import Database
    from s3api.db.migrate import upgrade_to_head

    database = Database(settings.resolved_database_url)
    if database.is_sqlite:

        async def _migrate() -> None:
            try:
                await upgrade_to_head(database)
            finally:
                await database.dispose()

        asyncio.run(_migrate())
    # the worker processes read their settings from the environment: hand them what the
    # command line decided, and the development secrets `prepare()` has just kept
    os.environ.update(
        HOST=settings.host,
        PORT=str(settings.port),
        TIMEOUT_KEEP_ALIVE=str(settings.timeout_keep_alive),
        S3API_DATA_DIR=str(settings.s3api_data_dir),
        JWT_SECRET=settings.jwt_key,
        GPU_CALLBACK_SECRET=settings.callback_secret,
        DEVICE_HASH_SECRET=settings.device_hash_key,
        **{HOST_DUTIES_LOCK_ENV: str(settings.s3api_data_dir.resolve() / "host-duties.lock")},
    )
    if settings.limit_concurrency is not None:
        os.environ["LIMIT_CONCURRENCY"] = str(settings.limit_concurrency)
    uvicorn.run(
        "s3api.app:create_app_from_environment",
        factory=True,
        workers=workers,
        **_uvicorn_options(settings),
    )


def _refuse_an_out_of_date_schema(settings: Settings) -> None:
    """Before listening: a PostgreSQL schema behind the migrations is one line and exit 1.

    An unreachable database is not refused: the server starts, answers 503 and keeps trying.
    """
    from s3api.db.engine import Database
    from s3api.db.readiness import DatabaseUnreachableError, SchemaOutOfDateError, ensure_schema

    async def _check() -> None:
        database = Database(settings.resolved_database_url)
        try:
            await ensure_schema(database, migrate=False)
        finally:
            await database.dispose()

    if settings.resolved_database_url.startswith("sqlite"):
        return  # the embedded database is migrated at start-up
    try:
        asyncio.run(_check())
    except DatabaseUnreachableError:
        return
    except SchemaOutOfDateError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None


def _stop_this_server() -> None:
    """Ask uvicorn to shut down as on Ctrl-C; used when the schema turns out out of date."""
    os.kill(os.getpid(), signal.SIGTERM)


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    from s3api.db.engine import Database
    from s3api.db.migrate import upgrade_to_head
    from s3api.db.readiness import DatabaseUnreachableError, ping

    settings = _settings()

    async def _run() -> None:
        database = Database(settings.resolved_database_url)
        try:
            await ping(database)
            await upgrade_to_head(database)
        finally:
            await database.dispose()

    try:
        asyncio.run(_run())
    except DatabaseUnreachableError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    typer.echo("database is up to date")


@app.command()
def background() -> None:
    """Run only the background duties (dead-lettering, stale-job sweeper)."""
    from s3api.context import AppContext

    settings = _settings()

    async def _run() -> None:
        context = AppContext.build(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await context.background.run_forever(stop)
        finally:
            await context.close()

    asyncio.run(_run())


@app.command()
def worker() -> None:
    """Run the reference GPU worker: pull jobs from WORKER_API_BASE_URL until SIGTERM/SIGINT."""
    from s3api.worker.pull_loop import run_until_signalled
    from s3api.worker.settings import WorkerSettings

    try:
        settings = WorkerSettings()
        configure_logging(settings.log_level, settings.log_format)
        settings.resolved_callback_secret()
        run_until_signalled(settings)
    except ConfigurationError as exc:
        raise _refuse(str(exc)) from exc
    except ValidationError as exc:
        raise _refuse(configuration_problem(exc)) from None


app.command()(demo)


@app.command()
def grant(
    user_id: Annotated[str, typer.Argument(help="The user's id (from /auth/anon or /me).")],
    credits: Annotated[int, typer.Option(help="Credits to add (negative to take back).")] = 0,
    plan: Annotated[Plan | None, typer.Option(help="Move the user to this plan.")] = None,
    reason: Annotated[str, typer.Option(help="Kept on the billing event.")] = "operator grant",
) -> None:
    """Operator: give a user credits (a `grant` billing event) and/or change their plan."""
    from s3api.context import AppContext
    from s3api.errors import ApiError

    settings = _settings()

    async def _run() -> str:
        context = AppContext.build(settings)
        try:
            state = await context.account.grant_credits(user_id, credits, plan, reason)
        finally:
            await context.close()
        return f"user {state.user_id}: plan={state.plan} credits={state.credits}"

    try:
        typer.echo(asyncio.run(_run()))
    except ApiError as exc:
        typer.echo(f"error {exc.code.name}: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc


def main() -> None:
    """Entry point for `python -m s3api`."""
    sys.exit(app())
