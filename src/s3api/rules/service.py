"""Rules use cases; creating one claims a slot in the same transaction."""

from __future__ import annotations

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.ids import new_id
from s3api.presets.catalog import find_preset
from s3api.presets.edits import check_edits_for_preset, edits_to_json
from s3api.rules import repository
from s3api.rules.schemas import RuleCreate, RulePublic, RuleUpdate
from s3api.timeutil import utcnow
from s3api.users.limits import UserLimiter


class RulesService:
    """Endpoints 5–8: saved edits, each create bounded by the plan's rule slots."""

    def __init__(self, database: Database, limiter: UserLimiter) -> None:
        self.database = database
        self.limiter = limiter

    async def create_rule(self, user_id: str, payload: RuleCreate) -> RulePublic:
        """Validate against the preset, then claim a slot and insert atomically."""
        preset = find_preset(payload.preset_id, field="preset_id")
        protect = preset.requested_protect(payload.protect, payload.concepts)
        check_edits_for_preset(preset, payload.concepts, protect)
        rule_id = new_id()
        now = utcnow()
        async with self.database.transaction() as connection:
            locked = await self.limiter.lock_user(connection, user_id)
            in_use = await repository.count_rules(connection, user_id)
            self.limiter.claim_rule_slot(locked, in_use)
            await repository.insert_rule(
                connection,
                {
                    "id": rule_id,
                    "user_id": user_id,
                    "name": payload.name,
                    "preset_id": preset.id,
                    "concepts": edits_to_json(payload.concepts),
                    "protect": protect,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            rule = await repository.find_rule(connection, user_id, rule_id)
        assert rule is not None
        return rule

    async def get_rule(self, user_id: str, rule_id: str) -> RulePublic:
        """The caller's rule, or `RULE_NOT_FOUND`."""
        async with self.database.read() as connection:
            rule = await repository.find_rule(connection, user_id, rule_id)
        if rule is None:
            raise ApiError(ErrorCode.RULE_NOT_FOUND)
        return rule

    async def list_rules(self, user_id: str) -> list[RulePublic]:
        """The caller's rules, newest first."""
        async with self.database.read() as connection:
            return await repository.list_rules(connection, user_id)

    async def update_rule(self, user_id: str, rule_id: str, payload: RuleUpdate) -> RulePublic:
        """Change the given fields, validated against the rule's preset."""
        async with self.database.transaction() as connection:
            current = await repository.find_rule(connection, user_id, rule_id)
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
            await repository.update_rule(connection, user_id, rule_id, values)
            updated = await repository.find_rule(connection, user_id, rule_id)
        assert updated is not None
        return updated

    async def delete_rule(self, user_id: str, rule_id: str) -> None:
        """Delete the caller's rule; its slot is free as soon as this commits."""
        async with self.database.transaction() as connection:
            if not await repository.delete_rule(connection, user_id, rule_id):
                raise ApiError(ErrorCode.RULE_NOT_FOUND)
