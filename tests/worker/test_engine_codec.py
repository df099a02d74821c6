"""Decoding uploads and encoding results/previews."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from s3api.worker.engine import ImageDecodeError, decode_image, encode_png, encode_preview
from s3api.worker.engine.samples import jpeg_bytes, room_image


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size but carries no pixel data (enough for Image.open)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + body + end


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not an image",
        b"name,price\nchair,12\n",
        b"\xff\xd8\xff\xe0" + bytes(200),
    ],
    ids=["empty", "garbage", "text-file", "jpeg-magic-only"],
)
def test_non_images_raise_decode_error(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(data)


def test_truncated_jpeg_raises_decode_error() -> None:
    data = jpeg_bytes(room_image(320, 240))
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2])


def test_truncated_png_raises_decode_error() -> None:
    data = encode_png(room_image(320, 240))
    with pytest.raises(ImageDecodeError):
        decode_image(data[: len(data) - 200])


def test_unsupported_format_is_rejected() -> None:
    gif = _encode(Image.new("RGB", (16, 16), (200, 10, 10)), "GIF")
    with pytest.raises(ImageDecodeError, match="not a JPEG, PNG or WebP"):
        decode_image(gif)


@pytest.mark.parametrize("side", [9_000, 20_000])
def test_oversized_images_are_rejected_before_decoding(side: int) -> None:
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(_png_header_only(side, side))


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(ImageDecodeError, ValueError)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_lossless_formats_decode_exactly(fmt: str) -> None:
    original = room_image(200, 150)
    options: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    decoded = decode_image(_encode(Image.fromarray(original), fmt, **options))
    assert decoded.dtype == np.uint8
    assert np.array_equal(decoded, original)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK"])
def test_other_modes_become_rgb(mode: str) -> None:
    image = Image.fromarray(room_image(64, 48)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    decoded = decode_image(_encode(image, fmt))
    assert decoded.shape == (48, 64, 3)


def test_phone_style_multi_picture_jpeg_decodes_first_frame() -> None:
    first, second = room_image(40, 30), np.zeros((30, 40, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(first).save(
        buffer, format="MPO", save_all=True, append_images=[Image.fromarray(second)], quality=95
    )
    decoded = decode_image(buffer.getvalue())
    assert decoded.shape == (30, 40, 3)
    assert np.abs(decoded.astype(np.int16) - first).mean() < 6


def test_exif_orientation_is_not_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = _encode(Image.fromarray(room_image(60, 40)), "JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).getexif()[0x0112] == 6
    assert decode_image(data).shape == (40, 60, 3)


def test_png_round_trips_exactly() -> None:
    image = room_image(123, 77)
    data = encode_png(image)
    assert data.startswith(b"\x89PNG")
    assert np.array_equal(decode_image(data), image)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (800, 600, (512, 384)),
        (600, 2000, (154, 512)),
        (1000, 1000, (512, 512)),
        (300, 100, (300, 100)),
    ],
)
def test_preview_is_small_jpeg_with_kept_aspect(
    width: int, height: int, expected: tuple[int, int]
) -> None:
    preview = Image.open(io.BytesIO(encode_preview(room_image(width, height))))
    assert preview.format == "JPEG"
    assert preview.size == expected
    assert max(preview.size) <= 512
    assert preview.width / preview.height == pytest.approx(width / height, rel=0.01)
