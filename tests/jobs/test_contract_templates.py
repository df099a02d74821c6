"""Output templates by plan at execute and re-run, and the watermark the queue message
carries: free jobs get `FREE_TEMPLATES` and a watermark, Pro jobs every template, clean."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from s3api.app import create_app
from s3api.context import AppContext
from tests.support.databases import TEST_CALLBACK_SECRET, make_settings
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import (
    FLOOR_OAK,
    data_of,
    error_of,
    job_row,
    pro_user,
    queue_bodies,
    set_plan,
    uploaded_job,
)
from tests.support.object_stores import finished_job

INTERIOR_TEMPLATES = ["시안3안팩", "전후비교", "고객공유카드"]


def with_template(template: str) -> dict[str, Any]:
    return {**FLOOR_OAK, "output_template": template}


async def execute(api: ApiClient, user: SignedIn, job_id: str, body: dict[str, Any]) -> Any:
    return await api.http.post(f"/jobs/{job_id}/execute", json=body, headers=user.headers)


async def test_free_plan_may_ask_for_the_before_after_set(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user)
    assert (await execute(api, user, job_id, with_template("전후비교"))).status_code == 202
    [message] = await queue_bodies(context, job_id)
    assert message["output_template"] == "전후비교"


@pytest.mark.parametrize("template", ["시안3안팩", "고객공유카드"])
async def test_a_template_outside_the_free_plan_is_403_and_leaves_the_job_uploaded(
    api: ApiClient, context: AppContext, template: str
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user)
    response = await execute(api, user, job_id, with_template(template))
    error = error_of(response, 403, "TEMPLATE_NOT_IN_PLAN")
    assert error["details"] == {
        "plan": "free",
        "output_template": template,
        "allowed": ["전후비교"],
    }
    assert (await job_row(context, job_id))["status"] == "uploaded"
    assert await queue_bodies(context, job_id) == []
    assert (await api.me(user))["credits"] == 10 - 2


async def test_free_plan_has_no_seller_template_by_default(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.create_job(user, 1, preset="seller")
    await api.upload_all(created)
    data_of(await api.confirm(user, created["job_id"]))
    body = {
        "concepts": {"Body": {"action": "recolor", "value": "navy"}},
        "output_template": "상품팩",
    }
    error = error_of(await execute(api, user, created["job_id"], body), 403, "TEMPLATE_NOT_IN_PLAN")
    assert error["details"]["allowed"] == []


@pytest.mark.parametrize("template", INTERIOR_TEMPLATES)
async def test_pro_plan_may_ask_for_every_template(
    api: ApiClient, context: AppContext, template: str
) -> None:
    user = await pro_user(api, context)
    job_id = await uploaded_job(api, user)
    assert (await execute(api, user, job_id, with_template(template))).status_code == 202


async def test_an_unknown_template_is_still_a_validation_error_before_the_plan(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user)
    error_of(await execute(api, user, job_id, with_template("상품팩")), 400, "VALIDATION_FAILED")


async def test_rerun_gates_the_template_and_the_watermark_by_the_plan_at_rerun_time(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    parent = await finished_job(api, context, user, 1)
    rerun = f"/jobs/{parent}/rerun"
    refused = await api.http.post(rerun, json=with_template("시안3안팩"), headers=user.headers)
    assert error_of(refused, 403, "TEMPLATE_NOT_IN_PLAN")["details"]["allowed"] == ["전후비교"]
    assert (await api.me(user))["credits"] == 10 - 1
    allowed = await api.http.post(rerun, json=with_template("전후비교"), headers=user.headers)
    [free_message] = await queue_bodies(context, data_of(allowed, 202)["job_id"])
    assert free_message["watermark"] is not None
    await set_plan(context, user.user_id, "pro")
    accepted = await api.http.post(rerun, json=with_template("시안3안팩"), headers=user.headers)
    child = data_of(accepted, 202)["job_id"]
    [message] = await queue_bodies(context, child)
    assert (message["output_template"], message["watermark"]) == ("시안3안팩", None)


async def test_a_free_jobs_message_carries_the_watermark_and_a_pro_jobs_none(
    api: ApiClient, context: AppContext
) -> None:
    messages = []
    for user in (await api.sign_in(), await pro_user(api, context)):
        job_id = await uploaded_job(api, user)
        assert (await execute(api, user, job_id, FLOOR_OAK)).status_code == 202
        messages += await queue_bodies(context, job_id)
    free_message, pro_message = messages
    assert free_message["watermark"] == {
        "text": "Made with S3 API",
        "box": [0.58, 0.9, 0.4, 0.07],
        "opacity": 0.6,
    }
    assert pro_message["watermark"] is None


@pytest.fixture
async def configured(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[ApiClient, AppContext]]:
    """An app whose free plan has every template and no watermark."""
    settings = make_settings(
        tmp_path / "configured",
        database_url,
        free_templates=["*"],
        free_watermark=False,
    )
    application = create_app(settings, migrate=False)
    context: AppContext = application.state.context
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield ApiClient(client, TEST_CALLBACK_SECRET), context
    await context.close()


async def test_settings_open_every_template_and_switch_the_watermark_off(
    configured: tuple[ApiClient, AppContext],
) -> None:
    api, context = configured
    user = await api.sign_in()
    job_id = await uploaded_job(api, user)
    assert (await execute(api, user, job_id, with_template("시안3안팩"))).status_code == 202
    [message] = await queue_bodies(context, job_id)
    assert message["watermark"] is None


async def test_the_openapi_description_lists_the_403_of_execute_and_rerun(api: ApiClient) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    for path in ("/jobs/{job_id}/execute", "/jobs/{job_id}/rerun"):
        assert "403" in spec["paths"][path]["post"]["responses"], path
