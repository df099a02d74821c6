"""Decoding uploads to RGB arrays and encoding results (PNG) and previews (JPEG)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from s3api.worker.engine.arrays import RGBImage

MAX_PIXELS = 80_000_000
"""Largest accepted input, in pixels; bigger images are rejected as decompression bombs."""
PREVIEW_SIDE = 512
"""Longest side of the preview JPEG."""
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
"""Pillow format names the engine accepts."""
_PNG_COMPRESS_LEVEL = 2
_PREVIEW_QUALITY = 85


class ImageDecodeError(ValueError):
    """The input bytes are not a decodable JPEG/PNG/WebP image of acceptable size."""


def decode_image(data: bytes) -> RGBImage:
    """Decode JPEG/PNG/WebP bytes to an HxWx3 RGB uint8 array.

    EXIF orientation is deliberately NOT applied: the result has the stored pixel
    dimensions, so masks, results and previews line up with the file as stored.
    """
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
            # Checked here rather than via Image.MAX_IMAGE_PIXELS so the process-wide
            # Pillow setting stays untouched for other code.
            if width * height > MAX_PIXELS:
                raise ImageDecodeError(
                    f"image is too large ({width}x{height}, limit {MAX_PIXELS // 1_000_000} MP)"
                )
            rgb = image.convert("RGB")
    except ImageDecodeError:
        raise
    except MemoryError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError("not a JPEG, PNG or WebP image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"image is too large (limit {MAX_PIXELS // 1_000_000} MP)") from None
    except Exception as exc:
        # Pillow plugins raise assorted types (OSError, SyntaxError, struct.error, ...) on
        # damaged files; all of them mean the same thing to the caller.
        raise ImageDecodeError(
            f"image data is corrupt or truncated ({type(exc).__name__})"
        ) from None
    array = np.asarray(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3 or array.size == 0:
        raise ImageDecodeError("image has no pixels")
    return array


def encode_png(image: RGBImage) -> bytes:
    """Lossless PNG of the result (low compression level: speed over size)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def preview_size(width: int, height: int, longest: int = PREVIEW_SIDE) -> tuple[int, int]:
    """Size with the same aspect ratio whose longest side is at most ``longest``."""
    factor = min(1.0, longest / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def encode_preview(image: RGBImage) -> bytes:
    """Small JPEG preview (longest side <= 512 px, aspect kept)."""
    source = Image.fromarray(image)
    size = preview_size(source.width, source.height)
    small = (
        source.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        if size != source.size
        else source
    )
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=_PREVIEW_QUALITY, optimize=True)
    return buffer.getvalue()
