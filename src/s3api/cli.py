"""The `s3api` command line."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import typer
import uvicorn

from s3api.demo.command import demo
from s3api.logging_setup import configure_logging
from s3api.settings import ConfigurationError, Settings

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
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)


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


def main() -> None:
    """Entry point for `python -m s3api`."""
    sys.exit(app())
