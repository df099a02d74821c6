"""Drafts and options end to end: the real API over HTTP, the real pull worker, the default
engine. Every photo is segmented once for all its variants; the set holds each variant and
a board; the user pays photos × renders."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from prometheus_client import REGISTRY

from s3api.worker.compose.draft_board import BOARD_HEIGHT, BOARD_WIDTH
from s3api.worker.compose.option_board import board_size
from s3api.worker.engine import decode_image
from s3api.worker.pull_loop import run_pull_worker
from tests.support.factories import SignedIn
from tests.support.jobs import assert_money_invariants, set_plan
from tests.support.worker import LiveApp, live_app, room_jpegs
from tests.worker.test_worker_output_sets import ended_set, fetched, product_jpegs, queued_job
from tests.worker.test_worker_pull_loop import worker_settings

STYLES = ["modern", "natural", "hotel"]
PROTECTED = ["Grout", "Frame_Molding", "Glass_highlight"]
OPTIONS = ["navy", "#c0392b", "sage_green"]


def computed_segmentations() -> float:
    value = REGISTRY.get_sample_value("s3api_worker_segmentations_total", {"source": "computed"})
    return value or 0.0


async def pro_user(live: LiveApp) -> SignedIn:
    user = await live.api.sign_in()
    await set_plan(live.context, user.user_id, "pro")
    return user


async def run_to_set(live: LiveApp, user: SignedIn, job_id: str) -> dict[str, Any]:
    stop = asyncio.Event()
    worker = asyncio.create_task(run_pull_worker(worker_settings(live), stop))
    try:
        return await ended_set(live, user, job_id)
    finally:
        stop.set()
        await worker


def decoded(data: bytes) -> np.ndarray[Any, Any]:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


async def test_three_drafts_from_one_segmentation_per_photo_make_a_ready_set(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await pro_user(live)
        inputs = room_jpegs(2)
        before = computed_segmentations()
        job_id = await queued_job(live, user, "interior", inputs, {"output_template": "시안3안팩"})
        assert (await live.api.me(user))["credits"] == 10 - 2 * 3
        output_set = await run_to_set(live, user, job_id)
        assert output_set["status"] == "ready", output_set
        # one segmentation per photo: each concept any draft edits or protects, once
        concepts = len(["Wall", "Floor", "Cabinet", *PROTECTED])
        assert computed_segmentations() - before == len(inputs) * concepts

        names = [entry["name"] for entry in output_set["files"]]
        expected = [
            name
            for idx in range(len(inputs))
            for name in (
                *(f"draft_{idx}_{style}.jpg" for style in STYLES),
                f"draft_board_{idx}.jpg",
            )
        ]
        assert names == expected
        files = {entry["name"]: entry for entry in output_set["files"]}
        for idx, data in enumerate(inputs):
            height, width = decode_image(data).shape[:2]
            drafts = []
            for style in STYLES:
                entry = files[f"draft_{idx}_{style}.jpg"]
                picture = Image.open(io.BytesIO(await fetched(live, entry["url"])))
                assert picture.format == "JPEG"
                assert picture.size == (width, height) == (entry["width"], entry["height"])
                drafts.append(decoded(await fetched(live, entry["url"])))
            for first in range(3):
                for second in range(first + 1, 3):
                    # three different looks: clearly apart on average, not JPEG noise
                    assert np.abs(drafts[first] - drafts[second]).mean() > 3
            board = files[f"draft_board_{idx}.jpg"]
            board_image = Image.open(io.BytesIO(await fetched(live, board["url"])))
            assert board_image.size == (BOARD_WIDTH, BOARD_HEIGHT)

        archive = zipfile.ZipFile(io.BytesIO(await fetched(live, output_set["zip_url"])))
        assert archive.namelist() == [
            "results/0_result.png",
            "results/1_result.png",
            "results/0_variant_1.png",
            "results/0_variant_2.png",
            "results/1_variant_1.png",
            "results/1_variant_2.png",
            *(f"set/{name}" for name in expected),
        ]
        job = await live.api.job(user, job_id)
        assert job["status"] == "done"
        assert job["refunded"] == 0
        await assert_money_invariants(live.context, user.user_id)


async def test_an_option_board_recolours_the_body_per_option(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await pro_user(live)
        inputs = product_jpegs(1)
        body = {"output_template": "옵션보드", "options": OPTIONS}
        job_id = await queued_job(live, user, "seller", inputs, body)
        assert (await live.api.me(user))["credits"] == 10 - len(OPTIONS)
        output_set = await run_to_set(live, user, job_id)
        assert output_set["status"] == "ready", output_set
        names = [entry["name"] for entry in output_set["files"]]
        assert names == ["option_0_1.jpg", "option_0_2.jpg", "option_0_3.jpg", "option_board_0.jpg"]
        renders = [decoded(await fetched(live, entry["url"])) for entry in output_set["files"][:3]]
        for first in range(3):
            for second in range(first + 1, 3):
                assert np.abs(renders[first] - renders[second]).mean() > 3
        board = output_set["files"][3]
        assert (board["width"], board["height"]) == board_size(len(OPTIONS))
        archive = zipfile.ZipFile(io.BytesIO(await fetched(live, output_set["zip_url"])))
        assert archive.namelist()[:3] == [
            "results/0_result.png",
            "results/0_variant_1.png",
            "results/0_variant_2.png",
        ]
        await assert_money_invariants(live.context, user.user_id)
