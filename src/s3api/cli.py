"""The `s3api` command line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Annotated, Any

import typer
import uvicorn

from s3api.common.errors import ConfigurationError
from s3api.demo.command import demo
from s3api.logging_setup import configure_logging
from s3api.settings import Settings
from s3api.users.plans import Plan

app = typer.Typer(help="Batch AI photo editing backend.", no_args_is_help=True)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        configure_logging(settings.log_level)
        return settings.prepare()
    except ConfigurationError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8787, help="Port to listen on (the mobile client uses 8787)."),
    workers: int = typer.Option(
        1, min=1, help="Processes serving the port; the background duties run in one of them."
    ),
) -> None:
    """Run the API with the background duties (and, by default, the embedded worker)."""
    from s3api.app import HOST_DUTIES_LOCK_ENV, create_app

    settings = _settings(host=host, port=port)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)
        return
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
        HOST=host,
        PORT=str(port),
        S3API_DATA_DIR=str(settings.s3api_data_dir),
        JWT_SECRET=settings.jwt_key,
        GPU_CALLBACK_SECRET=settings.callback_secret,
        **{HOST_DUTIES_LOCK_ENV: str(settings.s3api_data_dir.resolve() / "host-duties.lock")},
    )
    uvicorn.run(
        "s3api.app:create_app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    from s3api.db.engine import Database
    from s3api.db.migrate import upgrade_to_head

    settings = _settings()

    async def _run() -> None:
        database = Database(settings.resolved_database_url)
        try:
            await upgrade_to_head(database)
        finally:
            await database.dispose()

    asyncio.run(_run())
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
        configure_logging(settings.log_level)
        settings.resolved_callback_secret()
        run_until_signalled(settings)
    except ConfigurationError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(code=2) from exc


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
