"""Share endpoints: the owner's `POST`/`DELETE /jobs/{id}/share`, and the public page.

The public routes answer HTML (or the image), never the JSON envelope: they are opened by
a customer's browser. A link that opens nothing gets a small 404 or 410 page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import HTMLResponse, Response

from s3api.errors import ApiError
from s3api.http.deps import JobLogContext, service_dependency
from s3api.http.envelope import Envelope, error_responses, ok
from s3api.http.middleware import log_route_template
from s3api.ratelimit.dependencies import UserWriteRateLimit, limit_share_views
from s3api.shares.page import SECURITY_HEADERS, refusal_page, share_page
from s3api.shares.schemas import ShareCreate, ShareLink, ShareRevoked
from s3api.shares.service import SIDES, ShareService, ShareUnavailableError
from s3api.users.current import CurrentUser

Shares = Annotated[ShareService, service_dependency("shares", ShareService)]
MAX_IDX_DIGITS = 3

router = APIRouter(
    prefix="/jobs",
    tags=["shares"],
    dependencies=[JobLogContext],
    responses=error_responses(400, 401),
)
# the token is the link's credential: the access log gets the route template instead
page_router = APIRouter(
    prefix="/share", tags=["shares"], dependencies=[Depends(log_route_template)]
)

_HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "The page"}
}
_REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"content": {"text/html": {}}, "description": "Unknown, revoked, or its job deleted"},
    410: {"content": {"text/html": {}}, "description": "Expired, or its photos removed"},
    429: {"content": {"text/html": {}}, "description": "Over SHARE_VIEW_RATE for this client"},
}


@router.post(
    "/{job_id}/share",
    status_code=201,
    response_model=Envelope[ShareLink],
    responses=error_responses(404, 409, 410, 429),
    dependencies=[UserWriteRateLimit],
)
async def create(
    request: Request,
    shares: Shares,
    user: CurrentUser,
    job_id: str,
    payload: Annotated[ShareCreate | None, Body()] = None,
) -> Response:
    """An expiring link to a page of the job's before/after pairs and palette; replaces the
    job's previous link."""
    link = await shares.create_share(user.id, job_id, payload)
    return ok(request, link, status_code=201)


@router.delete(
    "/{job_id}/share", response_model=Envelope[ShareRevoked], responses=error_responses(404)
)
async def revoke(request: Request, shares: Shares, user: CurrentUser, job_id: str) -> Response:
    """Withdraw the job's link: its page answers 404 from now on."""
    return ok(request, await shares.revoke_share(user.id, job_id))


async def _over_budget(request: Request) -> Response | None:
    """The refusal page when the client has used up `SHARE_VIEW_RATE` (429) or the budget
    store is down (503): HTML like every answer of these routes, never the JSON envelope."""
    try:
        await limit_share_views(request)
    except ApiError as refused:
        return refusal_page(refused.status, refused.headers)
    return None


@page_router.get("/{token}", response_class=HTMLResponse, responses={**_HTML, **_REFUSED})
async def page(request: Request, shares: Shares, token: str) -> Response:
    """The customer's page: every done photo before and after, and the palette used."""
    if (over_budget := await _over_budget(request)) is not None:
        return over_budget
    try:
        return share_page(await shares.shared_job(token))
    except ShareUnavailableError as refused:
        return refusal_page(refused.status_code)


@page_router.get(
    "/{token}/{idx}/{side}",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}, "description": "The image"}, **_REFUSED},
)
async def image(request: Request, shares: Shares, token: str, idx: str, side: str) -> Response:
    """One image of the page: `before` is the uploaded photo, `after` its result."""
    if (over_budget := await _over_budget(request)) is not None:
        return over_budget
    if side not in SIDES or not (idx.isascii() and idx.isdigit()) or len(idx) > MAX_IDX_DIGITS:
        return refusal_page(404)
    try:
        found = await shares.shared_image(
            token, int(idx), "before" if side == "before" else "after"
        )
    except ShareUnavailableError as refused:
        return refusal_page(refused.status_code)
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": "default-src 'none'"}
    return Response(found.data, media_type=found.media_type, headers=headers)
