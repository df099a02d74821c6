"""LocalStorage on its own: signing, verification, atomic size-limited writes and reads."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from s3api.common.errors import StorageUnavailableError
from s3api.errors import ApiError, ErrorCode
from s3api.storage.base import ObjectInfo
from s3api.storage.local import SPOOL_BYTES, LocalStorage, SignedOperation
from tests.support.storage import (
    SIGNING_KEY,
    UPLOAD_LIMIT,
    chunks_of,
    files_under,
    make_local_storage,
)

KEY = "inputs/user-1/job-1/0.jpg"
OTHER_KEY = "inputs/user-1/job-1/1.jpg"
INVALID_KEYS = [
    "inputs/../secrets/x.jpg",
    "inputs/a/../../x.jpg",
    "../inputs/x.jpg",
    "/inputs/x.jpg",
    "/etc/passwd",
    "secrets/x",
    "inputs//x.jpg",
    "inputs/./x.jpg",
    "inputs\\..\\x.jpg",
    "inputs/%2e%2e/x.jpg",
    "",
]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return make_local_storage(tmp_path / "objects")


def _signed_query(url: str) -> tuple[str, int, str]:
    """The key, expiry and signature a signed URL carries."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    key = parts.path.removeprefix("/objects/")
    return key, int(query["expires"][0]), query["signature"][0]


async def test_signed_url_names_key_operation_expiry_and_signature(storage: LocalStorage) -> None:
    url = await storage.presign_put(KEY, 600)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == "http://storage.test"
    assert parts.path == f"/objects/{KEY}"
    assert query["op"] == ["put"]
    assert len(query["signature"][0]) == 64
    int(query["signature"][0], 16)


async def test_verify_accepts_the_url_it_signed(storage: LocalStorage) -> None:
    key, expires, signature = _signed_query(await storage.presign_get(KEY, 600))
    storage.verify(SignedOperation.GET, key, expires, signature)


async def test_verify_refuses_a_tampered_signature(storage: LocalStorage) -> None:
    key, expires, signature = _signed_query(await storage.presign_get(KEY, 600))
    tampered = ("0" if signature[0] != "0" else "1") + signature[1:]
    with pytest.raises(ApiError) as caught:
        storage.verify(SignedOperation.GET, key, expires, tampered)
    assert caught.value.code is ErrorCode.FORBIDDEN


async def test_verify_refuses_a_non_ascii_signature(storage: LocalStorage) -> None:
    key, expires, _ = _signed_query(await storage.presign_get(KEY, 600))
    with pytest.raises(ApiError) as caught:
        storage.verify(SignedOperation.GET, key, expires, "é" * 64)
    assert caught.value.code is ErrorCode.FORBIDDEN


async def test_verify_refuses_an_expired_url_saying_so(storage: LocalStorage) -> None:
    key, expires, signature = _signed_query(await storage.presign_get(KEY, -1))
    with pytest.raises(ApiError) as caught:
        storage.verify(SignedOperation.GET, key, expires, signature)
    assert caught.value.code is ErrorCode.FORBIDDEN
    assert "expired" in caught.value.message


async def test_verify_refuses_a_changed_expiry(storage: LocalStorage) -> None:
    key, expires, signature = _signed_query(await storage.presign_get(KEY, 600))
    with pytest.raises(ApiError) as caught:
        storage.verify(SignedOperation.GET, key, expires + 3600, signature)
    assert caught.value.code is ErrorCode.FORBIDDEN


async def test_verify_refuses_the_other_operation(storage: LocalStorage) -> None:
    key, expires, signature = _signed_query(await storage.presign_put(KEY, 600))
    with pytest.raises(ApiError) as caught:
        storage.verify(SignedOperation.GET, key, expires, signature)
    assert caught.value.code is ErrorCode.FORBIDDEN


async def test_verify_refuses_another_key(storage: LocalStorage) -> None:
    _, expires, signature = _signed_query(await storage.presign_get(KEY, 600))
    with pytest.raises(ApiError) as caught:
        storage.verify(SignedOperation.GET, OTHER_KEY, expires, signature)
    assert caught.value.code is ErrorCode.FORBIDDEN


async def test_verify_refuses_a_signature_made_with_another_key(tmp_path: Path) -> None:
    other = LocalStorage(tmp_path, "http://storage.test", SIGNING_KEY + b"x", UPLOAD_LIMIT)
    key, expires, signature = _signed_query(await other.presign_get(KEY, 600))
    with pytest.raises(ApiError) as caught:
        make_local_storage(tmp_path).verify(SignedOperation.GET, key, expires, signature)
    assert caught.value.code is ErrorCode.FORBIDDEN


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_invalid_keys_are_refused_everywhere(
    storage: LocalStorage, tmp_path: Path, key: str
) -> None:
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: storage.presign_put(key, 600),
        lambda: storage.presign_get(key, 600),
        lambda: storage.write_stream(key, chunks_of([b"data"]), 4),
        lambda: storage.put_bytes(key, b"data", "image/jpeg"),
        lambda: storage.get_bytes(key),
        lambda: storage.read_head_bytes(key, 16),
        lambda: storage.head(key),
    ]
    for call in calls:
        with pytest.raises(ApiError) as caught:
            await call()
        assert caught.value.code is ErrorCode.VALIDATION_FAILED
    with pytest.raises(ApiError) as caught:
        storage.verify(SignedOperation.PUT, key, 2**40, "0" * 64)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert files_under(tmp_path) == []


async def test_keys_leading_out_of_the_root_through_a_symlink_are_refused(
    storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (storage.root / "inputs").mkdir(parents=True)
    os.symlink(outside, storage.root / "inputs" / "escape")
    with pytest.raises(ApiError) as caught:
        await storage.write_stream("inputs/escape/0.jpg", chunks_of([b"data"]), 4)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert files_under(outside) == []


async def test_put_bytes_then_read_back(storage: LocalStorage) -> None:
    await storage.put_bytes(KEY, b"0123456789", "image/jpeg")
    assert await storage.get_bytes(KEY) == b"0123456789"
    assert await storage.head(KEY) == ObjectInfo(key=KEY, size=10)
    assert await storage.read_head_bytes(KEY, 4) == b"0123"
    assert await storage.read_head_bytes(KEY, 100) == b"0123456789"
    assert (storage.root / KEY).read_bytes() == b"0123456789"


async def test_put_bytes_replaces_an_object_and_ignores_the_upload_limit(
    storage: LocalStorage,
) -> None:
    await storage.put_bytes(KEY, b"old", "image/jpeg")
    large = b"x" * (UPLOAD_LIMIT * 3)
    await storage.put_bytes(KEY, large, "image/png")
    assert await storage.get_bytes(KEY) == large
    assert files_under(storage.root) == [storage.root / KEY]


async def test_missing_objects(storage: LocalStorage) -> None:
    assert await storage.head(KEY) is None
    for read in (storage.get_bytes(KEY), storage.read_head_bytes(KEY, 16)):
        with pytest.raises(ApiError) as caught:
            await read
        assert caught.value.code is ErrorCode.NOT_FOUND


async def test_a_directory_is_not_an_object(storage: LocalStorage) -> None:
    await storage.put_bytes(KEY, b"data", "image/jpeg")
    directory_key = KEY.rsplit("/", 1)[0]
    assert await storage.head(directory_key) is None
    with pytest.raises(ApiError) as caught:
        await storage.get_bytes(directory_key)
    assert caught.value.code is ErrorCode.NOT_FOUND


async def test_read_head_bytes_needs_a_positive_length(storage: LocalStorage) -> None:
    await storage.put_bytes(KEY, b"data", "image/jpeg")
    with pytest.raises(ValueError, match="at least 1"):
        await storage.read_head_bytes(KEY, 0)


async def test_write_stream_stores_chunks_up_to_the_limit(storage: LocalStorage) -> None:
    parts = [b"a" * 500, b"b" * 500, b"c" * (UPLOAD_LIMIT - 1000)]
    stored = await storage.write_stream(KEY, chunks_of(parts), None)
    assert stored == ObjectInfo(key=KEY, size=UPLOAD_LIMIT)
    assert await storage.get_bytes(KEY) == b"".join(parts)
    assert files_under(storage.root) == [storage.root / KEY]


async def test_write_stream_refuses_a_declared_length_over_the_limit_before_reading(
    storage: LocalStorage,
) -> None:
    requested: list[int] = []
    with pytest.raises(ApiError) as caught:
        await storage.write_stream(KEY, chunks_of([b"x"], requested), UPLOAD_LIMIT + 1)
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert requested == []
    assert files_under(storage.root.parent) == []


async def test_write_stream_stops_reading_as_soon_as_the_limit_is_passed(
    storage: LocalStorage,
) -> None:
    requested: list[int] = []
    parts = [b"a" * 600, b"b" * 600, b"c" * 600]
    with pytest.raises(ApiError) as caught:
        await storage.write_stream(KEY, chunks_of(parts, requested), None)
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert requested == [600, 600]
    assert files_under(storage.root) == []


async def test_a_refused_upload_leaves_the_previous_object_untouched(
    storage: LocalStorage,
) -> None:
    await storage.put_bytes(KEY, b"previous", "image/jpeg")
    with pytest.raises(ApiError):
        await storage.write_stream(KEY, chunks_of([b"x" * (UPLOAD_LIMIT + 1)]), None)
    assert await storage.get_bytes(KEY) == b"previous"
    assert files_under(storage.root) == [storage.root / KEY]


async def test_an_interrupted_upload_leaves_nothing_behind(storage: LocalStorage) -> None:
    await storage.put_bytes(KEY, b"previous", "image/jpeg")

    async def broken_body() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.write_stream(KEY, broken_body(), None)
    assert await storage.get_bytes(KEY) == b"previous"
    assert files_under(storage.root) == [storage.root / KEY]


def _large_upload_storage(tmp_path: Path) -> LocalStorage:
    """A store whose upload limit leaves room to stream past the in-memory spool."""
    return LocalStorage(tmp_path / "objects", "http://storage.test", SIGNING_KEY, 3 * SPOOL_BYTES)


async def test_an_upload_larger_than_the_spool_streams_into_its_file(tmp_path: Path) -> None:
    storage = _large_upload_storage(tmp_path)
    parts = [bytes([n]) * (SPOOL_BYTES // 2 + 1) for n in range(4)]
    stored = await storage.write_stream(KEY, chunks_of(parts), None)
    assert stored == ObjectInfo(key=KEY, size=sum(map(len, parts)))
    assert (storage.root / KEY).read_bytes() == b"".join(parts)
    assert files_under(storage.root) == [storage.root / KEY]


@pytest.mark.parametrize("failure", ["over the limit", "client went away"])
async def test_a_streamed_upload_that_fails_past_the_spool_leaves_nothing_behind(
    tmp_path: Path, failure: str
) -> None:
    storage = _large_upload_storage(tmp_path)
    await storage.put_bytes(KEY, b"previous", "image/jpeg")

    async def body() -> AsyncIterator[bytes]:
        for _ in range(2):
            yield b"x" * SPOOL_BYTES
        if failure == "client went away":
            raise ConnectionResetError(failure)
        yield b"x" * (SPOOL_BYTES + 1)

    with pytest.raises((ApiError, ConnectionResetError)):
        await storage.write_stream(KEY, body(), None)
    assert (storage.root / KEY).read_bytes() == b"previous"
    assert files_under(storage.root) == [storage.root / KEY]


async def test_results_get_their_own_larger_limit_and_inputs_keep_the_upload_limit(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(
        tmp_path,
        "http://storage.test",
        SIGNING_KEY,
        UPLOAD_LIMIT,
        max_result_bytes=UPLOAD_LIMIT * 4,
    )
    result = b"r" * (UPLOAD_LIMIT * 3)
    stored = await storage.write_stream("outputs/u/j/0_result.png", chunks_of([result]), None)
    assert stored.size == len(result)
    with pytest.raises(ApiError) as refused:
        await storage.write_stream("inputs/u/j/0.jpg", chunks_of([result]), None)
    assert refused.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    with pytest.raises(ApiError):
        await storage.write_stream(
            "previews/u/j/0_thumb.jpg", chunks_of([b"p" * (UPLOAD_LIMIT * 5)]), None
        )
    assert await storage.head("inputs/u/j/0.jpg") is None
    assert await storage.head("previews/u/j/0_thumb.jpg") is None


async def test_delete_many_removes_the_files_and_the_directories_left_empty(
    storage: LocalStorage, tmp_path: Path
) -> None:
    kept = "inputs/user-1/job-2/0.jpg"
    for key in (KEY, OTHER_KEY, kept):
        await storage.put_bytes(key, b"data", "image/jpeg")
    await storage.delete_many([KEY, OTHER_KEY, "outputs/user-1/job-1/0_result.png"])
    assert await storage.head(KEY) is None
    assert await storage.head(OTHER_KEY) is None
    assert await storage.head(kept) is not None
    root = tmp_path / "objects"
    assert not (root / "inputs/user-1/job-1").exists()
    assert (root / "inputs/user-1/job-2").is_dir()
    assert root.is_dir()


async def test_delete_many_refuses_keys_outside_the_layout(storage: LocalStorage) -> None:
    await storage.put_bytes(KEY, b"data", "image/jpeg")
    with pytest.raises(ApiError) as raised:
        await storage.delete_many([KEY, "inputs/../secrets/x.jpg"])
    assert raised.value.code is ErrorCode.VALIDATION_FAILED


async def test_a_failing_file_system_is_storage_unavailable(storage: LocalStorage) -> None:
    # a regular file where the job's directory should be: every call under it fails
    blocked = storage.root / "outputs" / "user-1" / "job-1"
    blocked.parent.mkdir(parents=True)
    blocked.write_bytes(b"not a directory")
    key = "outputs/user-1/job-1/0_result.png"
    with pytest.raises(StorageUnavailableError):
        await storage.put_bytes(key, b"result", "image/png")
    with pytest.raises(StorageUnavailableError):
        await storage.write_stream(key, chunks_of([b"result"]), 6)
    with pytest.raises(StorageUnavailableError):
        await storage.delete_many([key])
    assert blocked.read_bytes() == b"not a directory"
