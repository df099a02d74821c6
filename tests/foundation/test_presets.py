"""`GET /presets` and `GET /presets/{id}`: the two hard-coded presets of API.md §3, plus
`custom`, whose concepts are free noun phrases (so it lists none)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.factories import ApiClient
from tests.support.foundation import assert_error, assert_ok

INTERIOR: dict[str, Any] = {
    "id": "interior",
    "name": "건축/인테리어",
    "concepts": [
        "Wall",
        "Floor",
        "Ceiling",
        "Window",
        "Door",
        "Frame_Molding",
        "Tile",
        "Grout",
        "Cabinet",
        "Countertop",
        "Light",
        "Handle",
    ],
    "protect_defaults": ["Grout", "Frame_Molding", "Glass_highlight"],
    "output_templates": [
        {
            "id": "시안3안팩",
            "name": "시안 3안 패키지",
            "description": "모던/내추럴/호텔 각 공간별 6~10장",
        },
        {"id": "전후비교", "name": "전/후 비교 세트", "description": "Before+After 나란히 10장"},
        {"id": "고객공유카드", "name": "고객 공유 카드", "description": "Before+After+팔레트 요약"},
    ],
}
SELLER: dict[str, Any] = {
    "id": "seller",
    "name": "쇼핑/셀러",
    "concepts": ["Body", "Label_Text", "Logo", "Gloss", "Parts", "Accessories"],
    "protect_defaults": ["Label_Text", "Logo", "Gloss"],
    "output_templates": [
        {"id": "상품팩", "name": "상품 패키지", "description": "메인1+디테일4+착용1+패키지1"},
        {"id": "옵션보드", "name": "옵션 보드", "description": "옵션 색상별 동기화 보드"},
        {"id": "썸네일8종", "name": "썸네일 8종", "description": "플랫폼별 최적 사이즈 썸네일"},
    ],
}


async def test_list_has_interior_seller_and_custom_with_concept_counts(api: ApiClient) -> None:
    user = await api.sign_in()
    data = assert_ok(await api.http.get("/presets", headers=user.headers))
    assert isinstance(data, list)
    assert {entry["id"]: entry["concept_count"] for entry in data} == {
        "interior": 12,
        "seller": 6,
        "custom": 0,
    }
    assert len(data) == 3
    assert set(data[0]) == {"id", "name", "concept_count", "description"}
    names = {entry["id"]: entry["name"] for entry in data}
    assert names["interior"] == "건축/인테리어"
    assert names["seller"] == "쇼핑/셀러"
    for entry in data:
        assert type(entry["concept_count"]) is int
        assert isinstance(entry["description"], str)
        assert entry["description"]


@pytest.mark.parametrize("expected", [INTERIOR, SELLER], ids=["interior", "seller"])
async def test_detail_has_exact_concepts_protect_defaults_and_templates(
    api: ApiClient, expected: dict[str, Any]
) -> None:
    user = await api.sign_in()
    response = await api.http.get(f"/presets/{expected['id']}", headers=user.headers)
    data = assert_ok(response)
    for field, value in expected.items():
        if field == "output_templates":
            # the original contract's three fields, unchanged; the added ones are tested below
            value = [{key: t[key] for key in ("id", "name", "description")} for t in value]
            data[field] = [
                {key: t[key] for key in ("id", "name", "description")} for t in data[field]
            ]
        assert data[field] == value, field


async def test_concept_count_matches_detail(api: ApiClient) -> None:
    user = await api.sign_in()
    listing = assert_ok(await api.http.get("/presets", headers=user.headers))
    for entry in listing:
        detail = assert_ok(await api.http.get(f"/presets/{entry['id']}", headers=user.headers))
        assert entry["concept_count"] == len(detail["concepts"])


async def test_unknown_preset_is_404_invalid_preset(api: ApiClient) -> None:
    user = await api.sign_in()
    for preset_id in ("unknown", "Interior", "x" * 300):
        response = await api.http.get(f"/presets/{preset_id}", headers=user.headers)
        assert_error(response, 404, "INVALID_PRESET")


async def test_custom_preset_detail_has_the_same_shape_with_no_fixed_concepts(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    data = assert_ok(await api.http.get("/presets/custom", headers=user.headers))
    assert set(data) == {
        "id",
        "name",
        "description",
        "concepts",
        "protect_defaults",
        "output_templates",
    }
    assert (data["concepts"], data["protect_defaults"]) == ([], [])
    assert all(set(t) == TEMPLATE_FIELDS for t in data["output_templates"])


TEMPLATE_FIELDS = {"id", "name", "description", "credits_per_photo", "billing_unit", "styles"}


async def test_templates_state_their_credits_per_photo_and_billing_unit(api: ApiClient) -> None:
    user = await api.sign_in()
    costs: dict[str, tuple[int, str]] = {}
    for preset_id in ("interior", "seller", "custom"):
        data = assert_ok(await api.http.get(f"/presets/{preset_id}", headers=user.headers))
        for template in data["output_templates"]:
            assert set(template) == TEMPLATE_FIELDS
            costs[template["id"]] = (template["credits_per_photo"], template["billing_unit"])
    assert costs == {
        "시안3안팩": (3, "photo"),
        "전후비교": (1, "photo"),
        "고객공유카드": (1, "photo"),
        "상품팩": (1, "photo"),
        "옵션보드": (1, "option"),
        "썸네일8종": (1, "photo"),
    }


async def test_draft_pack_lists_three_styles_that_rules_accept(api: ApiClient) -> None:
    user = await api.sign_in()
    data = assert_ok(await api.http.get("/presets/interior", headers=user.headers))
    templates = {template["id"]: template for template in data["output_templates"]}
    styles = templates["시안3안팩"]["styles"]
    assert [style["id"] for style in styles] == ["modern", "natural", "hotel"]
    assert len({str(style["concepts"]) for style in styles}) == 3
    assert all(templates[other]["styles"] == [] for other in ("전후비교", "고객공유카드"))
    for style in styles:
        # each style is a rule the API itself accepts for the interior preset
        response = await api.http.post(
            "/rules",
            json={"name": style["id"], "preset_id": "interior", "concepts": style["concepts"]},
            headers=user.headers,
        )
        rule = assert_ok(response, 201)["rule"]
        assert rule["concepts"] == style["concepts"]
        await api.http.delete(f"/rules/{rule['id']}", headers=user.headers)
