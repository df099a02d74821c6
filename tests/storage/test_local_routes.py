"""The signed object URLs of local storage, through a real uvicorn server and httpx."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import anyio
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import Message, Scope

from s3api.http.handlers import install_exception_handlers
from s3api.http.middleware import ApiEdgeMiddleware
from s3api.storage.local import LocalStorage
from s3api.storage.routes import build_local_object_router
from tests.support.storage import (
    UPLOAD_LIMIT,
    admit_every_upload,
    assert_error_envelope,
    chunks_of,
    files_under,
    make_local_storage,
)

KEY = "inputs/user-1/job-1/0.jpg"
OTHER_KEY = "inputs/user-1/job-1/1.jpg"
OCTET_STREAM = {"Content-Type": "application/octet-stream"}


@dataclass
class ServedStorage:
    """Local storage answered by a running server, and a client to call it."""

    storage: LocalStorage
    client: httpx.AsyncClient
    data_dir: Path


def _app_for(storage: LocalStorage) -> FastAPI:
    app = FastAPI()
    install_exception_handlers(app)
    app.add_middleware(ApiEdgeMiddleware)
    app.include_router(build_local_object_router(storage, admit_every_upload))
    return app


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServedStorage]:
    """A uvicorn server on a free port of 127.0.0.1 whose storage signs URLs for itself.

    The socket listens before the server task starts, so early requests wait in
    its backlog instead of needing a poll for `server.started`.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    storage = make_local_storage(tmp_path / "objects", f"http://127.0.0.1:{port}")
    config = uvicorn.Config(_app_for(storage), log_level="warning", log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with httpx.AsyncClient() as client:
            yield ServedStorage(storage=storage, client=client, data_dir=tmp_path)
        assert server.started
    finally:
        server.should_exit = True
        await serving
        listener.close()


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _with_key(url: str, key: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/objects/{key}"))


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/jpeg", "text/plain"])
async def test_put_then_get_returns_the_same_bytes(
    served: ServedStorage, content_type: str
) -> None:
    payload = bytes(range(256)) * 3
    put_url = await served.storage.presign_put(KEY, 600)
    put = await served.client.put(put_url, content=payload, headers={"Content-Type": content_type})
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["success"] is True
    assert body["data"] == {"key": KEY, "size": len(payload)}
    assert body["meta"]["request_id"] == put.headers["x-request-id"]

    got = await served.client.get(await served.storage.presign_get(KEY, 600))
    assert got.status_code == 200
    assert got.content == payload
    assert got.headers["content-type"] == "image/jpeg"


async def test_head_answers_the_size_without_a_body(served: ServedStorage) -> None:
    await served.storage.put_bytes(KEY, b"0123456789", "image/jpeg")
    response = await served.client.head(await served.storage.presign_get(KEY, 600))
    assert response.status_code == 200
    assert response.headers["content-length"] == "10"
    assert response.content == b""


@pytest.mark.parametrize(
    ("key", "media_type"),
    [
        ("outputs/user-1/job-1/0_result.png", "image/png"),
        ("previews/user-1/job-1/0_thumb.jpg", "image/jpeg"),
        ("inputs/user-1/job-1/0.webp", "image/webp"),
        ("masks/user-1/job-1/0_floor.bin", "application/octet-stream"),
    ],
)
async def test_get_answers_a_content_type_from_the_extension(
    served: ServedStorage, key: str, media_type: str
) -> None:
    await served.storage.put_bytes(key, b"bytes", "ignored/by-local-storage")
    response = await served.client.get(await served.storage.presign_get(key, 600))
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


async def test_get_of_a_missing_object_is_not_found(served: ServedStorage) -> None:
    response = await served.client.get(await served.storage.presign_get(KEY, 600))
    assert_error_envelope(response, 404, "NOT_FOUND")


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_a_tampered_signature_is_forbidden(served: ServedStorage, method: str) -> None:
    await served.storage.put_bytes(KEY, b"original", "image/jpeg")
    presign = served.storage.presign_get if method == "GET" else served.storage.presign_put
    url = await presign(KEY, 600)
    signature = parse_qs(urlsplit(url).query)["signature"][0]
    tampered = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    response = await served.client.request(
        method, _with_query(url, signature=tampered), content=b"new", headers=OCTET_STREAM
    )
    assert_error_envelope(response, 403, "FORBIDDEN")
    assert await served.storage.get_bytes(KEY) == b"original"


async def test_an_expired_url_is_forbidden(served: ServedStorage) -> None:
    await served.storage.put_bytes(KEY, b"original", "image/jpeg")
    response = await served.client.get(await served.storage.presign_get(KEY, -1))
    assert_error_envelope(response, 403, "FORBIDDEN")
    assert "expired" in response.json()["error"]["message"]


async def test_a_changed_expiry_is_forbidden(served: ServedStorage) -> None:
    await served.storage.put_bytes(KEY, b"original", "image/jpeg")
    url = await served.storage.presign_get(KEY, 600)
    later = int(parse_qs(urlsplit(url).query)["expires"][0]) + 3600
    response = await served.client.get(_with_query(url, expires=str(later)))
    assert_error_envelope(response, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "expires",
    ["soon", "-5", "1e9", "", "\u0661\u0662\u0663", "9" * 13, "9" * 4301],
    ids=["word", "negative", "float", "empty", "arabic-digits", "13-digits", "4301-digits"],
)
@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_a_malformed_expiry_is_forbidden(
    served: ServedStorage, expires: str, method: str
) -> None:
    await served.storage.put_bytes(KEY, b"original", "image/jpeg")
    presign = served.storage.presign_get if method == "GET" else served.storage.presign_put
    url = _with_query(await presign(KEY, 600), expires=expires)
    response = await served.client.request(method, url, content=b"new")
    assert_error_envelope(response, 403, "FORBIDDEN")
    assert await served.storage.get_bytes(KEY) == b"original"


async def test_an_upload_the_client_aborts_is_logged_at_info_and_leaves_no_object(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = make_local_storage(tmp_path / "objects", "http://testserver")
    app = _app_for(storage)
    app.add_middleware(ApiEdgeMiddleware)
    url = urlsplit(await storage.presign_put(KEY, 600))
    incoming: list[Message] = [
        {"type": "http.request", "body": b"x" * 1000, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": url.path,
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-length", str(UPLOAD_LIMIT).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []
    aborted = [record for record in caplog.records if "aborted" in record.getMessage()]
    assert [record.levelno for record in aborted] == [logging.INFO]
    assert files_under(tmp_path / "objects") == []
    assert sent[0]["status"] != 500


async def test_a_put_url_cannot_get(served: ServedStorage) -> None:
    await served.storage.put_bytes(KEY, b"original", "image/jpeg")
    put_url = await served.storage.presign_put(KEY, 600)
    assert_error_envelope(await served.client.get(put_url), 403, "FORBIDDEN")
    relabelled = _with_query(put_url, op="get")
    assert_error_envelope(await served.client.get(relabelled), 403, "FORBIDDEN")


async def test_a_get_url_cannot_put(served: ServedStorage) -> None:
    await served.storage.put_bytes(KEY, b"original", "image/jpeg")
    get_url = await served.storage.presign_get(KEY, 600)
    for url in (get_url, _with_query(get_url, op="put")):
        response = await served.client.put(url, content=b"new", headers=OCTET_STREAM)
        assert_error_envelope(response, 403, "FORBIDDEN")
    assert await served.storage.get_bytes(KEY) == b"original"


async def test_a_signature_for_one_key_is_refused_for_another(served: ServedStorage) -> None:
    await served.storage.put_bytes(OTHER_KEY, b"someone else's", "image/jpeg")
    get_url = _with_key(await served.storage.presign_get(KEY, 600), OTHER_KEY)
    assert_error_envelope(await served.client.get(get_url), 403, "FORBIDDEN")
    put_url = _with_key(await served.storage.presign_put(KEY, 600), OTHER_KEY)
    response = await served.client.put(put_url, content=b"overwrite", headers=OCTET_STREAM)
    assert_error_envelope(response, 403, "FORBIDDEN")
    assert await served.storage.get_bytes(OTHER_KEY) == b"someone else's"


async def test_an_unsigned_request_is_forbidden(served: ServedStorage) -> None:
    url = (await served.storage.presign_put(KEY, 600)).split("?")[0]
    response = await served.client.put(url, content=b"data", headers=OCTET_STREAM)
    assert_error_envelope(response, 403, "FORBIDDEN")
    assert await served.storage.head(KEY) is None


async def test_an_upload_at_the_limit_is_stored(served: ServedStorage) -> None:
    payload = b"x" * UPLOAD_LIMIT
    url = await served.storage.presign_put(KEY, 600)
    response = await served.client.put(url, content=payload, headers=OCTET_STREAM)
    assert response.status_code == 200
    assert await served.storage.get_bytes(KEY) == payload


async def test_an_upload_over_the_limit_is_refused_and_not_stored(served: ServedStorage) -> None:
    url = await served.storage.presign_put(KEY, 600)
    payload = b"x" * (UPLOAD_LIMIT + 1)
    response = await served.client.put(url, content=payload, headers=OCTET_STREAM)
    assert_error_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert await served.storage.head(KEY) is None
    assert files_under(served.data_dir) == []


async def test_an_upload_over_the_limit_keeps_the_existing_object(served: ServedStorage) -> None:
    await served.storage.put_bytes(KEY, b"original", "image/jpeg")
    url = await served.storage.presign_put(KEY, 600)
    payload = b"x" * (UPLOAD_LIMIT * 2)
    response = await served.client.put(url, content=payload, headers=OCTET_STREAM)
    assert_error_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert await served.storage.get_bytes(KEY) == b"original"
    assert files_under(served.data_dir) == [served.storage.root / KEY]


async def test_a_chunked_upload_over_the_limit_is_refused_and_not_stored(
    served: ServedStorage,
) -> None:
    url = await served.storage.presign_put(KEY, 600)
    body = chunks_of([b"a" * 512, b"b" * 512, b"c" * 512])
    response = await served.client.put(url, content=body, headers=OCTET_STREAM)
    assert "content-length" not in response.request.headers
    assert_error_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert files_under(served.data_dir) == []


async def test_a_chunked_upload_within_the_limit_is_stored(served: ServedStorage) -> None:
    url = await served.storage.presign_put(KEY, 600)
    body = chunks_of([b"a" * 512, b"b" * 512])
    response = await served.client.put(url, content=body, headers=OCTET_STREAM)
    assert response.status_code == 200
    assert response.json()["data"] == {"key": KEY, "size": 1024}
    assert await served.storage.get_bytes(KEY) == b"a" * 512 + b"b" * 512


@pytest.mark.parametrize(
    "key",
    [
        "inputs/%2e%2e/%2e%2e/escape.jpg",
        "inputs/user-1/%2E%2E/%2E%2E/%2E%2E/escape.jpg",
        "inputs/..%2f..%2fescape.jpg",
        "secrets/escape.jpg",
    ],
)
async def test_keys_outside_the_layout_are_refused(served: ServedStorage, key: str) -> None:
    url = _with_key(await served.storage.presign_put(KEY, 600), key)
    response = await served.client.put(url, content=b"data", headers=OCTET_STREAM)
    assert_error_envelope(response, 400, "VALIDATION_FAILED")
    get = await served.client.get(_with_key(await served.storage.presign_get(KEY, 600), key))
    assert_error_envelope(get, 400, "VALIDATION_FAILED")
    assert files_under(served.data_dir) == []


async def test_a_literal_dot_dot_path_is_refused(served: ServedStorage) -> None:
    url = urlsplit(await served.storage.presign_put(KEY, 600))
    target = f"/objects/inputs/../../escape.jpg?{url.query}"
    request = (
        f"PUT {target} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 4\r\n"
        "Connection: close\r\n\r\ndata"
    )
    async with await anyio.connect_tcp(url.hostname or "", url.port or 80) as stream:
        await stream.send(request.encode())
        answer = b""
        async for received in stream:
            answer += received
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"VALIDATION_FAILED"' in answer
    assert files_under(served.data_dir) == []
