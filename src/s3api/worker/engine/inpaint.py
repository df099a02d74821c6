"""Object removal by inpainting, done at reduced resolution so big regions stay cheap."""

from __future__ import annotations

import cv2
import numpy as np

from s3api.worker.engine.arrays import (
    Mask,
    RGBImage,
    as_u8,
    ellipse,
    scale_to_side,
    to_u8_mask,
)

INPAINT_SIDE = 512
"""Longest side of the context window that TELEA actually runs on."""
_INPAINT_RADIUS = 5


def _context_window(shape: tuple[int, ...], bbox: tuple[slice, slice]) -> tuple[slice, slice]:
    """``bbox`` grown by 15% of its longest side (at least 16 px) for surrounding context."""
    rows, cols = bbox
    grow = max(16, round(0.15 * max(rows.stop - rows.start, cols.stop - cols.start)))
    height, width = shape[:2]
    return (
        slice(max(0, rows.start - grow), min(height, rows.stop + grow)),
        slice(max(0, cols.start - grow), min(width, cols.stop + grow)),
    )


def inpaint_region(image: RGBImage, mask: Mask, bbox: tuple[slice, slice]) -> RGBImage:
    """Pixels for ``bbox`` with the masked part filled from its surroundings."""
    window = _context_window(image.shape, bbox)
    crop, crop_mask = image[window], to_u8_mask(mask[window])
    height, width = crop.shape[:2]
    factor = scale_to_side(height, width, INPAINT_SIDE)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if factor < 1.0:
        small = as_u8(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
        # Any coverage counts as hole, so no object colour leaks into the fill.
        small_mask = as_u8(cv2.resize(crop_mask, size, interpolation=cv2.INTER_AREA)) > 0
        hole = to_u8_mask(small_mask)
    else:
        small, hole = crop, crop_mask
    # Masks are approximate at the object's edge; widen the hole so the fill is drawn from
    # clean surroundings rather than the object's own rim.
    hole = as_u8(cv2.dilate(hole, ellipse(5)))
    filled = as_u8(cv2.inpaint(small, hole, _INPAINT_RADIUS, cv2.INPAINT_TELEA))
    if factor < 1.0:
        filled = as_u8(cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR))
    top = bbox[0].start - window[0].start
    left = bbox[1].start - window[1].start
    rows = bbox[0].stop - bbox[0].start
    cols = bbox[1].stop - bbox[1].start
    return np.ascontiguousarray(filled[top : top + rows, left : left + cols])
