"""Dispatch by first path segment answers exactly as the whole router would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request

from s3api.http.stack import FirstSegmentDispatch, fold_middleware_stack


def _app() -> FastAPI:
    app = FastAPI(redirect_slashes=False)
    things = APIRouter(prefix="/things")

    @things.get("")
    async def list_things() -> dict[str, str]:
        return {"route": "list things"}

    @things.get("/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str]:
        return {"route": "get thing", "id": thing_id}

    @things.delete("/{thing_id}")
    async def delete_thing(thing_id: str) -> dict[str, str]:
        return {"route": "delete thing", "id": thing_id}

    at_root = APIRouter()

    @at_root.get("/me")
    async def me(request: Request) -> dict[str, str]:
        # `url_for` of a route filed under another segment
        return {"route": "me", "things": str(request.url_for("list_things"))}

    @at_root.get("/status")
    async def status() -> dict[str, str]:
        return {"route": "status"}

    anywhere = APIRouter()

    @anywhere.get("/{first}/shared")
    async def shared(first: str) -> dict[str, str]:
        return {"route": "shared", "first": first}

    for router in (things, at_root, anywhere):
        app.include_router(router)
    fold_middleware_stack(app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = _app()

    # added after the stack was built, before the first request, under a known segment
    @app.get("/status/late")
    async def late() -> dict[str, str]:
        return {"route": "late"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/things", {"route": "list things"}),
        ("/things/7", {"route": "get thing", "id": "7"}),
        ("/me", {"route": "me", "things": "http://test/things"}),
        ("/status", {"route": "status"}),
        # the routers' order holds: /things/{thing_id} comes first
        ("/things/shared", {"route": "get thing", "id": "shared"}),
        ("/me/shared", {"route": "shared", "first": "me"}),
        ("/unknown/shared", {"route": "shared", "first": "unknown"}),
        ("/status/late", {"route": "late"}),
    ],
)
async def test_each_path_reaches_its_route(
    client: httpx.AsyncClient, path: str, expected: dict[str, str]
) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.json() == expected


async def test_misses_are_the_routers_own_answers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/things/7/more")).status_code == 404
    assert (await client.get("/nothing")).status_code == 404
    assert (await client.get("/")).status_code == 404
    refused = await client.post("/things/7")
    assert refused.status_code == 405
    assert (await client.delete("/things/7")).json() == {"route": "delete thing", "id": "7"}


async def test_the_index_files_routes_under_their_first_segment() -> None:
    app = _app()
    dispatch = FirstSegmentDispatch(app.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/status")).status_code == 200
    index = dispatch._index()
    # FastAPI's own documentation routes are filed too
    assert {"things", "me", "status", "docs", "openapi.json"} <= set(index)
    status_routes = index["status"].routes
    # the segment's own router and the one with a parameter first; not /things
    assert len(status_routes) == 2
    assert len(index["things"].routes) == 2
    assert len(app.router.routes) > len(status_routes)
