"""Share use cases: issue and revoke a job's link (its owner), open it (anyone holding it).

A link is `{PUBLIC_BASE_URL}/share/{token}`, the token 32 random bytes; only its SHA-256 is
stored, so a copy of the database opens no page. A job has one link at a time: issuing
another replaces it, since the first token cannot be shown again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from s3api.db.engine import Database
from s3api.errors import ApiError, ErrorCode
from s3api.jobs import item_repository
from s3api.jobs import repository as jobs_repository
from s3api.jobs.output_sets import repository as sets_repository
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.jobs.states import TERMINAL, ItemStatus
from s3api.presets.catalog import PRESETS
from s3api.settings import Settings
from s3api.shares import repository
from s3api.shares.page import SharedJob, SharedPair
from s3api.shares.palette import palette_summary
from s3api.shares.schemas import ShareCreate, ShareLink, ShareRevoked
from s3api.storage.base import ObjectStorage
from s3api.storage.sniff import detect_image_type
from s3api.timeutil import utcnow

Side = Literal["before", "after"]
SIDES: tuple[Side, ...] = ("before", "after")
TOKEN_BYTES = 32
_TOKEN_FORM = re.compile(r"[A-Za-z0-9_-]{43}")
"""`secrets.token_urlsafe(32)`: 43 URL-safe characters."""


class ShareUnavailableError(Exception):
    """The link opens nothing: 404 (unknown, revoked, job deleted) or 410 (expired)."""

    def __init__(self, status_code: Literal[404, 410]) -> None:
        super().__init__(status_code)
        self.status_code = status_code


@dataclass(frozen=True)
class SharedImage:
    """One image of a shared pair, as stored."""

    data: bytes
    media_type: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class ShareService:
    """Issues, revokes and opens share links."""

    def __init__(self, database: Database, storage: ObjectStorage, settings: Settings) -> None:
        self.database = database
        self.storage = storage
        self.link_seconds = settings.share_link_seconds
        self.public_base_url = settings.resolved_public_base_url
        # replaceable, so tests move past a link's expiry without waiting
        self.clock: Callable[[], datetime] = utcnow

    async def create_share(
        self, user_id: str, job_id: str, payload: ShareCreate | None
    ) -> ShareLink:
        """A new link to a finished job of the caller's with at least one done photo."""
        seconds = self._lifetime(payload)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        expires_at = now + timedelta(seconds=seconds)
        async with self.database.transaction() as connection:
            # locked: a deletion of the job waits for this link, or this sees the job gone
            job = await jobs_repository.find_job(connection, job_id, user_id=user_id, lock=True)
            _check_shareable(job)
            await repository.replace_share(connection, job_id, _token_hash(token), expires_at, now)
        return ShareLink(url=f"{self.public_base_url}/share/{token}", expires_at=expires_at)

    async def revoke_share(self, user_id: str, job_id: str) -> ShareRevoked:
        """Withdraw the job's link at once; its page and images answer 404 from now on."""
        async with self.database.transaction() as connection:
            job = await jobs_repository.find_job(connection, job_id, user_id=user_id, lock=True)
            if job is None:
                raise ApiError(ErrorCode.JOB_NOT_FOUND)
            return ShareRevoked(revoked=await repository.delete_share(connection, job_id))

    async def shared_job(self, token: str) -> SharedJob:
        """What the page of `token` shows."""
        share_expires_at, job, items = await self._open(token)
        async with self.database.read() as connection:
            output_set = await sets_repository.find_set(connection, job.id)
        # a drafts or options job's results are its variant 0: the palette is what made them
        variants = output_set.variants if output_set is not None else None
        shown = variants[0]["concepts"] if variants else job.concepts
        preset = PRESETS.get(job.preset)
        return SharedJob(
            title=preset.name if preset is not None else "Before and after",
            pairs=tuple(
                SharedPair(
                    number=item.idx + 1,
                    # relative to the page, so the links survive a proxy's path prefix
                    before_url=f"{token}/{item.idx}/before",
                    after_url=f"{token}/{item.idx}/after",
                )
                for item in items
                if item.status is ItemStatus.DONE
            ),
            palette=palette_summary(shown, job.protect),
            link_expires_at=share_expires_at,
        )

    async def shared_image(self, token: str, idx: int, side: Side) -> SharedImage:
        """The input (`before`) or result (`after`) of a done photo of the shared job."""
        _, _, items = await self._open(token)
        item = next((i for i in items if i.idx == idx and i.status is ItemStatus.DONE), None)
        if item is None:
            raise ShareUnavailableError(404)
        try:
            data = await self.storage.get_bytes(
                item.input_key if side == "before" else item.output_key
            )
        except ApiError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                raise ShareUnavailableError(404) from exc
            raise
        image_type = detect_image_type(data[:16])
        if image_type is None:
            raise ShareUnavailableError(404)
        return SharedImage(data, f"image/{image_type}")

    def _lifetime(self, payload: ShareCreate | None) -> int:
        asked = payload.expires_in if payload is not None else None
        if asked is None:
            return self.link_seconds
        if asked > self.link_seconds:
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                f"expires_in must be at most {self.link_seconds} seconds",
                {"field": "expires_in", "max": self.link_seconds},
            )
        return asked

    async def _open(self, token: str) -> tuple[datetime, JobRecord, list[ItemRecord]]:
        """The live share of `token` with its job and items, else `ShareUnavailableError`.

        The lookup key is the token's SHA-256, which a caller cannot steer byte by byte, so
        the index search leaks nothing of a stored token; the hashes are then compared in
        constant time all the same."""
        if not _TOKEN_FORM.fullmatch(token):
            raise ShareUnavailableError(404)
        presented = _token_hash(token)
        async with self.database.read() as connection:
            share = await repository.find_share(connection, presented)
            if share is None or not hmac.compare_digest(share.token_hash, presented):
                raise ShareUnavailableError(404)
            job = await jobs_repository.find_job(connection, share.job_id)
            if job is None:
                raise ShareUnavailableError(404)
            if self.clock() >= share.expires_at or job.expired_at is not None:
                raise ShareUnavailableError(410)
            items = await item_repository.find_items(connection, job.id)
        return share.expires_at, job, items


def _check_shareable(job: JobRecord | None) -> None:
    if job is None:
        raise ApiError(ErrorCode.JOB_NOT_FOUND)
    if job.status not in TERMINAL:
        raise ApiError(
            ErrorCode.JOB_INVALID_TRANSITION,
            f"Job is {job.status.value}; only finished jobs can be shared",
            {"status": job.status.value},
        )
    if job.expired_at is not None:
        raise ApiError(ErrorCode.INPUTS_EXPIRED, "The job's photos were removed by retention")
    if job.done_items == 0:
        raise ApiError(
            ErrorCode.JOB_INVALID_TRANSITION,
            "No photo of this job is done; there is nothing to share",
            {"status": job.status.value, "done_items": 0},
        )
