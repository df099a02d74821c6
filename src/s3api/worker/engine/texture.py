"""Deterministic procedural material textures (wood, marble, concrete, linen, speckle).

Patterns are generated at most ``PATTERN_SIDE`` px per image side (in image-relative units, so
a plank is the same fraction of the photo at any resolution) and upscaled for the edit region.
"""

from __future__ import annotations

import math
import zlib

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.presets.vocabulary import Material
from s3api.worker.engine.arrays import RGBImage, as_f32, as_u8

PATTERN_SIDE = 1024
"""Longest image side at which patterns are synthesised."""

Field = NDArray[np.float32]


def _value_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> Field:
    """Smooth random field in [0, 1] with features about ``cell`` pixels wide."""
    cell = max(1.0, cell)
    grid_h, grid_w = math.ceil(height / cell) + 2, math.ceil(width / cell) + 2
    grid = rng.random((grid_h, grid_w), dtype=np.float32)
    size = (round(grid_w * cell), round(grid_h * cell))
    field = as_f32(cv2.resize(grid, size, interpolation=cv2.INTER_CUBIC))
    return as_f32(np.clip(field[:height, :width], 0.0, 1.0))


def _fbm(rng: np.random.Generator, height: int, width: int, cell: float, octaves: int) -> Field:
    """Fractal noise: octaves of value noise, each half the size and weight, in [0, 1]."""
    total = np.zeros((height, width), dtype=np.float32)
    weight_sum = 0.0
    for octave in range(octaves):
        weight = 0.5**octave
        total += np.float32(weight) * _value_noise(rng, height, width, cell / 2**octave)
        weight_sum += weight
    return total / np.float32(weight_sum)


def _wood(rng: np.random.Generator, ys: Field, xs: Field, unit: float) -> Field:
    """Horizontal planks with staggered joints, per-plank tone and wavy grain."""
    height, width = ys.shape[0], xs.shape[1]
    plank = 0.055
    index = np.floor(ys / plank).astype(np.int64)
    count = int(index.max()) + 1
    offsets = rng.random(count, dtype=np.float32)[index]
    tones = (0.82 + 0.18 * rng.random(count, dtype=np.float32))[index]
    warp = _fbm(rng, height, width, unit * 0.08, 3)
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (ys * 90 + 3.0 * warp + offsets))
    value = tones * (0.55 + 0.45 * grain)
    seam_width = 0.0025
    along = np.mod(xs + offsets * 0.4, 0.4)
    seams = (np.mod(ys, plank) < seam_width) | (along < seam_width)
    return as_f32(np.where(seams, value * 0.35, value))


def _marble(rng: np.random.Generator, ys: Field, xs: Field, unit: float) -> Field:
    """Soft light base crossed by thin dark turbulent veins."""
    turbulence = _fbm(rng, ys.shape[0], xs.shape[1], unit * 0.25, 5)
    wave = np.abs(np.sin(2 * np.pi * (xs * 2.5 + ys * 1.5) + 7.0 * turbulence))
    veins = (1.0 - wave) ** 10
    return as_f32(np.clip(0.92 - 0.85 * veins + 0.12 * (turbulence - 0.5), 0, 1))


def _concrete(rng: np.random.Generator, ys: Field, xs: Field, unit: float) -> Field:
    """Blotchy mid-grey with fine grit."""
    height, width = ys.shape[0], xs.shape[1]
    blotches = _fbm(rng, height, width, unit * 0.12, 4)
    grit = _value_noise(rng, height, width, 1.5)
    return as_f32(np.clip(0.5 + 0.7 * (blotches - 0.5) + 0.3 * (grit - 0.5), 0, 1))


def _linen(rng: np.random.Generator, ys: Field, xs: Field, unit: float) -> Field:
    """Fine crosshatched weave with slub irregularities."""
    period = 0.006
    weave = 0.5 + 0.2 * np.sin(2 * np.pi * xs / period) + 0.2 * np.sin(2 * np.pi * ys / period)
    slubs = _value_noise(rng, ys.shape[0], xs.shape[1], unit * 0.01)
    return as_f32(np.clip(weave + 0.3 * (slubs - 0.5), 0, 1))


def _speckle(rng: np.random.Generator, ys: Field, xs: Field, unit: float) -> Field:
    """Gentle mottling for plain palette colours."""
    height, width = ys.shape[0], xs.shape[1]
    mottling = _fbm(rng, height, width, unit * 0.1, 3)
    grain = _value_noise(rng, height, width, 1.5)
    return as_f32(np.clip(0.6 + 0.4 * (mottling - 0.5) + 0.2 * (grain - 0.5), 0, 1))


_PATTERNS = {
    "wood": _wood,
    "marble": _marble,
    "concrete": _concrete,
    "linen": _linen,
    "speckle": _speckle,
}


def render_pattern(
    material: Material, image_shape: tuple[int, ...], bbox: tuple[slice, slice]
) -> NDArray[np.uint8]:
    """Pattern intensities (0 = dark colour, 255 = light colour) covering ``bbox``."""
    height, width = image_shape[:2]
    longest = max(height, width)
    factor = min(1.0, PATTERN_SIDE / longest)
    rows, cols = bbox
    region_h, region_w = rows.stop - rows.start, cols.stop - cols.start
    small_h, small_w = max(1, math.ceil(region_h * factor)), max(1, math.ceil(region_w * factor))
    # Coordinates in units of the image's longest side keep the scale resolution-independent.
    ys = ((rows.start + np.arange(small_h, dtype=np.float32) / factor) / longest).reshape(-1, 1)
    xs = ((cols.start + np.arange(small_w, dtype=np.float32) / factor) / longest).reshape(1, -1)
    seed = zlib.crc32(f"{material.pattern}:{material.dark}:{material.light}".encode())
    rng = np.random.default_rng(seed)
    field = _PATTERNS[material.pattern](rng, ys, xs, longest * factor)
    small = as_u8(np.clip(np.rint(field * 255), 0, 255))
    if (small_h, small_w) == (region_h, region_w):
        return small
    return as_u8(cv2.resize(small, (region_w, region_h), interpolation=cv2.INTER_LINEAR))


def material_rgb(material: Material, intensities: NDArray[np.uint8]) -> RGBImage:
    """Map pattern intensities to colours between the material's dark and light colour."""
    dark = np.array(material.dark, dtype=np.float32)
    light = np.array(material.light, dtype=np.float32)
    weight = intensities.astype(np.float32)[..., np.newaxis] / np.float32(255.0)
    return as_u8(np.clip(np.rint(dark + (light - dark) * weight), 0, 255))
