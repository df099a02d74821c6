"""Runs one demo from the command's options: local server if needed, the flow, the report."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rich.console import Console

from s3api.demo.client import ApiClient, DemoError
from s3api.demo.console import RichReporter, print_error, print_summary
from s3api.demo.flow import DemoOptions, run_flow
from s3api.demo.photos import find_photos
from s3api.demo.server import LocalServer

DEFAULT_DATA_DIR = Path("demo-data")
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class DemoRequest:
    """The command line's options, unvalidated beyond what Typer checks."""

    server_url: str | None
    photos: Path | None
    count: int | None
    preset_id: str
    out: Path | None
    timeout_seconds: float
    device_hash: str | None
    template: str | None = None
    options: list[str] | None = None


def _start_local_server(console: Console, cleanup: ExitStack) -> str:
    """Start `s3api serve` on a free port, stopped by `cleanup`; its base URL."""
    server = LocalServer(DEFAULT_DATA_DIR)
    console.print(
        f"Starting a local server at {server.base_url} "
        f"(data in {server.data_dir}, log in {server.log_path})"
    )
    cleanup.callback(_stop_local_server, console, server)
    server.start()
    console.print(f"Local server ready (pid {server.pid})")
    return server.base_url


def _stop_local_server(console: Console, server: LocalServer) -> None:
    """Stop the local server and say so."""
    if server.pid is None:
        return
    server.stop()
    console.print(f"Local server stopped (pid {server.pid})")


def _interrupt(signal_number: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C so the job is canceled and the local server stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(request: DemoRequest) -> int:
    """Run the demo and report it; 0 when the job ends `done`, non-zero otherwise."""
    console = Console()
    error_console = Console(stderr=True)
    try:
        options = DemoOptions(
            preset_id=request.preset_id,
            photo_folder=find_photos(request.photos) if request.photos else None,
            count=request.count,
            out=request.out,
            timeout_seconds=request.timeout_seconds,
            device_hash=request.device_hash,
            template=request.template,
            options=request.options,
        )
        with ExitStack() as cleanup:
            cleanup.enter_context(_sigterm_as_interrupt())
            server_url = request.server_url or _start_local_server(console, cleanup)
            client = cleanup.enter_context(ApiClient(server_url))
            outcome = run_flow(client, options, RichReporter(console))
    except DemoError as error:
        print_error(error_console, error)
        return EXIT_FAILED
    except KeyboardInterrupt:
        error_console.print("[bold red]interrupted[/]: any job it had created was canceled")
        return EXIT_INTERRUPTED
    print_summary(console, outcome)
    if outcome.has_timed_out:
        error_console.print(
            f"[bold red]timed out[/] after {request.timeout_seconds:g} s: job "
            f"{outcome.job.job_id} was canceled and its unfinished items refunded. "
            "Is a GPU worker running (EMBEDDED_WORKER=true for `s3api serve`, or `s3api worker`)?"
        )
    return 0 if outcome.job.status == "done" else EXIT_FAILED
