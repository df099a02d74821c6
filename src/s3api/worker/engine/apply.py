"""Apply edit rules to concept masks: recolor, tone, texture and remove.

Every edit writes only inside its own mask (edges feathered inward), works on the mask's
bounding box in row chunks so 12 MP images need little temporary memory, and the protect
mask is copied back byte-identically from the input at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from s3api.presets.vocabulary import parse_color, parse_material, parse_tone
from s3api.worker.engine.arrays import Mask, RGBImage, as_u8, mask_bbox, row_chunks, to_u8_mask
from s3api.worker.engine.edits import ConceptEdit
from s3api.worker.engine.inpaint import inpaint_region
from s3api.worker.engine.palette import rgb_to_lab
from s3api.worker.engine.texture import material_rgb, render_pattern

Renderer = Callable[[RGBImage, slice], RGBImage]
"""Given a chunk of region rows and their row slice within the region, return new pixels."""

# How much of the region's own lightness variation survives a texture (the rest is pattern).
_TEXTURE_SHADING = 0.8


def feather_radius(height: int, width: int) -> int:
    """Inward feather width in pixels, growing with the image so edges look alike."""
    return max(1, round(max(height, width) / 1000))


def _feather_alpha(mask: Mask, radius: int) -> NDArray[np.uint8]:
    """0..255 weights: 255 deep inside the mask, softer at its edge, 0 outside."""
    hard = to_u8_mask(mask)
    size = 2 * radius + 1
    return np.minimum(as_u8(cv2.GaussianBlur(hard, (size, size), 0)), hard)


def _to_u8(values: NDArray[Any]) -> NDArray[np.uint8]:
    return as_u8(np.clip(np.rint(values), 0, 255))


def edit_bbox(mask: Mask) -> tuple[slice, slice] | None:
    """The region an edit of ``mask`` touches: its bounding box plus the feather margin."""
    return mask_bbox(mask, margin=feather_radius(*mask.shape))


def blend_region(image: RGBImage, mask: Mask, render: Renderer) -> None:
    """Blend ``render``'s output into ``image`` inside ``mask`` only (in place)."""
    bbox = edit_bbox(mask)
    if bbox is None:
        return
    region, region_mask = image[bbox], mask[bbox]
    alpha = _feather_alpha(region_mask, feather_radius(*mask.shape))
    for rows in row_chunks(region.shape[0]):
        inside = region_mask[rows]
        if not inside.any():
            continue
        old = region[rows]
        new = render(old, rows).astype(np.float32)
        weight = alpha[rows, :, np.newaxis].astype(np.float32) / np.float32(255.0)
        blended = old + (new - old) * weight
        np.copyto(old, _to_u8(blended), where=inside[..., np.newaxis])


def lightness_stats(image: RGBImage, mask: Mask) -> tuple[float, float]:
    """Mean and standard deviation of LAB lightness (OpenCV 0..255 scale) under the mask."""
    bbox = mask_bbox(mask)
    if bbox is None:
        return 0.0, 0.0
    region, region_mask = image[bbox], mask[bbox]
    total, squares, count = 0.0, 0.0, 0
    for rows in row_chunks(region.shape[0]):
        lightness = as_u8(cv2.cvtColor(region[rows], cv2.COLOR_RGB2LAB))[..., 0]
        selected = lightness[region_mask[rows]].astype(np.int64)
        total += float(selected.sum())
        squares += float(np.dot(selected, selected))
        count += selected.size
    mean = total / max(1, count)
    return mean, max(0.0, squares / max(1, count) - mean * mean) ** 0.5


def _shading_gain(spread: float, target_mean: float) -> float:
    """Scale for lightness variation so the shifted region mostly stays within 0..255."""
    target_room = min(target_mean, 255.0 - target_mean)
    # About 2.5 standard deviations either side of the mean covers nearly all pixels.
    return float(np.clip(target_room / max(1.0, 2.5 * spread), 0.35, 1.0))


def _relight(
    old: RGBImage, target_lab: NDArray[np.float32], source_mean: float, gain: float
) -> RGBImage:
    """Take a/b from ``target_lab`` and L = target L + gain x (old L - region mean L)."""
    lab = as_u8(cv2.cvtColor(old, cv2.COLOR_RGB2LAB)).astype(np.float32)
    lab[..., 0] = target_lab[..., 0] + (lab[..., 0] - np.float32(source_mean)) * np.float32(gain)
    lab[..., 1:] = target_lab[..., 1:]
    return as_u8(cv2.cvtColor(_to_u8(lab), cv2.COLOR_LAB2RGB))


def recolor(image: RGBImage, mask: Mask, value: str) -> None:
    """Give the region the target colour while keeping its shading (in place)."""
    target = np.array(rgb_to_lab(parse_color(value)), dtype=np.float32)
    source_mean, spread = lightness_stats(image, mask)
    gain = _shading_gain(spread, float(target[0]))
    blend_region(image, mask, lambda old, _: _relight(old, target, source_mean, gain))


def _tone_tables(tone: str) -> NDArray[np.uint8]:
    """Per-channel 256-entry lookup tables for L, a and b implementing one tone."""
    ramp = np.arange(256, dtype=np.float32)
    lightness, green_red, blue_yellow = ramp.copy(), ramp.copy(), ramp.copy()
    if tone == "warm":
        green_red, blue_yellow = ramp + 4, ramp + 14
    elif tone == "cool":
        green_red, blue_yellow = ramp - 3, ramp - 14
    elif tone == "bright":
        lightness = 255 - (255 - ramp) * 0.72
    elif tone == "dark":
        lightness = ramp * 0.72
    elif tone == "vivid":
        green_red = blue_yellow = 128 + (ramp - 128) * 1.45
    elif tone == "muted":
        green_red = blue_yellow = 128 + (ramp - 128) * 0.5
    tables = np.stack([lightness, green_red, blue_yellow], axis=-1)
    return _to_u8(tables).reshape(1, 256, 3)


def tone(image: RGBImage, mask: Mask, value: str) -> None:
    """Shift the region's colour temperature, lightness or saturation (in place)."""
    tables = _tone_tables(parse_tone(value))

    def render(old: RGBImage, _: slice) -> RGBImage:
        lab = as_u8(cv2.cvtColor(old, cv2.COLOR_RGB2LAB))
        return as_u8(cv2.cvtColor(as_u8(cv2.LUT(lab, tables)), cv2.COLOR_LAB2RGB))

    blend_region(image, mask, render)


def texture(image: RGBImage, mask: Mask, value: str) -> None:
    """Cover the region with a procedural material lit by the region's own shading."""
    material = parse_material(value)
    bbox = edit_bbox(mask)
    if bbox is None:
        return
    pattern = render_pattern(material, image.shape[:2], bbox)
    source_mean, spread = lightness_stats(image, mask)
    target_mean = (rgb_to_lab(material.dark)[0] + rgb_to_lab(material.light)[0]) / 2
    gain = _TEXTURE_SHADING * _shading_gain(spread, target_mean)

    def render(old: RGBImage, rows: slice) -> RGBImage:
        colours = material_rgb(material, pattern[rows])
        target = as_u8(cv2.cvtColor(colours, cv2.COLOR_RGB2LAB)).astype(np.float32)
        return _relight(old, target, source_mean, gain)

    blend_region(image, mask, render)


def remove(image: RGBImage, mask: Mask) -> None:
    """Fill the region from its surroundings (reduced-resolution TELEA inpainting)."""
    bbox = edit_bbox(mask)
    if bbox is None:
        return
    filled = inpaint_region(image, mask, bbox)
    blend_region(image, mask, lambda old, rows: filled[rows])


def apply_edits(
    image: RGBImage,
    masks: Mapping[str, Mask],
    edits: Mapping[str, ConceptEdit],
    protect: Mask | None,
) -> RGBImage:
    """Apply ``edits`` in order on a copy of ``image``; protected pixels come back unchanged."""
    result = image.copy()
    for name, edit in edits.items():
        if name not in masks:
            raise ValueError(f"{name}: no mask was computed for this concept")
        mask = np.asarray(masks[name], dtype=np.bool_)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"{name}: mask shape {mask.shape} does not match the image")
        if not mask.any():
            continue
        if edit.action == "recolor":
            recolor(result, mask, edit.required_value)
        elif edit.action == "tone":
            tone(result, mask, edit.required_value)
        elif edit.action == "texture":
            texture(result, mask, edit.required_value)
        else:
            remove(result, mask)
    if protect is not None:
        if protect.shape != image.shape[:2]:
            raise ValueError("protect mask shape does not match the image")
        keep = np.asarray(protect, dtype=np.bool_)
        np.copyto(result, image, where=keep[..., np.newaxis])
    return result
