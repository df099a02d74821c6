"""Which files a template's set holds, decided on the server when the job ends.

The server names every file before the worker starts, so delivery can sign one PUT URL per
file and the callback can refuse any other key. A file's `role` says what it is (a pack
role, a thumbnail size, `before_after`, `share_card`); `idx` is the photo it is made from.
Sizes that depend on the photo (`전후비교`) are left to the worker to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3api.jobs.output_sets import keys
from s3api.jobs.records import ItemRecord, JobRecord
from s3api.worker.compose.product_pack import roles_for
from s3api.worker.compose.share_card import CARD_HEIGHT, CARD_WIDTH
from s3api.worker.compose.thumbnails import THUMBNAIL_SIZES

BEFORE_AFTER = "전후비교"
SHARE_CARD = "고객공유카드"
PRODUCT_PACK = "상품팩"
THUMBNAILS = "썸네일8종"
ASSEMBLED_TEMPLATES = frozenset({BEFORE_AFTER, SHARE_CARD, PRODUCT_PACK, THUMBNAILS})
"""Templates composed from a job's results alone; the others need renders of their own."""
COMPOSED_EXTENSION = "jpg"


def _file(
    job: JobRecord, name: str, role: str, idx: int | None, size: tuple[int, int] | None
) -> dict[str, Any]:
    filename = f"{name}.{COMPOSED_EXTENSION}"
    width, height = size if size is not None else (None, None)
    return {
        "name": filename,
        "role": role,
        "idx": idx,
        "key": keys.file_key(job.user_id, job.id, filename),
        "width": width,
        "height": height,
    }


def planned_files(
    template: str, job: JobRecord, done: Sequence[ItemRecord]
) -> list[dict[str, Any]]:
    """The set's files in their documented order, from the job's done photos (by idx)."""
    photos = sorted(done, key=lambda item: item.idx)
    if template == BEFORE_AFTER:
        return [
            _file(job, f"before_after_{item.idx}", "before_after", item.idx, None)
            for item in photos
        ]
    if template == SHARE_CARD:
        return [_file(job, "share_card", "share_card", None, (CARD_WIDTH, CARD_HEIGHT))]
    if template == PRODUCT_PACK:
        return [
            _file(job, role.name, role.name, item.idx, (role.width, role.height))
            for role, item in zip(roles_for(len(photos)), photos, strict=False)
        ]
    if template == THUMBNAILS:
        return [
            _file(
                job, f"thumb_{item.idx}_{size.name}", size.name, item.idx, (size.width, size.height)
            )
            for item in photos
            for size in THUMBNAIL_SIZES
        ]
    raise ValueError(f"template {template!r} is not assembled from results")
