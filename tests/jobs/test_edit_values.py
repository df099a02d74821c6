"""Edit values are checked at the door: when a rule is saved and when a job is executed,
against the one vocabulary the worker renders, so no item fails for an accepted edit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import insert

from s3api.context import AppContext
from s3api.db.models import Rule
from s3api.ids import new_id
from s3api.presets.edits import ConceptEdit
from s3api.presets.vocabulary import COLOUR_NAMES, TEXTURE_NAMES, TONE_NAMES
from s3api.timeutil import utcnow
from s3api.worker.engine.edits import parse_edits
from tests.jobs.test_contract_execute import assert_still_uploaded_without_message
from tests.support.factories import ApiClient, SignedIn
from tests.support.jobs import data_of, error_of, queue_bodies, uploaded_job

API_EDIT = TypeAdapter(ConceptEdit)
ACCEPTED_BY_ACTION = {
    "recolor": [*COLOUR_NAMES, "#A0b1C2"],
    "tone": list(TONE_NAMES),
    "texture": list(TEXTURE_NAMES),
}


def rule_body(action: str, value: Any) -> dict[str, Any]:
    """A `POST /rules` body with one edit on the interior Wall."""
    return {
        "name": "walls",
        "preset_id": "interior",
        "concepts": {"Wall": {"action": action, "value": value}},
    }


async def insert_saved_rule(context: AppContext, user: SignedIn, concepts: dict[str, Any]) -> str:
    """A rule row as an older version may have saved it, without today's value checks."""
    rule_id, now = new_id(), utcnow()
    async with context.database.transaction() as connection:
        await connection.execute(
            insert(Rule).values(
                id=rule_id,
                user_id=user.user_id,
                name="old rule",
                preset_id="interior",
                concepts=concepts,
                protect=[],
                created_at=now,
                updated_at=now,
            )
        )
    return rule_id


@pytest.mark.parametrize(
    ("action", "value"),
    [
        ("recolor", "brownish"),
        ("recolor", "warm"),
        ("recolor", "#12345"),
        ("tone", "#112233"),
        ("tone", "hot"),
        ("texture", "brownish"),
        ("texture", "#112233"),
    ],
)
async def test_a_rule_with_a_value_the_worker_cannot_render_is_400_naming_the_field(
    api: ApiClient, action: str, value: str
) -> None:
    user = await api.sign_in()
    response = await api.http.post("/rules", json=rule_body(action, value), headers=user.headers)
    error = error_of(response, 400, "VALIDATION_FAILED")
    fields = [field["field"] for field in error["details"]["fields"]]
    assert fields == [f"concepts.Wall.{action}.value"]
    assert data_of(await api.http.get("/rules", headers=user.headers))["rules"] == []


async def test_updating_a_rule_to_an_unknown_value_is_refused(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.http.post("/rules", json=rule_body("recolor", "navy"), headers=user.headers)
    rule_id = data_of(created, 201)["rule"]["id"]
    update = {"concepts": {"Wall": {"action": "recolor", "value": "brownish"}}}
    response = await api.http.put(f"/rules/{rule_id}", json=update, headers=user.headers)
    error_of(response, 400, "VALIDATION_FAILED")
    rule = data_of(await api.http.get(f"/rules/{rule_id}", headers=user.headers))["rule"]
    assert rule["concepts"]["Wall"]["value"] == "navy"


async def test_inline_edits_with_an_unknown_value_do_not_queue_the_job(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    job_id = await uploaded_job(api, user, 1)
    body = {"concepts": {"Floor": {"action": "texture", "value": "brownish"}}}
    error = error_of(await api.execute(user, job_id, body), 400, "VALIDATION_FAILED")
    assert error["details"]["fields"][0]["field"] == "concepts.Floor.texture.value"
    await assert_still_uploaded_without_message(api, context, user, job_id)


async def test_a_saved_rule_with_an_unknown_value_is_refused_at_execute(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    rule_id = await insert_saved_rule(
        context, user, {"Wall": {"action": "recolor", "value": "brownish"}}
    )
    assert data_of(await api.http.get(f"/rules/{rule_id}", headers=user.headers))["rule"]
    job_id = await uploaded_job(api, user, 1)
    response = await api.execute(user, job_id, {"rule_id": rule_id})
    error = error_of(response, 400, "VALIDATION_FAILED")
    assert error["details"]["fields"][0]["field"] == "rule.concepts.Wall.value"
    await assert_still_uploaded_without_message(api, context, user, job_id)


async def test_a_saved_rule_the_worker_can_render_still_executes(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    saved = {"Wall": {"action": "texture", "value": " OAK_A "}}
    rule_id = await insert_saved_rule(context, user, saved)
    job_id = await uploaded_job(api, user, 1)
    data_of(await api.execute(user, job_id, {"rule_id": rule_id}), 202)
    [message] = await queue_bodies(context, job_id)
    assert message["concepts"] == saved


def test_every_named_value_the_api_accepts_is_rendered_by_the_worker() -> None:
    for action, values in ACCEPTED_BY_ACTION.items():
        for value in values:
            edit = API_EDIT.validate_python({"action": action, "value": value})
            assert parse_edits({"Wall": {"action": edit.action, "value": edit.value}})


@given(
    action=st.sampled_from(["recolor", "tone", "texture", "remove"]),
    value=st.one_of(
        st.none(),
        st.text(max_size=12),
        st.sampled_from([*COLOUR_NAMES, *TEXTURE_NAMES, *TONE_NAMES]),
        st.from_regex(r"#[0-9A-Fa-f]{6}", fullmatch=True),
    ),
)
def test_no_edit_the_api_accepts_is_refused_by_the_worker(action: str, value: str | None) -> None:
    try:
        edit = API_EDIT.validate_python({"action": action, "value": value})
    except ValidationError:
        return
    parse_edits({"Wall": {"action": edit.action, "value": edit.value}})
