"""Drawn rooms with exact masks, and the degraded maps a segmentation model would hand over.

Each scene is drawn at any size from fractions of the frame: a shaded, lightly textured
wall, a textured floor (wood planks with dark seams, carpet, or tiles with grout), a piece
of furniture standing on the floor on thin legs with a contact shadow, and a window whose
frame and mullions are a different white from the wall. The labels are kept before the
optical blur and JPEG compression, so the masks are exact. `degraded_map` turns a true mask
into what a model sees: coverage at 288x288, its edge moved by about one cell by a smooth
random field, and blurred.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.worker.engine.arrays import Mask, RGBImage, as_f32, as_u8

Floats = NDArray[np.float32]
CONCEPTS = ("floor", "wall", "furniture", "window")
MAP_SIDE = 288
"""Side of the square map a model hands over (SAM 3's mask resolution)."""


@dataclass(frozen=True)
class Palette:
    """Colours and textures of one scene."""

    wall: tuple[int, int, int]
    floor: tuple[int, int, int]
    furniture: tuple[int, int, int]
    frame: tuple[int, int, int]
    glass: tuple[int, int, int]
    floor_kind: str  # "planks", "carpet" or "tiles"


SCENES: dict[str, Palette] = {
    "living-planks": Palette(
        (214, 200, 178), (158, 112, 72), (74, 118, 84), (244, 244, 240), (170, 200, 232), "planks"
    ),
    "bedroom-carpet": Palette(
        (150, 166, 182), (196, 188, 176), (120, 84, 66), (236, 236, 232), (196, 214, 236), "carpet"
    ),
    "kitchen-tiles": Palette(
        (232, 228, 218), (206, 200, 190), (60, 76, 110), (250, 250, 250), (160, 190, 220), "tiles"
    ),
}


@dataclass(frozen=True)
class Scene:
    """A drawn photo (blurred, JPEG-compressed bytes and decoded pixels) and its true masks."""

    name: str
    jpeg: bytes
    image: RGBImage
    masks: dict[str, Mask]


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> Floats:
    """Low-frequency noise in about [-1, 1] with ``cells`` bumps across the longer side."""
    grid_w = max(2, cells)
    grid_h = max(2, round(cells * height / width))
    coarse = rng.standard_normal((grid_h, grid_w)).astype(np.float32)
    return as_f32(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC))


def _grain(rng: np.random.Generator, height: int, width: int, amplitude: float) -> Floats:
    """Fine noise at about 1/2 the frame's resolution: texture, not per-pixel sensor noise."""
    small = rng.standard_normal((max(1, height // 2), max(1, width // 2))).astype(np.float32)
    return as_f32(cv2.resize(small * amplitude, (width, height), interpolation=cv2.INTER_LINEAR))


def _floor_texture(rng: np.random.Generator, palette: Palette, height: int, width: int) -> Floats:
    """Floor pixels (float RGB) for the palette's floor kind, lit brighter towards the back."""
    base = np.array(palette.floor, dtype=np.float32)
    rows = np.linspace(1.08, 0.86, height, dtype=np.float32).reshape(-1, 1, 1)
    image = np.broadcast_to(base * rows, (height, width, 3)).copy()
    seam = max(1, round(width / 700))
    if palette.floor_kind == "planks":
        plank = max(4, round(width * 0.06))
        shade = rng.uniform(0.88, 1.1, width // plank + 2).astype(np.float32)
        columns = np.arange(width) // plank
        image *= shade[columns].reshape(1, -1, 1)
        stripes = np.sin(
            np.arange(width, dtype=np.float32) * 0.9 + _smooth_noise(rng, height, width, 6) * 3
        )
        image += (stripes * 6.0)[..., None]
        for x in range(plank, width, plank):
            image[:, x : x + seam] *= 0.7
    elif palette.floor_kind == "tiles":
        tile = max(6, round(width * 0.09))
        grout = max(1, round(width / 400))
        for x in range(tile, width, tile):
            image[:, x : x + grout] = (120, 116, 110)
        for y in range(tile // 2, height, tile // 2):
            image[y : y + grout] = (120, 116, 110)
    image += _grain(rng, height, width, 7.0 if palette.floor_kind == "carpet" else 3.0)[..., None]
    return image


def draw_scene(
    name: str, width: int, height: int, seed: int = 0
) -> tuple[RGBImage, dict[str, Mask]]:
    """The scene's sharp pixels and exact masks (before optical blur and compression)."""
    palette = SCENES[name]
    rng = np.random.default_rng(seed)
    floor_top = round(height * rng.uniform(0.58, 0.64))
    image = np.empty((height, width, 3), dtype=np.float32)
    columns = np.linspace(0.92, 1.04, width, dtype=np.float32).reshape(1, -1, 1)
    wall = np.array(palette.wall, dtype=np.float32) * columns
    wall = wall * (1.0 + 0.025 * _smooth_noise(rng, floor_top, width, 5))[..., None]
    image[:floor_top] = wall + _grain(rng, floor_top, width, 1.5)[..., None]
    image[floor_top:] = _floor_texture(rng, palette, height - floor_top, width)
    labels = np.zeros((height, width), dtype=np.uint8)  # 0 wall, 1 floor, 2 furniture, 3 window
    labels[floor_top:] = 1

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)

    # Window with a frame and a cross of mullions: the whole opening is the window.
    left, top, right, bottom = box(0.56, 0.14, 0.84, 0.46)
    bar = max(2, round(width * 0.012))
    image[top:bottom, left:right] = palette.frame
    glass_rows = np.linspace(1.08, 0.92, bottom - top - 2 * bar, dtype=np.float32)
    glass = np.array(palette.glass, np.float32) * glass_rows.reshape(-1, 1, 1)
    image[top + bar : bottom - bar, left + bar : right - bar] = glass[:, : right - left - 2 * bar]
    middle_x, middle_y = (left + right) // 2, (top + bottom) // 2
    image[top:bottom, middle_x - bar // 2 : middle_x + bar - bar // 2] = palette.frame
    image[middle_y - bar // 2 : middle_y + bar - bar // 2, left:right] = palette.frame
    labels[top:bottom, left:right] = 3

    # Furniture standing on the floor: a body with rounded corners on four thin legs.
    left, top, right, _ = box(0.12, 0.40, 0.46, 0.0)
    seat_bottom = floor_top + round(height * 0.12)
    leg_height = round(height * 0.035)
    shadow_top = seat_bottom - round(height * 0.01)
    image[shadow_top : seat_bottom + leg_height + round(height * 0.012), left:right] *= 0.72
    body = np.zeros((height, width), dtype=np.uint8)
    radius = round(height * 0.03)
    cv2.rectangle(body, (left, top + radius), (right - 1, seat_bottom - 1), 1, -1)
    cv2.rectangle(body, (left + radius, top), (right - 1 - radius, seat_bottom - 1), 1, -1)
    for cx in (left + radius, right - 1 - radius):
        cv2.circle(body, (cx, top + radius), radius, 1, -1)
    leg = max(2, round(width * 0.008))
    for x in (
        left + 2 * leg,
        right - 3 * leg,
        left + (right - left) // 3,
        left + 2 * (right - left) // 3,
    ):
        body[seat_bottom : seat_bottom + leg_height, x : x + leg] = 1
    fabric = np.array(palette.furniture, dtype=np.float32)
    shading = np.linspace(1.1, 0.8, height, dtype=np.float32).reshape(-1, 1, 1)
    cloth = fabric * shading + _grain(rng, height, width, 6.0)[..., None]
    inside = body.astype(bool)
    image[inside] = cloth[inside]
    cushion = round(top + (seat_bottom - top) * 0.55)
    image[cushion : cushion + max(1, round(height * 0.004)), left + radius : right - radius] *= 0.75
    labels[inside] = 2
    image += rng.normal(0.0, 1.5, image.shape).astype(np.float32)
    pixels = as_u8(np.clip(image, 0, 255))
    masks = {concept: labels == index for index, concept in enumerate(CONCEPTS)}
    return pixels, masks


def photographed(pixels: RGBImage, quality: int = 88) -> bytes:
    """Optical blur scaled with the frame, then JPEG compression: the upload's bytes."""
    sigma = 0.6 * max(1.0, max(pixels.shape[:2]) / 1152) ** 0.5
    blurred = as_u8(cv2.GaussianBlur(pixels, (0, 0), sigma))
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(blurred, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()


def degraded_map(mask: Mask, seed: int, side: int = MAP_SIDE) -> Floats:
    """What a model hands over for ``mask``: ``side`` x ``side`` coverage, edge moved ~1 cell, blurred."""
    coverage = as_f32(
        cv2.resize(mask.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
    )
    rng = np.random.default_rng(seed)
    grid = np.mgrid[0:side, 0:side].astype(np.float32)
    shift_x = _smooth_noise(rng, side, side, 4)
    shift_y = _smooth_noise(rng, side, side, 4)
    length = np.maximum(np.hypot(shift_x, shift_y), 1e-3)
    amount = rng.uniform(0.7, 1.3)  # about one cell, in a direction that wanders over the frame
    map_x = grid[1] + shift_x / length * amount
    map_y = grid[0] + shift_y / length * amount
    moved = as_f32(
        cv2.remap(coverage, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    )
    blurred = as_f32(cv2.GaussianBlur(moved, (0, 0), 0.9))
    return np.clip(blurred, 0.0, 1.0).astype(np.float32)


def scene(name: str, width: int, height: int, seed: int = 0) -> Scene:
    """The scene photographed: JPEG bytes, their decoded pixels, and the exact masks."""
    from s3api.worker.engine.codec import decode_image

    pixels, masks = draw_scene(name, width, height, seed)
    jpeg = photographed(pixels)
    return Scene(name, jpeg, decode_image(jpeg), masks)


MaskMaker = Callable[[RGBImage, Floats], Mask]
