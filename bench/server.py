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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def spawned_server(
    workdir: Path, database_url: str | None, extra_env: dict[str, str]
) -> Iterator[tuple[str, str]]:
    """A server on a free port; yields its base URL and callback secret."""
    port = _free_port()
    secret = secrets.token_urlsafe(32)
    environment = {
        **os.environ,
        "S3API_DATA_DIR": str(workdir / "data"),
        "GPU_CALLBACK_SECRET": secret,
        "LOG_LEVEL": "WARNING",
        # a benchmark signs in and writes far faster than a person
        "ANON_SIGNUP_RATE": "1000000/minute",
        "USER_WRITE_RATE": "1000000/minute",
        **extra_env,
    }
    if database_url:
        environment["DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "s3api", "serve", "--port", str(port)],
        env=environment,
        cwd=workdir,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("benchmark server did not start")
        yield base_url, secret
    finally:
        process.terminate()
        process.wait(timeout=30)
