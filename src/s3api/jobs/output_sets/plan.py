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
from s3api.worker.compose.draft_board import BOARD_HEIGHT, BOARD_WIDTH
from s3api.worker.compose.option_board import board_size
from s3api.worker.compose.product_pack import roles_for
from s3api.worker.compose.share_card import CARD_HEIGHT, CARD_WIDTH
from s3api.worker.compose.thumbnails import THUMBNAIL_SIZES

BEFORE_AFTER = "전후비교"
SHARE_CARD = "고객공유카드"
PRODUCT_PACK = "상품팩"
THUMBNAILS = "썸네일8종"
DRAFT_PACK = "시안3안팩"
OPTION_BOARD = "옵션보드"
ASSEMBLED_TEMPLATES = frozenset(
    {BEFORE_AFTER, SHARE_CARD, PRODUCT_PACK, THUMBNAILS, DRAFT_PACK, OPTION_BOARD}
)
"""Every template whose set is assembled (drafts and options from the variants' renders)."""
COMPOSED_EXTENSION = "jpg"


def _file(
    job: JobRecord,
    name: str,
    role: str,
    idx: int | None,
    size: tuple[int, int] | None,
    variant: int | None = None,
) -> dict[str, Any]:
    filename = f"{name}.{COMPOSED_EXTENSION}"
    width, height = size if size is not None else (None, None)
    entry: dict[str, Any] = {
        "name": filename,
        "role": role,
        "idx": idx,
        "key": keys.file_key(job.user_id, job.id, filename),
        "width": width,
        "height": height,
    }
    if variant is not None:
        entry["variant"] = variant
    return entry


def _variant_files(
    template: str, job: JobRecord, photos: Sequence[ItemRecord], names: Sequence[str]
) -> list[dict[str, Any]]:
    """Per photo, each variant's render (at the photo's size), then the photo's board."""
    files: list[dict[str, Any]] = []
    for item in photos:
        if template == DRAFT_PACK:
            files += [
                _file(job, f"draft_{item.idx}_{name}", "draft", item.idx, None, variant)
                for variant, name in enumerate(names)
            ]
            board = (BOARD_WIDTH, BOARD_HEIGHT)
            files.append(_file(job, f"draft_board_{item.idx}", "draft_board", item.idx, board))
        else:
            files += [
                _file(job, f"option_{item.idx}_{variant + 1}", "option", item.idx, None, variant)
                for variant in range(len(names))
            ]
            board = board_size(len(names))
            files.append(_file(job, f"option_board_{item.idx}", "option_board", item.idx, board))
    return files


def planned_files(
    template: str,
    job: JobRecord,
    done: Sequence[ItemRecord],
    variant_names: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The set's files in their documented order, from the job's done photos (by idx) and,
    for drafts and options, the names of the variants each photo was rendered in."""
    photos = sorted(done, key=lambda item: item.idx)
    if template in (DRAFT_PACK, OPTION_BOARD):
        if not variant_names:
            raise ValueError(f"template {template!r} needs the variants its photos rendered")
        return _variant_files(template, job, photos, variant_names)
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
    raise ValueError(f"template {template!r} has no set")
