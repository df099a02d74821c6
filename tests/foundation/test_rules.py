"""Rules CRUD: shapes, ordering, partial updates, deletes and other users' rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from s3api.context import AppContext
from s3api.db.models import Rule, User
from tests.support.factories import ApiClient, SignedIn
from tests.support.foundation import assert_error, assert_ok, assert_timestamp, rule_body

RULE_FIELDS = {
    "id",
    "user_id",
    "name",
    "preset_id",
    "concepts",
    "protect",
    "created_at",
    "updated_at",
}


async def _create(api: ApiClient, user: SignedIn, **overrides: Any) -> dict[str, Any]:
    response = await api.http.post("/rules", json=rule_body(**overrides), headers=user.headers)
    rule: dict[str, Any] = assert_ok(response, 201)["rule"]
    return rule


async def _get(api: ApiClient, user: SignedIn, rule_id: str) -> dict[str, Any]:
    rule: dict[str, Any] = assert_ok(await api.http.get(f"/rules/{rule_id}", headers=user.headers))[
        "rule"
    ]
    return rule


async def test_create_answers_201_with_the_full_rule(api: ApiClient) -> None:
    user = await api.sign_in()
    body = rule_body()
    rule = await _create(api, user)
    assert set(rule) >= RULE_FIELDS
    assert isinstance(rule["id"], str)
    assert rule["id"]
    assert rule["user_id"] == user.user_id
    assert rule["name"] == body["name"]
    assert rule["preset_id"] == "interior"
    assert rule["concepts"] == body["concepts"]
    assert rule["protect"] == ["Grout"]
    assert_timestamp(rule["created_at"])
    assert_timestamp(rule["updated_at"])
    assert rule["updated_at"] == rule["created_at"]


async def test_a_rule_without_protect_stores_the_defaults_it_does_not_edit(
    api: ApiClient,
) -> None:
    user = await api.sign_in()
    body = rule_body()
    del body["protect"]
    body["concepts"] = {"Grout": {"action": "recolor", "value": "#FFFFFF"}}
    response = await api.http.post("/rules", json=body, headers=user.headers)
    assert assert_ok(response, 201)["rule"]["protect"] == ["Frame_Molding", "Glass_highlight"]


async def test_a_rule_keeps_exactly_the_protect_list_sent_even_empty(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await api.http.post("/rules", json=rule_body(protect=[]), headers=user.headers)
    rule = assert_ok(created, 201)["rule"]
    assert rule["protect"] == []
    changed = await api.http.put(
        f"/rules/{rule['id']}", json={"protect": ["Door"]}, headers=user.headers
    )
    assert assert_ok(changed)["rule"]["protect"] == ["Door"]
    renamed = await api.http.put(f"/rules/{rule['id']}", json={"name": "n"}, headers=user.headers)
    assert assert_ok(renamed)["rule"]["protect"] == ["Door"]


async def test_unknown_fields_in_a_rule_are_ignored(api: ApiClient) -> None:
    user = await api.sign_in()
    rule = await _create(api, user, colour_scheme="dark", id="chosen-by-client")
    assert rule["id"] != "chosen-by-client"
    assert "colour_scheme" not in rule


async def test_get_one_answers_the_saved_rule(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await _create(api, user)
    assert await _get(api, user, created["id"]) == created


async def test_list_answers_the_callers_rules_newest_first(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    other = await api.sign_in()
    async with context.database.transaction() as connection:
        await connection.execute(update(User).where(User.id == user.user_id).values(plan="pro"))
    created = [(await _create(api, user, name=f"rule {n}"))["id"] for n in range(3)]
    await _create(api, other, name="someone else's")
    data = assert_ok(await api.http.get("/rules", headers=user.headers))
    assert [rule["id"] for rule in data["rules"]] == list(reversed(created))
    for rule in data["rules"]:
        assert set(rule) >= RULE_FIELDS


async def test_list_is_empty_for_a_new_user(api: ApiClient) -> None:
    user = await api.sign_in()
    assert assert_ok(await api.http.get("/rules", headers=user.headers)) == {"rules": []}


async def test_update_changes_only_the_given_fields_and_bumps_updated_at(
    api: ApiClient, context: AppContext
) -> None:
    user = await api.sign_in()
    created = await _create(api, user)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    async with context.database.transaction() as connection:
        await connection.execute(
            update(Rule)
            .where(Rule.id == created["id"])
            .values(created_at=long_ago, updated_at=long_ago)
        )
    before = await _get(api, user, created["id"])
    body = {"name": "Renamed", "preset_id": "seller", "user_id": "someone-else", "id": "x"}
    response = await api.http.put(f"/rules/{created['id']}", json=body, headers=user.headers)
    rule = assert_ok(response)["rule"]
    assert rule["name"] == "Renamed"
    for field in ("id", "user_id", "preset_id", "concepts", "protect", "created_at"):
        assert rule[field] == before[field], field
    assert_timestamp(rule["updated_at"])
    assert rule["updated_at"] > before["updated_at"]
    assert rule["updated_at"] >= rule["created_at"]
    assert await _get(api, user, created["id"]) == rule


async def test_update_replaces_concepts_and_protect(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await _create(api, user)
    concepts = {"Tile": {"action": "tone", "value": "warm"}}
    response = await api.http.put(
        f"/rules/{created['id']}",
        json={"concepts": concepts, "protect": ["Glass_highlight"]},
        headers=user.headers,
    )
    rule = assert_ok(response)["rule"]
    assert rule["concepts"] == concepts
    assert rule["protect"] == ["Glass_highlight"]
    assert rule["name"] == created["name"]


async def test_update_with_invalid_concepts_is_400_and_leaves_the_rule(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await _create(api, user)
    for body in (
        {"name": "Changed", "concepts": {"Logo": {"action": "remove"}}},
        {"name": "Changed", "concepts": {"Floor": {"action": "paint", "value": "red"}}},
        {"name": "Changed", "protect": ["Logo"]},
        {"name": "", "protect": []},
    ):
        response = await api.http.put(f"/rules/{created['id']}", json=body, headers=user.headers)
        assert_error(response, 400, "VALIDATION_FAILED")
    assert await _get(api, user, created["id"]) == created


async def test_delete_answers_id_and_deleted_then_the_rule_is_gone(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await _create(api, user)
    response = await api.http.delete(f"/rules/{created['id']}", headers=user.headers)
    assert assert_ok(response) == {"id": created["id"], "deleted": True}
    response = await api.http.get(f"/rules/{created['id']}", headers=user.headers)
    assert_error(response, 404, "RULE_NOT_FOUND")
    assert assert_ok(await api.http.get("/rules", headers=user.headers)) == {"rules": []}


async def test_deleting_twice_is_404_the_second_time(api: ApiClient) -> None:
    user = await api.sign_in()
    created = await _create(api, user)
    assert_ok(await api.http.delete(f"/rules/{created['id']}", headers=user.headers))
    response = await api.http.delete(f"/rules/{created['id']}", headers=user.headers)
    assert_error(response, 404, "RULE_NOT_FOUND")


async def test_unknown_rule_is_404_rule_not_found(api: ApiClient) -> None:
    user = await api.sign_in()
    for rule_id in ("00000000-0000-0000-0000-000000000000", "r" * 200, "규칙"):
        path = f"/rules/{rule_id}"
        assert_error(await api.http.get(path, headers=user.headers), 404, "RULE_NOT_FOUND")
        put = await api.http.put(path, json={"name": "x"}, headers=user.headers)
        assert_error(put, 404, "RULE_NOT_FOUND")
        delete = await api.http.delete(path, headers=user.headers)
        assert_error(delete, 404, "RULE_NOT_FOUND")


async def test_another_users_rule_is_not_found_and_left_unchanged(api: ApiClient) -> None:
    owner = await api.sign_in()
    intruder = await api.sign_in()
    created = await _create(api, owner)
    path = f"/rules/{created['id']}"
    assert_error(await api.http.get(path, headers=intruder.headers), 404, "RULE_NOT_FOUND")
    put = await api.http.put(path, json={"name": "Hijacked"}, headers=intruder.headers)
    assert_error(put, 404, "RULE_NOT_FOUND")
    delete = await api.http.delete(path, headers=intruder.headers)
    assert_error(delete, 404, "RULE_NOT_FOUND")
    assert await _get(api, owner, created["id"]) == created
    assert assert_ok(await api.http.get("/rules", headers=intruder.headers)) == {"rules": []}


async def test_another_users_invalid_update_is_still_404(api: ApiClient) -> None:
    owner = await api.sign_in()
    intruder = await api.sign_in()
    created = await _create(api, owner)
    response = await api.http.put(
        f"/rules/{created['id']}",
        json={"concepts": {"Logo": {"action": "remove"}}},
        headers=intruder.headers,
    )
    assert_error(response, 404, "RULE_NOT_FOUND")
