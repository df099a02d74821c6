"""FastAPI's per-request layers, folded to the ones this API uses."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp


def fold_middleware_stack(app: FastAPI) -> None:
    """Build `app`'s middleware stack now, without three layers FastAPI puts in front of
    every request: its server-error layer (`ApiEdgeMiddleware` is the last-resort handler and
    answers in the envelope), its telemetry layer (unconfigured here) and its body-size layer
    (the edge middleware limits bodies). What remains, outermost first: the app's own
    middleware, the exception handlers, and the exit stack FastAPI's route handlers expect.
    Called once every route and middleware is added; Starlette refuses middleware after."""
    handlers = {
        key: handler
        for key, handler in app.exception_handlers.items()
        if key not in (500, Exception)
    }
    stack: ASGIApp = AsyncExitStackMiddleware(app.router)
    stack = ExceptionMiddleware(stack, handlers=handlers, debug=app.debug)
    for middleware in reversed(app.user_middleware):
        stack = middleware.cls(stack, *middleware.args, **middleware.kwargs)
    app.middleware_stack = stack
