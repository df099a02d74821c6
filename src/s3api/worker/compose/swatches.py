"""Swatches of the edit vocabulary: what a palette summary shows next to each edit."""

from __future__ import annotations

import cv2
import numpy as np

from s3api.presets.vocabulary import parse_color, parse_material
from s3api.worker.compose.layout import MAT
from s3api.worker.engine.apply import tone
from s3api.worker.engine.arrays import RGBImage, as_u8
from s3api.worker.engine.edits import ConceptEdit
from s3api.worker.engine.texture import material_rgb, render_pattern

_TONE_BASE = (172, 140, 112)
"""Mid, slightly saturated colour the tone swatch starts from, so vivid and muted show."""
_REMOVED_MARK = (200, 70, 60)


def colour_swatch(value: str, side: int) -> RGBImage:
    """A flat square of the vocabulary colour `value` names."""
    swatch = np.empty((side, side, 3), dtype=np.uint8)
    swatch[:] = parse_color(value)
    return swatch


def material_swatch(value: str, side: int) -> RGBImage:
    """A square of the material's procedural texture, as the engine renders it."""
    material = parse_material(value)
    # Rendered as if the swatch were a corner of a photo 6x its size, so planks and veins
    # keep the proportions they have on a real floor.
    scale = 6 * side
    intensities = render_pattern(material, (scale, scale), (slice(0, side), slice(0, side)))
    return material_rgb(material, intensities)


def tone_swatch(value: str, side: int) -> RGBImage:
    """Left half the base colour, right half the same after the engine's tone."""
    swatch = np.empty((side, side, 3), dtype=np.uint8)
    swatch[:] = _TONE_BASE
    right = np.zeros((side, side), dtype=np.bool_)
    right[:, side // 2 :] = True
    tone(swatch, right, value)
    return swatch


def removed_swatch(side: int) -> RGBImage:
    """The mat colour with a red cross: the concept was removed."""
    swatch = np.empty((side, side, 3), dtype=np.uint8)
    swatch[:] = MAT
    thickness, inset = max(2, side // 12), side // 4
    far = side - 1 - inset
    cv2.line(swatch, (inset, inset), (far, far), _REMOVED_MARK, thickness, cv2.LINE_AA)
    cv2.line(swatch, (inset, far), (far, inset), _REMOVED_MARK, thickness, cv2.LINE_AA)
    return as_u8(swatch)


def swatch(edit: ConceptEdit, side: int) -> RGBImage:
    """The swatch of one edit: colour, material, tone or removal."""
    if edit.action == "recolor":
        return colour_swatch(edit.required_value, side)
    if edit.action == "texture":
        return material_swatch(edit.required_value, side)
    if edit.action == "tone":
        return tone_swatch(edit.required_value, side)
    return removed_swatch(side)
