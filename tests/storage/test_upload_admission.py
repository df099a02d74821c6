"""Local storage refuses signed uploads that their job no longer expects, through the real app."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from s3api.context import AppContext
from s3api.storage.local import LocalStorage, SignedOperation
from s3api.timeutil import utcnow
from tests.support.factories import ApiClient, SignedIn, jpeg_bytes
from tests.support.jobs import data_of
from tests.support.storage import assert_error_envelope, files_under

OCTET_STREAM = {"Content-Type": "application/octet-stream"}


def local_storage(context: AppContext) -> LocalStorage:
    assert isinstance(context.storage, LocalStorage)
    return context.storage


async def put(api: ApiClient, url: str) -> httpx.Response:
    return await api.http.put(url, content=jpeg_bytes(), headers=OCTET_STREAM)


async def created_job(api: ApiClient, user: SignedIn, item_count: int = 1) -> dict[str, Any]:
    created = await api.create_job(user, item_count)
    assert created["status"] == "created"
    return created


def objects_of(context: AppContext, user: SignedIn) -> list[str]:
    """Every file local storage holds for the user, temporary files included."""
    root = local_storage(context).root
    return [str(path.relative_to(root)) for path in files_under(root) if user.user_id in str(path)]


async def test_an_upload_url_of_a_deleted_job_stores_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await created_job(api, user)
    job_id = created["job_id"]
    data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
    data_of(await api.http.delete(f"/jobs/{job_id}", headers=user.headers))
    response = await put(api, created["presigned_urls"][0]["url"])
    assert_error_envelope(response, 403, "FORBIDDEN")
    assert objects_of(context, user) == []


async def test_an_upload_url_kept_past_account_deletion_stores_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await created_job(api, user, 2)
    await put(api, created["presigned_urls"][0]["url"])
    assert data_of(await api.http.delete("/me", headers=user.headers)) == {"deleted": True}
    for entry in created["presigned_urls"]:
        assert_error_envelope(await put(api, entry["url"]), 403, "FORBIDDEN")
    assert objects_of(context, user) == []


async def test_an_input_cannot_be_replaced_once_its_upload_is_confirmed(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await created_job(api, user)
    await api.upload_all(created)
    assert (await api.confirm(user, created["job_id"])).status_code == 200
    key = created["presigned_urls"][0]["key"]
    stored = await context.storage.get_bytes(key)
    response = await api.http.put(created["presigned_urls"][0]["url"], content=b"other bytes")
    assert_error_envelope(response, 403, "FORBIDDEN")
    assert await context.storage.get_bytes(key) == stored


async def test_results_are_accepted_while_queued_and_refused_once_the_job_ended(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    queued = await api.queued_job(user, 1)
    job_id = queued["job_id"]
    storage = local_storage(context)
    output = f"outputs/{user.user_id}/{job_id}/0_result.png"
    url = storage.signed_url(SignedOperation.PUT, output, 600)
    assert (await put(api, url)).status_code == 200
    data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
    assert_error_envelope(await put(api, url), 403, "FORBIDDEN")


async def test_an_upload_under_a_job_of_another_user_is_refused(
    api: ApiClient, context: AppContext
) -> None:
    owner, other = await api.sign_in(), await api.sign_in()
    created = await created_job(api, owner)
    key = f"inputs/{other.user_id}/{created['job_id']}/0.jpg"
    url = local_storage(context).signed_url(SignedOperation.PUT, key, 600)
    assert_error_envelope(await put(api, url), 403, "FORBIDDEN")
    assert objects_of(context, other) == []


async def test_input_upload_urls_expire_after_their_own_shorter_lifetime(
    api: ApiClient, context: AppContext
) -> None:
    lifetime = timedelta(seconds=context.settings.upload_url_ttl_seconds)
    assert lifetime < timedelta(seconds=context.settings.presign_ttl_seconds)
    user = await api.sign_in()
    before = utcnow()
    created = await created_job(api, user)
    expires_at = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    assert abs(expires_at - (before + lifetime)) < timedelta(seconds=5)
    expires = int(httpx.URL(created["presigned_urls"][0]["url"]).params["expires"])
    assert abs(expires - (before + lifetime).timestamp()) < 5
