"""Rules CRUD: `POST/GET /rules`, `GET/PUT/DELETE /rules/{id}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from s3api.http.deps import service_dependency
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.ratelimit.dependencies import UserWriteRateLimit
from s3api.rules.schemas import RuleCreate, RuleDeleted, RuleEnvelope, RuleList, RuleUpdate
from s3api.rules.service import RulesService
from s3api.users.current import CurrentUser

Rules = Annotated[RulesService, service_dependency("rules", RulesService)]

router = APIRouter(prefix="/rules", tags=["rules"], responses=error_responses(400, 401))


@router.post(
    "",
    status_code=201,
    response_model=Envelope[RuleEnvelope],
    responses=error_responses(403, 429),
    dependencies=[UserWriteRateLimit],
)
async def create(
    request: Request, rules: Rules, user: CurrentUser, payload: RuleCreate
) -> Response:
    """Save a rule; needs a free rule slot."""
    rule = await rules.create_rule(user.id, payload)
    return ok(request, RuleEnvelope(rule=rule), status_code=201)


@router.get("", response_model=Envelope[RuleList])
async def list_(request: Request, rules: Rules, user: CurrentUser) -> Response:
    """The caller's rules, newest first."""
    return ok(request, RuleList(rules=await rules.list_rules(user.id)))


@router.get("/{rule_id}", response_model=Envelope[RuleEnvelope], responses=error_responses(404))
async def get(request: Request, rules: Rules, user: CurrentUser, rule_id: str) -> Response:
    """One of the caller's rules."""
    return ok(request, RuleEnvelope(rule=await rules.get_rule(user.id, rule_id)))


@router.put(
    "/{rule_id}",
    response_model=Envelope[RuleEnvelope],
    responses=error_responses(404, 429),
    dependencies=[UserWriteRateLimit],
)
async def update(
    request: Request, rules: Rules, user: CurrentUser, rule_id: str, payload: RuleUpdate
) -> Response:
    """Change a rule's name, concepts or protect list."""
    rule = await rules.update_rule(user.id, rule_id, payload)
    return ok(request, RuleEnvelope(rule=rule))


@router.delete(
    "/{rule_id}",
    response_model=Envelope[RuleDeleted],
    responses=error_responses(404, 429),
    dependencies=[UserWriteRateLimit],
)
async def delete(request: Request, rules: Rules, user: CurrentUser, rule_id: str) -> Response:
    """Delete a rule and free its slot."""
    await rules.delete_rule(user.id, rule_id)
    return ok(request, RuleDeleted(id=rule_id, deleted=True))
