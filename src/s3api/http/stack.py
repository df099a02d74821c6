"""FastAPI's per-request layers, folded to the ones this API uses."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send


def fold_middleware_stack(app: FastAPI) -> None:
    """Build `app`'s middleware stack now, without three layers FastAPI puts in front of
    every request: its server-error layer (`ApiEdgeMiddleware` is the last-resort handler and
    answers in the envelope), its telemetry layer (unconfigured here) and its body-size layer
    (the edge middleware limits bodies). What remains, outermost first: the app's own
    middleware, the exception handlers, the exit stack FastAPI's route handlers expect, and
    the router behind `FirstSegmentDispatch`. Called once every route and middleware is added; Starlette refuses middleware after."""
    handlers = {
        key: handler
        for key, handler in app.exception_handlers.items()
        if key not in (500, Exception)
    }
    stack: ASGIApp = AsyncExitStackMiddleware(FirstSegmentDispatch(app.router))
    stack = ExceptionMiddleware(stack, handlers=handlers, debug=app.debug)
    for middleware in reversed(app.user_middleware):
        stack = middleware.cls(stack, *middleware.args, **middleware.kwargs)
    app.middleware_stack = stack


def answer_before_routing(
    app: FastAPI, path: str, endpoint: Callable[[Request], Awaitable[Response]]
) -> None:
    """Serve `GET path` with `endpoint` as a plain Starlette route tried before every other:
    for a route with no parameter and no dependency, FastAPI's dispatch (route contexts,
    dependency solving, two exit stacks) costs more than the answer itself. Its `APIRoute`
    stays, unreached, to document it; errors go through the same exception handlers."""
    route = _NamedRoute(path, endpoint, methods=["GET"], include_in_schema=False)
    route.methods = {"GET"}  # Starlette adds HEAD to GET; the API's other routes refuse it
    app.router.routes.insert(0, route)


class _NamedRoute(Route):
    """A route that names itself in the scope, as FastAPI's do (request metrics read it)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class FirstSegmentDispatch:
    """The app's router, trying for each request only the routes its path can reach.

    The router tries its routes in order until one matches: about a microsecond and a half
    each, twice over for a route inside an included router, so a request for a route near
    the end paid some 40 µs before its handler ran. Here each route is filed under the first
    segment of its path, and a request goes to a copy of the router holding only the routes
    of its own first segment (in their order) and the routes whose first segment is a
    parameter. A path whose first segment no route names goes to the whole router, as does
    anything else the copies could answer differently (lifespan, a root path, slash
    redirects), so every answer, 404 and 405 included, is the router's own. The index is
    built on the first request, once every route is in place."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._by_segment: dict[str, APIRouter] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path") or self.router.redirect_slashes:
            await self.router(scope, receive, send)
            return
        by_segment = self._by_segment
        if by_segment is None:
            by_segment = self._by_segment = self._index()
        chosen = by_segment.get(_first_segment(scope["path"]))
        if chosen is None:
            await self.router(scope, receive, send)
            return
        scope.setdefault("router", self.router)  # `url_for` sees every route
        await chosen.app(scope, receive, send)

    def _index(self) -> dict[str, APIRouter]:
        filed: list[tuple[BaseRoute, set[str] | None]] = [
            (route, _first_segments(route)) for route in self.router.routes
        ]
        segments = set().union(*(found for _, found in filed if found is not None))
        by_segment = {}
        for segment in segments:
            subset = copy.copy(self.router)
            subset.routes = [route for route, found in filed if found is None or segment in found]
            by_segment[segment] = subset
        return by_segment


def _first_segment(path: str) -> str:
    return path[1:].partition("/")[0]


def _first_segments(route: BaseRoute) -> set[str] | None:
    """The first path segments a route (or an included router's routes) can match; None
    when it could match any (a parameter first, or a kind of route not known here)."""
    if isinstance(route, (Route, Mount)):
        paths = [route.path]
    elif hasattr(route, "effective_route_contexts"):  # a router included by FastAPI
        paths = [context.path_format for context in route.effective_route_contexts()]
    else:
        return None
    segments = {_first_segment(path) for path in paths}
    if any("{" in segment for segment in segments):
        return None
    return segments
