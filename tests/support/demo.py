"""The demo's test helpers: a stand-in GPU side in a thread and small HTTP shortcuts."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import typer
from typer.testing import CliRunner, Result

from s3api.demo.command import demo
from tests.support.gpu_side import process_message, pull

IDLE_PULL_WAIT_SECONDS = 0.05


class GpuStandIn:
    """A thread that pulls every queued job, uploads results, reports each item and acks."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.processed_job_ids: list[str] = []
        self.failures: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="gpu-stand-in", daemon=True)

    def start(self) -> None:
        """Begin pulling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop pulling and re-raise anything that went wrong in the thread."""
        self._stop.set()
        self._thread.join(timeout=30)
        if self.failures:
            raise self.failures[0]

    def _serve(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    messages = pull(client, self.base_url)
                    for message in messages:
                        process_message(client, message)
                        self.processed_job_ids.append(message["body"]["job_id"])
                except BaseException as failure:  # reported by stop() in the test's thread
                    self.failures.append(failure)
                    return
                if not messages:
                    # Poll interval of an idle consumer, not test synchronisation.
                    self._stop.wait(IDLE_PULL_WAIT_SECONDS)


def invoke_demo(*arguments: str) -> Result:
    """Run `demo` registered on a local Typer app, as `s3api demo` would be."""
    app = typer.Typer()
    app.command()(demo)
    return CliRunner().invoke(app, list(arguments))


def sign_in(base_url: str, device_hash: str) -> dict[str, str]:
    """Auth headers of the anonymous user of `device_hash`."""
    response = httpx.post(f"{base_url}/auth/anon", json={"device_hash": device_hash})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


def api_data(base_url: str, path: str, headers: dict[str, str]) -> Any:
    """The `data` of a successful `GET`."""
    response = httpx.get(f"{base_url}{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def image_format_of(path: Path) -> str | None:
    """The format Pillow decodes the file as (after fully loading it)."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.format
