"""The demo's input photos: image files from a folder, or synthetic samples drawn on the spot."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from s3api.demo.client import DemoError
from s3api.worker.engine.samples import jpeg_bytes, product_image, room_image

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""The server's default per-object upload limit; larger files would be refused there."""
SIGNATURE_LENGTH = 12


def image_format(leading_bytes: bytes) -> str | None:
    """`jpeg`, `png` or `webp` when the bytes start like such a file (as the server checks)."""
    if leading_bytes.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if leading_bytes.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if leading_bytes[:4] == b"RIFF" and leading_bytes[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class SkippedFile:
    """A file of the photo folder that will not be uploaded, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class PhotoFolder:
    """The uploadable images of a folder, sorted by name, and the files passed over."""

    folder: Path
    photos: list[Path]
    skipped: list[SkippedFile] = field(default_factory=list)


def _skip_reason(path: Path) -> str | None:
    """Why a folder entry cannot be uploaded, or None when it can."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return "not a .jpg, .jpeg, .png or .webp file"
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        return "larger than the 20 MiB upload limit"
    with path.open("rb") as handle:
        if image_format(handle.read(SIGNATURE_LENGTH)) is None:
            return "its content is not a JPEG, PNG or WebP image"
    return None


def find_photos(folder: Path) -> PhotoFolder:
    """The JPEG, PNG and WebP images directly inside `folder`; raises `NO_PHOTOS` if none."""
    if not folder.is_dir():
        raise DemoError("NO_PHOTOS", f"{folder} is not a folder")
    photos: list[Path] = []
    skipped: list[SkippedFile] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        reason = _skip_reason(path)
        if reason is None:
            photos.append(path)
        else:
            skipped.append(SkippedFile(path.name, reason))
    if not photos:
        raise DemoError("NO_PHOTOS", f"no JPEG, PNG or WebP images in {folder}")
    return PhotoFolder(folder=folder, photos=photos, skipped=skipped)


def write_sample_photos(preset_id: str, count: int, folder: Path) -> list[Path]:
    """Draw `count` synthetic photos for the preset as JPEGs in `folder`: rooms or products,
    each one another variant (colours and layout), the same every run."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        image = (
            product_image(seed=11 + index, variant=index)
            if preset_id == "seller"
            else room_image(seed=7 + index, variant=index)
        )
        path = folder / f"sample_{index:02d}.jpg"
        path.write_bytes(jpeg_bytes(image))
        paths.append(path)
    return paths
