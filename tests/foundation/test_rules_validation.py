"""`POST /rules` validation against the preset; a refused create writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from s3api.context import AppContext
from s3api.db.models import Rule
from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, assert_ok, count_rows, rule_body


async def _refused(
    api: ApiClient, context: AppContext, body: dict[str, Any], code: str = "VALIDATION_FAILED"
) -> dict[str, Any]:
    user = await api.sign_in()
    response = await api.http.post("/rules", json=body, headers=user.headers)
    error = assert_error(response, 400, code)
    assert await count_rows(context, Rule) == 0
    return error


async def _accepted(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    user = await api.sign_in()
    response = await api.http.post("/rules", json=body, headers=user.headers)
    rule: dict[str, Any] = assert_ok(response, 201)["rule"]
    return rule


async def test_unknown_preset_is_400_invalid_preset(api: ApiClient, context: AppContext) -> None:
    await _refused(api, context, rule_body(preset_id="kitchen"), "INVALID_PRESET")


async def test_concept_outside_the_preset_is_400(api: ApiClient, context: AppContext) -> None:
    body = rule_body(concepts={"Logo": {"action": "remove"}})
    error = await _refused(api, context, body)
    assert error["details"]["unknown_concepts"] == ["Logo"]


async def test_protect_name_outside_concepts_and_defaults_is_400(
    api: ApiClient, context: AppContext
) -> None:
    error = await _refused(api, context, rule_body(protect=["Grout", "Sky"]))
    assert error["details"]["unknown_protect"] == ["Sky"]


async def test_protect_default_that_is_not_a_concept_is_allowed(api: ApiClient) -> None:
    rule = await _accepted(api, rule_body(protect=["Glass_highlight", "Wall"]))
    assert rule["protect"] == ["Glass_highlight", "Wall"]


async def test_another_presets_protect_default_is_400(api: ApiClient, context: AppContext) -> None:
    body = rule_body(
        preset_id="seller",
        concepts={"Body": {"action": "recolor", "value": "#112233"}},
        protect=["Glass_highlight"],
    )
    await _refused(api, context, body)


async def test_seller_rule_with_seller_concepts_is_accepted(api: ApiClient) -> None:
    body = rule_body(
        preset_id="seller",
        concepts={"Body": {"action": "recolor", "value": "#112233"}},
        protect=["Logo", "Label_Text"],
    )
    assert (await _accepted(api, body))["preset_id"] == "seller"


async def test_action_outside_the_four_is_400(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    for action in ("paint", "", "RECOLOR", None, 3):
        body = rule_body(concepts={"Floor": {"action": action, "value": "oak"}})
        response = await api.http.post("/rules", json=body, headers=user.headers)
        assert_error(response, 400, "VALIDATION_FAILED")
    assert await count_rows(context, Rule) == 0


async def test_value_is_required_except_for_remove(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    for action in ("recolor", "tone", "texture"):
        body = rule_body(concepts={"Floor": {"action": action}})
        response = await api.http.post("/rules", json=body, headers=user.headers)
        assert_error(response, 400, "VALIDATION_FAILED")
    assert await count_rows(context, Rule) == 0


async def test_each_action_with_a_value_is_accepted(api: ApiClient) -> None:
    concepts = {
        "Floor": {"action": "recolor", "value": "#A0b1C2"},
        "Wall": {"action": "tone", "value": "warm"},
        "Ceiling": {"action": "texture", "value": "oak_a"},
        "Door": {"action": "remove", "value": "plain-white"},
    }
    assert (await _accepted(api, rule_body(concepts=concepts)))["concepts"] == concepts


async def test_remove_without_value_is_accepted(api: ApiClient) -> None:
    rule = await _accepted(api, rule_body(concepts={"Light": {"action": "remove"}}))
    assert rule["concepts"]["Light"]["action"] == "remove"
    assert rule["concepts"]["Light"].get("value") is None


async def test_value_that_is_neither_colour_nor_name_is_400(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    for value in ("#12345", "#GGGGGG", "oak a", "../x", "1oak", "", 7):
        body = rule_body(concepts={"Floor": {"action": "recolor", "value": value}})
        response = await api.http.post("/rules", json=body, headers=user.headers)
        assert_error(response, 400, "VALIDATION_FAILED")
    assert await count_rows(context, Rule) == 0


@pytest.mark.parametrize("length", [0, 101])
async def test_name_outside_1_to_100_chars_is_400(
    api: ApiClient, context: AppContext, length: int
) -> None:
    await _refused(api, context, rule_body(name="n" * length))


async def test_name_of_1_and_100_characters_is_accepted(api: ApiClient) -> None:
    user = await api.sign_in()
    for name in ("n", "규" * 100):
        response = await api.http.post("/rules", json=rule_body(name=name), headers=user.headers)
        assert assert_ok(response, 201)["rule"]["name"] == name


async def test_missing_required_field_is_400_naming_it(api: ApiClient, context: AppContext) -> None:
    user = await api.sign_in()
    for missing in ("name", "preset_id", "concepts"):
        body = rule_body()
        del body[missing]
        response = await api.http.post("/rules", json=body, headers=user.headers)
        error = assert_error(response, 400, "VALIDATION_FAILED")
        assert [entry["field"] for entry in error["details"]["fields"]] == [missing]
    assert await count_rows(context, Rule) == 0


async def test_empty_concepts_is_400(api: ApiClient, context: AppContext) -> None:
    await _refused(api, context, rule_body(concepts={}))


async def test_mixed_valid_and_invalid_concepts_write_nothing(
    api: ApiClient, context: AppContext
) -> None:
    body = rule_body(
        concepts={"Floor": {"action": "recolor", "value": "#FFFFFF"}, "Body": {"action": "remove"}}
    )
    await _refused(api, context, body)


async def test_custom_preset_takes_free_noun_phrases_for_edit_and_protect(api: ApiClient) -> None:
    phrase = "x" * 60
    body = rule_body(
        preset_id="custom",
        concepts={
            "the red sofa": {"action": "recolor", "value": "#112233"},
            phrase: {"action": "remove"},
        },
        protect=["the wooden floor"],
    )
    rule = await _accepted(api, body)
    assert set(rule["concepts"]) == {"the red sofa", phrase}
    assert rule["protect"] == ["the wooden floor"]


@pytest.mark.parametrize(
    "name", ["   ", "x" * 61, "two\nlines"], ids=["blank", "too-long", "two-lines"]
)
async def test_custom_preset_refuses_names_that_are_not_short_phrases(
    api: ApiClient, context: AppContext, name: str
) -> None:
    edit = rule_body(preset_id="custom", concepts={name: {"action": "remove"}})
    error = await _refused(api, context, edit)
    assert error["details"]["unknown_concepts"] == [name]
    protect = rule_body(
        preset_id="custom", concepts={"the sofa": {"action": "remove"}}, protect=[name]
    )
    error = await _refused(api, context, protect)
    assert error["details"]["unknown_protect"] == [name]
