"""The set callback: check the reported files against the plan and storage, then record."""

from __future__ import annotations

import asyncio
from typing import Any

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.jobs.output_sets import repository
from s3api.jobs.output_sets.lifecycle import OutputSetLifecycle, SetResult
from s3api.jobs.output_sets.repository import OutputSetRecord
from s3api.jobs.output_sets.schemas import (
    OutputSetCallback,
    OutputSetCallbackOutcome,
    OutputSetStatus,
)
from s3api.storage.base import ObjectStorage
from s3api.storage.sniff import SNIFF_BYTES, detect_image_type

_ZIP_SIGNATURE = b"PK\x03\x04"
_STORAGE_PARALLELISM = 16


def _refused(message: str, **details: object) -> ApiError:
    return ApiError(ErrorCode.VALIDATION_FAILED, message, dict(details))


class OutputSetService:
    """`POST /jobs/{id}/output-set/callback`."""

    def __init__(
        self,
        database: Database,
        lifecycle: OutputSetLifecycle,
        storage: ObjectStorage,
        max_object_bytes: int,
    ) -> None:
        self.database = database
        self.lifecycle = lifecycle
        self.storage = storage
        self.max_object_bytes = max_object_bytes

    async def record_callback(
        self, job_id: str, body: OutputSetCallback
    ) -> OutputSetCallbackOutcome:
        """Record the set's answer; a `ready` one's objects are checked first, outside the
        transaction, unless the set has already ended (then it answers as a duplicate)."""
        status = OutputSetStatus(body.status)
        files: tuple[dict[str, Any], ...] = ()
        if status is OutputSetStatus.READY:
            async with self.database.read() as connection:
                record = await repository.find_set(connection, job_id)
            if (
                record is not None
                and record.set_id == body.set_id
                and record.queued
                and record.status is OutputSetStatus.PENDING
            ):
                files = _checked_files(record, body)
                await self._check_objects(record)
        outcome = await self.lifecycle.record_result(
            job_id,
            SetResult(
                set_id=body.set_id,
                status=status,
                idempotency_key=body.idempotency_key,
                error=body.error,
                files=files,
            ),
        )
        return OutputSetCallbackOutcome(
            processed=outcome.processed,
            duplicate=outcome.duplicate,
            set_status=outcome.set_status,
        )

    async def _check_objects(self, record: OutputSetRecord) -> None:
        """Every file is a JPEG and the zip a zip, each stored, not empty and within the
        result limit; else 409 `UPLOAD_INCOMPLETE` naming the keys."""
        assert record.zip_key is not None
        expected = [(str(entry["key"]), "jpeg") for entry in record.files]
        expected.append((record.zip_key, "zip"))
        gate = asyncio.Semaphore(_STORAGE_PARALLELISM)

        async def problem(key: str, kind: str) -> str | None:
            async with gate:
                info = await self.storage.head(key)
                if info is None:
                    return "missing"
                if info.size == 0 or info.size > self.max_object_bytes:
                    return "invalid"
                head = await self.storage.read_head_bytes(key, SNIFF_BYTES)
            if kind == "zip":
                return None if head.startswith(_ZIP_SIGNATURE) else "invalid"
            return None if detect_image_type(head) == kind else "invalid"

        problems = await asyncio.gather(*(problem(key, kind) for key, kind in expected))
        missing = [key for (key, _), p in zip(expected, problems, strict=True) if p == "missing"]
        invalid = [key for (key, _), p in zip(expected, problems, strict=True) if p == "invalid"]
        if missing or invalid:
            raise ApiError(
                ErrorCode.UPLOAD_INCOMPLETE,
                "Some files of the set are missing, too large or not of their type",
                {"missing": missing, "invalid": invalid},
            )


def _checked_files(record: OutputSetRecord, body: OutputSetCallback) -> tuple[dict[str, Any], ...]:
    """The planned files with their reported sizes; 400 unless the report names exactly the
    planned files under their keys, at their planned sizes where the plan fixed one."""
    if body.zip_key != record.zip_key:
        raise _refused("zip_key is not this set's key", field="zip_key")
    reported = {entry.name: entry for entry in body.files or []}
    planned = {str(entry["name"]) for entry in record.files}
    if set(reported) != planned or len(reported) != len(body.files or []):
        raise _refused(
            "files must name each of the set's files once",
            field="files",
            missing=sorted(planned - set(reported)),
            unexpected=len(set(reported) - planned),
        )
    measured = []
    for entry in record.files:
        report = reported[str(entry["name"])]
        if report.key != entry["key"]:
            raise _refused(
                "a file's key is not the set's key for it", field="files", name=entry["name"]
            )
        fixed = entry["width"] is not None
        if fixed and (report.width, report.height) != (entry["width"], entry["height"]):
            raise _refused(
                "a file's size is not the template's size for it",
                field="files",
                name=entry["name"],
                width=entry["width"],
                height=entry["height"],
            )
        measured.append(entry | {"width": report.width, "height": report.height})
    return tuple(measured)
