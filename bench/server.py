"""Start a throwaway `s3api serve` for a benchmark run."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, seconds: float = 60) -> None:
    """Poll `url` until it answers 200."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"benchmark server did not start: {url}")


@contextmanager
def spawned_server(
    workdir: Path, database_url: str | None, extra_env: dict[str, str], *, workers: int = 1
) -> Iterator[tuple[str, str]]:
    """A server on a free port; yields its base URL and callback secret."""
    port = free_port()
    secret = secrets.token_urlsafe(32)
    environment = {
        **os.environ,
        "S3API_DATA_DIR": str(workdir / "data"),
        "GPU_CALLBACK_SECRET": secret,
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    if database_url:
        environment["DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s3api",
            "serve",
            "--port",
            str(port),
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        env=environment,
        cwd=workdir,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(f"{base_url}/health")
        yield base_url, secret
    finally:
        process.terminate()
        process.wait(timeout=30)
