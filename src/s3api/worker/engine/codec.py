"""Decoding uploads to RGB arrays and encoding results (PNG, JPEG, WebP) and previews (JPEG)."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, UnidentifiedImageError

from s3api.common.output_formats import OutputFormat
from s3api.worker.engine.arrays import RGBImage

MAX_PIXELS = 80_000_000
"""Largest accepted input, in pixels, unless the caller says otherwise; bigger images are
rejected as decompression bombs (Pillow's own bomb check refuses 179 MP and up)."""
MAX_WORK_PIXELS = 50_000_000
"""Largest image the engine edits; bigger inputs are decoded at an integer fraction of
their size (JPEG's DCT scaling through `draft`, then `reduce`), so results stay bounded."""
PREVIEW_SIDE = 512
"""Longest side of the preview JPEG."""
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
"""Pillow format names the engine accepts."""
_PNG_COMPRESS_LEVEL = 2
_PREVIEW_QUALITY = 85
JPEG_RESULT_QUALITY = 90
"""Quality of a `jpeg` result (Pillow's scale, 4:2:0 chroma): about 40 dB PSNR on photos."""
WEBP_RESULT_QUALITY = 90
"""Quality of a lossy `webp` result, encoded with method 2 (method 4 takes twice as long at
12 MP for the same size)."""
_WEBP_METHOD = 2


class ImageDecodeError(ValueError):
    """The input bytes are not a decodable JPEG/PNG/WebP image of acceptable size."""


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the image header, without decoding any pixel."""
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            return image.size
    except UnidentifiedImageError:
        raise ImageDecodeError("not a JPEG, PNG or WebP image") from None
    except Exception as exc:
        raise ImageDecodeError(f"image header is corrupt ({type(exc).__name__})") from None


def reduction_factor(width: int, height: int, max_pixels: int) -> int:
    """Smallest integer factor that brings ``width`` x ``height`` within ``max_pixels``."""
    factor = max(1, math.ceil(math.sqrt(width * height / max_pixels)))
    while math.ceil(width / factor) * math.ceil(height / factor) > max_pixels:
        factor += 1
    return factor


def decode_image(
    data: bytes, *, max_pixels: int = MAX_PIXELS, max_work_pixels: int = MAX_WORK_PIXELS
) -> RGBImage:
    """Decode JPEG/PNG/WebP bytes to an HxWx3 RGB uint8 array of at most ``max_work_pixels``.

    Inputs over ``max_pixels`` are refused. Larger inputs than ``max_work_pixels`` come out
    reduced by an integer factor; a JPEG is decoded at the reduced scale directly.
    EXIF orientation is deliberately NOT applied: the result has the stored pixel
    dimensions, so masks, results and previews line up with the file as stored.
    """
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
            # Checked here rather than via Image.MAX_IMAGE_PIXELS so the process-wide
            # Pillow setting stays untouched for other code.
            if width * height > max_pixels:
                raise ImageDecodeError(
                    f"image is too large ({width}x{height}, limit {max_pixels // 1_000_000} MP)"
                )
            array = np.asarray(_decoded_within(image, max_work_pixels), dtype=np.uint8)
    except ImageDecodeError:
        raise
    except MemoryError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError("not a JPEG, PNG or WebP image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"image is too large (limit {max_pixels // 1_000_000} MP)") from None
    except Exception as exc:
        # Pillow plugins raise assorted types (OSError, SyntaxError, struct.error, ...) on
        # damaged files; all of them mean the same thing to the caller.
        raise ImageDecodeError(
            f"image data is corrupt or truncated ({type(exc).__name__})"
        ) from None
    if array.ndim != 3 or array.shape[2] != 3 or array.size == 0:
        raise ImageDecodeError("image has no pixels")
    return array


def _decoded_within(image: Image.Image, max_pixels: int) -> Image.Image:
    """The image's pixels as RGB, reduced by an integer factor to fit ``max_pixels``."""
    width, height = image.size
    factor = reduction_factor(width, height, max_pixels)
    if factor > 1:
        target = (math.ceil(width / factor), math.ceil(height / factor))
        image.draft("RGB", target)  # JPEG only: decode at 1/2, 1/4 or 1/8 scale
        image.load()
        left = reduction_factor(*image.size, max_pixels)
        if left > 1:
            image = image.reduce(left)
    return image if image.mode == "RGB" else image.convert("RGB")


def encode_png(image: RGBImage) -> bytes:
    """Lossless PNG of the result (low compression level: speed over size)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def encode_result(image: RGBImage, output_format: OutputFormat) -> bytes:
    """The full-size result in the job's format; only PNG keeps every pixel exactly."""
    if output_format is OutputFormat.PNG:
        return encode_png(image)
    buffer = io.BytesIO()
    if output_format is OutputFormat.JPEG:
        Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_RESULT_QUALITY)
    else:
        Image.fromarray(image).save(
            buffer, format="WEBP", quality=WEBP_RESULT_QUALITY, method=_WEBP_METHOD
        )
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
