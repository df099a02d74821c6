"""Image type detection by magic bytes."""

from __future__ import annotations

import pytest

from s3api.storage.sniff import SNIFF_BYTES, detect_image_type

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01"
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
WEBP_HEAD = b"RIFF\x24\x00\x00\x00WEBPVP8 "


@pytest.mark.parametrize(
    ("head", "expected"),
    [(JPEG_HEAD, "jpeg"), (PNG_HEAD, "png"), (WEBP_HEAD, "webp")],
)
def test_detects_supported_types_from_sniffed_bytes(head: bytes, expected: str) -> None:
    assert detect_image_type(head[:SNIFF_BYTES]) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"\x89PNG\r\n\x1a\x0b\x00\x00\x00\rIHDR",
        b"<html><body>hi</body></html>",
        b"",
    ],
)
def test_rejects_other_content(head: bytes) -> None:
    assert detect_image_type(head) is None


@pytest.mark.parametrize("head", [JPEG_HEAD[:2], PNG_HEAD[:7], WEBP_HEAD[:11]])
def test_rejects_truncated_signatures(head: bytes) -> None:
    assert detect_image_type(head) is None


def test_sniff_length_covers_every_signature() -> None:
    assert max(len(JPEG_HEAD[:3]), len(PNG_HEAD[:8]), len(WEBP_HEAD[:12])) <= SNIFF_BYTES
