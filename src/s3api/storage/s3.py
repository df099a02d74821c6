"""Objects in any S3-compatible store (Cloudflare R2, AWS S3, MinIO) through boto3 and SigV4."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from s3api.common.errors import ConfigurationError, StorageUnavailableError
from s3api.errors import ApiError, ErrorCode
from s3api.settings import Settings
from s3api.storage.base import ObjectInfo

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_UNSATISFIABLE_RANGE_CODE = "InvalidRange"
DELETE_BATCH_SIZE = 1000
"""The most keys one `DeleteObjects` call accepts."""


@dataclass(frozen=True)
class S3Connection:
    """Where the bucket is and the credentials that reach it."""

    bucket: str
    endpoint_url: str | None
    region: str
    access_key_id: str
    secret_access_key: str


def s3_connection_from_settings(settings: Settings) -> S3Connection:
    """The connection from the `S3_*` variables, each falling back to its `R2_*` twin.

    `R2_ACCOUNT_ID` stands for the endpoint `https://<account>.r2.cloudflarestorage.com`
    in region `auto`; without an endpoint the store is AWS S3 in `S3_REGION`.
    """
    if settings.s3_endpoint_url or not settings.r2_account_id:
        endpoint_url, region = settings.s3_endpoint_url, settings.s3_region
    else:
        endpoint_url = f"https://{settings.r2_account_id}.r2.cloudflarestorage.com"
        region = "auto"
    bucket = settings.s3_bucket or settings.r2_bucket_name
    access_key_id = settings.s3_access_key_id or settings.r2_access_key_id
    secret_access_key = settings.s3_secret_access_key or settings.r2_secret_access_key
    has_location = endpoint_url is not None or region != "auto"
    if bucket and access_key_id and secret_access_key and has_location:
        return S3Connection(bucket, endpoint_url, region, access_key_id, secret_access_key)
    missing = [
        names
        for names, value in (
            ("S3_BUCKET (or R2_BUCKET_NAME)", bucket),
            ("S3_ACCESS_KEY_ID (or R2_ACCESS_KEY_ID)", access_key_id),
            ("S3_SECRET_ACCESS_KEY (or R2_SECRET_ACCESS_KEY)", secret_access_key),
            ("S3_ENDPOINT_URL (or R2_ACCOUNT_ID, or S3_REGION for AWS S3)", has_location),
        )
        if not value
    ]
    raise ConfigurationError("STORAGE_BACKEND=s3 needs these variables set: " + ", ".join(missing))


class S3Storage:
    """An S3 bucket behind standard SigV4 pre-signed URLs.

    A pre-signed PUT cannot cap the size of what is uploaded (only pre-signed POST
    policies can), so `max_upload_bytes` is enforced afterwards: confirm-upload reads
    each object's size through `head` and refuses objects over the limit.
    Content-Type is not signed, so a PUT with any content type is accepted.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        max_upload_bytes: int,
    ) -> None:
        self.bucket = bucket
        self.max_upload_bytes = max_upload_bytes
        self.delete_batch_size = DELETE_BATCH_SIZE
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """A store configured from the `S3_*` or `R2_*` variables; `ConfigurationError` if unset."""
        connection = s3_connection_from_settings(settings)
        return cls(
            bucket=connection.bucket,
            endpoint_url=connection.endpoint_url,
            region=connection.region,
            access_key_id=connection.access_key_id,
            secret_access_key=connection.secret_access_key,
            max_upload_bytes=settings.max_upload_bytes,
        )

    async def presign_put(self, key: str, expires_in: int) -> str:
        """A SigV4 URL that accepts one PUT of the object, with any content type."""
        return await asyncio.to_thread(
            self._client.generate_presigned_url,
            "put_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )

    async def presign_get(self, key: str, expires_in: int) -> str:
        """A SigV4 URL that serves the object by GET."""
        return await asyncio.to_thread(
            self._client.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires_in,
            HttpMethod="GET",
        )

    async def head(self, key: str) -> ObjectInfo | None:
        """Size of the object, or None when it does not exist."""
        with _store_failures("HEAD"):
            try:
                response = await asyncio.to_thread(
                    self._client.head_object, Bucket=self.bucket, Key=key
                )
            except ClientError as exc:
                if _error_code(exc) in _MISSING_OBJECT_CODES:
                    return None
                raise
        return ObjectInfo(key=key, size=response["ContentLength"])

    async def read_head_bytes(self, key: str, length: int) -> bytes:
        """The first `length` (at least 1) bytes of the object, by a ranged GET."""
        if length < 1:
            raise ValueError("length must be at least 1")
        with _store_failures("GET"):
            return await asyncio.to_thread(self._read, key, f"bytes=0-{length - 1}")

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store an object directly, with its content type."""
        with _store_failures("PUT"):
            await asyncio.to_thread(
                self._client.put_object,
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
            )

    async def get_bytes(self, key: str) -> bytes:
        """The whole object; `NOT_FOUND` when it does not exist."""
        with _store_failures("GET"):
            return await asyncio.to_thread(self._read, key, None)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """`DeleteObjects` in batches of 1000; S3 deletes a missing key without complaint."""
        unique = list(dict.fromkeys(keys))
        size = self.delete_batch_size
        with _store_failures("DeleteObjects"):
            for start in range(0, len(unique), size):
                await asyncio.to_thread(self._delete_batch, unique[start : start + size])

    async def list_keys(self, start_after: str, limit: int) -> list[str]:
        """One `ListObjectsV2` page: up to `limit` (at most 1000) keys after `start_after`."""
        with _store_failures("ListObjectsV2"):
            response = await asyncio.to_thread(
                self._client.list_objects_v2,
                Bucket=self.bucket,
                StartAfter=start_after,
                MaxKeys=limit,
            )
        return [entry["Key"] for entry in response.get("Contents", []) if "Key" in entry]

    async def close(self) -> None:
        """Close the client's connection pool."""
        await asyncio.to_thread(self._client.close)

    def _read(self, key: str, byte_range: str | None) -> bytes:
        """Blocking GET of the object or of a byte range of it; runs in a worker thread."""
        try:
            if byte_range is None:
                response = self._client.get_object(Bucket=self.bucket, Key=key)
            else:
                response = self._client.get_object(Bucket=self.bucket, Key=key, Range=byte_range)
        except ClientError as exc:
            code = _error_code(exc)
            if code == _UNSATISFIABLE_RANGE_CODE:
                return b""
            if code in _MISSING_OBJECT_CODES:
                raise ApiError(ErrorCode.NOT_FOUND) from exc
            raise
        body = response["Body"]
        try:
            return body.read()
        finally:
            body.close()

    def _delete_batch(self, keys: list[str]) -> None:
        """One blocking `DeleteObjects` call; a key the store refused to delete is raised."""
        response = self._client.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        errors = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
        if errors:
            first = errors[0]
            raise StorageUnavailableError(
                f"S3 refused to delete {len(errors)} objects, e.g. "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )


@contextmanager
def _store_failures(operation: str) -> Iterator[None]:
    """S3 unreachable or refusing (not a missing object, handled by each call) is
    `StorageUnavailableError`: nothing the client sent was wrong, and a retry may succeed."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailableError(f"S3 {operation} failed: {exc}") from exc


def _error_code(exc: ClientError) -> str:
    """The S3 error code of a failed call ("404" for a HEAD, which has no body)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
