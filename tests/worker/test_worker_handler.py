"""The serverless entry point: `handler({"input": message})` runs the worker's processing."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from s3api.worker.handler import handler
from tests.support.databases import TEST_CALLBACK_SECRET
from tests.support.worker import CORRUPT_JPEG, FLOOR_OAK, live_app, room_jpegs


@pytest.fixture
def callback_secret_in_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform's environment: the secret set, and no `.env` in the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GPU_CALLBACK_SECRET", TEST_CALLBACK_SECRET)


@pytest.mark.usefixtures("callback_secret_in_env")
async def test_handler_processes_a_message_given_as_input(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        photos = room_jpegs(2)
        job_id = await live.queued_job(user, [photos[0], CORRUPT_JPEG, photos[1]])
        [pulled] = await live.pull()
        message = {**pulled["body"], "attempts": pulled["attempts"]}
        summary = await asyncio.to_thread(handler, {"input": message})
        assert summary == {"job_id": job_id, "done": 2, "failed": 1}
        job = await live.api.job(user, job_id)
        assert job["status"] == "done"
        assert [item["status"] for item in job["items"]] == ["done", "failed", "done"]
        assert (await live.api.me(user))["credits"] == 10 - 2


@pytest.mark.usefixtures("callback_secret_in_env")
def test_handler_without_an_input_message_answers_an_error() -> None:
    assert handler({"id": "run-1"}) == {"error": "event has no input message"}


@pytest.mark.usefixtures("callback_secret_in_env")
async def test_handler_writes_a_webp_job_as_webp_results_behind_its_download_urls(
    tmp_path: Path, database_url: str
) -> None:
    async with live_app(tmp_path / "data", database_url) as live:
        user = await live.api.sign_in()
        execute = {**FLOOR_OAK, "output_format": "webp"}
        job_id = await live.queued_job(user, room_jpegs(1), execute)
        [pulled] = await live.pull()
        message = {**pulled["body"], "attempts": pulled["attempts"]}
        summary = await asyncio.to_thread(handler, {"input": message})
        assert summary == {"job_id": job_id, "done": 1, "failed": 0}
        job = await live.api.job(user, job_id)
        assert (job["status"], job["output_format"]) == ("done", "webp")
        [download] = job["download_urls"]
        assert f"/outputs/{user.user_id}/{job_id}/0_result.webp?" in download["output_url"]
        fetched = await live.api.http.get(download["output_url"])
        assert fetched.headers["content-type"] == "image/webp"
        with Image.open(io.BytesIO(fetched.content)) as result:
            assert result.format == "WEBP"
