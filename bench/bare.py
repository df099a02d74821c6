"""The reference point of `bench.http`: a bare Starlette JSON endpoint."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(_request: Request) -> JSONResponse:
    """The smallest JSON answer the framework can give."""
    return JSONResponse({"success": True, "data": {"status": "ok"}})


app = Starlette(routes=[Route("/", hello)])
