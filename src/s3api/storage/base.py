"""The storage interface the services use; backends live beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD tells about a stored object."""

    key: str
    size: int


class ObjectStorage(Protocol):
    """Pre-signed URLs plus the few server-side reads the API needs.

    Every method is async and never blocks the event loop.
    """

    async def presign_put(self, key: str, expires_in: int) -> str:
        """A URL that accepts one HTTP PUT of the object's bytes until it expires."""
        ...

    async def presign_get(self, key: str, expires_in: int) -> str:
        """A URL that serves the object by HTTP GET until it expires."""
        ...

    async def head(self, key: str) -> ObjectInfo | None:
        """Size of the object, or None when it does not exist."""
        ...

    async def read_head_bytes(self, key: str, length: int) -> bytes:
        """The first `length` bytes of the object (for content sniffing)."""
        ...

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store an object directly (server-side writes and tests)."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """Read a whole object directly (server-side reads and tests)."""
        ...

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove these objects; keys that name no object are not an error. Like every
        method that reaches the store, it raises `StorageUnavailableError` when the store fails."""
        ...

    async def close(self) -> None:
        """Release clients and pools."""
        ...


class UploadAdmission(Protocol):
    """Whether a signed PUT may still store its object.

    A signed URL outlives what it was issued for (its job deleted, its inputs confirmed);
    the layer that knows the jobs answers, so storage itself stays free of them.
    """

    async def __call__(self, key: str) -> bool:
        """True while an upload to `key` is still expected."""
        ...


class KeyListing(Protocol):
    """A store whose keys can be walked in order, a page at a time (S3's `ListObjectsV2`)."""

    async def list_keys(self, start_after: str, limit: int) -> list[str]:
        """Up to `limit` keys that sort after `start_after` ("" for the first), in order."""
        ...
