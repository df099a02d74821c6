"""`POST /jobs/{id}/confirm-upload` (API.md §3.11): inputs must exist, fit and be images."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from s3api.app import create_app
from s3api.context import AppContext
from tests.support.databases import TEST_CALLBACK_SECRET, make_settings
from tests.support.factories import ApiClient, jpeg_bytes
from tests.support.jobs import (
    assert_money_invariants,
    data_of,
    error_of,
    image_bytes,
)

SMALL_LIMIT = 2048


async def put_input(context: AppContext, created: dict[str, object], idx: int, body: bytes) -> None:
    """Store one input object straight in storage, as if the client had uploaded it."""
    urls = created["presigned_urls"]
    assert isinstance(urls, list)
    await context.storage.put_bytes(urls[idx]["key"], body, "application/octet-stream")


async def test_confirm_with_every_input_uploaded_moves_the_job_to_uploaded(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 2)
    await api.upload_all(created)
    data = data_of(await api.confirm(user, created["job_id"]))
    assert data == {"confirmed": True, "status": "uploaded"}
    assert (await api.job(user, created["job_id"]))["status"] == "uploaded"
    await assert_money_invariants(context, user.user_id)


async def test_missing_inputs_are_listed_and_the_job_stays_created(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 3)
    await put_input(context, created, 1, jpeg_bytes())
    error = error_of(await api.confirm(user, created["job_id"]), 409, "UPLOAD_INCOMPLETE")
    assert sorted(error["details"]["missing"]) == [0, 2]
    assert not error["details"].get("invalid")
    assert (await api.job(user, created["job_id"]))["status"] == "created"


async def test_confirm_succeeds_once_the_missing_inputs_arrive(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 2)
    error_of(await api.confirm(user, created["job_id"]), 409, "UPLOAD_INCOMPLETE")
    await api.upload_all(created)
    assert data_of(await api.confirm(user, created["job_id"]))["status"] == "uploaded"


async def test_a_non_image_input_is_listed_as_invalid(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 2)
    await put_input(context, created, 0, jpeg_bytes())
    await put_input(context, created, 1, b"just some text, certainly not an image\n" * 4)
    error = error_of(await api.confirm(user, created["job_id"]), 409, "UPLOAD_INCOMPLETE")
    assert error["details"]["invalid"] == [1]
    assert not error["details"].get("missing")
    assert (await api.job(user, created["job_id"]))["status"] == "created"


async def test_an_empty_input_is_listed_as_invalid(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    await put_input(context, created, 0, b"")
    error = error_of(await api.confirm(user, created["job_id"]), 409, "UPLOAD_INCOMPLETE")
    assert error["details"]["invalid"] == [0]


async def test_missing_and_invalid_inputs_are_reported_together(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 3)
    await put_input(context, created, 0, b"GIF89a not accepted here")
    await put_input(context, created, 2, jpeg_bytes())
    error = error_of(await api.confirm(user, created["job_id"]), 409, "UPLOAD_INCOMPLETE")
    assert error["details"]["invalid"] == [0]
    assert error["details"]["missing"] == [1]


async def test_png_and_webp_inputs_are_accepted(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 2)
    await put_input(context, created, 0, image_bytes("PNG"))
    await put_input(context, created, 1, image_bytes("WEBP"))
    assert data_of(await api.confirm(user, created["job_id"]))["status"] == "uploaded"


async def test_confirming_twice_is_an_invalid_transition(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    await api.upload_all(created)
    data_of(await api.confirm(user, created["job_id"]))
    error_of(await api.confirm(user, created["job_id"]), 409, "JOB_INVALID_TRANSITION")
    assert (await api.job(user, created["job_id"]))["status"] == "uploaded"


async def test_confirming_a_canceled_job_is_an_invalid_transition(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    await api.upload_all(created)
    data_of(await api.http.post(f"/jobs/{created['job_id']}/cancel", headers=user.headers))
    error_of(await api.confirm(user, created["job_id"]), 409, "JOB_INVALID_TRANSITION")
    assert (await api.job(user, created["job_id"]))["status"] == "canceled"


async def test_confirm_accepts_an_empty_body_sent_as_json(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    await api.upload_all(created)
    response = await api.http.post(
        f"/jobs/{created['job_id']}/confirm-upload",
        content=b"",
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert data_of(response)["confirmed"] is True


async def test_confirm_ignores_unknown_json_fields(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1)
    await api.upload_all(created)
    response = await api.http.post(
        f"/jobs/{created['job_id']}/confirm-upload", json={"force": True}, headers=user.headers
    )
    assert data_of(response)["status"] == "uploaded"


@pytest.fixture
async def small_limit(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[ApiClient, AppContext]]:
    """An app on the test database whose uploads may be at most SMALL_LIMIT bytes."""
    settings = make_settings(tmp_path / "small", database_url, max_upload_bytes=SMALL_LIMIT)
    application = create_app(settings, migrate=False)
    context: AppContext = application.state.context
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield ApiClient(client, TEST_CALLBACK_SECRET, context.storage), context
    await context.close()


def padded_jpeg(size: int) -> bytes:
    """A JPEG padded with trailing bytes to exactly `size` bytes."""
    body = jpeg_bytes(8, 8)
    assert len(body) < size
    return body + b"\0" * (size - len(body))


async def test_an_input_over_the_configured_size_is_listed_as_invalid(
    small_limit: tuple[ApiClient, AppContext],
) -> None:
    api, context = small_limit
    user = await api.sign_in()
    created = await api.create_job(user, 2)
    await put_input(context, created, 0, padded_jpeg(SMALL_LIMIT))
    await put_input(context, created, 1, padded_jpeg(SMALL_LIMIT + 1))
    error = error_of(await api.confirm(user, created["job_id"]), 409, "UPLOAD_INCOMPLETE")
    assert error["details"]["invalid"] == [1]
    assert not error["details"].get("missing")
    assert (await api.job(user, created["job_id"]))["status"] == "created"
