"""A throwaway local `s3api serve` process for the demo, started and always stopped by it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from s3api.demo.client import DemoError

READY_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 15.0
READY_POLL_SECONDS = 0.1
LOG_TAIL_CHARACTERS = 2000
# Settings that would point the embedded default somewhere else (another database, S3, push
# dispatch, production mode); the demo's server must be self-contained.
_FOREIGN_SETTINGS = (
    "S3API_",
    "S3_",
    "R2_",
    "DATABASE_URL",
    "PUBLIC_BASE_URL",
    "STORAGE_BACKEND",
    "DISPATCH_",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def embedded_environment(data_dir: Path, port: int) -> dict[str, str]:
    """This process's environment with the server pointed at `data_dir` and nothing external."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(_FOREIGN_SETTINGS)
    }
    environment.update(
        S3API_DATA_DIR=str(data_dir),
        S3API_ENV="development",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    return environment


class LocalServer:
    """`python -m s3api serve` on a free port, with its database and objects in `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.log_path = self.data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """Where the server answers."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id once started."""
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        """Start the process and wait (bounded) until `/health` answers 200."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Its own session: Ctrl-C reaches only the demo, which can then cancel the job
            # on a still-running server before stopping it. The command is our own interpreter.
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "s3api", "serve", "--port", str(self.port)],
                env=embedded_environment(self.data_dir, self.port),
                cwd=self.data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready(self.process)

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        """Poll `/health` until it answers, the process dies, or the wait runs out."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        with httpx.Client(timeout=1.0) as probe:
            while time.monotonic() < deadline:
                exit_code = process.poll()
                if exit_code is not None:
                    raise DemoError(
                        "SERVER_START_FAILED",
                        f"the local server exited with code {exit_code}:\n{self._log_tail()}",
                    )
                try:
                    if probe.get(f"{self.base_url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(READY_POLL_SECONDS)
        self.stop()
        raise DemoError(
            "SERVER_START_FAILED",
            f"the local server did not become healthy within {READY_TIMEOUT_SECONDS:.0f} s:\n"
            f"{self._log_tail()}",
        )

    def _log_tail(self) -> str:
        """The end of the server's log, for error messages."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[
                -LOG_TAIL_CHARACTERS:
            ]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited after a grace period; always reaps it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
