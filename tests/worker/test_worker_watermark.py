"""The free plan's watermark: the engine stamps the message's box on result and preview,
and nothing outside that box differs from the same Pro job's result."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from s3api.worker.api_client import WorkerApiClient
from s3api.worker.compose.watermark import Watermark, box_pixels
from s3api.worker.engine import Engine, decode_image
from s3api.worker.engine.samples import jpeg_bytes, room_image
from s3api.worker.processing import MessageProcessor
from s3api.worker.pull_loop import PullWorker
from s3api.worker.settings import WorkerSettings
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.jobs import set_plan
from tests.support.processing import FakeApi, message, processor
from tests.support.worker import LiveApp, live_app, room_jpegs

MARK = Watermark("Made with S3 API", (0.58, 0.9, 0.4, 0.07), 0.6)
SPEC: dict[str, Any] = {"text": MARK.text, "box": list(MARK.box), "opacity": MARK.opacity}
RULES = {"Floor": {"action": "recolor", "value": "oak_a"}}
PROTECT = ["Grout", "Frame_Molding"]


def inside_box(height: int, width: int) -> np.ndarray:
    left, top, right, bottom = box_pixels(width, height, MARK.box)
    inside = np.zeros((height, width), dtype=np.bool_)
    inside[top:bottom, left:right] = True
    return inside


def assert_differs_inside_the_box_only(marked: np.ndarray, clean: np.ndarray) -> None:
    changed = np.any(marked != clean, axis=2)
    inside = inside_box(*clean.shape[:2])
    assert not changed[~inside].any()
    assert changed[inside].mean() > 0.9


def test_engine_stamps_the_box_and_keeps_protected_pixels_outside_it() -> None:
    photo = jpeg_bytes(room_image(800, 600))
    engine = Engine()
    clean = engine.process(photo, RULES, PROTECT)
    marked = engine.process(photo, RULES, PROTECT, watermark=MARK)
    clean_pixels, marked_pixels = (
        decode_image(clean.result_image),
        decode_image(marked.result_image),
    )
    assert_differs_inside_the_box_only(marked_pixels, clean_pixels)
    decoded = decode_image(photo)
    masks = engine.masks_for(decoded, PROTECT)
    kept = (masks["Grout"] | masks["Frame_Molding"]) & ~inside_box(600, 800)
    assert kept.any()
    assert np.array_equal(marked_pixels[kept], decoded[kept])
    assert marked.preview_jpeg != clean.preview_jpeg


def test_the_message_reads_the_spec_and_refuses_a_bad_one() -> None:
    assert message(1).result_watermark is None
    assert message(1, watermark=SPEC).result_watermark == MARK
    with pytest.raises(ValidationError):
        message(1, watermark={**SPEC, "opacity": 1.5})
    with pytest.raises(ValidationError):
        message(1, watermark={**SPEC, "box": [0.1, 0.2]})


async def test_the_processor_passes_the_messages_watermark_to_the_engine() -> None:
    photo = room_jpegs(1)[0]
    uploads = {}
    for spec in (None, SPEC):
        fake = FakeApi({0: photo})
        summary = await processor(fake).process(message(1, watermark=spec), attempt=1)
        assert summary.done == 1
        uploads[spec is None] = decode_image(fake.uploads["/out/0"])
    assert_differs_inside_the_box_only(uploads[False], uploads[True])


def worker_settings(live: LiveApp) -> WorkerSettings:
    return WorkerSettings(
        _env_file=None,
        worker_api_base_url=live.base_url,
        gpu_callback_secret=TEST_CALLBACK_SECRET,
        worker_http_attempts=2,
        worker_http_backoff_seconds=0.01,
    )


async def test_a_free_jobs_result_differs_from_the_pro_jobs_inside_the_box_only(
    tmp_path: Path, database_url: str
) -> None:
    photo = room_jpegs(1)[0]
    async with live_app(tmp_path / "data", database_url) as live:
        free, pro = await live.api.sign_in(), await live.api.sign_in()
        await set_plan(live.context, pro.user_id, "pro")
        jobs = {
            "free": (free, await live.queued_job(free, [photo])),
            "pro": (pro, await live.queued_job(pro, [photo])),
        }
        settings = worker_settings(live)
        async with WorkerApiClient.from_settings(settings) as api:
            pulled = await api.pull(10, 300)
            assert len(pulled) == 2
            worker = PullWorker(settings, api, MessageProcessor(api, Engine(), 2))
            for leased in pulled:
                await worker.handle(leased, asyncio.Event())
        results = {}
        for plan, (user, job_id) in jobs.items():
            job = await live.api.job(user, job_id)
            assert job["status"] == "done", job
            download = await live.api.http.get(job["download_urls"][0]["output_url"])
            results[plan] = decode_image(download.content)
    assert_differs_inside_the_box_only(results["free"], results["pro"])
