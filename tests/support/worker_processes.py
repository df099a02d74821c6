"""Helpers of the worker end-to-end tests (this module holds no tests).

`WorkerProcess` starts `python -m s3api worker` as an operator would; the other helpers
drive a job of real photos over HTTP and check what the engine did to each result.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image
from sqlalchemy import select

from s3api.db.engine import Database
from s3api.db.models import BillingEvent, JobItem
from s3api.settings import Settings
from s3api.worker.compose.watermark import Watermark, box_pixels
from s3api.worker.engine import Engine, decode_image
from tests.support.client_side import auth
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.worker import FLOOR_OAK

DEADLINE_SECONDS = 60.0
INTERIOR_PROTECT_DEFAULTS = ["Grout", "Frame_Molding", "Glass_highlight"]


def worker_environment(api_base_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment an operator would give `s3api worker`."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("S3API_", "S3_", "WORKER_", "GPU_"))
    }
    environment.update(
        WORKER_API_BASE_URL=api_base_url,
        GPU_CALLBACK_SECRET=TEST_CALLBACK_SECRET,
        S3API_DATA_DIR=str(data_dir),
        WORKER_POLL_INTERVAL_SECONDS="0.1",
        LOG_LEVEL="INFO",
    )
    environment.update(extra)
    return environment


class WorkerProcess:
    """`python -m s3api worker` with its output in a log file."""

    def __init__(self, environment: dict[str, str], workdir: Path, name: str = "worker") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "s3api", "worker"],
                env=environment,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        """The end of the worker's output, for assertion messages."""
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: nothing is released, as in a crash."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> int:
        """SIGTERM and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_photo_job(
    client: httpx.Client,
    base_url: str,
    user: dict[str, str],
    photos: list[bytes],
    execute: dict[str, Any] | None = None,
    preset: str = "interior",
) -> str:
    """Create a job, upload the photos to the issued URLs, confirm and execute it."""
    created = client.post(
        f"{base_url}/jobs",
        json={"preset": preset, "item_count": len(photos)},
        headers=auth(user),
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    for entry, photo in zip(data["presigned_urls"], photos, strict=True):
        uploaded = client.put(
            entry["url"], content=photo, headers={"Content-Type": "application/octet-stream"}
        )
        assert uploaded.status_code in (200, 201, 204), uploaded.text
    job_id = str(data["job_id"])
    confirmed = client.post(
        f"{base_url}/jobs/{job_id}/confirm-upload",
        headers={**auth(user), "Content-Type": "application/json"},
    )
    assert confirmed.status_code == 200, confirmed.text
    executed = client.post(
        f"{base_url}/jobs/{job_id}/execute", json=execute or FLOOR_OAK, headers=auth(user)
    )
    assert executed.status_code == 202, executed.text
    return job_id


def job_of(
    client: httpx.Client, base_url: str, user: dict[str, str], job_id: str
) -> dict[str, Any]:
    """`GET /jobs/{id}` job object."""
    response = client.get(f"{base_url}/jobs/{job_id}", headers=auth(user))
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["data"]["job"]
    return job


def wait_for_job(
    client: httpx.Client,
    base_url: str,
    user: dict[str, str],
    job_id: str,
    condition: Callable[[dict[str, Any]], bool],
    explain: Callable[[], str] = lambda: "",
) -> dict[str, Any]:
    """Poll the job until `condition` holds, failing at the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        job = job_of(client, base_url, user, job_id)
        if condition(job):
            return job
        assert time.monotonic() < deadline, f"job stuck at {job['progress']}\n{explain()}"
        time.sleep(0.05)  # cross-process poll interval, not synchronisation


def is_terminal(job: dict[str, Any]) -> bool:
    """Whether the job reached done, failed or canceled."""
    return job["status"] in ("done", "failed", "canceled")


def _default_watermark() -> Watermark:
    """The watermark a free-plan job gets from a server on default settings."""
    settings = Settings(_env_file=None)
    box = settings.watermark_box
    return Watermark(
        settings.watermark_text, (box[0], box[1], box[2], box[3]), settings.watermark_opacity
    )


FREE_PLAN_WATERMARK = _default_watermark()


def assert_results_follow_the_rules(
    client: httpx.Client,
    job: dict[str, Any],
    photos: list[bytes],
    edited: list[str],
    protected: list[str],
    engine: Engine | None = None,
    watermark: Watermark | None = FREE_PLAN_WATERMARK,
) -> None:
    """Each result is a PNG of its input's size, changed under the edited concepts and
    byte-identical to the decoded input under the protected ones outside the watermark's
    box (a free-plan job's, by default); previews are small JPEGs.
    `engine` must compute the masks the worker's engine computed (the heuristic default)."""
    engine = engine or Engine()
    assert [entry["idx"] for entry in job["download_urls"]] == list(range(len(photos)))
    for entry, photo in zip(job["download_urls"], photos, strict=True):
        original = decode_image(photo)
        result_bytes = client.get(entry["output_url"]).content
        assert result_bytes.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(result_bytes)) as result_image:
            result = np.asarray(result_image.convert("RGB"))
        assert result.shape == original.shape
        masks = engine.masks_for(original, [*edited, *protected])
        protect = np.zeros(original.shape[:2], dtype=np.bool_)
        for name in protected:
            protect |= masks[name]
        changed = (result != original).any(axis=2)
        if watermark is not None:
            height, width = original.shape[:2]
            left, top, right, bottom = box_pixels(width, height, watermark.box)
            assert changed[top:bottom, left:right].mean() > 0.9
            protect[top:bottom, left:right] = False
        assert protect.any()
        assert np.array_equal(result[protect], original[protect])
        for name in edited:
            editable = masks[name] & ~protect
            assert editable.any(), name
            assert changed[editable].mean() > 0.5, name
        preview_bytes = client.get(entry["preview_url"]).content
        with Image.open(io.BytesIO(preview_bytes)) as preview:
            assert preview.format == "JPEG"
            assert max(preview.size) <= 512


@dataclass(frozen=True)
class JobLedger:
    """What the database holds about a job's items and money."""

    idempotency_keys: dict[int, str | None]
    item_statuses: dict[int, str]
    billing: list[tuple[str, int]]


def read_ledger(database_url: str, job_id: str) -> JobLedger:
    """Items and billing rows of a job, read straight from the database."""

    async def read() -> JobLedger:
        database = Database(database_url)
        try:
            async with database.read() as connection:
                items = (
                    await connection.execute(
                        select(JobItem.idx, JobItem.status, JobItem.idempotency_key)
                        .where(JobItem.job_id == job_id)
                        .order_by(JobItem.idx)
                    )
                ).all()
                billing = (
                    await connection.execute(
                        select(BillingEvent.kind, BillingEvent.amount).where(
                            BillingEvent.job_id == job_id
                        )
                    )
                ).all()
        finally:
            await database.dispose()
        return JobLedger(
            idempotency_keys={row.idx: row.idempotency_key for row in items},
            item_statuses={row.idx: row.status for row in items},
            billing=[(row.kind, row.amount) for row in billing],
        )

    return asyncio.run(read())
