"""Output sets end to end: the real API over HTTP, the real pull worker, the default engine.

Each template's set ends `ready` with its documented files and zip; a set survives the
loss of its first delivery; the callback refuses what the plan did not ask for; deletion
removes the set's objects.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from s3api.jobs.output_sets import repository as sets_repository
from s3api.worker.compose.before_after import GUTTER, LABEL_STRIP, panel_height
from s3api.worker.compose.product_pack import PACK_ROLES
from s3api.worker.compose.thumbnails import THUMBNAIL_SIZES
from s3api.worker.engine import decode_image
from s3api.worker.engine.samples import jpeg_bytes, product_image
from s3api.worker.pull_loop import run_pull_worker
from tests.support.clock import freeze_queue_clock
from tests.support.factories import SignedIn
from tests.support.jobs import set_plan
from tests.support.worker import FLOOR_OAK, SECRET_HEADERS, LiveApp, live_app, room_jpegs
from tests.worker.test_worker_pull_loop import eventually, worker_settings

BODY_NAVY = {"concepts": {"Body": {"action": "recolor", "value": "navy"}}}


async def queued_job(
    live: LiveApp, user: SignedIn, preset: str, images: list[bytes], execute: dict[str, Any]
) -> str:
    created = await live.api.create_job(user, len(images), preset=preset)
    for entry, image in zip(created["presigned_urls"], images, strict=True):
        assert (await live.api.http.put(entry["url"], content=image)).status_code == 200
    job_id = str(created["job_id"])
    assert (await live.api.confirm(user, job_id)).status_code == 200
    response = await live.api.execute(user, job_id, execute)
    assert response.status_code == 202, response.text
    return job_id


async def ended_set(live: LiveApp, user: SignedIn, job_id: str) -> dict[str, Any]:
    async def ended() -> bool:
        job = await live.api.job(user, job_id)
        return job["output_set"] is not None and job["output_set"]["status"] != "pending"

    await eventually(ended)
    output_set: dict[str, Any] = (await live.api.job(user, job_id))["output_set"]
    return output_set


async def fetched(live: LiveApp, url: str) -> bytes:
    response = await live.api.http.get(url)
    assert response.status_code == 200, response.text
    return response.content


def product_jpegs(count: int) -> list[bytes]:
    return [jpeg_bytes(product_image(520 + 40 * index, seed=index)) for index in range(count)]


def expected_sizes(template: str, inputs: list[bytes]) -> dict[str, tuple[int, int]]:
    """The documented names and sizes of the set of these photos (all done)."""
    if template == "전후비교":
        sizes = {}
        for idx, data in enumerate(inputs):
            photo = decode_image(data)
            height = panel_height(photo, photo)
            width = round(photo.shape[1] * height / photo.shape[0])
            sizes[f"before_after_{idx}.jpg"] = (
                3 * GUTTER + 2 * width,
                2 * GUTTER + height + LABEL_STRIP,
            )
        return sizes
    if template == "고객공유카드":
        return {"share_card.jpg": (1080, 1920)}
    if template == "상품팩":
        return {f"{role.name}.jpg": (role.width, role.height) for role in PACK_ROLES[: len(inputs)]}
    return {
        f"thumb_{idx}_{size.name}.jpg": (size.width, size.height)
        for idx in range(len(inputs))
        for size in THUMBNAIL_SIZES
    }


TEMPLATES = [
    ("interior", "전후비교", FLOOR_OAK),
    ("interior", "고객공유카드", FLOOR_OAK),
    ("seller", "상품팩", BODY_NAVY),
    ("seller", "썸네일8종", BODY_NAVY),
]


@pytest.mark.parametrize(("preset", "template", "edits"), TEMPLATES)
async def test_every_template_ends_with_a_ready_set_of_its_documented_files(
    tmp_path: Path, database_url: str, preset: str, template: str, edits: dict[str, Any]
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        await set_plan(live.context, user.user_id, "pro")
        inputs = room_jpegs(2) if preset == "interior" else product_jpegs(2)
        job_id = await queued_job(
            live, user, preset, inputs, {**edits, "output_template": template}
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(worker_settings(live), stop))
        try:
            output_set = await ended_set(live, user, job_id)
        finally:
            stop.set()
            await worker
        assert output_set["status"] == "ready", output_set
        assert output_set["template"] == template
        expected = expected_sizes(template, inputs)
        assert [entry["name"] for entry in output_set["files"]] == list(expected)
        composed: dict[str, bytes] = {}
        for entry in output_set["files"]:
            data = await fetched(live, entry["url"])
            picture = Image.open(io.BytesIO(data))
            assert picture.format == "JPEG"
            assert picture.size == expected[entry["name"]] == (entry["width"], entry["height"])
            composed[entry["name"]] = data
        archive = zipfile.ZipFile(io.BytesIO(await fetched(live, output_set["zip_url"])))
        assert archive.namelist() == [
            "results/0_result.png",
            "results/1_result.png",
            *(f"set/{name}" for name in expected),
        ]
        job = await live.api.job(user, job_id)
        for entry in job["download_urls"]:
            stored = archive.read(f"results/{entry['idx']}_result.png")
            assert stored == await fetched(live, entry["output_url"])
        for name, data in composed.items():
            assert archive.read(f"set/{name}") == data
        assert await live.pull() == []


async def test_a_job_without_a_template_has_no_set_and_no_assembly_message(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        job_id = await live.queued_job(user, room_jpegs(1))
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(worker_settings(live), stop))

        async def done() -> bool:
            return bool((await live.api.job(user, job_id))["status"] == "done")

        await eventually(done)
        stop.set()
        await worker
        assert (await live.api.job(user, job_id))["output_set"] is None
        assert await live.pull() == []


async def edited_without_worker(live: LiveApp, user: SignedIn, template: str) -> str:
    """A job whose edit message a stand-in GPU side answers, so only the set is left."""
    job_id = await live.queued_job(user, room_jpegs(2), {**FLOOR_OAK, "output_template": template})
    [message] = await live.pull()
    body = message["body"]
    for item in body["items"]:
        source = await fetched(live, item["input_url"])
        buffer = io.BytesIO()
        Image.open(io.BytesIO(source)).convert("RGB").save(buffer, format="PNG")
        for url, payload in (
            (item["output_url"], buffer.getvalue()),
            (item["preview_url"], source),
        ):
            assert (await live.api.http.put(url, content=payload)).status_code == 200
        report = {
            "idx": item["idx"],
            "status": "done",
            "output_key": item["output_key"],
            "preview_key": item["preview_key"],
            "idempotency_key": f"{job_id}:{item['idx']}:1",
        }
        answer = await live.api.http.post(body["callback_url"], json=report, headers=SECRET_HEADERS)
        assert answer.status_code == 200, answer.text
    acked = await live.api.http.post(
        "/queues/gpu-jobs/ack",
        json={"acks": [{"lease_id": message["lease_id"]}]},
        headers=SECRET_HEADERS,
    )
    assert acked.json()["data"]["acked"] == 1
    return job_id


async def test_a_set_whose_first_delivery_is_lost_still_ends_ready(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        clock = freeze_queue_clock(live.context)
        user = await live.api.sign_in()
        job_id = await edited_without_worker(live, user, "전후비교")
        job = await live.api.job(user, job_id)
        assert (job["status"], job["output_set"]["status"]) == ("done", "pending")
        # a GPU host takes the assembly and dies before answering
        [lost] = await live.pull(visibility_timeout_seconds=30)
        assert lost["body"]["kind"] == "output_set"
        assert await live.pull() == []
        clock.advance(31)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(worker_settings(live), stop))
        try:
            output_set = await ended_set(live, user, job_id)
        finally:
            stop.set()
            await worker
        assert output_set["status"] == "ready"
        assert len(output_set["files"]) == 2


async def test_the_set_callback_refuses_other_keys_missing_objects_and_answers_replays(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        job_id = await edited_without_worker(live, user, "전후비교")
        [message] = await live.pull()
        body = message["body"]
        url = body["callback_url"]
        files = [
            {"name": f["name"], "key": f["key"], "width": 100, "height": 50} for f in body["files"]
        ]
        ready = {
            "set_id": body["set_id"],
            "status": "ready",
            "idempotency_key": f"{body['set_id']}:1",
            "files": files,
            "zip_key": body["zip_key"],
        }

        async def post(payload: dict[str, Any]) -> Any:
            return await live.api.http.post(url, json=payload, headers=SECRET_HEADERS)

        wrong_set = await post({**ready, "set_id": "another"})
        assert (wrong_set.status_code, wrong_set.json()["error"]["code"]) == (
            400,
            "VALIDATION_FAILED",
        )
        wrong_key = await post(
            {**ready, "files": [{**files[0], "key": "outputs/x/y/z.jpg"}, files[1]]}
        )
        assert wrong_key.status_code == 400
        missing = await post(ready)
        assert (missing.status_code, missing.json()["error"]["code"]) == (409, "UPLOAD_INCOMPLETE")
        assert set(missing.json()["error"]["details"]["missing"]) == {
            *(f["key"] for f in files),
            body["zip_key"],
        }
        assert (await live.api.job(user, job_id))["output_set"]["status"] == "pending"
        failed = await post(
            {
                "set_id": body["set_id"],
                "status": "failed",
                "idempotency_key": "k",
                "error": "gpu lost",
            }
        )
        assert failed.json()["data"] == {
            "processed": True,
            "duplicate": False,
            "set_status": "failed",
        }
        replay = await post(ready)
        assert replay.json()["data"] == {
            "processed": False,
            "duplicate": True,
            "set_status": "failed",
        }
        output_set = (await live.api.job(user, job_id))["output_set"]
        assert (output_set["status"], output_set["error"], output_set["files"]) == (
            "failed",
            "gpu lost",
            [],
        )


async def test_deleting_the_job_removes_its_set(tmp_path: Path, database_url: str) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        job_id = await edited_without_worker(live, user, "전후비교")
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(worker_settings(live), stop))
        try:
            assert (await ended_set(live, user, job_id))["status"] == "ready"
        finally:
            stop.set()
            await worker
        async with live.context.database.read() as connection:
            record = await sets_repository.find_set(connection, job_id)
        assert record is not None
        keys = sets_repository.object_keys(record)
        assert len(keys) == 3
        assert all([await live.context.storage.head(key) for key in keys])
        deleted = await live.api.http.delete(f"/jobs/{job_id}", headers=user.headers)
        assert deleted.status_code == 200, deleted.text
        assert [await live.context.storage.head(key) for key in keys] == [None] * 3


async def test_a_dead_lettered_assembly_fails_the_set_with_its_reason(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url, queue_max_retries=0) as live:
        user = await live.api.sign_in()
        job_id = await edited_without_worker(live, user, "전후비교")
        [message] = await live.pull()
        retried = await live.api.http.post(
            "/queues/gpu-jobs/ack",
            json={"retries": [{"lease_id": message["lease_id"], "error": "gpu lost"}]},
            headers=SECRET_HEADERS,
        )
        assert retried.status_code == 200, retried.text
        output_set = (await live.api.job(user, job_id))["output_set"]
        assert output_set["status"] == "failed"
        assert "gpu lost" in output_set["error"]
        assert await live.pull() == []


async def test_the_stream_of_a_job_with_a_set_closes_after_the_set_event(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        job_id = await edited_without_worker(live, user, "전후비교")
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(worker_settings(live), stop))
        try:
            assert (await ended_set(live, user, job_id))["status"] == "ready"
        finally:
            stop.set()
            await worker
        response = await live.api.http.get(f"/jobs/{job_id}/events", headers=user.headers)
        assert response.status_code == 200
        names = [
            line.removeprefix("event:").strip()
            for line in response.text.splitlines()
            if line.startswith("event:")
        ]
        assert names == ["snapshot", "output_set"]


async def test_deleting_the_account_removes_its_sets(tmp_path: Path, database_url: str) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        job_id = await edited_without_worker(live, user, "전후비교")
        stop = asyncio.Event()
        worker = asyncio.create_task(run_pull_worker(worker_settings(live), stop))
        try:
            assert (await ended_set(live, user, job_id))["status"] == "ready"
        finally:
            stop.set()
            await worker
        async with live.context.database.read() as connection:
            record = await sets_repository.find_set(connection, job_id)
        assert record is not None
        keys = sets_repository.object_keys(record)
        assert all([await live.context.storage.head(key) for key in keys])
        deleted = await live.api.http.delete("/me", headers=user.headers)
        assert deleted.status_code == 200, deleted.text
        assert [await live.context.storage.head(key) for key in keys] == [None] * len(keys)
