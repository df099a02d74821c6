"""Hand-written rules for the interior preset (rooms): geometry bands plus colour/edge cues."""

from __future__ import annotations

import cv2
import numpy as np

from s3api.worker.engine.arrays import (
    Mask,
    RGBImage,
    as_u8,
    ellipse,
    empty_mask,
    fill_holes,
    mask_bbox,
    open_close,
    to_u8_mask,
)
from s3api.worker.engine.features import MaskRule, SceneFeatures, components

# A colour step weaker than this (LAB units) is not trusted as a floor/ceiling boundary.
_MIN_BAND_STEP = 8.0
# A colour this far (LAB units) from a surface's median is something else standing on it.
_OFF_SURFACE = 25.0
# Grout: darker than the tiles around it by this much (luma), within this share of the side.
_GROUT_CONTRAST = 20
_GROUT_SPAN = 0.03


def _ceiling_line(f: SceneFeatures) -> int:
    """Row where the ceiling ends: strongest colour step in the top third, else 20%."""
    row, step = f.horizontal_step(0.08, 0.38)
    return row if step >= _MIN_BAND_STEP else round(f.height * 0.2)


def _floor_line(f: SceneFeatures) -> int:
    """Row where the floor starts: strongest colour step in the lower half, else 65%."""
    row, step = f.horizontal_step(0.5, 0.9)
    return row if step >= _MIN_BAND_STEP else round(f.height * 0.65)


def _wall_band(f: SceneFeatures) -> Mask:
    """Everything between the ceiling and floor lines."""
    return f.rows_from(ceiling_line(f)) & f.rows_until(floor_line(f))


def window(f: SceneFeatures) -> Mask:
    """Bright, low-saturation blobs above the floor that outshine the wall."""
    band = wall_band(f)
    wall_value = float(np.median(f.value[band])) if band.any() else 128.0
    bright = (f.value >= max(200.0, wall_value + 25.0)) & (f.saturation <= 80) & band
    bright = open_close(bright, f.px(0.01), f.px(0.02))
    minimum = f.area * 0.004
    kept, _, _ = components(bright, lambda x, y, w, h, area: area >= minimum)
    return kept


def light(f: SceneFeatures) -> Mask:
    """Small, very bright blobs in the upper part of the room (lamps, spots)."""
    bright = (f.value >= 235) & f.rows_until(round(f.height * 0.45))
    bright = open_close(bright, 3, 3)
    low, high = f.area * 0.0002, f.area * 0.03
    kept, _, _ = components(
        bright, lambda x, y, w, h, area: low <= area <= high and max(w, h) <= 3 * min(w, h)
    )
    return kept


def glass_highlight(f: SceneFeatures) -> Mask:
    """Specular near-white pixels (reflections on glass and glossy surfaces)."""
    return f.specular


def _off_wall_rule(f: SceneFeatures) -> Mask:
    """Wall-band pixels whose colour clearly differs from the dominant wall colour."""
    band = wall_band(f)
    distance = f.colour_distance(f.median_colour(band))
    return open_close(band & (distance > 25.0) & ~f.mask("Window", window), f.px(0.015), f.px(0.01))


def door(f: SceneFeatures) -> Mask:
    """Tall off-wall blobs standing on the floor line."""
    top, bottom = ceiling_line(f), floor_line(f)
    band_height = max(1, bottom - top)
    kept, _, _ = components(
        _off_wall(f),
        lambda x, y, w, h, area: (
            h >= 0.45 * band_height and h >= 1.3 * w and y + h >= bottom - 0.05 * f.height
        ),
    )
    return fill_holes(kept)


def cabinet(f: SceneFeatures) -> Mask:
    """Wide-ish off-wall blobs standing on the floor line (base cabinets, furniture)."""
    top, bottom = ceiling_line(f), floor_line(f)
    band_height = max(1, bottom - top)
    minimum = f.area * 0.01
    kept, _, _ = components(
        _off_wall(f),
        lambda x, y, w, h, area: (
            area >= minimum
            and h >= 0.15 * band_height
            and h < 1.3 * w
            and y + h >= bottom - 0.05 * f.height
        ),
    )
    return fill_holes(kept)


def countertop(f: SceneFeatures) -> Mask:
    """The top slice (15% of its height) of each cabinet blob."""
    cabinets = f.mask("Cabinet", cabinet)
    _, labels, stats = components(cabinets, lambda *_: True)
    top_rows = np.zeros(len(stats), dtype=np.int32)
    top_rows[1:] = stats[1:, cv2.CC_STAT_TOP] + np.maximum(1, stats[1:, cv2.CC_STAT_HEIGHT] * 0.15)
    rows = np.arange(f.height, dtype=np.int32).reshape(-1, 1)
    return cabinets & (rows < top_rows[labels])


def handle(f: SceneFeatures) -> Mask:
    """Small high-contrast blobs inside doors and cabinets."""
    side = f.px(0.03) | 1
    # Erode by the blur window so the fronts' own outlines never count as contrast.
    fronts = to_u8_mask(f.mask("Door", door) | f.mask("Cabinet", cabinet))
    inside = as_u8(cv2.erode(fronts, ellipse(side + 2))) > 0
    background = as_u8(cv2.blur(f.gray, (side, side)))
    contrast = np.abs(f.gray.astype(np.int16) - background.astype(np.int16)) > 30
    low, high = 2, f.area * 0.004
    kept, _, _ = components(inside & contrast, lambda x, y, w, h, area: low <= area <= high)
    return kept


def grout(f: SceneFeatures) -> Mask:
    """Thin dark lines in the lower half (black-hat response), i.e. tile joints."""
    blackhat = as_u8(cv2.morphologyEx(f.gray, cv2.MORPH_BLACKHAT, ellipse(f.px(_GROUT_SPAN))))
    lines = (blackhat >= _GROUT_CONTRAST) & f.rows_from(f.height // 2)
    minimum = f.px(0.03)
    kept, _, _ = components(lines, lambda x, y, w, h, area: area >= minimum)
    return kept


def grout_at_full_size(image: RGBImage, coarse: Mask, f: SceneFeatures) -> Mask:
    """The joints found on the reduced copy, redrawn on the photo's own pixels.

    A joint is a few photo pixels wide, thinner than an analysis cell, so no refinement of
    the coarse map can place its edges: the same black-hat test runs again at full size
    (square kernel, which morphology computes separably), only near the coarse joints.
    """
    height, width = image.shape[:2]
    cell = max(height / f.height, width / f.width)
    reach = max(1, round(2 * cell))
    bbox = mask_bbox(coarse, margin=reach)
    joints = empty_mask(height, width)
    if bbox is None:
        return joints
    side = max(3, round(f.px(_GROUT_SPAN) * cell)) | 1
    gray = as_u8(cv2.cvtColor(image[bbox], cv2.COLOR_RGB2GRAY))
    blackhat = as_u8(cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, np.ones((side, side), np.uint8)))
    near = as_u8(cv2.dilate(to_u8_mask(coarse[bbox]), ellipse(2 * reach + 1))) > 0
    joints[bbox] = near & (blackhat >= _GROUT_CONTRAST)
    return joints


def tile(f: SceneFeatures) -> Mask:
    """Floor/wall areas densely crossed by grout lines, minus the lines themselves."""
    joints = f.mask("Grout", grout)
    window_side = f.px(0.08) | 1
    density = as_u8(cv2.blur(joints.view(np.uint8) * np.uint8(255), (window_side, window_side)))
    tiled = open_close(density >= 10, 0, f.px(0.03)) & ~joints
    # Keep only pixels coloured like the typical tile, which trims bleed onto walls/fronts.
    close_colour = f.colour_distance(f.median_colour(tiled)) < 30.0
    return tiled & close_colour & (f.mask("Floor", floor) | wall_band(f))


def frame_molding(f: SceneFeatures) -> Mask:
    """Long straight edges around windows/doors, and long horizontal ones along the ceiling
    and floor lines (a crown or a skirting runs along them; the vertical joints of a tiled
    floor that meet the floor line are grout, not molding)."""
    edges = as_u8(cv2.dilate(f.edges, ellipse(3)))
    horizontal = cv2.morphologyEx(edges, cv2.MORPH_OPEN, np.ones((1, f.px(0.12)), np.uint8))
    vertical = cv2.morphologyEx(edges, cv2.MORPH_OPEN, np.ones((f.px(0.12), 1), np.uint8))
    along = as_u8(horizontal) > 0
    straight = along | (as_u8(vertical) > 0)
    openings = to_u8_mask(f.mask("Window", window) | f.mask("Door", door))
    ring = as_u8(cv2.dilate(openings, ellipse(f.px(0.05)))) > 0
    ring &= as_u8(cv2.erode(openings, ellipse(f.px(0.03)))) == 0
    margin = f.px(0.03)
    near_lines = f.rows_from(ceiling_line(f) - margin) & f.rows_until(ceiling_line(f) + margin)
    near_lines |= f.rows_from(floor_line(f) - margin) & f.rows_until(floor_line(f) + margin)
    molding = (straight & ring) | (along & near_lines)
    return as_u8(cv2.dilate(to_u8_mask(molding), ellipse(3))) > 0


def ceiling(f: SceneFeatures) -> Mask:
    """Top band above the ceiling line, minus lights."""
    return f.rows_until(ceiling_line(f)) & ~f.mask("Light", light)


def floor(f: SceneFeatures) -> Mask:
    """Bottom band below the floor line, minus the furniture standing on it."""
    return f.rows_from(floor_line(f)) & ~standing(f)


def _standing_rule(f: SceneFeatures) -> Mask:
    """Shapes crossing the floor line, off the wall colour above it and the floor's below.

    A sofa's base stands below the line its back rises above; a grout joint or a rug stays
    below it, and the opening drops joints too thin to be furniture.
    """
    line = floor_line(f)
    below = f.rows_from(line)
    off_floor = f.colour_distance(f.median_colour(below)) > _OFF_SURFACE
    off_wall = f.colour_distance(f.median_colour(wall_band(f))) > _OFF_SURFACE
    shapes = open_close(np.where(below, off_floor, off_wall & wall_band(f)), f.px(0.02), 0)
    reach = f.px(0.02)
    kept, _, _ = components(
        shapes, lambda x, y, w, h, area: y <= line - reach and y + h >= line + reach
    )
    return kept & below


def wall(f: SceneFeatures) -> Mask:
    """Middle band minus windows, doors and cabinets."""
    others = f.mask("Window", window) | f.mask("Door", door) | f.mask("Cabinet", cabinet)
    return wall_band(f) & ~others


def ceiling_line(f: SceneFeatures) -> int:
    """Cached ceiling boundary row."""
    return f.row("ceiling_line", _ceiling_line)


def floor_line(f: SceneFeatures) -> int:
    """Cached floor boundary row."""
    return f.row("floor_line", _floor_line)


def wall_band(f: SceneFeatures) -> Mask:
    """Cached band between ceiling and floor."""
    return f.mask("wall_band", _wall_band)


def standing(f: SceneFeatures) -> Mask:
    """Cached floor-band part of the furniture standing across the floor line."""
    return f.mask("standing", _standing_rule)


def _off_wall(f: SceneFeatures) -> Mask:
    return f.mask("off_wall", _off_wall_rule)


INTERIOR_RULES: dict[str, MaskRule] = {
    "Wall": wall,
    "Floor": floor,
    "Ceiling": ceiling,
    "Window": window,
    "Door": door,
    "Frame_Molding": frame_molding,
    "Tile": tile,
    "Grout": grout,
    "Cabinet": cabinet,
    "Countertop": countertop,
    "Light": light,
    "Handle": handle,
    "Glass_highlight": glass_highlight,
}
"""Interior concept name → rule computing its mask on the reduced-resolution image."""
