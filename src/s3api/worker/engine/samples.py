"""Synthetic scenes (a tiled room, a product shot) for engine self-checks, tests and timing.

They are drawn procedurally so no binary fixtures live in the repository; the layout constants
are exposed so callers can reason about where each surface is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

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


@dataclass(frozen=True)
class RoomPalette:
    """The colours of one room scene."""

    wall: tuple[int, int, int]
    floor: tuple[int, int, int]
    door: tuple[int, int, int]
    cabinet: tuple[int, int, int]


ROOM_PALETTES = (
    RoomPalette(
        wall=(205, 190, 165), floor=(176, 124, 82), door=(110, 72, 45), cabinet=(78, 98, 122)
    ),
    RoomPalette(
        wall=(150, 180, 205), floor=(128, 128, 134), door=(60, 60, 64), cabinet=(176, 62, 52)
    ),
    RoomPalette(
        wall=(196, 214, 168), floor=(214, 184, 142), door=(150, 110, 70), cabinet=(44, 44, 50)
    ),
    RoomPalette(
        wall=(232, 196, 196), floor=(92, 62, 46), door=(82, 104, 82), cabinet=(224, 222, 210)
    ),
)
"""Wall, floor, door and cabinet colours of the room variants, in turn."""

PRODUCT_BODIES = ((40, 90, 170), (184, 44, 44), (44, 144, 84), (222, 178, 40))
"""The bottle colours of the product variants, in turn."""
PRODUCT_BACKDROPS = ((246, 246, 246), (236, 206, 160), (160, 196, 236), (96, 96, 104))
"""The backdrop colours (at the top; they darken a little downwards) of the variants."""


def room_image(width: int = 800, height: int = 600, seed: int = 7, variant: int = 0) -> RGBImage:
    """A room: ceiling with a lamp, shaded walls, a window, a door, a cabinet, a tiled floor.

    `variant` picks another scene: the next palette of `ROOM_PALETTES`, and every odd
    variant mirrored left to right, so a set of samples shows different rooms.
    """
    palette = ROOM_PALETTES[variant % len(ROOM_PALETTES)]
    image = np.empty((height, width, 3), dtype=np.uint8)
    ceiling_end, floor_start = round(height * ROOM_CEILING_END), round(height * ROOM_FLOOR_START)
    columns = np.linspace(0.9, 1.05, width, dtype=np.float32).reshape(1, -1, 1)
    wall = np.array(palette.wall, dtype=np.float32) * columns
    image[:ceiling_end] = (226, 226, 222)
    image[ceiling_end:floor_start] = np.clip(wall, 0, 255).astype(np.uint8)
    rows = np.linspace(1.05, 0.8, height - floor_start, dtype=np.float32).reshape(-1, 1, 1)
    image[floor_start:] = np.clip(np.array(palette.floor, np.float32) * rows, 0, 255).astype(
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
    _fill(image, (0.10, 0.26, 0.24, ROOM_FLOOR_START), palette.door)
    _fill(image, (0.21, 0.43, 0.222, 0.47), (214, 208, 190))
    _fill(image, (0.30, 0.44, 0.48, ROOM_FLOOR_START), palette.cabinet)
    _fill(image, (0.30, 0.44, 0.48, 0.465), (58, 58, 60))
    _fill(image, (0.38, 0.50, 0.40, 0.51), (220, 220, 214))
    centre = (round(width * 0.3), round(height * 0.09))
    cv2.circle(image, centre, max(3, round(height * 0.03)), (255, 255, 250), -1)
    if variant % 2:
        image = np.ascontiguousarray(image[:, ::-1])
    noise = np.random.default_rng(seed).normal(0.0, 2.5, image.shape).astype(np.float32)
    return as_u8(np.clip(image + noise, 0, 255))


def product_image(size: int = 640, seed: int = 11, variant: int = 0) -> RGBImage:
    """A bottle with cap, label text, logo and highlight, plus a small side object.

    `variant` picks the bottle's colour from `PRODUCT_BODIES` (blue first) and the backdrop
    from `PRODUCT_BACKDROPS`, and every odd variant puts the side object on the left.
    """
    image = np.empty((size, size, 3), dtype=np.uint8)
    shade = np.linspace(246, 236, size, dtype=np.float32).reshape(-1, 1, 1)
    backdrop = np.array(PRODUCT_BACKDROPS[variant % len(PRODUCT_BACKDROPS)], np.float32) - 246
    image[:] = np.clip(shade + backdrop.reshape(1, 1, 3), 0, 255).astype(np.uint8)
    _fill(image, (0.35, 0.30, 0.65, 0.90), PRODUCT_BODIES[variant % len(PRODUCT_BODIES)])
    _fill(image, (0.43, 0.18, 0.57, 0.30), (52, 52, 56))
    _fill(image, (0.37, 0.55, 0.63, 0.78), (232, 232, 226))
    for index, line in enumerate(("PURE", "WATER 1L")):
        origin = (round(size * 0.39), round(size * (0.62 + 0.1 * index)))
        cv2.putText(image, line, origin, cv2.FONT_HERSHEY_SIMPLEX, size / 900, (20, 20, 20), 2)
    cv2.circle(image, (size // 2, round(size * 0.42)), round(size * 0.05), (240, 140, 20), -1)
    _fill(image, (0.38, 0.32, 0.395, 0.50), (255, 255, 255))
    side = (0.10, 0.76, 0.24, 0.90) if variant % 2 else (0.76, 0.76, 0.90, 0.90)
    _fill(image, side, (60, 160, 80))
    noise = np.random.default_rng(seed).normal(0.0, 2.0, image.shape).astype(np.float32)
    return as_u8(np.clip(image + noise, 0, 255))


def jpeg_bytes(image: RGBImage, quality: int = 92) -> bytes:
    """Encode a sample as an upload would arrive: a JPEG file's bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
