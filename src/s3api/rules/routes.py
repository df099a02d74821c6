"""Rules CRUD: `POST/GET /rules`, `GET/PUT/DELETE /rules/{id}`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from s3api.http.deps import Context, CurrentUser
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.http.rate_limits import UserWriteRateLimit
from s3api.rules import service as rules_service
from s3api.rules.schemas import RuleCreate, RuleDeleted, RuleEnvelope, RuleList, RuleUpdate

router = APIRouter(prefix="/rules", tags=["rules"], responses=error_responses(400, 401))


@router.post(
    "",
    status_code=201,
    response_model=Envelope[RuleEnvelope],
    responses=error_responses(403, 429),
    dependencies=[UserWriteRateLimit],
)
async def create(
    request: Request, context: Context, user: CurrentUser, payload: RuleCreate
) -> Envelope[RuleEnvelope]:
    """Save a rule; needs a free rule slot."""
    rule = await rules_service.create_rule(context, user, payload)
    return ok(request, RuleEnvelope(rule=rule))


@router.get("", response_model=Envelope[RuleList])
async def list_(request: Request, context: Context, user: CurrentUser) -> Envelope[RuleList]:
    """The caller's rules, newest first."""
    return ok(request, RuleList(rules=await rules_service.list_rules(context, user)))


@router.get("/{rule_id}", response_model=Envelope[RuleEnvelope], responses=error_responses(404))
async def get(
    request: Request, context: Context, user: CurrentUser, rule_id: str
) -> Envelope[RuleEnvelope]:
    """One of the caller's rules."""
    return ok(request, RuleEnvelope(rule=await rules_service.get_rule(context, user, rule_id)))


@router.put(
    "/{rule_id}",
    response_model=Envelope[RuleEnvelope],
    responses=error_responses(404, 429),
    dependencies=[UserWriteRateLimit],
)
async def update(
    request: Request, context: Context, user: CurrentUser, rule_id: str, payload: RuleUpdate
) -> Envelope[RuleEnvelope]:
    """Change a rule's name, concepts or protect list."""
    rule = await rules_service.update_rule(context, user, rule_id, payload)
    return ok(request, RuleEnvelope(rule=rule))


@router.delete(
    "/{rule_id}",
    response_model=Envelope[RuleDeleted],
    responses=error_responses(404, 429),
    dependencies=[UserWriteRateLimit],
)
async def delete(
    request: Request, context: Context, user: CurrentUser, rule_id: str
) -> Envelope[RuleDeleted]:
    """Delete a rule and free its slot."""
    await rules_service.delete_rule(context, user, rule_id)
    return ok(request, RuleDeleted(id=rule_id, deleted=True))
