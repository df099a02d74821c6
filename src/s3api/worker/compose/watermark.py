"""The free plan's visible watermark: translucent text on a band inside one box.

Only pixels inside the box change, so everything outside it (protected pixels included)
stays byte-identical to the unmarked result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from s3api.worker.compose.text import fitted_size, font
from s3api.worker.engine.arrays import RGBImage, as_u8

_BAND = (18, 18, 20)
_TEXT = (255, 255, 255)
_BAND_SHARE = 0.45
"""How much of the opacity the dark band gets; the text gets all of it."""


@dataclass(frozen=True)
class Watermark:
    """Text, box and opacity; the box is (left, top, width, height) in fractions of the
    image's width and height."""

    text: str
    box: tuple[float, float, float, float]
    opacity: float


def box_pixels(
    width: int, height: int, box: tuple[float, float, float, float]
) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) in pixels: the fractions rounded outwards, clipped to the
    image, at least one pixel each way."""
    left_f, top_f, box_w, box_h = box
    left = min(width - 1, max(0, math.floor(left_f * width)))
    top = min(height - 1, max(0, math.floor(top_f * height)))
    right = min(width, max(left + 1, math.ceil((left_f + box_w) * width)))
    bottom = min(height, max(top + 1, math.ceil((top_f + box_h) * height)))
    return left, top, right, bottom


def apply_watermark(image: RGBImage, watermark: Watermark) -> RGBImage:
    """A copy of `image` with the watermark blended into its box."""
    height, width = image.shape[:2]
    left, top, right, bottom = box_pixels(width, height, watermark.box)
    box_w, box_h = right - left, bottom - top
    # The band covers the whole box; the text is drawn as an 8-bit coverage mask.
    coverage = Image.new("L", (box_w, box_h), 0)
    size = fitted_size(watermark.text, max(6, int(box_h * 0.55)), max(1, int(box_w * 0.9)), 6)
    ImageDraw.Draw(coverage).text(
        (box_w / 2, box_h / 2), watermark.text, fill=255, font=font(size), anchor="mm"
    )
    text_alpha = np.asarray(coverage, dtype=np.float32)[..., np.newaxis] / 255.0
    opacity = float(np.clip(watermark.opacity, 0.0, 1.0))
    region = image[top:bottom, left:right].astype(np.float32)
    band = np.array(_BAND, dtype=np.float32)
    region = region + (band - region) * (opacity * _BAND_SHARE)
    text = np.array(_TEXT, dtype=np.float32)
    region = region + (text - region) * (text_alpha * opacity)
    marked = image.copy()
    marked[top:bottom, left:right] = as_u8(np.clip(np.rint(region), 0, 255))
    return marked
