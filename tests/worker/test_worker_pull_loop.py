"""The pull loop against the real API over HTTP: acks, hand-backs and graceful stops."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import func, select, update

from s3api.common.output_formats import OutputFormat
from s3api.db.models import BillingEvent, QueueMessage
from s3api.worker.api_client import WorkerApiClient
from s3api.worker.compose.watermark import Watermark
from s3api.worker.engine import Engine, EngineResult
from s3api.worker.processing import MessageProcessor
from s3api.worker.pull_loop import PullWorker, run_pull_worker
from s3api.worker.settings import WorkerSettings
from tests.support.clock import freeze_queue_clock
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.live import free_port
from tests.support.worker import CORRUPT_JPEG, LiveApp, live_app, room_jpegs

DEADLINE_SECONDS = 30.0


def worker_settings(live: LiveApp, **overrides: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "worker_api_base_url": live.base_url,
        "gpu_callback_secret": TEST_CALLBACK_SECRET,
        "worker_poll_interval_seconds": 0.05,
        "worker_http_attempts": 2,
        "worker_http_backoff_seconds": 0.01,
    }
    values.update(overrides)
    return WorkerSettings(_env_file=None, **values)


class GatedEngine:
    """The real engine, but every call first waits for the test to open the gate."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.started = threading.Event()
        self.gate = threading.Event()

    def process(
        self,
        input_bytes: bytes,
        concepts: Mapping[str, Mapping[str, str | None]],
        protect: Sequence[str],
        watermark: Watermark | None = None,
        output_format: OutputFormat = OutputFormat.PNG,
    ) -> EngineResult:
        self.started.set()
        self.gate.wait(timeout=DEADLINE_SECONDS)
        return self.engine.process(
            input_bytes, concepts, protect, watermark=watermark, output_format=output_format
        )


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll an async condition until it holds or the deadline passes."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not await check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.05)


async def test_corrupt_input_fails_only_its_item_and_its_credit_is_refunded(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        photos = room_jpegs(2)
        job_id = await live.queued_job(user, [photos[0], CORRUPT_JPEG, photos[1]])
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(worker_settings(live), stop))

        async def job_finished() -> bool:
            return bool((await live.api.job(user, job_id))["status"] in ("done", "failed"))

        await eventually(job_finished)
        stop.set()
        await worker
        job = await live.api.job(user, job_id)
        assert job["status"] == "done"
        assert [item["status"] for item in job["items"]] == ["done", "failed", "done"]
        assert job["items"][1]["error"]
        assert [entry["idx"] for entry in job["download_urls"]] == [0, 2]
        me = await live.api.me(user)
        assert (me["credits"], me["concurrent_jobs"]) == (10 - 2, 0)
        async with live.context.database.read() as connection:
            refunds = await connection.execute(
                select(func.sum(BillingEvent.amount)).where(
                    BillingEvent.job_id == job_id, BillingEvent.kind == "refund"
                )
            )
            assert refunds.scalar_one() == 1
        assert await live.pull() == []


async def test_bad_rule_value_fails_every_item_and_the_job_is_refunded(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        rule = {"concepts": {"Floor": {"action": "recolor", "value": "navy"}}}
        job_id = await live.queued_job(user, room_jpegs(2), rule)
        # the API refuses such a value now; a message queued by an older server may hold one
        async with live.context.database.transaction() as connection:
            queued = QueueMessage.subject_id == job_id
            body = (await connection.execute(select(QueueMessage.body).where(queued))).scalar_one()
            body["concepts"]["Floor"]["value"] = "no_such_colour"
            await connection.execute(update(QueueMessage).where(queued).values(body=body))
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(worker_settings(live), stop))

        async def job_failed() -> bool:
            return bool((await live.api.job(user, job_id))["status"] == "failed")

        await eventually(job_failed)
        stop.set()
        await worker
        job = await live.api.job(user, job_id)
        assert all("unknown colour" in item["error"] for item in job["items"])
        assert (await live.api.me(user))["credits"] == 10


async def test_message_with_unreportable_items_is_handed_back_with_a_delay(
    tmp_path: Path, database_url: str
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    async with live_app(tmp_path / "data", database_url, public_base_url=unreachable) as live:
        clock = freeze_queue_clock(live.context)
        user = await live.api.sign_in()
        await live.queued_job(user, room_jpegs(1), through_urls=False)
        settings = worker_settings(live, worker_message_retry_delay_seconds=30)
        async with WorkerApiClient.from_settings(settings) as api:
            [pulled] = await api.pull(1, 300)
            processor = MessageProcessor(api, Engine(), 4)
            await PullWorker(settings, api, processor).handle(pulled, asyncio.Event())
        clock.advance(29)
        assert await live.pull() == []
        clock.advance(2)
        [again] = await live.pull()
        assert again["id"] == pulled.id
        assert again["attempts"] == 2


async def test_stopping_finishes_the_item_in_progress_and_releases_the_rest(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        job_id = await live.queued_job(user, room_jpegs(3))
        engine = GatedEngine()
        settings = worker_settings(live, worker_batch_concurrency=1)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(settings, stop, engine=engine))
        assert await asyncio.to_thread(engine.started.wait, DEADLINE_SECONDS)
        stop.set()
        engine.gate.set()
        await asyncio.wait_for(worker, DEADLINE_SECONDS)
        job = await live.api.job(user, job_id)
        assert [item["status"] for item in job["items"]] == ["done", "pending", "pending"]
        [again] = await live.pull()
        assert again["attempts"] == 2


async def test_stopping_past_the_grace_period_cancels_and_releases_at_once(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        job_id = await live.queued_job(user, room_jpegs(2))
        engine = GatedEngine()
        settings = worker_settings(live, worker_shutdown_grace_seconds=0)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(settings, stop, engine=engine))
        assert await asyncio.to_thread(engine.started.wait, DEADLINE_SECONDS)
        stop.set()
        await asyncio.wait_for(worker, DEADLINE_SECONDS)
        engine.gate.set()
        job = await live.api.job(user, job_id)
        assert job["done_items"] == 0
        [again] = await live.pull()
        assert again["attempts"] == 2


async def test_an_input_over_max_input_megapixels_fails_with_the_reason_and_is_refunded(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        [photo] = room_jpegs(1)
        small = Image.new("RGB", (100, 100), (90, 80, 70))
        buffer = io.BytesIO()
        small.save(buffer, format="PNG")
        job_id = await live.queued_job(user, [photo, buffer.getvalue()])
        stop = asyncio.Event()
        settings = worker_settings(live, max_input_megapixels=0.1)
        worker = asyncio.create_task(run_pull_worker(settings, stop))

        async def job_finished() -> bool:
            return bool((await live.api.job(user, job_id))["status"] in ("done", "failed"))

        await eventually(job_finished)
        stop.set()
        await worker
        job = await live.api.job(user, job_id)
        assert [item["status"] for item in job["items"]] == ["failed", "done"]
        assert job["items"][0]["error"].startswith("image is too large (")
        assert "limit 0.1 MP" in job["items"][0]["error"]
        me = await live.api.me(user)
        assert me["credits"] == 10 - 1
