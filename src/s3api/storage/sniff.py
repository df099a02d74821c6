"""Image type from an object's leading bytes, so confirm-upload trusts content, not names."""

from __future__ import annotations

SNIFF_BYTES = 16
"""How many leading bytes `detect_image_type` needs to recognise every supported type."""

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RIFF_MAGIC = b"RIFF"
_WEBP_FORM_TYPE = b"WEBP"


def detect_image_type(head: bytes) -> str | None:
    """The type, "jpeg", "png" or "webp", that `head` starts like; None for anything else."""
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    if head.startswith(_PNG_SIGNATURE):
        return "png"
    if head.startswith(_RIFF_MAGIC) and head[8:12] == _WEBP_FORM_TYPE:
        return "webp"
    return None
