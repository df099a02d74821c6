"""Builds the configured object storage backend and, for local storage, its routes."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter

from s3api.settings import Settings, StorageBackend
from s3api.storage.base import ObjectStorage, UploadAdmission
from s3api.storage.local import LocalStorage
from s3api.storage.routes import build_local_object_router
from s3api.storage.s3 import S3Storage

_LOCAL_URL_KEY_LABEL = b"s3api local object URL signing key v1"


def build_storage(settings: Settings) -> ObjectStorage:
    """The backend that `STORAGE_BACKEND` names, configured from the settings."""
    if settings.storage_backend is StorageBackend.S3:
        return S3Storage.from_settings(settings)
    return LocalStorage(
        root=settings.s3api_data_dir / "objects",
        base_url=settings.resolved_public_base_url,
        signing_key=local_url_signing_key(settings.jwt_key),
        max_upload_bytes=settings.max_upload_bytes,
        max_result_bytes=settings.max_result_bytes,
    )


def local_url_signing_key(jwt_key: str) -> bytes:
    """A key for local object URLs derived from the JWT secret, stable across restarts.

    Deriving it keeps the URL signatures and the tokens under different keys.
    """
    return hmac.new(jwt_key.encode(), _LOCAL_URL_KEY_LABEL, hashlib.sha256).digest()


def local_object_router(storage: ObjectStorage, admits_upload: UploadAdmission) -> APIRouter | None:
    """The routes that answer local signed URLs; None for stores that serve their own."""
    if isinstance(storage, LocalStorage):
        return build_local_object_router(storage, admits_upload)
    return None
