"""Synthetic scenes (a tiled room, a product shot) for engine self-checks, tests and timing.

They are drawn procedurally so no binary fixtures live in the repository; the layout constants
are exposed so callers can reason about where each surface is.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from s3api.worker.engine.arrays import RGBImage, as_u8

ROOM_CEILING_END = 0.18
"""Fraction of the height where the synthetic room's ceiling ends."""
ROOM_FLOOR_START = 0.62
"""Fraction of the height where the synthetic room's floor starts."""


def _box(image: RGBImage, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
    height, width = image.shape[:2]
    return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)


def _fill(image: RGBImage, box: tuple[float, float, float, float], colour: tuple[int, ...]) -> None:
    left, top, right, bottom = _box(image, *box)
    image[top:bottom, left:right] = colour


def room_image(width: int = 800, height: int = 600, seed: int = 7) -> RGBImage:
    """A room: ceiling with a lamp, shaded walls, a window, a door, a cabinet, a tiled floor."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    ceiling_end, floor_start = round(height * ROOM_CEILING_END), round(height * ROOM_FLOOR_START)
    columns = np.linspace(0.9, 1.05, width, dtype=np.float32).reshape(1, -1, 1)
    wall = np.array([205, 190, 165], dtype=np.float32) * columns
    image[:ceiling_end] = (226, 226, 222)
    image[ceiling_end:floor_start] = np.clip(wall, 0, 255).astype(np.uint8)
    rows = np.linspace(1.05, 0.8, height - floor_start, dtype=np.float32).reshape(-1, 1, 1)
    image[floor_start:] = np.clip(np.array([176, 124, 82], np.float32) * rows, 0, 255).astype(
        np.uint8
    )
    joint = max(2, round(height * 0.006))
    for y in np.arange(floor_start + height * 0.08, height, height * 0.08):
        image[round(y) : round(y) + joint] = (72, 62, 56)
    for x in np.arange(width * 0.1, width, width * 0.1):
        image[floor_start:, round(x) : round(x) + joint] = (72, 62, 56)
    _fill(image, (0.55, 0.25, 0.80, 0.50), (246, 246, 244))
    _fill(image, (0.565, 0.27, 0.785, 0.48), (214, 230, 248))
    left, top, _, _ = _box(image, 0.6, 0.3, 0.6, 0.3)
    cv2.line(image, (left, top + 40), (left + 40, top), (255, 255, 255), max(2, width // 200))
    _fill(image, (0.10, 0.26, 0.24, ROOM_FLOOR_START), (110, 72, 45))
    _fill(image, (0.21, 0.43, 0.222, 0.47), (214, 208, 190))
    _fill(image, (0.30, 0.44, 0.48, ROOM_FLOOR_START), (78, 98, 122))
    _fill(image, (0.30, 0.44, 0.48, 0.465), (58, 58, 60))
    _fill(image, (0.38, 0.50, 0.40, 0.51), (220, 220, 214))
    centre = (round(width * 0.3), round(height * 0.09))
    cv2.circle(image, centre, max(3, round(height * 0.03)), (255, 255, 250), -1)
    noise = np.random.default_rng(seed).normal(0.0, 2.5, image.shape).astype(np.float32)
    return as_u8(np.clip(image + noise, 0, 255))


def product_image(size: int = 640, seed: int = 11) -> RGBImage:
    """A blue bottle with cap, label text, logo and highlight, plus a small side object."""
    image = np.empty((size, size, 3), dtype=np.uint8)
    shade = np.linspace(246, 236, size, dtype=np.float32).reshape(-1, 1, 1)
    image[:] = np.clip(shade + np.zeros((1, 1, 3), np.float32), 0, 255).astype(np.uint8)
    _fill(image, (0.35, 0.30, 0.65, 0.90), (40, 90, 170))
    _fill(image, (0.43, 0.18, 0.57, 0.30), (52, 52, 56))
    _fill(image, (0.37, 0.55, 0.63, 0.78), (232, 232, 226))
    for index, line in enumerate(("PURE", "WATER 1L")):
        origin = (round(size * 0.39), round(size * (0.62 + 0.1 * index)))
        cv2.putText(image, line, origin, cv2.FONT_HERSHEY_SIMPLEX, size / 900, (20, 20, 20), 2)
    cv2.circle(image, (size // 2, round(size * 0.42)), round(size * 0.05), (240, 140, 20), -1)
    _fill(image, (0.38, 0.32, 0.395, 0.50), (255, 255, 255))
    _fill(image, (0.76, 0.76, 0.90, 0.90), (60, 160, 80))
    noise = np.random.default_rng(seed).normal(0.0, 2.0, image.shape).astype(np.float32)
    return as_u8(np.clip(image + noise, 0, 255))


def jpeg_bytes(image: RGBImage, quality: int = 92) -> bytes:
    """Encode a sample as an upload would arrive: a JPEG file's bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
