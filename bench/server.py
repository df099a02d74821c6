"""Start a throwaway `s3api serve` for a benchmark run."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

READY_TIMEOUT_SECONDS = 60.0


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


class BenchServer:
    """`python -m s3api serve` on a free port, which can be killed and started again."""

    def __init__(
        self,
        workdir: Path,
        database_url: str | None,
        extra_env: dict[str, str],
        *,
        workers: int = 1,
    ) -> None:
        self.workdir = workdir
        self.workers = workers
        self.port = free_port()
        self.secret = secrets.token_urlsafe(32)
        self.environment = {
            **os.environ,
            "S3API_DATA_DIR": str(workdir / "data"),
            "GPU_CALLBACK_SECRET": self.secret,
            "LOG_LEVEL": "WARNING",
            # a benchmark signs in and writes far faster than a person
            "ANON_SIGNUP_RATE": "1000000/minute",
            "USER_WRITE_RATE": "1000000/minute",
            **extra_env,
        }
        if database_url:
            self.environment["DATABASE_URL"] = database_url
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """Where the server answers."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The running server's process id."""
        if self.process is None:
            raise RuntimeError("the server is not running")
        return self.process.pid

    def start(self) -> None:
        """Start the process and wait until `/health` answers 200."""
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "s3api",
                "serve",
                "--port",
                str(self.port),
                *(["--workers", str(self.workers)] if self.workers > 1 else []),
            ],
            env=self.environment,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"benchmark server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling a separate process until it listens
        raise RuntimeError("benchmark server did not start")

    def kill(self) -> None:
        """SIGKILL, as in a crash: no shutdown hook runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@contextmanager
def running_bench_server(
    workdir: Path, database_url: str | None, extra_env: dict[str, str], *, workers: int = 1
) -> Iterator[BenchServer]:
    """A started server that is stopped when the block ends."""
    server = BenchServer(workdir, database_url, extra_env, workers=workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def spawned_server(
    workdir: Path, database_url: str | None, extra_env: dict[str, str], *, workers: int = 1
) -> Iterator[tuple[str, str]]:
    """A server on a free port; yields its base URL and callback secret."""
    with running_bench_server(workdir, database_url, extra_env, workers=workers) as server:
        yield server.base_url, server.secret
