"""Templates that render several edits of each photo: `시안3안팩`'s drafts and `옵션보드`'s
options. What execute and re-run accept, what the GPU message asks for, and what they cost:
photos × renders, reserved when queued, the failed renders refunded at settlement."""

from __future__ import annotations

from typing import Any

import pytest

from s3api.context import AppContext
from tests.support.factories import ApiClient, SignedIn, jpeg_bytes
from tests.support.jobs import (
    assert_money_invariants,
    data_of,
    error_of,
    job_row,
    ledger_of,
    pro_user,
    queue_bodies,
    uploaded_job,
)

DRAFTS = {"output_template": "시안3안팩"}
CABINET_NAVY = {"Cabinet": {"action": "recolor", "value": "navy"}}


async def execute(api: ApiClient, user: SignedIn, job_id: str, body: dict[str, Any]) -> Any:
    return await api.http.post(f"/jobs/{job_id}/execute", json=body, headers=user.headers)


async def seller_job(api: ApiClient, user: SignedIn, item_count: int = 2) -> str:
    created = await api.create_job(user, item_count, preset="seller")
    await api.upload_all(created)
    data_of(await api.confirm(user, created["job_id"]))
    return str(created["job_id"])


async def queued_drafts(
    api: ApiClient, context: AppContext, item_count: int = 2
) -> tuple[SignedIn, str, dict[str, Any]]:
    """A Pro user's job of `item_count` photos queued with drafts, and its GPU message."""
    user = await pro_user(api, context)
    job_id = await uploaded_job(api, user, item_count=item_count)
    assert (await execute(api, user, job_id, DRAFTS)).status_code == 202
    [message] = await queue_bodies(context, job_id)
    return user, job_id, message


def options_body(*options: str) -> dict[str, Any]:
    return {"output_template": "옵션보드", "options": list(options)}


async def report_done(
    api: ApiClient, context: AppContext, message: dict[str, Any], idx: int
) -> Any:
    """The GPU side's `done`, after storing the result, its preview and its variants."""
    item = message["items"][idx]
    storage = context.storage
    await storage.put_bytes(item["output_key"], b"png-bytes", "image/png")
    await storage.put_bytes(item["preview_key"], jpeg_bytes(), "image/jpeg")
    for key in item.get("variant_keys", []):
        await storage.put_bytes(key, b"png-bytes", "image/png")
    return await api.callback(message["job_id"], message["user_id"], idx, store_results=False)


async def test_drafts_render_the_three_catalogue_styles_with_the_requests_edits_in_each(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    job_id = await uploaded_job(api, user)
    body = {**DRAFTS, "concepts": CABINET_NAVY}
    assert (await execute(api, user, job_id, body)).status_code == 202
    [message] = await queue_bodies(context, job_id)
    names = [variant["name"] for variant in message["variants"]]
    assert names == ["modern", "natural", "hotel"]
    assert [variant["label"] for variant in message["variants"]] == ["MODERN", "NATURAL", "HOTEL"]
    for variant in message["variants"]:
        # the request's own edit wins over the style's, in every draft
        assert variant["concepts"]["Cabinet"] == {"action": "recolor", "value": "navy"}
        assert set(variant["concepts"]) == {"Wall", "Floor", "Cabinet"}
    assert message["variants"][0]["concepts"]["Floor"] == {"action": "texture", "value": "concrete"}
    assert message["concepts"] == message["variants"][0]["concepts"]
    for item in message["items"]:
        idx = item["idx"]
        assert item["variant_keys"] == [
            f"outputs/{user.user_id}/{job_id}/{idx}_variant_1.png",
            f"outputs/{user.user_id}/{job_id}/{idx}_variant_2.png",
        ]
        # every concept a draft edits is segmented once and its map stored for the photo
        assert {"Wall", "Floor", "Cabinet"} <= set(item["segmentation"]["masks"])


async def test_drafts_need_no_concepts_of_their_own(api: ApiClient, context: AppContext) -> None:
    user, _, message = await queued_drafts(api, context)
    assert len(message["variants"]) == 3
    # the protect defaults still apply, since no draft edits them
    assert set(message["protect"]) == {"Grout", "Frame_Molding", "Glass_highlight"}
    # other templates still need edits
    other = await uploaded_job(api, user)
    response = await execute(api, user, other, {"output_template": "전후비교"})
    error_of(response, 400, "VALIDATION_FAILED")


async def test_a_pro_users_drafts_are_charged_photos_times_three_at_execute(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    job_id = await uploaded_job(api, user, item_count=2)
    assert (await api.me(user))["credits"] == 10 - 2
    assert (await execute(api, user, job_id, DRAFTS)).status_code == 202
    assert (await api.me(user))["credits"] == 10 - 2 * 3
    ledger = await ledger_of(context, user.user_id)
    assert ledger.of_job(job_id, "reserve") == [-2]
    assert ledger.of_job(job_id, "reserve_renders") == [-4]
    await assert_money_invariants(context, user.user_id)


async def test_failed_photos_refund_all_their_drafts_at_settlement(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context, extra_credits=10)
    job_id = await uploaded_job(api, user, item_count=3)
    assert (await execute(api, user, job_id, DRAFTS)).status_code == 202
    [message] = await queue_bodies(context, job_id)
    data_of(await report_done(api, context, message, 0))
    await assert_money_invariants(context, user.user_id)
    data_of(await api.callback(job_id, user.user_id, 1, "failed", error="bad photo"))
    data_of(await api.callback(job_id, user.user_id, 2, "failed", error="bad photo"))
    ledger = await ledger_of(context, user.user_id)
    assert ledger.of_job(job_id, "refund") == [2 * 3]
    assert (await job_row(context, job_id))["refunded"] == 6
    assert (await api.me(user))["credits"] == 20 - 3
    await assert_money_invariants(context, user.user_id)


async def test_a_done_report_is_refused_until_every_variant_is_stored(
    api: ApiClient, context: AppContext
) -> None:
    user, job_id, message = await queued_drafts(api, context, item_count=1)
    [item] = message["items"]
    response = await api.callback(job_id, user.user_id, 0)  # result and preview only
    error = error_of(response, 400, "VALIDATION_FAILED")
    assert error["details"]["unstored_keys"] == item["variant_keys"]
    data_of(await report_done(api, context, message, 0))
    assert (await job_row(context, job_id))["status"] == "done"


async def test_a_free_users_drafts_are_403_and_charge_nothing(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user)
    error_of(await execute(api, user, job_id, DRAFTS), 403, "TEMPLATE_NOT_IN_PLAN")
    assert (await api.me(user))["credits"] == 10 - 2
    assert (await ledger_of(context, user.user_id)).of_job(job_id, "reserve_renders") == []


async def test_drafts_beyond_the_balance_are_402_and_leave_the_job_uploaded(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    job_id = await uploaded_job(api, user, item_count=5)  # 10 - 5 = 5 left, 10 more needed
    error = error_of(await execute(api, user, job_id, DRAFTS), 402, "INSUFFICIENT_CREDITS")
    assert error["details"] == {"credits": 5, "required": 10}
    assert (await job_row(context, job_id))["status"] == "uploaded"
    assert await queue_bodies(context, job_id) == []
    await assert_money_invariants(context, user.user_id)


async def test_options_recolour_the_body_per_option_and_cost_one_each(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context, extra_credits=10)
    job_id = await seller_job(api, user, item_count=2)
    body = {**options_body("navy", "#1F3A5F", "Terracotta"), "concepts": CABINET_NAVY}
    body["concepts"] = {"Body": {"action": "recolor", "value": "charcoal"}}
    assert (await execute(api, user, job_id, body)).status_code == 202
    [message] = await queue_bodies(context, job_id)
    values = ["navy", "#1f3a5f", "terracotta"]
    assert [variant["name"] for variant in message["variants"]] == values
    for variant, value in zip(message["variants"], values, strict=True):
        # the option wins over the request's own Body colour
        assert variant["concepts"] == {"Body": {"action": "recolor", "value": value}}
    assert (await api.me(user))["credits"] == 20 - 2 * 3
    await assert_money_invariants(context, user.user_id)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"output_template": "옵션보드"}, "options"),
        (options_body("navy"), "options"),
        (options_body("navy", "teal"), "options.1"),
        (options_body("navy", "#12345"), "options.1"),
        (options_body("navy", "NAVY"), "options"),
        ({**options_body("navy", "charcoal"), "output_template": "썸네일8종"}, "options"),
    ],
)
async def test_bad_options_are_400_and_write_nothing(
    api: ApiClient, context: AppContext, body: dict[str, Any], field: str
) -> None:
    user = await pro_user(api, context)
    job_id = await seller_job(api, user)
    body = {"concepts": {"Body": {"action": "recolor", "value": "navy"}}, **body}
    error = error_of(await execute(api, user, job_id, body), 400, "VALIDATION_FAILED")
    assert [entry["field"] for entry in error["details"]["fields"]] == [field]
    assert "teal" not in error["message"]
    assert (await job_row(context, job_id))["status"] == "uploaded"
    assert (await api.me(user))["credits"] == 10 - 2


async def test_more_than_eight_options_are_400(api: ApiClient, context: AppContext) -> None:
    user = await pro_user(api, context)
    job_id = await seller_job(api, user)
    body = options_body(*[f"#0000{n:02d}" for n in range(9)])
    error_of(await execute(api, user, job_id, body), 400, "VALIDATION_FAILED")


async def test_options_are_only_for_the_option_board(api: ApiClient, context: AppContext) -> None:
    user = await pro_user(api, context)
    job_id = await uploaded_job(api, user)
    body = {**DRAFTS, "options": ["navy", "charcoal"]}
    error_of(await execute(api, user, job_id, body), 400, "VALIDATION_FAILED")


async def test_a_rerun_with_drafts_reserves_photos_times_drafts_and_refunds_on_cancel(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context, extra_credits=20)
    parent = (await api.queued_job(user, 2))["job_id"]
    for idx in (0, 1):
        data_of(await api.callback(parent, user.user_id, idx))
    before = (await api.me(user))["credits"]
    response = await api.http.post(f"/jobs/{parent}/rerun", json=DRAFTS, headers=user.headers)
    rerun = data_of(response, 202)["job_id"]
    assert (await api.me(user))["credits"] == before - 2 * 3
    ledger = await ledger_of(context, user.user_id)
    assert ledger.of_job(rerun, "reserve") == [-2]
    assert ledger.of_job(rerun, "reserve_renders") == [-4]
    [message] = await queue_bodies(context, rerun)
    assert len(message["items"][0]["variant_keys"]) == 2
    data_of(await api.http.post(f"/jobs/{rerun}/cancel", headers=user.headers))
    assert (await api.me(user))["credits"] == before
    await assert_money_invariants(context, user.user_id)


async def test_a_rerun_beyond_the_balance_is_402_for_the_whole_cost(
    api: ApiClient, context: AppContext
) -> None:
    user = await pro_user(api, context)
    parent = (await api.queued_job(user, 3))["job_id"]
    for idx in range(3):
        data_of(await api.callback(parent, user.user_id, idx))
    response = await api.http.post(f"/jobs/{parent}/rerun", json=DRAFTS, headers=user.headers)
    error = error_of(response, 402, "INSUFFICIENT_CREDITS")
    assert error["details"] == {"credits": 7, "required": 9}
    await assert_money_invariants(context, user.user_id)


async def test_deleting_a_drafts_job_removes_its_variants(
    api: ApiClient, context: AppContext
) -> None:
    user, job_id, message = await queued_drafts(api, context, item_count=1)
    data_of(await report_done(api, context, message, 0))
    keys = message["items"][0]["variant_keys"]
    assert all([await context.storage.head(key) is not None for key in keys])
    response = await api.http.delete(f"/jobs/{job_id}", headers=user.headers)
    assert response.status_code in (200, 204)
    assert [await context.storage.head(key) for key in keys] == [None, None]
