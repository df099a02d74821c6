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
    assert all(set(t) == {"id", "name", "description"} for t in data["output_templates"])
