"""Sets through the serverless entry point: `handler` runs a job's items and then its
assembly message, for drafts, for the custom preset on a model engine, and with the free
plan's watermark on the composed images."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from s3api.worker import handler as handler_module
from s3api.worker.compose.before_after import GUTTER
from s3api.worker.compose.watermark import box_pixels
from s3api.worker.engine import Engine, decode_image
from s3api.worker.engine.registry import ENGINE_FACTORIES, register_engine
from s3api.worker.handler import handler
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.factories import SignedIn
from tests.support.jobs import assert_money_invariants, set_plan
from tests.support.worker import FLOOR_OAK, LiveApp, live_app, room_jpegs
from tests.worker.test_worker_output_sets import fetched, queued_job

WATERMARK_BOX = (0.58, 0.9, 0.4, 0.07)
"""The default box of `WATERMARK_BOX`."""


@pytest.fixture(autouse=True)
def serverless_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform's environment: the secret set, no `.env`, a fresh engine cache, and a
    `model-stand-in` engine that takes free noun phrases as a model would."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GPU_CALLBACK_SECRET", TEST_CALLBACK_SECRET)
    monkeypatch.setattr(handler_module, "_engines", {})
    monkeypatch.setattr("s3api.worker.engine.registry.ENGINE_FACTORIES", dict(ENGINE_FACTORIES))
    register_engine("model-stand-in", lambda _settings: Engine(serves_custom_concepts=True))


async def run_through_handler(live: LiveApp, user: SignedIn, job_id: str) -> dict[str, Any]:
    """Pull and hand every message to `handler` until the job's set has ended."""
    for _ in range(3):
        for pulled in await live.pull():
            message = {**pulled["body"], "attempts": pulled["attempts"]}
            summary = await asyncio.to_thread(handler, {"input": message})
            assert "error" not in summary, summary
        output_set: dict[str, Any] | None = (await live.api.job(user, job_id))["output_set"]
        if output_set is not None and output_set["status"] != "pending":
            return output_set
    raise AssertionError("the set never ended")


async def test_the_handler_renders_drafts_and_assembles_their_set(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        await set_plan(live.context, user.user_id, "pro")
        job_id = await queued_job(
            live, user, "interior", room_jpegs(1), {"output_template": "시안3안팩"}
        )
        output_set = await run_through_handler(live, user, job_id)
        assert output_set["status"] == "ready", output_set
        assert [entry["name"] for entry in output_set["files"]] == [
            "draft_0_modern.jpg",
            "draft_0_natural.jpg",
            "draft_0_hotel.jpg",
            "draft_board_0.jpg",
        ]
        archive = zipfile.ZipFile(io.BytesIO(await fetched(live, output_set["zip_url"])))
        assert archive.namelist()[:3] == [
            "results/0_result.png",
            "results/0_variant_1.png",
            "results/0_variant_2.png",
        ]
        await assert_money_invariants(live.context, user.user_id)


async def test_a_custom_preset_before_after_set_is_ready_on_a_model_engine(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_ENGINE", "model-stand-in")
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        edits = {
            "concepts": {"wooden bench": {"action": "recolor", "value": "navy"}},
            "protect": ["potted plant"],
            "output_template": "전후비교",
        }
        job_id = await queued_job(live, user, "custom", room_jpegs(1), edits)
        output_set = await run_through_handler(live, user, job_id)
        assert output_set["status"] == "ready", output_set
        [entry] = output_set["files"]
        assert entry["name"] == "before_after_0.jpg"
        with Image.open(io.BytesIO(await fetched(live, entry["url"]))) as picture:
            assert picture.size == (entry["width"], entry["height"])


async def composed_before_after(live: LiveApp, plan: str, photo: bytes) -> np.ndarray[Any, Any]:
    user = await live.api.sign_in()
    await set_plan(live.context, user.user_id, plan)
    job_id = await queued_job(
        live, user, "interior", [photo], {**FLOOR_OAK, "output_template": "전후비교"}
    )
    output_set = await run_through_handler(live, user, job_id)
    assert output_set["status"] == "ready", output_set
    [entry] = output_set["files"]
    return decode_image(await fetched(live, entry["url"])).astype(np.int16)


async def test_the_free_plans_composed_image_carries_the_watermark_and_pros_none(
    tmp_path: Path, database_url: str
) -> None:
    photo = room_jpegs(1)[0]
    async with live_app(tmp_path / "data", database_url) as live:
        free = await composed_before_after(live, "free", photo)
        pro = await composed_before_after(live, "pro", photo)
    assert free.shape == pro.shape
    height, width = free.shape[:2]
    left, top, right, bottom = box_pixels(width, height, WATERMARK_BOX)
    changed = np.abs(free - pro).max(axis=2) > 24
    # the composed image's own stamp: nearly every pixel of its box
    assert changed[top:bottom, left:right].mean() > 0.9
    # the before panel holds the same photo in both; JPEG blocks next to the box may differ
    # a little, so a margin of one block is left out
    panel_right = (width - GUTTER) // 2
    before_panel = np.abs(free - pro)[GUTTER : top - 16, GUTTER : min(panel_right, left - 16)]
    assert before_panel.size > 0
    assert before_panel.max() <= 4
