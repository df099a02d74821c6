"""Rules use cases; creating one claims a slot in the same transaction."""

from __future__ import annotations

from s3api.context import AppContext
from s3api.errors import ApiError, ErrorCode
from s3api.ids import new_id
from s3api.presets.catalog import find_preset
from s3api.presets.edits import check_edits_for_preset, edits_to_json
from s3api.rules import repository
from s3api.rules.schemas import RuleCreate, RulePublic, RuleUpdate
from s3api.timeutil import utcnow
from s3api.users.repository import UserRecord


async def create_rule(context: AppContext, user: UserRecord, payload: RuleCreate) -> RulePublic:
    """Validate against the preset, then claim a slot and insert atomically."""
    preset = find_preset(payload.preset_id)
    check_edits_for_preset(preset, payload.concepts, payload.protect)
    rule_id = new_id()
    now = utcnow()
    async with context.database.transaction() as connection:
        locked = await context.limiter.lock_user(connection, user.id)
        await context.limiter.claim_rule_slot(connection, locked)
        await repository.insert_rule(
            connection,
            {
                "id": rule_id,
                "user_id": user.id,
                "name": payload.name,
                "preset_id": preset.id,
                "concepts": edits_to_json(payload.concepts),
                "protect": list(dict.fromkeys(payload.protect)),
                "created_at": now,
                "updated_at": now,
            },
        )
        rule = await repository.find_rule(connection, user.id, rule_id)
    assert rule is not None
    return rule


async def get_rule(context: AppContext, user: UserRecord, rule_id: str) -> RulePublic:
    """The caller's rule, or `RULE_NOT_FOUND`."""
    async with context.database.read() as connection:
        rule = await repository.find_rule(connection, user.id, rule_id)
    if rule is None:
        raise ApiError(ErrorCode.RULE_NOT_FOUND)
    return rule


async def list_rules(context: AppContext, user: UserRecord) -> list[RulePublic]:
    """The caller's rules, newest first."""
    async with context.database.read() as connection:
        return await repository.list_rules(connection, user.id)


async def update_rule(
    context: AppContext, user: UserRecord, rule_id: str, payload: RuleUpdate
) -> RulePublic:
    """Change the given fields, validated against the rule's preset."""
    async with context.database.transaction() as connection:
        current = await repository.find_rule(connection, user.id, rule_id)
        if current is None:
            raise ApiError(ErrorCode.RULE_NOT_FOUND)
        concepts = payload.concepts if payload.concepts is not None else current.concepts
        protect = payload.protect if payload.protect is not None else current.protect
        check_edits_for_preset(find_preset(current.preset_id), concepts, protect)
        values: dict[str, object] = {"updated_at": utcnow()}
        if payload.name is not None:
            values["name"] = payload.name
        if payload.concepts is not None:
            values["concepts"] = edits_to_json(payload.concepts)
        if payload.protect is not None:
            values["protect"] = list(dict.fromkeys(payload.protect))
        await repository.update_rule(connection, user.id, rule_id, values)
        updated = await repository.find_rule(connection, user.id, rule_id)
    assert updated is not None
    return updated


async def delete_rule(context: AppContext, user: UserRecord, rule_id: str) -> None:
    """Delete the caller's rule; its slot is free as soon as this commits."""
    async with context.database.transaction() as connection:
        if not await repository.delete_rule(connection, user.id, rule_id):
            raise ApiError(ErrorCode.RULE_NOT_FOUND)
