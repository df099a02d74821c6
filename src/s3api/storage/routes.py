"""The signed `PUT`/`GET /objects/{key}` URLs of local storage, answered by this server.

They are left out of the OpenAPI schema: clients never call them by name, only
through the URLs that the job endpoints hand out.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from starlette.requests import ClientDisconnect

from s3api.errors import ApiError, ErrorCode
from s3api.http.envelope import Envelope, ok
from s3api.storage.base import ObjectInfo, UploadAdmission
from s3api.storage.local import OBJECTS_PATH, LocalStorage, SignedOperation

_MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
_DEFAULT_MEDIA_TYPE = "application/octet-stream"
# Unix seconds stay below 10**12 for thirty millennia; longer values are not ours to parse.
_MAX_EXPIRES_DIGITS = 12
# nginx's "client closed request": shows up in the access log, never reaches the client
_CLIENT_CLOSED_REQUEST = 499

logger = logging.getLogger("s3api.storage")

SignedQueryValue = Annotated[str | None, Query()]


def build_local_object_router(storage: LocalStorage, admits_upload: UploadAdmission) -> APIRouter:
    """Routes that store uploads and serve objects for holders of a valid signed URL.

    A validly signed PUT is still refused when `admits_upload` says its key no longer
    expects one (its job deleted or past the upload), before a byte is written.
    """
    router = APIRouter(include_in_schema=False)

    @router.put(OBJECTS_PATH + "/{key:path}", response_model=Envelope[ObjectInfo])
    async def put_object(
        request: Request,
        key: str,
        op: SignedQueryValue = None,
        expires: SignedQueryValue = None,
        signature: SignedQueryValue = None,
    ) -> Response:
        """Store the request body, whatever its content type, under `key`."""
        _authorize(storage, SignedOperation.PUT, key, op, expires, signature)
        if not await admits_upload(key):
            raise ApiError(ErrorCode.FORBIDDEN, "This upload URL no longer accepts uploads")
        try:
            stored = await storage.write_stream(key, request.stream(), _declared_length(request))
        except ClientDisconnect:
            # nothing was stored: the upload is written beside the object and renamed at the end
            logger.info("upload aborted by the client key=%s", key)
            return Response(status_code=_CLIENT_CLOSED_REQUEST)
        return ok(request, stored)

    @router.api_route(OBJECTS_PATH + "/{key:path}", methods=["GET", "HEAD"])
    async def get_object(
        key: str,
        op: SignedQueryValue = None,
        expires: SignedQueryValue = None,
        signature: SignedQueryValue = None,
    ) -> FileResponse:
        """Serve the object's file with a content type taken from its extension."""
        _authorize(storage, SignedOperation.GET, key, op, expires, signature)
        path = await storage.object_file(key)
        return FileResponse(path, media_type=media_type_of(key))

    return router


def media_type_of(key: str) -> str:
    """The content type a key's extension stands for."""
    return _MEDIA_TYPES.get(PurePosixPath(key).suffix.lower(), _DEFAULT_MEDIA_TYPE)


def _authorize(
    storage: LocalStorage,
    operation: SignedOperation,
    key: str,
    op: str | None,
    expires: str | None,
    signature: str | None,
) -> None:
    """Refuse the request unless its query carries a valid signature for this method and key."""
    if op != operation.value or expires is None or signature is None:
        raise ApiError(ErrorCode.FORBIDDEN, "A signed URL for this method is required")
    if not (expires.isascii() and expires.isdigit()) or len(expires) > _MAX_EXPIRES_DIGITS:
        raise ApiError(ErrorCode.FORBIDDEN, "Signature is invalid")
    storage.verify(operation, key, int(expires), signature)


def _declared_length(request: Request) -> int | None:
    """The upload's `Content-Length`, or None for a chunked body."""
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None
