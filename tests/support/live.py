"""Server processes for end-to-end tests: started like an operator would, killed at will."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from tests.support.databases import (
    TEST_CALLBACK_SECRET,
    TEST_DEVICE_HASH_SECRET,
    TEST_GENEROUS_RATE,
    TEST_SECRET,
)

READY_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(
    data_dir: Path, database_url: str, port: int, **extra: str
) -> dict[str, str]:
    """The environment an operator would give `s3api serve`."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("S3API_", "S3_"))
    }
    environment.update(
        S3API_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        JWT_SECRET=TEST_SECRET,
        GPU_CALLBACK_SECRET=TEST_CALLBACK_SECRET,
        DEVICE_HASH_SECRET=TEST_DEVICE_HASH_SECRET,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        EMBEDDED_WORKER="false",
        LOG_LEVEL="WARNING",
        ANON_SIGNUP_RATE=TEST_GENEROUS_RATE,
        USER_WRITE_RATE=TEST_GENEROUS_RATE,
    )
    environment.update(extra)
    return environment


def store_results(data_dir: Path, user_id: str, job_id: str, item_count: int) -> None:
    """Write each item's result and preview into the local store under `data_dir`, as a
    worker's uploads would, so `done` callbacks for them are accepted."""
    objects = data_dir / "objects"
    for idx in range(item_count):
        for key in (
            f"outputs/{user_id}/{job_id}/{idx}_result.png",
            f"previews/{user_id}/{job_id}/{idx}_thumb.jpg",
        ):
            path = objects / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"stored by the test's stand-in worker")


class ServerProcess:
    """`python -m s3api serve` on a port of its own."""

    def __init__(self, environment: dict[str, str], port: int, workdir: Path) -> None:
        self.environment = environment
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"server-{port}.log"
        self.data_dir = Path(environment["S3API_DATA_DIR"])
        """Where its local object store keeps objects (under `objects/`)."""

    @property
    def base_url(self) -> str:
        """Where the server answers."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process and wait until `/health` answers 200."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "s3api", "serve", "--port", str(self.port)],
                env=self.environment,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # readiness poll of a separate process, not test synchronisation
        raise RuntimeError(f"server not ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit (SIGKILL if it hangs)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def running_server(
    environment: dict[str, str], port: int, workdir: Path
) -> Iterator[ServerProcess]:
    """A started server that is stopped when the block ends."""
    server = ServerProcess(environment, port, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def two_servers_sharing(
    database_url: str, workdir: Path, **extra: str
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two started `serve` processes on one database and one object store (`workdir/data`)."""
    with ExitStack() as stack:
        servers = []
        for _ in range(2):
            port = free_port()
            environment = server_environment(workdir / "data", database_url, port, **extra)
            servers.append(
                stack.enter_context(running_server(environment, port, workdir / f"server-{port}"))
            )
        yield servers[0], servers[1]
