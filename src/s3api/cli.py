"""The `s3api` command line."""

from __future__ import annotations

import asyncio
import signal
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
import uvicorn

from s3api.common.errors import ConfigurationError
from s3api.demo.command import demo
from s3api.logging_setup import configure_logging
from s3api.settings import Settings

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
) -> None:
    """Run the API with the background duties (and, by default, the embedded worker)."""
    from s3api.app import create_app

    settings = _settings(host=host, port=port)
    # proxy headers are applied by the app itself, trusting only FORWARDED_ALLOW_IPS
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
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
    from s3api.scheduled import run_background_forever

    settings = _settings()

    async def _run() -> None:
        context = AppContext.build(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run_background_forever(context, stop)
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


class Plan(StrEnum):
    """Plans an operator can move a user to."""

    FREE = "free"
    PRO = "pro"


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
    from s3api.users.service import grant_credits

    settings = _settings()

    async def _run() -> str:
        context = AppContext.build(settings)
        try:
            state = await grant_credits(
                context, user_id, credits, plan.value if plan else None, reason
            )
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
