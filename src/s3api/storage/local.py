"""Objects as files under one directory, uploaded and served by this server through signed URLs."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlencode

import anyio

from s3api.common.errors import StorageUnavailableError
from s3api.errors import ApiError, ErrorCode, payload_too_large
from s3api.storage.base import ObjectInfo
from s3api.storage.keys import is_valid_key
from s3api.storage.partials import partial_path_for, remove_partials_beside

_T = TypeVar("_T")

SPOOL_BYTES = 1 << 20
"""An upload up to this size is held in memory and written in one hop off the loop."""

OBJECTS_PATH = "/objects"
"""Where `routes.py` mounts the signed object URLs."""


class SignedOperation(StrEnum):
    """What a signed URL allows; its value is the `op` query parameter and part of the signature."""

    PUT = "put"
    GET = "get"


class LocalStorage:
    """Files under `root/<key>`, reached through HMAC-signed URLs that this server answers.

    Stats and small reads run on the event loop's thread: they take microseconds, less than a
    hop to a worker thread and back. What creates, renames or syncs files leaves the loop, in
    one hop for an upload of up to `SPOOL_BYTES`: those calls wait on the file system's
    journal, behind every other upload's `fsync`, and under load that wait is milliseconds.
    """

    def __init__(
        self,
        root: Path,
        base_url: str,
        signing_key: bytes,
        max_upload_bytes: int,
        max_result_bytes: int | None = None,
    ) -> None:
        self.root = root.resolve()
        self._root_text = str(self.root)
        self.base_url = base_url.rstrip("/")
        self.max_upload_bytes = max_upload_bytes
        # full-size PNG results of 12 MP photos outgrow the input limit
        self.max_result_bytes = max_result_bytes or max_upload_bytes
        self._signing_key = signing_key

    def size_limit_of(self, key: str) -> int:
        """Inputs get the client upload limit; worker-written objects the result limit."""
        return self.max_upload_bytes if key.startswith("inputs/") else self.max_result_bytes

    async def presign_put(self, key: str, expires_in: int) -> str:
        """A URL that accepts one PUT of the object's bytes for `expires_in` seconds."""
        return self.signed_url(SignedOperation.PUT, key, expires_in)

    async def presign_get(self, key: str, expires_in: int) -> str:
        """A URL that serves the object by GET for `expires_in` seconds."""
        return self.signed_url(SignedOperation.GET, key, expires_in)

    def signed_url(self, operation: SignedOperation, key: str, expires_in: int) -> str:
        """`{base_url}/objects/{key}?op=…&expires=…&signature=…` for one operation on one key."""
        _require_valid_key(key)
        expires = int(time.time()) + expires_in
        query = urlencode(
            {
                "op": operation.value,
                "expires": expires,
                "signature": self._signature(operation, key, expires),
            }
        )
        return f"{self.base_url}{OBJECTS_PATH}/{key}?{query}"

    def verify(self, operation: SignedOperation, key: str, expires: int, signature: str) -> None:
        """Raise unless `signature` was issued for this operation, key and expiry, still valid."""
        _require_valid_key(key)
        expected = self._signature(operation, key, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise ApiError(ErrorCode.FORBIDDEN, "Signature is invalid")
        if expires < time.time():
            raise ApiError(ErrorCode.FORBIDDEN, "Signed URL has expired")

    async def write_stream(
        self, key: str, chunks: AsyncIterator[bytes], declared_length: int | None
    ) -> ObjectInfo:
        """Store an upload atomically, refusing it once it exceeds the key's size limit."""
        path = self._path_of(key)
        limit = self.size_limit_of(key)
        if declared_length is not None and declared_length > limit:
            raise payload_too_large(limit)
        size = await _write_atomically(path, chunks, limit)
        return ObjectInfo(key=key, size=size)

    async def head(self, key: str) -> ObjectInfo | None:
        """Size of the object, or None when it does not exist."""
        found = self._regular_file(key)
        return None if found is None else ObjectInfo(key=key, size=found[1])

    async def object_file(self, key: str) -> Path:
        """The file of an existing object, for serving it; `NOT_FOUND` when there is none."""
        found = self._regular_file(key)
        if found is None:
            raise ApiError(ErrorCode.NOT_FOUND)
        return found[0]

    async def read_head_bytes(self, key: str, length: int) -> bytes:
        """The first `length` (at least 1) bytes of the object, for content sniffing."""
        if length < 1:
            raise ValueError("length must be at least 1")
        return await self._read(key, length)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store an object directly; its content type follows from the key's extension."""
        await _off_loop(_write_whole, self._path_of(key), [data])

    async def get_bytes(self, key: str) -> bytes:
        """The whole object; `NOT_FOUND` when it does not exist."""
        return await self._read(key, -1)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Unlink each object's file and the temporary files of unfinished uploads to it,
        then the directories this left empty."""
        paths = [self._path_of(key) for key in keys]
        for key, path in zip(keys, paths, strict=True):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise StorageUnavailableError(f"cannot delete {key}: {exc}") from exc
        remove_partials_beside(paths)
        for directory in dict.fromkeys(path.parent for path in paths):
            self._remove_empty_parents(directory)

    async def close(self) -> None:
        """Nothing to release: every file is closed after use."""

    def _remove_empty_parents(self, directory: Path) -> None:
        """Walk up towards the root, removing directories until one is not empty."""
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def _signature(self, operation: SignedOperation, key: str, expires: int) -> str:
        message = f"{operation.value}\n{key}\n{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def _path_of(self, key: str) -> Path:
        """The file path of a valid key, refused when a symlink on its way could lead it out of
        the root. A valid key has no `..` or empty segment, so only a link can; checking the
        segments under the root with `lstat` costs a few system calls where `resolve()` walked
        every directory from `/`."""
        _require_valid_key(key)
        path = f"{self._root_text}/{key}"
        end = len(self._root_text)
        while end < len(path):
            end = path.find("/", end + 1)
            if end < 0:
                end = len(path)
            try:
                mode = os.lstat(path[:end]).st_mode
            except (FileNotFoundError, NotADirectoryError):
                break  # nothing exists below a missing segment
            if stat.S_ISLNK(mode):
                raise ApiError(ErrorCode.VALIDATION_FAILED, "Invalid object key")
        return Path(path)

    def _regular_file(self, key: str) -> tuple[Path, int] | None:
        """The object's path and size when it exists as a regular file."""
        path = self._path_of(key)
        try:
            status = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageUnavailableError(f"cannot read {key}: {exc}") from exc
        return (path, status.st_size) if stat.S_ISREG(status.st_mode) else None

    async def _read(self, key: str, length: int) -> bytes:
        """Up to `length` leading bytes of the object (all of them for -1)."""
        path = self._path_of(key)
        try:
            if length < 0:  # a whole object may be large: read off the loop
                return await anyio.to_thread.run_sync(path.read_bytes)
            return _read_head(path, length)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ApiError(ErrorCode.NOT_FOUND) from exc
        except OSError as exc:
            raise StorageUnavailableError(f"cannot read {key}: {exc}") from exc


def _read_head(path: Path, length: int) -> bytes:
    with path.open("rb") as file:
        return file.read(length)


def _require_valid_key(key: str) -> None:
    """Refuse keys outside the four prefixes or with traversal, empty segments or odd bytes."""
    if not is_valid_key(key):
        raise ApiError(ErrorCode.VALIDATION_FAILED, "Invalid object key")


async def _write_atomically(target: Path, chunks: AsyncIterator[bytes], limit: int | None) -> int:
    """Stream into a temporary file beside `target`, then rename it over `target`.

    Readers see the old object or the whole new one, never a part; on any failure,
    including going over `limit`, the temporary file is removed and `target` is untouched.
    Up to `SPOOL_BYTES` are held in memory, so that a small object is written in one hop
    to a worker thread; a larger one streams into a file opened at that point.
    """
    spooled: list[bytes] = []
    opened: tuple[Path, BinaryIO] | None = None
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if limit is not None and size > limit:
                raise payload_too_large(limit)
            if opened is not None:
                opened[1].write(chunk)
                continue
            spooled.append(chunk)
            if size > SPOOL_BYTES:
                opened = await _off_loop(_open_partial, target)
                opened[1].writelines(spooled)
                spooled.clear()
        if opened is None:
            await _off_loop(_write_whole, target, spooled)
        else:
            await _off_loop(_commit_partial, *opened, target)
    except BaseException:
        if opened is not None:
            opened[1].close()
            opened[0].unlink(missing_ok=True)
        raise
    return size


async def _off_loop(call: Callable[..., _T], *args: Any) -> _T:
    """`call` on a worker thread; a file-system failure there is the store's, not the
    request's (a client going away mid-upload fails in the body stream, not here)."""
    try:
        return await anyio.to_thread.run_sync(call, *args)
    except OSError as exc:
        raise StorageUnavailableError(str(exc)) from exc


def _open_partial(target: Path) -> tuple[Path, BinaryIO]:
    """A new temporary file beside `target` (its directories made), open for writing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path_for(target)
    return partial, partial.open("xb")


def _commit_partial(partial: Path, file: BinaryIO, target: Path) -> None:
    """Flush, sync and close the temporary file, then rename it over `target`."""
    with file:
        file.flush()
        os.fsync(file.fileno())
    partial.replace(target)


def _write_whole(target: Path, chunks: list[bytes]) -> None:
    """The whole object through a temporary file, on a worker thread."""
    partial, file = _open_partial(target)
    try:
        file.writelines(chunks)
        _commit_partial(partial, file, target)
    except BaseException:
        file.close()
        partial.unlink(missing_ok=True)
        raise
