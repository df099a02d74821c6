"""Array type aliases and small numpy/OpenCV helpers shared by the engine modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

RGBImage = NDArray[np.uint8]
"""HxWx3 RGB image, uint8."""
Mask = NDArray[np.bool_]
"""HxW boolean mask."""

WORK_SIDE = 512
"""Longest side of the reduced-resolution copy that analysis runs on."""
CHUNK_ROWS = 256
"""Rows per chunk for full-resolution per-pixel work (bounds temporary float memory)."""


def as_u8(array: Any) -> NDArray[np.uint8]:
    """View an OpenCV result as a uint8 ndarray (no copy when it already is one)."""
    return np.asarray(array, dtype=np.uint8)


def as_f32(array: Any) -> NDArray[np.float32]:
    """View an OpenCV result as a float32 ndarray (no copy when it already is one)."""
    return np.asarray(array, dtype=np.float32)


def empty_mask(height: int, width: int) -> Mask:
    """An all-False mask of the given size."""
    return np.zeros((height, width), dtype=np.bool_)


def to_u8_mask(mask: Mask) -> NDArray[np.uint8]:
    """Mask as 0/255 uint8, the form OpenCV morphology and blur functions expect."""
    return mask.astype(np.uint8) * np.uint8(255)


def scale_to_side(height: int, width: int, longest: int) -> float:
    """Factor (<= 1) that brings the longest side down to ``longest`` pixels."""
    return min(1.0, longest / max(height, width))


def downscale(image: RGBImage, longest: int = WORK_SIDE) -> RGBImage:
    """Area-averaged copy whose longest side is at most ``longest`` pixels."""
    height, width = image.shape[:2]
    factor = scale_to_side(height, width, longest)
    if factor >= 1.0:
        return image
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return as_u8(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def mask_bbox(mask: Mask, margin: int = 0) -> tuple[slice, slice] | None:
    """Row/column slices bounding the True pixels (grown by ``margin``), or None if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    height, width = mask.shape
    top, bottom = max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin)
    left, right = max(0, int(cols[0]) - margin), min(width, int(cols[-1]) + 1 + margin)
    return slice(top, bottom), slice(left, right)


def row_chunks(height: int, rows: int = CHUNK_ROWS) -> Iterator[slice]:
    """Consecutive row slices covering ``height`` rows."""
    for start in range(0, height, rows):
        yield slice(start, min(height, start + rows))


def ellipse(size: int) -> NDArray[np.uint8]:
    """Elliptical structuring element of odd size >= 3."""
    size = max(3, size | 1)
    return as_u8(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))


def open_close(mask: Mask, open_size: int, close_size: int) -> Mask:
    """Remove specks smaller than ``open_size`` then bridge gaps smaller than ``close_size``."""
    work = to_u8_mask(mask)
    if open_size > 1:
        work = as_u8(cv2.morphologyEx(work, cv2.MORPH_OPEN, ellipse(open_size)))
    if close_size > 1:
        work = as_u8(cv2.morphologyEx(work, cv2.MORPH_CLOSE, ellipse(close_size)))
    return work > 0


def fill_holes(mask: Mask) -> Mask:
    """Mask plus every background pocket not connected to the image border."""
    height, width = mask.shape
    padded = np.zeros((height + 2, width + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = to_u8_mask(mask)
    flood_mask = np.zeros((height + 4, width + 4), dtype=np.uint8)
    cv2.floodFill(padded, flood_mask, (0, 0), 128)
    return np.not_equal(padded[1:-1, 1:-1], 128)
