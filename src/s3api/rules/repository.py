"""Queries on `rules`."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    Row,
    ScalarSelect,
    SQLColumnExpression,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from s3api.db.models import Rule
from s3api.ids import is_uuid
from s3api.rules.schemas import RulePublic

# built once; an update sets the columns its parameters name (the SET clause follows them)
_RULES = cast(Table, Rule.__table__)
_INSERT_RULE = insert(_RULES)
_FIND_RULE = select(_RULES).where(
    _RULES.c.id == bindparam("rule_id"), _RULES.c.user_id == bindparam("user_id")
)
_COUNT_RULES = (
    select(func.count()).select_from(_RULES).where(_RULES.c.user_id == bindparam("user_id"))
)
_LIST_RULES = (
    select(_RULES)
    .where(_RULES.c.user_id == bindparam("user_id"))
    .order_by(_RULES.c.created_at.desc(), _RULES.c.id.desc())
)
_UPDATE_RULE = update(_RULES).where(
    _RULES.c.id == bindparam("target_rule"), _RULES.c.user_id == bindparam("owner")
)
_DELETE_RULE = delete(_RULES).where(
    _RULES.c.id == bindparam("target_rule"), _RULES.c.user_id == bindparam("owner")
)


def _to_public(row: Row[Any]) -> RulePublic:
    return RulePublic.model_validate(row._mapping, from_attributes=False)


async def insert_rule(connection: AsyncConnection, values: dict[str, Any]) -> None:
    """Insert one rule row."""
    await connection.execute(_INSERT_RULE, values)


async def find_rule(connection: AsyncConnection, user_id: str, rule_id: str) -> RulePublic | None:
    """The rule if it exists and belongs to `user_id`."""
    if not is_uuid(rule_id):
        return None
    row = (await connection.execute(_FIND_RULE, {"rule_id": rule_id, "user_id": user_id})).first()
    return None if row is None else _to_public(row)


async def count_rules(connection: AsyncConnection, user_id: str) -> int:
    """How many rule slots the user has in use."""
    return int((await connection.execute(_COUNT_RULES, {"user_id": user_id})).scalar_one())


def rule_slots_in_use(user_id: SQLColumnExpression[str]) -> ScalarSelect[int]:
    """`count_rules` as a subquery, so another statement can carry it in the same round trip."""
    return select(func.count()).select_from(Rule).where(Rule.user_id == user_id).scalar_subquery()


async def list_rules(connection: AsyncConnection, user_id: str) -> list[RulePublic]:
    """The user's rules, newest first."""
    rows = await connection.execute(_LIST_RULES, {"user_id": user_id})
    return [_to_public(row) for row in rows]


async def update_rule(
    connection: AsyncConnection, user_id: str, rule_id: str, values: dict[str, Any]
) -> bool:
    """Apply `values` to the user's rule; False when no such rule is theirs."""
    if not is_uuid(rule_id):
        return False
    result = await connection.execute(
        _UPDATE_RULE, {**values, "target_rule": rule_id, "owner": user_id}
    )
    return result.rowcount == 1


async def delete_rule(connection: AsyncConnection, user_id: str, rule_id: str) -> bool:
    """Delete the user's rule; False when no such rule is theirs."""
    if not is_uuid(rule_id):
        return False
    result = await connection.execute(_DELETE_RULE, {"target_rule": rule_id, "owner": user_id})
    return result.rowcount == 1
