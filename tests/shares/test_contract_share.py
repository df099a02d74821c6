"""`POST/DELETE /jobs/{id}/share` and the public page: who may share, what the page shows,
and every way a link stops working."""

from __future__ import annotations

import hashlib
import logging
import re
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from s3api.app import create_app
from s3api.context import AppContext
from s3api.db.models import JobShare
from s3api.timeutil import utcnow
from tests.support.databases import TEST_CALLBACK_SECRET, application_context, make_settings
from tests.support.factories import ApiClient, SignedIn, jpeg_bytes
from tests.support.jobs import data_of, error_of, image_bytes, set_plan
from tests.support.object_stores import finished_job, put_inputs, queued_job

TOKEN_IN_URL = re.compile(r"^http://testserver/share/([A-Za-z0-9_-]{43})$")
INTERIOR_EDITS: dict[str, Any] = {
    "concepts": {
        "Floor": {"action": "texture", "value": "oak_a"},
        "Wall": {"action": "recolor", "value": "#1e2c54"},
        "Light": {"action": "remove"},
        "Cabinet": {"action": "tone", "value": "warm"},
    },
    "protect": ["Grout", "Window"],
}


async def shared_job(
    api: ApiClient,
    context: AppContext,
    user: SignedIn,
    execute: dict[str, Any],
    *,
    preset: str = "interior",
    item_count: int = 2,
    failed: tuple[int, ...] = (),
) -> str:
    """A finished job whose inputs and results are real images (PNG results)."""
    created = await api.create_job(user, item_count, preset=preset)
    job_id: str = created["job_id"]
    await put_inputs(context, created)
    assert (await api.confirm(user, job_id)).status_code == 200
    assert (await api.execute(user, job_id, execute)).status_code == 202
    for idx in range(item_count):
        status = "failed" if idx in failed else "done"
        if status == "done":
            output = f"outputs/{user.user_id}/{job_id}/{idx}_result.png"
            preview = f"previews/{user.user_id}/{job_id}/{idx}_thumb.jpg"
            await context.storage.put_bytes(output, image_bytes("PNG", (32, 24)), "image/png")
            await context.storage.put_bytes(preview, jpeg_bytes(), "image/jpeg")
        response = await api.callback(
            job_id, user.user_id, idx, status=status, error="boom", store_results=False
        )
        assert response.status_code == 200, response.text
    return job_id


async def share(api: ApiClient, user: SignedIn, job_id: str, **body: Any) -> dict[str, Any]:
    response = await api.http.post(f"/jobs/{job_id}/share", json=body or None, headers=user.headers)
    return data_of(response, 201)


def page_path(url: str) -> str:
    match = TOKEN_IN_URL.match(url)
    assert match, url
    return f"/share/{match.group(1)}"


async def test_a_shared_job_shows_its_pairs_and_palette_to_anyone_holding_the_link(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS, item_count=3, failed=(1,))
    link = await share(api, user, job_id)
    path = page_path(link["url"])
    expires_at = link["expires_at"]
    assert expires_at.endswith("Z")
    response = await api.http.get(path)  # no token: the customer has no account
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # the done photos only, by their page-relative image routes
    token = path.rsplit("/", 1)[1]
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert sources == [
        f"{token}/0/before",
        f"{token}/0/after",
        f"{token}/2/before",
        f"{token}/2/after",
    ]
    assert "Photo 1" in html
    assert "Photo 3" in html
    assert "Photo 2" not in html
    # every edited concept with its action and value, and the protected ones
    for concept, action, value in (
        ("Floor", "texture", "oak_a"),
        ("Wall", "recolor", "#1e2c54"),
        ("Light", "remove", ""),
        ("Cabinet", "tone", "warm"),
    ):
        row = f'<span class="concept">{concept}</span><span class="action">{action}</span><span class="value">{value}</span>'
        assert row in html
    assert "<li>Grout</li>" in html
    assert "<li>Window</li>" in html
    assert ".sw-1{background:#1e2c54}" in html  # the recolour's swatch is its colour
    # images stream through the page's own routes
    for idx, kind in ((0, "jpeg"), (2, "png")):
        picture = await api.http.get(f"{path}/{idx}/before")
        assert picture.status_code == 200
        assert picture.headers["content-type"] == "image/jpeg"
        result = await api.http.get(f"{path}/{idx}/after")
        assert result.status_code == 200, result.text
        assert result.headers["content-type"] == "image/png", kind
        assert result.content == image_bytes("PNG", (32, 24))
    assert (await api.http.get(f"{path}/1/after")).status_code == 404  # failed photo


async def test_the_page_shows_nothing_else_of_the_account(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    path = page_path((await share(api, user, job_id))["url"])
    html = (await api.http.get(path)).text
    me = await api.me(user)
    for secret in (user.user_id, job_id, user.token, str(me["credits"]) + " credit", "outputs/"):
        assert secret not in html
    assert "credit" not in html.lower()
    assert "plan" not in html.lower()


async def test_the_page_carries_security_headers_and_loads_nothing_from_elsewhere(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    response = await api.http.get(page_path((await share(api, user, job_id))["url"]))
    policy = response.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", policy)
    assert nonce, policy
    assert "default-src 'none'" in policy
    assert "img-src 'self'" in policy
    assert f"style-src 'nonce-{nonce.group(1)}'" in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert f'<script nonce="{nonce.group(1)}">' in html
    assert f'<style nonce="{nonce.group(1)}">' in html
    assert "http://" not in html
    assert "https://" not in html
    assert "//" not in html.split("<script")[0]
    # without JavaScript the slider stays hidden and both images show side by side
    assert re.search(r'<input class="slider"[^>]* hidden>', html)


async def test_concept_names_and_values_are_escaped(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    await set_plan(context, user.user_id, "pro")
    hostile = '<img src=x onerror="alert(1)"> & co'
    edits = {
        "concepts": {hostile: {"action": "recolor", "value": "navy"}},
        "protect": ["<b>lamp</b>"],
    }
    job_id = await shared_job(api, context, user, edits, preset="custom", item_count=1)
    html = (await api.http.get(page_path((await share(api, user, job_id))["url"]))).text
    assert hostile not in html
    assert "<b>lamp</b>" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; co" in html
    assert "<li>&lt;b&gt;lamp&lt;/b&gt;</li>" in html


async def test_revoking_the_link_closes_the_page_and_its_images(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    path = page_path((await share(api, user, job_id))["url"])
    assert (await api.http.get(path)).status_code == 200
    revoked = await api.http.delete(f"/jobs/{job_id}/share", headers=user.headers)
    assert data_of(revoked) == {"revoked": True}
    for target in (path, f"{path}/0/before", f"{path}/0/after"):
        refused = await api.http.get(target)
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("text/html")
        assert "not available" in refused.text
    again = await api.http.delete(f"/jobs/{job_id}/share", headers=user.headers)
    assert data_of(again) == {"revoked": False}


async def test_sharing_again_replaces_the_link(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    first = page_path((await share(api, user, job_id))["url"])
    second = page_path((await share(api, user, job_id))["url"])
    assert first != second
    assert (await api.http.get(first)).status_code == 404
    assert (await api.http.get(second)).status_code == 200


async def test_only_the_tokens_hash_is_stored(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    token = page_path((await share(api, user, job_id))["url"]).rsplit("/", 1)[1]
    async with context.database.read() as connection:
        rows = (await connection.execute(JobShare.__table__.select())).all()
    assert len(rows) == 1
    assert token not in {str(value) for value in rows[0]}
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()


async def test_a_link_expires_after_its_lifetime(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    start = utcnow()
    context.shares.clock = lambda: start
    link = await share(api, user, job_id, expires_in=600)
    path = page_path(link["url"])
    assert link["expires_at"].startswith(
        (start + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M")
    )
    context.shares.clock = lambda: start + timedelta(seconds=599)
    assert (await api.http.get(path)).status_code == 200
    context.shares.clock = lambda: start + timedelta(seconds=600)
    for target in (path, f"{path}/0/after"):
        expired = await api.http.get(target)
        assert expired.status_code == 410
        assert "expired" in expired.text


async def test_the_default_lifetime_is_the_setting_and_longer_asks_are_refused(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    start = utcnow()
    context.shares.clock = lambda: start
    link = await share(api, user, job_id)
    default = context.settings.share_link_seconds
    assert default == 7 * 24 * 3600
    expected = (start + timedelta(seconds=default)).strftime("%Y-%m-%dT%H:%M")
    assert link["expires_at"].startswith(expected)
    too_long = await api.http.post(
        f"/jobs/{job_id}/share", json={"expires_in": default + 1}, headers=user.headers
    )
    error = error_of(too_long, 400, "VALIDATION_FAILED")
    assert error["details"]["fields"][0]["field"] == "expires_in"
    too_short = await api.http.post(
        f"/jobs/{job_id}/share", json={"expires_in": 59}, headers=user.headers
    )
    error_of(too_short, 400, "VALIDATION_FAILED")
    unknown = await api.http.post(f"/jobs/{job_id}/share", json={"ttl": 60}, headers=user.headers)
    error_of(unknown, 400, "VALIDATION_FAILED")


async def test_deleting_the_job_closes_the_page(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    path = page_path((await share(api, user, job_id))["url"])
    data_of(await api.http.delete(f"/jobs/{job_id}", headers=user.headers))
    assert (await api.http.get(path)).status_code == 404
    assert (await api.http.get(f"{path}/0/before")).status_code == 404


async def test_deleting_the_account_closes_the_page(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    path = page_path((await share(api, user, job_id))["url"])
    data_of(await api.http.delete("/me", headers=user.headers))
    assert (await api.http.get(path)).status_code == 404
    async with context.database.read() as connection:
        assert (await connection.execute(JobShare.__table__.select())).all() == []


async def test_retention_closes_the_page_and_forbids_new_links(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS)
    path = page_path((await share(api, user, job_id))["url"])
    later = utcnow() + timedelta(days=context.settings.result_retention_days + 1)
    assert await context.retention.expire_old_jobs(now=later) == 1
    assert (await api.http.get(path)).status_code == 410
    refused = await api.http.post(f"/jobs/{job_id}/share", headers=user.headers)
    error_of(refused, 410, "INPUTS_EXPIRED")


async def test_another_users_job_cannot_be_shared_or_revoked(
    api: ApiClient, context: AppContext
) -> None:
    owner, other = await api.sign_in(), await api.sign_in()
    job_id = await shared_job(api, context, owner, INTERIOR_EDITS)
    path = page_path((await share(api, owner, job_id))["url"])
    for method in ("POST", "DELETE"):
        response = await api.http.request(method, f"/jobs/{job_id}/share", headers=other.headers)
        error_of(response, 404, "JOB_NOT_FOUND")
    assert (await api.http.get(path)).status_code == 200
    missing = await api.http.post(
        "/jobs/00000000-0000-4000-8000-000000000000/share", headers=owner.headers
    )
    error_of(missing, 404, "JOB_NOT_FOUND")
    anonymous = await api.http.post(f"/jobs/{job_id}/share")
    error_of(anonymous, 401, "AUTH_REQUIRED")


async def test_unfinished_jobs_and_jobs_without_a_done_photo_cannot_be_shared(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    await set_plan(context, user.user_id, "pro")
    queued = await queued_job(api, context, user, 1)
    response = await api.http.post(f"/jobs/{queued}/share", headers=user.headers)
    assert error_of(response, 409, "JOB_INVALID_TRANSITION")["details"] == {"status": "queued"}
    failed = await finished_job(api, context, user, 1, failed=(0,))
    response = await api.http.post(f"/jobs/{failed}/share", headers=user.headers)
    details = error_of(response, 409, "JOB_INVALID_TRANSITION")["details"]
    assert details == {"status": "failed", "done_items": 0}
    async with context.database.read() as connection:
        assert (await connection.execute(JobShare.__table__.select())).all() == []


async def test_a_canceled_job_with_a_done_photo_can_be_shared(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 2)
    job_id = created["job_id"]
    await put_inputs(context, created)
    assert (await api.confirm(user, job_id)).status_code == 200
    assert (await api.execute(user, job_id, INTERIOR_EDITS)).status_code == 202
    output = f"outputs/{user.user_id}/{job_id}/0_result.png"
    await context.storage.put_bytes(output, image_bytes("PNG"), "image/png")
    await context.storage.put_bytes(
        f"previews/{user.user_id}/{job_id}/0_thumb.jpg", jpeg_bytes(), "image/jpeg"
    )
    ok = await api.callback(job_id, user.user_id, 0, store_results=False)
    assert ok.status_code == 200, ok.text
    data_of(await api.http.post(f"/jobs/{job_id}/cancel", headers=user.headers))
    html = (await api.http.get(page_path((await share(api, user, job_id))["url"]))).text
    assert "Photo 1" in html
    assert "Photo 2" not in html


async def test_malformed_links_answer_the_refusal_page(api: ApiClient) -> None:
    for target in (
        "/share/short",
        "/share/" + "A" * 43,
        "/share/" + "A" * 43 + "/0/beside",
        "/share/" + "A" * 43 + "/x/before",
        "/share/" + "A" * 43 + "/²/before",
        "/share/" + "A" * 43 + "/9999/before",
    ):
        response = await api.http.get(target)
        assert response.status_code == 404, target
        assert response.headers["content-type"].startswith("text/html")


@asynccontextmanager
async def app_with(
    tmp_path: Path, database_url: str, client_host: str = "127.0.0.1", **overrides: Any
) -> Any:
    """An app built with these setting overrides: its API client (connecting from
    `client_host`) and context, and a function that opens a client from another address."""
    application = create_app(make_settings(tmp_path / "other", database_url, **overrides))

    def client_from(host: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=application, client=(host, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    try:
        async with client_from(client_host) as http:
            context = application_context(application)
            yield ApiClient(http, TEST_CALLBACK_SECRET, context.storage), context, client_from
    finally:
        await application_context(application).close()


async def test_links_count_against_the_user_write_rate_and_live_share_link_seconds(
    tmp_path: Path, database_url: str
) -> None:
    async with app_with(
        tmp_path, database_url, user_write_rate="2/hour", share_link_seconds=120
    ) as (api, context, _):
        user = await api.sign_in()
        job_id = await shared_job(api, context, user, INTERIOR_EDITS, item_count=1)
        start = utcnow()
        context.shares.clock = lambda: start
        link = await share(api, user, job_id)  # the job's create spent the first
        expected = (start + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M")
        assert link["expires_at"].startswith(expected)
        again = await api.http.post(f"/jobs/{job_id}/share", headers=user.headers)
        error_of(again, 429, "RATE_LIMITED")
        assert (await api.http.get(page_path(link["url"]))).status_code == 200


async def test_share_views_are_limited_per_client_ip_with_an_html_refusal(
    tmp_path: Path, database_url: str
) -> None:
    async with app_with(tmp_path, database_url, share_view_rate="4/minute") as (
        api,
        context,
        client_from,
    ):
        user = await api.sign_in()
        job_id = await shared_job(api, context, user, INTERIOR_EDITS, item_count=1)
        path = page_path((await share(api, user, job_id))["url"])
        # a page and its two images, and one malformed link: they all count
        for url in (path, f"{path}/0/before", f"{path}/0/after", "/share/not-a-token"):
            assert (await api.http.get(url)).status_code in (200, 404)
        for url in (path, f"{path}/0/after"):
            refused = await api.http.get(url)
            assert refused.status_code == 429
            assert refused.headers["content-type"].startswith("text/html")
            assert int(refused.headers["retry-after"]) >= 1
            assert "default-src 'none'" in refused.headers["content-security-policy"]
            assert "Too many requests" in refused.text
        # the owner's API is on budgets of its own
        data_of(await api.http.get(f"/jobs/{job_id}", headers=user.headers))
        # another client address has its budget untouched
        async with client_from("203.0.113.9") as http:
            assert (await http.get(path)).status_code == 200


async def test_the_links_token_never_reaches_the_access_log(
    api: ApiClient, context: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    user = await api.sign_in()
    job_id = await shared_job(api, context, user, INTERIOR_EDITS, item_count=1)
    path = page_path((await share(api, user, job_id))["url"])
    token = path.rsplit("/", 1)[1]
    caplog.set_level(logging.INFO, logger="s3api.access")
    for target in (path, f"{path}/0/before", f"{path}/0/sideways"):
        await api.http.get(target)
    lines = [r.getMessage() for r in caplog.records if r.name == "s3api.access"]
    assert len(lines) == 3
    assert "path=/share/{token} status=200" in lines[0]
    assert "path=/share/{token}/{idx}/{side} status=200" in lines[1]
    assert "path=/share/{token}/{idx}/{side} status=404" in lines[2]
    assert token not in caplog.text
    fields = [r.__dict__["path"] for r in caplog.records if r.name == "s3api.access"]
    assert fields == ["/share/{token}", *["/share/{token}/{idx}/{side}"] * 2]


async def test_a_drafts_jobs_palette_is_the_edits_of_the_results_it_shows(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    await set_plan(context, user.user_id, "pro")
    created = await api.create_job(user, 1)
    job_id: str = created["job_id"]
    await put_inputs(context, created)
    assert (await api.confirm(user, job_id)).status_code == 200
    execute = {"output_template": "시안3안팩", "concepts": {"Ceiling": {"action": "remove"}}}
    assert (await api.execute(user, job_id, execute)).status_code == 202
    # the result and its two other drafts stored, then the photo reported done
    stored = [f"outputs/{user.user_id}/{job_id}/0_result.png"] + [
        f"outputs/{user.user_id}/{job_id}/0_variant_{n}.png" for n in (1, 2)
    ]
    for key in stored:
        await context.storage.put_bytes(key, image_bytes("PNG", (32, 24)), "image/png")
    preview = f"previews/{user.user_id}/{job_id}/0_thumb.jpg"
    await context.storage.put_bytes(preview, jpeg_bytes(), "image/jpeg")
    response = await api.callback(job_id, user.user_id, 0, store_results=False)
    assert response.status_code == 200, response.text
    html = (await api.http.get(page_path((await share(api, user, job_id))["url"]))).text
    # the first draft (modern) with the request's own edit over it
    for concept, action, value in (
        ("Wall", "recolor", "offwhite_a"),
        ("Floor", "texture", "concrete"),
        ("Cabinet", "recolor", "charcoal"),
        ("Ceiling", "remove", ""),
    ):
        row = f'<span class="concept">{concept}</span><span class="action">{action}</span><span class="value">{value}</span>'
        assert row in html
    assert "sage_green" not in html  # nothing of the other drafts
